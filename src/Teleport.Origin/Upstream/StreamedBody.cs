using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Primitives;
using Teleport.Protocol;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Upstream;

/// <summary>
/// Sends an upstream's response body as it arrives ("streaming" capability): the head with the bytes already at
/// hand, then chunks under the window the edge grants, then a last chunk with the trailers. A body that turns out
/// to be short and already complete still goes whole in one item, as without streaming.
/// </summary>
internal static class StreamedBody
{
    /// <summary>Bodies of a known length up to this size are read whole and sent in one item.</summary>
    public const int WholeBodyBytes = 64 * 1024;

    /// <summary>
    /// Steps: (1) read what is at hand without waiting, up to <see cref="WholeBodyBytes"/>; if the body ends there,
    /// answer whole; (2) otherwise send the head with those bytes and <c>body_follows</c> (at once, so that an
    /// event stream's client sees its headers before the first event); (3) send each read as a chunk once the
    /// window allows; (4) end with a chunk holding the trailers.
    /// </summary>
    /// <returns>The item that ends the exchange, or null when the body grew past <paramref name="maxBody"/>.</returns>
    /// <exception cref="IOException">The upstream broke off the body (also after the head went out).</exception>
    public static async Task<OutgoingItem<OriginItem>?> SendAsync(ulong id, ResponseStart head, int headSize, Stream stream, HttpResponseMessage response,
        StringValues connection, int maxBody, IResponseBodySink sink, CancellationToken cancellationToken)
    {
        var capacity = Math.Min(WholeBodyBytes, await sink.WaitForWindowAsync(cancellationToken));
        var first = ArrayPool<byte>.Shared.Rent(capacity);
        byte[]? owned = first;
        try
        {
            var length = 0;
            ValueTask<int> read = default;
            var pending = false;
            while (length < capacity)
            {
                read = stream.ReadAsync(first.AsMemory(length, capacity - length), cancellationToken);
                if (!read.IsCompleted)
                {
                    pending = true;
                    break;
                }

                var n = await read;
                if (n == 0)
                {
                    // All of it was at hand: one item, as without streaming.
                    head.Body = UnsafeByteOperations.UnsafeWrap(first.AsMemory(0, length));
                    var trailers = UpstreamForwarder.CopyTrailers(response, head.Trailers, connection);
                    owned = null;
                    return new OutgoingItem<OriginItem>(new OriginItem { ExchangeId = id, ResponseStart = head }, headSize + length + trailers, first);
                }

                length += n;
                if (length > maxBody)
                {
                    return null;
                }
            }

            if (pending)
            {
                // The read in flight may still write into the array: should anything fail before it completes,
                // the array is left to the garbage collector rather than handed to someone else by the pool.
                owned = null;
            }

            // A copy: a read may still be filling the rest of the array, which therefore cannot go to the writer yet.
            head.Body = length == 0 ? ByteString.Empty : ByteString.CopyFrom(first, 0, length);
            head.BodyFollows = true;
            await sink.SendAsync(new OutgoingItem<OriginItem>(new OriginItem { ExchangeId = id, ResponseStart = head }, headSize + length), length);
            sink.HeadSent(head.Status);
            long total = length;
            if (pending)
            {
                var n = await read;
                owned = first;
                if (n > 0)
                {
                    total += n;
                    if (total > maxBody)
                    {
                        return null;
                    }

                    owned = null;
                    await sink.SendAsync(Chunk(id, first, length, n), n);
                }
            }

            if (owned is not null)
            {
                ArrayPool<byte>.Shared.Return(owned);
                owned = null;
            }

            while (true)
            {
                var size = Math.Min(TunnelProtocol.BodyChunkBytes, await sink.WaitForWindowAsync(cancellationToken));
                owned = ArrayPool<byte>.Shared.Rent(size);
                var n = await stream.ReadAsync(owned.AsMemory(0, size), cancellationToken);
                if (n == 0)
                {
                    break;
                }

                total += n;
                if (total > maxBody)
                {
                    return null;
                }

                var chunk = Chunk(id, owned, 0, n);
                owned = null;
                await sink.SendAsync(chunk, n);
            }

            var last = new BodyChunk { End = true };
            var trailerBytes = UpstreamForwarder.CopyTrailers(response, last.Trailers, connection);
            return new OutgoingItem<OriginItem>(new OriginItem { ExchangeId = id, ResponseBody = last }, 32 + trailerBytes) { IsBulk = true };
        }
        finally
        {
            if (owned is not null)
            {
                ArrayPool<byte>.Shared.Return(owned);
            }
        }
    }

    /// <summary>A chunk wrapping <paramref name="count"/> bytes of a pooled array, which the writer returns once sent.</summary>
    internal static OutgoingItem<OriginItem> Chunk(ulong id, byte[] buffer, int offset, int count)
        => new(new OriginItem { ExchangeId = id, ResponseBody = new BodyChunk { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(offset, count)) } }, count + 24, buffer) { IsBulk = true };
}
