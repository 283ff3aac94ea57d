using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Security;

/// <summary>
/// The origin's --tls-cert/--tls-key, read again when either file's write time changes, so a renewed certificate
/// is served from the next handshake on without a restart. Checked once per handshake (two stats): tunnels are
/// long-lived, so handshakes are rare.
/// </summary>
/// <remarks>
/// A renewal tool writes the two files one after the other; a handshake in between sees a certificate that does
/// not match its key, keeps serving the previous pair and tries again once either file changes again.
/// </remarks>
internal sealed class ReloadingCertificate
{
    private readonly string _certificateFile;
    private readonly string _keyFile;
    private readonly ILogger _logger;
    private readonly Lock _reload = new();
    private X509Certificate2 _current;
    private FileStamp _stamp;

    public ReloadingCertificate(string certificateFile, string keyFile, X509Certificate2 initial, FileStamp stamp, ILogger logger)
    {
        _certificateFile = certificateFile;
        _keyFile = keyFile;
        _current = initial;
        _stamp = stamp;
        _logger = logger;
    }

    /// <summary>Loads the pair at start; false with the reason.</summary>
    public static bool TryLoad(string certificateFile, string keyFile, ILogger logger, [NotNullWhen(true)] out ReloadingCertificate? certificate, [NotNullWhen(false)] out string? error)
    {
        var stamp = FileStamp.Of(certificateFile, keyFile);
        certificate = PemTrust.TryLoadCertificate(certificateFile, keyFile, "--tls-cert/--tls-key", out var loaded, out error)
            ? new ReloadingCertificate(certificateFile, keyFile, loaded, stamp, logger)
            : null;
        return certificate is not null;
    }

    /// <summary>The certificate to serve now (the files are checked first).</summary>
    public X509Certificate2 Current
    {
        get
        {
            var stamp = FileStamp.Of(_certificateFile, _keyFile);
            // Read without the lock: a torn read only means one extra trip into Reload, which compares again under it.
            if (stamp != _stamp)
            {
                Reload(stamp);
            }

            return Volatile.Read(ref _current);
        }
    }

    private void Reload(FileStamp stamp)
    {
        lock (_reload)
        {
            if (stamp == _stamp)
            {
                return;
            }

            // Recorded even on failure: a broken pair is tried again when a file changes, not on every handshake.
            _stamp = stamp;
            if (PemTrust.TryLoadCertificate(_certificateFile, _keyFile, "--tls-cert/--tls-key", out var loaded, out var error))
            {
                // The previous certificate is not disposed: a handshake running on another thread may still use it.
                Volatile.Write(ref _current, loaded);
                OriginSecurityLog.CertificateReloaded(_logger, _certificateFile, loaded.Subject, loaded.NotAfter.ToUniversalTime());
            }
            else
            {
                OriginSecurityLog.CertificateReloadFailed(_logger, error);
            }
        }
    }
}
