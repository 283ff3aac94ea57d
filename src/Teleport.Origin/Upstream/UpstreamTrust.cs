using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.Origin.Upstream;

/// <summary>
/// How the origin decides that an https upstream is the one it was configured with: the certificate chains to the
/// system's trusted roots (or to --upstream-ca) and names <see cref="UpstreamAddress.TlsName"/>.
/// </summary>
internal static class UpstreamTrust
{
    /// <summary>Reads the CA certificate(s) of a PEM file; false with a message naming --upstream-ca when there are none.</summary>
    public static bool TryLoadCa(string file, [NotNullWhen(true)] out X509Certificate2Collection? authorities, [NotNullWhen(false)] out string? error)
    {
        authorities = null;
        error = null;
        var loaded = new X509Certificate2Collection();
        try
        {
            loaded.ImportFromPemFile(file);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            error = $"--upstream-ca '{file}' cannot be read: {ex.Message}";
            return false;
        }

        if (loaded.Count == 0)
        {
            error = $"--upstream-ca '{file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).";
            return false;
        }

        authorities = loaded;
        return true;
    }

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
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                // As with system trust (SslStream's default): a private CA rarely publishes revocation lists, and
                // an online check per connection would fail or stall on every one of them.
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(authorities);
            options.CertificateChainPolicy = policy;
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
            ? $"{chainErrors}{(chain is null ? "" : ": " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct()))}"
            : $"the certificate is not for '{name}' ({(certificate as X509Certificate2)?.Subject})";
        OriginLog.UpstreamCertificateRejected(logger, upstream.Authority, reason);
        return false;
    }
}
