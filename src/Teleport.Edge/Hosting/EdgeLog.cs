using Teleport.Protocol.V1;

namespace Teleport.Edge;

/// <summary>The edge's log messages. Ids are never reused.</summary>
internal static partial class EdgeLog
{
    [LoggerMessage(EventId = 1, EventName = "TunnelConnected", Level = LogLevel.Information,
        Message = "Tunnel connected to {Origin} ({Agent}, protocol v{Version}; compression: edge sends {Sending}, origin sends {Receiving}).")]
    public static partial void TunnelConnected(ILogger logger, Uri origin, string agent, uint version, string sending, string receiving);

    [LoggerMessage(EventId = 2, EventName = "TunnelLost", Level = LogLevel.Warning,
        Message = "Tunnel to {Origin} lost: {Reason}. Open exchanges were answered 502; reconnecting.")]
    public static partial void TunnelLost(ILogger logger, Uri origin, string reason);

    [LoggerMessage(EventId = 3, EventName = "TunnelConnectFailed", Level = LogLevel.Warning,
        Message = "Cannot open the tunnel to {Origin} (attempt {Attempt}): {Reason}. Retrying with backoff.")]
    public static partial void TunnelConnectFailed(ILogger logger, Uri origin, int attempt, string reason);

    [LoggerMessage(EventId = 4, EventName = "ExchangesExpired", Level = LogLevel.Warning,
        Message = "{Count} exchanges got no answer from the origin before their deadline; answered 504.")]
    public static partial void ExchangesExpired(ILogger logger, int count);

    [LoggerMessage(EventId = 5, EventName = "ExchangeFailed", Level = LogLevel.Debug,
        Message = "{Method} {Target} answered {Status}: {Code} {Reason}.")]
    public static partial void ExchangeFailed(ILogger logger, string method, string target, int status, ErrorCode code, string reason);

    [LoggerMessage(EventId = 6, EventName = "Listening", Level = LogLevel.Information,
        Message = "Edge listening on {Addresses}, tunnelling to {Origin} ({Streams} streams each, compression {Compression}).")]
    public static partial void Listening(ILogger logger, string addresses, string origin, int streams, string compression);

    [LoggerMessage(EventId = 7, EventName = "TunnelDraining", Level = LogLevel.Information,
        Message = "Origin {Origin} is draining a stream ({Reason}): new requests go to other streams while its open ones finish; opening a replacement.")]
    public static partial void TunnelDraining(ILogger logger, Uri origin, string reason);

    [LoggerMessage(EventId = 8, EventName = "ExchangeRetried", Level = LogLevel.Debug,
        Message = "{Method} {Target} retried on another stream after attempt {Attempt}: {Stage}.")]
    public static partial void ExchangeRetried(ILogger logger, string method, string target, string stage, int attempt);

    [LoggerMessage(EventId = 9, EventName = "DrainTimedOut", Level = LogLevel.Warning,
        Message = "Stopping: --drain-timeout ran out with {Count} exchanges still open on a tunnel stream; their clients got 503 (edge-shutting-down) or, if already answering, were cut off, and the origin was told to stop them.")]
    public static partial void DrainTimedOut(ILogger logger, int count);
}
