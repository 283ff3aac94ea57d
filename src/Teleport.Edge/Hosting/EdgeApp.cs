using System.Net.Security;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using Teleport.Edge.Diagnostics;
using Teleport.Edge.Http;
using Teleport.Edge.Tunnel;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Edge.Hosting;

/// <summary>The edge service: its command line and its web application.</summary>
internal static class EdgeApp
{
    private const string S = EdgeOptions.Section + ":";

    public static readonly ServiceDefinition Definition = new(
        "teleport-edge",
        "Accepts HTTP requests and carries them to a teleport-origin over one compressed, batched gRPC stream.",
        [
            new("listen", S + nameof(EdgeOptions.Listen), "ADDRESS", "Where clients connect; repeat for several. host:port or http://host:port serves HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port; https://host:port serves TLS, HTTP/1.1 or HTTP/2 by ALPN (needs --listen-cert); unix:/path/to.sock serves HTTP/1.1 and cleartext HTTP/2 on a unix socket (a stale socket file is removed at start). Port 0 picks a free port. Example: --listen 0.0.0.0:8080 --listen https://0.0.0.0:8443 --listen unix:/run/teleport/edge.sock", EdgeOptions.DefaultListen, Repeatable: true),
            new("listen-cert", S + nameof(EdgeOptions.ListenCertificates), "FILE", "PEM certificate for the https:// listeners: the leaf, then any intermediates. Repeat for several; the one whose names match the client's SNI is served (exact name, then wildcard), else the first.", null, Repeatable: true),
            new("listen-key", S + nameof(EdgeOptions.ListenKeys), "FILE", "Unencrypted PEM private key of the --listen-cert in the same position; leave out when each certificate file holds its key.", null, Repeatable: true),
            new("listen-unix-mode", S + nameof(EdgeOptions.ListenUnixMode), "MODE", "Permissions of the unix: listeners' socket files, in octal (e.g. 660: owner and group may connect). Default: as the umask leaves them.", null),
            new("origin", S + nameof(EdgeOptions.Origin), "URL", "gRPC address of a teleport-origin: http://host:port (cleartext HTTP/2) or https://host:port (TLS 1.2+, the certificate checked against the system's roots or --ca-file). Repeat for several: each new request goes to the live stream with the fewest exchanges pending (counting the load each origin reports), never to one that is draining.", EdgeOptions.DefaultOrigin, Repeatable: true),
            new("streams", S + nameof(EdgeOptions.Streams), "N", "Tunnel streams to each origin, each on its own TCP connection; with more, each message carries fewer exchanges (more bytes and CPU per request).", "1"),
            new("heartbeat-interval", S + nameof(EdgeOptions.HeartbeatInterval), "DURATION", "How often each stream is pinged to measure its round trip (shown in /readyz and metrics) and prove it alive; also the HTTP/2 keep-alive ping interval.", "5s"),
            new("heartbeat-timeout", S + nameof(EdgeOptions.HeartbeatTimeout), "DURATION", "A stream that brings nothing from the origin for this long (a half-open connection: peer gone without a reset) is closed and replaced; its open requests get 502 or are retried. Detection takes at most this plus one --heartbeat-interval.", "10s"),
            new("reconnect-delay", S + nameof(EdgeOptions.ReconnectDelay), "DURATION", "First wait before reconnecting a lost stream; it doubles with each failed attempt, with jitter, up to --reconnect-max-delay. A failed first connection never stops the edge.", "100ms"),
            new("reconnect-max-delay", S + nameof(EdgeOptions.ReconnectMaxDelay), "DURATION", "Longest wait between reconnect attempts.", "1s"),
            new("retry-idempotent", S + nameof(EdgeOptions.RetryIdempotent), "", "Also retry, on another stream, GET/HEAD/OPTIONS/TRACE/PUT/DELETE requests that a lost stream may already have delivered to its origin. Requests an origin surely did not start (never sent, refused as overloaded or shutting down) are always retried.", null, IsSwitch: true),
            new("ca-file", S + nameof(EdgeOptions.CaFile), "FILE", "PEM file of the CA certificate(s) an https --origin's certificate must chain to, in place of the system's trusted roots (for a private CA).", null),
            new("insecure-skip-verify", S + nameof(EdgeOptions.InsecureSkipVerify), "", "Accept any TLS certificate from an https --origin. For tests only: anyone on the path can then read and change the tunnel, token included; a warning is logged at every start.", null, IsSwitch: true),
            new("client-cert", S + nameof(EdgeOptions.ClientCert), "FILE", "PEM client certificate presented to an https --origin that requires one (its --client-ca). Re-read on every reconnect.", null),
            new("client-key", S + nameof(EdgeOptions.ClientKey), "FILE", "Unencrypted PEM private key of --client-cert.", null),
            new("token-file", S + nameof(EdgeOptions.TokenFile), "FILE", "File holding the bearer token sent to the origin (the first line that is not blank or a # comment). Re-read on every reconnect. Without it, the TELEPORT_TOKEN variable holds the token; tokens are never given on the command line.", null),
            new("allow-ip", S + nameof(EdgeOptions.AllowIp), "CIDR", "A network HTTP clients may connect from, e.g. 10.0.0.0/8 or 2001:db8::/32; repeat for several. Other peers are disconnected before any byte is read, counted and logged. unix: listeners are governed by --listen-unix-mode instead. Default: any address.", null, Repeatable: true),
            new("compression", S + nameof(EdgeOptions.Compression), "auto|brotli|zstd|gzip|none", "Compression of what the edge sends. zstd and brotli keep one compression context for the stream's life, so each exchange costs only what differs from earlier ones (need a peer that supports them; brotli, the smaller and cheaper in our measurements, finds repeats further back; zstd is there for peers without brotli); gzip compresses each tunnel message alone (any gRPC peer); auto is brotli, else zstd, when the peer supports it, else gzip; none. Each side chooses for its own direction.", "auto"),
            new("compression-level", S + nameof(EdgeOptions.CompressionLevel), "Fastest|Optimal|SmallestSize", "How hard to compress: brotli qualities 4, 5, 6; zstd levels 1, 3, 9; gzip levels 1, 6, 9.", "Fastest"),
            new("request-timeout", S + nameof(EdgeOptions.RequestTimeout), "DURATION", "Longest wait for the response head before the client gets 504 (e.g. 30s, 500ms, 2m), counted from the end of a streamed request body; a streamed response body may then take as long as it needs.", "30s"),
            new("route-timeout", S + nameof(EdgeOptions.RouteTimeout), "PREFIX=DURATION", "A request timeout for the paths under PREFIX in place of --request-timeout, longer or shorter, e.g. /reports=5m or /api/quote=800ms; repeat for several, the longest matching prefix wins. /reports matches /reports and /reports/..., not /reportsX. The origin's own --request-timeout still caps it.", null, Repeatable: true),
            new("tunnel-wait", S + nameof(EdgeOptions.TunnelWait), "DURATION", "How long a request waits for a tunnel to the origin before the client gets 503.", "5s"),
            new("drain-timeout", S + nameof(EdgeOptions.DrainTimeout), "DURATION", "On shutdown (SIGTERM), how long the requests already accepted may take to finish (their answers still come through the tunnel) while no new connections are taken; those still waiting then get 503 (edge-shutting-down), a response already under way is cut off, and connections still open a second later are closed.", "30s"),
            new("max-request-body-size", S + nameof(EdgeOptions.MaxRequestBodySize), "SIZE", "Largest request body; bigger ones get 413 (e.g. 16MiB).", "16MiB"),
            new("max-response-body-size", S + nameof(EdgeOptions.MaxResponseBodySize), "SIZE", "Largest response body the edge takes whole in one tunnel message (sets its message size limit); streamed bodies are bounded by the origin's --max-response-body-size instead.", "16MiB"),
            new("max-request-headers-size", S + nameof(EdgeOptions.MaxRequestHeadersSize), "SIZE", "Largest total size of a request's header fields; bigger ones get 431.", "32KiB"),
            new("max-pending", S + nameof(EdgeOptions.MaxPendingExchanges), "N", "Requests in flight at once; beyond it clients get 503 at once.", "10000"),
            new("body-window", S + nameof(EdgeOptions.BodyWindow), "SIZE", "Flow-control window of each streamed body this side receives (response bodies): how much of one body may be in flight before more is granted. Sized for the link's bandwidth x round trip (4 MiB: ~80 % of 200 Mbit/s at 80 ms); it also bounds the memory one slow client can hold here.", "4MiB"),
            new("max-batch-items", S + nameof(EdgeOptions.MaxBatchItems), "N", "Most exchanges in one tunnel message.", "1024"),
            new("max-batch-bytes", S + nameof(EdgeOptions.MaxBatchBytes), "SIZE", "Soft cap on one tunnel message (a larger single request travels alone).", "1MiB"),
            new("http2-window", S + nameof(EdgeOptions.Http2Window), "SIZE", "HTTP/2 flow-control window of a tunnel stream: the responses in flight per round trip. Size it to the link's bandwidth x round trip (8MiB: 670 Mbit/s at 100 ms); too small a window caps a long link's throughput.", "8MiB"),
            new("max-batch-delay", S + nameof(EdgeOptions.MaxBatchDelay), "DURATION", "How long a tunnel message may wait for more requests before it is sent, in whole milliseconds (e.g. 1ms). 0 sends at once: batches still grow with load, with no added latency.", "0"),
            new("forwarded-headers", S + nameof(EdgeOptions.ForwardedHeaders), "append|set|off", "X-Forwarded-For/-Proto/-Host: add this hop to the client's values, replace them, or leave them alone.", "append"),
            new("admin", S + nameof(EdgeOptions.Admin), "ADDRESS", "Admin listener (HTTP/1.1) serving /metrics (Prometheus text), /healthz and /readyz, e.g. 127.0.0.1:9100; never on the traffic ports. Default: none.", null),
            new("log-format", S + nameof(EdgeOptions.LogFormat), "console|json", "Log lines for people, or one JSON object per line for log collectors. Levels per category come from Logging:LogLevel in the configuration.", "console"),
            new("access-log", S + nameof(EdgeOptions.AccessLog), "", "Log one line per exchange at Information, in the category Teleport.Edge.Access: method, target, status, duration, request and response body bytes, outcome, X-Teleport-Error stage and client address. Off, it costs nothing.", null, IsSwitch: true),
            new("otlp-endpoint", S + nameof(EdgeOptions.OtlpEndpoint), "URL", "Turns on tracing: a span per exchange, continuing the client's W3C traceparent and passed on to the origin, exported over OTLP to this collector, e.g. http://collector:4317 (gRPC; with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, e.g. http://collector:4318). The other OTEL_EXPORTER_OTLP_* variables apply. Default: no tracing.", null),
            new("config", S + "Config", "FILE", "A JSON settings file read on top of appsettings.json (keys as in appsettings.json).", null),
        ]);

