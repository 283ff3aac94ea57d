using System.Buffers;
using System.IO.Compression;

namespace Teleport.Protocol.Compression;

/// <summary>
/// One direction's compression context for the whole life of a tunnel stream: every message is
/// compressed against everything sent before it (Brotli with a flush at the end of each message, as
/// WebSocket permessage-deflate does with context takeover), so an exchange that resembles earlier
/// ones costs only its differences.
/// </summary>
/// <remarks>Not thread-safe: used by the stream's single writer loop only.</remarks>
internal sealed class StreamCompressor : IDisposable
{
    private BrotliEncoder _encoder;

    /// <param name="quality">Brotli quality, 0 (fastest) to 11 (smallest).</param>
    /// <param name="window">Brotli window, 10 to 24: log2 of how far back a match may reach.</param>
    public StreamCompressor(int quality, int window)
    {
        _encoder = new BrotliEncoder(quality, window);
    }

    /// <summary>
    /// Compresses <paramref name="input"/> and flushes, so the receiver can decode it without
    /// anything that follows. Returns a pooled array; the compressed bytes are its first <paramref name="length"/>.
    /// </summary>
    public byte[] Compress(ReadOnlySpan<byte> input, out int length)
    {
        var output = ArrayPool<byte>.Shared.Rent(Math.Max(256, input.Length / 2 + 64));
        length = 0;
        try
        {
            while (true)
            {
                var status = _encoder.Compress(input, output.AsSpan(length), out var consumed, out var written, isFinalBlock: false);
                input = input[consumed..];
                length += written;
                if (status == OperationStatus.DestinationTooSmall)
                {
                    output = Grow(output, length);
                    continue;
                }

                if (status != OperationStatus.Done)
                {
                    throw new InvalidOperationException($"Brotli compression failed: {status}.");
                }

                break;
            }

            while (true)
            {
                var status = _encoder.Flush(output.AsSpan(length), out var written);
                length += written;
                if (status == OperationStatus.Done)
                {
                    return output;
                }

                if (status != OperationStatus.DestinationTooSmall)
                {
                    throw new InvalidOperationException($"Brotli flush failed: {status}.");
                }

                output = Grow(output, length);
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(output);
            throw;
        }
    }

    public void Dispose() => _encoder.Dispose();

    internal static byte[] Grow(byte[] buffer, int used)
    {
        var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
        buffer.AsSpan(0, used).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        return larger;
    }
}
