using Microsoft.Extensions.Logging;

namespace Teleport.Protocol.Security;

/// <summary>Log events of the checks both services share (category "Teleport.Security").</summary>
/// <remarks>Event ids 100-109 are this class's; the edge's and origin's security logs use 110-129.</remarks>
internal static partial class SecurityLog
{
    public const string Category = "Teleport.Security";

    [LoggerMessage(EventId = 100, EventName = "ConnectionRefused", Level = LogLevel.Warning,
        Message = "Refused a connection from {Peer} on {Listener}: not in --allow-ip. {Suppressed} more were refused since the last such line (at most one line per 10 s).")]
    public static partial void ConnectionRefused(ILogger logger, string peer, string listener, long suppressed);
}
