using System.Buffers;
using System.IO.Pipelines;

namespace Teleport.Protocol.Diagnostics;

/// <summary>
/// A connection's transport that counts into <see cref="ConnectionCounters"/> the bytes the server consumes
/// from it and the bytes it commits to it; everything else goes straight to the inner pipes.
/// </summary>
internal sealed class CountingDuplexPipe(IDuplexPipe inner, ConnectionCounters counters) : IDuplexPipe
{
    public PipeReader Input { get; } = new Reader(inner.Input, counters);

    public PipeWriter Output { get; } = new Writer(inner.Output, counters);

    /// <summary>Counts what is consumed (AdvanceTo), so bytes examined twice are counted once.</summary>
    private sealed class Reader(PipeReader inner, ConnectionCounters counters) : PipeReader
    {
        // The buffer of the last read; consumed positions are measured against it. Valid until the next AdvanceTo.
        private ReadOnlySequence<byte> _last;

        public override void AdvanceTo(SequencePosition consumed)
        {
            Count(consumed);
            inner.AdvanceTo(consumed);
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            Count(consumed);
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var read = inner.ReadAsync(cancellationToken);
            if (read.IsCompletedSuccessfully)
            {
                var result = read.Result;
                _last = result.Buffer;
                return new ValueTask<ReadResult>(result);
            }

            return AwaitReadAsync(read);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }

            _last = result.Buffer;
            return true;
        }

        private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
        {
            var result = await read.ConfigureAwait(false);
            _last = result.Buffer;
            return result;
        }

        private void Count(SequencePosition consumed)
        {
            if (!_last.IsEmpty)
            {
                var length = _last.Slice(_last.Start, consumed).Length;
                if (length > 0)
                {
                    counters.Received(length);
                }
            }

            _last = default;
        }
    }

    /// <summary>Counts what is committed (Advance, WriteAsync): it all goes to the socket on the next flush.</summary>
    private sealed class Writer(PipeWriter inner, ConnectionCounters counters) : PipeWriter
    {
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes)
        {
            counters.Sent(bytes);
            inner.Advance(bytes);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            counters.Sent(source.Length);
            return inner.WriteAsync(source, cancellationToken);
        }
    }
}
