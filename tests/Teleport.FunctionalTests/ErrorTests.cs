using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Every failure is an answer: a status, a one-line text body and the failing stage, never a hang.</summary>
public sealed class ErrorTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ClientAsksForAShorterTimeout_504AtThatTime_HeaderNotForwarded_LongerOnesCapped()
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            seen.Enqueue(c.Request.Headers["X-Teleport-Timeout"].FirstOrDefault());
            await Task.Delay(int.Parse(c.Request.Query["ms"]!), c.RequestAborted);
            await c.Response.WriteAsync("late");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--request-timeout", "2s");
        using var client = edge.CreateClient();

        using var shorter = new HttpRequestMessage(HttpMethod.Get, "/slow?ms=5000") { Headers = { { "X-Teleport-Timeout", "300ms" } } };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var cut = await client.SendAsync(shorter).DefaultTimeout();
        var elapsed = clock.Elapsed;
        await AssertErrorAsync(cut, HttpStatusCode.GatewayTimeout, "upstream-timeout", "did not answer within 0.3 s");
        // Not sooner than asked; which timeout fired, the body says (a slow machine may take long to say it).
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(250), $"answered after {elapsed}");

        // Asking for more than --request-timeout gets --request-timeout.
        using var longer = new HttpRequestMessage(HttpMethod.Get, "/slow?ms=5000") { Headers = { { "X-Teleport-Timeout", "1h" } } };
        using var capped = await client.SendAsync(longer).DefaultTimeout();
        await AssertErrorAsync(capped, HttpStatusCode.GatewayTimeout, "upstream-timeout", "did not answer within 2 s");

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/slow?ms=0") { Headers = { { "X-Teleport-Timeout", "soon" } } };
        using var refused = await client.SendAsync(wrong).DefaultTimeout();
        await AssertErrorAsync(refused, HttpStatusCode.BadRequest, "bad-request", "X-Teleport-Timeout 'soon' is not a duration");

        Assert.All(seen, value => Assert.Null(value));
        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public async Task RouteTimeouts_LongestPrefixWins_LongerAndShorterThanTheDefault_HeaderOnlyShortens()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            await Task.Delay(int.Parse(c.Request.Query["ms"]!), c.RequestAborted);
            await c.Response.WriteAsync("done");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--request-timeout", "10s");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--request-timeout", "600ms",
            "--route-timeout", "/reports=3s", "--route-timeout", "/reports/quick=200ms", "--route-timeout", "/api/=1s");
        using var client = edge.CreateClient();

        // Longer than the default: a 1.5 s answer under /reports comes through.
        Assert.Equal("done", await client.GetStringAsync("/reports/2026?ms=1500").DefaultTimeout());
        await AssertErrorAsync(await client.GetAsync("/reports/quick/x?ms=1500").DefaultTimeout(), HttpStatusCode.GatewayTimeout, "upstream-timeout", "within 0.2 s");
        // "/reports" is a path segment: /reportsX has the default.
        await AssertErrorAsync(await client.GetAsync("/reportsX?ms=1500").DefaultTimeout(), HttpStatusCode.GatewayTimeout, "upstream-timeout", "within 0.6 s");
        await AssertErrorAsync(await client.GetAsync("/api/a?ms=1500").DefaultTimeout(), HttpStatusCode.GatewayTimeout, "upstream-timeout", "within 1 s");
        // The client may still ask for less than its route's timeout, never for more.
        using var shorter = new HttpRequestMessage(HttpMethod.Get, "/reports/x?ms=1500") { Headers = { { "X-Teleport-Timeout", "300ms" } } };
        await AssertErrorAsync(await client.SendAsync(shorter).DefaultTimeout(), HttpStatusCode.GatewayTimeout, "upstream-timeout", "within 0.3 s");
        using var longer = new HttpRequestMessage(HttpMethod.Get, "/reports/quick?ms=1500") { Headers = { { "X-Teleport-Timeout", "1h" } } };
        await AssertErrorAsync(await client.SendAsync(longer).DefaultTimeout(), HttpStatusCode.GatewayTimeout, "upstream-timeout", "within 0.2 s");
    }

    [Fact]
    public async Task UpstreamDown_Answers502UpstreamConnect()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"));
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/x").DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.BadGateway, "upstream-connect", "cannot connect to upstream");
    }

    [Fact]
    public async Task UpstreamSlowerThanOriginTimeout_Answers504AndAbortsUpstreamRequest()
    {
        var upstreamAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.RequestAborted.Register(() => upstreamAborted.TrySetResult());
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--request-timeout", "300ms");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/slow").DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.GatewayTimeout, "upstream-timeout", "did not answer within 0.3 s");
        await upstreamAborted.Task.DefaultTimeout();
    }

    [Fact]
    public async Task UpstreamSlowerThanEdgeTimeout_OriginUsesTheEdgesShorterTimeout()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => Task.Delay(Timeout.Infinite, c.RequestAborted)));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--request-timeout", "400ms");
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/slow").DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.GatewayTimeout, "upstream-timeout", "0.4 s");
    }

    [Fact]
    public async Task OriginDown_Answers503AfterTheTunnelWait()
    {
        await using var edge = await TestServer.StartEdgeAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"), ["--tunnel-wait", "300ms"], waitForTunnel: false);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/x").DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.ServiceUnavailable, "no-tunnel", "no tunnel to the origin");
    }

    [Fact]
    public async Task OriginStopsMidExchange_PendingRequestsAnswered502()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            arrived.TrySetResult();
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        }));
        var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var pending = client.GetAsync("/stuck");
        await arrived.Task.DefaultTimeout();
        using (var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            // A short grace period: the origin stops as after a crash, not after a drain.
            await origin.App.StopAsync(stop.Token).DefaultTimeout();
        }

        await origin.DisposeAsync();
        using var response = await pending.DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.BadGateway, "tunnel", "tunnel to the origin was lost");
    }

    [Fact]
    public async Task EdgePendingLimit_Reached_Answers503AtOnce()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        await using var slowUp = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            Interlocked.Increment(ref arrived);
            await release.Task;
        }));
        await using var origin = await TestServer.StartOriginAsync(output, slowUp.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--max-pending", "2");
        using var client = edge.CreateClient();

        var first = client.GetAsync("/1");
        var second = client.GetAsync("/2");
        await edge.WaitUntilAsync(_ => Volatile.Read(ref arrived) == 2).DefaultTimeout();
        using var third = await client.GetAsync("/3").DefaultTimeout();

        await AssertErrorAsync(third, HttpStatusCode.ServiceUnavailable, "edge-overloaded", "2 exchanges pending");
        release.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await first.DefaultTimeout()).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.DefaultTimeout()).StatusCode);
    }

    [Fact]
    public async Task OriginConcurrencyLimit_Reached_Answers503OriginOverloaded()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            Interlocked.Increment(ref arrived);
            await release.Task;
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-concurrent", "1");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var first = client.GetAsync("/1");
        await edge.WaitUntilAsync(_ => Volatile.Read(ref arrived) == 1).DefaultTimeout();
        using var second = await client.GetAsync("/2").DefaultTimeout();

        await AssertErrorAsync(second, HttpStatusCode.ServiceUnavailable, "origin-overloaded", "already runs 1 exchanges");
        release.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await first.DefaultTimeout()).StatusCode);
    }

    [Fact]
    public async Task RequestBodyOverLimit_Answers413()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--max-request-body-size", "1KiB");
        using var client = edge.CreateClient();

        using var fits = await client.PostAsync("/ok", new ByteArrayContent(new byte[1024])).DefaultTimeout();
        using var tooLarge = await client.PostAsync("/big", new ByteArrayContent(new byte[1025])).DefaultTimeout();

        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/chunked") { Content = new StreamContent(new MemoryStream(new byte[5000])) };
        chunked.Headers.TransferEncodingChunked = true;
        using var chunkedTooLarge = await client.SendAsync(chunked).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        await AssertErrorAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "request-too-large", "larger than 1024 bytes");
        await AssertErrorAsync(chunkedTooLarge, HttpStatusCode.RequestEntityTooLarge, "request-too-large", "larger than 1024 bytes");
        Assert.Single(upstream.Requests);
        Assert.Empty(edge.ErrorLogs);
    }

    [Fact]
    public async Task OriginRequestBodyLimit_IsAnnouncedAndEnforcedByTheEdge()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-request-body-size", "2KiB");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        // Chunked, so only the edge's reading can find out the size.
        using var content = new StreamContent(new MemoryStream(new byte[4096]));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/big") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await client.SendAsync(request).DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "request-too-large", "larger than 2048 bytes");
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task ResponseBodyOverOriginLimit_Answers502ResponseTooLarge()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync(new string('x', 5000))));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-response-body-size", "4KiB");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/big").DefaultTimeout();

        await AssertErrorAsync(response, HttpStatusCode.BadGateway, "response-too-large", "over 4096 bytes");
    }

    [Fact]
    public async Task ClientAborts_OriginAbortsTheUpstreamRequest()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.RequestAborted.Register(() => aborted.TrySetResult());
            arrived.TrySetResult();
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();
        using var cancel = new CancellationTokenSource();

        var request = client.GetAsync("/abandoned", cancel.Token);
        await arrived.Task.DefaultTimeout();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request).DefaultTimeout();
        await aborted.Task.DefaultTimeout();
    }

    [Fact]
    public async Task TargetNotInOriginForm_Answers400()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, text) = await RawHttp.SendAsync(edge.Address, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(400, status);
        Assert.Contains("X-Teleport-Error: bad-request", text);
        Assert.Empty(upstream.Requests);
    }

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string stage, string bodyContains)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(stage, response.Headers.GetValues("X-Teleport-Error").Single());
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();
        Assert.Contains(bodyContains, body);
        Assert.StartsWith($"{(int)status} ", body);
        Assert.EndsWith("\n", body);
        Assert.Single(body.TrimEnd('\n').Split('\n'));
    }
}
