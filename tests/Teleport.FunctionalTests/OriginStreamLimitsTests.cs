using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Origin.Tunnel;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>
/// The origin's limits on tunnel streams: --hello-timeout for a stream that says nothing, --max-streams in all, and
/// --max-streams-per-connection on one HTTP/2 connection. Each refusal frees what the stream held.
/// </summary>
public sealed class OriginStreamLimitsTests(ITestOutputHelper output)
{
    private static readonly EdgeFrame HelloFrame = new() { Hello = new EdgeHello { ProtocolVersion = 1, Agent = "limits-test" } };

    [Fact]
    public async Task Origin_StreamThatNeverSendsAHello_EndedWithDeadlineExceeded_WithinHelloTimeout_FreesItsSlot()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--hello-timeout", "300ms");
        var slots = origin.App.Services.GetRequiredService<StreamSlots>();

        var clock = Stopwatch.StartNew();
        await using var silent = new RawTunnelCall(origin.Address);
        var (code, detail, messages) = await silent.ReadToEndAsync().DefaultTimeout();
        clock.Stop();

        Assert.Equal((StatusCode.DeadlineExceeded, 0), (code, messages));
        Assert.Equal("no hello within 0.3 s", detail);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        await origin.WaitUntilAsync(s => s.WarningLogs.Any(l => l.Contains("ended with DeadlineExceeded: no hello", StringComparison.Ordinal) && l.Contains("127.0.0.1", StringComparison.Ordinal))).DefaultTimeout();
        await origin.WaitUntilAsync(_ => slots.Open == 0).DefaultTimeout();
        Assert.Equal(0, origin.Counters.StreamsOpen);
    }

    // Slow drip: a hello, then nothing for longer than the hello timeout, is an idle stream, not an attack.
    [Fact]
    public async Task Origin_StreamIdleAfterItsHello_StaysOpenPastTheHelloTimeout()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--hello-timeout", "200ms");
        await using var call = new RawTunnelCall(origin.Address);
        await call.WriteAsync(HelloFrame).DefaultTimeout();
        Assert.Equal(OriginFrame.KindOneofCase.Hello, (await call.ReadAsync(OriginFrame.Parser).DefaultTimeout())!.KindCase);

        // Three hello timeouts of silence (a wait for nothing to happen cannot be a sync point).
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        await call.WriteAsync(new EdgeFrame { Batch = new EdgeBatch { Items = { new EdgeItem { ExchangeId = 1, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "/late" } } } } }).DefaultTimeout();

        Assert.Equal(200u, (await call.ReadAsync(OriginFrame.Parser).DefaultTimeout())!.Batch.Items.Single().ResponseStart.Status);
        Assert.Empty(origin.WarningLogs);
    }

    [Fact]
    public async Task Origin_MoreStreamsThanMaxStreams_RefusedWithResourceExhausted_Logged_ThenServedOnceOneEnds()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-streams", "2");
        var slots = origin.App.Services.GetRequiredService<StreamSlots>();
        // Each on its own connection, as edges open them. The second never sends its hello: it counts all the same.
        await using var first = new RawTunnelCall(origin.Address);
        await first.WriteAsync(HelloFrame).DefaultTimeout();
        Assert.NotNull(await first.ReadAsync(OriginFrame.Parser).DefaultTimeout());
        await using (var silent = new RawTunnelCall(origin.Address))
        {
            await origin.WaitUntilAsync(_ => slots.Open == 2).DefaultTimeout();
            await using var third = new RawTunnelCall(origin.Address);
            await third.WriteAsync(HelloFrame).DefaultTimeout();
            var (code, detail, messages) = await third.ReadToEndAsync().DefaultTimeout();
            Assert.Equal((StatusCode.ResourceExhausted, 0), (code, messages));
            Assert.Contains("--max-streams", detail);
            await origin.WaitUntilAsync(s => s.WarningLogs.Any(l => l.Contains("ended with ResourceExhausted: the origin already has 2 tunnel streams open", StringComparison.Ordinal))).DefaultTimeout();
        }

        await origin.WaitUntilAsync(_ => slots.Open == 1).DefaultTimeout();
        await using var fourth = new RawTunnelCall(origin.Address);
        await fourth.WriteAsync(HelloFrame).DefaultTimeout();
        Assert.Equal(OriginFrame.KindOneofCase.Hello, (await fourth.ReadAsync(OriginFrame.Parser).DefaultTimeout())!.KindCase);
        Assert.Equal(2, slots.Open);
    }

    // A gRPC client honours SETTINGS_MAX_CONCURRENT_STREAMS: its third call on one connection waits for a free stream.
    [Fact]
    public async Task Origin_MoreCallsThanMaxStreamsPerConnection_OnOneConnection_TheExtraCallWaitsUntilOneEnds()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-streams-per-connection", "2");
        var slots = origin.App.Services.GetRequiredService<StreamSlots>();
        using var channel = GrpcChannel.ForAddress(origin.Address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false, UseProxy = false },
        });
        var client = new Tunnel.TunnelClient(channel);
        using var one = await OpenAsync(client);
        using var two = await OpenAsync(client);

        using var three = client.Open();
        // The write itself waits: the request cannot start before a stream is free.
        var sent = three.RequestStream.WriteAsync(HelloFrame);
        var hello = three.ResponseStream.MoveNext();
        // Nothing can make this call start while two streams hold the connection: a bounded wait for nothing.
        await Task.WhenAny(hello, Task.Delay(TimeSpan.FromMilliseconds(300)));
        Assert.False(hello.IsCompleted, "A third stream ran on a connection limited to two.");
        Assert.Equal(2, slots.Open);

        await one.RequestStream.CompleteAsync().DefaultTimeout();
        Assert.False(await one.ResponseStream.MoveNext().DefaultTimeout());
        await sent.DefaultTimeout();
        Assert.True(await hello.DefaultTimeout());
        Assert.Equal(OriginFrame.KindOneofCase.Hello, three.ResponseStream.Current.KindCase);
    }

    // A client that ignores the setting gets its extra stream refused (RST_STREAM REFUSED_STREAM, safe to retry);
    // the streams within the limit go on.
    [Fact]
    public async Task Origin_ClientIgnoringMaxConcurrentStreams_ExtraStreamRefused_OthersUnharmed()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-streams-per-connection", "2");
        var slots = origin.App.Services.GetRequiredService<StreamSlots>();
        await using var connection = await RawHttp2Connection.ConnectAsync(origin.Address).DefaultTimeout();
        Assert.Equal(2u, await connection.ReadMaxConcurrentStreamsAsync().DefaultTimeout());

        var head = RawHttp2Connection.Request("POST", GrpcWire.TunnelPath, origin.Authority, ("content-type", GrpcWire.ContentType), ("te", "trailers"));
        foreach (var stream in new uint[] { 1, 3, 5 })
        {
            await connection.WriteHeadersAsync(stream, head, endStream: false).DefaultTimeout();
        }

        var refused = await connection.ReadUntilAsync(f => f.Type == RawHttp2Connection.RstStream).DefaultTimeout();
        Assert.Equal((5u, RawHttp2Connection.RefusedStream), (refused!.StreamId, refused.ErrorCode));
        await origin.WaitUntilAsync(_ => slots.Open == 2).DefaultTimeout();

        // Stream 1 still works: its hello is answered.
        await connection.WriteFrameAsync(RawHttp2Connection.Data, 0, 1, GrpcWire.Frame(Google.Protobuf.MessageExtensions.ToByteArray(HelloFrame))).DefaultTimeout();
        var answer = await connection.ReadUntilAsync(f => f.Type == RawHttp2Connection.Data && f.StreamId == 1).DefaultTimeout();
        Assert.NotNull(answer);
        Assert.Empty(origin.ErrorLogs);
    }

    private static async Task<AsyncDuplexStreamingCall<EdgeFrame, OriginFrame>> OpenAsync(Tunnel.TunnelClient client)
    {
        var call = client.Open();
        await call.RequestStream.WriteAsync(HelloFrame).DefaultTimeout();
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
        return call;
    }
}
