using BenchmarkDotNet.Running;
using Teleport.Protocol.Compression;
using Teleport.Protocol.V1;

namespace Teleport.Benchmarks;

internal static class Program
{
    /// <summary>
    /// `-- ratios` prints compressed bytes per exchange for each codec and batch size (no timing);
    /// anything else goes to BenchmarkDotNet (e.g. `-- --filter '*Codec*'`).
    /// </summary>
    public static void Main(string[] args)
    {
        if (args is ["ratios"])
        {
            PrintRatios();
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }

    private static void PrintRatios()
    {
        var requests = SampleExchanges.Requests(4096);
        var responses = SampleExchanges.Responses(4096);
        Console.WriteLine("codec     batch  request B/exchange (raw -> compressed)  response B/exchange (raw -> compressed)");
        foreach (var codec in new[] { "none", "gzip-1", "gzip-6", "brotli-1", "brotli-2", "brotli-3", "brotli-4", "brotli-5", "zstd-1", "zstd-3" })
        {
            foreach (var size in new[] { 1, 16 })
            {
                var up = Measure(codec, SampleExchanges.Batches(requests, size, static c => new EdgeBatch { Items = { c } }));
                var down = Measure(codec, SampleExchanges.Batches(responses, size, static c => new OriginBatch { Items = { c } }));
                Console.WriteLine($"{codec,-9} {size,5}  {up.Raw / 4096.0,10:0.0} -> {up.Compressed / 4096.0,8:0.0}                  {down.Raw / 4096.0,10:0.0} -> {down.Compressed / 4096.0,8:0.0}");
            }
        }
    }

    private static (long Raw, long Compressed) Measure(string codec, byte[][] batches)
    {
        using var stream = CodecBenchmarks.StreamCompressorFor(codec);
        long raw = 0, compressed = 0;
        foreach (var batch in batches)
        {
            raw += batch.Length;
            compressed += codec == "none" ? batch.Length : CodecBenchmarks.Compress(codec, stream, batch);
        }

        return (raw, compressed);
    }
}
