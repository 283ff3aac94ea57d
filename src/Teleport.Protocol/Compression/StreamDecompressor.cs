using System.Buffers;
using System.IO.Compression;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Teleport.Protocol.Compression;

/// <summary>The receiving end of a <see cref="StreamCompressor"/>: one context for the stream's life.</summary>
/// <remarks>Not thread-safe: used by the stream's single reader loop only.</remarks>
/// <param name="maxOutput">Largest decompressed message accepted; more is a protocol violation.</param>
internal abstract class StreamDecompressor(int maxOutput) : IDisposable
{
    private readonly int _maxOutput = maxOutput;

    /// <summary>The decompressor of <paramref name="codec"/> (a <see cref="StreamCodecs"/> name).</summary>
    public static StreamDecompressor Create(string codec, int maxOutput) => codec switch
    {
        StreamCodecs.Zstd => new ZstdStreamDecompressor(maxOutput),
        StreamCodecs.Brotli => new BrotliStreamDecompressor(maxOutput),
        _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "not a stream codec"),
    };

    /// <summary>
    /// Decompresses one message. Returns a pooled array; the message is its first <paramref name="length"/> bytes.
    /// </summary>
    /// <exception cref="InvalidDataException">The data is not a valid continuation of the stream, or too large.</exception>
    public byte[] Decompress(ReadOnlySpan<byte> input, out int length)
    {
        var output = ArrayPool<byte>.Shared.Rent(Math.Max(1024, input.Length * 4));
        length = 0;
        try
        {
            while (true)
            {
                var status = Decode(input, output.AsSpan(length), out var consumed, out var written);
                input = input[consumed..];
                length += written;
                if (length > _maxOutput)
                {
                    throw new InvalidDataException($"A compressed message expands beyond {_maxOutput} bytes.");
                }

                if (status == OperationStatus.InvalidData)
                {
                    throw new InvalidDataException("Invalid compressed data.");
                }

                if (status == OperationStatus.Done)
                {
                    throw new InvalidDataException("The compressed stream ended; it must stay open for the stream's life.");
                }

                // A full output buffer can hide more output: the decoder may report it needs input
                // although bytes of the flushed block are still pending, so drain with more room.
                if (length == output.Length || status == OperationStatus.DestinationTooSmall)
                {
                    output = StreamCompressor.Grow(output, length);
                    continue;
                }

                if (input.IsEmpty)
                {
                    // Everything up to the sender's flush is out: the message is complete.
                    return output;
                }

                if (consumed == 0 && written == 0)
                {
                    throw new InvalidDataException("Invalid compressed data (no progress).");
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(output);
            throw;
        }
    }

    public abstract void Dispose();

    /// <summary>Decodes what it can; InvalidData for bytes that do not continue the stream, Done when the stream has ended.</summary>
    protected abstract OperationStatus Decode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written);
}

internal sealed class BrotliStreamDecompressor(int maxOutput) : StreamDecompressor(maxOutput)
{
    private BrotliDecoder _decoder;

    public override void Dispose() => _decoder.Dispose();

    protected override OperationStatus Decode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written)
        => _decoder.Decompress(input, output, out consumed, out written);
}

internal sealed class ZstdStreamDecompressor : StreamDecompressor
{
    private readonly Decompressor _decompressor = new();

    public ZstdStreamDecompressor(int maxOutput)
        : base(maxOutput)
    {
        // A peer's frame may not make this side hold a window larger than the contract allows: such a frame is invalid data.
        _decompressor.SetParameter(ZSTD_dParameter.ZSTD_d_windowLogMax, StreamCodecs.ZstdMaxWindowLog);
    }

    public override void Dispose() => _decompressor.Dispose();

    protected override OperationStatus Decode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written)
        => _decompressor.UnwrapStream(input, output, out consumed, out written);
}
