using Teleport.Protocol.V1;

namespace Teleport.Origin;

/// <summary>The origin's log messages. Ids are never reused.</summary>
internal static partial class OriginLog
{
    [LoggerMessage(EventId = 1, EventName = "StreamOpened", Level = LogLevel.Information,
        Message = "Tunnel stream opened by {Peer} ({Agent}).")]
    public static partial void StreamOpened(ILogger logger, string peer, string agent);

    [LoggerMessage(EventId = 2, EventName = "StreamClosed", Level = LogLevel.Information,
        Message = "Tunnel stream from {Peer} closed: {Reason}.")]
    public static partial void StreamClosed(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 3, EventName = "UpstreamFailed", Level = LogLevel.Warning,
        Message = "Upstream {Upstream} failed ({Code}): {Reason}.")]
    public static partial void UpstreamFailed(ILogger logger, string upstream, ErrorCode code, string reason);

    [LoggerMessage(EventId = 10, EventName = "ExchangeCancelled", Level = LogLevel.Debug,
        Message = "Exchange {ExchangeId} ({Method}) was given up before its answer ({Cause}); its upstream request was aborted.")]
    public static partial void ExchangeCancelled(ILogger logger, ulong exchangeId, string method, Tunnel.CancelCause cause);

    [LoggerMessage(EventId = 4, EventName = "UpstreamTimedOut", Level = LogLevel.Warning,
        Message = "A {Method} request got no complete upstream answer within {Seconds} s; answered 504.")]
    public static partial void UpstreamTimedOut(ILogger logger, string method, double seconds);

    [LoggerMessage(EventId = 5, EventName = "ExchangeCrashed", Level = LogLevel.Error,
        Message = "Exchange {ExchangeId} failed inside the origin; answered 502.")]
    public static partial void ExchangeCrashed(ILogger logger, ulong exchangeId, Exception exception);

    [LoggerMessage(EventId = 6, EventName = "Listening", Level = LogLevel.Information,
        Message = "Origin listening on {Address} (gRPC, h2c), forwarding to {Upstreams} (compression {Compression}).")]
    public static partial void Listening(ILogger logger, string address, string upstreams, string compression);

    [LoggerMessage(EventId = 7, EventName = "UpstreamCertificateRejected", Level = LogLevel.Warning,
        Message = "The TLS certificate of upstream {Upstream} was rejected: {Reason}.")]
    public static partial void UpstreamCertificateRejected(ILogger logger, string upstream, string reason);

    [LoggerMessage(EventId = 8, EventName = "UpstreamTlsUnverified", Level = LogLevel.Warning,
        Message = "INSECURE: --upstream-insecure is set, so the TLS certificates of https upstreams are NOT checked and anyone on the path can read and change the traffic. For tests only.")]
    public static partial void UpstreamTlsUnverified(ILogger logger);

    [LoggerMessage(EventId = 9, EventName = "StreamRefused", Level = LogLevel.Warning,
        Message = "Tunnel stream from {Peer} ended with {Status}: {Reason}.")]
    public static partial void StreamRefused(ILogger logger, string peer, Grpc.Core.StatusCode status, string reason);
}
