using System.Threading.Channels;
using Google.Protobuf.Collections;
using Grpc.Core;
using Teleport.Protocol.Diagnostics;

namespace Teleport.Protocol.Framing;

/// <summary>
/// The one writer of a tunnel stream. Producers queue items; a single loop drains whatever is queued
/// into ONE message per write. Under load many items share a message (and its compression); when
/// idle a lone item is written at once: batching adapts to load with no timer and no added latency.
/// </summary>
/// <remarks>
/// A gRPC stream allows one pending write, so every producer goes through a bounded queue, and
/// waits when it is full: back-pressure reaches the HTTP client instead of growing memory.
/// Two lanes keep it fair: chunks of streamed bodies (<see cref="OutgoingItem{TItem}.IsBulk"/>) wait in
/// their own queue, the stream's body budget, and fill what room a message has left after every other
/// item (starts, answers, window updates, control items) has been taken. A small exchange therefore waits
/// behind at most one message of chunks, never behind every window of every big body on the stream.
/// The frame object is reused from write to write: it is only touched again after the previous
/// write has completed, which is also when the body buffers of its items may go back to the pool.
/// </remarks>
internal sealed class BatchWriter<TFrame, TItem>
    where TFrame : class, Google.Protobuf.IMessage
{
    /// <summary>Chunks of streamed bodies queued at most, over all exchanges of the stream (32 KiB each: a 4 MiB budget).</summary>
    public const int BulkQueueCapacity = 128;

    // A bulk item that needs the writer to wake up when nothing else is queued; never written.
    private static readonly OutgoingItem<TItem> WakeUp = default;

    private readonly Channel<OutgoingItem<TItem>> _queue;
    private readonly Channel<OutgoingItem<TItem>> _bulk;
    private readonly FrameBuilder<TFrame, TItem> _frames;
    private readonly RepeatedField<TItem> _items;
    private readonly List<OutgoingItem<TItem>> _inFlight = [];
    private readonly TunnelCounters _counters;
    private BatchLimits _limits;

    // 1 while the writer waits on the main queue only: a producer of bulk items then wakes it with WakeUp.
    private int _waiting;

    /// <summary>A writer of plain batch messages.</summary>
    /// <param name="frame">The message written on every write; <paramref name="items"/> is its item list.</param>
    /// <param name="items">The repeated field of <paramref name="frame"/> the batch fills.</param>
    /// <param name="limits">Caps on one message.</param>
    /// <param name="queueCapacity">Items queued before producers wait.</param>
    /// <param name="counters">Where messages and items written are counted.</param>
    public BatchWriter(TFrame frame, RepeatedField<TItem> items, BatchLimits limits, int queueCapacity, TunnelCounters counters)
        : this(new PlainFrameBuilder<TFrame, TItem>(frame, items), limits, queueCapacity, counters)
    {
    }

    /// <summary>A writer whose messages <paramref name="frames"/> builds (e.g. compressed with the stream's context).</summary>
    public BatchWriter(FrameBuilder<TFrame, TItem> frames, BatchLimits limits, int queueCapacity, TunnelCounters counters)
    {
        _frames = frames;
        _items = frames.Items;
        _limits = limits;
        _counters = counters;
        _queue = Channel.CreateBounded<OutgoingItem<TItem>>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _bulk = Channel.CreateBounded<OutgoingItem<TItem>>(new BoundedChannelOptions(BulkQueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Keeps later batches under the peer's message limit (known once its hello arrived).</summary>
    public void FitTo(uint peerMaxMessageBytes) => _limits = _limits.FitTo(peerMaxMessageBytes);

    /// <summary>Queues an item, waiting while its lane is full. Throws once the writer has stopped.</summary>
    public ValueTask EnqueueAsync(OutgoingItem<TItem> item, CancellationToken cancellationToken)
    {
        if (!item.IsBulk)
        {
            return _queue.Writer.WriteAsync(item, cancellationToken);
        }

        return TryEnqueueBulk(item) ? ValueTask.CompletedTask : EnqueueBulkAsync(item, cancellationToken);
    }

    /// <summary>Queues an item if there is room right now; false when full or stopped.</summary>
    public bool TryEnqueue(OutgoingItem<TItem> item) => item.IsBulk ? TryEnqueueBulk(item) : _queue.Writer.TryWrite(item);

    private bool TryEnqueueBulk(OutgoingItem<TItem> item)
    {
        if (!_bulk.Writer.TryWrite(item))
        {
            return false;
        }

        WakeForBulk();
        return true;
    }

    private async ValueTask EnqueueBulkAsync(OutgoingItem<TItem> item, CancellationToken cancellationToken)
    {
        await _bulk.Writer.WriteAsync(item, cancellationToken);
        WakeForBulk();
    }

    /// <summary>
    /// The writer sleeps on the main queue only; a bulk item queued while it sleeps pokes it. The item is queued
    /// before the flag is read and the writer sets the flag before it looks at the bulk lane, so no wake-up is lost.
    /// </summary>
    private void WakeForBulk()
    {
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _queue.Writer.TryWrite(WakeUp);
        }
    }

    /// <summary>Writes batches until <paramref name="cancellationToken"/> fires or a write fails.</summary>
    public async Task RunAsync(IAsyncStreamWriter<TFrame> stream, CancellationToken cancellationToken)
    {
        var reader = _queue.Reader;
        var bulk = _bulk.Reader;
        Exception? failure = null;
        var written = false;
        try
        {
            while (await WaitForItemsAsync(reader, bulk, cancellationToken))
            {
                var bytes = Take(bulk, Take(reader, 0));
                if (_limits.MaxDelay > TimeSpan.Zero && bytes < _limits.MaxBytes && _items.Count < _limits.MaxItems)
                {
                    // Trades latency for fewer, larger messages (httpteleport's MaxBatchDelay); one timer per message, not per item.
                    await Task.Delay(_limits.MaxDelay, cancellationToken);
                    bytes = Take(bulk, Take(reader, bytes));
                }

                if (_items.Count == 0)
                {
                    // Only wake-ups were queued.
                    continue;
                }

                // A failed write may have sent part of the message: its items count as written.
                written = true;
                var count = _items.Count;
                await stream.WriteAsync(_frames.Build(), cancellationToken);
                _counters.MessageSent(count, _counters.CountsLogicalBytes ? _frames.LogicalBytes : 0);
                ReleaseInFlight(written: true);
                written = false;
            }
        }
        catch (Exception ex)
        {
            failure = ex;
            throw;
        }
        finally
        {
            // Taken into a message that was never (or only partly) written: cancelled during the delay, or the write failed.
            ReleaseInFlight(written);
            // Stop producers first, so nothing lands in the queues after they have been drained.
            var stopped = failure ?? new ChannelClosedException("The tunnel stream writer has stopped.");
            _bulk.Writer.TryComplete(stopped);
            _queue.Writer.TryComplete(stopped);
            while (reader.TryRead(out var left) || bulk.TryRead(out left))
            {
                left.Release(written: false);
            }
        }
    }

    /// <summary>True when there is something to take; false once the writer is completed and both lanes are empty.</summary>
    private async ValueTask<bool> WaitForItemsAsync(ChannelReader<OutgoingItem<TItem>> reader, ChannelReader<OutgoingItem<TItem>> bulk, CancellationToken cancellationToken)
    {
        if (reader.TryPeek(out _) || bulk.TryPeek(out _))
        {
            return true;
        }

        Interlocked.Exchange(ref _waiting, 1);
        if (bulk.TryPeek(out _))
        {
            Volatile.Write(ref _waiting, 0);
            return true;
        }

        // Completion ends the main queue after the bulk lane (see Complete), so bulk items left over are still written.
        var more = await reader.WaitToReadAsync(cancellationToken);
        Volatile.Write(ref _waiting, 0);
        return more || bulk.TryPeek(out _);
    }

    /// <summary>Moves queued items into the batch up to its caps; returns the batch's bytes.</summary>
    private int Take(ChannelReader<OutgoingItem<TItem>> reader, int bytes)
    {
        // Peek first: an item that would push a non-empty batch over the byte cap waits for the next one.
        while (_items.Count < _limits.MaxItems
            && reader.TryPeek(out var next)
            && (_items.Count == 0 || bytes + next.Size <= _limits.MaxBytes)
            && reader.TryRead(out next))
        {
            if (next.Item is null)
            {
                continue;
            }

            _items.Add(next.Item);
            _inFlight.Add(next);
            bytes += next.Size;
        }

        return bytes;
    }

    /// <summary>Stops accepting items; <see cref="RunAsync"/> ends once both lanes are written out.</summary>
    public void Complete()
    {
        _bulk.Writer.TryComplete();
        _queue.Writer.TryComplete();
    }

    private void ReleaseInFlight(bool written)
    {
        foreach (var sent in _inFlight)
        {
            sent.Release(written);
        }

        _inFlight.Clear();
        _frames.Reset();
    }
}
