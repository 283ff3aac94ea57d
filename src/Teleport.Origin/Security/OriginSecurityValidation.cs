using Teleport.Origin.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Security;

/// <summary>The origin's TLS, mTLS, token and allow-list settings, checked with the others at start-up.</summary>
internal static class OriginSecurityValidation
{
    public static void Validate(OriginOptions o, Func<string, string?> getVariable, ref List<string>? errors)
    {
        if ((o.TlsCert is null) != (o.TlsKey is null))
        {
            (errors ??= []).Add("--tls-cert and --tls-key go together: give both, or neither for cleartext.");
        }
        else if (o.TlsCert is not null)
        {
            if (PemTrust.TryLoadCertificate(o.TlsCert, o.TlsKey!, "--tls-cert/--tls-key", out var certificate, out var error))
            {
                certificate.Dispose();
            }
            else
            {
                (errors ??= []).Add(error);
            }
        }

        if (o.ClientCa is not null)
        {
            if (o.TlsCert is null)
            {
                (errors ??= []).Add("--client-ca needs --tls-cert and --tls-key: client certificates exist only over TLS.");
            }

            if (!PemTrust.TryLoadAuthorities(o.ClientCa, "--client-ca", out _, out var caError))
            {
                (errors ??= []).Add(caError);
            }
        }

        if (SharedTokens.Configured(o.TokenFile, getVariable) && !SharedTokens.TryLoad(o.TokenFile, getVariable, out _, out var tokenError))
        {
            (errors ??= []).Add(tokenError);
        }

        if (!IpAllowList.TryParse(o.AllowIp, "--allow-ip", out _, out var ipErrors))
        {
            (errors ??= []).AddRange(ipErrors);
        }
    }
}
