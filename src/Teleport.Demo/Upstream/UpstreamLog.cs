namespace Teleport.Demo.Upstream;

/// <summary>The sample upstream's log messages. Ids are never reused.</summary>
internal static partial class UpstreamLog
{
    [LoggerMessage(EventId = 1, EventName = "Listening", Level = LogLevel.Information,
        Message = "Sample upstream listening on {Address} (POST /bid, GET /api/items/{{id}}, GET /healthz).")]
    public static partial void Listening(ILogger logger, Uri address);
}
