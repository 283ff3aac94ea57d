using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Stopping a service (SIGTERM) lets running exchanges finish instead of cutting them off.</summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    /// <summary>With a single origin, nothing can take new requests while it drains: they wait --tunnel-wait, then get 503.</summary>
    [Fact]
    public async Task OriginStopping_RunningExchangeFinishes_NewOnesAnswered503()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (c.Request.Path == "/held")
            {
                arrived.TrySetResult();
                await release.Task;
            }

            await c.Response.WriteAsync("done " + c.Request.Path);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--tunnel-wait", "200ms");
        using var client = edge.CreateClient();

        var held = client.GetStringAsync("/held");
        await arrived.Task.DefaultTimeout();
        var stopping = origin.App.StopAsync();

        // Until the edge hears of the drain, new exchanges are still served (or refused and retried); then none can be.
        HttpResponseMessage refused;
        try
        {
            while (true)
            {
                refused = await client.GetAsync("/new").DefaultTimeout();
                if (refused.StatusCode != HttpStatusCode.OK)
                {
                    break;
                }
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Contains(refused.Headers.GetValues("X-Teleport-Error").Single(), new[] { "no-tunnel", "origin-shutting-down" });
            Assert.False(held.IsCompleted);
        }
        finally
        {
            release.TrySetResult();
        }

        Assert.Equal("done /held", await held.DefaultTimeout());
        await stopping.DefaultTimeout();
    }

    [Fact]
    public async Task EdgeStopping_RequestInFlightStillGetsItsAnswer()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            arrived.TrySetResult();
            await release.Task;
            await c.Response.WriteAsync("finished");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var inFlight = client.GetStringAsync("/slow");
        await arrived.Task.DefaultTimeout();
        var stopping = edge.App.StopAsync();
        release.SetResult();

        Assert.Equal("finished", await inFlight.DefaultTimeout());
        await stopping.DefaultTimeout();
        Assert.Empty(edge.ErrorLogs);
    }

    /// <summary>
    /// A request still waiting at --drain-timeout gets a 503 saying so, and the upstream's work is cancelled: the
    /// edge's stop is bounded, not held by its slowest request, and no client is left with a bare reset.
    /// </summary>
    [Fact]
    public async Task EdgeStopping_RequestOutlastingTheDrainTimeout_Gets503_UpstreamCancelled_StopEndsInTime()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            using var _ = c.RequestAborted.Register(() => cancelled.TrySetResult());
            arrived.TrySetResult();
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--drain-timeout", "1s");
        using var client = edge.CreateClient();

        var inFlight = client.GetAsync("/held");
        await arrived.Task.DefaultTimeout();
        var stopping = Stopwatch.StartNew();
        var stopped = edge.App.StopAsync();

        using var response = await inFlight.DefaultTimeout();
        var answeredAfter = stopping.Elapsed;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("edge-shutting-down", response.Headers.GetValues("X-Teleport-Error").Single());
        Assert.Contains("--drain-timeout", await response.Content.ReadAsStringAsync());
        Assert.True(answeredAfter >= TimeSpan.FromSeconds(0.9), $"answered {answeredAfter} after the stop began, before the drain timeout");
        // The upstream's request is aborted: by the edge's cancel, or by the stream's end when the stop closes it first.
        await cancelled.Task.DefaultTimeout();
        await edge.WaitUntilAsync(static e => e.WarningLogs.Any(l => l.Contains("--drain-timeout ran out with 1 exchanges still open", StringComparison.Ordinal))).DefaultTimeout();
        // Then the host waits for the connections at most a second more; without the option, 30 s.
        await stopped.DefaultTimeout();
        Assert.InRange(stopping.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(15));
    }

    /// <summary>A streamed response still under way at --drain-timeout is cut off (never ended as if whole), and the upstream's work cancelled.</summary>
    [Fact]
    public async Task EdgeStopping_StreamedResponseOutlastingTheDrainTimeout_IsCutOff_UpstreamCancelled()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            using var _ = c.RequestAborted.Register(() => cancelled.TrySetResult());
            await c.Response.WriteAsync("first chunk\n", c.RequestAborted);
            await c.Response.Body.FlushAsync(c.RequestAborted);
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--drain-timeout", "1s");
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64];
        Assert.True(await body.ReadAsync(buffer).AsTask().DefaultTimeout() > 0);
        var stopped = edge.App.StopAsync();

        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            while (await body.ReadAsync(buffer).AsTask().DefaultTimeout() > 0)
            {
            }
        });
        // The upstream's request is aborted: by the edge's cancel, or by the stream's end when the stop closes it first.
        await cancelled.Task.DefaultTimeout();
        await edge.WaitUntilAsync(static e => e.WarningLogs.Any(l => l.Contains("--drain-timeout ran out with 1 exchanges still open", StringComparison.Ordinal))).DefaultTimeout();
        await stopped.DefaultTimeout();
    }
}
