using System.Buffers;
using System.IO.Compression;

namespace Teleport.Protocol.Compression;

/// <summary>The receiving end of a <see cref="StreamCompressor"/>: one context for the stream's life.</summary>
/// <remarks>Not thread-safe: used by the stream's single reader loop only.</remarks>
internal sealed class StreamDecompressor : IDisposable
{
    private readonly int _maxOutput;
    private BrotliDecoder _decoder;

    /// <param name="maxOutput">Largest decompressed message accepted; more is a protocol violation.</param>
    public StreamDecompressor(int maxOutput)
    {
        _maxOutput = maxOutput;
        _decoder = new BrotliDecoder();
    }

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
                var status = _decoder.Decompress(input, output.AsSpan(length), out var consumed, out var written);
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

    public void Dispose() => _decoder.Dispose();
}
