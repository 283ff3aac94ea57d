using System.Diagnostics.Metrics;

namespace Teleport.Protocol.Diagnostics;

/// <summary>
/// Running totals of one side of the tunnel: streams, messages and items each way, and, where the
/// side owns the socket, TCP connections and payload bytes on the wire.
/// </summary>
/// <remarks>
/// Updated with Interlocked from the loops; read at any time for stats, and by the observable
/// instruments of <see cref="Observe"/>, which cost nothing until /metrics is scraped.
/// </remarks>
internal sealed class TunnelCounters
{
    private long _streamsOpened;
    private long _connectionsOpened;
    private long _messagesSent;
    private long _itemsSent;
    private long _messagesReceived;
    private long _itemsReceived;
    private long _wireBytesSent;
    private long _wireBytesReceived;
    private long _logicalBytesSent;
    private long _logicalBytesReceived;
    private long _streamsClosed;
    private Histogram<int>? _batchItems;

    /// <summary>Tunnel streams opened (after a successful hello).</summary>
    public long StreamsOpened => Interlocked.Read(ref _streamsOpened);

    /// <summary>Tunnel streams open now (only the origin reports closes; see <see cref="StreamClosed"/>).</summary>
    public long StreamsOpen => StreamsOpened - Interlocked.Read(ref _streamsClosed);

    /// <summary>TCP connections opened to carry the tunnel (edge side).</summary>
    public long ConnectionsOpened => Interlocked.Read(ref _connectionsOpened);

    /// <summary>Batch messages written.</summary>
    public long MessagesSent => Interlocked.Read(ref _messagesSent);

    /// <summary>Exchange items written, over all batches.</summary>
    public long ItemsSent => Interlocked.Read(ref _itemsSent);

    /// <summary>Batch messages read.</summary>
    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);

    /// <summary>Exchange items read.</summary>
    public long ItemsReceived => Interlocked.Read(ref _itemsReceived);

    /// <summary>TCP payload bytes written on tunnel connections (edge side).</summary>
    public long WireBytesSent => Interlocked.Read(ref _wireBytesSent);

    /// <summary>TCP payload bytes read on tunnel connections (edge side).</summary>
    public long WireBytesReceived => Interlocked.Read(ref _wireBytesReceived);

    /// <summary>
    /// Whether the logical-bytes counters are wanted (metrics are published): measuring a plain batch
    /// costs a size pass over the whole message, which is not paid when nobody reads the figure.
    /// </summary>
    public bool CountsLogicalBytes => _batchItems is not null;

    /// <summary>Serialized bytes of the messages written, before any compression.</summary>
    public long LogicalBytesSent => Interlocked.Read(ref _logicalBytesSent);

    /// <summary>Serialized bytes of the messages read, after decompression.</summary>
    public long LogicalBytesReceived => Interlocked.Read(ref _logicalBytesReceived);

    /// <summary>
    /// Publishes these counters on <paramref name="meter"/> as observable instruments named
    /// <paramref name="prefix"/>.tunnel.*, and records the items of every message written from now on.
    /// </summary>
    /// <param name="wireBytes">This side owns the tunnel's socket, so wire bytes are counted (edge).</param>
    public void Observe(Meter meter, string prefix, bool wireBytes)
    {
        meter.CreateObservableCounter(prefix + ".tunnel.streams.opened", () => StreamsOpened, description: "Tunnel streams opened (after a successful hello).");
        meter.CreateObservableCounter(prefix + ".tunnel.messages", () => Directions(MessagesSent, MessagesReceived), description: "Tunnel messages by direction.");
        meter.CreateObservableCounter(prefix + ".tunnel.items", () => Directions(ItemsSent, ItemsReceived), description: "Exchange items carried in tunnel messages, by direction.");
        meter.CreateObservableCounter(prefix + ".tunnel.logical", () => Directions(LogicalBytesSent, LogicalBytesReceived), unit: "By",
            description: "Serialized tunnel messages before compression (sent) or after decompression (received).");
        if (wireBytes)
        {
            meter.CreateObservableCounter(prefix + ".tunnel.wire", () => Directions(WireBytesSent, WireBytesReceived), unit: "By",
                description: "TCP payload bytes on the tunnel's connections, HTTP/2 framing and compression included.");
        }

        if (wireBytes)
        {
            meter.CreateObservableCounter(prefix + ".tunnel.connections.opened", () => ConnectionsOpened, unit: "{connection}", description: "TCP connections opened to carry tunnel streams.");
            ObserveCompression(meter, prefix, () => WireBytesSent, () => WireBytesReceived);
        }

        _batchItems = meter.CreateHistogram(prefix + ".tunnel.batch.items", unit: "{item}", description: "Exchange items per tunnel message written.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
    }

    /// <summary>
    /// Publishes <paramref name="prefix"/>.tunnel.compression.ratio{direction}: wire bytes over logical bytes since
    /// start (below 1: compression saves more than framing costs). For a ratio over a window, divide the rates of
    /// the two counters instead (README, Operations).
    /// </summary>
    public void ObserveCompression(Meter meter, string prefix, Func<long> wireSent, Func<long> wireReceived)
        => meter.CreateObservableGauge(prefix + ".tunnel.compression.ratio", () => Ratios(wireSent(), wireReceived()), unit: "1",
            description: "Tunnel wire bytes divided by logical bytes since start, by direction (lower is better; absent until bytes have moved).");

    public void StreamOpened() => Interlocked.Increment(ref _streamsOpened);

    public void StreamClosed() => Interlocked.Increment(ref _streamsClosed);

    public void ConnectionOpened() => Interlocked.Increment(ref _connectionsOpened);

    /// <param name="logicalBytes">The message serialized, before compression.</param>
    public void MessageSent(int items, int logicalBytes)
    {
        Interlocked.Increment(ref _messagesSent);
        Interlocked.Add(ref _itemsSent, items);
        Interlocked.Add(ref _logicalBytesSent, logicalBytes);
        // One record per message, not per exchange; with no tags it does not allocate.
        _batchItems?.Record(items);
    }

    /// <param name="logicalBytes">The message serialized, after decompression.</param>
    public void MessageReceived(int items, int logicalBytes)
    {
        Interlocked.Increment(ref _messagesReceived);
        Interlocked.Add(ref _itemsReceived, items);
        Interlocked.Add(ref _logicalBytesReceived, logicalBytes);
    }

    public void BytesSent(int count) => Interlocked.Add(ref _wireBytesSent, count);

    public void BytesReceived(int count) => Interlocked.Add(ref _wireBytesReceived, count);

    /// <summary>A pair of measurements tagged direction=sent and direction=received (read at scrape time only).</summary>
    internal static Measurement<long>[] Directions(long sent, long received)
        => [new(sent, new KeyValuePair<string, object?>("direction", "sent")), new(received, new KeyValuePair<string, object?>("direction", "received"))];

    private List<Measurement<double>> Ratios(long wireSent, long wireReceived)
    {
        var ratios = new List<Measurement<double>>(2);
        if (LogicalBytesSent > 0)
        {
            ratios.Add(new((double)wireSent / LogicalBytesSent, new KeyValuePair<string, object?>("direction", "sent")));
        }

        if (LogicalBytesReceived > 0)
        {
            ratios.Add(new((double)wireReceived / LogicalBytesReceived, new KeyValuePair<string, object?>("direction", "received")));
        }

        return ratios;
    }
}
