using System.Buffers;
using System.IO.Pipelines;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Tunnel;

/// <summary>
/// A request body that arrives in chunks ("streaming" capability), read by the upstream request as it comes:
/// chunks go into a pipe, and what the upstream has read is granted back to the edge in window updates, so no
/// more than the window is ever held here.
/// </summary>
internal sealed class StreamedRequestBody : Stream
{
    // The window bounds what the pipe holds, so the writer (the stream's reader loop) must never wait on it.
    private static readonly PipeOptions Unpaused = new(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false);

    private readonly Pipe _pipe = new(Unpaused);
    // The stream's reader loop appends; the exchange's end may abort from another thread. A pipe writer takes one at a time.
    private readonly Lock _writing = new();
    private readonly Stream _reader;
    private readonly ulong _id;
    private readonly int _window;
    private readonly long _maxBody;
    private readonly Func<OutgoingItem<OriginItem>, ValueTask> _send;
    private readonly Action _ended;
    private ReceiveWindow _received;
    private int _consumed;
    private long _total;
    private bool _done;

    /// <param name="first">The body bytes the request's start held.</param>
    /// <param name="send">Queues a window update on the stream.</param>
    /// <param name="ended">Told when the last chunk has arrived.</param>
    public StreamedRequestBody(ulong id, ReadOnlySpan<byte> first, int window, long maxBody, Func<OutgoingItem<OriginItem>, ValueTask> send, Action ended)
    {
        _ended = ended;
        _id = id;
        _window = window;
        _maxBody = maxBody;
        _send = send;
        _reader = _pipe.Reader.AsStream();
        Append(first);
    }

    /// <summary>Takes the next chunk from the stream's reader loop; false when it breaks the window or the body limit.</summary>
    public bool TryAppend(BodyChunk chunk)
    {
        lock (_writing)
        {
            return TryAppendLocked(chunk);
        }
    }

    private bool TryAppendLocked(BodyChunk chunk)
    {
        if (_done)
        {
            // The upstream request has ended already (answered early, or failed): the rest has nowhere to go.
            return true;
        }

        var span = chunk.Data.Span;
        if (!_received.TryReceive(span.Length, _window) || (_total += span.Length) > _maxBody)
        {
            return false;
        }

        Append(span);
        if (chunk.End)
        {
            _done = true;
            _pipe.Writer.Complete();
            _ended();
        }

        return true;
    }

    /// <summary>The exchange ended before its body did (cancel, stream lost): the upstream request's body read fails.</summary>
    public void Abort()
    {
        lock (_writing)
        {
            if (!_done)
            {
                _done = true;
                _pipe.Writer.Complete(new IOException("The request ended before its body did."));
            }
        }
    }

    /// <summary>Waits until bytes or the body's end can be read, taking none: a reader that is idle need hold no buffer.</summary>
    public async ValueTask WaitToReadAsync(CancellationToken cancellationToken)
    {
        var result = await _pipe.Reader.ReadAsync(cancellationToken);
        // Nothing consumed or examined: the next read returns the same bytes at once.
        _pipe.Reader.AdvanceTo(result.Buffer.Start);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _reader.ReadAsync(buffer, cancellationToken);
        _consumed += read;
        // In quarters of the window: the edge always has most of it to send on, and updates stay few.
        if (_consumed >= _window / 4 || (read == 0 && _consumed > 0))
        {
            var granted = _consumed;
            _consumed = 0;
            _received.Granted(granted);
            await _send(new OutgoingItem<OriginItem>(new OriginItem { ExchangeId = _id, WindowUpdate = new WindowUpdate { Bytes = (uint)granted } }, 16));
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Abort();
            _reader.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (data.Length > 0)
        {
            _pipe.Writer.Write(data);
            // Never waits: the pipe has no pause threshold (the window bounds it instead).
            _pipe.Writer.FlushAsync().GetAwaiter().GetResult();
        }
    }
}
