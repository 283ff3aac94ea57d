using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Edge.Diagnostics;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Origin.Diagnostics;

namespace Teleport.FunctionalTests;

/// <summary>
/// W3C trace context across the tunnel: the edge's exchange span continues the client's trace, the origin's
/// upstream-call span is its child, and the upstream sees the origin's span as its parent; with nobody listening,
/// no span exists and the client's traceparent reaches the upstream untouched. --otlp-endpoint exports the spans.
/// </summary>
public sealed class TracingTests(ITestOutputHelper output)
{
    private const string ClientTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string ClientSpanId = "00f067aa0ba902b7";
    private const string ClientTraceParent = $"00-{ClientTraceId}-{ClientSpanId}-01";

    [Fact]
    public async Task Trace_FromClient_ContinuesThroughEdgeAndOrigin_ToTheUpstream()
    {
        var seen = new ConcurrentQueue<(string? Parent, string? State)>();
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            seen.Enqueue((c.Request.Headers.TraceParent.SingleOrDefault(), c.Request.Headers.TraceState.SingleOrDefault()));
            return c.Response.WriteAsync("traced");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var spans = new ConcurrentQueue<Activity>();
        // These two services' sources only: other tests in this process run edges and origins of their own.
        var edgeSource = edge.App.Services.GetRequiredService<EdgeTracing>().Source;
        var originSource = origin.App.Services.GetRequiredService<UpstreamCalls>().Source;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => ReferenceEquals(s, edgeSource) || ReferenceEquals(s, originSource),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var client = edge.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/traced?q=1");
        request.Headers.TryAddWithoutValidation("traceparent", ClientTraceParent);
        request.Headers.TryAddWithoutValidation("tracestate", "vendor=abc");
        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The edge's span ends once the answer is written, a moment after the client has it.
        await WaitUntilAsync(() => spans.Count >= 2);
        var exchange = Assert.Single(spans, s => s.Source == edgeSource);
        var call = Assert.Single(spans, s => s.Source == originSource);
        Assert.Equal(ActivityKind.Server, exchange.Kind);
        Assert.Equal(ActivityKind.Client, call.Kind);
        // One trace, the client's: client -> edge exchange -> origin upstream call -> upstream.
        Assert.Equal(ClientTraceId, exchange.TraceId.ToHexString());
        Assert.Equal(ClientSpanId, exchange.ParentSpanId.ToHexString());
        Assert.Equal(ClientTraceId, call.TraceId.ToHexString());
        Assert.Equal(exchange.SpanId, call.ParentSpanId);
        var (parent, state) = Assert.Single(seen);
        Assert.Equal($"00-{ClientTraceId}-{call.SpanId.ToHexString()}-01", parent);
        Assert.Equal("vendor=abc", state);
        // What each span says about the exchange.
        Assert.Equal("GET", exchange.DisplayName);
        Assert.Equal(200, exchange.GetTagItem("http.response.status_code"));
        Assert.Equal("success", exchange.GetTagItem("teleport.outcome"));
        Assert.Equal("/traced", exchange.GetTagItem("url.path"));
        Assert.Equal(200, call.GetTagItem("http.response.status_code"));
        Assert.Equal(up.Address.Port, call.GetTagItem("server.port"));
        Assert.Equal(ActivityStatusCode.Unset, call.Status);
    }

    [Fact]
    public async Task Trace_NobodyListening_TheUpstreamGetsTheClientsTraceparentUnchanged_AndNoSpanExists()
    {
        var seen = new ConcurrentQueue<(string? Parent, string? State)>();
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            seen.Enqueue((c.Request.Headers.TraceParent.SingleOrDefault(), c.Request.Headers.TraceState.SingleOrDefault()));
            return c.Response.WriteAsync("untraced");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var edgeSource = edge.App.Services.GetRequiredService<EdgeTracing>().Source;
        var originSource = origin.App.Services.GetRequiredService<UpstreamCalls>().Source;
        using var client = edge.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/untraced") { Content = new StringContent("body") };
        request.Headers.TryAddWithoutValidation("traceparent", ClientTraceParent);
        request.Headers.TryAddWithoutValidation("tracestate", "vendor=abc");
        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(edgeSource.HasListeners());
        Assert.False(originSource.HasListeners());
        Assert.Equal((ClientTraceParent, "vendor=abc"), Assert.Single(seen));
    }

