namespace Teleport.Protocol.Security;

/// <summary>Running totals of the access checks in front of a listener.</summary>
/// <remarks>Updated with Interlocked from connection middleware; read at any time for stats and metrics.</remarks>
internal sealed class AccessCounters
{
    private long _connectionsRefused;

    /// <summary>Connections closed at once because the peer's address is not in --allow-ip.</summary>
    public long ConnectionsRefused => Interlocked.Read(ref _connectionsRefused);

    public void ConnectionRefused() => Interlocked.Increment(ref _connectionsRefused);
}
