using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Security;

/// <summary>
/// TLS on the origin's gRPC listener (--tls-cert/--tls-key): TLS 1.2 or 1.3, HTTP/2 by ALPN, the certificate
/// re-read when its files change, and with --client-ca a client certificate required and checked against that
/// CA only.
/// </summary>
internal static class OriginTls
{
    /// <summary>Adds TLS to <paramref name="listen"/> when the options ask for it; call after the allow list.</summary>
    public static void Apply(ListenOptions listen, OriginOptions options)
    {
        if (options.TlsCert is null || options.TlsKey is null)
        {
            return;
        }

        var logger = listen.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OriginTls).FullName!);
        // The validator has loaded both files by now (reading IOptions<OriginOptions>.Value ran it).
        if (!ReloadingCertificate.TryLoad(options.TlsCert, options.TlsKey, logger, out var certificate, out var error))
        {
            throw new InvalidOperationException(error);
        }

        X509ChainPolicy? clientPolicy = null;
        if (options.ClientCa is not null)
        {
            clientPolicy = PemTrust.TryLoadAuthorities(options.ClientCa, "--client-ca", out var authorities, out error)
                ? PemTrust.Policy(authorities, PemTrust.ClientAuthentication)
                : throw new InvalidOperationException(error);
        }

        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            // A callback per handshake rather than a fixed certificate: it picks up a renewed one, and it knows the
            // peer's address for the log line when a client certificate is refused.
            OnConnection = context =>
            {
                var peer = context.Connection.RemoteEndPoint?.ToString() ?? "?";
                var server = new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate.Current,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ClientCertificateRequired = clientPolicy is not null,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                };
                if (clientPolicy is not null)
                {
                    server.RemoteCertificateValidationCallback = (_, presented, _, _) => VerifyClient(presented as X509Certificate2, clientPolicy, peer, logger);
                }

                return ValueTask.FromResult(server);
            },
        });
    }

    private static bool VerifyClient(X509Certificate2? presented, X509ChainPolicy policy, string peer, ILogger logger)
    {
        if (presented is null)
        {
            OriginSecurityLog.ClientCertificateRejected(logger, peer, "no client certificate (--client-ca requires one)");
            return false;
        }

        // The chain SslStream built trusts the system roots; --client-ca must be the only root that counts.
        using var chain = new X509Chain { ChainPolicy = policy.Clone() };
        if (chain.Build(presented))
        {
            return true;
        }

        OriginSecurityLog.ClientCertificateRejected(logger, peer, $"client certificate '{presented.Subject}' does not chain to --client-ca: {PemTrust.Describe(chain)}");
        return false;
    }
}
