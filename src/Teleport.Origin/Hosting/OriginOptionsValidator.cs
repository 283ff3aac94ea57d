using Microsoft.Extensions.Options;
using Teleport.Origin.Security;
using Teleport.Origin.Upstream;
using Teleport.Origin.Upstream.Balancing;
using Teleport.Protocol.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Hosting;

/// <summary>Checks every origin setting at start-up and reports all problems at once.</summary>
internal sealed class OriginOptionsValidator : IValidateOptions<OriginOptions>
{
    public ValidateOptionsResult Validate(string? name, OriginOptions o)
    {
        List<string>? errors = null;
        if (!ListenAddress.TryParse(o.Listen, out _))
        {
            (errors ??= []).Add($"--listen '{o.Listen}' is not an address like 127.0.0.1:9090.");
        }

        if (o.Upstreams.Count == 0)
        {
            (errors ??= []).Add("--upstream is required: give the HTTP server(s) this origin forwards to, e.g. --upstream http://127.0.0.1:8081.");
        }

        ValidateUpstreams(o, ref errors);
        if (AdminEndpoint.Validate(o.Admin) is { } adminError)
        {
            (errors ??= []).Add(adminError);
        }

        if (OtlpTracing.Validate(o.OtlpEndpoint) is { } otlpError)
        {
            (errors ??= []).Add(otlpError);
        }

        OriginSecurityValidation.Validate(o, Environment.GetEnvironmentVariable, ref errors);

        // CancellationTokenSource.CancelAfter and SocketsHttpHandler.ConnectTimeout take at most int.MaxValue ms (24.8 days).
        if (o.RequestTimeout <= TimeSpan.Zero || o.RequestTimeout.TotalMilliseconds > int.MaxValue)
        {
            (errors ??= []).Add("--request-timeout must be positive and at most 24 days.");
        }

        if (o.UpstreamConnectTimeout <= TimeSpan.Zero || o.UpstreamConnectTimeout.TotalMilliseconds > int.MaxValue)
        {
            (errors ??= []).Add("--upstream-connect-timeout must be positive and at most 24 days.");
        }

        ValidateBalancingAndHealth(o, ref errors);
        ValidateStreams(o, ref errors);

        if (o.DrainTimeout < TimeSpan.Zero || o.DrainTimeout > TimeSpan.FromHours(1))
        {
            (errors ??= []).Add("--drain-timeout must be between 0 and 1 hour.");
        }

        if (o.MaxRequestBodySize is < 0 or > int.MaxValue - 64 * 1024 * 1024)
        {
            (errors ??= []).Add("--max-request-body-size must be between 0 and 2 GiB - 64 MiB.");
        }

        if (o.MaxResponseBodySize is < 0 or > int.MaxValue - 64 * 1024 * 1024)
        {
            (errors ??= []).Add("--max-response-body-size must be between 0 and 2 GiB - 64 MiB.");
        }

        if (o.MaxConcurrentExchanges <= 0)
        {
            (errors ??= []).Add("--max-concurrent must be positive.");
        }

        if (o.MaxConcurrentTotal <= 0)
        {
            (errors ??= []).Add("--max-concurrent-total must be positive.");
        }

        if (o.BodyWindow is < 64 * 1024 or > 64 * 1024 * 1024)
        {
            (errors ??= []).Add("--body-window must be between 64KiB and 64MiB.");
        }

        if (o.MaxBatchItems <= 0)
        {
            (errors ??= []).Add("--max-batch-items must be positive.");
        }

        if (o.MaxBatchBytes is <= 0 or > 64 * 1024 * 1024)
        {
            (errors ??= []).Add("--max-batch-bytes must be between 1 and 64 MiB.");
        }

        if (o.Http2Window is < 64 * 1024 or > 16 * 1024 * 1024)
        {
            (errors ??= []).Add("--http2-window must be between 64 KiB and 16 MiB.");
        }

        if (o.MaxBatchDelay < TimeSpan.Zero || o.MaxBatchDelay > TimeSpan.FromSeconds(1) || o.MaxBatchDelay.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            // Timers count whole milliseconds: 0.2ms would silently send at once, 1.5ms wait 1 ms.
            (errors ??= []).Add($"--max-batch-delay must be 0 or whole milliseconds up to 1s (got {o.MaxBatchDelay.TotalMilliseconds}ms).");
        }

        return errors is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateStreams(OriginOptions o, ref List<string>? errors)
    {
        if (o.MaxStreams is <= 0 or > 1_000_000)
        {
            (errors ??= []).Add("--max-streams must be between 1 and 1000000.");
        }

        // Kestrel takes any positive number; more than 1000 streams on one connection is no edge we know.
        if (o.MaxStreamsPerConnection is <= 0 or > 1000)
        {
            (errors ??= []).Add("--max-streams-per-connection must be between 1 and 1000.");
        }

        // Below 100 ms a busy network would refuse honest edges; above 5 minutes a silent stream holds its slot too long.
        if (o.HelloTimeout < TimeSpan.FromMilliseconds(100) || o.HelloTimeout > TimeSpan.FromMinutes(5))
        {
            (errors ??= []).Add("--hello-timeout must be between 100ms and 5m.");
        }
    }

    private static void ValidateBalancingAndHealth(OriginOptions o, ref List<string>? errors)
    {
        if (!BalancingPolicies.TryCreate(o.UpstreamBalance, out _))
        {
            (errors ??= []).Add($"--upstream-balance '{o.UpstreamBalance}' is not one of {string.Join(", ", BalancingPolicies.Names)}.");
        }

        if (o.UpstreamDownTime <= TimeSpan.Zero || o.UpstreamDownTime > TimeSpan.FromHours(1))
        {
            (errors ??= []).Add("--upstream-down-time must be positive and at most 1 hour.");
        }

        // Appended to each upstream's prefix as is: a path from the root, no fragment, nothing that needs escaping.
        if (o.UpstreamHealthPath is { } path
            && (!path.StartsWith('/') || path.StartsWith("//", StringComparison.Ordinal) || path.Contains('#')
                || path.Any(static c => char.IsWhiteSpace(c) || char.IsControl(c)) || !Uri.IsWellFormedUriString("http://h" + path, UriKind.Absolute)))
        {
            (errors ??= []).Add($"--upstream-health-path '{path}' is not a path like /healthz.");
        }

        // A check every 10 ms or faster would be a load of its own.
        if (o.UpstreamHealthInterval < TimeSpan.FromMilliseconds(10) || o.UpstreamHealthInterval > TimeSpan.FromHours(1))
        {
            (errors ??= []).Add("--upstream-health-interval must be between 10ms and 1 hour.");
        }
    }

    private static void ValidateUpstreams(OriginOptions o, ref List<string>? errors)
    {
        var https = false;
        for (var i = 0; i < o.Upstreams.Count; i++)
        {
            if (!UpstreamAddress.TryParse(o.Upstreams[i], o.UpstreamSni, i, out var upstream, out var error))
            {
                (errors ??= []).Add(error);
                continue;
            }

            https |= upstream.TlsName is not null;
        }

        // Settings that would silently do nothing are more likely a mistake in the upstream list.
        if (!https)
        {
            foreach (var (set, flag) in new[] { (o.UpstreamCa is not null, "--upstream-ca"), (o.UpstreamSni is not null, "--upstream-sni"), (o.UpstreamInsecure, "--upstream-insecure") })
            {
                if (set && o.Upstreams.Count > 0)
                {
                    (errors ??= []).Add($"{flag} applies to https:// upstreams only, and no --upstream is https://.");
                }
            }

            return;
        }

        if (o.UpstreamSni is not null && Uri.CheckHostName(o.UpstreamSni) != UriHostNameType.Dns)
        {
            (errors ??= []).Add($"--upstream-sni '{o.UpstreamSni}' is not a DNS name like app.internal.");
        }

        if (o.UpstreamCa is not null && !PemTrust.TryLoadAuthorities(o.UpstreamCa, "--upstream-ca", out _, out var caError))
        {
            (errors ??= []).Add(caError);
        }

        if (o.UpstreamInsecure && o.UpstreamCa is not null)
        {
            (errors ??= []).Add("--upstream-insecure and --upstream-ca contradict each other: give one.");
        }
    }
}
