using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Teleport.Protocol.Hosting;

/// <summary>
/// --otlp-endpoint: the service's spans exported to an OpenTelemetry collector. Without it no tracer provider
/// exists, nobody listens to the service's ActivitySource, and no span is ever made.
/// </summary>
/// <remarks>
/// The exporter reads the standard OTEL_EXPORTER_OTLP_* variables (protocol, headers, timeout, ...) and the
/// batch processor OTEL_BSP_*; the flag only turns it on and says where. gRPC is the exporter's default protocol.
/// </remarks>
internal static class OtlpTracing
{
    /// <summary>The validation error for an --otlp-endpoint value, or null when it is absent or fine.</summary>
    public static string? Validate(string? endpoint)
        => endpoint is null || TryParse(endpoint, out _) ? null : $"--otlp-endpoint '{endpoint}' is not a URL like http://collector:4317.";

    /// <summary>Exports the spans of <paramref name="sourceName"/>, labelled with <paramref name="serviceName"/> (service.name).</summary>
    /// <param name="endpoint">A validated --otlp-endpoint.</param>
    public static void AddServices(IServiceCollection services, string serviceName, string sourceName, string endpoint)
    {
        var uri = TryParse(endpoint, out var parsed) ? parsed : throw new InvalidOperationException($"--otlp-endpoint '{endpoint}' was not validated.");
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithTracing(tracing => tracing.AddSource(sourceName)
                .AddOtlpExporter(o => o.Endpoint = EndpointFor(uri, o.Protocol)));
    }

    /// <summary>
    /// Over HTTP the traces go to /v1/traces: added when the URL has no path of its own, as the standard
    /// OTEL_EXPORTER_OTLP_ENDPOINT variable does (the exporter adds nothing to an endpoint set in code).
    /// </summary>
    internal static Uri EndpointFor(Uri endpoint, OtlpExportProtocol protocol)
        => protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/" ? new Uri(endpoint, "v1/traces") : endpoint;

    private static bool TryParse(string text, out Uri uri)
        => Uri.TryCreate(text, UriKind.Absolute, out uri!) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0;
}
