using System.IO.Compression;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Hosting;

namespace Teleport.Origin.Hosting;

/// <summary>Settings of the origin, bound from the "Origin" section (flags and TELEPORT_* variables map onto it).</summary>
internal sealed class OriginOptions
{
    public const string Section = "Origin";

    /// <summary>Address the gRPC listener binds (HTTP/2; TLS with <see cref="TlsCert"/>). Default 127.0.0.1:9090; port 0 picks a free port.</summary>
    public string Listen { get; set; } = "127.0.0.1:9090";

    /// <summary>
    /// The upstream HTTP servers, e.g. http://127.0.0.1:8081, https://app:8443, h2c://grpc:5000, unix:/run/app.sock
    /// or h2c+unix:/run/grpc.sock (see <see cref="Upstream.UpstreamAddress"/>); each request goes to one of the
    /// healthy ones, as <see cref="UpstreamBalance"/> chooses.
    /// Required: the origin never sends anywhere else, whatever a request says.
    /// </summary>
    public List<string> Upstreams { get; set; } = [];

    /// <summary>
    /// PEM file of the CA certificate(s) that https upstreams' certificates must chain to, in place of the system's
    /// trusted roots. Default: none (system trust).
    /// </summary>
    public string? UpstreamCa { get; set; }

    /// <summary>
    /// TLS server name for https upstreams, in place of the URL's host: sent as SNI, required in the certificate,
    /// and (since .NET takes SNI from it) sent as Host. Default: none (the URL's host).
    /// </summary>
    public string? UpstreamSni { get; set; }

    /// <summary>Accept any certificate from https upstreams. For tests only; logged as a warning at start. Default false.</summary>
    public bool UpstreamInsecure { get; set; }

    /// <summary>
    /// PEM certificate (leaf, then intermediates) of the gRPC listener: with <see cref="TlsKey"/> the origin serves
    /// TLS 1.2+ with HTTP/2 by ALPN. Re-read when the file changes. Default: none (cleartext HTTP/2).
    /// </summary>
    public string? TlsCert { get; set; }

    /// <summary>Unencrypted PEM private key of <see cref="TlsCert"/>. Re-read when the file changes.</summary>
    public string? TlsKey { get; set; }

    /// <summary>PEM file of the CA certificate(s) edges' client certificates must chain to; set, a client certificate is required. Default: none.</summary>
    public string? ClientCa { get; set; }

    /// <summary>
    /// File of the bearer tokens edges must send, one per line (all valid at once, for rotation); re-read when it
    /// changes. Default: none, then the TELEPORT_TOKEN variable, if set, holds the one token.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>Networks (CIDR) edges may connect from; empty lets every address connect. Default: empty.</summary>
    public List<string> AllowIp { get; set; } = [];

    /// <summary>Compression of the messages the origin sends. Default Auto (Brotli when the peer supports it, else gzip).</summary>
    public TunnelCompression Compression { get; set; } = TunnelCompression.Auto;

    /// <summary>gzip level: Fastest, Optimal or SmallestSize. Default Fastest.</summary>
    public CompressionLevel CompressionLevel { get; set; } = CompressionLevel.Fastest;

    /// <summary>Longest wait for an upstream's response head, from the end of a streamed request body (the edge may ask for less). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait for a TCP connection to an upstream. Default 5 s.</summary>
    public TimeSpan UpstreamConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How a request's upstream is chosen among the healthy ones: "power-of-two" (the less busy of two picked at
    /// random), "least-requests" (the least busy) or "round-robin" (in turn). Default power-of-two.
    /// </summary>
    public string UpstreamBalance { get; set; } = "power-of-two";

    /// <summary>
    /// How long an upstream stays out after a failed connection, or after half of its last answers (at least 10 of
    /// up to 20) were 5xx; then it is tried again. Default 10 s.
    /// </summary>
    public TimeSpan UpstreamDownTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Path (from '/', with any query) that active health checks GET on every upstream; a non-2xx answer or a failure
    /// takes the upstream out until a check passes. Default: none (no active checks; failures still take it out).
    /// </summary>
    public string? UpstreamHealthPath { get; set; }

