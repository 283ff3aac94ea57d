using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using Teleport.Edge.Hosting;
using Teleport.Edge.Security;
using Teleport.Protocol;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Framing;
using Teleport.Protocol.Security;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Tunnel;

/// <summary>
/// Keeps one tunnel stream to one origin open: connects, says hello, runs the stream, and after any failure
/// connects again with exponential backoff and jitter. When the origin drains the stream, a replacement is
/// opened at once (behind a load balancer it may reach another instance) while the old one finishes.
/// </summary>
internal sealed class TunnelLink
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);

    private readonly EdgeOptions _options;
    private readonly Uri _origin;
    private readonly OriginLoad _load;
    private readonly TunnelCounters _counters;
    private readonly ILogger _logger;
    private readonly GzipCompressionProvider _gzip;
    private readonly Action<TunnelConnection> _connected;
    private readonly CancellationToken _drainExpired;
    private TunnelConnection? _current;

    /// <param name="connected">Told of every new live stream (requests waiting for one are released).</param>
    /// <param name="drainExpired">Fires when the edge's --drain-timeout has run out on shutdown (see <see cref="TunnelConnection"/>).</param>
    public TunnelLink(EdgeOptions options, Uri origin, OriginLoad load, GzipCompressionProvider gzip, TunnelCounters counters, ILogger logger, Action<TunnelConnection> connected, CancellationToken drainExpired)
    {
        _drainExpired = drainExpired;
        _options = options;
        _origin = origin;
        _load = load;
        _gzip = gzip;
        _counters = counters;
        _logger = logger;
        _connected = connected;
    }

    public Uri Origin => _origin;

    /// <summary>The stream now taking new exchanges, if any (live and not draining).</summary>
    public TunnelConnection? Current
    {
        get
        {
            var connection = Volatile.Read(ref _current);
            return connection is { IsLive: true, IsDraining: false } ? connection : null;
        }
    }

    /// <summary>Connects and reconnects until <paramref name="stoppingToken"/> fires; then waits for every stream it opened to close.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        var draining = new List<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            TunnelConnection? connection = null;
            Task<Exception?>? run = null;
            try
            {
                connection = await ConnectAsync(stoppingToken);
                failures = 0;
                _counters.StreamOpened();
                EdgeLog.TunnelConnected(_logger, _origin, connection.Hello.Agent, connection.Hello.ProtocolVersion, connection.Sending.ToString().ToLowerInvariant(), connection.Hello.StreamCompression is { Length: > 0 } codec ? codec : "gzip or none");
                Volatile.Write(ref _current, connection);
                _connected(connection);

                run = connection.RunAsync(stoppingToken);
                if (await Task.WhenAny(run, connection.Drained) != run)
                {
                    // The origin takes nothing new on this stream: open the next one now, let this one finish its exchanges.
                    EdgeLog.TunnelDraining(_logger, _origin, connection.DrainReason);
                    draining.Add(FinishAsync(connection, run));
                    connection = null;
                    draining.RemoveAll(static t => t.IsCompleted);
                    continue;
                }

                var reason = await run;
                if (!stoppingToken.IsCancellationRequested)
                {
                    EdgeLog.TunnelLost(_logger, _origin, Describe(reason));
                }
            }
            catch (Exception ex)
            {
                if (stoppingToken.IsCancellationRequested)
                {
                    break;
                }

                failures++;
                if (ex is RpcException { StatusCode: StatusCode.Unauthenticated })
                {
                    // A wrong token never heals by retrying alone: say what to change (requests meanwhile get 503).
                    EdgeSecurityLog.TunnelUnauthenticated(_logger, _origin);
                }
                else
                {
                    EdgeLog.TunnelConnectFailed(_logger, _origin, failures, Describe(ex));
                }
            }
            finally
            {
                if (connection is not null)
                {
                    Interlocked.CompareExchange(ref _current, null, connection);
                    await connection.DisposeAsync();
                }
            }

            try
            {
                await Task.Delay(RetryDelay(failures), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await Task.WhenAll(draining);
    }

    /// <summary>Lets a draining stream run until the origin ends it (or the edge stops), then frees it.</summary>
    private async Task FinishAsync(TunnelConnection connection, Task<Exception?> run)
    {
        try
        {
            await run;
        }
        finally
        {
            Interlocked.CompareExchange(ref _current, null, connection);
            await connection.DisposeAsync();
        }
    }

    private async Task<TunnelConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var channel = CreateChannel();
        AsyncDuplexStreamingCall<EdgeFrame, OriginFrame>? call = null;
        try
        {
            var headers = new Metadata();
            // Read on every attempt, so a rotated token file is used from the next reconnect on.
            if (SharedTokens.Configured(_options.TokenFile, Environment.GetEnvironmentVariable))
            {
                headers.Add(SharedTokens.MetadataKey, SharedTokens.TryLoad(_options.TokenFile, Environment.GetEnvironmentVariable, out var tokens, out var tokenError)
                    ? tokens.AuthorizationValue
                    : throw new InvalidOperationException(tokenError));
            }

            // gRPC compression is chosen when the call starts; a stream codec, if the origin takes it, turns it off per message below.
            if (_options.Compression != TunnelCompression.None)
            {
                headers.Add(TunnelProtocol.ClientEncodingMetadataKey, GzipCompressionProvider.Name);
            }

            call = new global::Teleport.Protocol.V1.Tunnel.TunnelClient(channel).Open(headers, cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new EdgeFrame
            {
                Hello = new EdgeHello
                {
                    ProtocolVersion = TunnelProtocol.Version,
                    MaxMessageBytes = (uint)ReceiveLimit,
                    Agent = TunnelProtocol.Agent("teleport-edge"),
                    // What the edge will send if the origin lists the capability (otherwise it falls back or fails).
                    StreamCompression = StreamCodecs.Preferred(_options.Compression),
                    Capabilities = { StreamCodecs.Capability(StreamCodecs.Zstd), StreamCodecs.Capability(StreamCodecs.Brotli), TunnelProtocol.DrainCapability, TunnelProtocol.StreamingCapability, TunnelProtocol.UpgradeCapability },
                    ExchangeWindow = (uint)_options.BodyWindow,
                },
            }, cancellationToken);

            using var helloTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            helloTimeout.CancelAfter(HelloTimeout);
            if (!await call.ResponseStream.MoveNext(helloTimeout.Token))
            {
                throw new IOException("The origin ended the stream before its hello.");
            }

            var answer = call.ResponseStream.Current;
            if (answer.KindCase != OriginFrame.KindOneofCase.Hello)
            {
                throw new InvalidOperationException($"Protocol violation: the origin's first message was {answer.KindCase}, not its hello.");
            }

            if (!StreamCodecs.CanDecode(answer.Hello.StreamCompression))
            {
                throw new InvalidOperationException($"The origin wants to send '{answer.Hello.StreamCompression}' stream compression, which this edge cannot decode.");
            }

            // The origin decodes what the edge's hello named: that codec, if the origin lists it, or none.
            var named = StreamCodecs.Preferred(_options.Compression);
            var originCapabilities = answer.Hello.Capabilities;
            var sending = StreamCodecs.Resolve(_options.Compression, codec => codec == named && originCapabilities.Contains(StreamCodecs.Capability(codec)))
                ?? throw new InvalidOperationException($"The origin does not support {named} stream compression (--compression {named}); use --compression auto or gzip.");
            if (StreamCodecs.IsStreamCodec(sending))
            {
                // Compressed batches must not be compressed again by gRPC.
                call.RequestStream.WriteOptions = new WriteOptions(WriteFlags.NoCompress);
            }

            return new TunnelConnection(channel, call, answer.Hello, _options, sending, ReceiveLimit, _load, _counters, _drainExpired, _logger);
        }
        catch
        {
            call?.Dispose();
            channel.Dispose();
            throw;
        }
    }

    private int ReceiveLimit => BatchLimits.ReceiveLimit(_options.MaxResponseBodySize, _options.MaxBatchBytes);

    private GrpcChannel CreateChannel()
    {
        var handler = new SocketsHttpHandler
        {
            // One TCP connection carries the whole tunnel.
            EnableMultipleHttp2Connections = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            // Finds a dead peer that sent no reset (a half-open connection) also when the origin has no heartbeat.
            // SocketsHttpHandler takes no less than a second for either.
            KeepAlivePingDelay = Max(_options.HeartbeatInterval, TimeSpan.FromSeconds(1)),
            KeepAlivePingTimeout = Max(_options.HeartbeatTimeout - _options.HeartbeatInterval, TimeSpan.FromSeconds(1)),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            // The whole tunnel is one HTTP/2 stream: a window below the bandwidth-delay product stalls it every round
            // trip (--http2-window). .NET grows it further when it measures a longer round trip.
            InitialHttp2StreamWindowSize = _options.Http2Window,
            UseProxy = false,
            ConnectCallback = (context, cancellationToken) => CountingStream.ConnectAsync(context, _counters, cancellationToken),
        };
        if (_origin.Scheme == Uri.UriSchemeHttps)
        {
            handler.SslOptions = EdgeTls.ClientOptions(_options, _origin, _logger);
        }

        return GrpcChannel.ForAddress(_origin, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = ReceiveLimit,
            MaxSendMessageSize = null,
            // gzip is always accepted; --compression only decides what this side sends.
            CompressionProviders = [_gzip],
        });
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private TimeSpan RetryDelay(int failures)
    {
        var first = _options.ReconnectDelay.TotalMilliseconds;
        if (failures == 0)
        {
            return _options.ReconnectDelay;
        }

        // Exponential backoff with jitter over the upper half, so many edges do not retry in step.
        var ceiling = Math.Min(_options.ReconnectMaxDelay.TotalMilliseconds, first * Math.Pow(2, Math.Min(failures, 16)));
        return TimeSpan.FromMilliseconds(Math.Max(first, ceiling * (0.5 + Random.Shared.NextDouble() / 2)));
    }

    private static string Describe(Exception? ex) => (ex switch
    {
        null => "stopped",
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        _ => ex.GetBaseException().Message,
    }).TrimEnd('.');
}
