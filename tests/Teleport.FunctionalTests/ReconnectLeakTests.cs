using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Edge.Hosting;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>Nothing is left behind per reconnect: sockets, threads and memory stay flat over thousands of streams.</summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class ReconnectLeakTests(ITestOutputHelper output)
{
    private const int Cycles = 10_000;

    [Fact]
    public async Task TenThousandReconnects_LeakNoHandlesThreadsOrMemory()
    {
        var origin = new HangUpAfterHello();
        await using var server = await TestServer.StartUpstreamAsync(output,
            services => services.AddGrpc().Services.AddSingleton(origin),
            app => app.MapGrpcService<HangUpAfterHelloService>(),
            kestrel => kestrel.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        // Four streams reconnect side by side, to keep both cores busy. No log provider: ten thousand "tunnel lost" lines would only slow the loop down.
        var edge = EdgeApp.Build(["--listen", "127.0.0.1:0", "--origin", server.Address.ToString().TrimEnd('/'),
            "--reconnect-delay", "1ms", "--reconnect-max-delay", "1ms", "--streams", "4"], static b => b.Logging.ClearProviders());
        await edge.StartAsync().DefaultTimeout();
        try
        {
            await origin.UntilAsync(200).DefaultTimeout();
            var before = Sample();
            var clock = Stopwatch.StartNew();
            await origin.UntilAsync(200 + Cycles).WaitAsync(TimeSpan.FromMinutes(2));
            var elapsed = clock.Elapsed;
            var after = Sample();

            output.WriteLine($"{Cycles} reconnects in {elapsed.TotalSeconds:0.0} s; before {before}, after {after}");
            Assert.InRange(after.Handles - before.Handles, int.MinValue, 20);
            Assert.InRange(after.Threads - before.Threads, int.MinValue, 10);
            Assert.InRange(after.ManagedBytes - before.ManagedBytes, long.MinValue, 16L * 1024 * 1024);
        }
        finally
        {
            await edge.StopAsync().DefaultTimeout();
            await edge.DisposeAsync();
        }
    }

    private static Resources Sample()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        return new Resources(Directory.GetFiles("/proc/self/fd").Length, process.Threads.Count, GC.GetGCMemoryInfo().HeapSizeBytes);
    }

    private sealed record Resources(int Handles, int Threads, long ManagedBytes)
    {
        public override string ToString() => $"{Handles} handles, {Threads} threads, {ManagedBytes / 1024} KiB managed heap";
    }

    /// <summary>Counts the streams the origin below has ended.</summary>
    private sealed class HangUpAfterHello
    {
        private int _streams;

        public void Ended() => Interlocked.Increment(ref _streams);

        public async Task UntilAsync(int streams)
        {
            while (Volatile.Read(ref _streams) < streams)
            {
                await Task.Delay(10);
            }
        }
    }

    /// <summary>An origin that answers the hello and ends the stream at once: the edge reconnects, again and again.</summary>
    private sealed class HangUpAfterHelloService(HangUpAfterHello counter) : Tunnel.TunnelBase
    {
        public override async Task Open(IAsyncStreamReader<EdgeFrame> requestStream, IServerStreamWriter<OriginFrame> responseStream, ServerCallContext context)
        {
            if (await requestStream.MoveNext())
            {
                await responseStream.WriteAsync(new OriginFrame { Hello = new OriginHello { ProtocolVersion = 1, Agent = "hang-up" } });
            }

            counter.Ended();
        }
    }
}
