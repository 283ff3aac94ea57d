using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Teleport.Edge.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Edge.Security;

/// <summary>
/// TLS of the tunnel connection to an https:// origin: TLS 1.2 or 1.3; the origin's certificate checked against the
/// system's roots, or --ca-file's only (X509ChainTrustMode.CustomRootTrust), or not at all (--insecure-skip-verify);
/// and the --client-cert/--client-key pair presented when the origin asks for one.
/// </summary>
internal static class EdgeTls
{
    /// <summary>
    /// Settings for one connection attempt. Files are read on each attempt (they are rare: one per reconnect), so
    /// a renewed client certificate or CA file is used from the next connection on.
    /// </summary>
    /// <exception cref="InvalidOperationException">A file cannot be read any more; the message names it.</exception>
    public static SslClientAuthenticationOptions ClientOptions(EdgeOptions options, Uri origin, ILogger logger)
    {
        var ssl = new SslClientAuthenticationOptions { EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13 };
        if (options.InsecureSkipVerify)
        {
            ssl.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        else
        {
            if (options.CaFile is not null)
            {
                ssl.CertificateChainPolicy = PemTrust.TryLoadAuthorities(options.CaFile, "--ca-file", out var authorities, out var error)
                    ? PemTrust.Policy(authorities)
                    : throw new InvalidOperationException(error);
            }

            ssl.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Verify(origin, certificate, chain, errors, logger);
        }

        if (options.ClientCert is not null && options.ClientKey is not null)
        {
            var certificate = PemTrust.TryLoadCertificate(options.ClientCert, options.ClientKey, "--client-cert/--client-key", out var loaded, out var error)
                ? loaded
                : throw new InvalidOperationException(error);
            // Always this one: SslStream would otherwise skip a certificate whose issuer the origin did not list,
            // and the origin's refusal (with its log line) says more than a handshake without a certificate.
            ssl.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }

        return ssl;
    }

    private static bool Verify(Uri origin, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, ILogger logger)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        var reason = errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) && chain is not null
            ? $"{errors}: {PemTrust.Describe(chain)}"
            : $"{errors} ({(certificate as X509Certificate2)?.Subject ?? "no certificate"})";
        EdgeSecurityLog.OriginCertificateRejected(logger, origin, reason);
        return false;
    }
}
