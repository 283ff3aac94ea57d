using Teleport.Demo.Upstream;
using Teleport.Protocol.Hosting;

namespace Teleport.Demo;

/// <summary>
/// teleport-demo: runs a sample upstream, a teleport-origin and a teleport-edge in this process, sends
/// realistic traffic through the edge and reports the bytes the tunnel saved. "teleport-demo upstream"
/// runs only the sample upstream (docker-compose uses it).
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // The images' HEALTHCHECK: the demo image serves the sample upstream, and has no curl either.
        if (HealthProbe.IsRequested(args))
        {
            return await HealthProbe.RunAsync("teleport-demo", args, Console.Out, Console.Error);
        }

        if (args.Length > 0 && args[0] == "upstream")
        {
            return await SampleUpstream.RunAsync(args[1..]);
        }

        if (!DemoOptions.TryParse(args, out var options, out var error))
        {
            if (error is null)
            {
                Console.Out.Write(DemoOptions.Help);
                return 0;
            }

            Console.Error.WriteLine($"teleport-demo: {error}");
            return DemoOptions.UsageError;
        }

        return await DemoRun.RunAsync(options);
    }
}
