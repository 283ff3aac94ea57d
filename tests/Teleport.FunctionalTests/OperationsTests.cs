using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Origin.Diagnostics;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream;
using Teleport.Origin.Upstream.Health;
using Teleport.Protocol.Diagnostics;
using Teleport.Protocol.Security;

namespace Teleport.FunctionalTests;

/// <summary>
/// The admin listener (/metrics, /healthz, /readyz), the metrics moving with traffic, and JSON logs. Alone: an
/// exporter takes every meter of its name in the process, so another test's service with --admin would add to
/// (or, stopping, take away) the series these tests read.
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class OperationsTests(ITestOutputHelper output)
{
    private static readonly string[] Admin = ["--admin", "127.0.0.1:0"];

    [Fact]
    public async Task Metrics_MoveWithTraffic_ByOutcome_AndGzipPutsFewerBytesOnTheWireThanLogical()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.Response.StatusCode = c.Request.Path == "/missing" ? 404 : 200;
            await c.Request.Body.CopyToAsync(c.Response.Body, c.RequestAborted);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, ["--compression", "gzip", .. Admin]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, ["--compression", "gzip", .. Admin]);
        using var client = edge.CreateClient();
        // Repetitive JSON, as real API traffic is: gzip shrinks it well.
        var body = string.Concat(Enumerable.Repeat("{\"item\":\"catalog-entry\",\"price\":100,\"currency\":\"EUR\"},", 100));

        for (var i = 0; i < 5; i++)
        {
            using var ok = await client.PostAsync("/ok", new StringContent(body)).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            using var missing = await client.PostAsync("/missing", new StringContent(body)).DefaultTimeout();
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        // The counters move just after the answer is written, so the client may be a moment ahead.
        var metrics = await ScrapeUntilAsync(edge, m => Sum(m, "teleport_edge_requests_total") == 7 && Sum(m, "teleport_edge_requests_in_flight") == 0);
        Assert.Equal(5, Sum(metrics, "teleport_edge_requests_total", "outcome=\"success\""));
        Assert.Equal(2, Sum(metrics, "teleport_edge_requests_total", "outcome=\"non_2xx\""));
        Assert.Equal(7, Sum(metrics, "teleport_edge_request_duration_seconds_count"));
        Assert.Equal(1, Sum(metrics, "teleport_edge_tunnel_streams_up"));
        Assert.Equal(0, Sum(metrics, "teleport_edge_requests_in_flight"));
        Assert.True(Sum(metrics, "teleport_edge_tunnel_batch_items_count") >= 7, "every request went in a message");
        foreach (var direction in new[] { "direction=\"sent\"", "direction=\"received\"" })
        {
            var logical = Sum(metrics, "teleport_edge_tunnel_logical_bytes_total", direction);
            var wire = Sum(metrics, "teleport_edge_tunnel_wire_bytes_total", direction);
            Assert.True(logical > 7 * body.Length, $"{direction}: logical {logical} covers the 7 bodies");
            Assert.True(wire < logical, $"{direction}: gzip saved bytes (wire {wire} < logical {logical})");
        }

        Assert.Equal(7, Sum(metrics, "teleport_edge_requests_total", "method=\"post\""));
        Assert.Equal(7, Sum(metrics, "teleport_edge_request_duration_seconds_count", "method=\"post\""));
        AssertCompressionRatios(metrics, "teleport_edge");
        // The client's own connection: its bytes cover the bodies both ways.
        Assert.True(Sum(metrics, "teleport_edge_client_connections_accepted_total") >= 1);
        Assert.True(Sum(metrics, "teleport_edge_client_connections_open") >= 1);
        Assert.True(Sum(metrics, "teleport_edge_client_bytes_total", "direction=\"received\"") > 7 * body.Length);
        Assert.True(Sum(metrics, "teleport_edge_client_bytes_total", "direction=\"sent\"") > 7 * body.Length);
        Assert.Equal(1, Sum(metrics, "teleport_edge_tunnel_connections_opened_total"));

        var originMetrics = await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_upstream_requests_total") == 7);
        Assert.Equal(5, Sum(originMetrics, "teleport_origin_upstream_requests_total", "outcome=\"success\""));
        Assert.Equal(2, Sum(originMetrics, "teleport_origin_upstream_requests_total", "outcome=\"non_2xx\""));
        Assert.Equal(1, Sum(originMetrics, "teleport_origin_tunnel_streams_up"));
        Assert.True(Sum(originMetrics, "teleport_origin_tunnel_logical_bytes_total", "direction=\"received\"") > 7 * body.Length);
        // The origin counts the same connection where Kestrel accepted it: gzip saves there too, both ways.
        Assert.Equal(1, Sum(originMetrics, "teleport_origin_tunnel_connections_accepted_total"));
        Assert.Equal(1, Sum(originMetrics, "teleport_origin_tunnel_connections_open"));
        foreach (var direction in new[] { "direction=\"sent\"", "direction=\"received\"" })
        {
            var logical = Sum(originMetrics, "teleport_origin_tunnel_logical_bytes_total", direction);
            var wire = Sum(originMetrics, "teleport_origin_tunnel_wire_bytes_total", direction);
            Assert.True(wire > 0 && wire < logical, $"origin {direction}: gzip saved bytes (wire {wire} < logical {logical})");
        }

        AssertCompressionRatios(originMetrics, "teleport_origin");
        // What one side sent the other received: the two sides' wire counts agree within what is still in flight (pings).
        var edgeSent = Sum(metrics, "teleport_edge_tunnel_wire_bytes_total", "direction=\"sent\"");
        var originReceived = Sum(originMetrics, "teleport_origin_tunnel_wire_bytes_total", "direction=\"received\"");
        Assert.True(Math.Abs(edgeSent - originReceived) < 0.1 * edgeSent, $"edge sent {edgeSent}, origin received {originReceived}");
    }

    [Fact]
    public async Task Metrics_RequestsByMethodClass_NeverTheRawMethod()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("ok")));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, Admin);
        using var client = edge.CreateClient();

        foreach (var method in new[] { "GET", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE", "X-RANDOM-1" })
        {
            using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/m")).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var metrics = await ScrapeUntilAsync(edge, m => Sum(m, "teleport_edge_requests_total") == 9);
        Assert.Equal(2, Sum(metrics, "teleport_edge_requests_total", "method=\"get\""));
        foreach (var method in new[] { "head", "put", "delete", "patch", "options" })
        {
            Assert.Equal(1, Sum(metrics, "teleport_edge_requests_total", $"method=\"{method}\""));
        }

        Assert.Equal(2, Sum(metrics, "teleport_edge_requests_total", "method=\"other\""));
        Assert.Equal(0, Sum(metrics, "teleport_edge_requests_total", "method=\"post\""));
        Assert.DoesNotContain("PURGE", metrics, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(9, Sum(metrics, "teleport_edge_request_duration_seconds_count", "outcome=\"success\""));
    }

    [Fact]
    public async Task Metrics_EdgeOverloaded_CountedAsRejectedAndAsEdgeOverloadedError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            arrived.TrySetResult();
            await release.Task;
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, ["--max-pending", "1", .. Admin]);
        using var client = edge.CreateClient();

        var first = client.GetAsync("/held");
        await arrived.Task.DefaultTimeout();
        using var refused = await client.PostAsync("/refused", new StringContent("x")).DefaultTimeout();
        release.SetResult();
        using var held = await first.DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var metrics = await ScrapeUntilAsync(edge, m => Sum(m, "teleport_edge_requests_total") == 2 && Sum(m, "teleport_edge_errors_total") >= 1);
        Assert.Equal(1, Sum(metrics, "teleport_edge_requests_total", "outcome=\"rejected\"", "method=\"post\""));
        Assert.Equal(1, Sum(metrics, "teleport_edge_requests_total", "outcome=\"success\"", "method=\"get\""));
        Assert.Equal(1, Sum(metrics, "teleport_edge_errors_total", "error=\"edge-overloaded\""));
        Assert.Equal(1, Sum(metrics, "teleport_edge_errors_total"));
    }

    [Fact]
    public async Task Metrics_IncludeTheRuntimes_GarbageCollectionsThreadPoolAndCpu()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"), Admin);
        // The runtime counts collections since the process started: one now makes the figure at least 1.
        GC.Collect();

        var metrics = await ScrapeUntilAsync(origin, static m => Sum(m, "dotnet_gc_collections_total") >= 1);

        Assert.True(Sum(metrics, "dotnet_gc_collections_total", "gc_heap_generation=\"gen2\"") >= 1, "the forced collection is a gen2 one");
        Assert.True(Sum(metrics, "dotnet_gc_pause_time_seconds_total") > 0, "a collection pauses");
        Assert.True(Sum(metrics, "dotnet_thread_pool_thread_count_total") >= 1, "the scrape itself runs on the thread pool");
        Assert.True(Sum(metrics, "dotnet_process_cpu_time_seconds_total") > 0, "the process has used CPU");
        Assert.True(Sum(metrics, "dotnet_process_memory_working_set_bytes") > 0, "the process has memory");
    }

    [Fact]
    public async Task Metrics_DeadUpstream_CountsUpstreamErrorOnBothSides()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"), Admin);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, Admin);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/x").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var metrics = await ScrapeUntilAsync(edge, m => Sum(m, "teleport_edge_requests_total") == 1);
        Assert.Equal(1, Sum(metrics, "teleport_edge_requests_total", "outcome=\"upstream_error\""));
        var originMetrics = await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_upstream_requests_total") == 1);
        Assert.Equal(1, Sum(originMetrics, "teleport_origin_upstream_requests_total", "outcome=\"upstream_error\""));
    }

    [Fact]
    public async Task Metrics_OriginOverloaded_CountsRejections()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c => await release.Task));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, ["--max-concurrent", "1", .. Admin]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, Admin);
        using var client = edge.CreateClient();

        var first = client.GetAsync("/held");
        await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_exchanges_in_flight") == 1);
        using var refused = await client.GetAsync("/refused").DefaultTimeout();
        release.SetResult();
        using var held = await first.DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        // The held exchange is counted just after its answer went out: wait for both figures.
        var originMetrics = await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_rejections_total", "reason=\"overloaded\"") == 1
            && Sum(m, "teleport_origin_upstream_requests_total") == 1);
        Assert.Equal(1, Sum(originMetrics, "teleport_origin_upstream_requests_total", "outcome=\"success\""));
        var edgeMetrics = await ScrapeUntilAsync(edge, m => Sum(m, "teleport_edge_requests_total") == 2);
        Assert.Equal(1, Sum(edgeMetrics, "teleport_edge_requests_total", "outcome=\"rejected\""));
    }

    [Fact]
    public async Task Metrics_CancelledExchanges_CountedByReason_ClientAbortedAndTunnelLost()
    {
        var aborted = 0;
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, c.RequestAborted);
            }
            finally
            {
                Interlocked.Increment(ref aborted);
            }
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, Admin);
        // The tunnel crosses a relay, so that it can be cut under a running exchange.
        var relay = new TcpRelay(new IPEndPoint(IPAddress.Loopback, origin.Address.Port));
        await using var edge = await TestServer.StartEdgeAsync(output, relay.Address, Admin);
        using var client = edge.CreateClient();

        // A client that gives up: the edge sends a cancel with its reason.
        using (var leaving = new CancellationTokenSource())
        {
            var request = client.GetAsync("/leaves", leaving.Token);
            await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_exchanges_in_flight") == 1);
            await leaving.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        }

        var metrics = await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_exchanges_cancelled_total") == 1);
        Assert.Equal(1, Sum(metrics, "teleport_origin_exchanges_cancelled_total", "reason=\"client_aborted\""));

        // The tunnel's connection goes away with an exchange running: the stream ends under it.
        var held = client.GetAsync("/held");
        await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_exchanges_in_flight") == 1);
        await relay.DisposeAsync();
        using (var lost = await held.DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.BadGateway, lost.StatusCode);
        }

        var after = await ScrapeUntilAsync(origin, m => Sum(m, "teleport_origin_exchanges_cancelled_total") == 2);
        Assert.Equal(1, Sum(after, "teleport_origin_exchanges_cancelled_total", "reason=\"tunnel_lost\""));
        Assert.Equal(2, Sum(after, "teleport_origin_upstream_requests_total", "outcome=\"cancelled\""));
        // The upstream learns of the abort when its connection closes, a moment after the origin has counted it.
        await origin.WaitUntilAsync(_ => Volatile.Read(ref aborted) >= 2).DefaultTimeout();
        Assert.Equal(2, Volatile.Read(ref aborted));
        Assert.Contains(origin.Logs, l => l.Contains("(ClientAborted); its upstream request was aborted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AdminEndpoints_AreServedOnTheAdminListenerOnly()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("upstream:" + c.Request.Path)));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, Admin);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, Admin);
        using var http = new HttpClient();

        Assert.Equal("ok\n", await http.GetStringAsync(new Uri(edge.AdminAddress, "/healthz")).DefaultTimeout());
        Assert.Equal("ok\n", await http.GetStringAsync(new Uri(origin.AdminAddress, "/healthz")).DefaultTimeout());
        using var unknown = await http.GetAsync(new Uri(edge.AdminAddress, "/other")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var metrics = await http.GetStringAsync(new Uri(edge.AdminAddress, "/metrics")).DefaultTimeout();
        Assert.Contains("teleport_edge_tunnel_streams_up", metrics);
        Assert.Contains("service_name=\"teleport-edge\"", metrics);

        // On the traffic port the same paths are ordinary requests for the upstream.
        Assert.Equal("upstream:/metrics", await http.GetStringAsync(new Uri(edge.Address, "/metrics")).DefaultTimeout());
        Assert.Equal("upstream:/healthz", await http.GetStringAsync(new Uri(edge.Address, "/healthz")).DefaultTimeout());
        Assert.Equal("upstream:/readyz", await http.GetStringAsync(new Uri(edge.Address, "/readyz")).DefaultTimeout());
        // The origin's traffic port speaks gRPC only (HTTP/2 with prior knowledge).
        using var h2c = new HttpRequestMessage(HttpMethod.Get, new Uri(origin.Address, "/metrics")) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var originTraffic = await http.SendAsync(h2c).DefaultTimeout();
        Assert.DoesNotContain("teleport_origin", await originTraffic.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_FlipsWhenTheOriginGoesAwayAndComesBack()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("up")));
        var port = FreePort.Next();
        string[] originArgs = ["--listen", $"127.0.0.1:{port}", .. Admin];
        var origin = await TestServer.StartOriginAsync(output, up.Address, originArgs);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, Admin);
        using var http = new HttpClient();

        var (status, json) = await ReadyzAsync(http, origin);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(json.GetProperty("draining").GetBoolean());
        (status, json) = await ReadyzAsync(http, edge);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(json.GetProperty("ready").GetBoolean());
        Assert.Equal(1, json.GetProperty("streams_up").GetInt32());

        await origin.DisposeAsync();
        (status, json) = await ReadyzUntilAsync(http, edge, HttpStatusCode.ServiceUnavailable);
        Assert.False(json.GetProperty("ready").GetBoolean());
        Assert.Equal(0, json.GetProperty("streams_up").GetInt32());

        await using var again = await TestServer.StartOriginAsync(output, up.Address, originArgs);
        (status, json) = await ReadyzUntilAsync(http, edge, HttpStatusCode.OK);
        Assert.Equal(1, json.GetProperty("streams_up").GetInt32());
    }

    [Fact]
    public void OriginReadiness_IsFalseUntilStartedAndWhileDraining()
    {
        var lifetime = new TestLifetime();
        using var meters = new TestMeterFactory();
        var options = Options.Create(new OriginOptions { Upstreams = ["http://127.0.0.1:1"] });
        var health = new UpstreamHealth(new UpstreamSelector(options, TimeProvider.System), options, TimeProvider.System, NullLogger<UpstreamHealth>.Instance);
        var readiness = new OriginMetrics(meters, new TunnelCounters(), new ConnectionCounters(), lifetime, health, new AccessCounters(), options);

        Assert.False(readiness.IsReady);
        lifetime.Started.Cancel();
        Assert.True(readiness.IsReady);
        lifetime.Stopping.Cancel();
        Assert.False(readiness.IsReady);
    }

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    public async Task Help_ListsAdminAndLogFormat(string service)
    {
        var (exitCode, stdout, _) = await ServiceProcess.RunAsync(service, "--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("--admin ADDRESS", stdout);
        Assert.Contains("TELEPORT_ADMIN", stdout);
        Assert.Contains("--log-format console|json", stdout);
    }

    [Theory]
    [InlineData("teleport-edge", "--admin", "nowhere", "teleport-edge: --admin 'nowhere' is not an address like 127.0.0.1:9100.")]
    [InlineData("teleport-origin", "--admin", "1.2.3.4", "teleport-origin: --admin '1.2.3.4' is not an address like 127.0.0.1:9100.")]
    [InlineData("teleport-edge", "--log-format", "xml", "teleport-edge: invalid value 'xml' for --log-format (expected console|json, default console)")]
    [InlineData("teleport-origin", "--log-format", "xml", "teleport-origin: invalid value 'xml' for --log-format (expected console|json, default console)")]
    public async Task BadAdminOrLogFormat_ExitsTwoNamingTheOption(string service, string flag, string value, string expected)
    {
        string[] required = service == "teleport-origin" ? ["--upstream", "http://127.0.0.1:1"] : [];
        var (exitCode, _, stderr) = await ServiceProcess.RunAsync(service, ["--listen", "127.0.0.1:0", .. required, flag, value]);

        Assert.Equal(2, exitCode);
        Assert.Equal(expected, stderr.TrimEnd());
    }

    [Fact]
    public async Task LogFormatJson_WritesOneJsonObjectPerLine_AndConfigurationSetsLevelsPerCategory()
    {
        // Microsoft.Hosting.Lifetime is held at Warning by default; the configuration lowers it to Information.
        var config = Path.Combine(Path.GetTempPath(), $"teleport-logs-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, """{ "Logging": { "LogLevel": { "Microsoft.Hosting.Lifetime": "Information" } } }""");
        try
        {
            var lines = await ReadLinesUntilAsync("teleport-edge",
                ["--listen", "127.0.0.1:0", "--origin", $"http://127.0.0.1:{FreePort.Refusing()}", "--log-format", "json", "--config", config],
                static lines => lines.Any(l => l.Contains("\"Category\":\"Teleport.Edge\"", StringComparison.Ordinal)) && lines.Any(l => l.Contains("Microsoft.Hosting.Lifetime", StringComparison.Ordinal)));

            Assert.All(lines, line =>
            {
                using var entry = JsonDocument.Parse(line);
                Assert.True(entry.RootElement.TryGetProperty("LogLevel", out _), line);
                Assert.True(entry.RootElement.TryGetProperty("Category", out _), line);
            });
            var listening = lines.Select(l => JsonDocument.Parse(l).RootElement).First(e => e.GetProperty("EventId").GetInt32() == 6 && e.GetProperty("Category").GetString() == "Teleport.Edge");
            Assert.Equal("Information", listening.GetProperty("LogLevel").GetString());
            Assert.Contains("127.0.0.1", listening.GetProperty("Message").GetString());
        }
        finally
        {
            File.Delete(config);
        }
    }

    /// <summary>The ratio gauge in each direction is the wire counter over the logical one, and below 1 with gzip.</summary>
    private static void AssertCompressionRatios(string metrics, string prefix)
    {
        foreach (var direction in new[] { "direction=\"sent\"", "direction=\"received\"" })
        {
            var ratio = Sum(metrics, prefix + "_tunnel_compression_ratio", direction);
            var expected = Sum(metrics, prefix + "_tunnel_wire_bytes_total", direction) / Sum(metrics, prefix + "_tunnel_logical_bytes_total", direction);
            Assert.True(ratio is > 0 and < 1, $"{prefix} {direction}: ratio {ratio}");
            // The scrape reads the counters one after another; a heartbeat may fall between them.
            Assert.InRange(ratio, expected * 0.95, expected * 1.05);
        }
    }

    private static async Task<string> ScrapeUntilAsync(TestServer server, Func<string, bool> condition)
    {
        using var http = new HttpClient();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var text = await http.GetStringAsync(new Uri(server.AdminAddress, "/metrics")).DefaultTimeout();
            if (condition(text) || deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                return text;
            }

            await Task.Delay(20);
        }
    }

    /// <summary>The sum of a metric's samples whose labels contain <paramref name="label"/> (e.g. outcome="success").</summary>
    internal static double Sum(string metrics, string name, string label = "") => Sum(metrics, name, [label]);

    /// <summary>The sum of a metric's samples whose labels contain every one of <paramref name="labels"/>.</summary>
    internal static double Sum(string metrics, string name, params string[] labels)
    {
        var total = 0.0;
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith('#') || !(line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal)))
            {
                continue;
            }

            var labelsEnd = line.LastIndexOf('}');
            if (labels.Any(label => label.Length > 0 && (labelsEnd < 0 || !line[..labelsEnd].Contains(label, StringComparison.Ordinal))))
            {
                continue;
            }

            // "name{labels} value [timestamp]"
            var value = line[(labelsEnd < 0 ? name.Length : labelsEnd + 1)..].Trim().Split(' ')[0];
            total += double.Parse(value, CultureInfo.InvariantCulture);
        }

        return total;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Json)> ReadyzAsync(HttpClient http, TestServer server)
    {
        using var response = await http.GetAsync(new Uri(server.AdminAddress, "/readyz")).DefaultTimeout();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.Equal(response.StatusCode == HttpStatusCode.OK, json.GetProperty("ready").GetBoolean());
        return (response.StatusCode, json);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Json)> ReadyzUntilAsync(HttpClient http, TestServer server, HttpStatusCode wanted)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var answer = await ReadyzAsync(http, server);
            if (answer.Status == wanted || deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                Assert.Equal(wanted, answer.Status);
                return answer;
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Runs a service as a process and collects its standard output until <paramref name="done"/> holds, then kills it.</summary>
    private async Task<List<string>> ReadLinesUntilAsync(string assembly, string[] args, Func<List<string>, bool> done)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, assembly + ".dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var lines = new List<string>();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!done(lines))
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new InvalidOperationException($"{assembly} exited: {await process.StandardError.ReadToEndAsync()}");
                output.WriteLine(line);
                lines.Add(line);
            }

            return lines;
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().DefaultTimeout();
        }
    }

    private sealed class TestLifetime : IHostApplicationLifetime
    {
        public CancellationTokenSource Started { get; } = new();

        public CancellationTokenSource Stopping { get; } = new();

        public CancellationToken ApplicationStarted => Started.Token;

        public CancellationToken ApplicationStopping => Stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stopping.Cancel();
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];

        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
        {
            var meter = new System.Diagnostics.Metrics.Meter(options);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(static m => m.Dispose());
    }
}
