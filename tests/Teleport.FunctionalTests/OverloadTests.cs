using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Overload is answered at once and leaves nothing behind; alone, since it measures the process's heap.</summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class OverloadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Overload_LimitGivesImmediate503s_NotAGrowingQueue_AndMemoryReturnsToBaseline()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (c.Request.Path == "/hold")
            {
                Interlocked.Increment(ref arrived);
                await release.Task;
            }

            await c.Response.WriteAsync("ok");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-concurrent", "4");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();
        var running = Enumerable.Range(0, 4).Select(_ => client.GetAsync("/hold")).ToArray();
        while (Volatile.Read(ref arrived) < 4)
        {
            await Task.Delay(10);
        }

        // The first storm warms pools and caches; bounded memory means the second one leaves no more behind.
        // 64 client connections, kept for both storms, so the client's own sockets do not blur the figures.
        using var stormClient = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 }) { BaseAddress = edge.Address };
        await StormAsync(stormClient);
        var baseline = ProcessWideMeasurements.LiveHeapBytes();
        await StormAsync(stormClient);
        var after = ProcessWideMeasurements.LiveHeapBytes();

        release.SetResult();
        Assert.All(await Task.WhenAll(running).DefaultTimeout(), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(4, Volatile.Read(ref arrived));
        output.WriteLine($"managed memory after the first storm {baseline / 1024} KiB, after the second {after / 1024} KiB");
        Assert.InRange(after - baseline, long.MinValue, 8L * 1024 * 1024);
    }

    /// <summary>2000 requests, 64 at a time, against a full origin: each is refused at once, none waits in a queue.</summary>
    private async Task StormAsync(HttpClient client)
    {
        var storm = Stopwatch.StartNew();
        var refused = await Task.WhenAll(Enumerable.Range(0, 2000).Select(_ => client.GetAsync("/hold"))).DefaultTimeout();
        output.WriteLine($"2000 refusals in {storm.ElapsedMilliseconds} ms");
        Assert.All(refused, r =>
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
            Assert.Equal("origin-overloaded", r.Headers.GetValues("X-Teleport-Error").Single());
            r.Dispose();
        });
    }
}
