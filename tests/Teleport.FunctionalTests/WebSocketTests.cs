using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>
/// WebSockets (HTTP/1.1 Upgrade, and HTTP/2 extended CONNECT on the edge's h2c listener) through edge and origin: both
/// directions streamed, ended by either side.
/// </summary>
public sealed class WebSocketTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Echo_TextAndBinaryAndCloseHandshake_ArriveExactly_BodyLimitsDoNotApply()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        // Body limits far under the socket's traffic: they bound request and response bodies, not an upgraded connection.
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-request-body-size", "64KiB", "--max-response-body-size", "64KiB", "--access-log");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--max-request-body-size", "64KiB", "--access-log");
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("echo");

        await socket.ConnectAsync(SocketUri(edge, "/echo"), CancellationToken.None).DefaultTimeout();
        Assert.Equal("echo", socket.SubProtocol);

        await EchoTextBinaryAndCloseAsync(socket, upstream);
        // Logged once the socket has ended, with its 101, as a success.
        await edge.WaitUntilAsync(e => e.Logs.Any(l => l.Contains("GET /echo 101 ", StringComparison.Ordinal) && l.Contains(" success ", StringComparison.Ordinal))).DefaultTimeout();
        await origin.WaitUntilAsync(o => o.Logs.Any(l => l.Contains("GET /echo -> ", StringComparison.Ordinal) && l.Contains(" 101 ", StringComparison.Ordinal) && l.EndsWith(" success", StringComparison.Ordinal))).DefaultTimeout();
        AssertRelayedBytes(edge, "GET /echo 101 ");
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Http2_Echo_TextAndBinaryAndCloseHandshake_ArriveExactly_AccessLogCountsTheBytes()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--access-log");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--access-log");
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using var socket = Http2Socket();
        socket.Options.AddSubProtocol("echo");
        socket.Options.SetRequestHeader("Origin", "http://app.example");

        await socket.ConnectAsync(SocketUri(edge, "/echo"), invoker, CancellationToken.None).DefaultTimeout();
        Assert.Equal("echo", socket.SubProtocol);
        // The HTTP/1.1 handshake the edge made of the extended CONNECT, with a key the client never sent.
        var handshake = await upstream.Handshakes.Task.DefaultTimeout();
        Assert.Equal(("GET", "HTTP/1.1", "13", "http://app.example"), (handshake.Method, handshake.Protocol, handshake.Version, handshake.Origin));
        Assert.Equal(16, Convert.FromBase64String(handshake.Key).Length);

        await EchoTextBinaryAndCloseAsync(socket, upstream);
        // The client's side of it: an extended CONNECT answered 200 (RFC 8441 5).
        await edge.WaitUntilAsync(e => e.Logs.Any(l => l.Contains("CONNECT /echo 200 ", StringComparison.Ordinal) && l.Contains(" success ", StringComparison.Ordinal))).DefaultTimeout();
        await origin.WaitUntilAsync(o => o.Logs.Any(l => l.Contains("GET /echo -> ", StringComparison.Ordinal) && l.Contains(" 101 ", StringComparison.Ordinal) && l.EndsWith(" success", StringComparison.Ordinal))).DefaultTimeout();
        AssertRelayedBytes(edge, "CONNECT /echo 200 ");
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Http2_TlsListener_EchoedAsOnH2c()
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Teleport Test CA");
        using var server = certificates.Issue(ca, "edge.test", ["edge.test"], loopbackAddress: true);
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address,
            "--listen", "https://127.0.0.1:0", "--listen-cert", certificates.WriteCertificate(server), "--listen-key", certificates.WriteKey(server));
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(ca);
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy } });
        using var socket = Http2Socket();

        // ALPN settles on h2, and the extended CONNECT goes as on h2c.
        await socket.ConnectAsync(new Uri($"wss://{edge.AddressOf("https").Authority}/echo"), invoker, CancellationToken.None).DefaultTimeout();
        await SendAsync(socket, Encoding.UTF8.GetBytes("over tls"), WebSocketMessageType.Text);
        Assert.Equal(("over tls", WebSocketMessageType.Text), Text(await ReceiveAsync(socket)));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).DefaultTimeout();

        Assert.Equal((WebSocketCloseStatus.NormalClosure, "bye"), await upstream.Closed.Task.DefaultTimeout());
        Assert.Empty(edge.ErrorLogs);
    }

    [Fact]
    public async Task Http2_ConcurrentSocketsOnOneConnection_EachEchoedExactly()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var connections = 0;
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                Interlocked.Increment(ref connections);
                var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await tcp.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(tcp, ownsSocket: true);
            },
        });

        // The first socket opens the connection; the others join it at once, while it is still open.
        using var first = Http2Socket();
        await first.ConnectAsync(SocketUri(edge, "/echo"), invoker, CancellationToken.None).DefaultTimeout();
        var sockets = Enumerable.Range(0, 20).Select(async n =>
        {
            using var socket = Http2Socket();
            await socket.ConnectAsync(SocketUri(edge, "/echo"), invoker, CancellationToken.None);
            await EchoMessagesAndCloseAsync(socket, n, messages: 4);
        }).ToList();

        await Task.WhenAll(sockets).DefaultTimeout();
        await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).DefaultTimeout();
        Assert.Equal(1, Volatile.Read(ref connections));
        // The upstream counts a close once its own close returns, which may be after the client's has.
        await up.WaitUntilAsync(_ => upstream.ClosedCount >= 21).DefaultTimeout();
        Assert.Equal(21, upstream.ClosedCount);
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Http2_OtherProtocol_Answered501_NeverForwarded()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        await using var connection = await RawHttp2Connection.ConnectAsync(edge.Address).DefaultTimeout();

        // RFC 8441 3: a client may send an extended CONNECT only once the server announced SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8).
        var settings = await connection.ReadServerSettingsAsync().DefaultTimeout();
        Assert.Equal(1u, settings.GetValueOrDefault((ushort)0x8));
        await connection.WriteHeadersAsync(1, RawHttp2Connection.Request("CONNECT", "/chat", edge.Authority, (":protocol", "foo")), endStream: false).DefaultTimeout();

        var answer = await connection.ReadUntilAsync(f => f.Type == RawHttp2Connection.Headers && f.StreamId == 1).DefaultTimeout();
        Assert.Equal(501, answer?.Status);
        Assert.Contains("upgrade-not-supported", Encoding.Latin1.GetString(answer!.Payload), StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("/refuse", HttpStatusCode.Forbidden)]
    // A 2xx would open the socket over HTTP/2 (RFC 8441 5): one without a switch is no WebSocket, so 502.
    [InlineData("/no-switch", HttpStatusCode.BadGateway)]
    public async Task Http2_UpstreamRefusesTheUpgrade_ClientSeesTheStatus(string path, HttpStatusCode expected)
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using var socket = Http2Socket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(SocketUri(edge, path), invoker, CancellationToken.None).DefaultTimeout());

        Assert.Equal(expected, socket.HttpStatusCode);
        // The connection stays usable for the next socket.
        using var next = Http2Socket();
        await next.ConnectAsync(SocketUri(edge, "/echo"), invoker, CancellationToken.None).DefaultTimeout();
        await next.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).DefaultTimeout();
        Assert.Empty(edge.ErrorLogs);
    }

    [Fact]
    public async Task HundredConcurrentSockets_EachEchoedExactly_OrdinaryRequestsStillAnswered()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var sockets = Enumerable.Range(0, 100).Select(async n =>
        {
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(SocketUri(edge, "/echo"), CancellationToken.None);
            await EchoMessagesAndCloseAsync(socket, n, messages: 5);
        }).ToList();
        // While the sockets run, the same edge and tunnel still answer ordinary requests.
        var plain = Enumerable.Range(0, 20).Select(async _ => await client.GetStringAsync("/plain")).ToList();

        await Task.WhenAll(sockets).DefaultTimeout();
        Assert.All(await Task.WhenAll(plain).DefaultTimeout(), body => Assert.Equal("plain", body));
        await up.WaitUntilAsync(_ => upstream.ClosedCount >= 100).DefaultTimeout();
        Assert.Equal(100, upstream.ClosedCount);
        Assert.Equal(1, edge.Counters.StreamsOpened);
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task SocketIdleLongerThanTheRequestTimeout_StaysOpen()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--request-timeout", "200ms");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--request-timeout", "200ms");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(SocketUri(edge, "/echo"), CancellationToken.None).DefaultTimeout();

        // Past the origin's timeout and the edge's deadline (the timeout, 2 s of grace and a 1 s sweep): the timeout
        // bounds the wait for the 101 only, so a quiet socket is not cut off.
        await Task.Delay(TimeSpan.FromSeconds(3.5));

        await SendAsync(socket, Encoding.UTF8.GetBytes("still here"), WebSocketMessageType.Text);
        Assert.Equal(("still here", WebSocketMessageType.Text), Text(await ReceiveAsync(socket)));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).DefaultTimeout();
    }

    [Fact]
    public async Task Http2_SocketIdlePastTheMinimumDataRateGrace_StaysOpen()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--request-timeout", "200ms");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--request-timeout", "200ms");
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using var socket = Http2Socket();
        await socket.ConnectAsync(SocketUri(edge, "/echo"), invoker, CancellationToken.None).DefaultTimeout();

        // Past the request timeout with its grace, and past Kestrel's minimum request body data rate grace (5 s): a quiet
        // socket's stream is neither a late answer nor a slow request body.
        await Task.Delay(TimeSpan.FromSeconds(6.5));

        await SendAsync(socket, Encoding.UTF8.GetBytes("still here"), WebSocketMessageType.Text);
        Assert.Equal(("still here", WebSocketMessageType.Text), Text(await ReceiveAsync(socket)));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).DefaultTimeout();
    }

    [Fact]
    public async Task UpstreamAbortsTheSocket_ClientSeesTheConnectionEnd()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(SocketUri(edge, "/abort"), CancellationToken.None).DefaultTimeout();

        await SendAsync(socket, Encoding.UTF8.GetBytes("then go away"), WebSocketMessageType.Text);

        // Not a hang: the socket ends without a close handshake.
        await Assert.ThrowsAsync<WebSocketException>(() => ReceiveAsync(socket));
        // The tunnel itself stays.
        Assert.Equal(1, edge.Counters.StreamsOpened);
    }

    [Fact]
    public async Task ClientAbortsTheSocket_UpstreamSeesItEnd()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(SocketUri(edge, "/echo"), CancellationToken.None).DefaultTimeout();
        await SendAsync(socket, Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text);
        Assert.Equal(("ping", WebSocketMessageType.Text), Text(await ReceiveAsync(socket)));

        socket.Abort();
        socket.Dispose();

        // The upstream's receive ends (an error: no close handshake), and with it the origin's exchange.
        await upstream.Broken.Task.DefaultTimeout();
        await origin.WaitUntilAsync(o => o.App.Services.GetRequiredService<Teleport.Origin.Tunnel.OriginActivity>().Active == 0).DefaultTimeout();
        Assert.Equal(1, edge.Counters.StreamsOpened);
    }

    [Theory]
    [InlineData("Connection: Upgrade\r\nUpgrade: foo\r\n")]
    [InlineData("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n")]
    public async Task OtherUpgradeTokens_Answered501_NeverForwarded(string fields)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, text) = await RawHttp.SendAsync(edge.Address, $"GET /chat HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(501, status);
        Assert.Contains("X-Teleport-Error: upgrade-not-supported", text, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task UpstreamRefusesTheUpgrade_ClientGetsItsAnswer()
    {
        var upstream = new SocketUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(SocketUri(edge, "/refuse"), CancellationToken.None).DefaultTimeout());
        Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);

        // The same handshake by hand: the upstream's answer, body and all, and the connection is still HTTP.
        var (status, text) = await RawHttp.SendAsync(edge.Address,
            "GET /refuse HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").DefaultTimeout();
        Assert.Equal(403, status);
        Assert.EndsWith("no sockets here", text, StringComparison.Ordinal);
    }

    private static Uri SocketUri(TestServer edge, string path) => new($"ws://{edge.Authority}{path}");

    /// <summary>A client socket that connects with an HTTP/2 extended CONNECT only (prior knowledge on ws://).</summary>
    private static ClientWebSocket Http2Socket()
    {
        var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return socket;
    }

    /// <summary>
    /// The access log's byte counts of the echo exchange of the Echo tests, frame bytes after the switch: the client's
    /// exactly (each message one masked frame: text 6+13, binary 14+1 MiB, close 6+2+3); the upstream's echo at least
    /// the same payloads unmasked, in as many frames as its reads cut them into.
    /// </summary>
    private static void AssertRelayedBytes(TestServer edge, string linePrefix)
    {
        var line = edge.Logs.Single(l => l.Contains(linePrefix, StringComparison.Ordinal));
        var counts = Regex.Match(line, @" (-?\d+) B in (-?\d+) B out ");
        Assert.True(counts.Success, line);
        Assert.Equal(19 + 14 + 1024 * 1024 + 11, long.Parse(counts.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(long.Parse(counts.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), 15 + 10 + 1024 * 1024 + 7, 15 + 1024 * 1024 + 7 + 64 * 1024);
    }

    /// <summary>
    /// A text message, a 1 MiB binary one (many chunks and several window grants each way), then the close handshake,
    /// seen at both ends with its status and description.
    /// </summary>
    private static async Task EchoTextBinaryAndCloseAsync(WebSocket socket, SocketUpstream upstream)
    {
        await SendAsync(socket, Encoding.UTF8.GetBytes("hello, tunnel"), WebSocketMessageType.Text);
        Assert.Equal(("hello, tunnel", WebSocketMessageType.Text), Text(await ReceiveAsync(socket)));
        var big = RandomNumberGenerator.GetBytes(1024 * 1024);
        await SendAsync(socket, big, WebSocketMessageType.Binary);
        var (echoed, type) = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.True(big.AsSpan().SequenceEqual(echoed), "the 1 MiB binary message came back changed");

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).DefaultTimeout();
        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal("bye", socket.CloseStatusDescription);
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "bye"), await upstream.Closed.Task.DefaultTimeout());
    }

    /// <summary>
    /// Socket <paramref name="n"/> of many: text and binary messages in turn (binary up to 100 KB, different per socket),
    /// each echoed back unchanged before the next, then a close handshake whose description comes back.
    /// </summary>
    private static async Task EchoMessagesAndCloseAsync(WebSocket socket, int n, int messages)
    {
        for (var i = 0; i < messages; i++)
        {
            var type = i % 2 == 0 ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
            var message = type == WebSocketMessageType.Text
                ? Encoding.UTF8.GetBytes($"socket {n} message {i}")
                : RandomNumberGenerator.GetBytes(1 + (n * 997 + i * 4093) % 100_000);
            await SendAsync(socket, message, type);
            var (echoed, echoedType) = await ReceiveAsync(socket);
            Assert.Equal(type, echoedType);
            Assert.True(message.AsSpan().SequenceEqual(echoed), $"socket {n} message {i} came back changed");
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, $"done {n}", CancellationToken.None);
        Assert.Equal($"done {n}", socket.CloseStatusDescription);
    }

    private static Task SendAsync(WebSocket socket, byte[] message, WebSocketMessageType type)
        => socket.SendAsync(message, type, endOfMessage: true, CancellationToken.None).DefaultTimeout();

    /// <summary>Reads one whole message, however it was fragmented on the way.</summary>
    private static async Task<(byte[] Message, WebSocketMessageType Type)> ReceiveAsync(WebSocket socket)
    {
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout();
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (message.ToArray(), result.MessageType);
            }
        }
    }

    private static (string, WebSocketMessageType) Text((byte[] Message, WebSocketMessageType Type) received)
        => (Encoding.UTF8.GetString(received.Message), received.Type);

    /// <summary>
    /// A Kestrel WebSocket upstream: /echo sends every frame back as received and answers a close with the client's
    /// status; /abort aborts the connection after the first message; /refuse answers 403; /no-switch answers a
    /// handshake 200 without switching; other requests "plain".
    /// </summary>
    private sealed class SocketUpstream
    {
        private int _closed;

        /// <summary>The first handshake the upstream saw.</summary>
        public TaskCompletionSource<Handshake> Handshakes { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The status and description of the first close handshake the upstream saw.</summary>
        public TaskCompletionSource<(WebSocketCloseStatus?, string?)> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when a socket ended without a close handshake.</summary>
        public TaskCompletionSource Broken { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int ClosedCount => Volatile.Read(ref _closed);

        public void Configure(WebApplication app)
        {
            app.UseWebSockets();
            app.Run(HandleAsync);
        }

        private async Task HandleAsync(HttpContext context)
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                await context.Response.WriteAsync("plain");
                return;
            }

            var request = context.Request;
            Handshakes.TrySetResult(new Handshake(request.Method, request.Protocol, request.Headers.SecWebSocketVersion.ToString(),
                request.Headers.SecWebSocketKey.ToString(), request.Headers.Origin.ToString()));
            if (request.Path == "/refuse")
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("no sockets here");
                return;
            }

            if (request.Path == "/no-switch")
            {
                await context.Response.WriteAsync("not a socket");
                return;
            }

            var protocol = context.WebSockets.WebSocketRequestedProtocols.Contains("echo") ? "echo" : null;
            using var socket = await context.WebSockets.AcceptWebSocketAsync(protocol);
            var buffer = new byte[16 * 1024];
            try
            {
                while (true)
                {
                    var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (context.Request.Path == "/abort")
                    {
                        context.Abort();
                        return;
                    }

                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        Closed.TrySetResult((result.CloseStatus, result.CloseStatusDescription));
                        await socket.CloseAsync(result.CloseStatus ?? WebSocketCloseStatus.Empty, result.CloseStatusDescription, context.RequestAborted);
                        Interlocked.Increment(ref _closed);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
            {
                Broken.TrySetResult();
            }
        }
    }

    private sealed record Handshake(string Method, string Protocol, string Version, string Key, string Origin);
}
