using Teleport.Origin.Upstream;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Tunnel;

/// <summary>
/// An exchange running at the origin: its cancellation (remembering whether the edge or the stream's end asked
/// for it) and, when its response is streamed, the window the edge grants for the body.
/// </summary>
internal sealed class RunningExchange(Func<OutgoingItem<OriginItem>, ValueTask> send, int window, int maxBodyBytes) : CancellationTokenSource, IResponseBodySink
{
    private readonly Lock _lock = new();
    private int _window = window;
    private TaskCompletionSource? _windowOpened;
    private volatile bool _abandoned;

    public bool Abandoned => _abandoned;

    public int MaxBodyBytes => maxBodyBytes;

    /// <summary>The status of the streamed response whose head has gone out; 0 before that.</summary>
    public uint HeadStatus { get; private set; }

    public void Abandon()
    {
        _abandoned = true;
        try
        {
            Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The exchange finished meanwhile.
        }
    }

    /// <summary>The edge consumed <paramref name="bytes"/> more of the body.</summary>
    public void Grant(uint bytes)
    {
        TaskCompletionSource? opened;
        lock (_lock)
        {
            _window = (int)Math.Min(int.MaxValue, (long)_window + bytes);
            opened = _windowOpened;
            _windowOpened = null;
        }

        opened?.TrySetResult();
    }

    public async ValueTask<int> WaitForWindowAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task opened;
            lock (_lock)
            {
                if (_window > 0)
                {
                    return _window;
                }

                opened = (_windowOpened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            await opened.WaitAsync(cancellationToken);
        }
    }

    public ValueTask SendAsync(OutgoingItem<OriginItem> item, int bodyBytes)
    {
        lock (_lock)
        {
            _window -= bodyBytes;
        }

        return send(item);
    }

    public void HeadSent(uint status)
    {
        HeadStatus = status;
        try
        {
            CancelAfter(Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The exchange finished meanwhile.
        }
    }
}