    /// <summary>Builds the edge from a command line (see <see cref="Definition"/>).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="configure">Last changes before the application is built (tests route logs with it).</param>
    /// <exception cref="ArgumentException">The command line is wrong.</exception>
    public static WebApplication Build(IReadOnlyList<string> args, Action<WebApplicationBuilder>? configure = null)
    {
        TokenArguments.Refuse(args);
        var builder = ServiceHost.CreateBuilder(Definition, args);
        var services = builder.Services;
        services.AddOptions<EdgeOptions>().BindConfiguration(EdgeOptions.Section)
            .PostConfigure<IConfiguration>(static (options, configuration) =>
            {
                // Listen was a single string before it became a list; "Listen": "0.0.0.0:8080" in a JSON file
                // would otherwise bind to nothing and silently leave the default in place.
                if (options.Listen.Count == 0 && configuration[S + nameof(EdgeOptions.Listen)] is { Length: > 0 } single)
                {
                    options.Listen.Add(single);
                }

                // Likewise "Origin": "http://origin:9090", from before --origin was repeatable.
                if (options.Origin.Count == 0 && configuration[S + nameof(EdgeOptions.Origin)] is { Length: > 0 } origin)
                {
                    options.Origin.Add(origin);
                }
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<EdgeOptions>, EdgeOptionsValidator>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<EdgeOptions>>(ConfigureKestrel);
        // Kestrel waits this long for the connections it asked to close, then aborts them; the tunnel outlives it. The
        // second beyond --drain-timeout is for writing the 503s of the exchanges given up then (TunnelPool).
        services.AddOptions<HostOptions>().Configure<IOptions<EdgeOptions>>(static (host, edge) => host.ShutdownTimeout = edge.Value.DrainTimeout + TimeSpan.FromSeconds(1));
        services.AddSingleton<TunnelCounters>();
        services.AddSingleton<AccessCounters>();
        services.AddSingleton<ConnectionCounters>();
        services.AddSingleton<TunnelPool>();
        services.AddHostedService(static sp => sp.GetRequiredService<TunnelPool>());
        services.AddSingleton<EdgeRequestHandler>();
        services.AddSingleton<EdgeTracing>();
        services.AddSingleton<EdgeAccessLog>();
        services.AddSingleton<EdgeMetrics>();
        services.AddSingleton<IReadiness>(static sp => sp.GetRequiredService<EdgeMetrics>());
        // The exporter only with an admin listener: without one the metrics classes create no instruments at all.
        var admin = !string.IsNullOrEmpty(builder.Configuration[S + nameof(EdgeOptions.Admin)]);
        if (admin)
        {
            AdminEndpoint.AddServices(services, Definition.Program, EdgeMetrics.MeterName);
        }
        // Tracing only with a collector to send spans to; a bad URL is left to the validator.
        if (builder.Configuration[S + nameof(EdgeOptions.OtlpEndpoint)] is { Length: > 0 } otlp && OtlpTracing.Validate(otlp) is null)
        {
            OtlpTracing.AddServices(services, Definition.Program, EdgeTracing.SourceName, otlp);
        }

        services.AddHostedService<UnixSocketFiles>();

        configure?.Invoke(builder);
        var app = builder.Build();
        if (admin)
        {
            AdminEndpoint.Map(app);
        }

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
        ServerCertificates? certificates = null;
        // Client connections and their bytes are counted only when metrics are published.
        var metered = options.Admin is not null;
        foreach (var text in options.ListenOrDefault())
        {
            // The validator has accepted every value by now: reading IOptions<EdgeOptions>.Value ran it.
            var listener = EdgeListener.TryParse(text, out var parsed) ? parsed : throw new InvalidOperationException($"--listen '{text}' was not validated.");
            switch (listener.Kind)
            {
                case ListenerKind.Http:
                    kestrel.Listen(listener.EndPoint!, listen =>
                    {
                        // The allow list first: a refused peer's bytes are never read.
                        AllowListFilter.Apply(listen, options.AllowIp);
                        ConnectionCounters.Apply(listen, metered);
                        ConfigureCleartext(listen);
                    });
                    break;
                case ListenerKind.Unix:
                    kestrel.ListenUnixSocket(listener.SocketPath!, listen =>
                    {
                        ConnectionCounters.Apply(listen, metered);
                        ConfigureCleartext(listen);
                    });
                    break;
                case ListenerKind.Https:
                    certificates ??= ServerCertificates.TryLoad(options.ListenCertificates, options.ListenKeys, out var loaded, out var errors)
                        ? loaded
                        : throw new InvalidOperationException(string.Join(" ", errors));
                    kestrel.Listen(listener.EndPoint!, listen =>
                    {
                        // The allow list first: a refused peer gets no TLS handshake.
                        AllowListFilter.Apply(listen, options.AllowIp);
                        ConnectionCounters.Apply(listen, metered);
                        // Over TLS, Kestrel offers h2 and http/1.1 by ALPN itself, also with a handshake callback.
                        listen.Protocols = HttpProtocols.Http1AndHttp2;
                        listen.UseHttps(new TlsHandshakeCallbackOptions
                        {
                            OnConnection = static context => ValueTask.FromResult(new SslServerAuthenticationOptions
                            {
                                ServerCertificateContext = ((ServerCertificates)context.State!).Select(context.ClientHelloInfo.ServerName),
                            }),
                            OnConnectionState = certificates,
                        });
                    });
                    break;
            }
        }

        // After the traffic listeners, so the first address stays a traffic one.
        if (ListenAddress.TryParse(options.Admin, out var adminEndPoint))
        {
            AdminEndpoint.Listen(kestrel, adminEndPoint);
        }
    }

    private static void ConfigureCleartext(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        listen.Use(static next => connection => CleartextHttp2Detection.OnConnectionAsync(connection, next));
    }

    private static void LogListening(WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<EdgeOptions>>().Value;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Teleport.Edge");
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        EdgeLog.Listening(logger, string.Join(", ", addresses), string.Join(", ", options.OriginOrDefault()), options.Streams, options.Compression.ToString().ToLowerInvariant());
    }
}
