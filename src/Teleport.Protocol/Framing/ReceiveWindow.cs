namespace Teleport.Protocol.Framing;

/// <summary>
/// The flow-control window of one exchange's streamed body, on the receiving side: bytes received and not yet
/// granted back. A sender that goes past the window breaks the contract ([C-STREAM-2]). A mutable struct, kept
/// as a field of its exchange so that it costs no allocation; the reader adds, the consumer grants.
/// </summary>
internal struct ReceiveWindow
{
    private int _ungranted;

    /// <summary>Counts <paramref name="bytes"/> in; false when that takes the body past <paramref name="window"/>.</summary>
    public bool TryReceive(int bytes, int window) => Interlocked.Add(ref _ungranted, bytes) <= window;

    /// <summary>The consumer has given <paramref name="bytes"/> back to the sender.</summary>
    public void Granted(int bytes) => Interlocked.Add(ref _ungranted, -bytes);
}
