using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Teleport.Protocol.V1;

namespace Teleport.Tests.TestSupport;

/// <summary>
/// An in-memory tunnel request stream that records what each write carried and can hold writes open
/// so that a backlog builds behind them.
/// </summary>
/// <remarks>
/// The writer under test reuses one frame object, so a message is recorded by serializing it, as gRPC
/// would, at the END of its write: the latest moment a real stream may still read the frame and the
/// body buffers it wraps. Like a real gRPC stream, it refuses a second write while one is pending, and
/// it fails a write whose message changed while it was pending.
/// </remarks>
internal sealed class RecordingStreamWriter : IAsyncStreamWriter<EdgeFrame>
{
    private readonly Channel<EdgeFrame> _started = Channel.CreateUnbounded<EdgeFrame>();
    private readonly List<EdgeFrame> _written = [];
    private TaskCompletionSource? _gate;
    private int _pending;

    public WriteOptions? WriteOptions { get; set; }

    /// <summary>When set, every write from now on fails with it (after its hold, if any, is released).</summary>
    public Exception? Failure { get; set; }

    /// <summary>Runs at the end of each write, before it completes, with the message as serialized then.</summary>
    public Action<EdgeFrame>? Completing { get; set; }

    /// <summary>Messages whose write completed, as serialized at that moment.</summary>
    public IReadOnlyList<EdgeFrame> Written
    {
        get
        {
            lock (_written)
            {
                return [.. _written];
            }
        }
    }

    /// <summary>Writes starting from now on wait until <see cref="Release"/>.</summary>
    public void Hold() => Volatile.Write(ref _gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Lets held writes, and all later ones, complete.</summary>
    public void Release() => Interlocked.Exchange(ref _gate, null)?.TrySetResult();

    /// <summary>The next write to begin, as its message was when it began.</summary>
    public Task<EdgeFrame> NextWriteStartedAsync() => _started.Reader.ReadAsync().AsTask();

    /// <summary>Written messages as item ids, e.g. "[1] [2 3 4]".</summary>
    public string Batches() => string.Join(" ", Written.Select(Describe));

    public static string Describe(EdgeFrame message)
        => "[" + string.Join(" ", message.Batch.Items.Select(i => i.ExchangeId)) + "]";

    public Task WriteAsync(EdgeFrame message) => WriteAsync(message, CancellationToken.None);

    public async Task WriteAsync(EdgeFrame message, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _pending) != 1)
        {
            Interlocked.Decrement(ref _pending);
            throw new InvalidOperationException("Only one write can be pending at a time.");
        }

        try
        {
            var atStart = message.ToByteString();
            _started.Writer.TryWrite(EdgeFrame.Parser.ParseFrom(atStart));
            if (Volatile.Read(ref _gate) is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            if (Failure is { } failure)
            {
                throw failure;
            }

            var atEnd = message.ToByteString();
            if (!atEnd.Equals(atStart))
            {
                throw new InvalidOperationException("The message changed while its write was pending.");
            }

            var snapshot = EdgeFrame.Parser.ParseFrom(atEnd);
            Completing?.Invoke(snapshot);
            lock (_written)
            {
                _written.Add(snapshot);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }
}
