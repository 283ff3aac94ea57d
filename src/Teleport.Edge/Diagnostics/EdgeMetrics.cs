using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Teleport.Edge.Hosting;
using Teleport.Edge.Http;
using Teleport.Edge.Tunnel;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Edge.Diagnostics;

/// <summary>How a client's request ended, as counted in teleport.edge.requests.</summary>
internal enum EdgeOutcome
{
    /// <summary>The upstream answered 2xx.</summary>
    Success,

    /// <summary>The upstream answered, with a status other than 2xx.</summary>
    Non2xx,

    /// <summary>No answer in time (the origin's 504, or the edge's own deadline).</summary>
    Timeout,

    /// <summary>The origin could not get an answer from the upstream (connect, response, size).</summary>
    UpstreamError,

    /// <summary>No tunnel, the tunnel broke, or the origin failed internally.</summary>
    TunnelError,

    /// <summary>Refused before forwarding: overload, shutdown, a request too large or not forwardable.</summary>
    Rejected,

    /// <summary>The client went away before its answer.</summary>
    Aborted,
}

/// <summary>
/// The edge's Meter, "Teleport.Edge": requests by method class and outcome and their duration, recorded per
/// request without allocating; everything else observed from existing counters when scraped.
/// </summary>
internal sealed class EdgeMetrics : IReadiness
{
    public const string MeterName = "Teleport.Edge";

    // One preallocated tag per outcome: Add and Record with a single KeyValuePair do not allocate.
    private static readonly KeyValuePair<string, object?>[] OutcomeTags =
    [
        new("outcome", "success"),
        new("outcome", "non_2xx"),
        new("outcome", "timeout"),
        new("outcome", "upstream_error"),
        new("outcome", "tunnel_error"),
        new("outcome", "rejected"),
        new("outcome", "aborted"),
    ];

    // The method as a small fixed set, never the raw method: a client choosing methods must not grow the series.
    private static readonly KeyValuePair<string, object?>[] MethodTags =
    [
        new("method", "get"),
        new("method", "head"),
        new("method", "post"),
        new("method", "put"),
        new("method", "delete"),
        new("method", "patch"),
        new("method", "options"),
        new("method", "other"),
    ];

    private readonly Counter<long>? _requests;
    private readonly Histogram<double>? _duration;
    private readonly Counter<long>? _errors;
    private readonly TunnelPool _tunnel;
    private readonly TunnelCounters _counters;

    public EdgeMetrics(IMeterFactory meterFactory, TunnelPool tunnel, TunnelCounters counters, ConnectionCounters clients, AccessCounters access, IOptions<EdgeOptions> options)
    {
        _tunnel = tunnel;
        _counters = counters;
        // Instruments exist only with --admin: nothing else reads them, and a meter is matched by name, so
        // another service in the same process (the demo, tests) would otherwise mix into this one's figures.
        if (options.Value.Admin is null)
        {
            return;
        }

        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("teleport.edge.requests", description: "Client requests by method class and outcome.");
        _duration = meter.CreateHistogram("teleport.edge.request.duration", unit: "s", description: "Time from a request's arrival to its answer, by method class and outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        meter.CreateObservableUpDownCounter("teleport.edge.tunnel.streams.up", () => StreamsUp, description: "Tunnel streams to an origin that are up now.");
        // Every stream beyond one per slot replaces a lost or drained one.
        meter.CreateObservableCounter("teleport.edge.tunnel.reconnects", () => Math.Max(0, counters.StreamsOpened - tunnel.Links.Count), description: "Tunnel streams opened again after one was lost or drained.");
        meter.CreateObservableGauge("teleport.edge.tunnel.round_trip", RoundTrips, unit: "s", description: "Last heartbeat round trip of each stream that is up.");
        _errors = meter.CreateCounter<long>("teleport.edge.errors", description: "Answers the edge made itself instead of the upstream's, by X-Teleport-Error (edge-overloaded and origin-overloaded are the overload rejections).");
        counters.Observe(meter, "teleport.edge", wireBytes: true);
        access.Observe(meter, "teleport.edge");
        clients.Observe(meter, "teleport.edge.client", "teleport.edge.client.bytes", "Client");
        Meter = meter;
    }

    /// <summary>For instruments whose state lives elsewhere (the in-flight count of the request handler); null without --admin.</summary>
    public Meter? Meter { get; }

    public bool IsReady => StreamsUp > 0;

    private int StreamsUp
    {
        get
        {
            var up = 0;
            foreach (var link in _tunnel.Links)
            {
                up += link.Current is null ? 0 : 1;
            }

            return up;
        }
    }

    public void WriteDetails(Utf8JsonWriter json)
    {
        json.WriteNumber("streams_up", StreamsUp);
        json.WriteNumber("streams_opened", _counters.StreamsOpened);
        json.WriteStartArray("streams");
        foreach (var link in _tunnel.Links)
        {
            var connection = link.Current;
            json.WriteStartObject();
            json.WriteString("origin", link.Origin.ToString().TrimEnd('/'));
            json.WriteBoolean("up", connection is not null);
            if (connection is not null)
            {
                json.WriteNumber("pending", connection.Pending);
                if (connection.RoundTrip is { } rtt)
                {
                    json.WriteNumber("rtt_ms", Math.Round(rtt.TotalMilliseconds, 3));
                }
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private IEnumerable<Measurement<double>> RoundTrips()
    {
        var measurements = new List<Measurement<double>>(_tunnel.Links.Count);
        for (var i = 0; i < _tunnel.Links.Count; i++)
        {
            var link = _tunnel.Links[i];
            if (link.Current?.RoundTrip is { } rtt)
            {
                measurements.Add(new Measurement<double>(rtt.TotalSeconds, new("origin", link.Origin.ToString().TrimEnd('/')), new("stream", i)));
            }
        }

        return measurements;
    }

    /// <param name="started">When the request arrived, from <see cref="Stopwatch.GetTimestamp"/>.</param>
    public void RequestFinished(HttpContext context, EdgeOutcome outcome, long started)
    {
        if (_requests is null)
        {
            return;
        }

        var tag = OutcomeTags[(int)outcome];
        var method = MethodTags[MethodClass(context.Request.Method)];
        _requests.Add(1, tag, method);
        _duration!.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tag, method);
        // Only answers the edge wrote itself carry the header; its values are the fixed set of ErrorResponses.
        if (outcome is not (EdgeOutcome.Success or EdgeOutcome.Non2xx)
            && context.Response.Headers.TryGetValue(ErrorResponses.ErrorHeader, out var error) && error.Count == 1)
        {
            _errors!.Add(1, new KeyValuePair<string, object?>("error", error[0]));
        }
    }

    /// <summary>The outcome as the metrics, access log and spans name it, e.g. "upstream_error".</summary>
    public static string NameOf(EdgeOutcome outcome) => (string)OutcomeTags[(int)outcome].Value!;

    /// <summary>Index into <see cref="MethodTags"/>: methods are case-sensitive (RFC 9110 9.1), and Kestrel interns the known ones.</summary>
    private static int MethodClass(string method) => method switch
    {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "PATCH" => 5,
        "OPTIONS" => 6,
        _ => 7,
    };
}
