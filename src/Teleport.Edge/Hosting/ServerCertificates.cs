using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.Edge.Hosting;

/// <summary>
/// The certificates of the edge's https:// listeners, loaded once at start, and the SNI rule that picks one per
/// TLS handshake: an exact name first, then a wildcard (one label, as RFC 6125 6.4.3 allows), else the first one.
/// </summary>
internal sealed class ServerCertificates
{
    private const string SubjectAlternativeNameOid = "2.5.29.17";

    private readonly Entry[] _entries;

    private ServerCertificates(Entry[] entries) => _entries = entries;

    /// <summary>
    /// Loads each certificate file (leaf first, then intermediates) with its key file, or with the key inside the
    /// certificate file when <paramref name="keyFiles"/> is empty. Returns false with one message per bad file.
    /// </summary>
    public static bool TryLoad(IReadOnlyList<string> certificateFiles, IReadOnlyList<string> keyFiles,
        [NotNullWhen(true)] out ServerCertificates? certificates, out List<string> errors)
    {
        certificates = null;
        errors = [];
        var entries = new List<Entry>();
        for (var i = 0; i < certificateFiles.Count; i++)
        {
            var certificateFile = certificateFiles[i];
            var keyFile = i < keyFiles.Count ? keyFiles[i] : null;
            try
            {
                entries.Add(Load(certificateFile, keyFile));
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                errors.Add($"--listen-cert '{certificateFile}'{(keyFile is null ? "" : $" with --listen-key '{keyFile}'")} cannot be loaded: {ex.Message}");
            }
        }

        if (errors.Count > 0 || entries.Count == 0)
        {
            return false;
        }

        certificates = new ServerCertificates([.. entries]);
        return true;
    }

    /// <summary>The certificate for a client that asked for <paramref name="serverName"/> (null or empty: no SNI).</summary>
    public SslStreamCertificateContext Select(string? serverName)
    {
        if (!string.IsNullOrEmpty(serverName) && _entries.Length > 1)
        {
            foreach (var entry in _entries)
            {
                if (Array.Exists(entry.Names, name => !name.StartsWith("*.", StringComparison.Ordinal) && name.Equals(serverName, StringComparison.OrdinalIgnoreCase)))
                {
                    return entry.Context;
                }
            }

            foreach (var entry in _entries)
            {
                if (Array.Exists(entry.Names, name => MatchesWildcard(name, serverName)))
                {
                    return entry.Context;
                }
            }
        }

        return _entries[0].Context;
    }

    /// <summary>"*.example.com" matches "api.example.com", but neither "example.com" nor "a.b.example.com".</summary>
    internal static bool MatchesWildcard(string pattern, string serverName)
    {
        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return false;
        }

        var suffix = pattern.AsSpan(1);   // ".example.com"
        var label = serverName.Length - suffix.Length;
        return label > 0
            && serverName.AsSpan(label).Equals(suffix, StringComparison.OrdinalIgnoreCase)
            && !serverName.AsSpan(0, label).Contains('.');
    }

    private static Entry Load(string certificateFile, string? keyFile)
    {
        var leaf = keyFile is null ? X509Certificate2.CreateFromPemFile(certificateFile) : X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use the ephemeral key a PEM import makes; a PKCS#12 round trip gives it a usable one.
            using var ephemeral = leaf;
            leaf = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }

        // The rest of the file is the chain the client needs to reach its trusted root; sending it is the server's job.
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(certificateFile);
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in chain)
        {
            if (certificate.Thumbprint != leaf.Thumbprint)
            {
                intermediates.Add(certificate);
            }
        }

        // offline: no network at start-up (no AIA fetches); the chain is what the file holds.
        var context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
        return new Entry(Names(leaf), context);
    }

    /// <summary>The DNS names in the subject alternative names, or the common name when there are none.</summary>
    private static string[] Names(X509Certificate2 certificate)
    {
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == SubjectAlternativeNameOid)
            {
                names.AddRange(new X509SubjectAlternativeNameExtension(extension.RawData, extension.Critical).EnumerateDnsNames());
            }
        }

        if (names.Count == 0 && certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false) is { Length: > 0 } commonName)
        {
            names.Add(commonName);
        }

        return [.. names];
    }

    private sealed record Entry(string[] Names, SslStreamCertificateContext Context);
}
