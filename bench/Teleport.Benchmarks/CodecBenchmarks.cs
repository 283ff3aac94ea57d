using System.Buffers;
using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using Teleport.Protocol.Compression;
using Teleport.Protocol.V1;

namespace Teleport.Benchmarks;

/// <summary>
/// CPU per exchange of each codec on realistic request batches: gzip as gRPC does it (a fresh stream
/// per message) against Brotli with one context for the stream. `-- ratios` prints the bytes.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private byte[][] _batches = [];
    private StreamCompressor? _stream;
    private int _next;

    [Params(1, 16)]
    public int BatchSize { get; set; }

    [Params("gzip-1", "gzip-6", "brotli-2", "brotli-4", "zstd-1", "zstd-3")]
    public string Codec { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _batches = SampleExchanges.Batches(SampleExchanges.Requests(4096), BatchSize, static c => new EdgeBatch { Items = { c } });
        _stream = StreamCompressorFor(Codec);
    }

    [GlobalCleanup]
    public void Cleanup() => _stream?.Dispose();

    /// <summary>Compresses the next batch; returns its compressed size.</summary>
    [Benchmark]
    public int CompressBatch()
    {
        var batch = _batches[_next++ % _batches.Length];
        return Compress(Codec, _stream, batch);
    }

    /// <summary>The stream compressor a codec name ("brotli-2", "zstd-1") asks for; null for gzip (a fresh stream per message).</summary>
    internal static StreamCompressor? StreamCompressorFor(string codec) => codec.Split('-') switch
    {
        ["brotli", var quality] => new BrotliStreamCompressor(int.Parse(quality, System.Globalization.CultureInfo.InvariantCulture), StreamCodecs.BrotliWindow),
        ["zstd", var level] => new ZstdStreamCompressor(int.Parse(level, System.Globalization.CultureInfo.InvariantCulture), StreamCodecs.ZstdWindowLog),
        _ => null,
    };

    internal static int Compress(string codec, StreamCompressor? stream, byte[] batch)
    {
        if (stream is not null)
        {
            var output = stream.Compress(batch, out var length);
            ArrayPool<byte>.Shared.Return(output);
            return length;
        }

        using var buffer = new MemoryStream(batch.Length);
        using (var gzip = new GZipStream(buffer, codec == "gzip-6" ? CompressionLevel.Optimal : CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(batch);
        }

        return (int)buffer.Length;
    }
}
