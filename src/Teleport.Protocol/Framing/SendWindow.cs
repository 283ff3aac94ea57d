namespace Teleport.Protocol.Framing;

/// <summary>
/// The flow-control window of one exchange's streamed body, on the sending side: bytes the receiver still lets
/// go out. A sender waits while it is spent; the receiver's window updates open it again.
/// </summary>
internal sealed class SendWindow(int initial)
{
    private readonly Lock _lock = new();
    private int _available = initial;
    private TaskCompletionSource? _opened;

    /// <summary>Waits until at least one byte may go; returns how many may go now.</summary>
    public async ValueTask<int> WaitAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task opened;
            lock (_lock)
            {
                if (_available > 0)
                {
                    return _available;
                }

                opened = (_opened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            await opened.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Spends <paramref name="bytes"/> (after <see cref="WaitAsync"/> allowed them).</summary>
    public void Consume(int bytes)
    {
        lock (_lock)
        {
            _available -= bytes;
        }
    }

    /// <summary>The receiver took <paramref name="bytes"/> more.</summary>
    public void Grant(uint bytes)
    {
        TaskCompletionSource? opened;
        lock (_lock)
        {
            _available = (int)Math.Min(int.MaxValue, (long)_available + bytes);
            opened = _opened;
            _opened = null;
        }

        opened?.TrySetResult();
    }
}