    [Fact]
    public async Task Trace_ClientSendsNone_TheEdgeStartsTheTrace_AndADeadUpstreamMarksTheCallFailed()
    {
        await using var origin = await TestServer.StartOriginAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"));
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var spans = new ConcurrentQueue<Activity>();
        var edgeSource = edge.App.Services.GetRequiredService<EdgeTracing>().Source;
        var originSource = origin.App.Services.GetRequiredService<UpstreamCalls>().Source;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => ReferenceEquals(s, edgeSource) || ReferenceEquals(s, originSource),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/down").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await WaitUntilAsync(() => spans.Count >= 2);
        var exchange = Assert.Single(spans, s => s.Source == edgeSource);
        var call = Assert.Single(spans, s => s.Source == originSource);
        Assert.Equal(default, exchange.ParentSpanId);
        Assert.Equal(exchange.TraceId, call.TraceId);
        Assert.Equal(exchange.SpanId, call.ParentSpanId);
        Assert.Equal(ActivityStatusCode.Error, exchange.Status);
        Assert.Equal("upstream-connect", exchange.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, call.Status);
        Assert.Equal("upstream-connect", call.GetTagItem("teleport.outcome"));
    }

    [Fact]
    public async Task Trace_NoTraceparentReachesTheOrigin_EachUpstreamCallStartsATraceOfItsOwn()
    {
        var seen = new ConcurrentQueue<string?>();
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            seen.Enqueue(c.Request.Headers.TraceParent.SingleOrDefault());
            return c.Response.WriteAsync("own trace");
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var spans = new ConcurrentQueue<Activity>();
        // The origin's source only: the edge, not tracing, sends no traceparent of its own.
        var originSource = origin.App.Services.GetRequiredService<UpstreamCalls>().Source;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => ReferenceEquals(s, originSource),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var client = edge.CreateClient();
        using var warm = await client.GetAsync("/warm").DefaultTimeout();

        // Together, so that messages carry several exchanges: some start on the reading thread, some on workers.
        var responses = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => client.GetAsync($"/own/{i}"))).DefaultTimeout();

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await WaitUntilAsync(() => spans.Count >= 33);
        // Not children of whatever ran the tunnel stream (its long-lived call), and each call its own trace.
        Assert.All(spans, s => Assert.Equal(default, s.ParentSpanId));
        Assert.Equal(33, spans.Select(s => s.TraceId).Distinct().Count());
        Assert.Equal(33, seen.Count);
        Assert.All(spans, s => Assert.Contains($"00-{s.TraceId.ToHexString()}-{s.SpanId.ToHexString()}-01", seen));
    }

    [Fact]
    public async Task OtlpEndpoint_ExportsTheSpansOfBothServices_OverOtlpHttp()
    {
        // A collector stand-in: counts OTLP/HTTP protobuf posts and keeps their bodies.
        var posts = new ConcurrentQueue<(string Path, string? ContentType, byte[] Body)>();
        await using var collector = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            posts.Enqueue((c.Request.Path.Value!, c.Request.ContentType, body.ToArray()));
        }));
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("up")));
        // The standard variables apply: HTTP instead of gRPC, and a short export delay instead of 5 s.
        KeyValuePair<string, string>[] environment = [new("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"), new("OTEL_BSP_SCHEDULE_DELAY", "100")];
        var otlp = collector.Address.ToString().TrimEnd('/');
        await using var originProcess = BackgroundProcess.Start("origin", Dll("teleport-origin"),
            ["--listen", "127.0.0.1:0", "--upstream", up.Address.ToString().TrimEnd('/'), "--otlp-endpoint", otlp], environment);
        BackgroundProcess? edgeProcess = null;
        try
        {
            var originAddress = await originProcess.ListeningAddressAsync();
            edgeProcess = BackgroundProcess.Start("edge", Dll("teleport-edge"),
                ["--listen", "127.0.0.1:0", "--origin", originAddress.ToString().TrimEnd('/'), "--otlp-endpoint", otlp], environment);
            using var client = new HttpClient { BaseAddress = await edgeProcess.ListeningAddressAsync() };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/exported");
            request.Headers.TryAddWithoutValidation("traceparent", ClientTraceParent);
            // A request arriving before the tunnel is up waits for it (--tunnel-wait, 5 s).
            using var response = await client.SendAsync(request).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

            var traceId = Convert.FromHexString(ClientTraceId);
            await WaitUntilAsync(() => Exported(posts, "teleport-edge", traceId) && Exported(posts, "teleport-origin", traceId));
            Assert.All(posts, p =>
            {
                Assert.Equal("/v1/traces", p.Path);
                Assert.Equal("application/x-protobuf", p.ContentType);
            });
        }
        finally
        {
            if (edgeProcess is not null)
            {
                await edgeProcess.StopAsync(output);
            }

            await originProcess.StopAsync(output);
        }
    }

    /// <summary>Whether a post from <paramref name="service"/> (its service.name) carried a span of the trace (16 raw bytes in protobuf).</summary>
    private static bool Exported(IEnumerable<(string Path, string? ContentType, byte[] Body)> posts, string service, byte[] traceId)
        => posts.Any(p => p.Body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(service)) >= 0 && p.Body.AsSpan().IndexOf(traceId) >= 0);

    private static string Dll(string assembly) => Path.Combine(AppContext.BaseDirectory, assembly + ".dll");

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting");
            await Task.Delay(20);
        }
    }
}
