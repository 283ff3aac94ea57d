using Microsoft.Extensions.Options;
using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Hosting;

/// <summary>Checks every edge setting at start-up and reports all problems at once.</summary>
internal sealed class EdgeOptionsValidator : IValidateOptions<EdgeOptions>
{
    public ValidateOptionsResult Validate(string? name, EdgeOptions o)
    {
        List<string>? errors = null;
        if (!ListenAddress.TryParse(o.Listen, out _))
        {
            (errors ??= []).Add($"--listen '{o.Listen}' is not an address like 127.0.0.1:8080.");
        }

        if (!Uri.TryCreate(o.Origin, UriKind.Absolute, out var origin) || origin.Scheme != Uri.UriSchemeHttp || origin.PathAndQuery != "/" || origin.Fragment.Length > 0)
        {
            (errors ??= []).Add($"--origin '{o.Origin}' is not an address like http://127.0.0.1:9090.");
        }

        if (o.RequestTimeout <= TimeSpan.Zero || o.RequestTimeout.TotalMilliseconds > uint.MaxValue)
        {
            (errors ??= []).Add("--request-timeout must be positive.");
        }

        // Task.WaitAsync takes at most int.MaxValue ms (24.8 days).
        if (o.TunnelWait < TimeSpan.Zero || o.TunnelWait.TotalMilliseconds > int.MaxValue)
        {
            (errors ??= []).Add("--tunnel-wait must be between 0 and 24 days.");
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
