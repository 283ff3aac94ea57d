using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Streamed response bodies: never buffered whole, flow-controlled per exchange, cut off when broken.</summary>
public sealed class StreamingTests(ITestOutputHelper output)
{
    private const int Downloads = 6;

    [Fact]
    public async Task ServerSentEvents_FirstEventReachesTheClientBeforeTheUpstreamFinishes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.Response.ContentType = "text/event-stream";
            await c.Response.WriteAsync("data: one\n\n");
            await c.Response.Body.FlushAsync();
            await release.Task.WaitAsync(c.RequestAborted);
            await c.Response.WriteAsync("data: two\n\n");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        // The upstream is still holding its second event: this line can only come through streamed.
        Assert.Equal("data: one", await reader.ReadLineAsync().DefaultTimeout());
        release.SetResult();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("\ndata: two\n\n", await reader.ReadToEndAsync().DefaultTimeout());
    }

    [Fact]
    public async Task UpstreamBreaksOffMidBody_ClientResponseIsCutOff_NotCompletedAsIfWhole()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (c.Request.Path == "/sized")
            {
                c.Response.ContentLength = 1024 * 1024;
            }

            await c.Response.Body.WriteAsync(new byte[200 * 1024]);
            await c.Response.Body.FlushAsync();
            c.Abort();
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        foreach (var path in new[] { "/sized", "/chunked" })
        {
            using var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsByteArrayAsync().DefaultTimeout());
        }

        // The tunnel itself is fine.
        Assert.Equal(1, edge.Counters.StreamsOpened);
    }

    [Fact]
    public async Task ClientLeavesMidDownload_UpstreamRequestIsAborted()
    {
        var upstreamAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            var block = new byte[32 * 1024];
            try
            {
                while (true)
                {
                    await c.Response.Body.WriteAsync(block, c.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
                upstreamAborted.TrySetResult();
            }
            catch (IOException)
            {
                upstreamAborted.TrySetResult();
            }
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using (var response = await client.GetAsync("/endless", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout())
        {
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            for (var read = 0; read < 1024 * 1024;)
            {
                read += await body.ReadAsync(buffer).DefaultTimeout();
            }
        }

        // The edge sent a cancel and the origin aborted the upstream request; the tunnel itself stays.
        await upstreamAborted.Task.DefaultTimeout();
        Assert.Equal(1, edge.Counters.StreamsOpened);
    }

    [Fact]
    public async Task SlowReaderOfABigDownload_DoesNotSlowTheOtherExchanges()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (c.Request.Path == "/big")
            {
                var block = new byte[64 * 1024];
                for (var i = 0; i < 1024 && !c.RequestAborted.IsCancellationRequested; i++)
                {
                    await c.Response.Body.WriteAsync(block, c.RequestAborted);
                }

                return;
            }

            await c.Response.WriteAsync("small");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var idle = await SmallRequestLatenciesAsync(client, 200);
        using var download = await client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        await using var slow = await download.Content.ReadAsStreamAsync();
        using var stop = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            // About 1.6 MB/s: the tunnel could move the body far faster, so most of it waits behind the window.
            var buffer = new byte[16 * 1024];
            long total = 0;
            while (!stop.IsCancellationRequested && await slow.ReadAsync(buffer) is > 0 and var n)
            {
                total += n;
                await Task.Delay(10);
            }

            return total;
        });
        await Task.Delay(300);
        var busy = await SmallRequestLatenciesAsync(client, 200);
        stop.Cancel();
        var slowRead = await reading.DefaultTimeout();

        output.WriteLine($"small requests p99: idle {P99(idle):0.00} ms, beside a slow 64 MiB download {P99(busy):0.00} ms; slow reader took {slowRead / 1024} KiB");
        Assert.InRange(slowRead, 1, 32L * 1024 * 1024);
        // Within 2x of idle, plus 20 ms for the scheduling noise of a busy 2-core machine; head-of-line blocking
        // behind the download would cost seconds (most of 64 MiB waits behind a reader taking 1.6 MB/s).
        Assert.InRange(P99(busy), 0, (2 * P99(idle)) + 20);
    }

    [Fact]
    public async Task ManyFastBigDownloads_DoNotStarveTheSmallExchanges()
    {
        // Text-like blocks: they compress fast, so the tunnel, not the codec, is what the downloads fill.
        var block = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 4096).Select(i => $"row {i,10}\n")));
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (c.Request.Path == "/big")
            {
                while (!c.RequestAborted.IsCancellationRequested)
                {
                    await c.Response.Body.WriteAsync(block, c.RequestAborted);
                }

                return;
            }

            await c.Response.WriteAsync("small");
        }));
        // What this looks at is the order in which the origin's writer sends; a smaller HTTP/2 window keeps the
        // bytes already in the transport (which no scheduler can overtake) from dominating what is measured.
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-response-body-size", "1500MiB", "--compression", "none");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--max-response-body-size", "1500MiB", "--http2-window", "1MiB");
        using var client = edge.CreateClient();

        var idle = await SmallRequestLatenciesAsync(client, 100);
        using var stop = new CancellationTokenSource();
        var downloads = new Task<long>[Downloads];
        for (var i = 0; i < downloads.Length; i++)
        {
            downloads[i] = ReadAllAsync(client, stop.Token);
        }

        // Every download's window is full by now: the tunnel runs as fast as the readers take the bytes.
        await Task.Delay(500);
        var busy = await SmallRequestLatenciesAsync(client, 100);
        stop.Cancel();
        var read = await Task.WhenAll(downloads).DefaultTimeout();

        output.WriteLine($"small requests p99: idle {P99(idle):0.00} ms, beside {Downloads} fast downloads {P99(busy):0.00} ms; the downloads read {read.Sum() >> 20} MiB");
        Assert.All(read, r => Assert.True(r > 4 * 1024 * 1024, $"a download read only {r} bytes"));
        // The small answers go ahead of the queued chunks. Sent first come, first served, each waited behind the
        // downloads' queued windows (up to 6 x 4 MiB): 170-650 ms here, against 40-110 ms now, most of that the
        // two cores being busy with the downloads themselves.
        Assert.InRange(P99(busy), 0, (2 * P99(idle)) + 120);

        static async Task<long> ReadAllAsync(HttpClient client, CancellationToken stop)
        {
            using var response = await client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead, stop);
            await using var body = await response.Content.ReadAsStreamAsync(stop);
            var buffer = new byte[64 * 1024];
            long total = 0;
            try
            {
                while (await body.ReadAsync(buffer, stop) is > 0 and var n)
                {
                    total += n;
                }
            }
            catch (OperationCanceledException)
            {
            }

            return total;
        }
    }

    [Fact]
    public async Task UploadOfUnknownLength_StreamsThroughIntact()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            while (await c.Request.Body.ReadAsync(buffer) is > 0 and var n)
            {
                hash.AppendData(buffer, 0, n);
                total += n;
            }

            await c.Response.WriteAsync($"{total} {Convert.ToHexString(hash.GetHashAndReset())} {c.Request.Headers.TransferEncoding}");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();
        var body = new byte[12 * 1024 * 1024 + 123];
        new Random(7).NextBytes(body);

        // No Content-Length: the client sends it chunked, and the edge cannot know its size up front.
        using var response = await client.PostAsync("/upload", new StreamContent(new MemoryStream(body))).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{body.Length} {Convert.ToHexString(SHA256.HashData(body))} chunked", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task StreamedUploadOverTheLimit_413_UpstreamNeverGetsAWholeBody()
    {
        var upstreamStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var upstreamGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var completed = 0;
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            upstreamStarted.TrySetResult();
            try
            {
                await c.Request.Body.CopyToAsync(Stream.Null, c.RequestAborted);
                Interlocked.Increment(ref completed);
            }
            catch (Exception)
            {
                upstreamGaveUp.TrySetResult();
                throw;
            }
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--max-request-body-size", "1MiB");
        using var client = edge.CreateClient();

        using var response = await client.PostAsync("/too-big", new StreamContent(new MemoryStream(new byte[3 * 1024 * 1024]))).DefaultTimeout();

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request-too-large", response.Headers.GetValues("X-Teleport-Error").Single());
        // The cancel may overtake the upstream request's start; a request that did start is aborted, never completed.
        if (await Task.WhenAny(upstreamStarted.Task, Task.Delay(1000)) == upstreamStarted.Task)
        {
            await upstreamGaveUp.Task.DefaultTimeout();
        }

        Assert.Equal(0, Volatile.Read(ref completed));
    }

    private static async Task<List<double>> SmallRequestLatenciesAsync(HttpClient client, int count)
    {
        var latencies = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            Assert.Equal("small", await client.GetStringAsync("/small").DefaultTimeout());
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return latencies;
    }

    private static double P99(List<double> latencies) => latencies.Order().ElementAt((int)(latencies.Count * 0.99) - 1);
}

