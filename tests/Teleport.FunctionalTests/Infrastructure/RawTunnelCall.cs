using System.Net;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// A tunnel call written byte by byte over h2c: whatever the test writes reaches the origin as is, valid
/// protobuf or not, and the test reads the origin's messages and the status it ends the call with.
/// </summary>
internal sealed class RawTunnelCall : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>();
    private readonly Task<HttpResponseMessage> _response;
    private readonly CancellationTokenSource _aborted = new();
    private Stream? _body;

    public RawTunnelCall(Uri origin)
    {
        _client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(origin, GrpcWire.TunnelPath))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new DuplexContent(_outgoing.Reader),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", GrpcWire.ContentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        _response = _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _aborted.Token);
    }

    public Task WriteAsync(IMessage message) => WriteRawAsync(GrpcWire.Frame(message.ToByteArray()));

    /// <summary>Queues bytes for the request stream exactly as given (no framing added).</summary>
    public Task WriteRawAsync(byte[] bytes) => _outgoing.Writer.WriteAsync(bytes).AsTask();

    /// <summary>Ends the request stream, as an edge closing its side.</summary>
    public void Complete() => _outgoing.Writer.TryComplete();

    /// <summary>The next message from the origin, parsed with <paramref name="parser"/>; null once the origin ended the call.</summary>
    public async Task<T?> ReadAsync<T>(MessageParser<T> parser)
        where T : class, IMessage<T>
    {
        var payload = await GrpcWire.ReadMessageAsync(await BodyAsync(), _aborted.Token);
        return payload is null ? null : parser.ParseFrom(payload);
    }

    /// <summary>Reads until the origin ends the call; returns its grpc-status (from the trailers, or the headers of a trailers-only answer).</summary>
    public async Task<(StatusCode Code, string Detail, int Messages)> ReadToEndAsync()
    {
        var response = await _response;
        var messages = 0;
        var body = await BodyAsync();
        string? broken = null;
        try
        {
            while (await GrpcWire.ReadMessageAsync(body, _aborted.Token) is not null)
            {
                messages++;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            // A reset stream: no trailers, so no status (asserted by the caller, told why).
            broken = ex.GetBaseException().Message;
        }

        var status = Value(response.TrailingHeaders, "grpc-status") ?? Value(response.Headers, "grpc-status");
        var detail = Value(response.TrailingHeaders, "grpc-message") ?? Value(response.Headers, "grpc-message") ?? broken ?? "";
        return (status is null ? (StatusCode)(-1) : (StatusCode)int.Parse(status), Uri.UnescapeDataString(detail), messages);
    }

    public async ValueTask DisposeAsync()
    {
        _outgoing.Writer.TryComplete();
        await _aborted.CancelAsync();
        try
        {
            (await _response).Dispose();
        }
        catch (Exception)
        {
            // Already failed or cancelled: nothing left to release.
        }

        _client.Dispose();
        _aborted.Dispose();
    }

    private async Task<Stream> BodyAsync() => _body ??= await (await _response).Content.ReadAsStreamAsync();

    private static string? Value(System.Net.Http.Headers.HttpHeaders headers, string name)
        => headers.TryGetValues(name, out var values) ? values.First() : null;

    /// <summary>Request content streamed from a channel for as long as the call lasts (HTTP/2 full duplex).</summary>
    private sealed class DuplexContent(ChannelReader<byte[]> source) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.FlushAsync();
            await foreach (var bytes in source.ReadAllAsync())
            {
                await stream.WriteAsync(bytes);
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
