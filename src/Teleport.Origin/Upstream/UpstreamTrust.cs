using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Upstream;

/// <summary>
/// How the origin decides that an https upstream is the one it was configured with: the certificate chains to the
/// system's trusted roots (or to --upstream-ca) and names <see cref="UpstreamAddress.TlsName"/>.
/// </summary>
internal static class UpstreamTrust
{
    /// <summary>The TLS settings of one https upstream's handler.</summary>
    /// <param name="authorities">--upstream-ca's certificates, or null for the system's trusted roots.</param>
    /// <param name="insecure">--upstream-insecure: accept any certificate.</param>
    public static SslClientAuthenticationOptions ClientOptions(UpstreamAddress upstream, X509Certificate2Collection? authorities, bool insecure, ILogger logger)
    {
        var name = upstream.TlsName!;
        var options = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = insecure
                ? static (_, _, _, _) => true
                : (_, certificate, chain, errors) => Verify(upstream, name, certificate, chain, errors, logger),
        };

        if (authorities is not null)
        {
            options.CertificateChainPolicy = PemTrust.Policy(authorities);
        }

        return options;
    }

    private static bool Verify(UpstreamAddress upstream, string name, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, ILogger logger)
    {
        // SslStream checked the name against the SNI it sent, which .NET takes from the Host header: with
        // --host-header keep that is the client's Host, which says nothing about who the upstream is. The
        // configured name is checked instead.
        var chainErrors = errors & ~SslPolicyErrors.RemoteCertificateNameMismatch;
        if (chainErrors == SslPolicyErrors.None && certificate is X509Certificate2 leaf && leaf.MatchesHostname(name))
        {
            return true;
        }

        var reason = chainErrors != SslPolicyErrors.None
            ? $"{chainErrors}{(chain is null ? "" : ": " + PemTrust.Describe(chain))}"
            : $"the certificate is not for '{name}' ({(certificate as X509Certificate2)?.Subject})";
        OriginLog.UpstreamCertificateRejected(logger, upstream.Authority, reason);
        return false;
    }
}
