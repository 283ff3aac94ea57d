using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Teleport.Protocol.Diagnostics;

/// <summary>
/// Running totals of the connections a Kestrel listener accepted: how many, how many are open, and the bytes
/// that crossed them (TCP payload: put this ahead of TLS). The edge counts its HTTP clients with it, the origin
/// the tunnel connections from edges, whose socket only the edge's <see cref="CountingStream"/> sees otherwise.
/// </summary>
/// <remarks>
/// Installed only when metrics are published (--admin): then each read and write costs one Interlocked add;
/// without it nothing is wrapped. Read at scrape time by the observable instruments of <see cref="Observe"/>.
/// </remarks>
internal sealed class ConnectionCounters
{
    private long _accepted;
    private long _closed;
    private long _bytesReceived;
    private long _bytesSent;

    /// <summary>Connections accepted (after any --allow-ip check).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Connections open now.</summary>
    public long Open => Accepted - Interlocked.Read(ref _closed);

    /// <summary>Bytes read from the peers.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Bytes written to the peers.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>
    /// Counts the connections of <paramref name="listen"/> in the application's <see cref="ConnectionCounters"/>: call after the
    /// allow-list filter (refused peers are counted there) and before UseHttps (so TLS records are counted).
    /// </summary>
    /// <param name="enabled">Metrics are published (--admin); otherwise nothing is installed.</param>
    public static void Apply(ListenOptions listen, bool enabled)
    {
        if (enabled)
        {
            var counters = listen.ApplicationServices.GetRequiredService<ConnectionCounters>();
            listen.Use(next => connection => counters.OnConnectionAsync(connection, next));
        }
    }

    /// <summary>
    /// Publishes <paramref name="prefix"/>.connections.accepted, .connections.open and, named
    /// <paramref name="bytesName"/>, the bytes by direction.
    /// </summary>
    public void Observe(Meter meter, string prefix, string bytesName, string what)
    {
        meter.CreateObservableCounter(prefix + ".connections.accepted", () => Accepted, unit: "{connection}", description: $"{what} connections accepted.");
        meter.CreateObservableUpDownCounter(prefix + ".connections.open", () => Open, unit: "{connection}", description: $"{what} connections open now.");
        meter.CreateObservableCounter(bytesName, () => TunnelCounters.Directions(BytesSent, BytesReceived), unit: "By",
            description: $"TCP payload bytes of the {what.ToLowerInvariant()} connections (TLS and HTTP framing included), by direction.");
    }

    internal void Received(long count) => Interlocked.Add(ref _bytesReceived, count);

    internal void Sent(long count) => Interlocked.Add(ref _bytesSent, count);

    private async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        Interlocked.Increment(ref _accepted);
        var transport = connection.Transport;
        connection.Transport = new CountingDuplexPipe(transport, this);
        try
        {
            // Completes when the connection has ended.
            await next(connection);
        }
        finally
        {
            connection.Transport = transport;
            Interlocked.Increment(ref _closed);
        }
    }
}
