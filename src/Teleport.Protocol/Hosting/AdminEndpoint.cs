using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Teleport.Protocol.Hosting;

/// <summary>What /readyz reports: whether the service should get traffic, and why.</summary>
internal interface IReadiness
{
    bool IsReady { get; }

    /// <summary>Writes the details as properties of the open JSON object.</summary>
    void WriteDetails(Utf8JsonWriter json);
}

/// <summary>
/// The admin listener (--admin): /metrics (Prometheus text), /healthz and /readyz, served only on
/// connections accepted by that listener, never on the traffic ports.
/// </summary>
/// <remarks>
/// The listener marks each of its connections with a feature; a request is an admin request only
/// when its connection carries it. That holds for port 0 and whatever Host the client sends, where a
/// host or port check on the request could be fooled or would need the bound port first.
/// </remarks>
internal static class AdminEndpoint
{
    private static readonly byte[] Ok = "ok\n"u8.ToArray();

    /// <summary>The validation error for an --admin value, or null when it is absent or fine.</summary>
    public static string? Validate(string? admin)
        => admin is null || ListenAddress.TryParse(admin, out _) ? null : $"--admin '{admin}' is not an address like 127.0.0.1:9100.";

    /// <summary>The runtime's own meter (GC, thread pool, CPU, memory, locks, exceptions), built into .NET.</summary>
    private const string RuntimeMeterName = "System.Runtime";

    /// <summary>
    /// Exports <paramref name="meterName"/> and the runtime's meter for /metrics, labelled with
    /// <paramref name="serviceName"/> (target_info).
    /// </summary>
    public static void AddServices(IServiceCollection services, string serviceName, string meterName)
        => services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(metrics => metrics.AddMeter(meterName, RuntimeMeterName)
            // No cached answer: a scrape sees the counters as they are (scrapers come every few seconds anyway).
            .AddPrometheusExporter(static o => o.ScrapeResponseCacheDurationMilliseconds = 0));

    /// <summary>Opens the admin listener: HTTP/1.1, as scrapers and probes speak it.</summary>
    public static void Listen(KestrelServerOptions kestrel, IPEndPoint endPoint)
        => kestrel.Listen(endPoint, static listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.Use(static next => connection =>
            {
                connection.Features.Set(AdminConnection.Instance);
                return next(connection);
            });
        });

    /// <summary>Answers admin requests ahead of the service's own pipeline; call before anything else is mapped.</summary>
    public static void Map(WebApplication app)
        => app.MapWhen(static context => context.Features.Get<AdminConnection>() is not null, static admin =>
        {
            admin.UseOpenTelemetryPrometheusScrapingEndpoint("/metrics");
            admin.Run(HandleAsync);
        });

    private static async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        switch (context.Request.Path.Value)
        {
            case "/healthz":
                response.ContentType = "text/plain; charset=utf-8";
                await response.Body.WriteAsync(Ok, context.RequestAborted);
                break;
            case "/readyz":
                var readiness = context.RequestServices.GetRequiredService<IReadiness>();
                var ready = readiness.IsReady;
                response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                response.ContentType = "application/json";
                await using (var json = new Utf8JsonWriter(response.Body))
                {
                    json.WriteStartObject();
                    json.WriteBoolean("ready", ready);
                    readiness.WriteDetails(json);
                    json.WriteEndObject();
                }

                break;
            default:
                response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }

    /// <summary>Marks a connection accepted by the admin listener.</summary>
    private sealed class AdminConnection
    {
        public static readonly AdminConnection Instance = new();
    }
}
