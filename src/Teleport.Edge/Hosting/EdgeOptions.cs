using System.IO.Compression;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Hosting;

/// <summary>Settings of the edge, bound from the "Edge" section (flags and TELEPORT_* variables map onto it).</summary>
internal sealed class EdgeOptions
{
    public const string Section = "Edge";

    /// <summary>The listener used when <see cref="Listen"/> is empty.</summary>
    public const string DefaultListen = "127.0.0.1:8080";

    /// <summary>
    /// Where clients connect, one entry per listener (see <see cref="EdgeListener"/>): "host:port" or "http://host:port"
    /// (HTTP/1.1 and cleartext HTTP/2), "https://host:port" (TLS; HTTP/1.1 or HTTP/2 by ALPN) or "unix:/path/to.sock".
    /// Empty means <see cref="DefaultListen"/>: the binder appends to a list, so a default item here could never be
    /// replaced. Port 0 picks a free port.
    /// </summary>
    public List<string> Listen { get; set; } = [];

    /// <summary>
    /// PEM certificate files for the https:// listeners, leaf first, then any intermediates. The one whose names
    /// match the client's SNI is served; the first one when none matches or the client sends no SNI.
    /// </summary>
    public List<string> ListenCertificates { get; set; } = [];

    /// <summary>
    /// Unencrypted PEM private keys, one per <see cref="ListenCertificates"/> entry in the same order; empty when
    /// each certificate file holds its own key.
    /// </summary>
    public List<string> ListenKeys { get; set; } = [];

    /// <summary>The listeners to open: <see cref="Listen"/>, or <see cref="DefaultListen"/> when it is empty.</summary>
    public IReadOnlyList<string> ListenOrDefault() => Listen.Count == 0 ? [DefaultListen] : Listen;

    /// <summary>Permissions of the unix: listeners' socket files, in octal (e.g. 660). Default: as the umask leaves them.</summary>
    public string? ListenUnixMode { get; set; }

    /// <summary>The origin used when <see cref="Origin"/> is empty.</summary>
    public const string DefaultOrigin = "http://127.0.0.1:9090";

    /// <summary>
    /// gRPC addresses of the origins, http://host:port or https://host:port (TLS), one entry each; new exchanges go to
    /// the least-loaded live stream among them. Empty means <see cref="DefaultOrigin"/> (see <see cref="Listen"/> for why).
    /// </summary>
    public List<string> Origin { get; set; } = [];

    /// <summary>The origins to connect to: <see cref="Origin"/>, or <see cref="DefaultOrigin"/> when it is empty.</summary>
    public IReadOnlyList<string> OriginOrDefault() => Origin.Count == 0 ? [DefaultOrigin] : Origin;

    /// <summary>Tunnel streams opened to each origin, each on its own connection. Default 1.</summary>
    public int Streams { get; set; } = 1;

    /// <summary>How often the edge pings each stream (when the origin supports it) to measure the round trip. Default 5 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A stream that brings nothing from the origin for this long is taken for dead and replaced. Default 10 s.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait before reconnecting a lost stream; doubles per failed attempt, with jitter. Default 100 ms.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between reconnect attempts. Default 1 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Also retry GET, HEAD, OPTIONS, TRACE, PUT and DELETE requests that a lost stream may already have delivered
    /// (they are idempotent by RFC 9110). Requests the origin surely did not start are always retried. Default false.
    /// </summary>
    public bool RetryIdempotent { get; set; }

    /// <summary>PEM file of the CA certificate(s) an https origin's certificate must chain to, in place of the system's roots. Default: none.</summary>
    public string? CaFile { get; set; }

    /// <summary>Accept any certificate from an https origin. For tests only; logged as a warning at every start. Default false.</summary>
    public bool InsecureSkipVerify { get; set; }

    /// <summary>PEM client certificate presented to an https origin that asks for one (mutual TLS). Default: none.</summary>
    public string? ClientCert { get; set; }

    /// <summary>Unencrypted PEM private key of <see cref="ClientCert"/>.</summary>
    public string? ClientKey { get; set; }

    /// <summary>
    /// File whose first token (one per line) the edge sends as "authorization: Bearer TOKEN"; re-read on every
    /// reconnect. Default: none, then the TELEPORT_TOKEN variable, if set.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>Networks (CIDR) HTTP clients may connect from, on TCP listeners; empty lets every address connect. Default: empty.</summary>
    public List<string> AllowIp { get; set; } = [];

