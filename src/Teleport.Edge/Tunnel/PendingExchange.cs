using System.Threading.Channels;
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

    private Channel<OriginItem>? _body;
    private long _deadline = deadline;
    private ReceiveWindow _window;
    // Each written by one loop only (the body's pump, the response's copy) and read once both have ended.
    private long _bodyBytesSent;
    private long _bodyBytesWritten;

    /// <summary><see cref="Environment.TickCount64"/> after which the edge stops waiting; none once a streamed body has begun.</summary>
    public long Deadline => Volatile.Read(ref _deadline);

    /// <summary>The origin's window for this exchange's streamed request body; null when the body went whole.</summary>
    public SendWindow? UploadWindow { get; private set; }

    /// <summary>The request body will follow the start in chunks, under the origin's <paramref name="window"/>; no deadline until it has.</summary>
    public void BeginUpload(int window)
    {
        UploadWindow = new SendWindow(window);
        Volatile.Write(ref _deadline, long.MaxValue);
    }

    /// <summary>
    /// The client's side of an upgraded connection will follow the start in chunks, under the origin's
    /// <paramref name="window"/>; unlike an upload's, the deadline stays: it bounds the wait for the 101.
    /// </summary>
    public void BeginUpgrade(int window) => UploadWindow = new SendWindow(window);

    /// <summary>The streamed request body has gone out: the request timeout runs from now.</summary>
    public void UploadEnded(long deadline)
    {
        if (_body is null)
        {
            Volatile.Write(ref _deadline, deadline);
        }
    }

    /// <summary>The rest of a streamed response, chunk by chunk, after a head with body_follows; null otherwise.</summary>
    public ChannelReader<OriginItem>? Body => _body?.Reader;

    /// <summary>
    /// A head with body_follows arrived: its chunks go to <see cref="Body"/> from now on, and the request timeout no
    /// longer applies (a download or an event stream lasts as long as it lasts; the client or the origin ends it).
    /// </summary>
    /// <param name="headBytes">The body bytes the head itself holds (they count against the window too).</param>
    public void BeginBody(int headBytes)
    {
        _window.TryReceive(headBytes, int.MaxValue);
        _body = Channel.CreateUnbounded<OriginItem>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Volatile.Write(ref _deadline, long.MaxValue);
    }

    /// <summary>
    /// Passes on a chunk (the last one ends the body); false when it would take the body past <paramref name="window"/> bytes received and not yet
    /// granted back: an origin that ignores the window could otherwise fill the edge's memory.
    /// </summary>
    public bool TryDeliverBody(OriginItem chunk, int window)
    {
        if (!_window.TryReceive(chunk.ResponseBody.Data.Length, window))
        {
            return false;
        }

        if (_body is { } body && body.Writer.TryWrite(chunk) && chunk.ResponseBody.End)
        {
            body.Writer.TryComplete();
        }

        return true;
    }

    /// <summary>Bytes of the streamed request body sent so far: for an upgrade, the client's side of the connection.</summary>
    public long BodyBytesSent => _bodyBytesSent;

    /// <summary>Bytes of the streamed response body's chunks written to the client so far (not those the head held).</summary>
    public long BodyBytesWritten => _bodyBytesWritten;

    /// <summary>Counts <paramref name="bytes"/> of the request body as sent; called by its single pump.</summary>
    public void BodySent(int bytes) => _bodyBytesSent += bytes;

    /// <summary>Counts <paramref name="bytes"/> of a response body chunk as written to the client; called by its single writer.</summary>
    public void BodyWritten(int bytes) => _bodyBytesWritten += bytes;

    /// <summary>The handler has given <paramref name="bytes"/> back to the origin's window.</summary>
    public void Granted(int bytes) => _window.Granted(bytes);

    /// <summary>
    /// Ends a streamed body with <paramref name="last"/>: its last chunk, or what broke it off (an error, the stream
    /// lost, the client gone). Nothing is passed on after the first end.
    /// </summary>
    public void FinishBody(OriginItem last)
    {
        if (_body is { } body && body.Writer.TryWrite(last))
        {
            body.Writer.TryComplete();
        }
    }

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
