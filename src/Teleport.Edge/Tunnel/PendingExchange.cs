using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Tunnel;

/// <summary>An exchange sent to the origin and waiting for its answer; told by the stream's writer when its start has gone out.</summary>
internal sealed class PendingExchange(ulong id, long deadline, RequestBody? body) : IOutgoingItemOwner
{
    // Continuations run on the thread pool: completing an exchange must never run an HTTP handler's
    // response writing inline on the tunnel's reader loop.
    private readonly TaskCompletionSource<OriginItem> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _written;

    public ulong Id { get; } = id;

    /// <summary><see cref="Environment.TickCount64"/> after which the edge stops waiting.</summary>
    public long Deadline { get; } = deadline;

    /// <summary>The origin's answer, or a local error item when the tunnel fails first.</summary>
    public Task<OriginItem> Answer => _answer.Task;

    /// <summary>
    /// Whether the start may have reached the origin. Final once the stream has ended (the writer is done with
    /// every item before open exchanges are answered), so a lost exchange that was never written is safe to retry.
    /// </summary>
    public bool Written => _written;

    /// <summary>Completes the exchange; false when it was already complete.</summary>
    public bool TryComplete(OriginItem item) => _answer.TrySetResult(item);

    /// <summary>The writer holds the body from the moment the start is queued until <see cref="IOutgoingItemOwner.Released"/>.</summary>
    public void HoldBody() => body?.Hold();

    /// <summary>Undoes <see cref="HoldBody"/> when the start could not be queued.</summary>
    public void ReleaseBody() => body?.Release();

    void IOutgoingItemOwner.Released(bool written)
    {
        _written = written;
        body?.Release();
    }
}
