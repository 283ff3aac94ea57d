using System.Diagnostics;
using System.Globalization;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// Two hosts on this machine, an edge side and an origin side, each its own network namespace, joined by a veth pair
/// whose two ends are rate-limited with tc tbf. Round-trip delay comes from delay-relay (bench/link/DelayRelay; the
/// kernel may have no netem), started on the origin side with <see cref="StartRelay"/>. Disposing stops every process
/// started here and deletes both namespaces (and with them the veth pair), also after a failed test.
/// </summary>
internal sealed class ShapedLink : IAsyncDisposable
{
    public const string EdgeAddress = "10.98.0.1";
    public const string OriginAddress = "10.98.0.2";
    private static int s_count;
    private readonly List<BackgroundProcess> _processes = [];
    private readonly ITestOutputHelper _output;
    private readonly string _edgeDevice;
    private readonly string _originDevice;

    private ShapedLink(string id, ITestOutputHelper output)
    {
        _output = output;
        EdgeNamespace = "tlt-e-" + id;
        OriginNamespace = "tlt-o-" + id;
        // Interface names have at most 15 characters.
        _edgeDevice = "tte" + id;
        _originDevice = "tto" + id;
    }

    public string EdgeNamespace { get; }

    public string OriginNamespace { get; }

    /// <summary>Builds both hosts and the link, shaped to <paramref name="mbit"/> Mbit/s each way.</summary>
    public static async Task<ShapedLink> CreateAsync(int mbit, ITestOutputHelper output)
    {
        var id = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId % 100_000}{Interlocked.Increment(ref s_count)}");
        var link = new ShapedLink(id, output);
        try
        {
            await IpAsync("netns", "add", link.EdgeNamespace);
            await IpAsync("netns", "add", link.OriginNamespace);
            await IpAsync("link", "add", link._edgeDevice, "netns", link.EdgeNamespace, "type", "veth", "peer", "name", link._originDevice, "netns", link.OriginNamespace);
            foreach (var (ns, device, address) in new[] { (link.EdgeNamespace, link._edgeDevice, EdgeAddress), (link.OriginNamespace, link._originDevice, OriginAddress) })
            {
                await IpAsync("-n", ns, "addr", "add", address + "/30", "dev", device);
                await IpAsync("-n", ns, "link", "set", "lo", "up");
                await IpAsync("-n", ns, "link", "set", device, "up");
            }

            await link.ShapeAsync(mbit);
            return link;
        }
        catch
        {
            await link.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sets both directions to <paramref name="mbit"/> Mbit/s (tbf: 10 ms of burst, at most 25 ms queued).</summary>
    public async Task ShapeAsync(int mbit)
    {
        var burst = Math.Max(32 * 1024, mbit * 1_000_000 / 8 / 100).ToString(CultureInfo.InvariantCulture);
        foreach (var (ns, device) in new[] { (EdgeNamespace, _edgeDevice), (OriginNamespace, _originDevice) })
        {
            await RunAsync("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", device, "root", "tbf", "rate", mbit + "mbit", "burst", burst, "latency", "25ms");
        }
    }

    /// <summary>Runs <paramref name="assembly"/> (a dll next to the tests) inside one side's namespace until disposal.</summary>
    public BackgroundProcess Start(string ns, string assembly, params string[] args)
    {
        var process = BackgroundProcess.Start(assembly, Path.Combine(AppContext.BaseDirectory, assembly + ".dll"), args, [], ["ip", "netns", "exec", ns]);
        _processes.Add(process);
        return process;
    }

    /// <summary>On the origin side: accepts on <see cref="OriginAddress"/>:<paramref name="port"/> and relays to 127.0.0.1:<paramref name="targetPort"/>, each way after half the round trip.</summary>
    public BackgroundProcess StartRelay(int port, int targetPort, TimeSpan roundTrip)
        => Start(OriginNamespace, "delay-relay", $"{OriginAddress}:{port}", $"127.0.0.1:{targetPort}", ((int)roundTrip.TotalMilliseconds / 2).ToString(CultureInfo.InvariantCulture));

    public async ValueTask DisposeAsync()
    {
        // The last started first: the edge before the origin it talks to, so stopping logs no lost tunnel.
        for (var i = _processes.Count - 1; i >= 0; i--)
        {
            await _processes[i].StopAsync(_output);
        }

        foreach (var ns in new[] { EdgeNamespace, OriginNamespace })
        {
            await RunAsync(allowFailure: true, "ip", "netns", "del", ns);
        }
    }

    private static Task IpAsync(params string[] args) => RunAsync("ip", args);

    private static Task RunAsync(string program, params string[] args) => RunAsync(allowFailure: false, program, args);

    private static async Task RunAsync(bool allowFailure, string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().DefaultTimeout();
        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)}: exit {process.ExitCode}: {await stderr}");
        }
    }
}
