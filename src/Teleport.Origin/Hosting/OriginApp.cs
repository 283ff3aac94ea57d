using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Teleport.Origin.Diagnostics;
using Teleport.Origin.Security;
using Teleport.Origin.Tunnel;
using Teleport.Origin.Upstream;
using Teleport.Origin.Upstream.Health;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Framing;
using Teleport.Protocol.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Hosting;

/// <summary>The origin service: its command line and its web application.</summary>
internal static class OriginApp
{
    private const string S = OriginOptions.Section + ":";

    public static readonly ServiceDefinition Definition = new(
        "teleport-origin",
        "Serves tunnel streams from teleport-edge and completes their HTTP exchanges against the configured upstreams only.",
        [
            new("listen", S + nameof(OriginOptions.Listen), "ADDRESS", "Where edges connect (gRPC over HTTP/2: cleartext, or TLS with --tls-cert). Port 0 picks a free port.", "127.0.0.1:9090"),
            new("upstream", S + nameof(OriginOptions.Upstreams), "URL", "An upstream HTTP server; repeat for several (each request goes to a healthy one, see --upstream-balance; a failing one is taken out for a while). Required. http://host:port[/base-path] speaks HTTP/1.1; https://host:port[/base-path] speaks TLS, HTTP/2 or HTTP/1.1 by ALPN; h2c://host:port[/base-path] speaks cleartext HTTP/2 with prior knowledge (gRPC servers); unix:/path/to.sock speaks HTTP/1.1 and h2c+unix:/path/to.sock cleartext HTTP/2 over a unix socket. An upstream may be another teleport-edge (a chain of tunnels). Example: --upstream https://app.internal:8443 --upstream h2c://grpc:5000 --upstream unix:/run/app.sock", null, Repeatable: true),
            new("upstream-ca", S + nameof(OriginOptions.UpstreamCa), "FILE", "PEM file of the CA certificate(s) that https upstreams' certificates must chain to, in place of the system's trusted roots (for a private CA).", null),
            new("upstream-sni", S + nameof(OriginOptions.UpstreamSni), "NAME", "TLS server name for https upstreams in place of the URL's host: sent as SNI, required in the certificate, and sent as Host (.NET takes SNI from Host; the client's Host still arrives in X-Forwarded-Host). For upstreams addressed by IP, e.g. --upstream https://10.0.0.5:8443 --upstream-sni app.internal.", null),
            new("upstream-insecure", S + nameof(OriginOptions.UpstreamInsecure), "", "Accept any TLS certificate from https upstreams. For tests only: anyone on the path can then read and change the traffic; a warning is logged at start.", null, IsSwitch: true),
            new("tls-cert", S + nameof(OriginOptions.TlsCert), "FILE", "PEM certificate (leaf, then intermediates) for the gRPC listener: with --tls-key, edges connect over TLS 1.2+ (HTTP/2 by ALPN) to https://. Re-read when the file changes, without a restart.", null),
            new("tls-key", S + nameof(OriginOptions.TlsKey), "FILE", "Unencrypted PEM private key of --tls-cert. Re-read when the file changes.", null),
            new("client-ca", S + nameof(OriginOptions.ClientCa), "FILE", "PEM file of the CA certificate(s) that edges' client certificates must chain to (mutual TLS); a handshake without a valid one is refused. Needs --tls-cert.", null),
            new("token-file", S + nameof(OriginOptions.TokenFile), "FILE", "File of the bearer tokens edges must send, one per line, all valid at once (rotation: add the new one, move the edges, remove the old one). Re-read when it changes. Without it, the TELEPORT_TOKEN variable holds the one token; tokens are never given on the command line.", null),
            new("allow-ip", S + nameof(OriginOptions.AllowIp), "CIDR", "A network edges may connect from, e.g. 203.0.113.0/24 or 2001:db8::/32; repeat for several. Other peers are disconnected before any byte is read, counted and logged. Default: any address.", null, Repeatable: true),
            new("compression", S + nameof(OriginOptions.Compression), "auto|brotli|zstd|gzip|none", "Compression of what the origin sends. zstd and brotli keep one compression context for the stream's life, so each exchange costs only what differs from earlier ones (need a peer that supports them; brotli, the smaller and cheaper in our measurements, finds repeats further back; zstd is there for peers without brotli); gzip compresses each tunnel message alone (any gRPC peer); auto is brotli, else zstd, when the peer supports it, else gzip; none. Each side chooses for its own direction.", "auto"),
            new("compression-level", S + nameof(OriginOptions.CompressionLevel), "Fastest|Optimal|SmallestSize", "How hard to compress: brotli qualities 4, 5, 6; zstd levels 1, 3, 9; gzip levels 1, 6, 9.", "Fastest"),
            new("request-timeout", S + nameof(OriginOptions.RequestTimeout), "DURATION", "Longest wait for an upstream's response head (counted from the end of a streamed request body); then 504 (the edge may ask for less). A streamed response body may take as long as it needs.", "30s"),
            new("upstream-connect-timeout", S + nameof(OriginOptions.UpstreamConnectTimeout), "DURATION", "Longest wait for a TCP connection to an upstream; then 502.", "5s"),
            new("upstream-balance", S + nameof(OriginOptions.UpstreamBalance), "power-of-two|least-requests|round-robin", "How a request's upstream is chosen among the healthy ones: the less busy of two picked at random, the least busy, or in turn.", "power-of-two"),
            new("upstream-down-time", S + nameof(OriginOptions.UpstreamDownTime), "DURATION", "How long an upstream is left out after a failed connection (the request is retried once on another upstream), or after half of its last 20 answers were 5xx (never the last healthy one); then it is tried again.", "10s"),
            new("upstream-health-path", S + nameof(OriginOptions.UpstreamHealthPath), "PATH", "Turns on active health checks: GET PATH (e.g. /healthz) on every upstream each --upstream-health-interval; a non-2xx answer or a failure takes it out until a check passes. Default: none.", null),
            new("upstream-health-interval", S + nameof(OriginOptions.UpstreamHealthInterval), "DURATION", "Time between active health checks of each upstream; a check may take min(interval, 2s).", "5s"),
            new("host-header", S + nameof(OriginOptions.HostHeader), "keep|upstream", "Host sent upstream: the one the client sent, or the upstream's own address.", "keep"),
            new("max-request-body-size", S + nameof(OriginOptions.MaxRequestBodySize), "SIZE", "Largest request body accepted from an edge (the edge answers 413 beyond it).", "16MiB"),
            new("max-response-body-size", S + nameof(OriginOptions.MaxResponseBodySize), "SIZE", "Largest upstream response body passed back, whole or streamed; bigger ones become 502 (a streamed one is cut off where it crosses the limit).", "16MiB"),
            new("max-concurrent", S + nameof(OriginOptions.MaxConcurrentExchanges), "N", "Exchanges run at once per tunnel stream; beyond it they are refused (503 at the edge).", "10000"),
            new("max-concurrent-total", S + nameof(OriginOptions.MaxConcurrentTotal), "N", "Exchanges run at once across all tunnel streams of this origin; beyond it they are refused (503 at the edge, which tries another origin first).", "20000"),
            new("max-streams", S + nameof(OriginOptions.MaxStreams), "N", "Tunnel streams open at once on this origin, counted from the call's start (before its hello); beyond it a new stream is refused with RESOURCE_EXHAUSTED and logged (the edge retries later).", "1000"),
            new("max-streams-per-connection", S + nameof(OriginOptions.MaxStreamsPerConnection), "N", "Tunnel streams at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS; a client over it gets REFUSED_STREAM). teleport-edge opens one per connection.", "8"),
            new("hello-timeout", S + nameof(OriginOptions.HelloTimeout), "DURATION", "How long a new tunnel stream may take to send its hello; then it is ended with DEADLINE_EXCEEDED and logged (100ms to 5m). A stream idle after its hello stays open.", "10s"),
            new("drain-timeout", S + nameof(OriginOptions.DrainTimeout), "DURATION", "On shutdown (SIGTERM), how long running exchanges may take to finish while new ones are refused (503 at the edge).", "10s"),
            new("body-window", S + nameof(OriginOptions.BodyWindow), "SIZE", "Flow-control window of each streamed body this side receives (request bodies): how much of one body may be in flight before more is granted. Sized for the link's bandwidth x round trip (4 MiB: ~80 % of 200 Mbit/s at 80 ms); it also bounds the memory one slow upstream can hold here.", "4MiB"),
            new("max-batch-items", S + nameof(OriginOptions.MaxBatchItems), "N", "Most exchanges in one tunnel message.", "1024"),
            new("max-batch-bytes", S + nameof(OriginOptions.MaxBatchBytes), "SIZE", "Soft cap on one tunnel message (a larger single response travels alone).", "1MiB"),
            new("http2-window", S + nameof(OriginOptions.Http2Window), "SIZE", "HTTP/2 flow-control window of a tunnel stream: the requests in flight per round trip. Size it to the link's bandwidth x round trip (8MiB: 670 Mbit/s at 100 ms); too small a window caps a long link's throughput.", "8MiB"),
            new("max-batch-delay", S + nameof(OriginOptions.MaxBatchDelay), "DURATION", "How long a tunnel message may wait for more responses before it is sent, in whole milliseconds (e.g. 1ms). 0 sends at once: batches still grow with load, with no added latency.", "0"),
            new("admin", S + nameof(OriginOptions.Admin), "ADDRESS", "Admin listener (HTTP/1.1) serving /metrics (Prometheus text), /healthz and /readyz, e.g. 127.0.0.1:9100; never on the traffic ports. Default: none.", null),
            new("log-format", S + nameof(OriginOptions.LogFormat), "console|json", "Log lines for people, or one JSON object per line for log collectors. Levels per category come from Logging:LogLevel in the configuration.", "console"),
            new("access-log", S + nameof(OriginOptions.AccessLog), "", "Log one line per upstream call at Information, in the category Teleport.Origin.Access: exchange id, method, target, upstream, status, duration, body bytes each way and outcome. Off, it costs nothing.", null, IsSwitch: true),
            new("otlp-endpoint", S + nameof(OriginOptions.OtlpEndpoint), "URL", "Turns on tracing: a span per upstream call, a child of the edge's span, whose traceparent the upstream receives, exported over OTLP to this collector, e.g. http://collector:4317 (gRPC; with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, e.g. http://collector:4318). The other OTEL_EXPORTER_OTLP_* variables apply. Default: no tracing.", null),
            new("config", S + "Config", "FILE", "A JSON settings file read on top of appsettings.json (keys as in appsettings.json).", null),
        ]);

