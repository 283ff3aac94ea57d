namespace Teleport.Edge;

/// <summary>The edge's log messages of the Http/ folder. Ids 100-199 are this file's, so the two files never collide.</summary>
internal static partial class EdgeLog
{
    [LoggerMessage(EventId = 100, EventName = "InvalidOriginResponse", Level = LogLevel.Warning,
        Message = "The origin sent an invalid response to {Method} {Target} ({Reason}); answered 502.")]
    public static partial void InvalidOriginResponse(ILogger logger, string method, string target, string reason);
}