    /// <summary>Compression of the messages the edge sends. Default Auto (Brotli when the peer supports it, else gzip).</summary>
    public TunnelCompression Compression { get; set; } = TunnelCompression.Auto;

    /// <summary>gzip level: Fastest, Optimal or SmallestSize. Default Fastest.</summary>
    public CompressionLevel CompressionLevel { get; set; } = CompressionLevel.Fastest;

    /// <summary>How long the response head may take (from the end of a streamed request body) before the client gets 504. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>PREFIX=DURATION entries: the request timeout of the paths under PREFIX, in place of <see cref="RequestTimeout"/>.</summary>
    public List<string> RouteTimeout { get; set; } = [];

    /// <summary>How long a request waits for a tunnel to the origin before the client gets 503. Default 5 s.</summary>
    public TimeSpan TunnelWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// On shutdown, how long the requests already accepted may take to finish; those still waiting then get 503, and
    /// connections still open a second later are closed (the host's shutdown timeout, so it also bounds a connection
    /// Kestrel itself fails to close). Default 30 s.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest request body accepted, in bytes; bigger ones get 413. Default 16 MiB.</summary>
    public long MaxRequestBodySize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest response body accepted from the origin, in bytes. Default 16 MiB.</summary>
    public long MaxResponseBodySize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest total size of a request's header fields, in bytes (431 beyond). Default 32 KiB.</summary>
    public int MaxRequestHeadersSize { get; set; } = 32 * 1024;

    /// <summary>Exchanges waiting for the origin at once; beyond it clients get 503. Default 10000.</summary>
    public int MaxPendingExchanges { get; set; } = 10_000;

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
    /// HTTP/2 flow-control window of the tunnel stream, in bytes: how much the origin's responses may be in flight, unacknowledged, on
    /// one tunnel stream. One stream can carry at most this much per round trip, so it must cover the bandwidth-delay
    /// product (8 MiB: 670 Mbit/s at 100 ms; Kestrel's default of 96 KiB caps a stream near 15 Mbit/s at 50 ms).
    /// The edge's HTTP/2 client may grow it when it measures a longer round trip. Default 8 MiB, 64 KiB to 16 MiB (the most .NET's HTTP/2 client accepts).
    /// </summary>
    public int Http2Window { get; set; } = 8 * 1024 * 1024;

    /// <summary>How long a tunnel message that is not full waits for more exchanges; zero sends at once (batches then grow with load only). Default 0.</summary>
    public TimeSpan MaxBatchDelay { get; set; }

    /// <summary>X-Forwarded-For/-Proto/-Host: Append to what the client sent, Set (replace) or Off. Default Append.</summary>
    public ForwardedHeadersMode ForwardedHeaders { get; set; } = ForwardedHeadersMode.Append;

    /// <summary>
    /// Address of the admin listener serving /metrics, /healthz and /readyz (host:port, port 0 picks one);
    /// null, the default, opens none. Kept off the traffic ports so clients cannot reach it.
    /// </summary>
    public string? Admin { get; set; }

    /// <summary>Console (default) or Json: one JSON object per log entry and line.</summary>
    public LogFormat LogFormat { get; set; } = LogFormat.Console;

    /// <summary>
    /// One log line per exchange at Information in the category Teleport.Edge.Access (method, target, status,
    /// duration, bytes, outcome, stage, client). Default false: then it costs nothing per request.
    /// </summary>
    public bool AccessLog { get; set; }

    /// <summary>
    /// OpenTelemetry collector (OTLP) the exchange spans go to, e.g. http://collector:4317; the OTEL_EXPORTER_OTLP_*
    /// variables set the rest (protocol, headers). Null, the default, turns tracing off: no span is made.
    /// </summary>
    public string? OtlpEndpoint { get; set; }
}

/// <summary>What the edge does with X-Forwarded-* headers.</summary>
internal enum ForwardedHeadersMode
{
    /// <summary>Add this hop to the values the client sent.</summary>
    Append,

    /// <summary>Replace the client's values with this hop's.</summary>
    Set,

    /// <summary>Forward the client's values untouched and add nothing.</summary>
    Off,
}
