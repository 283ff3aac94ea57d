using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>
/// Several --upstream: balancing among the healthy ones, passive health (failed connections, the 5xx rate),
/// active health checks, and what the client gets when none is left.
/// </summary>
public sealed class UpstreamBalancingTests(ITestOutputHelper output)
{
    private static readonly string[] Admin = ["--admin", "127.0.0.1:0"];

    [Fact]
    public async Task DeadAndLiveUpstream_EveryRequestSucceedsAndTheDeadOneIsMarkedDown()
    {
        await using var live = await StartNamedUpstreamAsync("live");
        var dead = DeadUpstream();
        // Round-robin sends the very first request to the dead one: it must be retried, not answered 502.
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", dead, "--upstream", Text(live), "--upstream-balance", "round-robin", .. Admin]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync($"/x{i}").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("live", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        Assert.Single(origin.WarningLogs, line => line.Contains($"Upstream {dead} is down: Connection refused", StringComparison.Ordinal) && line.Contains("1 of 2 upstreams left", StringComparison.Ordinal));
        var metrics = await ScrapeAsync(origin);
        Assert.Equal(0, Gauge(metrics, "teleport_origin_upstream_healthy", dead));
        Assert.Equal(1, Gauge(metrics, "teleport_origin_upstream_healthy", Text(live)));
        var (status, json) = await ReadyzAsync(origin);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, json.GetProperty("upstreams_healthy").GetInt32());
        Assert.Equal([(dead, false), (Text(live), true)], Upstreams(json));
    }

    [Fact]
    public async Task AllUpstreamsDead_AnswersNoUpstreamWithoutTryingThem()
    {
        var first = DeadUpstream();
        var second = DeadUpstream();
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", first, "--upstream", second, .. Admin]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        // The first request finds out: both refused (one try and one retry).
        using var discovering = await client.GetAsync("/x").DefaultTimeout();
        Assert.Equal("upstream-connect", Assert.Single(discovering.Headers.GetValues("X-Teleport-Error")));
        var connectAttempts = ConnectFailures(origin);
        Assert.Equal(2, connectAttempts);

        using var response = await client.GetAsync("/y").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("no-upstream", Assert.Single(response.Headers.GetValues("X-Teleport-Error")));
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();
        Assert.StartsWith("502 Bad Gateway: all 2 upstreams are down (last: http://127.0.0.1:", body);
        Assert.Contains("Connection refused", body);
        Assert.Equal(connectAttempts, ConnectFailures(origin));
        var (status, json) = await ReadyzAsync(origin);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(0, json.GetProperty("upstreams_healthy").GetInt32());
        Assert.Equal([(first, false), (second, false)], Upstreams(json));
    }

    /// <summary>
    /// The one upstream refusing: the first request says why (upstream-connect); while it is out (--upstream-down-time)
    /// the next ones get no-upstream at once; after that it is tried again.
    /// </summary>
    [Fact]
    public async Task SingleDeadUpstream_UpstreamConnectThenNoUpstreamUntilTheDownTimeEnds()
    {
        var dead = DeadUpstream();
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", dead, "--upstream-down-time", "3s"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var first = await client.GetAsync("/x").DefaultTimeout();
        using var second = await client.GetAsync("/x").DefaultTimeout();

        Assert.Equal("upstream-connect", Assert.Single(first.Headers.GetValues("X-Teleport-Error")));
        Assert.Equal("no-upstream", Assert.Single(second.Headers.GetValues("X-Teleport-Error")));
        Assert.StartsWith($"502 Bad Gateway: the upstream is down ({dead}: Connection refused", await second.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Equal(1, ConnectFailures(origin));
        // Tried again once the down time has passed: polled, bounded.
        var deadline = Stopwatch.StartNew();
        string? stage = null;
        while (stage != "upstream-connect" && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
            using var again = await client.GetAsync("/x").DefaultTimeout();
            stage = Assert.Single(again.Headers.GetValues("X-Teleport-Error"));
        }

        Assert.Equal("upstream-connect", stage);
        Assert.Equal(2, ConnectFailures(origin));
    }

    [Fact]
    public async Task SlowRequestInFlight_PowerOfTwoSendsTheNextOnesToTheIdleUpstream()
    {
        var arrived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var a = await StartNamedUpstreamAsync("a", arrived, release.Task);
        await using var b = await StartNamedUpstreamAsync("b", arrived, release.Task);
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", Text(a), "--upstream", Text(b)]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var slow = client.GetStringAsync("/slow");
        var busy = await arrived.Task.DefaultTimeout();
        var answers = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add(await client.GetStringAsync("/fast").DefaultTimeout());
        }

        release.SetResult();
        Assert.Equal(busy, await slow.DefaultTimeout());
        Assert.All(answers, answer => Assert.NotEqual(busy, answer));
    }

    [Fact]
    public async Task FiveXxRate_TakesTheFailingUpstreamOutWhileAnotherIsHealthy()
    {
        await using var failing = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            c.Response.StatusCode = 500;
            return c.Response.WriteAsync("failing");
        }));
        await using var healthy = await StartNamedUpstreamAsync("healthy");
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", Text(failing), "--upstream", Text(healthy), "--upstream-balance", "round-robin"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 30; i++)
        {
            using var response = await client.GetAsync("/x").DefaultTimeout();
            statuses.Add(response.StatusCode);
        }

        // Every other request went to the failing one until its 10th 5xx in 10 answers; then none.
        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.InternalServerError));
        Assert.All(statuses.Skip(20), s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Contains(origin.WarningLogs, line => line.Contains($"Upstream {Text(failing)} is down: 10 of its last 10 answers were 5xx; 1 of 2 upstreams left", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FiveXxRate_NeverTakesOutTheLastHealthyUpstream()
    {
        await using var failing = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            c.Response.StatusCode = 503;
            return c.Response.WriteAsync("busy, try later");
        }));
        var dead = DeadUpstream();
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", dead, "--upstream", Text(failing), "--upstream-balance", "round-robin"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        for (var i = 0; i < 30; i++)
        {
            using var response = await client.GetAsync("/x").DefaultTimeout();
            // The upstream's own answer, passed on: not a 502 of the tunnel's.
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("busy, try later", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        Assert.DoesNotContain(origin.WarningLogs, line => line.Contains($"Upstream {Text(failing)} is down", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ActiveHealthCheck_Answering503_TakesTheUpstreamOutUntilItPassesAgain()
    {
        var sick = 1;
        await using var a = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            if (c.Request.Path == "/healthz")
            {
                c.Response.StatusCode = Volatile.Read(ref sick) == 1 ? 503 : 200;
                return Task.CompletedTask;
            }

            return c.Response.WriteAsync("a");
        }));
        await using var b = await StartNamedUpstreamAsync("b");
        await using var origin = await TestServer.StartOriginAsync(output,
            ["--upstream", Text(a), "--upstream", Text(b), "--upstream-balance", "round-robin", "--upstream-health-path", "/healthz", "--upstream-health-interval", "1s", .. Admin]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        // Under load a first check may time out instead: wait for the state, whatever the first reason.
        await WaitForHealthAsync(origin, [(Text(a), false), (Text(b), true)]).DefaultTimeout();
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal("b", await client.GetStringAsync("/x").DefaultTimeout());
        }

        Assert.Contains(origin.WarningLogs, line => line.Contains($"Upstream {Text(a)} is down: health check /healthz ", StringComparison.Ordinal));
        Volatile.Write(ref sick, 0);
        await WaitForHealthAsync(origin, [(Text(a), true), (Text(b), true)]).DefaultTimeout();
        string[] answers = [await client.GetStringAsync("/x").DefaultTimeout(), await client.GetStringAsync("/x").DefaultTimeout()];
        Assert.Contains("a", answers);
    }

    /// <summary>An upstream answering its name; with <paramref name="arrived"/>, "/slow" reports itself there and waits for <paramref name="release"/>.</summary>
    private Task<TestServer> StartNamedUpstreamAsync(string name, TaskCompletionSource<string>? arrived = null, Task? release = null)
        => TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (arrived is not null && c.Request.Path == "/slow")
            {
                arrived.TrySetResult(name);
                await release!;
            }

            await c.Response.WriteAsync(name);
        }));

    private static string DeadUpstream() => $"http://127.0.0.1:{FreePort.Refusing()}";

    /// <summary>The --upstream value for a started upstream, as the origin names it.</summary>
    private static string Text(TestServer upstream) => upstream.Address.ToString().TrimEnd('/');

    private static int ConnectFailures(TestServer origin)
        => origin.WarningLogs.Count(line => line.Contains("failed (UpstreamConnect)", StringComparison.Ordinal));

    private static async Task WaitForHealthAsync(TestServer origin, (string Upstream, bool Healthy)[] expected)
    {
        while (!Upstreams((await ReadyzAsync(origin)).Json).SequenceEqual(expected))
        {
            await Task.Delay(20);
        }
    }

    private static async Task<(HttpStatusCode Status, JsonElement Json)> ReadyzAsync(TestServer origin)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(origin.AdminAddress, "/readyz")).DefaultTimeout();
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync().DefaultTimeout()).RootElement.Clone());
    }

    private static (string Upstream, bool Healthy)[] Upstreams(JsonElement readyz)
        => [.. readyz.GetProperty("upstreams").EnumerateArray().Select(u => (u.GetProperty("upstream").GetString()!, u.GetProperty("healthy").GetBoolean()))];

    private static async Task<string> ScrapeAsync(TestServer origin)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(origin.AdminAddress, "/metrics")).DefaultTimeout();
    }

    /// <summary>The value of <paramref name="name"/> for one upstream, from Prometheus text.</summary>
    private static double Gauge(string metrics, string name, string upstream)
    {
        var line = Assert.Single(metrics.Split('\n'), l => l.StartsWith(name + "{", StringComparison.Ordinal) && l.Contains($"upstream=\"{upstream}\"", StringComparison.Ordinal));
        return double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
