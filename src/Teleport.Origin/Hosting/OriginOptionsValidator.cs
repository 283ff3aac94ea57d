using Microsoft.Extensions.Options;
using Teleport.Protocol.Hosting;

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

        foreach (var upstream in o.Upstreams)
        {
            if (!Uri.TryCreate(upstream, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            {
                (errors ??= []).Add($"--upstream '{upstream}' is not an address like http://127.0.0.1:8081 (http://host:port[/path]).");
            }
        }

        // CancellationTokenSource.CancelAfter and SocketsHttpHandler.ConnectTimeout take at most int.MaxValue ms (24.8 days).
        if (o.RequestTimeout <= TimeSpan.Zero || o.RequestTimeout.TotalMilliseconds > int.MaxValue)
        {
            (errors ??= []).Add("--request-timeout must be positive and at most 24 days.");
        }

        if (o.UpstreamConnectTimeout <= TimeSpan.Zero || o.UpstreamConnectTimeout.TotalMilliseconds > int.MaxValue)
        {
            (errors ??= []).Add("--upstream-connect-timeout must be positive and at most 24 days.");
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

        if (o.MaxConcurrentExchanges <= 0)
        {
            (errors ??= []).Add("--max-concurrent must be positive.");
        }

        if (o.MaxBatchItems <= 0)
        {
            (errors ??= []).Add("--max-batch-items must be positive.");
        }

        if (o.MaxBatchBytes is <= 0 or > 64 * 1024 * 1024)
        {
            (errors ??= []).Add("--max-batch-bytes must be between 1 and 64 MiB.");
        }

        if (o.MaxBatchDelay < TimeSpan.Zero || o.MaxBatchDelay > TimeSpan.FromSeconds(1))
        {
            (errors ??= []).Add("--max-batch-delay must be between 0 and 1s.");
        }

        return errors is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
