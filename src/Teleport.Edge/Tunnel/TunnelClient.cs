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
/// Keeps one tunnel stream to the origin open: connects, says hello, runs the stream, and after any
/// failure connects again with exponential backoff and jitter. Requests pick up the live stream
/// through <see cref="TryGetConnection"/> or wait for one with <see cref="WaitForConnectionAsync"/>.
/// </summary>
/// <remarks>
/// The tunnel outlives the HTTP server's graceful shutdown, so requests still in flight get their
/// answers: it closes only once the host has stopped (ApplicationStopped), not when hosted services
/// are asked to stop.
/// </remarks>
internal sealed class TunnelClient : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);

    private readonly EdgeOptions _options;
    private readonly Uri _origin;
    private readonly TunnelCounters _counters;
    private readonly ILogger<TunnelClient> _logger;
    private readonly GzipCompressionProvider _gzip;
    private readonly CancellationTokenSource _shutdown = new();
    private Task? _loop;
    private TunnelConnection? _current;
    private TaskCompletionSource<TunnelConnection> _connected = NewSignal();

    public TunnelClient(IOptions<EdgeOptions> options, TunnelCounters counters, IHostApplicationLifetime lifetime, ILogger<TunnelClient> logger)
    {
        lifetime.ApplicationStopped.Register(static s => ((TunnelClient)s!).Shutdown(), this);
        _options = options.Value;
        _origin = new Uri(_options.Origin);
        _counters = counters;
        _logger = logger;
        _gzip = new GzipCompressionProvider(_options.CompressionLevel);
    }

    /// <summary>The live stream, if there is one right now.</summary>
    public bool TryGetConnection(out TunnelConnection connection)
    {
        connection = Volatile.Read(ref _current)!;
        return connection is { IsLive: true };
    }

    /// <summary>Waits up to <paramref name="timeout"/> for a live stream; null when none came.</summary>
    public async Task<TunnelConnection?> WaitForConnectionAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (TryGetConnection(out var live))
        {
            return live;
        }

        try
        {
            return await Volatile.Read(ref _connected).Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.InsecureSkipVerify)
        {
            EdgeSecurityLog.TunnelTlsUnverified(_logger);
        }

        _loop = RunAsync(_shutdown.Token);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        Shutdown();
        if (_loop is not null)
        {
            await _loop;
        }

        _shutdown.Dispose();
    }

    private void Shutdown()
    {
        try
        {
            _shutdown.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed.
        }
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            TunnelConnection? connection = null;
            try
            {
                connection = await ConnectAsync(stoppingToken);
                failures = 0;
                _counters.StreamOpened();
                EdgeLog.TunnelConnected(_logger, _origin, connection.Hello.Agent, connection.Hello.ProtocolVersion);
                Volatile.Write(ref _current, connection);
                Interlocked.Exchange(ref _connected, NewSignal()).TrySetResult(connection);

                var reason = await connection.RunAsync(stoppingToken);
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
                Interlocked.CompareExchange(ref _current, null, connection);
                if (connection is not null)
                {
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

            // gRPC compression is chosen when the call starts; Brotli, if the origin takes it, turns it off per message below.
            if (_options.Compression is TunnelCompression.Gzip or TunnelCompression.Auto or TunnelCompression.Brotli)
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
                    StreamCompression = _options.Compression is TunnelCompression.Auto or TunnelCompression.Brotli ? StreamCodecs.Brotli : string.Empty,
                    Capabilities = { StreamCodecs.Capability(StreamCodecs.Brotli) },
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

            var sending = StreamCodecs.Resolve(_options.Compression, answer.Hello.Capabilities.Contains(StreamCodecs.Capability(StreamCodecs.Brotli)))
                ?? throw new InvalidOperationException("The origin does not support brotli stream compression (--compression brotli); use --compression auto or gzip.");
            if (sending == TunnelCompression.Brotli)
            {
                // Compressed batches must not be compressed again by gRPC.
                call.RequestStream.WriteOptions = new WriteOptions(WriteFlags.NoCompress);
            }

            return new TunnelConnection(channel, call, answer.Hello, _options, sending, ReceiveLimit, _counters, _logger);
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
            // Finds a dead peer that sent no reset (a half-open connection) and ends the stream.
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            // The whole tunnel is one HTTP/2 stream: a large window keeps it from stalling on round trips.
            InitialHttp2StreamWindowSize = 8 * 1024 * 1024,
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

    private static TimeSpan RetryDelay(int failures)
    {
        if (failures == 0)
        {
            return FirstRetryDelay;
        }

        // Exponential backoff with full jitter over the upper half, so many edges do not retry in step.
        var ceiling = Math.Min(MaxRetryDelay.TotalMilliseconds, FirstRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 16)));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + Random.Shared.NextDouble() / 2));
    }

    private static string Describe(Exception? ex) => (ex switch
    {
        null => "stopped",
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        _ => ex.GetBaseException().Message,
    }).TrimEnd('.');

    private static TaskCompletionSource<TunnelConnection> NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
