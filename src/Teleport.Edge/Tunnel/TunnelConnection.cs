using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Teleport.Edge.Hosting;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Tunnel;

/// <summary>
/// One live tunnel stream to the origin: a writer loop that batches queued items, a reader loop
/// that completes pending exchanges by id in whatever order answers arrive, a sweeper that
/// gives up on exchanges past their deadline, and (when the origin has it) a heartbeat that measures
/// the round trip and ends a stream that has gone silent. They live and die together.
/// </summary>
internal sealed class TunnelConnection : IAsyncDisposable
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DrainPollInterval = TimeSpan.FromMilliseconds(20);

    private readonly GrpcChannel _channel;
    private readonly AsyncDuplexStreamingCall<EdgeFrame, OriginFrame> _call;
    private readonly BatchWriter<EdgeFrame, EdgeItem> _writer;
    private readonly BatchDecoder<OriginBatch> _decoder;
    private readonly StreamCompressor? _compressor;
    private readonly PendingExchanges _pending = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly OriginLoad _load;
    private readonly TunnelCounters _counters;
    private readonly ILogger _logger;
    private readonly TimeSpan _heartbeatInterval;
    private readonly long _heartbeatTimeoutMs;
    private readonly CancellationToken _drainExpired;
    private long _lastReceived = Environment.TickCount64;
    private long _roundTripTicks = -1;

    /// <param name="receiveLimit">Largest message the edge accepts, decompressed.</param>
    /// <param name="sending">How the edge compresses what it sends on this stream, as agreed in the hellos.</param>
    /// <param name="load">The load its origin reports, shared with the other streams to it.</param>
    /// <param name="drainExpired">Fires when the edge is stopping and its --drain-timeout has run out: every exchange still open is given up.</param>
    public TunnelConnection(GrpcChannel channel, AsyncDuplexStreamingCall<EdgeFrame, OriginFrame> call, OriginHello hello, EdgeOptions options, TunnelCompression sending, int receiveLimit, OriginLoad load, TunnelCounters counters, CancellationToken drainExpired, ILogger logger)
    {
        _channel = channel;
        _drainExpired = drainExpired;
        _call = call;
        _load = load;
        _heartbeatInterval = options.HeartbeatInterval;
        _heartbeatTimeoutMs = (long)options.HeartbeatTimeout.TotalMilliseconds;
        _counters = counters;
        _logger = logger;
        Sending = sending;
        Hello = hello;
        StreamsBodies = hello.Capabilities.Contains(Protocol.TunnelProtocol.StreamingCapability);
        CarriesUpgrades = StreamsBodies && hello.Capabilities.Contains(Protocol.TunnelProtocol.UpgradeCapability);
        BodyWindow = options.BodyWindow;
        UploadWindow = hello.ExchangeWindow == 0 ? Protocol.TunnelProtocol.DefaultExchangeWindow : (int)Math.Min(hello.ExchangeWindow, int.MaxValue);
        var limits = new BatchLimits(options.MaxBatchItems, options.MaxBatchBytes, options.MaxBatchDelay).FitTo(hello.MaxMessageBytes);
        _writer = new BatchWriter<EdgeFrame, EdgeItem>(CreateFrameBuilder(sending, options.CompressionLevel, out _compressor), limits, options.MaxPendingExchanges, counters);
        _decoder = new BatchDecoder<OriginBatch>(OriginBatch.Parser, hello.StreamCompression, receiveLimit);
        // A body travels whole in one message with its head, so the origin's message limit caps it too.
        var peerMessage = hello.MaxMessageBytes == 0 ? Protocol.TunnelProtocol.GrpcDefaultMaxMessageBytes : (long)hello.MaxMessageBytes;
        var fitsOneMessage = Math.Max(0, peerMessage - options.MaxRequestHeadersSize - RequestHeadRoom);
        MaxStreamedRequestBodySize = hello.MaxRequestBodyBytes == 0
            ? options.MaxRequestBodySize
            : (long)Math.Min((ulong)options.MaxRequestBodySize, hello.MaxRequestBodyBytes);
        MaxRequestBodySize = Math.Min(fitsOneMessage, MaxStreamedRequestBodySize);
    }

    /// <summary>What the origin said when the stream opened.</summary>
    public OriginHello Hello { get; }

    /// <summary>
    /// Room in a message for a request's head beside its header fields: the request line (Kestrel's limit is
    /// 8 KiB), protobuf envelopes of up to 100 fields, and the batch and frame tags.
    /// </summary>
    private const int RequestHeadRoom = 16 * 1024;

    /// <summary>The smaller of the edge's and the origin's request body limits: a streamed body needs no room in one message.</summary>
    public long MaxStreamedRequestBodySize { get; }

    /// <summary>The smallest of the edge's and the origin's request body limits and what fits one origin message.</summary>
    public long MaxRequestBodySize { get; }

    public bool IsLive => !_lifetime.IsCancellationRequested;

    /// <summary>The origin has said it takes no new exchanges here (a drain item); the open ones still get their answers.</summary>
    public bool IsDraining => _drained.Task.IsCompleted;

    /// <summary>Completes when the origin drains the stream.</summary>
    public Task Drained => _drained.Task;

    /// <summary>What the origin said when it drained the stream.</summary>
    public string DrainReason { get; private set; } = string.Empty;

    /// <summary>Whether the origin takes streamed request bodies and may stream responses ("streaming" capability).</summary>
    public bool StreamsBodies { get; }

    /// <summary>Whether the origin takes WebSocket upgrades: "upgrade" and "streaming" (an upgraded connection is two streamed bodies).</summary>
    public bool CarriesUpgrades { get; }

    /// <summary>The window this edge gives each streamed response body (--body-window).</summary>
    public int BodyWindow { get; }

    /// <summary>The window the origin gives each streamed request body.</summary>
    public int UploadWindow { get; }

    /// <summary>Queues a chunk of a streamed request body, waiting for room; false once the stream has ended.</summary>
    public async ValueTask<bool> SendChunkAsync(OutgoingItem<EdgeItem> chunk, CancellationToken cancellationToken)
    {
        try
        {
            await _writer.EnqueueAsync(chunk, cancellationToken);
            return true;
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            chunk.Release(written: false);
            return false;
        }
    }

    /// <summary>How the edge compresses what it sends on this stream, as agreed in the hellos.</summary>
    public TunnelCompression Sending { get; }

    /// <summary>Exchanges open on this stream.</summary>
    public int Pending => _pending.Count;

    /// <summary>What a new exchange here would queue behind: this stream's open exchanges plus its share of what others run on the origin.</summary>
    public int Load => _pending.Count + _load.ForeignPerStream;

    /// <summary>The last heartbeat's round trip; null before the first pong, or when the origin has no heartbeat.</summary>
    public TimeSpan? RoundTrip => Volatile.Read(ref _roundTripTicks) is >= 0 and var ticks ? Stopwatch.GetElapsedTime(0, ticks) : null;

    /// <summary>Registers an exchange; null when the stream has already ended.</summary>
    /// <param name="body">The request's body, held by this exchange's writer while queued; null for none.</param>
    public PendingExchange? TryBegin(long deadline, RequestBody? body) => _pending.TryAdd(deadline, body);

    /// <summary>
    /// Queues an exchange's start. On failure the exchange is answered with <see cref="LocalErrors.TunnelLost"/>,
    /// not <see cref="PendingExchange.Written"/>, so the caller may retry it elsewhere.
    /// </summary>
    public async ValueTask SendAsync(PendingExchange exchange, EdgeItem item, int size, CancellationToken cancellationToken)
    {
        if (_drainExpired.IsCancellationRequested)
        {
            // Begun after the edge's drain timeout (a retry, a late request): answered 503 and never sent, so nothing to cancel.
            TryEnd(exchange, LocalErrors.EdgeStopping);
            return;
        }

        exchange.HoldBody();
        try
        {
            await _writer.EnqueueAsync(new OutgoingItem<EdgeItem>(item, size, exchange), cancellationToken);
            if (_drainExpired.IsCancellationRequested && exchange.Answer.IsCompleted && ReferenceEquals(exchange.Answer.Result, LocalErrors.EdgeStopping))
            {
                // Given up while its start was being queued: that cancel may have gone out first, so one more follows the start.
                SendCancel(exchange.Id, CancelReason.ShuttingDown);
            }
        }
        catch (Exception ex) when (ex is System.Threading.Channels.ChannelClosedException or OperationCanceledException)
        {
            exchange.ReleaseBody();
            if (_pending.TryRemove(exchange.Id, out _))
            {
                exchange.TryComplete(LocalErrors.TunnelLost);
            }
        }
    }

    /// <summary>Gives up on an exchange and tells the origin to stop working on it.</summary>
    public void Abandon(PendingExchange exchange, CancelReason reason, OriginItem answer)
    {
        if (TryEnd(exchange, answer))
        {
            SendCancel(exchange.Id, reason);
        }
    }

    /// <summary>Stops waiting for an exchange and answers it (its body too) with <paramref name="answer"/>; false when it had ended already.</summary>
    private bool TryEnd(PendingExchange exchange, OriginItem answer)
    {
        if (!_pending.TryRemove(exchange.Id, out _))
        {
            return false;
        }

        exchange.TryComplete(answer);
        exchange.FinishBody(answer);
        return true;
    }

    /// <summary>Runs the stream until it fails, the origin ends it, or <paramref name="stoppingToken"/> fires.</summary>
    /// <returns>Why the stream ended, for the log.</returns>
    public async Task<Exception?> RunAsync(CancellationToken stoppingToken)
    {
        using var stopping = stoppingToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _lifetime);
        using var givingUp = _drainExpired.Register(static s => ((TunnelConnection)s!).GiveUpOpenExchanges(), this);
        var token = _lifetime.Token;
        var writing = _writer.RunAsync(_call.RequestStream, token);
        var reading = ReadAsync(token);
        var sweeping = SweepAsync(token);
        // Without the origin's pongs a quiet stream could not be told from a dead one: HTTP/2 pings cover it then.
        var beating = Hello.Capabilities.Contains(Protocol.TunnelProtocol.HeartbeatCapability) ? HeartbeatAsync(token) : Task.Delay(Timeout.Infinite, token);

        var ending = EndSendingOnceDrainedAsync(token);

        Exception? reason = null;
        var first = await Task.WhenAny(writing, reading, sweeping, beating);
        if (first == writing && writing.IsCompletedSuccessfully)
        {
            // Drained and idle [C-DRAIN-3]: end our side; the origin ends the call once it has answered what it read.
            try
            {
                await _call.RequestStream.CompleteAsync();
                first = await Task.WhenAny(reading, sweeping, beating);
            }
            catch (Exception ex)
            {
                reason = ex;
            }
        }

        await _lifetime.CancelAsync();
        reason ??= first.Exception?.GetBaseException();
        foreach (var loop in new[] { writing, reading, sweeping, beating, ending })
        {
            try
            {
                await loop;
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // The loops stop by cancellation once one has ended; the first one's fault is the reason.
            }
        }

        foreach (var exchange in _pending.Close())
        {
            exchange.TryComplete(LocalErrors.TunnelLost);
            exchange.FinishBody(LocalErrors.TunnelLost);
        }

        return reason;
    }

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync();
        _call.Dispose();
        _channel.Dispose();
        _lifetime.Dispose();
        // Only now: the loops that used them have ended.
        _compressor?.Dispose();
        _decoder.Dispose();
    }

    private static FrameBuilder<EdgeFrame, EdgeItem> CreateFrameBuilder(TunnelCompression sending, System.IO.Compression.CompressionLevel level, out StreamCompressor? compressor)
    {
        if (!StreamCodecs.IsStreamCodec(sending))
        {
            compressor = null;
            var frame = new EdgeFrame { Batch = new EdgeBatch() };
            return new PlainFrameBuilder<EdgeFrame, EdgeItem>(frame, frame.Batch.Items);
        }

        compressor = StreamCompressor.Create(StreamCodecs.NameOf(sending), level);
        var batch = new EdgeBatch();
        return new CompressedFrameBuilder<EdgeFrame, EdgeItem>(batch, batch.Items, new EdgeFrame(), static (f, payload) => f.CompressedBatch = payload, compressor);
    }

    /// <summary>
    /// Answers every open exchange with <see cref="LocalErrors.EdgeStopping"/> and tells the origin to stop them, so
    /// their clients get a 503 before the server closes their connections.
    /// </summary>
    private void GiveUpOpenExchanges()
    {
        var open = new List<PendingExchange>();
        _pending.CopyTo(open);
        foreach (var exchange in open)
        {
            Abandon(exchange, CancelReason.ShuttingDown, LocalErrors.EdgeStopping);
        }

        if (open.Count > 0)
        {
            EdgeLog.DrainTimedOut(_logger, open.Count);
        }
    }

    /// <summary>Best effort: when the queue is full or closed, the origin's own timeout ends the work.</summary>
    private void SendCancel(ulong id, CancelReason reason)
        => _writer.TryEnqueue(new OutgoingItem<EdgeItem>(new EdgeItem { ExchangeId = id, Cancel = new Cancel { Reason = reason } }, 16));

    private async Task ReadAsync(CancellationToken cancellationToken)
    {
        var responses = _call.ResponseStream;
        while (await responses.MoveNext(cancellationToken))
        {
            Volatile.Write(ref _lastReceived, Environment.TickCount64);
            var frame = responses.Current;
            var items = frame.KindCase switch
            {
                OriginFrame.KindOneofCase.Batch => frame.Batch.Items,
                OriginFrame.KindOneofCase.CompressedBatch when Hello.StreamCompression.Length > 0 => _decoder.Decode(frame.CompressedBatch).Items,
                _ => throw new InvalidOperationException($"Protocol violation: the origin sent {frame.KindCase} after its hello."),
            };
            // A plain batch arrives already decompressed by gRPC: one size pass per message gives its logical bytes.
            _counters.MessageReceived(items.Count, !_counters.CountsLogicalBytes ? 0 : frame.KindCase == OriginFrame.KindOneofCase.Batch ? frame.CalculateSize() : _decoder.DecodedBytes);
            foreach (var item in items)
            {
                if (item.ExchangeId == 0)
                {
                    OnControl(item);
                }
                else
                {
                    OnAnswer(item);
                }
            }
        }

        throw new IOException("The origin ended the tunnel stream.");
    }

    /// <summary>
    /// An item of an exchange: its answer (a whole response or an error), or a streamed response's head, chunks and
    /// end. Items for an exchange no longer waited for (client gone, deadline) are dropped.
    /// </summary>
    private void OnAnswer(OriginItem item)
    {
        if (!_pending.TryGet(item.ExchangeId, out var exchange))
        {
            return;
        }

        switch (item.KindCase)
        {
            case OriginItem.KindOneofCase.ResponseStart when item.ResponseStart.BodyFollows && exchange!.Body is null:
                exchange.BeginBody(item.ResponseStart.Body.Length);
                exchange.TryComplete(item);
                break;
            case OriginItem.KindOneofCase.ResponseBody when exchange!.Body is not null:
                if (!exchange.TryDeliverBody(item, BodyWindow))
                {
                    throw new InvalidOperationException($"Protocol violation: the origin sent more of exchange {item.ExchangeId}'s body than its window allows.");
                }

                if (item.ResponseBody.End)
                {
                    _pending.TryRemove(item.ExchangeId, out _);
                }

                break;
            case OriginItem.KindOneofCase.ResponseStart or OriginItem.KindOneofCase.Error:
                _pending.TryRemove(item.ExchangeId, out _);
                if (exchange!.Body is not null)
                {
                    // Broken off mid-body (or a second head, which breaks it just the same).
                    exchange.FinishBody(item.KindCase == OriginItem.KindOneofCase.Error ? item : LocalErrors.BrokenBody);
                }
                else
                {
                    exchange.TryComplete(item);
                }

                break;
            case OriginItem.KindOneofCase.WindowUpdate:
                exchange!.UploadWindow?.Grant(item.WindowUpdate.Bytes);
                break;
            default:
                // A chunk with no head before it, or a kind of a later version: nothing this exchange can use.
                break;
        }
    }

    /// <summary>Lets the origin send <paramref name="bytes"/> more of a streamed response's body; waits for room in the queue.</summary>
    public async ValueTask GrantAsync(PendingExchange exchange, int bytes, CancellationToken cancellationToken)
    {
        try
        {
            await _writer.EnqueueAsync(new OutgoingItem<EdgeItem>(new EdgeItem { ExchangeId = exchange.Id, WindowUpdate = new WindowUpdate { Bytes = (uint)bytes } }, 16), cancellationToken);
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // The stream has ended; the body reader learns it from the body itself.
        }
    }

    /// <summary>A control item (exchange id 0): a pong or a drain; kinds from later versions are ignored.</summary>
    private void OnControl(OriginItem item)
    {
        switch (item.KindCase)
        {
            case OriginItem.KindOneofCase.Pong:
                // The nonce is the ping's send time, so no table of pings in flight is needed.
                var sent = (long)item.Pong.Nonce;
                var now = Stopwatch.GetTimestamp();
                if (sent > 0 && sent <= now)
                {
                    Volatile.Write(ref _roundTripTicks, now - sent);
                }

                _load.Report(item.Pong.ActiveExchanges, _pending.Count);
                break;
            case OriginItem.KindOneofCase.Drain:
                DrainReason = item.Drain.Reason;
                _drained.TrySetResult();
                break;
        }
    }

    /// <summary>
    /// Once the origin has drained this stream and none of the exchanges started here is open, stops the writer, so
    /// the edge's side of the call ends [C-DRAIN-3]: until then the origin keeps reading, so whatever crossed the drain
    /// on the wire is refused (and retried elsewhere), never lost with the call.
    /// </summary>
    private async Task EndSendingOnceDrainedAsync(CancellationToken cancellationToken)
    {
        await _drained.Task.WaitAsync(cancellationToken);
        // Once per drained stream: a short poll is simpler than signalling from every exchange's end.
        while (_pending.Count > 0)
        {
            await Task.Delay(DrainPollInterval, cancellationToken);
        }

        _writer.Complete();
    }

    /// <summary>Pings every interval; ends the stream when nothing at all has come from the origin for the timeout.</summary>
    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_heartbeatInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            var silent = Environment.TickCount64 - Volatile.Read(ref _lastReceived);
            if (silent > _heartbeatTimeoutMs)
            {
                throw new TimeoutException($"nothing from the origin for {silent / 1000.0:0.#} s (dead peer or half-open connection)");
            }

            // Best effort: a full queue already proves the writer busy, and the next tick tries again.
            _writer.TryEnqueue(new OutgoingItem<EdgeItem>(new EdgeItem { Ping = new Ping { Nonce = (ulong)Stopwatch.GetTimestamp() } }, 16));
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(SweepInterval);
        var expired = new List<PendingExchange>();
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            _pending.RemoveExpired(Environment.TickCount64, expired);
            foreach (var exchange in expired)
            {
                exchange.TryComplete(LocalErrors.NoAnswer);
                SendCancel(exchange.Id, CancelReason.Deadline);
            }

            if (expired.Count > 0)
            {
                EdgeLog.ExchangesExpired(_logger, expired.Count);
                expired.Clear();
            }
        }
    }
}
