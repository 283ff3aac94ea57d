using System.Buffers;
using System.Text;
using Google.Protobuf;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Tests.Compression;

public sealed class StreamCodecTests
{
    [Fact]
    public void RoundTrip_ManyMessagesOfAllSizes_EachDecodesToItsInput()
    {
        using var compressor = new StreamCompressor(quality: 1, window: 22);
        using var decompressor = new StreamDecompressor(maxOutput: 1 << 22);
        var random = new Random(7);
        for (var i = 0; i < 400; i++)
        {
            // Powers of two land decompressed output exactly on a pooled buffer's end.
            var length = i < 100 ? 1024 << (i % 6) : random.Next(0, 20_000);
            var message = new byte[length];
            for (var j = 0; j < length; j++)
            {
                message[j] = (byte)(random.Next(4) == 0 ? random.Next(256) : 'a' + j % 7);
            }

            var compressed = compressor.Compress(message, out var compressedLength);
            var wire = compressed.AsSpan(0, compressedLength).ToArray();
            ArrayPool<byte>.Shared.Return(compressed);
            var decoded = decompressor.Decompress(wire, out var decodedLength);

            Assert.Equal(message, decoded.AsSpan(0, decodedLength).ToArray());
            ArrayPool<byte>.Shared.Return(decoded);
        }
    }

    [Fact]
    public void Compress_RepeatedContent_LaterMessagesCostOnlyTheirDifferences()
    {
        using var compressor = new StreamCompressor(quality: 5, window: 22);
        var noise = new byte[3000];
        new Random(3).NextBytes(noise);
        var message = Encoding.ASCII.GetBytes(Convert.ToBase64String(noise));

        var first = compressor.Compress(message, out var firstLength);
        var second = compressor.Compress(message, out var secondLength);
        ArrayPool<byte>.Shared.Return(first);
        ArrayPool<byte>.Shared.Return(second);

        // The second copy is one back-reference into the first: a context that lasts across messages.
        Assert.True(secondLength < firstLength / 10, $"first {firstLength} B, second {secondLength} B");
    }

    [Fact]
    public void Decompress_Garbage_ThrowsInvalidData()
    {
        using var decompressor = new StreamDecompressor(maxOutput: 1 << 20);

        Assert.Throws<InvalidDataException>(() => decompressor.Decompress(Encoding.ASCII.GetBytes("this is not brotli at all, not even close"), out _));
    }

    [Fact]
    public void Decompress_ExpandingBeyondLimit_ThrowsInvalidData()
    {
        using var compressor = new StreamCompressor(quality: 5, window: 22);
        using var decompressor = new StreamDecompressor(maxOutput: 10_000);
        var compressed = compressor.Compress(new byte[100_000], out var length);

        Assert.Throws<InvalidDataException>(() => decompressor.Decompress(compressed.AsSpan(0, length), out _));
    }

    [Fact]
    public void BatchDecoder_CompressedFrames_YieldTheItemsInOrder()
    {
        using var compressor = new StreamCompressor(quality: 1, window: 22);
        using var decoder = new BatchDecoder<EdgeBatch>(EdgeBatch.Parser, 1 << 20);
        var batch = new EdgeBatch();
        var frame = new EdgeFrame();
        var builder = new CompressedFrameBuilder<EdgeFrame, EdgeItem>(batch, batch.Items, frame, static (f, p) => f.CompressedBatch = p, compressor);

        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 5; i++)
            {
                builder.Items.Add(new EdgeItem { ExchangeId = (ulong)(round * 10 + i + 1), RequestStart = new RequestStart { Method = "GET", PathAndQuery = $"/r/{round}/{i}" } });
            }

            var written = builder.Build();
            var wire = EdgeFrame.Parser.ParseFrom(written.ToByteArray());
            builder.Reset();
            var decoded = decoder.Decode(wire.CompressedBatch);

            Assert.Equal(EdgeFrame.KindOneofCase.CompressedBatch, wire.KindCase);
            Assert.Equal(Enumerable.Range(1, 5).Select(i => (ulong)(round * 10 + i)), decoded.Items.Select(x => x.ExchangeId));
            Assert.Equal($"/r/{round}/4", decoded.Items[4].RequestStart.PathAndQuery);
            Assert.Empty(builder.Items);
        }
    }
}
