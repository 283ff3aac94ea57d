namespace Teleport.Origin.Upstream.Health;

/// <summary>Log events of upstream health: one line per change of an upstream's state.</summary>
/// <remarks>Event ids 130-139 (OriginLog has the low ids, OriginSecurityLog 110-129).</remarks>
internal static partial class UpstreamHealthLog
{
    [LoggerMessage(EventId = 130, EventName = "UpstreamDown", Level = LogLevel.Warning,
        Message = "Upstream {Upstream} is down: {Reason}; {Healthy} of {Total} upstreams left.")]
    public static partial void UpstreamDown(ILogger logger, string upstream, string reason, int healthy, int total);

    [LoggerMessage(EventId = 131, EventName = "UpstreamUp", Level = LogLevel.Information,
        Message = "Upstream {Upstream} is back up ({How}); {Healthy} of {Total} upstreams up.")]
    public static partial void UpstreamUp(ILogger logger, string upstream, string how, int healthy, int total);

    // Debug: an upstream that answers 5xx to everything would otherwise log this every MinAnswers requests.
    [LoggerMessage(EventId = 132, EventName = "LastUpstreamKept", Level = LogLevel.Debug,
        Message = "Upstream {Upstream} answered 5xx to {Failed} of its last {Answers} requests, but it is the last healthy one: kept in, its answers are passed on.")]
    public static partial void LastUpstreamKept(ILogger logger, string upstream, int failed, int answers);
}
