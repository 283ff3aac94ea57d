using System.Collections.Concurrent;
using Grpc.Core;
using Teleport.Origin.Diagnostics;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Tunnel;

/// <summary>
/// One tunnel stream at the origin, after the hello: reads batches, starts every exchange at once,
/// and writes each answer as soon as it is ready, whatever the order, through one batching writer.
/// </summary>
internal sealed class OriginSession
{
    /// <summary>How long the writer may take to send what is queued when the stream ends, before it is cancelled.</summary>
    private static readonly TimeSpan WriterGrace = TimeSpan.FromSeconds(2);

    private readonly BatchWriter<OriginFrame, OriginItem> _writer;
    private readonly BatchDecoder<EdgeBatch>? _decoder;
    private readonly StreamCompressor? _compressor;
    private readonly UpstreamForwarder _forwarder;
    private readonly TunnelCounters _counters;
    private readonly OriginMetrics _metrics;
    private readonly ILogger _logger;
    private readonly OriginActivity _activity;
    private readonly bool _edgeDrains;
    private readonly bool _edgeStreams;
    private readonly bool _edgeUpgrades;
    private readonly int _edgeWindow;
    private readonly Func<OutgoingItem<OriginItem>, ValueTask> _answer;
    private readonly Func<RunningExchange, Task> _run;
    private readonly ConcurrentDictionary<ulong, RunningExchange> _running = new();
    private readonly int _maxConcurrent;
    private readonly int _maxResponseBody;
    private readonly int _maxStreamedBody;
    private readonly long _maxRequestBody;
    private readonly int _bodyWindow;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _drainTimeout;
    private int _active;
    private CancellationToken _lifetime;
    private volatile bool _ended;
    private volatile bool _draining;
    // Half-close: set once the edge has ended its side; the last running exchange then completes _allAnswered.
    private int _edgeEnded;
    private readonly TaskCompletionSource _allAnswered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="receiveLimit">Largest message the origin accepts, decompressed.</param>
    /// <param name="sending">How the origin compresses what it sends on this stream, as agreed in the hellos.</param>
    /// <param name="activity">The origin-wide count of running exchanges, shared by all sessions.</param>
    public OriginSession(EdgeHello hello, OriginOptions options, TunnelCompression sending, int receiveLimit, UpstreamForwarder forwarder, OriginActivity activity, TunnelCounters counters, OriginMetrics metrics, ILogger logger)
    {
        _forwarder = forwarder;
        _activity = activity;
        _edgeDrains = hello.Capabilities.Contains(Protocol.TunnelProtocol.DrainCapability);
        _edgeStreams = hello.Capabilities.Contains(Protocol.TunnelProtocol.StreamingCapability);
        // An upgraded connection is two streamed bodies: it needs both capabilities.
        _edgeUpgrades = _edgeStreams && hello.Capabilities.Contains(Protocol.TunnelProtocol.UpgradeCapability);
        _edgeWindow = hello.ExchangeWindow == 0 ? Protocol.TunnelProtocol.DefaultExchangeWindow : (int)Math.Min(hello.ExchangeWindow, int.MaxValue);
        _answer = AnswerAsync;
        _run = RunExchangeAsync;
        _counters = counters;
        _metrics = metrics;
        _logger = logger;
        _maxConcurrent = options.MaxConcurrentExchanges;
        _timeout = options.RequestTimeout;
        _drainTimeout = options.DrainTimeout;
        var limits = new BatchLimits(options.MaxBatchItems, options.MaxBatchBytes, options.MaxBatchDelay).FitTo(hello.MaxMessageBytes);
        // The edge must be able to take the largest answer in one message.
        _maxStreamedBody = (int)options.MaxResponseBodySize;
        _maxRequestBody = options.MaxRequestBodySize;
        _bodyWindow = options.BodyWindow;
        _maxResponseBody = (int)Math.Min(options.MaxResponseBodySize, Math.Max(0L, EdgeLimit(hello) - BatchLimits.HeadroomBytes));
        // Room for every running exchange's answer plus as many refusals; beyond that answering (and so reading) waits.
        _writer = new BatchWriter<OriginFrame, OriginItem>(CreateFrameBuilder(sending, options.CompressionLevel, out _compressor), limits, 2 * options.MaxConcurrentExchanges, counters);
        // An edge announcing a codec this origin does not list must not send compressed batches: without a decoder they are refused.
        _decoder = StreamCodecs.Knows(hello.StreamCompression) ? new BatchDecoder<EdgeBatch>(EdgeBatch.Parser, hello.StreamCompression, receiveLimit) : null;
    }

