using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>The origin against a hand-driven edge: the hello rules and protocol violations.</summary>
public sealed class ProtocolTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Hello_Accepted_AnnouncesVersionLimitsAndCapabilities()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"), "--max-request-body-size", "1MiB");
        using var peer = new RawEdge(origin.Address);

        var hello = await peer.HelloAsync(new EdgeHello { ProtocolVersion = 1, Agent = "test" }).DefaultTimeout();

        Assert.Equal(1u, hello.ProtocolVersion);
        Assert.Equal(1024UL * 1024, hello.MaxRequestBodyBytes);
        Assert.True(hello.MaxMessageBytes > 1024 * 1024);
        Assert.Contains("stream-compression/brotli", hello.Capabilities);
        Assert.Contains("stream-compression/zstd", hello.Capabilities);
        Assert.Equal("", hello.StreamCompression);
    }

    [Fact]
    public async Task Hello_UnsupportedVersion_FailedPrecondition()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"));
        using var peer = new RawEdge(origin.Address);

        var error = await Assert.ThrowsAsync<RpcException>(() => peer.HelloAsync(new EdgeHello { ProtocolVersion = 2 })).DefaultTimeout();

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("unsupported protocol version 2", error.Status.Detail);
    }

    [Fact]
    public async Task FirstMessageNotHello_InvalidArgument()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"));
        using var peer = new RawEdge(origin.Address);

        await peer.Call.RequestStream.WriteAsync(new EdgeFrame { Batch = new EdgeBatch() }).DefaultTimeout();
        var error = await Assert.ThrowsAsync<RpcException>(() => peer.Call.ResponseStream.MoveNext()).DefaultTimeout();

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task Hello_EdgeListsBrotli_AutoOriginAnswersBrotli()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"));
        using var peer = new RawEdge(origin.Address);

        var hello = await peer.HelloAsync(new EdgeHello { ProtocolVersion = 1, Capabilities = { "stream-compression/brotli" } }).DefaultTimeout();

        Assert.Equal("brotli", hello.StreamCompression);
    }

    [Fact]
    public async Task Hello_EdgeListsOnlyZstd_AutoOriginAnswersZstd()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"));
        using var peer = new RawEdge(origin.Address);

        var hello = await peer.HelloAsync(new EdgeHello { ProtocolVersion = 1, Capabilities = { "stream-compression/zstd" } }).DefaultTimeout();

        Assert.Equal("zstd", hello.StreamCompression);
    }

    [Fact]
    public async Task Hello_UnknownStreamCodec_AcceptedButItsCompressedBatchesRefused()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"));
        using var peer = new RawEdge(origin.Address);

        var hello = await peer.HelloAsync(new EdgeHello { ProtocolVersion = 1, StreamCompression = "x-unknown-codec" }).DefaultTimeout();
        Assert.DoesNotContain("stream-compression/x-unknown-codec", hello.Capabilities);
        await peer.Call.RequestStream.WriteAsync(new EdgeFrame { CompressedBatch = ByteString.CopyFromUtf8("x-unknown-codec bytes") }).DefaultTimeout();
        var error = await Assert.ThrowsAsync<RpcException>(() => peer.Call.ResponseStream.MoveNext()).DefaultTimeout();

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task BrotliOrigin_EdgeWithoutTheCapability_FailedPrecondition()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri("http://127.0.0.1:9"), "--compression", "brotli");
        using var peer = new RawEdge(origin.Address);

        var error = await Assert.ThrowsAsync<RpcException>(() => peer.HelloAsync(new EdgeHello { ProtocolVersion = 1 })).DefaultTimeout();

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("does not accept", error.Status.Detail);
    }

    [Theory]
    [InlineData("garbage-compressed")]
    [InlineData("id-zero")]
    [InlineData("id-reused")]
    [InlineData("second-hello")]
    public async Task ProtocolViolation_EndsOnlyThatStream_OriginKeepsServing(string violation)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, app => upstream.Configure(app));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        using (var peer = new RawEdge(origin.Address))
        {
            await peer.HelloAsync(new EdgeHello { ProtocolVersion = 1, StreamCompression = violation == "garbage-compressed" ? "brotli" : "" }).DefaultTimeout();
            var start = new RequestStart { Method = "GET", PathAndQuery = "/slow?delay=5000" };
            EdgeFrame[] frames = violation switch
            {
                "garbage-compressed" => [new EdgeFrame { CompressedBatch = ByteString.CopyFromUtf8("definitely not brotli") }],
                "id-zero" => [Batch(new EdgeItem { ExchangeId = 0, RequestStart = start })],
                "id-reused" => [Batch(new EdgeItem { ExchangeId = 7, RequestStart = start }, new EdgeItem { ExchangeId = 7, RequestStart = start })],
                _ => [new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 1 } }],
            };
            foreach (var frame in frames)
            {
                await peer.Call.RequestStream.WriteAsync(frame).DefaultTimeout();
            }

            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await peer.Call.ResponseStream.MoveNext())
                {
                }
            }).DefaultTimeout();
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains("protocol violation", error.Status.Detail);
        }

        // A well-behaved edge is still served.
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();
        using var response = await client.GetAsync("/fine").DefaultTimeout();
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Exchanges_AnsweredByIdInCompletionOrder()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        using var peer = new RawEdge(origin.Address);
        await peer.HelloAsync(new EdgeHello { ProtocolVersion = 1 }).DefaultTimeout();

        await peer.Call.RequestStream.WriteAsync(Batch(
            new EdgeItem { ExchangeId = 1, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "/first?delay=400" } },
            new EdgeItem { ExchangeId = 2, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "/second" } },
            new EdgeItem { ExchangeId = 3, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "elsewhere.invalid/x" } })).DefaultTimeout();
        var answers = new List<OriginItem>();
        while (answers.Count < 3 && await peer.Call.ResponseStream.MoveNext().DefaultTimeout())
        {
            answers.AddRange(peer.Call.ResponseStream.Current.Batch.Items);
        }

        Assert.Equal(1UL, answers[^1].ExchangeId);
        Assert.Equal(200u, answers.Single(a => a.ExchangeId == 1).ResponseStart.Status);
        Assert.Equal(ErrorCode.BadRequest, answers.Single(a => a.ExchangeId == 3).Error.Code);
        Assert.DoesNotContain(upstream.Requests, r => r.RawTarget.Contains("elsewhere"));
    }

    private static EdgeFrame Batch(params EdgeItem[] items) => new() { Batch = new EdgeBatch { Items = { items } } };

    /// <summary>A bare gRPC tunnel client: whatever the test writes goes to the origin as is.</summary>
    private sealed class RawEdge : IDisposable
    {
        private readonly GrpcChannel _channel;

        public RawEdge(Uri origin)
        {
            _channel = GrpcChannel.ForAddress(origin);
            Call = new Tunnel.TunnelClient(_channel).Open();
        }

        public AsyncDuplexStreamingCall<EdgeFrame, OriginFrame> Call { get; }

        public async Task<OriginHello> HelloAsync(EdgeHello hello)
        {
            await Call.RequestStream.WriteAsync(new EdgeFrame { Hello = hello });
            Assert.True(await Call.ResponseStream.MoveNext());
            return Call.ResponseStream.Current.Hello;
        }

        public void Dispose()
        {
            Call.Dispose();
            _channel.Dispose();
        }
    }
}
