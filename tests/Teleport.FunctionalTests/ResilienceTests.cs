using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>Every request gets exactly one answer and traffic recovers by itself: lost origins, drains, half-open links, overload.</summary>
public sealed class ResilienceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task OriginKilledUnderLoad_EveryRequestAnswered_RecoversWithinTwoSecondsOfItsReturn()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("ok")));
        var port = FreePort.Next();
        string[] originArgs = ["--listen", $"127.0.0.1:{port}", "--upstream", up.Address.ToString().TrimEnd('/')];
        var origin = await StartOriginProcessAsync(originArgs);
        try
        {
            await using var edge = await TestServer.StartEdgeAsync(output, new Uri($"http://127.0.0.1:{port}"), "--tunnel-wait", "500ms");
            using var client = edge.CreateClient();
            await using var load = new LoadLoop(client, clients: 100, "/x");

            await load.UntilAsync(200);
            // SIGKILL: no drain, no goodbye on its connections.
            await origin.DisposeAsync();
            await Task.Delay(1000);
            origin = await StartOriginProcessAsync(originArgs);
            var back = load.Elapsed;
            await load.UntilElapsedAsync(back + TimeSpan.FromSeconds(3));
            var results = await load.StopAsync();

            output.WriteLine(load.Describe());
            Assert.DoesNotContain(results, r => r.Failure is not null);
            Assert.All(results, r => Assert.Contains(r.Status, new[] { 200, 502, 503 }));
            Assert.Contains(results, r => r.Status != 200);
            var recovered = results.Where(r => r.Started > back + TimeSpan.FromSeconds(2)).ToList();
            Assert.NotEmpty(recovered);
            Assert.All(recovered, r => Assert.Equal(200, r.Status));
        }
        finally
        {
            await origin.DisposeAsync();
        }
    }

    /// <summary>teleport-origin as its own process (so it can be killed), once it listens.</summary>
    private static async Task<BackgroundProcess> StartOriginProcessAsync(string[] args)
    {
        var origin = BackgroundProcess.Start("origin", Path.Combine(AppContext.BaseDirectory, "teleport-origin.dll"), args, []);
        await origin.ListeningAddressAsync();
        return origin;
    }

    [Fact]
    public async Task TwoOrigins_RollingRestartUnderLoad_NoRequestFails()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            await Task.Delay(Random.Shared.Next(0, 20));
            await c.Response.WriteAsync("ok");
        }));
        int[] ports = [FreePort.Next(), FreePort.Next()];
        var origins = new TestServer[2];
        for (var i = 0; i < 2; i++)
        {
            origins[i] = await StartOriginOnAsync(ports[i], up.Address);
        }

        try
        {
            await using var edge = await TestServer.StartEdgeAsync(output, new Uri($"http://127.0.0.1:{ports[0]}"), "--origin", $"http://127.0.0.1:{ports[1]}");
            await edge.WaitUntilAsync(static e => e.Counters.StreamsOpened >= 2).DefaultTimeout();
            using var client = edge.CreateClient();
            await using var load = new LoadLoop(client, clients: 32, "/x");
            await load.UntilAsync(200);

            for (var i = 0; i < 2; i++)
            {
                var opened = edge.Counters.StreamsOpened;
                await origins[i].DisposeAsync();
                origins[i] = await StartOriginOnAsync(ports[i], up.Address);
                await edge.WaitUntilAsync(e => e.Counters.StreamsOpened > opened).DefaultTimeout();
                var served = load.Count;
                await load.UntilAsync(served + 200);
            }

            var results = await load.StopAsync();
            output.WriteLine(load.Describe());
            Assert.All(results, r => Assert.Equal(200, r.Status));
        }
        finally
        {
            foreach (var origin in origins)
            {
                await origin.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task HalfOpenConnection_DetectedAndReplacedWithinHeartbeatTimeout()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("ok")));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var relay = new TcpRelay(new IPEndPoint(IPAddress.Loopback, origin.Address.Port));
        await using var edge = await TestServer.StartEdgeAsync(output, relay.Address,
            "--heartbeat-interval", "200ms", "--heartbeat-timeout", "2s", "--tunnel-wait", "10s");
        using var client = edge.CreateClient();
        Assert.Equal("ok", await client.GetStringAsync("/before").DefaultTimeout());

        relay.FreezeExisting();
        var frozen = Stopwatch.StartNew();
        // A request sent into the frozen stream is answered too (502, or 200 once retried on the new stream).
        var caught = client.GetAsync("/during");
        await edge.WaitUntilAsync(static e => e.Counters.StreamsOpened >= 2).DefaultTimeout();
        var detected = frozen.Elapsed;

        output.WriteLine($"replaced after {detected.TotalMilliseconds:0} ms");
        // Well under the 10 s default timeout: the heartbeats found it, not TCP.
        Assert.InRange(detected, TimeSpan.Zero, TimeSpan.FromSeconds(6));
        Assert.Equal(2, relay.Accepted);
        Assert.Contains((int)(await caught.DefaultTimeout()).StatusCode, new[] { 200, 502 });
        Assert.Equal("ok", await client.GetStringAsync("/after").DefaultTimeout());
        Assert.Contains(edge.WarningLogs, l => l.Contains("dead peer or half-open connection", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TwoOrigins_NewRequestsGoToTheLessLoadedOne()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upA = await StartNamedUpstreamAsync("A", held, release);
        await using var upB = await StartNamedUpstreamAsync("B", held, release);
        await using var originA = await TestServer.StartOriginAsync(output, upA.Address);
        await using var originB = await TestServer.StartOriginAsync(output, upB.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, originA.Address, "--origin", originB.Address.ToString().TrimEnd('/'));
        await edge.WaitUntilAsync(static e => e.Counters.StreamsOpened >= 2).DefaultTimeout();
        using var client = edge.CreateClient();

        var slow = client.GetStringAsync("/hold");
        var busy = await held.Task.DefaultTimeout();
        var answers = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            answers.Add(await client.GetStringAsync("/who").DefaultTimeout());
        }

        release.SetResult();
        Assert.Equal(busy, await slow.DefaultTimeout());
        Assert.All(answers, a => Assert.NotEqual(busy, a));
    }

    [Fact]
    public async Task OriginWideLimit_RefusesAcrossStreams()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            Interlocked.Increment(ref arrived);
            await release.Task;
            await c.Response.WriteAsync("ok");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-concurrent-total", "2");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--streams", "2");
        await edge.WaitUntilAsync(static e => e.Counters.StreamsOpened >= 2).DefaultTimeout();
        using var client = edge.CreateClient();

        var running = new[] { client.GetAsync("/a"), client.GetAsync("/b") };
        while (Volatile.Read(ref arrived) < 2)
        {
            await Task.Delay(10);
        }

        // Refused on one stream, retried on the other, refused there too: one origin-wide limit.
        using var refused = await client.GetAsync("/c").DefaultTimeout();
        release.SetResult();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("2 exchanges in all", await refused.Content.ReadAsStringAsync());
        Assert.All(await Task.WhenAll(running).DefaultTimeout(), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    [Fact]
    public async Task StreamLostMidExchange_IdempotentRetriedElsewhereWithTheFlag_PostAnswered502()
    {
        var held = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upA = await StartNamedUpstreamAsync("A", held, never.Task);
        await using var upB = await StartNamedUpstreamAsync("B", new TaskCompletionSource<string>(), Task.CompletedTask);
        await using var originA = await TestServer.StartOriginAsync(output, upA.Address);
        var relay = new TcpRelay(new IPEndPoint(IPAddress.Loopback, originA.Address.Port));
        // Origin B is not up yet, so both requests go to A.
        var portB = FreePort.Next();
        await using var edge = await TestServer.StartEdgeAsync(output, relay.Address,
            "--origin", $"http://127.0.0.1:{portB}", "--retry-idempotent", "--reconnect-max-delay", "200ms");
        using var client = edge.CreateClient();

        var get = client.GetAsync("/hold");
        var post = client.PostAsync("/hold", new StringContent("x"));
        var heldCount = upA.App.Services.GetRequiredService<HeldCount>();
        while (heldCount.Value < 2)
        {
            await Task.Delay(10);
        }

        await using var originB = await StartOriginOnAsync(portB, upB.Address);
        await edge.WaitUntilAsync(static e => e.Counters.StreamsOpened >= 2).DefaultTimeout();
        await relay.DisposeAsync();

        using var getAnswer = await get.DefaultTimeout();
        using var postAnswer = await post.DefaultTimeout();
        Assert.Equal("A", await held.Task.DefaultTimeout());
        Assert.Equal(HttpStatusCode.OK, getAnswer.StatusCode);
        Assert.Equal("B", await getAnswer.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadGateway, postAnswer.StatusCode);
        never.SetResult();
    }

    [Fact]
    public async Task IdleStream_HeartbeatsKeepItAndReportTheRoundTrip()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("ok")));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address,
            "--heartbeat-interval", "100ms", "--heartbeat-timeout", "3s", "--admin", "127.0.0.1:0");
        using var http = new HttpClient();

        // Twenty heartbeats of an idle stream: it stays up, with a measured round trip.
        await Task.Delay(2000);
        var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(edge.AdminAddress, "/readyz")).DefaultTimeout()).RootElement;
        var stream = Assert.Single(json.GetProperty("streams").EnumerateArray());
        Assert.True(stream.GetProperty("up").GetBoolean());
        Assert.InRange(stream.GetProperty("rtt_ms").GetDouble(), 0.001, 500);
        Assert.Equal(1, edge.Counters.StreamsOpened);
        using var client = edge.CreateClient();
        Assert.Equal("ok", await client.GetStringAsync("/after-idle").DefaultTimeout());
    }

    private Task<TestServer> StartOriginOnAsync(int port, Uri upstream)
        => TestServer.StartOriginAsync(output, ["--listen", $"127.0.0.1:{port}", "--upstream", upstream.ToString().TrimEnd('/'), "--drain-timeout", "5s"]);

    /// <summary>An upstream answering its name; /hold reports the name in <paramref name="held"/> and waits for <paramref name="release"/>.</summary>
    private Task<TestServer> StartNamedUpstreamAsync(string name, TaskCompletionSource<string> held, TaskCompletionSource release)
        => StartNamedUpstreamAsync(name, held, release.Task);

    private Task<TestServer> StartNamedUpstreamAsync(string name, TaskCompletionSource<string> held, Task release)
        => TestServer.StartUpstreamAsync(output, static services => services.AddSingleton<HeldCount>(), app => app.Run(async c =>
        {
            if (c.Request.Path == "/hold")
            {
                c.RequestServices.GetRequiredService<HeldCount>().Increment();
                held.TrySetResult(name);
                await release.WaitAsync(c.RequestAborted);
            }

            await c.Response.WriteAsync(name);
        }), k => k.Listen(IPAddress.Loopback, 0));

    private sealed class HeldCount
    {
        private int _value;

        public int Value => Volatile.Read(ref _value);

        public void Increment() => Interlocked.Increment(ref _value);
    }
}