    /// <summary>
    /// Runs until the edge ends the stream, the connection fails, <paramref name="cancellationToken"/>
    /// fires, or, once <paramref name="stopping"/> fires (new exchanges are refused from then on), the drain
    /// timeout has passed or: an edge that drains has ended its side and its exchanges are answered; for
    /// any other edge, the running exchanges have finished.
    /// </summary>
    /// <returns>True when the stream ended because the origin is shutting down.</returns>
    public async Task<bool> RunAsync(IAsyncStreamReader<EdgeFrame> requests, IAsyncStreamWriter<OriginFrame> responses, CancellationToken cancellationToken, CancellationToken stopping)
    {
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _lifetime = lifetime.Token;
        var writing = _writer.RunAsync(responses, lifetime.Token);
        var reading = ReadAsync(requests, lifetime.Token);
        var draining = DrainAsync(stopping, lifetime.Token);
        try
        {
            var first = await Task.WhenAny(writing, reading, draining);
            if (first == reading && reading.IsCompletedSuccessfully)
            {
                await AnswerRunningAsync(writing, draining);
                return _draining;
            }

            if (first != draining || !stopping.IsCancellationRequested)
            {
                await first;
                return false;
            }

            // Answers already queued still go out, then the stream ends normally.
            _writer.Complete();
            await writing.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return true;
        }
        finally
        {
            _ended = true;
            var cause = stopping.IsCancellationRequested ? CancelCause.ShuttingDown : CancelCause.TunnelLost;
            foreach (var exchange in _running.Values)
            {
                exchange.Abandon(cause);
            }

            _writer.Complete();
            // Cancelling a pending write aborts the whole call (grpc-dotnet resets the HTTP/2 stream, and the status
            // is lost): let the writer send what is queued first, and cancel only a writer that is stuck.
            await Quietly(writing.WaitAsync(WriterGrace, cancellationToken));
            await lifetime.CancelAsync();
            await Quietly(writing);
            await Quietly(reading);
            await Quietly(draining);
            // Only now: the loops that used them have ended.
            _compressor?.Dispose();
            _decoder?.Dispose();
        }
    }

    /// <summary>
    /// The edge ended its side of the call (HTTP/2 half-close) but still reads the origin's: the exchanges it started
    /// are answered for up to the drain timeout (a streamed body past its window can get no more grants), then the
    /// call ends with status OK and the exchanges still running are aborted.
    /// </summary>
    private async Task AnswerRunningAsync(Task writing, Task draining)
    {
        Interlocked.Exchange(ref _edgeEnded, 1);
        if (Volatile.Read(ref _active) > 0)
        {
            await Task.WhenAny(_allAnswered.Task, writing, draining, Task.Delay(_drainTimeout, _lifetime));
        }

        _writer.Complete();
        await writing;
    }

