using Teleport.Edge.Hosting;
using Teleport.Origin.Hosting;

namespace Teleport.Tests.Security;

/// <summary>Bad combinations of the security options are all reported together at start, and --token is refused.</summary>
public sealed class SecurityOptionsTests
{
    [Fact]
    public void OriginValidator_BadSecurityCombination_ListsEveryProblem()
    {
        var result = new OriginOptionsValidator().Validate(null, new OriginOptions
        {
            Upstreams = ["http://127.0.0.1:8081"],
            TlsCert = "/nonexistent/cert.pem",
            ClientCa = "/nonexistent/ca.pem",
            TokenFile = "/nonexistent/tokens",
            AllowIp = ["10.0.0.0/8", "bogus"],
        });

        var failures = result.Failures?.ToList() ?? [];
        Assert.Contains("--tls-cert and --tls-key go together: give both, or neither for cleartext.", failures);
        Assert.Contains(failures, f => f.StartsWith("--client-ca '/nonexistent/ca.pem' cannot be read", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--token-file '/nonexistent/tokens' cannot be read", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--allow-ip 'bogus'", StringComparison.Ordinal));
        Assert.Equal(4, failures.Count);
    }

    [Fact]
    public void OriginValidator_ClientCaWithoutTls_IsRefused()
    {
        var ca = Path.GetTempFileName();
        try
        {
            using var key = System.Security.Cryptography.ECDsa.Create();
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=ca", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(ca, certificate.ExportCertificatePem());

            var result = new OriginOptionsValidator().Validate(null, new OriginOptions { Upstreams = ["http://127.0.0.1:8081"], ClientCa = ca });

            Assert.Equal(["--client-ca needs --tls-cert and --tls-key: client certificates exist only over TLS."], result.Failures ?? []);
        }
        finally
        {
            File.Delete(ca);
        }
    }

    [Fact]
    public void EdgeValidator_TlsSettingsWithCleartextOrigin_ListsEveryProblem()
    {
        var result = new EdgeOptionsValidator().Validate(null, new EdgeOptions
        {
            Origin = ["http://127.0.0.1:9090"],
            CaFile = "/nonexistent/ca.pem",
            InsecureSkipVerify = true,
            ClientCert = "/nonexistent/client.pem",
            AllowIp = ["::1/200"],
        });

        var failures = result.Failures?.ToList() ?? [];
        Assert.Contains("--ca-file applies to https:// origins only, and no --origin is https://.", failures);
        Assert.Contains("--insecure-skip-verify applies to https:// origins only, and no --origin is https://.", failures);
        Assert.Contains("--client-cert/--client-key applies to https:// origins only, and no --origin is https://.", failures);
        Assert.Contains("--insecure-skip-verify and --ca-file contradict each other: give one.", failures);
        Assert.Contains(failures, f => f.StartsWith("--ca-file '/nonexistent/ca.pem' cannot be read", StringComparison.Ordinal));
        Assert.Contains("--client-cert and --client-key go together: give both, or neither.", failures);
        Assert.Contains(failures, f => f.StartsWith("--allow-ip '::1/200'", StringComparison.Ordinal));
        Assert.Equal(7, failures.Count);
    }

    [Fact]
    public void EdgeValidator_HttpsOrigin_IsAccepted()
    {
        var result = new EdgeOptionsValidator().Validate(null, new EdgeOptions { Origin = ["https://origin.example:9443"], InsecureSkipVerify = true });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("--token", "secret-on-the-command-line")]
    [InlineData("--token=secret-on-the-command-line")]
    public void Build_TokenOnTheCommandLine_IsRefusedWithWhereItBelongs(params string[] args)
    {
        var edge = Assert.Throws<ArgumentException>(() => EdgeApp.Build(args));
        var origin = Assert.Throws<ArgumentException>(() => OriginApp.Build(["--upstream", "http://127.0.0.1:8081", .. args]));

        Assert.Contains("--token-file", edge.Message);
        Assert.Contains("TELEPORT_TOKEN", origin.Message);
        Assert.DoesNotContain("secret-on-the-command-line", edge.Message);
    }
}
