namespace Teleport.Edge.Security;

/// <summary>Log events of the edge's TLS and token checks on the tunnel.</summary>
/// <remarks>Event ids 110-129 (EdgeLog has the low ids; Teleport.Protocol.Security.SecurityLog 100-109).</remarks>
internal static partial class EdgeSecurityLog
{
    [LoggerMessage(EventId = 110, EventName = "TunnelUnauthenticated", Level = LogLevel.Error,
        Message = "The origin {Origin} refused this edge's token (Unauthenticated): put a token the origin's --token-file lists into this edge's --token-file (or TELEPORT_TOKEN). Retrying with backoff; clients get 503 until then.")]
    public static partial void TunnelUnauthenticated(ILogger logger, Uri origin);

    [LoggerMessage(EventId = 111, EventName = "OriginCertificateRejected", Level = LogLevel.Error,
        Message = "The TLS certificate of the origin {Origin} was rejected: {Reason}. Check --origin's host name and --ca-file. Retrying with backoff; clients get 503 until then.")]
    public static partial void OriginCertificateRejected(ILogger logger, Uri origin, string reason);

    [LoggerMessage(EventId = 112, EventName = "TunnelTlsUnverified", Level = LogLevel.Warning,
        Message = "INSECURE: --insecure-skip-verify is set, so the origin's TLS certificate is NOT checked and anyone on the path can read and change the tunnel, token included. For tests only.")]
    public static partial void TunnelTlsUnverified(ILogger logger);
}