    /// <summary>Once the origin is stopping, refuses new exchanges and waits for the running ones, up to the drain timeout.</summary>
    private async Task DrainAsync(CancellationToken stopping, CancellationToken cancellationToken)
    {
        using (var either = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellationToken))
        {
            try
            {
                await Task.Delay(Timeout.Infinite, either.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (!stopping.IsCancellationRequested || cancellationToken.IsCancellationRequested)
        {
            // The stream ended first.
            return;
        }

        _draining = true;
        if (_edgeDrains)
        {
            // Ahead of any refusal in the queue, so the edge stops picking this stream before it sees one.
            _writer.TryEnqueue(new OutgoingItem<OriginItem>(new OriginItem { Drain = new Drain { Reason = "the origin is shutting down" } }, 48));
        }

        var deadline = Environment.TickCount64 + (long)_drainTimeout.TotalMilliseconds;
        // An edge that reads the drain ends its side once its exchanges here are answered [C-DRAIN-3], and the reader
        // ends the call then: until that, what it sent before reading the drain is still arriving, to be refused, not lost.
        // Any other edge's call ends as soon as nothing runs. Shutdown only: a short poll is simpler than signalling.
        while ((_edgeDrains || Volatile.Read(ref _active) > 0) && Environment.TickCount64 < deadline)
        {
            await Task.Delay(20, cancellationToken);
        }
    }

    private static FrameBuilder<OriginFrame, OriginItem> CreateFrameBuilder(TunnelCompression sending, System.IO.Compression.CompressionLevel level, out StreamCompressor? compressor)
    {
        if (!StreamCodecs.IsStreamCodec(sending))
        {
            compressor = null;
            var frame = new OriginFrame { Batch = new OriginBatch() };
            return new PlainFrameBuilder<OriginFrame, OriginItem>(frame, frame.Batch.Items);
        }

        compressor = StreamCompressor.Create(StreamCodecs.NameOf(sending), level);
        var batch = new OriginBatch();
        return new CompressedFrameBuilder<OriginFrame, OriginItem>(batch, batch.Items, new OriginFrame(), static (f, payload) => f.CompressedBatch = payload, compressor);
    }

    /// <summary>Waits for a loop stopped by cancellation; the first loop's fault has already been rethrown.</summary>
    private static async Task Quietly(Task loop)
    {
        try
        {
            await loop;
        }
        catch (Exception)
        {
        }
    }

    private async Task ReadAsync(IAsyncStreamReader<EdgeFrame> requests, CancellationToken cancellationToken)
    {
        while (await requests.MoveNext(cancellationToken))
        {
            var frame = requests.Current;
            var items = frame.KindCase switch
            {
                EdgeFrame.KindOneofCase.Batch => frame.Batch.Items,
                EdgeFrame.KindOneofCase.CompressedBatch when _decoder is not null => Decode(frame.CompressedBatch),
                _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"protocol violation: {frame.KindCase} after the hello")),
            };
            // A plain batch arrives already decompressed by gRPC: one size pass per message gives its logical bytes.
            _counters.MessageReceived(items.Count, !_counters.CountsLogicalBytes ? 0 : frame.KindCase == EdgeFrame.KindOneofCase.Batch ? frame.CalculateSize() : _decoder!.DecodedBytes);
            for (var i = 0; i < items.Count; i++)
            {
                var item = items[i];
                switch (item.KindCase)
                {
                    case EdgeItem.KindOneofCase.RequestStart:
                        if (Start(item.ExchangeId, item.RequestStart, last: i == items.Count - 1) is { } refusal)
                        {
                            // Reading waits while the queue is full of answers: refusals cannot pile up without bound.
                            await AnswerAsync(refusal);
                        }

                        break;
                    case EdgeItem.KindOneofCase.Cancel:
                        if (_running.TryGetValue(item.ExchangeId, out var running))
                        {
                            running.Abandon(item.Cancel.Reason switch
                            {
                                CancelReason.ClientAborted => CancelCause.ClientAborted,
                                CancelReason.Deadline => CancelCause.Deadline,
                                CancelReason.ShuttingDown => CancelCause.ShuttingDown,
                                _ => CancelCause.Other,
                            });
                        }

                        break;
                    case EdgeItem.KindOneofCase.RequestBody:
                        // A chunk for an exchange that has ended (or was refused) is dropped.
                        if (_running.TryGetValue(item.ExchangeId, out var uploading) && uploading.Upload?.TryAppend(item.RequestBody) == false)
                        {
                            throw new RpcException(new Status(StatusCode.InvalidArgument, $"protocol violation: the body of exchange {item.ExchangeId} went past its window or the body limit"));
                        }

                        break;
                    case EdgeItem.KindOneofCase.WindowUpdate:
                        if (_running.TryGetValue(item.ExchangeId, out var streaming))
                        {
                            streaming.Grant(item.WindowUpdate.Bytes);
                        }

                        break;
                    case EdgeItem.KindOneofCase.Ping:
                        // At once and best effort: a queue too full for a pong says more about load than the pong would.
                        _writer.TryEnqueue(new OutgoingItem<OriginItem>(new OriginItem
                        {
                            Pong = new Pong { Nonce = item.Ping.Nonce, ActiveExchanges = (uint)_activity.Active, MaxConcurrentExchanges = (uint)_activity.Limit },
                        }, 24));
                        break;
                    default:
                        // Items of a later protocol version this origin did not agree to: ignored.
                        break;
                }
            }
        }
    }

