using System.Net;
using System.Runtime.InteropServices;
using Teleport.Demo.Load;
using Teleport.Demo.Upstream;
using Teleport.Edge.Hosting;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Hosting;

namespace Teleport.Demo;

/// <summary>The demo run: the three services in this process, the traffic, the report, and optionally serving on.</summary>
internal static class DemoRun
{
    /// <summary>Fixed, so every run sends the same requests.</summary>
    private const int Seed = 20_250_101;

    /// <summary>The tunnel normally opens within milliseconds; this only bounds a broken start.</summary>
    private static readonly TimeSpan TunnelTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Steps: (1) prepare the requests, so generating them is not timed; (2) start the sample upstream,
    /// then an origin forwarding to it, then an edge tunnelling to the origin, each on 127.0.0.1 port 0;
    /// (3) wait for the tunnel stream; (4) send the traffic and check every answer; (5) report; (6) with
    /// --serve, keep serving until Ctrl+C; (7) stop edge, origin and upstream in that order.
    /// </summary>
    /// <returns>0 when every request and check passed, 1 otherwise.</returns>
    public static async Task<int> RunAsync(DemoOptions options)
    {
        using var shutdown = new CancellationTokenSource();
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Stop(c, shutdown));
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Stop(c, shutdown));

        var requests = SampleTraffic.Create(options.Requests, Seed);
        var started = new Stack<WebApplication>();
        try
        {
            var upstream = await StartAsync(started, SampleUpstream.Build(new IPEndPoint(IPAddress.Loopback, 0), LogLevel.Warning));
            var origin = await StartAsync(started, OriginApp.Build(
                ["--listen", "127.0.0.1:0", "--upstream", Root(upstream), "--compression", options.Compression], Quiet));
            var edge = await StartAsync(started, EdgeApp.Build(
                ["--listen", "127.0.0.1:0", "--origin", Root(origin), "--compression", options.Compression], Quiet));

            var tunnel = edge.Services.GetRequiredService<TunnelCounters>();
            if (!await WaitForTunnelAsync(tunnel, shutdown.Token))
            {
                Console.Error.WriteLine($"teleport-demo: the edge opened no tunnel to the origin within {TunnelTimeout.TotalSeconds} s");
                return 1;
            }

            var load = await LoadClient.RunAsync(ServiceHost.Address(edge), requests, options.Concurrency, shutdown.Token);
            var report = new DemoReport(options, requests, load, tunnel);
            report.Print(Console.Out);

            if (options.Serve && !shutdown.IsCancellationRequested)
            {
                PrintServing(Root(edge), Root(origin), Root(upstream));
                await WaitAsync(shutdown.Token);
            }

            return report.Passed ? 0 : 1;
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            Console.Error.WriteLine("teleport-demo: interrupted");
            return 1;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Console.Error.WriteLine($"teleport-demo: {ex.GetBaseException().Message}");
            return 1;
        }
        finally
        {
            while (started.TryPop(out var app))
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
    }

    private static void Quiet(WebApplicationBuilder builder) => builder.Logging.SetMinimumLevel(LogLevel.Warning);

    private static async Task<WebApplication> StartAsync(Stack<WebApplication> started, WebApplication app)
    {
        started.Push(app);
        await app.StartAsync();
        return app;
    }

    /// <summary>"http://127.0.0.1:PORT", the form the services' flags take.</summary>
    private static string Root(WebApplication app) => ServiceHost.Address(app).ToString().TrimEnd('/');

    private static async Task<bool> WaitForTunnelAsync(TunnelCounters tunnel, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)TunnelTimeout.TotalMilliseconds;
        while (tunnel.StreamsOpened == 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            await Task.Delay(10, cancellationToken);
        }

        return true;
    }

    private static void PrintServing(string edge, string origin, string upstream)
    {
        Console.WriteLine($"Serving: edge {edge} -> origin {origin} -> upstream {upstream}. Press Ctrl+C to stop.");
        Console.WriteLine("Try:");
        Console.WriteLine($"  curl -i {edge}/api/items/42");
        Console.WriteLine($"  curl -i {edge}/bid -H 'Content-Type: application/json' -d '{{\"id\":\"demo-1\",\"imp\":[{{\"id\":\"1\",\"banner\":{{\"w\":300,\"h\":250}},\"bidfloor\":0.5}}]}}'");
        Console.Out.Flush();
    }

    private static async Task WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Stop(PosixSignalContext context, CancellationTokenSource shutdown)
    {
        // Shut down in order (finally in RunAsync) rather than letting the runtime end the process.
        context.Cancel = true;
        shutdown.Cancel();
    }
}