    /// <summary>Builds the origin from a command line (see <see cref="Definition"/>).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="configure">Last changes before the application is built (tests route logs with it).</param>
    /// <exception cref="ArgumentException">The command line is wrong.</exception>
    public static WebApplication Build(IReadOnlyList<string> args, Action<WebApplicationBuilder>? configure = null)
    {
        TokenArguments.Refuse(args);
        var builder = ServiceHost.CreateBuilder(Definition, args);
        var services = builder.Services;
        services.AddOptions<OriginOptions>().BindConfiguration(OriginOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OriginOptions>, OriginOptionsValidator>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<OriginOptions>>(ConfigureKestrel);
        services.AddOptions<HostOptions>().Configure<IOptions<OriginOptions>>(static (host, origin) =>
            host.ShutdownTimeout = origin.Value.DrainTimeout + TimeSpan.FromSeconds(5));
        services.AddGrpc();
        services.AddOptions<Grpc.AspNetCore.Server.GrpcServiceOptions>().Configure<IOptions<OriginOptions>>(ConfigureGrpc);
        services.AddSingleton<TunnelCounters>();
        services.AddSingleton<AccessCounters>();
        services.AddSingleton<ConnectionCounters>();
        services.AddSingleton<TokenInterceptor>();
        services.AddSingleton<UpstreamClient>();
        services.AddSingleton<UpstreamSelector>();
        services.AddSingleton<UpstreamHealth>();
        services.AddSingleton<UpstreamForwarder>();
        services.AddSingleton<UpstreamCalls>();
        services.AddSingleton<OriginActivity>();
        services.AddSingleton<StreamSlots>();
        // Does nothing without --upstream-health-path.
        services.AddHostedService<ActiveHealthChecks>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<OriginMetrics>();
        services.AddSingleton<IReadiness>(static sp => sp.GetRequiredService<OriginMetrics>());
        // The exporter only with an admin listener: without one the metrics classes create no instruments at all.
        var admin = !string.IsNullOrEmpty(builder.Configuration[S + nameof(OriginOptions.Admin)]);
        if (admin)
        {
            AdminEndpoint.AddServices(services, Definition.Program, OriginMetrics.MeterName);
        }

        // Tracing only with a collector to send spans to; a bad URL is left to the validator.
        if (builder.Configuration[S + nameof(OriginOptions.OtlpEndpoint)] is { Length: > 0 } otlp && OtlpTracing.Validate(otlp) is null)
        {
            OtlpTracing.AddServices(services, Definition.Program, UpstreamCalls.SourceName, otlp);
        }

        configure?.Invoke(builder);
        var app = builder.Build();
        if (admin)
        {
            AdminEndpoint.Map(app);
            // Now rather than with the first tunnel stream, so /metrics lists the instruments from the start.
            app.Services.GetRequiredService<OriginMetrics>();
        }

        app.MapGrpcService<TunnelService>();
        app.Lifetime.ApplicationStarted.Register(() => LogListening(app));
        return app;
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, IOptions<OriginOptions> originOptions)
    {
        var options = originOptions.Value;
        kestrel.AddServerHeader = false;
        var http2 = kestrel.Limits.Http2;
        // A tunnel is one long HTTP/2 stream carrying everything: windows sized for throughput (the bandwidth-delay
        // product, --http2-window), not for fairness. The connection window leaves room for a second stream.
        http2.InitialStreamWindowSize = options.Http2Window;
        http2.InitialConnectionWindowSize = 2 * options.Http2Window;
        // A dead edge connection (no answer to an HTTP/2 PING after 10 s of silence, within 5 s) is closed, and its
        // streams with it: their exchanges are aborted and their slots of --max-streams freed.
        http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
        http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(5);
        // Beyond it Kestrel answers a new stream with RST_STREAM REFUSED_STREAM (clients that honour SETTINGS wait).
        http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
        if (ListenAddress.TryParse(options.Listen, out var endPoint))
        {
            kestrel.Listen(endPoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                // The allow list first: a refused peer gets no TLS handshake.
                AllowListFilter.Apply(listen, options.AllowIp);
                // Tunnel connections and their wire bytes, ahead of TLS; only when metrics are published.
                ConnectionCounters.Apply(listen, options.Admin is not null);
                OriginTls.Apply(listen, options);
            });
        }

        // After the traffic listener, so the first address stays the traffic one.
        if (ListenAddress.TryParse(options.Admin, out var adminEndPoint))
        {
            AdminEndpoint.Listen(kestrel, adminEndPoint);
        }
    }

