using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream.Health;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Diagnostics;

/// <summary>How an exchange the origin started ended, as counted in teleport.origin.upstream.requests.</summary>
internal enum UpstreamOutcome
{
    /// <summary>The upstream answered 2xx.</summary>
    Success,

    /// <summary>The upstream answered, with a status other than 2xx.</summary>
    Non2xx,

    /// <summary>The upstream did not answer within the request timeout.</summary>
    Timeout,

    /// <summary>The upstream could not be reached, broke off, or sent a body over the limit.</summary>
    UpstreamError,

    /// <summary>The request could not be forwarded as given.</summary>
    BadRequest,

    /// <summary>The edge gave up on the exchange (client gone, deadline) before it ended.</summary>
    Cancelled,

    /// <summary>The origin failed while forwarding (a bug).</summary>
    Internal,
}

/// <summary>
/// The origin's Meter, "Teleport.Origin": exchanges by outcome and refusals, recorded per exchange
/// without allocating; streams and tunnel bytes observed from existing counters when scraped.
/// </summary>
internal sealed class OriginMetrics : IReadiness
{
    public const string MeterName = "Teleport.Origin";

    // One preallocated tag per value: Add with a single KeyValuePair does not allocate.
    private static readonly KeyValuePair<string, object?>[] OutcomeTags =
    [
        new("outcome", "success"),
        new("outcome", "non_2xx"),
        new("outcome", "timeout"),
        new("outcome", "upstream_error"),
        new("outcome", "bad_request"),
        new("outcome", "cancelled"),
        new("outcome", "internal"),
    ];

    // Indexed by CancelCause.
    private static readonly KeyValuePair<string, object?>[] CauseTags =
    [
        new("reason", "other"),
        new("reason", "client_aborted"),
        new("reason", "deadline"),
        new("reason", "shutting_down"),
        new("reason", "tunnel_lost"),
    ];

    private static readonly KeyValuePair<string, object?> Overloaded = new("reason", "overloaded");
    private static readonly KeyValuePair<string, object?> ShuttingDown = new("reason", "shutting_down");

    private readonly Counter<long>? _upstreamRequests;
    private readonly Counter<long>? _rejections;
    private readonly Counter<long>? _cancellations;
    private readonly TunnelCounters _counters;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly UpstreamHealth _health;
    private long _inFlight;

    public OriginMetrics(IMeterFactory meterFactory, TunnelCounters counters, ConnectionCounters connections, IHostApplicationLifetime lifetime, UpstreamHealth health, AccessCounters access, IOptions<OriginOptions> options)
    {
        _counters = counters;
        _lifetime = lifetime;
        _health = health;
        // Instruments exist only with --admin: nothing else reads them, and a meter is matched by name, so
        // another service in the same process (the demo, tests) would otherwise mix into this one's figures.
        if (options.Value.Admin is null)
        {
            return;
        }

        var meter = meterFactory.Create(MeterName);
        _upstreamRequests = meter.CreateCounter<long>("teleport.origin.upstream.requests", description: "Exchanges sent upstream, by outcome.");
        _cancellations = meter.CreateCounter<long>("teleport.origin.exchanges.cancelled", description: "Exchanges given up before their answer (their upstream requests aborted), by reason: client_aborted, deadline (the edge's), shutting_down (edge or origin), tunnel_lost (the stream ended), other.");
        _rejections = meter.CreateCounter<long>("teleport.origin.rejections", description: "Exchanges refused without going upstream, by reason (overloaded: over --max-concurrent; shutting_down: draining).");
        meter.CreateObservableUpDownCounter("teleport.origin.exchanges.in_flight", () => Interlocked.Read(ref _inFlight), description: "Exchanges running upstream now.");
        meter.CreateObservableUpDownCounter("teleport.origin.tunnel.streams.up", () => counters.StreamsOpen, description: "Tunnel streams from edges that are open now.");
        counters.Observe(meter, "teleport.origin", wireBytes: false);
        access.Observe(meter, "teleport.origin");
        // The edge owns the tunnel's socket; here its bytes are counted where Kestrel accepted it (ConnectionCounters).
        connections.Observe(meter, "teleport.origin.tunnel", "teleport.origin.tunnel.wire", "Tunnel");
        counters.ObserveCompression(meter, "teleport.origin", () => connections.BytesSent, () => connections.BytesReceived);
        // Read when scraped only: the tags are made once, the measurements per scrape.
        var upstreams = health.Upstreams.Select(static u => (State: u, Tag: new KeyValuePair<string, object?>("upstream", u.Address.Text))).ToArray();
        meter.CreateObservableGauge("teleport.origin.upstream.healthy", () => upstreams.Select(u => new Measurement<int>(health.IsHealthy(u.State) ? 1 : 0, u.Tag)), description: "Whether each upstream gets requests now (1) or is out after failures or failed health checks (0).");
        meter.CreateObservableUpDownCounter("teleport.origin.upstream.active_requests", () => upstreams.Select(static u => new Measurement<int>(u.State.ActiveRequests, u.Tag)), description: "Requests in flight to each upstream.");
    }

    /// <summary>Serving (started), not draining (stopping), and at least one upstream in.</summary>
    public bool IsReady => _lifetime.ApplicationStarted.IsCancellationRequested && !Draining && _health.CountHealthy() > 0;

    private bool Draining => _lifetime.ApplicationStopping.IsCancellationRequested;

    public void WriteDetails(Utf8JsonWriter json)
    {
        json.WriteBoolean("draining", Draining);
        json.WriteNumber("streams_up", _counters.StreamsOpen);
        json.WriteNumber("exchanges_in_flight", Interlocked.Read(ref _inFlight));
        json.WriteNumber("upstreams_healthy", _health.CountHealthy());
        json.WriteStartArray("upstreams");
        foreach (var upstream in _health.Upstreams)
        {
            json.WriteStartObject();
            json.WriteString("upstream", upstream.Address.Text);
            json.WriteBoolean("healthy", _health.IsHealthy(upstream));
            json.WriteNumber("active_requests", upstream.ActiveRequests);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    // Without --admin nobody reads the in-flight figure: no shared counter touched per exchange.
    public void ExchangeStarted()
    {
        if (_upstreamRequests is not null)
        {
            Interlocked.Increment(ref _inFlight);
        }
    }

    public void ExchangeEnded(UpstreamOutcome outcome)
    {
        if (_upstreamRequests is not null)
        {
            Interlocked.Decrement(ref _inFlight);
            _upstreamRequests.Add(1, OutcomeTags[(int)outcome]);
        }
    }

    public void Cancelled(Tunnel.CancelCause cause) => _cancellations?.Add(1, CauseTags[(int)cause]);

    public void Rejected(bool overloaded) => _rejections?.Add(1, overloaded ? Overloaded : ShuttingDown);
}