/// <summary>Clients sending requests back to back until stopped; every request's start, status or failure is kept.</summary>
internal sealed class LoadLoop : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly string _path;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<LoadResult> _results = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _clients;

    public LoadLoop(HttpClient client, int clients, string path)
    {
        _client = client;
        _path = path;
        _clients = [.. Enumerable.Range(0, clients).Select(_ => Task.Run(RunAsync))];
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    public int Count => _results.Count;

    public async Task UntilAsync(int count)
    {
        while (_results.Count < count)
        {
            await Task.Delay(10);
        }
    }

    public async Task UntilElapsedAsync(TimeSpan elapsed)
    {
        while (_clock.Elapsed < elapsed)
        {
            await Task.Delay(10);
        }
    }

    public async Task<List<LoadResult>> StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_clients).DefaultTimeout();
        return [.. _results];
    }

    public string Describe()
        => $"{_results.Count} requests: " + string.Join(", ", _results.GroupBy(r => r.Failure is null ? r.Status.ToString() : r.Failure).Select(g => $"{g.Key} x{g.Count()}"));

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_clients).WaitAsync(TimeSpan.FromSeconds(30));
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var started = _clock.Elapsed;
            try
            {
                // No cancellation by the loop's stop: a request once sent must get its answer.
                using var response = await _client.GetAsync(_path);
                await response.Content.ReadAsByteArrayAsync();
                _results.Enqueue(new LoadResult(started, (int)response.StatusCode, null));
            }
            catch (Exception ex)
            {
                _results.Enqueue(new LoadResult(started, 0, ex.GetType().Name + ": " + ex.Message));
            }
        }
    }
}

internal sealed record LoadResult(TimeSpan Started, int Status, string? Failure);
