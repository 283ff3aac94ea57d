using System.Buffers;
using System.IO.Compression;
using System.Text;
using Google.Protobuf;
using Teleport.Edge.Hosting;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Tests.Compression;

public sealed class StreamCodecTests
{
    [Theory]
    [InlineData("brotli")]
    [InlineData("zstd")]
    public void RoundTrip_ManyMessagesOfAllSizes_EachDecodesToItsInput(string codec)
    {
        using var compressor = StreamCompressor.Create(codec, CompressionLevel.Fastest);
        using var decompressor = StreamDecompressor.Create(codec, maxOutput: 1 << 22);
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

    [Theory]
    [InlineData("brotli")]
    [InlineData("zstd")]
    public void Compress_RepeatedContent_LaterMessagesCostOnlyTheirDifferences(string codec)
    {
        using var compressor = StreamCompressor.Create(codec, CompressionLevel.Fastest);
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

    [Theory]
    [InlineData("brotli")]
    [InlineData("zstd")]
    public void Decompress_Garbage_ThrowsInvalidData(string codec)
    {
        using var decompressor = StreamDecompressor.Create(codec, maxOutput: 1 << 20);

        Assert.Throws<InvalidDataException>(() => decompressor.Decompress(Encoding.ASCII.GetBytes("this is not compressed at all, not even close"), out _));
    }

    [Theory]
    [InlineData("brotli")]
    [InlineData("zstd")]
    public void Decompress_ExpandingBeyondLimit_ThrowsInvalidData(string codec)
    {
        using var compressor = StreamCompressor.Create(codec, CompressionLevel.Optimal);
        using var decompressor = StreamDecompressor.Create(codec, maxOutput: 10_000);
        var compressed = compressor.Compress(new byte[100_000], out var length);

        Assert.Throws<InvalidDataException>(() => decompressor.Decompress(compressed.AsSpan(0, length), out _));
    }

    [Theory]
    [InlineData("brotli")]
    [InlineData("zstd")]
    public void BatchDecoder_CompressedFrames_YieldTheItemsInOrder(string codec)
    {
        using var compressor = StreamCompressor.Create(codec, CompressionLevel.Fastest);
        using var decoder = new BatchDecoder<EdgeBatch>(EdgeBatch.Parser, codec, 1 << 20);
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

    [Fact]
    public void Decompress_ZstdFrameWithAWindowBeyondTheContract_ThrowsInvalidData()
    {
        // A peer may not make the receiver hold more than 2^23 bytes of history.
        using var compressor = new ZstdSharp.Compressor(1);
        compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_windowLog, StreamCodecs.ZstdMaxWindowLog + 1);
        var output = new byte[1024];
        compressor.WrapStream(Encoding.ASCII.GetBytes(new string('x', 500)), output, out _, out var written, isFinalBlock: false);
        compressor.FlushStream(output.AsSpan(written), out var flushed);
        using var decompressor = StreamDecompressor.Create(StreamCodecs.Zstd, maxOutput: 1 << 20);

        Assert.Throws<InvalidDataException>(() => decompressor.Decompress(output.AsSpan(0, written + flushed), out _));
    }

    [Theory]
    [InlineData("brotli", 14)]
    [InlineData("zstd", 14)]
    public void Compress_SmallSimilarMessagesAtTheDefaultLevel_EachCostsLittleMoreThanItsDifference(string codec, int maxBytesPerMessage)
    {
        // Under light load a message carries one small exchange: what a flush costs beyond the new bytes decides
        // the tunnel's bytes (Brotli quality 2 sends fresh prefix codes with each flush, about 21 B here).
        var level = new EdgeOptions().CompressionLevel;
        Assert.Equal(level, new OriginOptions().CompressionLevel);
        using var compressor = StreamCompressor.Create(codec, level);
        var total = 0;
        for (var i = 0; i < 200; i++)
        {
            var message = Encoding.ASCII.GetBytes($"GET /foo/bar HTTP/1.1 id={100000 + i} Host: foobar X-Forwarded-For: 127.0.0.1");
            var compressed = compressor.Compress(message, out var length);
            ArrayPool<byte>.Shared.Return(compressed);
            total += i >= 100 ? length : 0;
        }

        Assert.True(total <= 100 * maxBytesPerMessage, $"{codec}: {total / 100.0} B per message");
    }
}
