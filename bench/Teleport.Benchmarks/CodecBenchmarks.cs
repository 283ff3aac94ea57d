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
    private StreamCompressor? _brotli;
    private int _next;

    [Params(1, 16)]
    public int BatchSize { get; set; }

    [Params("gzip-1", "gzip-6", "brotli-2", "brotli-3", "brotli-5")]
    public string Codec { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _batches = SampleExchanges.Batches(SampleExchanges.Requests(4096), BatchSize, static c => new EdgeBatch { Items = { c } });
        _brotli = Codec.StartsWith("brotli", StringComparison.Ordinal) ? new StreamCompressor(Codec[^1] - '0', StreamCodecs.BrotliWindow) : null;
    }

    [GlobalCleanup]
    public void Cleanup() => _brotli?.Dispose();

    /// <summary>Compresses the next batch; returns its compressed size.</summary>
    [Benchmark]
    public int CompressBatch()
    {
        var batch = _batches[_next++ % _batches.Length];
        return Compress(Codec, _brotli, batch);
    }

    internal static int Compress(string codec, StreamCompressor? brotli, byte[] batch)
    {
        if (brotli is not null)
        {
            var output = brotli.Compress(batch, out var length);
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
