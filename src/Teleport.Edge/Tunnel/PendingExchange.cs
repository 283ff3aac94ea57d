using Teleport.Protocol.V1;

namespace Teleport.Edge.Tunnel;

/// <summary>An exchange sent to the origin and waiting for its answer.</summary>
internal sealed class PendingExchange(ulong id, long deadline)
{
    // Continuations run on the thread pool: completing an exchange must never run an HTTP handler's
    // response writing inline on the tunnel's reader loop.
    private readonly TaskCompletionSource<OriginItem> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ulong Id { get; } = id;

    /// <summary><see cref="Environment.TickCount64"/> after which the edge stops waiting.</summary>
    public long Deadline { get; } = deadline;

    /// <summary>The origin's answer, or a local error item when the tunnel fails first.</summary>
    public Task<OriginItem> Answer => _answer.Task;

    /// <summary>Completes the exchange; false when it was already complete.</summary>
    public bool TryComplete(OriginItem item) => _answer.TrySetResult(item);
}
