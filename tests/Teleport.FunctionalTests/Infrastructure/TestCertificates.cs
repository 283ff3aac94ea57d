using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// Throwaway CAs and server certificates (ECDSA P-256, valid for a day), written as PEM files to a temporary
/// directory that is deleted on dispose.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("teleport-certs-");
    private int _files;

    /// <summary>A self-signed CA that can issue server certificates.</summary>
    public X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A server certificate for <paramref name="dnsNames"/> (and 127.0.0.1 when asked), issued by <paramref name="ca"/>.</summary>
    public X509Certificate2 Issue(X509Certificate2 ca, string commonName, string[] dnsNames, bool loopbackAddress = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }

        if (loopbackAddress)
        {
            names.AddIpAddress(IPAddress.Loopback);
        }

        request.CertificateExtensions.Add(names.Build());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(23), serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>A TLS client certificate (EKU clientAuth) issued by <paramref name="ca"/>; with <paramref name="expired"/>, one that ended a minute ago.</summary>
    public X509Certificate2 IssueClient(X509Certificate2 ca, string commonName, bool expired = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        // Inside the CA's own validity (it starts 5 minutes ago), so only the leaf is out of date.
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-4);
        using var issued = request.Create(ca, notBefore, expired ? DateTimeOffset.UtcNow.AddMinutes(-1) : DateTimeOffset.UtcNow.AddHours(23), serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes the certificate as PEM; returns its path.</summary>
    public string WriteCertificate(X509Certificate2 certificate) => Write(certificate.ExportCertificatePem());

    /// <summary>Writes the certificate's private key as unencrypted PKCS#8 PEM; returns its path.</summary>
    public string WriteKey(X509Certificate2 certificate) => Write(certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>Writes <paramref name="text"/> to a new file in the directory (token files, ...); returns its path.</summary>
    public string Write(string text)
    {
        var path = Path.Combine(_directory.FullName, $"{Interlocked.Increment(ref _files)}.pem");
        File.WriteAllText(path, text);
        return path;
    }
}
