using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Hop-by-hop fields stay on their hop; X-Forwarded-* says where the request came from.</summary>
public sealed class HeaderRuleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task HopByHopRequestFields_AreRemovedBeforeTheUpstream()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, _) = await RawHttp.SendAsync(edge.Address,
            // Kestrel keeps only the known token of a Connection value that has one (close, keep-alive,
            // upgrade), so the fields it names are listed without one here.
            "POST /hop HTTP/1.1\r\nHost: svc.test\r\nConnection: X-Secret, X-Other\r\nX-Secret: s3\r\nX-Other: o\r\nKeep-Alive: timeout=5\r\n" +
            "TE: trailers\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nX-Normal: yes\r\n" +
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").DefaultTimeout();

        Assert.Equal(200, status);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(seen.Body));
        Assert.Equal("yes", Assert.Single(seen.Headers["X-Normal"]));
        foreach (var name in new[] { "Connection", "X-Secret", "X-Other", "Keep-Alive", "TE", "Proxy-Authorization", "Proxy-Connection", "Transfer-Encoding" })
        {
            Assert.False(seen.Headers.ContainsKey(name), $"{name} reached the upstream");
        }

        // The body is forwarded with its length instead of the client's chunking.
        Assert.Equal("5", Assert.Single(seen.Headers["Content-Length"]));
    }

    [Fact]
    public async Task HopByHopResponseFields_AreRemovedBeforeTheClient()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            c.Response.Headers["Keep-Alive"] = "timeout=9";
            c.Response.Headers["Proxy-Authenticate"] = "Basic";
            c.Response.Headers["X-Private"] = "internal";
            c.Response.Headers["Connection"] = "X-Private";
            c.Response.Headers["X-Fine"] = "ok";
            return c.Response.WriteAsync("body");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, text) = await RawHttp.SendAsync(edge.Address, "GET /r HTTP/1.1\r\nHost: svc.test\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(200, status);
        Assert.Contains("X-Fine: ok\r\n", text);
        Assert.DoesNotContain("X-Private", text);
        Assert.DoesNotContain("Keep-Alive", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Proxy-Authenticate", text);
        Assert.EndsWith("\r\n\r\nbody", text);
    }

    [Theory]
    [InlineData(null, "203.0.113.9, 127.0.0.1", "https, http", "client.test, svc.test")]
    [InlineData("append", "203.0.113.9, 127.0.0.1", "https, http", "client.test, svc.test")]
    [InlineData("set", "127.0.0.1", "http", "svc.test")]
    [InlineData("off", "203.0.113.9", "https", "client.test")]
    public async Task ForwardedHeaders_ModeDecidesWhatTheUpstreamSees(string? mode, string expectedFor, string expectedProto, string expectedHost)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, mode is null ? [] : ["--forwarded-headers", mode]);
        using var client = edge.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/fwd");
        request.Headers.Host = "svc.test";
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "client.test");
        using var response = await client.SendAsync(request).DefaultTimeout();

        var seen = Assert.Single(upstream.Requests).Headers;
        Assert.Equal(expectedFor, Assert.Single(seen["X-Forwarded-For"]));
        Assert.Equal(expectedProto, Assert.Single(seen["X-Forwarded-Proto"]));
        Assert.Equal(expectedHost, Assert.Single(seen["X-Forwarded-Host"]));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(200_000)]
    public async Task ExpectContinue_MetAtTheEdge_BodyArrives_UpstreamAskedToExpectNothing(int size)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var body = new byte[size];
        new Random(size).NextBytes(body);
        // The raw request waits for the 100 before it sends the body, as a careful client does.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(edge.Address.Host, edge.Address.Port);
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes($"POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\nExpect: 100-continue\r\n\r\n"));
        var buffer = new byte[64 * 1024];
        var interim = System.Text.Encoding.ASCII.GetString(buffer, 0, await socket.ReceiveAsync(buffer.AsMemory()).AsTask().DefaultTimeout());
        Assert.StartsWith("HTTP/1.1 100 Continue", interim);
        await socket.SendAsync(body);
        var reply = new List<byte>();
        while (!System.Text.Encoding.ASCII.GetString([.. reply]).Contains("\r\n\r\n", StringComparison.Ordinal) || reply.Count < size)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().DefaultTimeout();
            Assert.True(n > 0, "the edge closed the connection");
            reply.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        Assert.StartsWith("HTTP/1.1 200", System.Text.Encoding.ASCII.GetString([.. reply]));
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal(body, seen.Body);
        Assert.False(seen.Headers.ContainsKey("Expect"), "Expect reached the upstream");
    }

    [Fact]
    public async Task UpgradeRequest_OtherThanWebSocket_Answered501_NeverForwardedAsAPlainGet()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        // WebSockets are carried (WebSocketTests); other upgrade tokens are refused rather than forwarded without their Upgrade field.
        var (status, text) = await RawHttp.SendAsync(edge.Address,
            "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: irc/6.9\r\n\r\n").DefaultTimeout();

        Assert.Equal(501, status);
        Assert.Contains("X-Teleport-Error: upgrade-not-supported", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("irc/6.9", text, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }
}
