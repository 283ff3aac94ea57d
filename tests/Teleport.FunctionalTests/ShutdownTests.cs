using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Stopping a service (SIGTERM) lets running exchanges finish instead of cutting them off.</summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
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

        // Until the origin notices it is stopping, new exchanges are still served; then they are refused.
        HttpResponseMessage refused;
        while (true)
        {
            refused = await client.GetAsync("/new").DefaultTimeout();
            if (refused.StatusCode != HttpStatusCode.OK)
            {
                break;
            }
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("origin-shutting-down", refused.Headers.GetValues("X-Teleport-Error").Single());
        Assert.False(held.IsCompleted);
        release.SetResult();
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
}
