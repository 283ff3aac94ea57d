namespace Teleport.Protocol.Diagnostics;

/// <summary>
/// Running totals of one side of the tunnel: streams, messages and items each way, and, where the
/// side owns the socket, TCP connections and payload bytes on the wire.
/// </summary>
/// <remarks>Updated with Interlocked from the loops; read at any time for stats and metrics.</remarks>
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

    /// <summary>Tunnel streams opened (after a successful hello).</summary>
    public long StreamsOpened => Interlocked.Read(ref _streamsOpened);

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

    public void StreamOpened() => Interlocked.Increment(ref _streamsOpened);

    public void ConnectionOpened() => Interlocked.Increment(ref _connectionsOpened);

    public void MessageSent(int items)
    {
        Interlocked.Increment(ref _messagesSent);
        Interlocked.Add(ref _itemsSent, items);
    }

    public void MessageReceived(int items)
    {
        Interlocked.Increment(ref _messagesReceived);
        Interlocked.Add(ref _itemsReceived, items);
    }

    public void BytesSent(int count) => Interlocked.Add(ref _wireBytesSent, count);

    public void BytesReceived(int count) => Interlocked.Add(ref _wireBytesReceived, count);
}
