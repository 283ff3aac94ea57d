using System.Buffers;
using Teleport.Origin.Tunnel;
using Teleport.Protocol;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Upstream;

/// <summary>
/// Relays an upstream connection that a 101 answer switched to another protocol ("upgrade" capability): both
/// directions are streamed bodies of the exchange, each under its receiver's window.
/// </summary>
internal sealed class UpgradeRelay
{
    private readonly Stream _upstream;
    private readonly StreamedRequestBody _clientSide;
    // Set before the client's side closes the connection, so that the read this fails is known for that close.
    private volatile bool _clientEnded;

    private UpgradeRelay(Stream upstream, StreamedRequestBody clientSide)
    {
        _upstream = upstream;
        _clientSide = clientSide;
    }

    /// <summary>
    /// Steps: (1) send the 101 head with body_follows; from now on no timeout applies (the socket lasts as long as
    /// its peers keep it); (2) copy the client's side (the exchange's request body) to the upstream in the background;
    /// when it ends, close the upstream connection: SocketsHttpHandler's upgraded stream cannot half-close, and a
    /// client that has closed its side has nothing more to hear; (3) copy the upstream's side to the edge until the
    /// upstream closes the connection; (4) return the last chunk.
    /// </summary>
    /// <param name="clientSide">The exchange's streamed request body: the bytes the client sends after the handshake.</param>
    /// <returns>The item that ends the exchange (the last chunk).</returns>
    /// <exception cref="IOException">The upstream broke the connection off.</exception>
    public static async Task<OutgoingItem<OriginItem>> RunAsync(ulong id, ResponseStart head, int headSize, HttpResponseMessage response,
        StreamedRequestBody clientSide, IResponseBodySink sink, CancellationToken cancellationToken)
    {
        // For a 101, SocketsHttpHandler's content is the connection itself, readable and writable.
        var upstream = await response.Content.ReadAsStreamAsync(cancellationToken);
        head.BodyFollows = true;
        await sink.SendAsync(new OutgoingItem<OriginItem>(new OriginItem { ExchangeId = id, ResponseStart = head }, headSize), 0);
        sink.HeadSent(head.Status);

        var relay = new UpgradeRelay(upstream, clientSide);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writing = relay.CopyToUpstreamAsync(stop.Token);
        try
        {
            await relay.CopyToEdgeAsync(id, sink, cancellationToken);
            return new OutgoingItem<OriginItem>(new OriginItem { ExchangeId = id, ResponseBody = new BodyChunk { End = true } }, 16) { IsBulk = true };
        }
        finally
        {
            await stop.CancelAsync();
            await upstream.DisposeAsync();
            try
            {
                await writing;
            }
            catch (Exception)
            {
                // Stopped with the connection: the client's side has nowhere to go any more.
            }
        }
    }

    /// <summary>Writes the client's bytes to the upstream as they arrive; closes the connection when they end or fail.</summary>
    private async Task CopyToUpstreamAsync(CancellationToken cancellationToken)
    {
        var clientSide = _clientSide;
        var upstream = _upstream;
        try
        {
            while (true)
            {
                // An idle socket holds no buffer: wait for bytes first, rent only then.
                await clientSide.WaitToReadAsync(cancellationToken);
                var buffer = ArrayPool<byte>.Shared.Rent(TunnelProtocol.BodyChunkBytes);
                try
                {
                    var read = await clientSide.ReadAsync(buffer.AsMemory(0, TunnelProtocol.BodyChunkBytes), cancellationToken);
                    if (read == 0)
                    {
                        _clientEnded = true;
                        return;
                    }

                    await upstream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    await upstream.FlushAsync(cancellationToken);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            // Ends the upstream's reads too, so the other direction ends and with it the exchange.
            await upstream.DisposeAsync();
        }
    }

    /// <summary>Sends the upstream's bytes to the edge as chunks under its window until the connection ends.</summary>
    private async Task CopyToEdgeAsync(ulong id, IResponseBodySink sink, CancellationToken cancellationToken)
    {
        var upstream = _upstream;
        while (true)
        {
            var size = Math.Min(TunnelProtocol.BodyChunkBytes, await sink.WaitForWindowAsync(cancellationToken));
            byte[]? buffer = null;
            int read;
            try
            {
                // Zero-byte read: an idle socket holds no buffer.
                _ = await upstream.ReadAsync(Memory<byte>.Empty, cancellationToken);
                buffer = ArrayPool<byte>.Shared.Rent(size);
                read = await upstream.ReadAsync(buffer.AsMemory(0, size), cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException && !cancellationToken.IsCancellationRequested)
            {
                ReturnBuffer(buffer);
                // Once the client's side has ended, a failing read is the close it made, not a fault.
                if (_clientEnded)
                {
                    return;
                }

                throw ex as IOException ?? new IOException("The upstream connection was closed.", ex);
            }

            if (read == 0)
            {
                ReturnBuffer(buffer);
                return;
            }

            // The writer returns the buffer once the chunk is sent.
            await sink.SendAsync(StreamedBody.Chunk(id, buffer, 0, read), read);
        }
    }

    private static void ReturnBuffer(byte[]? buffer)
    {
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
