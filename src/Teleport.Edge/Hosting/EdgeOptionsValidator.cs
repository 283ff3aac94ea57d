using Microsoft.Extensions.Options;
using Teleport.Edge.Security;
using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Hosting;

/// <summary>Checks every edge setting at start-up and reports all problems at once.</summary>
internal sealed class EdgeOptionsValidator : IValidateOptions<EdgeOptions>
{
    public ValidateOptionsResult Validate(string? name, EdgeOptions o)
    {
        List<string>? errors = null;
        ValidateListeners(o, ref errors);
        if (AdminEndpoint.Validate(o.Admin) is { } adminError)
        {
            (errors ??= []).Add(adminError);
        }

        if (OtlpTracing.Validate(o.OtlpEndpoint) is { } otlpError)
        {
            (errors ??= []).Add(otlpError);
        }

        var https = false;
        var origins = new HashSet<Uri>();
        foreach (var text in o.OriginOrDefault())
        {
            if (!TryParseOrigin(text, out var origin))
            {
                (errors ??= []).Add($"--origin '{text}' is not an address like http://127.0.0.1:9090 or https://origin.example:9090.");
                continue;
            }

            if (!origins.Add(origin))
            {
                (errors ??= []).Add($"--origin '{text}' is given more than once; use --streams for more streams to one origin.");
            }

            https |= origin.Scheme == Uri.UriSchemeHttps;
        }

        EdgeSecurityValidation.Validate(o, https, Environment.GetEnvironmentVariable, ref errors);

        if (o.Streams is < 1 or > 64)
        {
            (errors ??= []).Add("--streams must be between 1 and 64.");
        }

        if (o.HeartbeatInterval < TimeSpan.FromMilliseconds(10) || o.HeartbeatInterval > TimeSpan.FromMinutes(10))
        {
            (errors ??= []).Add("--heartbeat-interval must be between 10ms and 10m.");
        }

        if (o.HeartbeatTimeout <= o.HeartbeatInterval || o.HeartbeatTimeout > TimeSpan.FromHours(1))
        {
            (errors ??= []).Add("--heartbeat-timeout must be longer than --heartbeat-interval (a pong needs a chance to come back) and at most 1h.");
        }

        if (o.ReconnectDelay < TimeSpan.FromMilliseconds(1) || o.ReconnectDelay > o.ReconnectMaxDelay || o.ReconnectMaxDelay > TimeSpan.FromMinutes(10))
        {
            (errors ??= []).Add("--reconnect-delay must be at least 1ms and at most --reconnect-max-delay, which is at most 10m.");
        }

        if (o.RequestTimeout <= TimeSpan.Zero || o.RequestTimeout.TotalMilliseconds > uint.MaxValue)
        {
            (errors ??= []).Add("--request-timeout must be positive.");
        }

        if (!Http.RouteTimeouts.TryParse(o.RouteTimeout, out _, out var routeErrors))
        {
            (errors ??= []).AddRange(routeErrors);
        }

        // Task.WaitAsync takes at most int.MaxValue ms (24.8 days).
        if (o.TunnelWait < TimeSpan.Zero || o.TunnelWait.TotalMilliseconds > int.MaxValue)
        {
            (errors ??= []).Add("--tunnel-wait must be between 0 and 24 days.");
        }

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

        if (o.MaxRequestHeadersSize <= 0)
        {
            (errors ??= []).Add("--max-request-headers-size must be positive.");
        }

        if (o.MaxPendingExchanges <= 0)
        {
            (errors ??= []).Add("--max-pending must be positive.");
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

    /// <summary>An origin address: http:// or https://, host and port, nothing after.</summary>
    public static bool TryParseOrigin(string text, out Uri origin)
    {
        if (Uri.TryCreate(text, UriKind.Absolute, out origin!) && (origin.Scheme == Uri.UriSchemeHttp || origin.Scheme == Uri.UriSchemeHttps)
            && origin.PathAndQuery == "/" && origin.Fragment.Length == 0)
        {
            return true;
        }

        origin = null!;
        return false;
    }

    private static void ValidateListeners(EdgeOptions o, ref List<string>? errors)
    {
        var https = false;
        var unix = false;
        var endPoints = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var text in o.ListenOrDefault())
        {
            if (!EdgeListener.TryParse(text, out var listener))
            {
                (errors ??= []).Add($"--listen '{text}' is not an address like 127.0.0.1:8080, https://0.0.0.0:8443 or unix:/run/teleport/edge.sock.");
                continue;
            }

            // Kestrel would fail on the second bind with a less helpful message; port 0 binds a new port each time.
            if ((listener.EndPoint is not { Port: 0 }) && !endPoints.Add(listener.EndPoint?.ToString() ?? listener.SocketPath!))
            {
                (errors ??= []).Add($"--listen '{text}' is given more than once.");
            }

            https |= listener.Kind == ListenerKind.Https;
            unix |= listener.Kind == ListenerKind.Unix;
        }

        if (https && o.ListenCertificates.Count == 0)
        {
            (errors ??= []).Add("--listen-cert is required for https:// listeners: give a PEM certificate file (and its key with --listen-key).");
        }
        else if (!https && (o.ListenCertificates.Count > 0 || o.ListenKeys.Count > 0))
        {
            (errors ??= []).Add("--listen-cert and --listen-key apply to https:// listeners only, and no --listen is https://.");
        }
        else if (o.ListenKeys.Count > 0 && o.ListenKeys.Count != o.ListenCertificates.Count)
        {
            (errors ??= []).Add($"--listen-key is given {o.ListenKeys.Count} times for {o.ListenCertificates.Count} --listen-cert: give one key per certificate, in the same order, or none when each certificate file holds its key.");
        }
        else if (https && !ServerCertificates.TryLoad(o.ListenCertificates, o.ListenKeys, out _, out var certificateErrors))
        {
            (errors ??= []).AddRange(certificateErrors);
        }

        if (o.ListenUnixMode is not null)
        {
            if (!UnixSocketFiles.TryParseMode(o.ListenUnixMode, out _))
            {
                (errors ??= []).Add($"--listen-unix-mode '{o.ListenUnixMode}' is not an octal mode like 660.");
            }
            else if (!unix)
            {
                (errors ??= []).Add("--listen-unix-mode applies to unix: listeners only, and no --listen is unix:.");
            }
            else if (OperatingSystem.IsWindows())
            {
                (errors ??= []).Add("--listen-unix-mode is not supported on Windows.");
            }
        }
    }
}
