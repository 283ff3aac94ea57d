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
        if (args is ["ratios"] or ["ratios", "demo"])
        {
            PrintRatios(SampleExchanges.Requests(4096), SampleExchanges.Responses(4096));
            return;
        }

        if (args is ["ratios", "small"])
        {
            PrintRatios(SampleExchanges.SmallRequests(4096), SampleExchanges.SmallResponses(4096));
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }

    /// <summary>
    /// Bytes per exchange and a rough CPU cost per message (one pass, wall clock: a guide for choosing what to
    /// measure end to end, not a benchmark).
    /// </summary>
    private static void PrintRatios(EdgeItem[] requests, OriginItem[] responses)
    {
        var count = (double)requests.Length;
        Console.WriteLine("codec     batch  request B/exchange (raw -> compressed, us/message)  response B/exchange (raw -> compressed, us/message)");
        foreach (var codec in new[] { "none", "gzip-1", "gzip-6", "brotli-1", "brotli-2", "brotli-3", "brotli-4", "brotli-5", "zstd-1", "zstd-3" })
        {
            foreach (var size in new[] { 1, 4, 16 })
            {
                var up = Measure(codec, SampleExchanges.Batches(requests, size, static c => new EdgeBatch { Items = { c } }));
                var down = Measure(codec, SampleExchanges.Batches(responses, size, static c => new OriginBatch { Items = { c } }));
                Console.WriteLine($"{codec,-9} {size,5}  {up.Raw / count,10:0.0} -> {up.Compressed / count,8:0.0} {up.MicrosPerMessage,8:0.0}           {down.Raw / count,10:0.0} -> {down.Compressed / count,8:0.0} {down.MicrosPerMessage,8:0.0}");
            }
        }
    }

    /// <summary>Sizes from one pass over a fresh stream; the time is the fastest of three passes (the first compiles).</summary>
    private static (long Raw, long Compressed, double MicrosPerMessage) Measure(string codec, byte[][] batches)
    {
        long raw = 0, compressed = 0;
        var fastest = double.MaxValue;
        for (var pass = 0; pass < 3; pass++)
        {
            using var stream = CodecBenchmarks.StreamCompressorFor(codec);
            raw = compressed = 0;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (var batch in batches)
            {
                raw += batch.Length;
                compressed += codec == "none" ? batch.Length : CodecBenchmarks.Compress(codec, stream, batch);
            }

            fastest = Math.Min(fastest, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        return (raw, compressed, fastest / batches.Length);
    }
}