/// <summary>A 1 GiB download through edge and origin: intact, with memory that stays flat. Alone, since it samples the process.</summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class BigDownloadTests(ITestOutputHelper output)
{
    private const long Size = 1L << 30;

    [Fact]
    public async Task OneGibibyteDownload_ArrivesIntact_WorkingSetStaysFlat()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.Response.ContentLength = Size;
            var block = new byte[64 * 1024];
            for (long sent = 0; sent < Size; sent += block.Length)
            {
                Pattern.Fill(block, sent);
                await c.Response.Body.WriteAsync(block, c.RequestAborted);
            }
        }));
        // Uncompressed: a gibibyte through Brotli would test the CPU rather than the streaming (the compressor keeps a fixed window either way).
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-response-body-size", "1500MiB", "--compression", "none");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();
        using var process = Process.GetCurrentProcess();
        GC.Collect();
        process.Refresh();
        var baseline = process.WorkingSet64;
        var peak = baseline;
        var clock = Stopwatch.StartNew();

        using var response = await client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        await using var body = await response.Content.ReadAsStreamAsync();
        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long total = 0;
        var nextSample = 0L;
        while (await body.ReadAsync(buffer).DefaultTimeout() is > 0 and var n)
        {
            received.AppendData(buffer, 0, n);
            total += n;
            if (total >= nextSample)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
                nextSample += 32 * 1024 * 1024;
            }
        }

        var elapsed = clock.Elapsed;
        output.WriteLine($"1 GiB in {elapsed.TotalSeconds:0.0} s ({Size / elapsed.TotalSeconds / 1e6:0} MB/s); working set {baseline >> 20} MiB before, peak {peak >> 20} MiB");
        Assert.Equal(Size, total);
        Assert.Equal(Pattern.Sha256(Size), received.GetHashAndReset());
        Assert.InRange(peak - baseline, long.MinValue, 64L * 1024 * 1024);
    }

    /// <summary>Bytes that differ along the body (an offset bug cannot go unseen) and compress like text.</summary>
    private static class Pattern
    {
        public static void Fill(byte[] block, long offset)
        {
            var line = Encoding.ASCII.GetBytes($"block at {offset,16} ");
            for (var i = 0; i < block.Length; i++)
            {
                block[i] = line[i % line.Length];
            }
        }

        public static byte[] Sha256(long size)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var block = new byte[64 * 1024];
            for (long offset = 0; offset < size; offset += block.Length)
            {
                Fill(block, offset);
                hash.AppendData(block);
            }

            return hash.GetHashAndReset();
        }
    }
}
