using System.Globalization;
using Teleport.Demo.Load;
using Teleport.Protocol.Diagnostics;

namespace Teleport.Demo;

/// <summary>
/// The demo's findings: how the run went, the bytes on each side of the edge, how well exchanges were
/// batched, and the checks that decide the exit code.
/// </summary>
internal sealed class DemoReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private readonly DemoOptions _options;
    private readonly IReadOnlyList<SampleRequest> _requests;
    private readonly LoadResult _load;
    private readonly TunnelCounters _tunnel;
    private readonly List<string> _failedChecks = [];

    /// <param name="tunnel">The edge's counters: its tunnel connection's bytes, messages and items.</param>
    public DemoReport(DemoOptions options, IReadOnlyList<SampleRequest> requests, LoadResult load, TunnelCounters tunnel)
    {
        _options = options;
        _requests = requests;
        _load = load;
        _tunnel = tunnel;

        var n = requests.Count;
        if (load.Failed > 0)
        {
            _failedChecks.Add($"{load.Failed} of {n} requests failed or got a wrong answer");
        }

        // Every exchange went through the tunnel once: one request item out, one answer item back.
        if (tunnel.ItemsSent != n || tunnel.ItemsReceived != n)
        {
            _failedChecks.Add($"the tunnel carried {tunnel.ItemsSent} items out and {tunnel.ItemsReceived} back for {n} requests");
        }

        if (tunnel.ConnectionsOpened != 1 || tunnel.StreamsOpened != 1)
        {
            _failedChecks.Add($"the tunnel used {tunnel.ConnectionsOpened} TCP connections and {tunnel.StreamsOpened} streams, not 1 and 1");
        }
    }

    public bool Passed => _failedChecks.Count == 0;

    public void Print(TextWriter output)
    {
        var n = _requests.Count;
        var bids = _requests.Count(r => r.Method == "POST");
        var plain = _load.Plain;
        var plainTotal = plain.WireBytesSent + plain.WireBytesReceived;
        var tunnelTotal = _tunnel.WireBytesSent + _tunnel.WireBytesReceived;
        var seconds = _load.Elapsed.TotalSeconds;

        output.WriteLine();
        output.WriteLine($"teleport-demo: client -> teleport-edge -> one gRPC stream -> teleport-origin -> sample upstream");
        output.WriteLine($"  compression {_options.Compression}, {_options.Concurrency} requests in flight, HTTP/1.1 client, all on 127.0.0.1");
        output.WriteLine();
        output.WriteLine($"  requests           {N(n)} ({N(bids)} POST /bid, {N(n - bids)} GET /api/items/{{id}})");
        output.WriteLine($"  errors             {N(_load.Failed)}");
        output.WriteLine($"  elapsed            {seconds.ToString("0.00", Invariant)} s");
        output.WriteLine($"  throughput         {N((long)(n / Math.Max(seconds, 1e-9)))} req/s");
        output.WriteLine();
        output.WriteLine($"  bytes on the wire  {"requests",14} {"responses",14} {"total",14}");
        output.WriteLine($"  plain HTTP         {N(plain.WireBytesSent),14} {N(plain.WireBytesReceived),14} {N(plainTotal),14}   client <-> edge, {Count(plain.ConnectionsOpened, "TCP connection")}");
        output.WriteLine($"  tunnel             {N(_tunnel.WireBytesSent),14} {N(_tunnel.WireBytesReceived),14} {N(tunnelTotal),14}   edge <-> origin, {Count(_tunnel.ConnectionsOpened, "TCP connection")}");
        output.WriteLine($"  tunnel / plain     {Ratio(_tunnel.WireBytesSent, plain.WireBytesSent),14} {Ratio(_tunnel.WireBytesReceived, plain.WireBytesReceived),14} {Ratio(tunnelTotal, plainTotal),14}");
        output.WriteLine($"  saved              {Saved(_tunnel.WireBytesSent, plain.WireBytesSent),14} {Saved(_tunnel.WireBytesReceived, plain.WireBytesReceived),14} {Saved(tunnelTotal, plainTotal),14}");
        output.WriteLine();
        output.WriteLine($"  exchanges/message  {PerMessage(_tunnel.ItemsSent, _tunnel.MessagesSent)} edge -> origin ({N(_tunnel.MessagesSent)} messages), "
            + $"{PerMessage(_tunnel.ItemsReceived, _tunnel.MessagesReceived)} origin -> edge ({N(_tunnel.MessagesReceived)} messages)");
        output.WriteLine($"  tunnel             {Count(_tunnel.ConnectionsOpened, "TCP connection")}, {Count(_tunnel.StreamsOpened, "gRPC stream")}");
        output.WriteLine();

        foreach (var sample in _load.FailureSamples)
        {
            output.WriteLine($"  failed: {sample}");
        }

        if (Passed)
        {
            output.WriteLine($"  PASS: every answer was 200 with its request's id; every exchange crossed the one tunnel stream.");
        }
        else
        {
            foreach (var check in _failedChecks)
            {
                output.WriteLine($"  FAIL: {check}");
            }
        }

        output.WriteLine();
    }

    private static string N(long value) => value.ToString("N0", Invariant);

    private static string Count(long value, string noun) => $"{N(value)} {noun}{(value == 1 ? "" : "s")}";

    private static string Ratio(long tunnel, long plain) => plain == 0 ? "-" : ((double)tunnel / plain).ToString("0.000", Invariant);

    private static string Saved(long tunnel, long plain) => plain == 0 ? "-" : (1 - ((double)tunnel / plain)).ToString("0.0%", Invariant);

    private static string PerMessage(long items, long messages) => messages == 0 ? "-" : ((double)items / messages).ToString("0.0", Invariant);
}
