using Teleport.Edge.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Edge.Security;

/// <summary>The edge's tunnel TLS, token and allow-list settings, checked with the others at start-up.</summary>
internal static class EdgeSecurityValidation
{
    /// <param name="https">Whether any --origin is an https:// address.</param>
    public static void Validate(EdgeOptions o, bool https, Func<string, string?> getVariable, ref List<string>? errors)
    {
        // Settings that would silently do nothing over cleartext are more likely a mistake in --origin.
        if (!https)
        {
            foreach (var (set, flag) in new[] { (o.CaFile is not null, "--ca-file"), (o.InsecureSkipVerify, "--insecure-skip-verify"), (o.ClientCert is not null || o.ClientKey is not null, "--client-cert/--client-key") })
            {
                if (set)
                {
                    (errors ??= []).Add($"{flag} applies to https:// origins only, and no --origin is https://.");
                }
            }
        }

        if (o.InsecureSkipVerify && o.CaFile is not null)
        {
            (errors ??= []).Add("--insecure-skip-verify and --ca-file contradict each other: give one.");
        }

        if (o.CaFile is not null && !PemTrust.TryLoadAuthorities(o.CaFile, "--ca-file", out _, out var caError))
        {
            (errors ??= []).Add(caError);
        }

        if ((o.ClientCert is null) != (o.ClientKey is null))
        {
            (errors ??= []).Add("--client-cert and --client-key go together: give both, or neither.");
        }
        else if (o.ClientCert is not null)
        {
            if (PemTrust.TryLoadCertificate(o.ClientCert, o.ClientKey!, "--client-cert/--client-key", out var certificate, out var error))
            {
                certificate.Dispose();
            }
            else
            {
                (errors ??= []).Add(error);
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
