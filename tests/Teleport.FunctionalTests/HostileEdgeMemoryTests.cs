using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>
/// What hostile streams leave behind in the origin's memory. Live memory is process-wide, so this runs alone: a test
/// beside it holding a large body would count as a leak.
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class HostileEdgeMemoryTests(ITestOutputHelper output)
{
    // After a burst of hostile streams, the origin holds nothing of them: no open stream, no upstream
    // request, and live memory back near where it started (each stream carried a 1 MiB body).
    [Fact]
    public async Task Origin_HostileBurst_StreamsRequestsAndMemoryBackToBaseline()
    {
        var held = new HostileEdgeTests.HeldRequests();
        await using var up = await TestServer.StartUpstreamAsync(output, held.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using (var warmUp = new RawTunnelCall(origin.Address))
        {
            await HostileEdgeTests.ViolateAsync(warmUp, "id-reused", held).DefaultTimeout();
            await warmUp.ReadToEndAsync().DefaultTimeout();
        }

        await origin.WaitUntilAsync(s => s.Counters.StreamsOpen == 0 && held.Aborted == held.Arrived).DefaultTimeout();
        var baseline = ProcessWideMeasurements.LiveHeapBytes();
        var afterFirst = await BurstAsync(origin, held);
        var afterSecond = await BurstAsync(origin, held);
        output.WriteLine($"live bytes: baseline {baseline}, after one burst {afterFirst}, after two {afterSecond}; upstream requests held and aborted: {held.Arrived}");
        Assert.True(held.Arrived >= Streams, $"only {held.Arrived} upstream requests were started");
        // Pools and connection buffers grow once; what a stream kept would grow again with every burst (60 MiB of bodies each).
        Assert.True(afterFirst - baseline < 32 * 1024 * 1024, $"live memory grew by {afterFirst - baseline} bytes after {Streams} hostile streams");
        Assert.True(afterSecond - afterFirst < 16 * 1024 * 1024, $"live memory grew by another {afterSecond - afterFirst} bytes after a second burst");
        Assert.Empty(origin.ErrorLogs);
    }

    private const int Streams = 60;

    /// <summary>60 hostile streams, 8 at a time, each with a 1 MiB body held upstream; returns live bytes once all is released.</summary>
    private static async Task<long> BurstAsync(TestServer origin, HostileEdgeTests.HeldRequests held)
    {
        string[] kinds = ["id-reused", "id-zero", "second-hello", "garbage-after-hello", "compressed-without-codec", "abandoned"];
        await Parallel.ForAsync(0, Streams, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            await using var hostile = new RawTunnelCall(origin.Address);
            await HostileEdgeTests.ViolateAsync(hostile, kinds[i % kinds.Length], held, body: new byte[1024 * 1024]);
            if (kinds[i % kinds.Length] != "abandoned")
            {
                await hostile.ReadToEndAsync();
            }
        }).DefaultTimeout();

        await origin.WaitUntilAsync(s => s.Counters.StreamsOpen == 0 && held.Aborted == held.Arrived).DefaultTimeout();
        return ProcessWideMeasurements.LiveHeapBytes();
    }
}
