using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.Protocol.Security;

/// <summary>Private-CA trust: the edge's --ca-file, the origin's --client-ca and --upstream-ca.</summary>
internal static class PemTrust
{
    /// <summary>Object identifier of the TLS client authentication extended key usage.</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>Reads the CA certificate(s) of a PEM file; false with a message naming <paramref name="flag"/>.</summary>
    public static bool TryLoadAuthorities(string file, string flag, [NotNullWhen(true)] out X509Certificate2Collection? authorities, [NotNullWhen(false)] out string? error)
    {
        authorities = null;
        var loaded = new X509Certificate2Collection();
        try
        {
            loaded.ImportFromPemFile(file);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            error = $"{flag} '{file}' cannot be read: {ex.Message}";
            return false;
        }

        if (loaded.Count == 0)
        {
            error = $"{flag} '{file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).";
            return false;
        }

        authorities = loaded;
        error = null;
        return true;
    }

    /// <summary>Loads a PEM certificate with its PEM key; false with a message naming the flags.</summary>
    public static bool TryLoadCertificate(string certificateFile, string keyFile, string flags, [NotNullWhen(true)] out X509Certificate2? certificate, [NotNullWhen(false)] out string? error)
    {
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            certificate = null;
            error = $"{flags} '{certificateFile}' / '{keyFile}' cannot be loaded: {ex.Message}";
            return false;
        }
    }

    /// <summary>
    /// A chain policy that trusts <paramref name="authorities"/> only (X509ChainTrustMode.CustomRootTrust), not the
    /// system roots, and, when given, requires <paramref name="usage"/> among the leaf's extended key usages.
    /// </summary>
    public static X509ChainPolicy Policy(X509Certificate2Collection authorities, string? usage = null)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            // A private CA rarely publishes revocation lists, and an online check per connection would stall each one.
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(authorities);
        if (usage is not null)
        {
            policy.ApplicationPolicy.Add(new Oid(usage));
        }

        return policy;
    }

    /// <summary>Why a chain did not build, in words for a log line.</summary>
    public static string Describe(X509Chain chain)
        => string.Join("; ", chain.ChainStatus.Select(static s => s.StatusInformation.Trim()).Where(static s => s.Length > 0).Distinct());
}