    private static void ConfigureGrpc(Grpc.AspNetCore.Server.GrpcServiceOptions grpc, IOptions<OriginOptions> originOptions)
    {
        var options = originOptions.Value;
        grpc.MaxReceiveMessageSize = BatchLimits.ReceiveLimit(options.MaxRequestBodySize, options.MaxBatchBytes);
        grpc.MaxSendMessageSize = null;
        grpc.CompressionProviders = [new GzipCompressionProvider(options.CompressionLevel)];
        // Streams that agree on a stream codec turn gRPC compression off for their messages (TunnelService).
        grpc.ResponseCompressionAlgorithm = options.Compression == TunnelCompression.None ? null : GzipCompressionProvider.Name;
        grpc.ResponseCompressionLevel = options.CompressionLevel;
        if (SharedTokens.Configured(options.TokenFile, Environment.GetEnvironmentVariable))
        {
            grpc.Interceptors.Add<TokenInterceptor>();
        }
    }

    private static void LogListening(WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<OriginOptions>>().Value;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Teleport.Origin");
        OriginLog.Listening(logger, ServiceHost.Address(app).ToString(), string.Join(", ", options.Upstreams), options.Compression.ToString().ToLowerInvariant());
        if (options.UpstreamInsecure)
        {
            OriginLog.UpstreamTlsUnverified(logger);
        }
    }
}
