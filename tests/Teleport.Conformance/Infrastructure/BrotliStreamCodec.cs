using System.Buffers;
using System.IO.Compression;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// The "stream-compression/brotli" codec written from docs/protocol.md alone (not our library's): one
/// Brotli context per direction for the stream's life, flushed at the end of every message, never finished.
/// </summary>
internal sealed class BrotliStreamCodec : IStreamCodec
{
    private BrotliEncoder _encoder = new(quality: 4, window: 22);
    private BrotliDecoder _decoder;

    public string Name => "brotli";

    public byte[] Compress(ReadOnlySpan<byte> message)
    {
        var output = new ArrayBufferWriter<byte>();
        while (true)
        {
            var status = _encoder.Compress(message, output.GetSpan(message.Length + 1024), out var consumed, out var written, isFinalBlock: false);
            output.Advance(written);
            message = message[consumed..];
            if (status == OperationStatus.Done)
            {
                break;
            }

            Assert.Equal(OperationStatus.DestinationTooSmall, status);
        }

        while (true)
        {
            var status = _encoder.Flush(output.GetSpan(4096), out var written);
            output.Advance(written);
            if (status == OperationStatus.Done)
            {
                return output.WrittenSpan.ToArray();
            }

            Assert.Equal(OperationStatus.DestinationTooSmall, status);
        }
    }

    /// <summary>Decodes one message: everything the peer flushed for it.</summary>
    public byte[] Decompress(ReadOnlySpan<byte> input)
    {
        var output = new ArrayBufferWriter<byte>();
        while (true)
        {
            var status = _decoder.Decompress(input, output.GetSpan(64 * 1024), out var consumed, out var written);
            output.Advance(written);
            input = input[consumed..];
            Assert.NotEqual(OperationStatus.InvalidData, status);
            Assert.NotEqual(OperationStatus.Done, status); // the context must stay open for the stream's life
            if (input.IsEmpty && status == OperationStatus.NeedMoreData)
            {
                return output.WrittenSpan.ToArray();
            }
        }
    }

    public void Dispose()
    {
        _encoder.Dispose();
        _decoder.Dispose();
    }
}
