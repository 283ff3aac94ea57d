using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Teleport.Origin.Diagnostics;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream;
using Teleport.Protocol;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Tunnel;

/// <summary>The gRPC service edges open their tunnel streams on.</summary>
internal sealed class TunnelService : global::Teleport.Protocol.V1.Tunnel.TunnelBase
{
    private readonly OriginOptions _options;
    private readonly UpstreamForwarder _forwarder;
    private readonly OriginActivity _activity;
    private readonly TunnelCounters _counters;
    private readonly OriginMetrics _metrics;
    private readonly ILogger<TunnelService> _logger;
    private readonly CancellationToken _stopping;
    private readonly StreamSlots _slots;
    private readonly string _agent = TunnelProtocol.Agent("teleport-origin");

    public TunnelService(IOptions<OriginOptions> options, UpstreamForwarder forwarder, OriginActivity activity, TunnelCounters counters, OriginMetrics metrics, IHostApplicationLifetime lifetime, ILogger<TunnelService> logger, StreamSlots slots)
    {
        _slots = slots;
        _metrics = metrics;
        _stopping = lifetime.ApplicationStopping;
        _options = options.Value;
        _forwarder = forwarder;
        _activity = activity;
        _counters = counters;
        _logger = logger;
    }

    public override async Task Open(IAsyncStreamReader<EdgeFrame> requestStream, IServerStreamWriter<OriginFrame> responseStream, ServerCallContext context)
    {
        // Before anything is read: a stream that never sends its hello holds its slot until --hello-timeout.
        if (!_slots.TryTake())
        {
            var detail = $"the origin already has {_slots.Limit} tunnel streams open (--max-streams)";
            OriginLog.StreamRefused(_logger, context.Peer, StatusCode.ResourceExhausted, detail);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, detail));
        }

        try
        {
            await OpenStreamAsync(requestStream, responseStream, context);
        }
        finally
        {
            _slots.Return();
        }
    }

    private async Task OpenStreamAsync(IAsyncStreamReader<EdgeFrame> requestStream, IServerStreamWriter<OriginFrame> responseStream, ServerCallContext context)
    {
        if (_stopping.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the origin is shutting down"));
        }

        EdgeHello hello;
        try
        {
            hello = await ReadHelloAsync(requestStream, context, _options.HelloTimeout);
        }
        catch (RpcException ex)
        {
            OriginLog.StreamRefused(_logger, context.Peer, ex.StatusCode, ex.Status.Detail);
            throw;
        }

        var sending = StreamCodecs.Resolve(_options.Compression, codec => hello.Capabilities.Contains(StreamCodecs.Capability(codec)))
            ?? throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"this origin sends {StreamCodecs.NameOf(_options.Compression)} stream compression (--compression {StreamCodecs.NameOf(_options.Compression)}), which the edge does not accept; its capabilities: [{string.Join(", ", hello.Capabilities)}]"));
        if (StreamCodecs.IsStreamCodec(sending))
        {
            // Compressed batches must not be compressed again by gRPC.
            responseStream.WriteOptions = new WriteOptions(WriteFlags.NoCompress);
        }

        await responseStream.WriteAsync(new OriginFrame
        {
            Hello = new OriginHello
            {
                ProtocolVersion = TunnelProtocol.Version,
                MaxMessageBytes = (uint)ReceiveLimit,
                StreamCompression = StreamCodecs.NameOf(sending),
                Capabilities = { StreamCodecs.Capability(StreamCodecs.Zstd), StreamCodecs.Capability(StreamCodecs.Brotli), TunnelProtocol.HeartbeatCapability, TunnelProtocol.StreamingCapability, TunnelProtocol.UpgradeCapability },
                MaxRequestBodyBytes = (ulong)_options.MaxRequestBodySize,
                MaxConcurrentExchanges = (uint)_options.MaxConcurrentExchanges,
                ExchangeWindow = (uint)_options.BodyWindow,
                Agent = _agent,
            },
        }, context.CancellationToken);

        _counters.StreamOpened();
        OriginLog.StreamOpened(_logger, context.Peer, hello.Agent);
        var session = new OriginSession(hello, _options, sending, ReceiveLimit, _forwarder, _activity, _counters, _metrics, _logger);
        try
        {
            var drained = await session.RunAsync(requestStream, responseStream, context.CancellationToken, _stopping);
            OriginLog.StreamClosed(_logger, context.Peer, drained ? "the origin is shutting down" : "the edge ended the stream");
        }
        catch (Exception ex) when (ProtocolViolation(ex) is { } violation)
        {
            // A peer breaking the contract: one log line naming it, and a precise status for the peer.
            OriginLog.StreamRefused(_logger, context.Peer, violation.StatusCode, violation.Status.Detail);
            throw violation;
        }
        catch (Exception ex)
        {
            OriginLog.StreamClosed(_logger, context.Peer, ex.GetBaseException().Message.TrimEnd('.'));
        }
        finally
        {
            _counters.StreamClosed();
        }
    }

    /// <summary>The status a stream ends with when the edge broke the contract; null for other failures (connection lost, ...).</summary>
    private static RpcException? ProtocolViolation(Exception ex) => ex switch
    {
        RpcException rpc => rpc,
        InvalidProtocolBufferException => NotAFrame(ex),
        _ => null,
    };

    private static RpcException NotAFrame(Exception ex)
        => new(new Status(StatusCode.InvalidArgument, $"protocol violation: a message is not a valid EdgeFrame ({ex.Message.TrimEnd('.')})"));

    private int ReceiveLimit => BatchLimits.ReceiveLimit(_options.MaxRequestBodySize, _options.MaxBatchBytes);

    private static async Task<EdgeHello> ReadHelloAsync(IAsyncStreamReader<EdgeFrame> requestStream, ServerCallContext context, TimeSpan helloTimeout)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        timeout.CancelAfter(helloTimeout);
        bool received;
        try
        {
            received = await requestStream.MoveNext(timeout.Token);
        }
        catch (OperationCanceledException) when (!context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"no hello within {helloTimeout.TotalSeconds:0.###} s"));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw NotAFrame(ex);
        }

        if (!received || requestStream.Current.KindCase != EdgeFrame.KindOneofCase.Hello)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "protocol violation: the first message must be the edge's hello"));
        }

        var hello = requestStream.Current.Hello;
        if (hello.ProtocolVersion != TunnelProtocol.Version)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"unsupported protocol version {hello.ProtocolVersion}; this origin speaks version {TunnelProtocol.Version}"));
        }

        return hello;
    }
}