    /// <summary>Time between active health checks of each upstream; each check may take min(interval, 2 s). Default 5 s.</summary>
    public TimeSpan UpstreamHealthInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Host header sent upstream: Keep (as the client sent it) or Upstream (the upstream's address). Default Keep.</summary>
    public HostHeaderMode HostHeader { get; set; } = HostHeaderMode.Keep;

    /// <summary>Largest request body accepted from an edge, in bytes. Default 16 MiB.</summary>
    public long MaxRequestBodySize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest upstream response body passed back, in bytes; bigger ones become 502. Default 16 MiB.</summary>
    public long MaxResponseBodySize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Exchanges run at once per tunnel stream; beyond it exchanges are refused (503 at the edge). Default 10000.</summary>
    public int MaxConcurrentExchanges { get; set; } = 10_000;

    /// <summary>Exchanges run at once across all tunnel streams of this origin; beyond it exchanges are refused (503 at the edge). Default 20000.</summary>
    public int MaxConcurrentTotal { get; set; } = 20_000;

    /// <summary>
    /// Tunnel streams open at once on this origin, counted from the call's start (before its hello); beyond it a new
    /// call is refused with RESOURCE_EXHAUSTED and logged. 1 to 1000000; default 1000.
    /// </summary>
    public int MaxStreams { get; set; } = 1000;

    /// <summary>
    /// Tunnel streams at once on one HTTP/2 connection from an edge (Kestrel's MaxStreamsPerConnection, announced in
    /// SETTINGS_MAX_CONCURRENT_STREAMS: a client waits, or gets REFUSED_STREAM if it ignores the setting). Our edge
    /// opens one stream per connection, so a small number is enough. 1 to 1000; default 8.
    /// </summary>
    public int MaxStreamsPerConnection { get; set; } = 8;

    /// <summary>
    /// How long a new tunnel stream may take to send its hello; then it is ended with DEADLINE_EXCEEDED and logged.
    /// A stream idle after its hello is legitimate and stays open. 100 ms to 5 min; default 10 s.
    /// </summary>
    public TimeSpan HelloTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// On shutdown, how long running exchanges may take to finish (new ones are refused with 503)
    /// before the tunnel streams close. Default 10 s.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Flow-control window of each streamed body this side receives, in bytes: how much of one exchange's body may be
    /// on its way before more is granted. Bounds memory per streamed exchange; needs the link's bandwidth-delay product
    /// for full speed. Default 4 MiB.
    /// </summary>
    public int BodyWindow { get; set; } = Teleport.Protocol.TunnelProtocol.DefaultBodyWindow;

    /// <summary>Most exchanges in one tunnel message. Default 1024.</summary>
    public int MaxBatchItems { get; set; } = 1024;

    /// <summary>Soft cap on one tunnel message's size, in bytes (one larger item travels alone). Default 1 MiB.</summary>
    public int MaxBatchBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// HTTP/2 flow-control window of the tunnel stream, in bytes: how much the edge's requests may be in flight, unacknowledged, on
    /// one tunnel stream. One stream can carry at most this much per round trip, so it must cover the bandwidth-delay
    /// product (8 MiB: 670 Mbit/s at 100 ms; Kestrel's default of 96 KiB caps a stream near 15 Mbit/s at 50 ms).
    /// The connection window is twice this. Default 8 MiB, 64 KiB to 16 MiB (the most .NET's HTTP/2 client accepts).
    /// </summary>
    public int Http2Window { get; set; } = 8 * 1024 * 1024;

    /// <summary>How long a tunnel message that is not full waits for more exchanges; zero sends at once (batches then grow with load only). Default 0.</summary>
    public TimeSpan MaxBatchDelay { get; set; }

    /// <summary>
    /// Address of the admin listener serving /metrics, /healthz and /readyz (host:port, port 0 picks one);
    /// null, the default, opens none. Kept off the traffic ports so clients cannot reach it.
    /// </summary>
    public string? Admin { get; set; }

    /// <summary>Console (default) or Json: one JSON object per log entry and line.</summary>
    public LogFormat LogFormat { get; set; } = LogFormat.Console;

    /// <summary>
    /// One log line per upstream call at Information in the category Teleport.Origin.Access (exchange id, method,
    /// target, upstream, status, duration, bytes, outcome). Default false: then it costs nothing per exchange.
    /// </summary>
    public bool AccessLog { get; set; }

    /// <summary>
    /// OpenTelemetry collector (OTLP) the upstream-call spans go to, e.g. http://collector:4317; the
    /// OTEL_EXPORTER_OTLP_* variables set the rest (protocol, headers). Null, the default, turns tracing off.
    /// </summary>
    public string? OtlpEndpoint { get; set; }
}

/// <summary>Which Host header the origin sends upstream.</summary>
internal enum HostHeaderMode
{
    /// <summary>The Host the client sent to the edge.</summary>
    Keep,

    /// <summary>The upstream's own host and port.</summary>
    Upstream,
}
