using System.Diagnostics;
using System.Net;
using System.Text;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>
/// Issue 9's promise on a real constrained link: two network namespaces joined by a shaped veth, with round-trip
/// delay from delay-relay (bench/link/link-bench.sh measures the same set-up at length; results in bench/RESULTS.md).
/// The upstream and the origin sit on the origin side, the edge and this test's client on the edge side. Measured
/// rates, so these run alone.
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class ConstrainedLinkTests(ITestOutputHelper output)
{
    private const int UpstreamPort = 8081;
    private const int OriginPort = 9090;
    private const int PlainPort = 8080;
    private const int TunnelPort = 9000;
    private const int EdgePort = 8000;
    private static readonly string PlainUrl = $"http://{ShapedLink.OriginAddress}:{PlainPort}";
    private static readonly string EdgeUrl = $"http://127.0.0.1:{EdgePort}";

    [NetworkNamespaceFact]
    public async Task Requests_Across5MbitLink_TunnelCarriesSeveralTimesPlainHttp()
    {
        await using var link = await ShapedLink.CreateAsync(mbit: 5, output);
        using var sockets = await StartAsync(link, TimeSpan.FromMilliseconds(20));
        using var client = sockets.CreateHttpClient(connections: 256);

        // Warm-up first (connections, and .NET's second compilation of the hot code in the edge and origin).
        await RequestsPerSecondAsync(client, PlainUrl, TimeSpan.FromSeconds(1));
        var plain = await RequestsPerSecondAsync(client, PlainUrl, TimeSpan.FromSeconds(4));
        await RequestsPerSecondAsync(client, EdgeUrl, TimeSpan.FromSeconds(2));
        var tunnel = await RequestsPerSecondAsync(client, EdgeUrl, TimeSpan.FromSeconds(4));
        output.WriteLine($"5 Mbit/s, 20 ms: plain {plain:F0} req/s, tunnel {tunnel:F0} req/s ({tunnel / plain:F1}x)");

        // Plain HTTP fills the link (about 1.5 KB per exchange); the tunnel sends a tenth of that, so only the machine's
        // two shared cores hold it back: 2x leaves room for a loaded CI machine and still fails if the tunnel
        // stopped compressing or batching.
        Assert.True(tunnel > 2 * plain, $"tunnel {tunnel:F0} req/s, plain {plain:F0} req/s: the tunnel should carry more than twice as many");
    }

    [NetworkNamespaceFact]
    public async Task LargeUpload_At80MsRoundTrip_IsNotLimitedByTheHttp2Window()
    {
        var roundTrip = TimeSpan.FromMilliseconds(80);
        await using var link = await ShapedLink.CreateAsync(mbit: 100, output);
        using var sockets = await StartAsync(link, roundTrip, "--max-request-body-size", "64MiB");
        using var client = sockets.CreateHttpClient(connections: 4);

        // The delay is there: one small exchange through the tunnel takes a round trip.
        var lone = Stopwatch.StartNew();
        (await client.GetAsync(EdgeUrl + "/healthz").DefaultTimeout()).EnsureSuccessStatusCode();
        Assert.True(lone.Elapsed >= roundTrip * 0.9, $"one exchange took {lone.Elapsed.TotalMilliseconds:F0} ms, less than the {roundTrip.TotalMilliseconds} ms round trip");

        var body = LargeBidRequest(16 * 1000 * 1000);
        var upload = Stopwatch.StartNew();
        using var response = await client.PostAsync(EdgeUrl + "/bid", new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } }).DefaultTimeout();
        upload.Stop();
        response.EnsureSuccessStatusCode();
        var mbit = body.Length * 8 / upload.Elapsed.TotalSeconds / 1e6;
        output.WriteLine($"100 Mbit/s, 80 ms: {body.Length / 1e6:F0} MB uploaded in {upload.Elapsed.TotalSeconds:F2} s = {mbit:F0} Mbit/s");

        // A window allows one window of bytes per round trip: Kestrel's default 96 KiB gives 9.8 Mbit/s at 80 ms (13 Mbit/s
        // of this body, which compresses to about 3/4), a 256 KiB per-exchange window of a streamed body 26 Mbit/s.
        // Measured: 85 Mbit/s with the whole body in one message and an 8 MiB HTTP/2 window; 12 with a 128 KiB window.
        Assert.True(mbit > 35, $"{mbit:F0} Mbit/s on a 100 Mbit/s link at 80 ms: window-limited. One window per round trip: "
            + "the tunnel stream's HTTP/2 window (--http2-window, 8 MiB) or a streamed body's per-exchange window (256 KiB: 26 Mbit/s at 80 ms) is below the bandwidth-delay product (1 MB).");
    }

    /// <summary>Upstream and origin (behind a relay) on the origin side, the edge on the edge side, plain HTTP's relay; returns once both paths answer.</summary>
    private static async Task<NamespaceSockets> StartAsync(ShapedLink link, TimeSpan roundTrip, params string[] serviceArgs)
    {
        link.Start(link.OriginNamespace, "Teleport.Demo", "upstream", "--listen", $"127.0.0.1:{UpstreamPort}");
        link.Start(link.OriginNamespace, "teleport-origin", ["--listen", $"127.0.0.1:{OriginPort}", "--upstream", $"http://127.0.0.1:{UpstreamPort}", .. serviceArgs]);
        link.StartRelay(PlainPort, UpstreamPort, roundTrip);
        link.StartRelay(TunnelPort, OriginPort, roundTrip);
        link.Start(link.EdgeNamespace, "teleport-edge", ["--listen", $"127.0.0.1:{EdgePort}", "--origin", $"http://{ShapedLink.OriginAddress}:{TunnelPort}", .. serviceArgs]);
        var sockets = new NamespaceSockets(link.EdgeNamespace);
        try
        {
            using var probe = sockets.CreateHttpClient(connections: 1);
            await WaitForAsync(probe, PlainUrl + "/healthz").DefaultTimeout();
            await WaitForAsync(probe, EdgeUrl + "/healthz").DefaultTimeout();
            return sockets;
        }
        catch
        {
            sockets.Dispose();
            throw;
        }
    }

    private static async Task WaitForAsync(HttpClient client, string url)
    {
        while (true)
        {
            try
            {
                using var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }
    }

    /// <summary>256 clients GET catalog items (~1 KB of JSON each, 64 distinct) as fast as answers come for <paramref name="duration"/>.</summary>
    private static async Task<double> RequestsPerSecondAsync(HttpClient client, string baseUrl, TimeSpan duration)
    {
        long completed = 0;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, 256).Select(worker => Task.Run(async () =>
        {
            for (var i = worker; clock.Elapsed < duration; i++)
            {
                using var response = await client.GetAsync($"{baseUrl}/api/items/{i % 64 + 1}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await response.Content.ReadAsByteArrayAsync();
                Interlocked.Increment(ref completed);
            }
        }));
        await Task.WhenAll(workers).DefaultTimeout();
        return Interlocked.Read(ref completed) / clock.Elapsed.TotalSeconds;
    }

    /// <summary>A valid bid request padded with random base64 to about <paramref name="size"/> bytes.</summary>
    private static byte[] LargeBidRequest(int size)
    {
        var random = new byte[size * 3 / 4];
        new Random(9).NextBytes(random);
        return Encoding.ASCII.GetBytes($$"""{"id":"large","imp":[],"pad":"{{Convert.ToBase64String(random)}}"}""");
    }
}