    private Google.Protobuf.Collections.RepeatedField<EdgeItem> Decode(Google.Protobuf.ByteString payload)
    {
        try
        {
            return _decoder!.Decode(payload).Items;
        }
        catch (InvalidDataException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"protocol violation: {ex.Message}"));
        }
    }

    /// <summary>Starts an exchange; returns the refusal to send instead when it cannot run (draining, overloaded).</summary>
    /// <param name="last">Whether it is the message's last item, which runs on this thread: the others go to workers.</param>
    private OutgoingItem<OriginItem>? Start(ulong id, RequestStart start, bool last)
    {
        if (id == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "protocol violation: exchange id 0"));
        }

        if (start.Upgrade.Length > 0 && RefuseUpgrade(start) is { } reason)
        {
            // Before a slot is taken: nothing was started, and no byte of the connection has been sent yet.
            return ErrorItem.Create(id, ErrorCode.BadRequest, reason);
        }

        if (_draining)
        {
            _metrics.Rejected(overloaded: false);
            return ErrorItem.Create(id, ErrorCode.ShuttingDown, "the origin is shutting down and takes no new requests");
        }

        if (Interlocked.Increment(ref _active) > _maxConcurrent)
        {
            Interlocked.Decrement(ref _active);
            _metrics.Rejected(overloaded: true);
            return ErrorItem.Create(id, ErrorCode.Overloaded, $"the origin already runs {_maxConcurrent} exchanges on this tunnel");
        }

        if (!_activity.TryStart())
        {
            Interlocked.Decrement(ref _active);
            _metrics.Rejected(overloaded: true);
            return ErrorItem.Create(id, ErrorCode.Overloaded, $"the origin already runs {_activity.Limit} exchanges in all");
        }

        var timeout = start.TimeoutMs > 0 && start.TimeoutMs < _timeout.TotalMilliseconds ? TimeSpan.FromMilliseconds(start.TimeoutMs) : _timeout;
        var cancellation = new RunningExchange(id, start, timeout, _run, _answer, _edgeWindow, _maxStreamedBody);
        if (start.Upgrade.Length > 0)
        {
            // The client's side of an upgraded connection: no body limit (a WebSocket lasts as long as it lasts), and
            // its end does not restart the timeout, which bounds only the wait for the 101 (RunExchangeAsync).
            cancellation.Upload = new StreamedRequestBody(id, start.Body.Span, _bodyWindow, long.MaxValue, _answer, static () => { });
        }
        else if (start.BodyFollows)
        {
            // The timeout runs from the body's end: a big upload may take longer than the answer may.
            cancellation.Upload = new StreamedRequestBody(id, start.Body.Span, _bodyWindow, _maxRequestBody, _answer,
                () => cancellation.StartTimeout(timeout));
        }
        if (!_running.TryAdd(id, cancellation))
        {
            Interlocked.Decrement(ref _active);
            _activity.Ended();
            cancellation.Dispose();
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"protocol violation: exchange id {id} is already open"));
        }

        if (last)
        {
            _ = RunExchangeAsync(cancellation);
        }
        else
        {
            // Up to its first await an exchange maps its request and writes it to the upstream's socket: run here, a
            // message's exchanges would do that one after another, while a worker on another core could take some.
            cancellation.RunOnWorker();
        }

        return null;
    }

    private async Task RunExchangeAsync(RunningExchange cancellation)
    {
        var (id, start, timeout) = (cancellation.Id, cancellation.Start, cancellation.Timeout);
        var outcome = UpstreamOutcome.Cancelled;
        _metrics.ExchangeStarted();
        try
        {
            if (cancellation.Upload is null || start.Upgrade.Length > 0)
            {
                cancellation.StartTimeout(timeout);
            }

            OutgoingItem<OriginItem> answer;
            try
            {
                answer = await _forwarder.ForwardAsync(id, start, _maxResponseBody, _edgeStreams ? cancellation : null, cancellation.Upload, cancellation.Token);
                outcome = OutcomeOf(answer.Item, cancellation.HeadStatus);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                if (cancellation.Abandoned || _ended)
                {
                    return;
                }

                OriginLog.UpstreamTimedOut(_logger, start.Method, timeout.TotalSeconds);
                outcome = UpstreamOutcome.Timeout;
                answer = ErrorItem.Create(id, ErrorCode.UpstreamTimeout, $"the upstream did not answer within {timeout.TotalSeconds:0.###} s");
            }
            catch (Exception ex)
            {
                OriginLog.ExchangeCrashed(_logger, id, ex);
                outcome = UpstreamOutcome.Internal;
                answer = ErrorItem.Create(id, ErrorCode.Internal, "the origin failed while forwarding the request");
            }

            if (cancellation.Abandoned)
            {
                outcome = UpstreamOutcome.Cancelled;
                answer.Release(written: false);
                return;
            }

            await AnswerAsync(answer);
        }
        finally
        {
            cancellation.Upload?.Abort();
            _metrics.ExchangeEnded(outcome);
            if (cancellation.Abandoned)
            {
                _metrics.Cancelled(cancellation.Cause);
                OriginLog.ExchangeCancelled(_logger, id, start.Method, cancellation.Cause);
            }

            _activity.Ended();
            _running.TryRemove(id, out _);
            if (Interlocked.Decrement(ref _active) == 0 && Volatile.Read(ref _edgeEnded) == 1)
            {
                _allAnswered.TrySetResult();
            }

            cancellation.Dispose();
        }
    }

    /// <summary>Why an upgrade request cannot run here ([C-UPGRADE-1]); null when it can.</summary>
    private string? RefuseUpgrade(RequestStart start)
    {
        if (!_edgeUpgrades)
        {
            return "upgrade sent by an edge that did not list the \"upgrade\" and \"streaming\" capabilities";
        }

        if (!start.Upgrade.Equals(Protocol.TunnelProtocol.WebSocketUpgrade, StringComparison.Ordinal))
        {
            return $"upgrade '{(start.Upgrade.Length > 32 ? start.Upgrade[..32] + "..." : start.Upgrade)}' is not carried (only \"websocket\")";
        }

        return start.BodyFollows ? null : "upgrade without body_follows: the client's side of the connection has nowhere to go";
    }

    /// <summary>Queues an answer, waiting while the queue is full; dropped only once the stream has ended.</summary>
    private async ValueTask AnswerAsync(OutgoingItem<OriginItem> answer)
    {
        if (_writer.TryEnqueue(answer))
        {
            return;
        }

        try
        {
            await _writer.EnqueueAsync(answer, _lifetime);
        }
        catch (Exception ex) when (ex is System.Threading.Channels.ChannelClosedException or OperationCanceledException)
        {
            answer.Release(written: false);
        }
    }

    /// <summary>The metric's view of the forwarder's answer: the upstream's status class, or what failed.</summary>
    /// <param name="streamedStatus">The status of a streamed response's head, sent before <paramref name="answer"/> (its last chunk).</param>
    private static UpstreamOutcome OutcomeOf(OriginItem answer, uint streamedStatus)
    {
        var status = answer.KindCase switch
        {
            OriginItem.KindOneofCase.ResponseStart => answer.ResponseStart.Status,
            OriginItem.KindOneofCase.ResponseBody => streamedStatus,
            _ => 0u,
        };
        if (status != 0)
        {
            // A 101 ends with its upgraded connection: it is the answer the handshake asked for.
            return status is (>= 200 and < 300) or 101 ? UpstreamOutcome.Success : UpstreamOutcome.Non2xx;
        }

        return answer.Error.Code switch
        {
            ErrorCode.BadRequest => UpstreamOutcome.BadRequest,
            ErrorCode.UpstreamTimeout => UpstreamOutcome.Timeout,
            ErrorCode.Internal => UpstreamOutcome.Internal,
            _ => UpstreamOutcome.UpstreamError,
        };
    }

    private static long EdgeLimit(EdgeHello hello)
        => hello.MaxMessageBytes == 0 ? Protocol.TunnelProtocol.GrpcDefaultMaxMessageBytes : hello.MaxMessageBytes;
}
