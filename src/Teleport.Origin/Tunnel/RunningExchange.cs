using Teleport.Origin.Upstream;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Tunnel;

/// <summary>Why an exchange running at the origin was given up before its answer: the edge's reason, or the stream's end.</summary>
internal enum CancelCause
{
    /// <summary>The edge cancelled without a reason (e.g. the request body broke or grew too large).</summary>
    Other,

    /// <summary>The edge's client went away.</summary>
    ClientAborted,

    /// <summary>The edge's deadline for the exchange passed.</summary>
    Deadline,

    /// <summary>The edge or this origin is shutting down.</summary>
    ShuttingDown,

    /// <summary>The tunnel stream ended with the exchange still running.</summary>
    TunnelLost,
}

/// <summary>
/// An exchange running at the origin: what it asks for, its cancellation (remembering whether the edge or the
/// stream's end asked for it) and, when its response is streamed, the window the edge grants for the body. It is
/// also its own thread-pool work item, so starting it on a worker allocates nothing more.
/// </summary>
/// <param name="run">What runs the exchange, when it is started on a worker (<see cref="RunOnWorker"/>).</param>
internal sealed class RunningExchange(ulong id, RequestStart start, TimeSpan timeout, Func<RunningExchange, Task> run, Func<OutgoingItem<OriginItem>, ValueTask> send, int window, int maxBodyBytes)
    : CancellationTokenSource, IResponseBodySink, IThreadPoolWorkItem
{
    // Only a streamed response needs one: created on first use, so the common whole answer allocates nothing more.
    private SendWindow? _window;
    private volatile bool _abandoned;

    public ulong Id => id;

    public RequestStart Start => start;

    /// <summary>How long the upstream has to answer (the edge's deadline when shorter than --request-timeout).</summary>
    public TimeSpan Timeout => timeout;

    public bool Abandoned => _abandoned;

    /// <summary>Why the exchange was abandoned (meaningful once <see cref="Abandoned"/>).</summary>
    public CancelCause Cause { get; private set; }

    public int MaxBodyBytes => maxBodyBytes;

    /// <summary>The request body, when it is streamed in chunks after the start; null when it came whole.</summary>
    public StreamedRequestBody? Upload { get; set; }

    /// <summary>The status of the streamed response whose head has gone out; 0 before that.</summary>
    public uint HeadStatus { get; private set; }

    public void Abandon(CancelCause cause)
    {
        Cause = cause;
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
    public void Grant(uint bytes) => Window.Grant(bytes);

    public ValueTask<int> WaitForWindowAsync(CancellationToken cancellationToken) => Window.WaitAsync(cancellationToken);

    public ValueTask SendAsync(OutgoingItem<OriginItem> item, int bodyBytes)
    {
        Window.Consume(bodyBytes);
        return send(item);
    }

    private SendWindow Window
        => Volatile.Read(ref _window) ?? Interlocked.CompareExchange(ref _window, new SendWindow(window), null) ?? _window!;

    public void HeadSent(uint status)
    {
        HeadStatus = status;
        StartTimeout(System.Threading.Timeout.InfiniteTimeSpan);
    }

    /// <summary>Runs the exchange on a thread-pool worker, without the caller's execution context.</summary>
    public void RunOnWorker() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    void IThreadPoolWorkItem.Execute() => _ = run(this);

    /// <summary>Gives the upstream <paramref name="timeout"/> from now (infinite: no limit any more).</summary>
    public void StartTimeout(TimeSpan timeout)
    {
        try
        {
            CancelAfter(timeout);
        }
        catch (ObjectDisposedException)
        {
            // The exchange finished meanwhile.
        }
    }
}
