using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>WebSockets (HTTP/1.1 Upgrade) through edge and origin: both directions streamed, ended by either side.</summary>
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

        await SendAsync(socket, Encoding.UTF8.GetBytes("hello, tunnel"), WebSocketMessageType.Text);
        Assert.Equal(("hello, tunnel", WebSocketMessageType.Text), Text(await ReceiveAsync(socket)));
        // 1 MiB: many chunks and several window grants each way.
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
        // Logged once the socket has ended, with its 101, as a success.
        await edge.WaitUntilAsync(e => e.Logs.Any(l => l.Contains("GET /echo 101 ", StringComparison.Ordinal) && l.Contains(" success ", StringComparison.Ordinal))).DefaultTimeout();
        await origin.WaitUntilAsync(o => o.Logs.Any(l => l.Contains("GET /echo -> ", StringComparison.Ordinal) && l.Contains(" 101 ", StringComparison.Ordinal) && l.EndsWith(" success", StringComparison.Ordinal))).DefaultTimeout();
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
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
            for (var i = 0; i < 5; i++)
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
        }).ToList();
        // While the sockets run, the same edge and tunnel still answer ordinary requests.
        var plain = Enumerable.Range(0, 20).Select(async _ => await client.GetStringAsync("/plain")).ToList();

        await Task.WhenAll(sockets).DefaultTimeout();
        Assert.All(await Task.WhenAll(plain).DefaultTimeout(), body => Assert.Equal("plain", body));
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
    /// status; /abort aborts the connection after the first message; /refuse answers 403; other requests "plain".
    /// </summary>
    private sealed class SocketUpstream
    {
        private int _closed;

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

            if (context.Request.Path == "/refuse")
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("no sockets here");
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
}
