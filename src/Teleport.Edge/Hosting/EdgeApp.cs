using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Teleport.Edge.Http;
using Teleport.Edge.Tunnel;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Hosting;

/// <summary>The edge service: its command line and its web application.</summary>
internal static class EdgeApp
{
    private const string S = EdgeOptions.Section + ":";

    public static readonly ServiceDefinition Definition = new(
        "teleport-edge",
        "Accepts HTTP requests and carries them to a teleport-origin over one compressed, batched gRPC stream.",
        [
            new("listen", S + nameof(EdgeOptions.Listen), "ADDRESS", "Where clients connect (HTTP/1.1 and cleartext HTTP/2). Port 0 picks a free port.", "127.0.0.1:8080"),
            new("origin", S + nameof(EdgeOptions.Origin), "URL", "gRPC address of the teleport-origin.", "http://127.0.0.1:9090"),
            new("compression", S + nameof(EdgeOptions.Compression), "auto|brotli|gzip|none", "Compression of what the edge sends. brotli keeps one compression context for the stream's life, so each exchange costs only what differs from earlier ones (needs a peer that supports it); gzip compresses each tunnel message alone (any gRPC peer); auto is brotli when the peer supports it, else gzip; none. Each side chooses for its own direction.", "auto"),
            new("compression-level", S + nameof(EdgeOptions.CompressionLevel), "LEVEL", "Fastest, Optimal or SmallestSize (gzip levels 1, 6, 9; brotli qualities 2, 4, 6).", "Fastest"),
            new("request-timeout", S + nameof(EdgeOptions.RequestTimeout), "DURATION", "Longest time a request may take before the client gets 504 (e.g. 30s, 500ms, 2m).", "30s"),
            new("tunnel-wait", S + nameof(EdgeOptions.TunnelWait), "DURATION", "How long a request waits for a tunnel to the origin before the client gets 503.", "5s"),
            new("max-request-body-size", S + nameof(EdgeOptions.MaxRequestBodySize), "SIZE", "Largest request body; bigger ones get 413 (e.g. 16MiB).", "16MiB"),
            new("max-response-body-size", S + nameof(EdgeOptions.MaxResponseBodySize), "SIZE", "Largest response body the edge takes from the origin.", "16MiB"),
            new("max-request-headers-size", S + nameof(EdgeOptions.MaxRequestHeadersSize), "SIZE", "Largest total size of a request's header fields; bigger ones get 431.", "32KiB"),
            new("max-pending", S + nameof(EdgeOptions.MaxPendingExchanges), "N", "Requests in flight at once; beyond it clients get 503 at once.", "10000"),
            new("max-batch-items", S + nameof(EdgeOptions.MaxBatchItems), "N", "Most exchanges in one tunnel message.", "1024"),
            new("max-batch-bytes", S + nameof(EdgeOptions.MaxBatchBytes), "SIZE", "Soft cap on one tunnel message (a larger single request travels alone).", "1MiB"),
            new("max-batch-delay", S + nameof(EdgeOptions.MaxBatchDelay), "DURATION", "How long a tunnel message may wait for more requests before it is sent (e.g. 1ms). 0 sends at once: batches still grow with load, with no added latency.", "0"),
            new("forwarded-headers", S + nameof(EdgeOptions.ForwardedHeaders), "append|set|off", "X-Forwarded-For/-Proto/-Host: add this hop to the client's values, replace them, or leave them alone.", "append"),
            new("config", S + "Config", "FILE", "A JSON settings file read on top of appsettings.json (keys as in appsettings.json).", null),
        ]);

    /// <summary>Builds the edge from a command line (see <see cref="Definition"/>).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="configure">Last changes before the application is built (tests route logs with it).</param>
    /// <exception cref="ArgumentException">The command line is wrong.</exception>
    public static WebApplication Build(IReadOnlyList<string> args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = ServiceHost.CreateBuilder(Definition, args);
        var services = builder.Services;
        services.AddOptions<EdgeOptions>().BindConfiguration(EdgeOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EdgeOptions>, EdgeOptionsValidator>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<EdgeOptions>>(ConfigureKestrel);
        services.AddSingleton<TunnelCounters>();
        services.AddSingleton<TunnelClient>();
        services.AddHostedService(static sp => sp.GetRequiredService<TunnelClient>());
        services.AddSingleton<EdgeRequestHandler>();

        configure?.Invoke(builder);
        var app = builder.Build();
        app.Run(app.Services.GetRequiredService<EdgeRequestHandler>().HandleAsync);
        app.Lifetime.ApplicationStarted.Register(() => LogListening(app));
        return app;
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, IOptions<EdgeOptions> edgeOptions)
    {
        var options = edgeOptions.Value;
        kestrel.AddServerHeader = false;
        // h2c connections look like TLS to Kestrel (see CleartextHttp2Detection): accept their :scheme "http".
        kestrel.AllowAlternateSchemes = true;
        // The handler enforces the body limit itself (it may be lowered by the origin's hello) and
        // answers 413 with a reason; Kestrel's own limit would throw mid-read instead.
        kestrel.Limits.MaxRequestBodySize = null;
        kestrel.Limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersSize;
        if (ListenAddress.TryParse(options.Listen, out var endPoint))
        {
            kestrel.Listen(endPoint, static listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(static next => connection => CleartextHttp2Detection.OnConnectionAsync(connection, next));
            });
        }
    }

    private static void LogListening(WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<EdgeOptions>>().Value;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Teleport.Edge");
        EdgeLog.Listening(logger, ServiceHost.Address(app).ToString(), options.Origin, options.Compression.ToString().ToLowerInvariant());
    }
}
