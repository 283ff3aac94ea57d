using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Protocol.V1;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// A hand-written origin for driving an edge under test: a real gRPC server on 127.0.0.1 that records
/// every message the edge sends, checks the edge's side of the contract as it goes (<see cref="Violations"/>),
/// and answers each exchange by its path:
/// <list type="bullet">
/// <item>"/hold/NAME": only when the test calls <see cref="Release"/>, so answers can be put in any order;</item>
/// <item>"/error/N": an ExchangeError with code N;</item>
/// <item>"/unknown-id/...": an answer for an id the edge never opened, then the real one, in one message;</item>
/// <item>"/hop-by-hop/...": a response carrying hop-by-hop fields, which the edge must drop;</item>
/// <item>"/second-hello/...": a hello in the middle of the stream (an origin breaking the rules);</item>
/// <item>"/end-stream/...": ends the call with UNAVAILABLE while the exchange is open;</item>
/// <item>anything else: 200 with the request body as the response body.</item>
/// </list>
/// It lists no capability the edge knows (a minimal origin) and gzip-compresses every other message it sends, so the
/// edge meets both gzip and identity messages on one stream.
/// </summary>
internal sealed class ScriptedOrigin : IAsyncDisposable
{
    /// <summary>The request body limit it announces by default; small, so the edge's own 413 is cheap to reach.</summary>
    public const ulong DefaultMaxRequestBodyBytes = 64 * 1024;

    /// <summary>The message size limit it announces and enforces.</summary>
    public const int MaxMessageBytes = 1024 * 1024;

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _holds = new();
    private readonly ConcurrentDictionary<int, Stream> _streams = new();
    private int _lastStream;
    private int _pings;

    private ScriptedOrigin(WebApplication app, ulong maxRequestBodyBytes, bool heartbeat)
    {
        _app = app;
        MaxRequestBodyBytes = maxRequestBodyBytes;
        Heartbeat = heartbeat;
    }

    /// <summary>Whether it lists the "heartbeat" capability (and answers pings).</summary>
    public bool Heartbeat { get; }

    /// <summary>Pings answered, on any stream.</summary>
    public int Pings => Volatile.Read(ref _pings);

    /// <summary>The stream (numbered from 1 in opening order) each request_start arrived on, by path.</summary>
    public ConcurrentDictionary<string, int> RequestStreams { get; } = new();

    /// <summary>The request body limit it announces; 0 announces none.</summary>
    public ulong MaxRequestBodyBytes { get; }

    public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Rules the edge broke, in words; a conforming edge leaves this empty.</summary>
    public ConcurrentQueue<string> Violations { get; } = new();

    /// <summary>The hello of every stream the edge opened.</summary>
    public ConcurrentQueue<EdgeHello> Hellos { get; } = new();

    /// <summary>The grpc-accept-encoding the edge sent on each stream.</summary>
    public ConcurrentQueue<string> AcceptEncodings { get; } = new();

    /// <summary>Every message after the hello: its kind and how many items it held.</summary>
    public ConcurrentQueue<(EdgeFrame.KindOneofCase Kind, int Items)> Frames { get; } = new();

    /// <summary>Every request_start, by the path it named (tests use unique paths).</summary>
    public ConcurrentDictionary<string, EdgeItem> Requests { get; } = new();

    /// <summary>The streams (numbered as in <see cref="RequestStreams"/>) whose edge ended its side of the call.</summary>
    public ConcurrentDictionary<int, bool> EndedByEdge { get; } = new();

    /// <summary>Every cancel: the exchange id and the reason.</summary>
    public ConcurrentDictionary<ulong, CancelReason> Cancels { get; } = new();

