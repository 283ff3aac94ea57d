using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Teleport.Protocol.V1;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// A bare tunnel client driving an origin under test: whatever the test writes goes to the origin as is,
/// in the order written, so it can play a conforming edge or break any rule on purpose.
/// </summary>
internal sealed class RawEdge : IDisposable
{
    /// <summary>The metadata key that makes Grpc.Net.Client gzip the messages of a call.</summary>
    private const string SendEncodingKey = "grpc-internal-encoding-request";

    private readonly GrpcChannel _channel;
    private IStreamCodec? _codec;

    /// <param name="maxReceiveBytes">The receive limit, as announced in this edge's hello.</param>
    /// <param name="gzip">Send every message gzip-compressed (grpc-encoding: gzip).</param>
    public RawEdge(Uri origin, int maxReceiveBytes = 16 * 1024 * 1024, bool gzip = false)
    {
        _channel = GrpcChannel.ForAddress(origin, new GrpcChannelOptions { MaxReceiveMessageSize = maxReceiveBytes, MaxSendMessageSize = null });
        var headers = new Metadata();
        if (gzip)
        {
            headers.Add(SendEncodingKey, "gzip");
        }

        Call = new Tunnel.TunnelClient(_channel).Open(headers);
    }

    public AsyncDuplexStreamingCall<EdgeFrame, OriginFrame> Call { get; }

    /// <summary>The kind of every message received after the hello, in order.</summary>
    public List<OriginFrame.KindOneofCase> FrameKinds { get; } = [];

    /// <summary>Sends the hello and returns the origin's, which must be its first message.</summary>
    public async Task<OriginHello> HelloAsync(EdgeHello hello)
    {
        await Call.RequestStream.WriteAsync(new EdgeFrame { Hello = hello }).DefaultTimeout();
        Assert.True(await Call.ResponseStream.MoveNext().DefaultTimeout(), "The origin ended the stream instead of answering the hello.");
        var first = Call.ResponseStream.Current;
        Assert.Equal(OriginFrame.KindOneofCase.Hello, first.KindCase);
        if (first.Hello.StreamCompression.Length > 0)
        {
            _codec = IStreamCodec.Create(first.Hello.StreamCompression);
        }

        return first.Hello;
    }

    /// <summary>A version 1 hello listing no capabilities: the minimal edge.</summary>
    public Task<OriginHello> HelloAsync() => HelloAsync(new EdgeHello { ProtocolVersion = 1, Agent = "conformance-raw-edge" });

    public Task SendAsync(params EdgeItem[] items)
        => Call.RequestStream.WriteAsync(new EdgeFrame { Batch = new EdgeBatch { Items = { items } } }).DefaultTimeout();

    /// <summary>Sends the items as one compressed_batch of a stream codec (needs the codec announced in the hello).</summary>
    public Task SendCompressedAsync(IStreamCodec codec, params EdgeItem[] items)
        => Call.RequestStream.WriteAsync(new EdgeFrame { CompressedBatch = ByteString.CopyFrom(codec.Compress(new EdgeBatch { Items = { items } }.ToByteArray())) }).DefaultTimeout();

    /// <summary>Reads messages until <paramref name="count"/> items have arrived; returns them in arrival order.</summary>
    public async Task<List<OriginItem>> ReadItemsAsync(int count)
    {
        var items = new List<OriginItem>();
        while (items.Count < count)
        {
            Assert.True(await Call.ResponseStream.MoveNext().DefaultTimeout(), $"The origin ended the stream after {items.Count} of {count} items.");
            var frame = Call.ResponseStream.Current;
            FrameKinds.Add(frame.KindCase);
            switch (frame.KindCase)
            {
                case OriginFrame.KindOneofCase.Batch:
                    items.AddRange(frame.Batch.Items);
                    break;
                case OriginFrame.KindOneofCase.CompressedBatch:
                    Assert.True(_codec is not null, "The origin sent compressed_batch without announcing a stream codec in its hello.");
                    items.AddRange(OriginBatch.Parser.ParseFrom(_codec!.Decompress(frame.CompressedBatch.Span)).Items);
                    break;
                default:
                    Assert.Fail($"The origin sent {frame.KindCase} after its hello.");
                    break;
            }
        }

        return items;
    }

    /// <summary>Reads until the origin ends the call; returns the status it ended with (the test expects an error).</summary>
    public async Task<Status> ReadUntilEndAsync()
    {
        try
        {
            while (await Call.ResponseStream.MoveNext().DefaultTimeout())
            {
            }
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }

        return Call.GetStatus();
    }

    public static EdgeItem Start(ulong id, string method, string target, params (string Name, string Value)[] headers)
    {
        var start = new RequestStart { Method = method, PathAndQuery = target, Protocol = "HTTP/1.1" };
        start.Headers.Add(new Header { Name = "Host", Value = "conformance.test" });
        foreach (var (name, value) in headers)
        {
            start.Headers.Add(new Header { Name = name, Value = value });
        }

        return new EdgeItem { ExchangeId = id, RequestStart = start };
    }

    public static EdgeItem Post(ulong id, string target, byte[] body)
    {
        var item = Start(id, "POST", target, ("Content-Type", "application/octet-stream"));
        item.RequestStart.Body = ByteString.CopyFrom(body);
        item.RequestStart.HasBody = true;
        return item;
    }

    public static EdgeItem Cancel(ulong id) => new() { ExchangeId = id, Cancel = new Cancel { Reason = CancelReason.ClientAborted } };

    public void Dispose()
    {
        Call.Dispose();
        _channel.Dispose();
        _codec?.Dispose();
    }
}
