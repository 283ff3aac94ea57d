using System.Buffers;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// The "stream-compression/zstd" codec written from docs/protocol.md alone (not our library's): one zstd frame per
/// direction for the stream's life, flushed (ZSTD_e_flush) at the end of every message, never ended; windows up to 2^23.
/// </summary>
internal sealed class ZstdStreamCodec : IStreamCodec
{
    private readonly Compressor _encoder = new(level: 3);
    private readonly Decompressor _decoder = new();

    public ZstdStreamCodec()
    {
        // The largest window the contract allows a sender: an origin must take it.
        _encoder.SetParameter(ZSTD_cParameter.ZSTD_c_windowLog, 23);
    }

    public string Name => "zstd";

    public byte[] Compress(ReadOnlySpan<byte> message)
    {
        var output = new ArrayBufferWriter<byte>();
        while (!message.IsEmpty)
        {
            var status = _encoder.WrapStream(message, output.GetSpan(message.Length + 1024), out var consumed, out var written, isFinalBlock: false);
            output.Advance(written);
            message = message[consumed..];
            Assert.NotEqual(OperationStatus.InvalidData, status);
        }

        while (true)
        {
            var status = _encoder.FlushStream(output.GetSpan(4096), out var written);
            output.Advance(written);
            if (status == OperationStatus.Done)
            {
                return output.WrittenSpan.ToArray();
            }

            Assert.Equal(OperationStatus.DestinationTooSmall, status);
        }
    }

    public byte[] Decompress(ReadOnlySpan<byte> input)
    {
        var output = new ArrayBufferWriter<byte>();
        while (true)
        {
            var room = output.GetSpan(64 * 1024);
            var status = _decoder.UnwrapStream(input, room, out var consumed, out var written);
            output.Advance(written);
            input = input[consumed..];
            Assert.NotEqual(OperationStatus.InvalidData, status);
            Assert.NotEqual(OperationStatus.Done, status); // the frame must stay open for the stream's life
            // A full output buffer may hide more of the flushed block.
            if (input.IsEmpty && written < room.Length)
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
