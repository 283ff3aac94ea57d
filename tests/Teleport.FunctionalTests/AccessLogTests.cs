using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Edge.Diagnostics;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>--access-log: one line per exchange (edge) and per upstream call (origin), in categories of their own.</summary>
public sealed class AccessLogTests(ITestOutputHelper output)
{
    private const string EdgeCategory = "Teleport.Edge.Access:";
    private const string OriginCategory = "Teleport.Origin.Access:";

    [Fact]
    public async Task AccessLog_On_OneLinePerExchange_OnBothSides()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.Response.StatusCode = c.Request.Method == "POST" ? 201 : 200;
            await c.Response.WriteAsync("ok");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--access-log");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--access-log");
        using var client = edge.CreateClient();

        using (var get = await client.GetAsync("/a?x=1").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        using (var post = await client.PostAsync("/b", new StringContent("hello")).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        }

        // The line is written just after the answer: the client may be a moment ahead.
        var edgeLines = await LinesAsync(edge, EdgeCategory, 2);
        Assert.Matches(@"Information Teleport\.Edge\.Access: GET /a\?x=1 200 [0-9.]+ ms 0 B in 2 B out success - 127\.0\.0\.1$", edgeLines[0]);
        Assert.Matches(@": POST /b 201 [0-9.]+ ms 5 B in 2 B out success - 127\.0\.0\.1$", edgeLines[1]);
        var originLines = await LinesAsync(origin, OriginCategory, 2);
        Assert.Matches($@"Information Teleport\.Origin\.Access: [0-9]+ GET /a\?x=1 -> {up.Authority} 200 [0-9.]+ ms 0 B out 2 B in success$", originLines[0]);
        Assert.Matches($@": [0-9]+ POST /b -> {up.Authority} 201 [0-9.]+ ms 5 B out 2 B in success$", originLines[1]);
    }

    [Fact]
    public async Task AccessLog_EdgeErrorAnswer_NamesTheStage_AndADeadUpstreamAtTheOrigin()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"), "--access-log");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--access-log");
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/down").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var line = Assert.Single(await LinesAsync(edge, EdgeCategory, 1));
        Assert.Matches(@": GET /down 502 [0-9.]+ ms 0 B in [0-9]+ B out upstream_error upstream-connect 127\.0\.0\.1$", line);
        Assert.Matches(@": [0-9]+ GET /down -> 127\.0\.0\.1:[0-9]+ 0 [0-9.]+ ms 0 B out -1 B in upstream-connect$", Assert.Single(await LinesAsync(origin, OriginCategory, 1)));
    }

    [Fact]
    public async Task AccessLog_StreamedResponse_IsLoggedOnceTheBodyHasEnded()
    {
        // Over 64 KiB of unknown length: the origin streams it in chunks (the line comes after the last one).
        var chunk = new string('x', 32 * 1024);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            for (var i = 0; i < 4; i++)
            {
                await c.Response.WriteAsync(chunk);
                await c.Response.Body.FlushAsync();
            }
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--access-log");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--access-log");
        using var client = edge.CreateClient();

        Assert.Equal(4 * chunk.Length, (await client.GetStringAsync("/stream").DefaultTimeout()).Length);

        Assert.Matches($@": [0-9]+ GET /stream -> {up.Authority} 200 [0-9.]+ ms 0 B out -1 B in success$", Assert.Single(await LinesAsync(origin, OriginCategory, 1)));
        Assert.Matches(@": GET /stream 200 [0-9.]+ ms 0 B in -?[0-9]+ B out success - 127\.0\.0\.1$", Assert.Single(await LinesAsync(edge, EdgeCategory, 1)));
    }

    [Fact]
    public async Task AccessLog_Off_WritesNothing()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("ok")));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("ok", await client.GetStringAsync("/quiet").DefaultTimeout());
        }

        // The origin writes its line before the answer leaves, so its absence is certain; the edge's would come
        // just after the answer, so the handler's switch is checked as well.
        Assert.False(edge.App.Services.GetRequiredService<EdgeAccessLog>().Enabled);
        Assert.DoesNotContain(edge.Logs, l => l.Contains(".Access:", StringComparison.Ordinal));
        Assert.DoesNotContain(origin.Logs, l => l.Contains(".Access:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AccessLog_WithJsonLogs_IsOneJsonObjectWithItsFields()
    {
        await using var edge = BackgroundProcess.Start("edge", Path.Combine(AppContext.BaseDirectory, "teleport-edge.dll"),
            ["--listen", "127.0.0.1:0", "--origin", $"http://127.0.0.1:{FreePort.Refusing()}", "--tunnel-wait", "0", "--access-log", "--log-format", "json"], []);
        try
        {
            var address = await edge.ListeningAddressAsync();
            using var client = new HttpClient();
            using var response = await client.GetAsync(new Uri(address, "/json?q=1")).DefaultTimeout();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);

            var deadline = Stopwatch.StartNew();
            string? line;
            while ((line = edge.Output.Split('\n').FirstOrDefault(l => l.Contains("\"Category\":\"Teleport.Edge.Access\"", StringComparison.Ordinal))) is null)
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "no access log line");
                await Task.Delay(20);
            }

            using var entry = JsonDocument.Parse(line);
            var root = entry.RootElement;
            Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
            Assert.Equal(1, root.GetProperty("EventId").GetInt32());
            var state = root.GetProperty("State");
            Assert.Equal("GET", state.GetProperty("Method").GetString());
            Assert.Equal("/json?q=1", state.GetProperty("Target").GetString());
            Assert.Equal(503, state.GetProperty("Status").GetInt32());
            Assert.Equal("no-tunnel", state.GetProperty("Error").GetString());
            Assert.Equal("tunnel_error", state.GetProperty("Outcome").GetString());
            Assert.Equal("127.0.0.1", state.GetProperty("Client").GetString());
        }
        finally
        {
            await edge.StopAsync(output);
        }
    }

    private static async Task<List<string>> LinesAsync(TestServer server, string category, int count)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var lines = server.Logs.Where(l => l.Contains(category, StringComparison.Ordinal)).ToList();
            if (lines.Count >= count || deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                Assert.Equal(count, lines.Count);
                return lines;
            }

            await Task.Delay(20);
        }
    }
}
