using System.Buffers;
using System.IO.Compression;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Teleport.Protocol.Compression;

/// <summary>
/// One direction's compression context for the whole life of a tunnel stream: every message is
/// compressed against everything sent before it (flushed at the end of each message, as
/// WebSocket permessage-deflate does with context takeover), so an exchange that resembles earlier
/// ones costs only its differences.
/// </summary>
/// <remarks>Not thread-safe: used by the stream's single writer loop only.</remarks>
internal abstract class StreamCompressor : IDisposable
{
    /// <summary>The compressor of <paramref name="codec"/> (a <see cref="StreamCodecs"/> name) at <paramref name="level"/>.</summary>
    public static StreamCompressor Create(string codec, CompressionLevel level) => codec switch
    {
        StreamCodecs.Zstd => new ZstdStreamCompressor(StreamCodecs.ZstdLevel(level), StreamCodecs.ZstdWindowLog),
        StreamCodecs.Brotli => new BrotliStreamCompressor(StreamCodecs.BrotliQuality(level), StreamCodecs.BrotliWindow),
        _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "not a stream codec"),
    };

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
                var status = Encode(input, output.AsSpan(length), out var consumed, out var written);
                input = input[consumed..];
                length += written;
                if (status == OperationStatus.DestinationTooSmall)
                {
                    output = Grow(output, length);
                    continue;
                }

                if (status != OperationStatus.Done)
                {
                    throw new InvalidOperationException($"Stream compression failed: {status}.");
                }

                break;
            }

            while (true)
            {
                var status = Flush(output.AsSpan(length), out var written);
                length += written;
                if (status == OperationStatus.Done)
                {
                    return output;
                }

                if (status != OperationStatus.DestinationTooSmall)
                {
                    throw new InvalidOperationException($"Stream compression flush failed: {status}.");
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

    public abstract void Dispose();

    internal static byte[] Grow(byte[] buffer, int used)
    {
        var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
        buffer.AsSpan(0, used).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        return larger;
    }

    /// <summary>Takes what fits of <paramref name="input"/>; Done once all of it is taken.</summary>
    protected abstract OperationStatus Encode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written);

    /// <summary>Writes out everything taken so far; DestinationTooSmall while more is left.</summary>
    protected abstract OperationStatus Flush(Span<byte> output, out int written);
}

/// <summary>Brotli (RFC 7932), flushed with BROTLI_OPERATION_FLUSH at the end of each message.</summary>
internal sealed class BrotliStreamCompressor(int quality, int window) : StreamCompressor
{
    private BrotliEncoder _encoder = new(quality, window);

    public override void Dispose() => _encoder.Dispose();

    protected override OperationStatus Encode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written)
        => _encoder.Compress(input, output, out consumed, out written, isFinalBlock: false);

    protected override OperationStatus Flush(Span<byte> output, out int written) => _encoder.Flush(output, out written);
}

/// <summary>Zstandard (RFC 8878): one frame for the stream's life, flushed with ZSTD_e_flush at the end of each message.</summary>
internal sealed class ZstdStreamCompressor : StreamCompressor
{
    private readonly Compressor _compressor;

    public ZstdStreamCompressor(int level, int windowLog)
    {
        _compressor = new Compressor(level);
        _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_windowLog, windowLog);
    }

    public override void Dispose() => _compressor.Dispose();

    protected override OperationStatus Encode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written)
        => _compressor.WrapStream(input, output, out consumed, out written, isFinalBlock: false);

    protected override OperationStatus Flush(Span<byte> output, out int written) => _compressor.FlushStream(output, out written);
}
