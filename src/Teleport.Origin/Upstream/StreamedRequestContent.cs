using System.Buffers;
using System.Net;

namespace Teleport.Origin.Upstream;

/// <summary>
/// A request body that arrives in chunks from the edge, sent upstream as it comes: each read is written and
/// flushed at once. HttpClient holds unflushed body bytes back (HTTP/2 DATA frames, HTTP/1.1 chunks) until its
/// buffer fills or the body ends, which would stall a client that waits for an answer before it sends more
/// (a bidirectional gRPC call): YARP flushes streaming request bodies the same way.
/// </summary>
internal sealed class StreamedRequestContent(Stream body, int bufferSize) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
        try
        {
            while (await body.ReadAsync(buffer.AsMemory(0, bufferSize), cancellationToken) is > 0 and var read)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            body.Dispose();
        }

        base.Dispose(disposing);
    }
}
