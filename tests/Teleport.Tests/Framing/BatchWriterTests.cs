using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Google.Protobuf;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;
using Teleport.Tests.TestSupport;

namespace Teleport.Tests.Framing;

public sealed class BatchWriterTests
{
    private static readonly BatchLimits Roomy = new(MaxItems: 1024, MaxBytes: 1024 * 1024);

    [Fact]
    public async Task RunAsync_LoneItem_WritesBatchOfOneAtOnce()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        var run = writer.RunAsync(stream, CancellationToken.None);

        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        // No timer and no waiting for company: the write starts with the one item queued.
        Assert.Equal("[1]", RecordingStreamWriter.Describe(await stream.NextWriteStartedAsync().DefaultTimeout()));

        await writer.EnqueueAsync(Item(2), CancellationToken.None).DefaultTimeout();
        Assert.Equal("[2]", RecordingStreamWriter.Describe(await stream.NextWriteStartedAsync().DefaultTimeout()));

        writer.Complete();
        await run.DefaultTimeout();
        Assert.Equal("[1] [2]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_ItemsQueuedWhileWriteBlocked_GoOutTogetherInNextMessage()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        stream.Hold();
        var run = writer.RunAsync(stream, CancellationToken.None);

        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout();
        for (ulong id = 2; id <= 5; id++)
        {
            await writer.EnqueueAsync(Item(id), CancellationToken.None).DefaultTimeout();
        }

        stream.Release();
        writer.Complete();
        await run.DefaultTimeout();

        Assert.Equal("[1] [2 3 4 5]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_MaxDelay_ItemsArrivingDuringTheDelayShareTheMessage()
    {
        var stream = new RecordingStreamWriter();
        // A long delay, so that a stalled test thread (a loaded CI machine) cannot outlast it; the test takes that long.
        var writer = CreateWriter(Roomy with { MaxDelay = TimeSpan.FromSeconds(3) });
        var run = writer.RunAsync(stream, CancellationToken.None);

        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        await Task.Delay(50);
        await writer.EnqueueAsync(Item(2), CancellationToken.None).DefaultTimeout();
        await writer.EnqueueAsync(Item(3), CancellationToken.None).DefaultTimeout();

        Assert.Equal("[1 2 3]", RecordingStreamWriter.Describe(await stream.NextWriteStartedAsync().DefaultTimeout()));
        writer.Complete();
        await run.DefaultTimeout();
    }

    [Fact]
    public async Task RunAsync_BacklogOverMaxItems_SplitsAtMaxItems()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy with { MaxItems = 3 });

        await WriteWithBacklogAsync(writer, stream, Enumerable.Range(1, 8).Select(id => Item((ulong)id)));

        Assert.Equal("[1] [2 3 4] [5 6 7] [8]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_BacklogOverMaxBytes_SplitsBeforeItemThatWouldExceedCap()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy with { MaxBytes = 100 });

        // 40 + 40 fits under 100, a third 40 does not; 50 + 50 is exactly the cap and fits.
        await WriteWithBacklogAsync(writer, stream, [Item(1), Item(2, 40), Item(3, 40), Item(4, 40), Item(5, 50), Item(6, 50)]);

        Assert.Equal("[1] [2 3] [4 5] [6]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_ItemOverMaxBytes_TravelsAlone()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy with { MaxBytes = 100 });

        await WriteWithBacklogAsync(writer, stream, [Item(1), Item(2, 10), Item(3, 10), Item(4, 500), Item(5, 10), Item(6, 10)]);

        Assert.Equal("[1] [2 3] [4] [5 6]", stream.Batches());
    }

    [Fact]
    public async Task FitTo_PeerLimitBelowMaxBytes_LowersByteCap()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy with { MaxBytes = 64 * 1024 * 1024 });

        // The peer takes messages of 100 bytes beyond the headroom: two items of 60 no longer share one.
        writer.FitTo(BatchLimits.HeadroomBytes + 100);
        await WriteWithBacklogAsync(writer, stream, [Item(1), Item(2, 60), Item(3, 60), Item(4, 30)]);

        Assert.Equal("[1] [2] [3 4]", stream.Batches());
    }

