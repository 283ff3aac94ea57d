namespace Teleport.Origin.Security;

/// <summary>Log events of the origin's TLS and token checks.</summary>
/// <remarks>Event ids 110-129 (OriginLog has the low ids; Teleport.Protocol.Security.SecurityLog 100-109).</remarks>
internal static partial class OriginSecurityLog
{
    [LoggerMessage(EventId = 110, EventName = "StreamUnauthenticated", Level = LogLevel.Warning,
        Message = "Refused a tunnel stream from {Peer}: {Reason}. Answered Unauthenticated before reading any message.")]
    public static partial void StreamUnauthenticated(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 111, EventName = "ClientCertificateRejected", Level = LogLevel.Warning,
        Message = "Refused the TLS handshake of {Peer}: {Reason}.")]
    public static partial void ClientCertificateRejected(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 112, EventName = "CertificateReloaded", Level = LogLevel.Information,
        Message = "Reloaded the tunnel's TLS certificate from {CertificateFile}: {Subject}, valid until {NotAfter:u}.")]
    public static partial void CertificateReloaded(ILogger logger, string certificateFile, string subject, DateTime notAfter);

    [LoggerMessage(EventId = 113, EventName = "CertificateReloadFailed", Level = LogLevel.Error,
        Message = "The tunnel's TLS certificate files changed but cannot be loaded, so the previous certificate is still served: {Error}")]
    public static partial void CertificateReloadFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 114, EventName = "TokensReloadFailed", Level = LogLevel.Error,
        Message = "The token file changed but cannot be used, so the previous tokens stay valid: {Error}")]
    public static partial void TokensReloadFailed(ILogger logger, string error);
}