    public static async Task<ScriptedOrigin> StartAsync(ulong maxRequestBodyBytes = DefaultMaxRequestBodyBytes, bool heartbeat = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxMessageBytes;
            o.ResponseCompressionAlgorithm = "gzip";
        });
        ScriptedOrigin? origin = null;
        builder.Services.AddSingleton(_ => origin!);
        var app = builder.Build();
        origin = new ScriptedOrigin(app, maxRequestBodyBytes, heartbeat);
        app.MapGrpcService<ScriptedTunnel>();
        await app.StartAsync().DefaultTimeout();
        return origin;
    }

    /// <summary>Sends a drain item on every open stream whose edge listed "drain"; returns how many streams that was.</summary>
    public async Task<int> DrainAsync()
    {
        var drained = 0;
        foreach (var stream in _streams.Values)
        {
            if (stream.Hello.Capabilities.Contains("drain"))
            {
                stream.Drained = true;
                await stream.WriteAsync(new OriginFrame { Batch = new OriginBatch { Items = { new OriginItem { Drain = new Drain { Reason = "conformance drain" } } } } });
                drained++;
            }
        }

        return drained;
    }

    /// <summary>Lets the held exchange for <paramref name="path"/> be answered (200, body "released NAME").</summary>
    public void Release(string path) => Hold(path).TrySetResult();

    /// <summary>Waits until the edge has sent request_start for <paramref name="path"/>; returns it.</summary>
    public async Task<EdgeItem> WaitForRequestAsync(string path)
    {
        while (!Requests.TryGetValue(path, out var item))
        {
            await Task.Delay(10);
        }

        return Requests[path];
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().DefaultTimeout();
        await _app.DisposeAsync();
    }

    private TaskCompletionSource Hold(string path) => _holds.GetOrAdd(path, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>The gRPC service; one instance per call, the state lives in the <see cref="ScriptedOrigin"/>.</summary>
    private sealed class ScriptedTunnel(ScriptedOrigin origin) : Tunnel.TunnelBase
    {
        public override async Task Open(IAsyncStreamReader<EdgeFrame> requestStream, IServerStreamWriter<OriginFrame> responseStream, ServerCallContext context)
        {
            // From the HTTP request: ServerCallContext.RequestHeaders leaves out gRPC's own fields.
            origin.AcceptEncodings.Enqueue(context.GetHttpContext().Request.Headers["grpc-accept-encoding"].ToString());
            if (!await requestStream.MoveNext())
            {
                return;
            }

            if (requestStream.Current.KindCase != EdgeFrame.KindOneofCase.Hello)
            {
                origin.Violations.Enqueue($"[C-HELLO-1] the edge's first message was {requestStream.Current.KindCase}, not its hello");
                throw new RpcException(new Status(StatusCode.InvalidArgument, "protocol violation: the first message must be the edge's hello"));
            }

            var hello = requestStream.Current.Hello;
            origin.Hellos.Enqueue(hello);
            if (hello.ProtocolVersion != 1)
            {
                origin.Violations.Enqueue($"[C-HELLO-1] the edge's hello has protocol_version {hello.ProtocolVersion}");
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"unsupported protocol version {hello.ProtocolVersion}"));
            }

            var stream = new Stream(origin, responseStream, hello, Interlocked.Increment(ref origin._lastStream));
            origin._streams[stream.Id] = stream;
            await stream.WriteAsync(new OriginFrame
            {
                Hello = new OriginHello
                {
                    ProtocolVersion = 1,
                    MaxMessageBytes = MaxMessageBytes,
                    MaxRequestBodyBytes = origin.MaxRequestBodyBytes,
                    Agent = "conformance-scripted-origin",
                    // A name no version defines: the edge must ignore it.
                    Capabilities = { origin.Heartbeat ? ["x-conformance/unknown", "heartbeat"] : ["x-conformance/unknown"] },
                },
            });
            try
            {
                await stream.RunAsync(requestStream, context.CancellationToken);
            }
            finally
            {
                origin._streams.TryRemove(stream.Id, out _);
            }
        }
    }

    /// <summary>One tunnel stream: a reader loop, and one task per exchange writing its answer when it is due.</summary>
    private sealed class Stream(ScriptedOrigin origin, IServerStreamWriter<OriginFrame> writer, EdgeHello hello, int id)
    {
        public int Id { get; } = id;

        public EdgeHello Hello { get; } = hello;

        /// <summary>Set once a drain item has been written: the edge may start nothing more here.</summary>
        public volatile bool Drained;

        private static readonly WriteOptions Identity = new(WriteFlags.NoCompress);

        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private readonly ConcurrentDictionary<ulong, CancellationTokenSource> _open = new();
        private readonly TaskCompletionSource _endStream = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _written;

        public async Task RunAsync(IAsyncStreamReader<EdgeFrame> requests, CancellationToken cancellationToken)
        {
            var reading = ReadAsync(requests, cancellationToken);
            if (await Task.WhenAny(reading, _endStream.Task) == _endStream.Task)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the scripted origin ends the stream"));
            }

            await reading;
            if (Drained && !_open.IsEmpty)
            {
                origin.Violations.Enqueue($"[C-DRAIN-3] the edge ended its side of a drained stream with {_open.Count} exchange(s) open");
            }

            origin.EndedByEdge[Id] = true;
        }

        /// <summary>Writes one message; a gRPC stream takes one write at a time. Alternates gzip and identity.</summary>
        public async Task WriteAsync(OriginFrame frame)
        {
            await _writeLock.WaitAsync();
            try
            {
                writer.WriteOptions = _written++ % 2 == 0 ? null : Identity;
                await writer.WriteAsync(frame);
            }
            finally
            {
                _writeLock.Release();
            }
        }

        private async Task ReadAsync(IAsyncStreamReader<EdgeFrame> requests, CancellationToken cancellationToken)
        {
            while (await requests.MoveNext(cancellationToken))
            {
                var frame = requests.Current;
                origin.Frames.Enqueue((frame.KindCase, frame.Batch?.Items.Count ?? 0));
                if (frame.KindCase != EdgeFrame.KindOneofCase.Batch)
                {
                    // This origin lists no stream codec, so compressed_batch is as wrong as a second hello.
                    origin.Violations.Enqueue($"[C-CODEC-2] [C-HELLO-5] the edge sent {frame.KindCase} after its hello");
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"protocol violation: {frame.KindCase} after the hello"));
                }

                var items = frame.Batch!.Items;
                if (items.Count == 0)
                {
                    origin.Violations.Enqueue("[C-BATCH-1] the edge sent an empty batch");
                }

                foreach (var item in items)
                {
                    Receive(item);
                }
            }
        }

        private void Receive(EdgeItem item)
        {
            if (item.ExchangeId == 0)
            {
                if (item.KindCase != EdgeItem.KindOneofCase.Ping)
                {
                    origin.Violations.Enqueue($"[C-ID-1] [C-PING-2] the edge used exchange id 0 for {item.KindCase}");
                }
                else if (!origin.Heartbeat)
                {
                    origin.Violations.Enqueue("[C-PING-2] the edge pinged an origin that did not list heartbeat");
                }
                else
                {
                    Interlocked.Increment(ref origin._pings);
                    _ = WriteAsync(new OriginFrame { Batch = new OriginBatch { Items = { new OriginItem { Pong = new Pong { Nonce = item.Ping.Nonce } } } } });
                }

                return;
            }

            switch (item.KindCase)
            {
                case EdgeItem.KindOneofCase.RequestStart:
                    var cancellation = new CancellationTokenSource();
                    if (!_open.TryAdd(item.ExchangeId, cancellation))
                    {
                        origin.Violations.Enqueue($"[C-ID-2] the edge reused exchange id {item.ExchangeId} while it was open");
                        return;
                    }

                    var path = item.RequestStart.PathAndQuery.Split('?')[0];
                    if (item.RequestStart.BodyFollows)
                    {
                        origin.Violations.Enqueue($"[C-STREAM-1] the edge streamed the body of {path} to an origin that did not list streaming");
                    }

                    if (item.RequestStart.Upgrade.Length > 0)
                    {
                        origin.Violations.Enqueue($"[C-UPGRADE-1] the edge sent an upgrade ({item.RequestStart.Upgrade}) for {path} to an origin that did not list upgrade");
                    }

                    if (Drained)
                    {
                        origin.Violations.Enqueue($"[C-DRAIN-2] the edge started {path} on a stream after reading its drain");
                    }

                    origin.RequestStreams[path] = Id;
                    origin.Requests[path] = item;
                    _ = AnswerAsync(item.ExchangeId, path, item.RequestStart, cancellation.Token);
                    break;
                case EdgeItem.KindOneofCase.RequestBody or EdgeItem.KindOneofCase.WindowUpdate:
                    origin.Violations.Enqueue($"[C-STREAM-1] the edge sent {item.KindCase} to an origin that did not list streaming");
                    break;
                case EdgeItem.KindOneofCase.Cancel:
                    origin.Cancels[item.ExchangeId] = item.Cancel.Reason;
                    if (_open.TryRemove(item.ExchangeId, out var open))
                    {
                        open.Cancel();
                    }

                    break;
                default:
                    // A version 1 edge knows no other kinds: an item without one is a bug worth reporting.
                    origin.Violations.Enqueue($"the edge sent an item with no kind for exchange {item.ExchangeId}");
                    break;
            }
        }

        private async Task AnswerAsync(ulong id, string path, RequestStart start, CancellationToken cancelled)
        {
            var answer = new OriginItem { ExchangeId = id };
            var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            switch (segments.FirstOrDefault())
            {
                case "hold":
                    try
                    {
                        await origin.Hold(path).Task.WaitAsync(cancelled);
                    }
                    catch (OperationCanceledException)
                    {
                        // The edge cancelled: nothing more is sent for this id.
                        return;
                    }

                    answer.ResponseStart = Response(200, "released " + segments.Last());
                    break;
                case "error":
                    answer.Error = new ExchangeError { Code = (ErrorCode)int.Parse(segments[1], System.Globalization.CultureInfo.InvariantCulture), Message = "scripted failure" };
                    break;
                case "unknown-id":
                    // Two items in one message: one for an id the edge never opened, then the real answer.
                    _open.TryRemove(id, out _);
                    var both = Batch(new OriginItem { ExchangeId = id + 1_000_000_000, ResponseStart = Response(200, "for nobody") });
                    both.Batch.Items.Add(new OriginItem { ExchangeId = id, ResponseStart = Response(200, "for you") });
                    await WriteAsync(both);
                    return;
                case "hop-by-hop":
                    answer.ResponseStart = Response(200, "ok");
                    foreach (var (name, value) in new[] { ("Connection", "close, X-Named-By-Connection"), ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-Later"), ("Transfer-Encoding", "chunked"), ("Upgrade", "websocket"), ("X-End-To-End", "kept") })
                    {
                        answer.ResponseStart.Headers.Add(new Header { Name = name, Value = value });
                    }

                    break;
                case "second-hello":
                    await WriteAsync(new OriginFrame { Hello = new OriginHello { ProtocolVersion = 1 } });
                    return;
                case "end-stream":
                    _endStream.TrySetResult();
                    return;
                default:
                    answer.ResponseStart = Response(200, "");
                    answer.ResponseStart.Body = start.Body;
                    break;
            }

            _open.TryRemove(id, out _);
            await WriteAsync(Batch(answer));
        }

        private static OriginFrame Batch(OriginItem item) => new() { Batch = new OriginBatch { Items = { item } } };

        private static ResponseStart Response(uint status, string body)
        {
            var response = new ResponseStart { Status = status, Body = ByteString.CopyFromUtf8(body) };
            response.Headers.Add(new Header { Name = "Content-Type", Value = "text/plain" });
            response.Headers.Add(new Header { Name = "Set-Cookie", Value = "a=1" });
            response.Headers.Add(new Header { Name = "Set-Cookie", Value = "b=2" });
            return response;
        }
    }
}
