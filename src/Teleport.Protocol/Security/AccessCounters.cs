using System.Diagnostics.Metrics;

namespace Teleport.Protocol.Security;

/// <summary>Running totals of the access checks in front of a listener.</summary>
/// <remarks>Updated with Interlocked from connection middleware; read at any time for stats and metrics.</remarks>
internal sealed class AccessCounters
{
    private static readonly KeyValuePair<string, object?> NotAllowed = new("reason", "allow_ip");

    private long _connectionsRefused;

    /// <summary>Connections closed at once because the peer's address is not in --allow-ip.</summary>
    public long ConnectionsRefused => Interlocked.Read(ref _connectionsRefused);

    public void ConnectionRefused() => Interlocked.Increment(ref _connectionsRefused);

    /// <summary>
    /// Creates PREFIX.connections.refused{reason} on <paramref name="meter"/>, read when scraped (e.g.
    /// teleport_edge_connections_refused_total{reason="allow_ip"}). One reason today; the tag leaves room for more.
    /// </summary>
    public void Observe(Meter meter, string prefix)
        => meter.CreateObservableCounter(prefix + ".connections.refused", () => new Measurement<long>(ConnectionsRefused, NotAllowed),
            description: "Connections closed before a byte of them was read, by reason (allow_ip: the peer's address is not in --allow-ip).");
}