    [Fact]
    public async Task FitTo_PeerLimitAboveMaxBytes_KeepsByteCap()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy with { MaxBytes = 100 });

        writer.FitTo(64 * 1024 * 1024);
        await WriteWithBacklogAsync(writer, stream, [Item(1), Item(2, 60), Item(3, 60)]);

        Assert.Equal("[1] [2] [3]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_PooledBodies_ReturnedOnlyAfterTheirWriteCompletes()
    {
        using var pool = new PoolReturnListener();
        var buffers = new byte[3][];
        for (var i = 0; i < buffers.Length; i++)
        {
            buffers[i] = ArrayPool<byte>.Shared.Rent(4096);
            buffers[i].AsSpan().Fill((byte)(0xA0 + i));
            pool.Watch(buffers[i]);
        }

        // At the end of each write, note any of that message's buffers already back in the pool.
        var returnedTooEarly = new ConcurrentQueue<ulong>();
        var stream = new RecordingStreamWriter
        {
            Completing = message =>
            {
                foreach (var item in message.Batch.Items)
                {
                    if (pool.WasReturned(buffers[item.ExchangeId - 1]))
                    {
                        returnedTooEarly.Enqueue(item.ExchangeId);
                    }
                }
            },
        };
        var writer = CreateWriter(Roomy);

        await WriteWithBacklogAsync(writer, stream, [BodyItem(1, buffers[0]), BodyItem(2, buffers[1]), BodyItem(3, buffers[2])]);

        Assert.Equal("[1] [2 3]", stream.Batches());
        Assert.Empty(returnedTooEarly);
        Assert.All(buffers, b => Assert.True(pool.WasReturned(b), "Each buffer goes back once its write has completed."));
        var bodies = stream.Written.SelectMany(m => m.Batch.Items).Select(i => i.RequestStart.Body.ToByteArray()).ToArray();
        for (var i = 0; i < bodies.Length; i++)
        {
            Assert.Equal(Enumerable.Repeat((byte)(0xA0 + i), 4096), bodies[i]);
        }
    }

    [Fact]
    public async Task RunAsync_WriteFails_EndsWithTheExceptionAndRefusesLaterItems()
    {
        var failure = new IOException("stream reset");
        var stream = new RecordingStreamWriter { Failure = failure };
        var counters = new TunnelCounters();
        var writer = CreateWriter(Roomy, counters);
        var run = writer.RunAsync(stream, CancellationToken.None);

        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();

        Assert.Same(failure, await Assert.ThrowsAsync<IOException>(() => run).DefaultTimeout());
        var closed = await Assert.ThrowsAsync<ChannelClosedException>(() => writer.EnqueueAsync(Item(2), CancellationToken.None).AsTask()).DefaultTimeout();
        Assert.Same(failure, closed.InnerException);
        Assert.False(writer.TryEnqueue(Item(3)));
        Assert.Equal(0, counters.MessagesSent);
        Assert.Equal(0, counters.ItemsSent);
    }

    [Fact]
    public async Task RunAsync_OwnersAreToldWhetherTheirItemReachedTheStream()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        var run = writer.RunAsync(stream, CancellationToken.None);
        var sent = new Owner();
        await writer.EnqueueAsync(new OutgoingItem<EdgeItem>(Item(1).Item, 10, sent), CancellationToken.None).DefaultTimeout();
        await sent.Outcome.DefaultTimeout();

        // The next write fails while held: its item may have gone out in part; the one queued behind it never did.
        stream.Failure = new IOException("stream reset");
        stream.Hold();
        var failed = new Owner();
        var unsent = new Owner();
        await writer.EnqueueAsync(new OutgoingItem<EdgeItem>(Item(2).Item, 10, failed), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout(); // item 1's
        await stream.NextWriteStartedAsync().DefaultTimeout(); // item 2's, now held
        await writer.EnqueueAsync(new OutgoingItem<EdgeItem>(Item(3).Item, 10, unsent), CancellationToken.None).DefaultTimeout();
        stream.Release();
        await Assert.ThrowsAsync<IOException>(() => run).DefaultTimeout();

        Assert.True(await sent.Outcome);
        Assert.True(await failed.Outcome);
        Assert.False(await unsent.Outcome);
    }

    [Fact]
    public async Task RunAsync_WriteFails_ReturnsBuffersOfSentAndQueuedItems()
    {
        using var pool = new PoolReturnListener();
        var buffers = Enumerable.Range(0, 3).Select(_ => ArrayPool<byte>.Shared.Rent(1024)).ToArray();
        Array.ForEach(buffers, pool.Watch);
        var stream = new RecordingStreamWriter { Failure = new IOException("stream reset") };
        var writer = CreateWriter(Roomy);
        stream.Hold();
        var run = writer.RunAsync(stream, CancellationToken.None);

        await writer.EnqueueAsync(BodyItem(1, buffers[0]), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout();
        await writer.EnqueueAsync(BodyItem(2, buffers[1]), CancellationToken.None).DefaultTimeout();
        await writer.EnqueueAsync(BodyItem(3, buffers[2]), CancellationToken.None).DefaultTimeout();
        stream.Release();

        await Assert.ThrowsAsync<IOException>(() => run).DefaultTimeout();
        Assert.All(buffers, b => Assert.True(pool.WasReturned(b), "Every queued buffer goes back when the writer dies."));
    }

    [Fact]
    public async Task RunAsync_Canceled_EndsAndRefusesLaterItems()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        using var cts = new CancellationTokenSource();
        var run = writer.RunAsync(stream, cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run).DefaultTimeout();
        // Either is what a producer (TunnelConnection.SendAsync) expects from a stopped writer.
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => writer.EnqueueAsync(Item(1), CancellationToken.None).AsTask()).DefaultTimeout();
        Assert.True(refused is ChannelClosedException or OperationCanceledException, refused.ToString());
        Assert.False(writer.TryEnqueue(Item(2)));
        Assert.Equal("", stream.Batches());
    }

    [Fact]
    public async Task EnqueueAsync_QueueFull_WaitsUntilWriterDrains()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy, queueCapacity: 1);
        stream.Hold();
        var run = writer.RunAsync(stream, CancellationToken.None);

        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout();
        await writer.EnqueueAsync(Item(2), CancellationToken.None).DefaultTimeout();
        var third = writer.EnqueueAsync(Item(3), CancellationToken.None).AsTask();

        // The writer is stuck in a write, so nothing drains the one slot.
        Assert.False(third.IsCompleted);
        Assert.False(writer.TryEnqueue(Item(4)));

        stream.Release();
        await third.DefaultTimeout();
        writer.Complete();
        await run.DefaultTimeout();
        Assert.Equal("1 2 3", string.Join(" ", stream.Written.SelectMany(m => m.Batch.Items).Select(i => i.ExchangeId)));
    }

    [Fact]
    public async Task RunAsync_SeveralMessages_CountsMessagesAndItems()
    {
        var stream = new RecordingStreamWriter();
        var counters = new TunnelCounters();
        var writer = CreateWriter(Roomy with { MaxItems = 2 }, counters);

        await WriteWithBacklogAsync(writer, stream, Enumerable.Range(1, 6).Select(id => Item((ulong)id)));

        Assert.Equal("[1] [2 3] [4 5] [6]", stream.Batches());
        Assert.Equal(4, counters.MessagesSent);
        Assert.Equal(6, counters.ItemsSent);
    }

    [Fact]
    public async Task RunAsync_BodyChunksQueuedFirst_OtherItemsGoAheadOfThem()
    {
        var stream = new RecordingStreamWriter();
        // Room for two items a message: what a full message of chunks would be under load.
        var writer = CreateWriter(Roomy with { MaxItems = 2 });

        // Chunks 1-5 of big bodies are queued before the answers 10 and 11 of small exchanges.
        await WriteWithBacklogAsync(writer, stream, [Chunk(1), Chunk(2), Chunk(3), Chunk(4), Chunk(5), Item(10), Item(11)]);

        // A FIFO would have written [2 3] [4 5] [10 11]: the small exchanges would wait behind every chunk.
        Assert.Equal("[1] [10 11] [2 3] [4 5]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_OtherItemsLeaveRoom_ChunksFillTheRestOfTheMessage()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy with { MaxItems = 3 });

        await WriteWithBacklogAsync(writer, stream, [Item(1), Chunk(2), Chunk(3), Item(4), Chunk(5)]);

        Assert.Equal("[1] [4 2 3] [5]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_LoneChunkOnAnIdleWriter_IsWrittenAtOnce()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        var run = writer.RunAsync(stream, CancellationToken.None);
        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout();

        // The writer sleeps on the main queue: a chunk alone must wake it.
        for (ulong id = 2; id <= 4; id++)
        {
            await writer.EnqueueAsync(Chunk(id), CancellationToken.None).DefaultTimeout();
            Assert.Equal($"[{id}]", RecordingStreamWriter.Describe(await stream.NextWriteStartedAsync().DefaultTimeout()));
        }

        writer.Complete();
        await run.DefaultTimeout();
    }

    [Fact]
    public async Task EnqueueAsync_BulkLaneFull_ChunkProducerWaits_OthersDoNot()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        stream.Hold();
        var run = writer.RunAsync(stream, CancellationToken.None);
        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout();
        for (var i = 0; i < BatchWriter<EdgeFrame, EdgeItem>.BulkQueueCapacity; i++)
        {
            await writer.EnqueueAsync(Chunk((ulong)(100 + i)), CancellationToken.None).DefaultTimeout();
        }

        // The stream's body budget is spent: one more chunk waits, an answer does not.
        var blocked = writer.EnqueueAsync(Chunk(99), CancellationToken.None).AsTask();
        await writer.EnqueueAsync(Item(2), CancellationToken.None).DefaultTimeout();
        Assert.True(writer.TryEnqueue(Item(3)));
        Assert.False(writer.TryEnqueue(Chunk(98)));
        await Task.Delay(50);
        Assert.False(blocked.IsCompleted);

        stream.Release();
        await blocked.DefaultTimeout();
        writer.Complete();
        await run.DefaultTimeout();
        Assert.StartsWith("[1] [2 3 100 101", stream.Batches());
        Assert.EndsWith(" 99]", stream.Batches());
    }

    [Fact]
    public async Task RunAsync_StreamEnds_QueuedChunksAreReleasedUnwritten()
    {
        var stream = new RecordingStreamWriter();
        var writer = CreateWriter(Roomy);
        stream.Hold();
        using var cts = new CancellationTokenSource();
        var run = writer.RunAsync(stream, cts.Token);
        await writer.EnqueueAsync(Item(1), CancellationToken.None).DefaultTimeout();
        await stream.NextWriteStartedAsync().DefaultTimeout();
        var owner = new Owner();
        await writer.EnqueueAsync(new OutgoingItem<EdgeItem>(Chunk(2).Item, 10, owner) { IsBulk = true }, CancellationToken.None).DefaultTimeout();

        cts.Cancel();
        stream.Release();
        await Assert.ThrowsAnyAsync<Exception>(() => run).DefaultTimeout();

        Assert.False(await owner.Outcome.DefaultTimeout());
        await Assert.ThrowsAnyAsync<Exception>(async () => await writer.EnqueueAsync(Chunk(3), CancellationToken.None));
    }

    private static OutgoingItem<EdgeItem> Chunk(ulong id)
        => new(new EdgeItem { ExchangeId = id, RequestBody = new BodyChunk { Data = ByteString.CopyFromUtf8("chunk") } }, 30) { IsBulk = true };

    private static BatchWriter<EdgeFrame, EdgeItem> CreateWriter(BatchLimits limits, TunnelCounters? counters = null, int queueCapacity = 64)
    {
        var frame = new EdgeFrame { Batch = new EdgeBatch() };
        return new BatchWriter<EdgeFrame, EdgeItem>(frame, frame.Batch.Items, limits, queueCapacity, counters ?? new TunnelCounters());
    }

    /// <summary>
    /// Holds the first write (the first item) open, queues the rest behind it, then lets everything
    /// through and waits for the writer to finish: the rest arrive as one backlog.
    /// </summary>
    private static async Task WriteWithBacklogAsync(BatchWriter<EdgeFrame, EdgeItem> writer, RecordingStreamWriter stream, IEnumerable<OutgoingItem<EdgeItem>> items)
    {
        stream.Hold();
        var run = writer.RunAsync(stream, CancellationToken.None);
        var first = true;
        foreach (var item in items)
        {
            await writer.EnqueueAsync(item, CancellationToken.None).DefaultTimeout();
            if (first)
            {
                await stream.NextWriteStartedAsync().DefaultTimeout();
                first = false;
            }
        }

        stream.Release();
        writer.Complete();
        await run.DefaultTimeout();
    }

    private static OutgoingItem<EdgeItem> Item(ulong id, int size = 10)
        => new(new EdgeItem { ExchangeId = id, Cancel = new Cancel { Reason = CancelReason.ClientAborted } }, size);

    private static OutgoingItem<EdgeItem> BodyItem(ulong id, byte[] pooled)
    {
        var item = new EdgeItem
        {
            ExchangeId = id,
            RequestStart = new RequestStart { Method = "POST", PathAndQuery = "/", Body = UnsafeByteOperations.UnsafeWrap(pooled), HasBody = true },
        };
        return new OutgoingItem<EdgeItem>(item, pooled.Length + 32, pooled);
    }

    /// <summary>Records the one release of its item.</summary>
    private sealed class Owner : IOutgoingItemOwner
    {
        private readonly TaskCompletionSource<bool> _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<bool> Outcome => _released.Task;

        public void Released(bool written)
        {
            if (!_released.TrySetResult(written))
            {
                throw new InvalidOperationException("Released twice.");
            }
        }
    }
}
