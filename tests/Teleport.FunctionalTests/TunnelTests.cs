using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>The tunnel itself: one stream, out-of-order answers, adaptive batching, compression on the wire.</summary>
public sealed class TunnelTests(ITestOutputHelper output)
{
    /// <summary>For tests that count items exactly: a heartbeat's ping and pong are items too, and a slow run may reach the first.</summary>
    private static readonly string[] NoHeartbeats = ["--heartbeat-interval", "10m", "--heartbeat-timeout", "1h"];

    [Fact]
    public async Task ManyConcurrentRequests_RandomDelays_EachGetsItsOwnAnswerOverOneConnection()
    {
        const int Count = 1000;
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, NoHeartbeats);
        using var client = edge.CreateClient();
        var random = new Random(42);
        var delays = Enumerable.Range(0, Count).Select(_ => random.Next(0, 150)).ToArray();
        var completion = new ConcurrentQueue<int>();

        var tasks = Enumerable.Range(0, Count).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/c/{i}?delay={delays[i]}")
            {
                Content = new StringContent($"request-{i}-" + new string((char)('a' + i % 26), i % 300)),
            };
            request.Headers.Add("X-Test-Id", i.ToString());
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            completion.Enqueue(i);
            return (i, status: (int)response.StatusCode, id: response.Headers.GetValues("X-Test-Id").Single(), body);
        }).ToArray();
        var results = await Task.WhenAll(tasks).DefaultTimeout();

        Assert.All(results, r =>
        {
            Assert.Equal(200, r.status);
            Assert.Equal(r.i.ToString(), r.id);
            Assert.Equal($"request-{r.i}-" + new string((char)('a' + r.i % 26), r.i % 300), r.body);
        });
        Assert.Equal(Count, upstream.Requests.Count);
        // Answers came back in completion order, not in request order.
        Assert.NotEqual(Enumerable.Range(0, Count), completion.ToArray());
        Assert.Equal(1, edge.Counters.ConnectionsOpened);
        Assert.Equal(1, edge.Counters.StreamsOpened);
        Assert.Equal(1, origin.Counters.StreamsOpened);
        Assert.Equal(Count, edge.Counters.ItemsSent);
        // The origin counts a message once its write has completed, which may be after the edge has read it.
        await origin.WaitUntilAsync(static s => s.Counters.ItemsSent >= Count).DefaultTimeout();
        Assert.Equal(Count, origin.Counters.ItemsSent);
        // Under this load many exchanges share a message, both ways.
        Assert.True(edge.Counters.MessagesSent < edge.Counters.ItemsSent, $"edge: {edge.Counters.MessagesSent} messages for {edge.Counters.ItemsSent} exchanges");
        Assert.True(origin.Counters.MessagesSent < origin.Counters.ItemsSent, $"origin: {origin.Counters.MessagesSent} messages for {origin.Counters.ItemsSent} exchanges");
        output.WriteLine($"edge->origin: {edge.Counters.ItemsSent} exchanges in {edge.Counters.MessagesSent} messages; origin->edge: {origin.Counters.ItemsSent} in {origin.Counters.MessagesSent}");
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Theory]
    [InlineData("brotli", "brotli")]
    [InlineData("zstd", "zstd")]
    [InlineData("zstd", "auto")] // each direction its own codec: the edge sends zstd, the origin Brotli
    public async Task ManyConcurrentRequests_StreamCodecs_EachGetsItsOwnAnswer(string edgeMode, string originMode)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--compression", originMode);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", edgeMode);
        using var client = edge.CreateClient();

        var results = await Task.WhenAll(Enumerable.Range(0, 300).Select(async i =>
        {
            var body = RoundTripTests.RandomBytes(i * 37 % 5000, seed: i);
            using var response = await client.PostAsync($"/b/{i}?delay={i % 20}", new ByteArrayContent(body));
            return (body, echoed: await response.Content.ReadAsByteArrayAsync(), status: (int)response.StatusCode);
        })).DefaultTimeout();

        Assert.All(results, r =>
        {
            Assert.Equal(200, r.status);
            Assert.Equal(r.body, r.echoed);
        });
        Assert.True(edge.Counters.MessagesSent < edge.Counters.ItemsSent);
        var expectedFromOrigin = originMode == "auto" ? "brotli" : originMode;
        Assert.Contains(edge.Logs, l => l.Contains($"compression: edge sends {edgeMode}, origin sends {expectedFromOrigin}", StringComparison.Ordinal));
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task SlowExchange_DoesNotHoldBackFastOnes()
    {
        var slowReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            if (c.Request.Path == "/slow")
            {
                slowArrived.TrySetResult();
                await slowReleased.Task;
            }

            await c.Response.WriteAsync(c.Request.Path);
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var slow = client.GetStringAsync("/slow");
        await slowArrived.Task.DefaultTimeout();
        var fast = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => client.GetStringAsync($"/fast/{i}"))).DefaultTimeout();

        Assert.False(slow.IsCompleted);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"/fast/{i}"), fast);
        slowReleased.SetResult();
        Assert.Equal("/slow", await slow.DefaultTimeout());
    }

    [Fact]
    public async Task SingleRequest_IdleTunnel_TravelsAloneInOneMessageEachWay()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, NoHeartbeats);
        using var client = edge.CreateClient();
        var edgeMessages = edge.Counters.MessagesSent;
        var originMessages = origin.Counters.MessagesSent;

        using var response = await client.GetAsync("/alone").DefaultTimeout();
        await origin.WaitUntilAsync(s => s.Counters.MessagesSent > originMessages).DefaultTimeout();

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(edgeMessages + 1, edge.Counters.MessagesSent);
        Assert.Equal(1, edge.Counters.ItemsSent);
        Assert.Equal(originMessages + 1, origin.Counters.MessagesSent);
        Assert.Equal(1, origin.Counters.ItemsSent);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("brotli")]
    [InlineData("zstd")]
    [InlineData("none")]
    public async Task Compression_CompressibleTraffic_ShowsOnTheWire(string mode)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--compression", mode);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", mode);
        using var client = edge.CreateClient();
        var bytesBefore = (Sent: edge.Counters.WireBytesSent, Received: edge.Counters.WireBytesReceived);

        // Ten at a time, as real traffic overlaps: part of the saving is exchanges sharing a compressed message.
        var bodies = Enumerable.Range(0, 200).Select(Json).ToArray();
        var bodyBytes = bodies.Sum(b => (long)b.Length);
        await Parallel.ForEachAsync(bodies, new ParallelOptions { MaxDegreeOfParallelism = 10 }, async (json, ct) =>
        {
            using var response = await client.PostAsync("/bid", new StringContent(json, Encoding.UTF8, "application/json"), ct);
            Assert.Equal(json, await response.Content.ReadAsStringAsync(ct));
        }).DefaultTimeout();

        var sent = edge.Counters.WireBytesSent - bytesBefore.Sent;
        var received = edge.Counters.WireBytesReceived - bytesBefore.Received;
        output.WriteLine($"{mode}: bodies {bodyBytes} B each way; tunnel wire {sent} B up, {received} B down");
        if (mode != "none")
        {
            Assert.True(sent < bodyBytes / 2, $"{mode}: {sent} B on the wire for {bodyBytes} B of bodies up");
            Assert.True(received < bodyBytes / 2, $"{mode}: {received} B on the wire for {bodyBytes} B of bodies down");
        }
        else
        {
            Assert.True(sent > bodyBytes, $"none: {sent} B on the wire for {bodyBytes} B of bodies up");
            Assert.True(received > bodyBytes, $"none: {received} B on the wire for {bodyBytes} B of bodies down");
        }
    }

    /// <summary>A bid-request-like JSON document of about 3 KB, different for every <paramref name="i"/>.</summary>
    private static string Json(int i)
    {
        var builder = new StringBuilder($"{{\"id\":\"req-{i:D6}\",\"imp\":[");
        for (var slot = 0; slot < 12; slot++)
        {
            builder.Append($"{{\"id\":\"{slot}\",\"banner\":{{\"w\":{300 + slot},\"h\":250,\"pos\":{slot % 3}}},\"bidfloor\":{0.1 * (i % 7 + slot):0.00},\"bidfloorcur\":\"USD\"}},");
        }

        builder.Append($"{{}}],\"site\":{{\"domain\":\"news{i % 13}.example.com\",\"page\":\"https://news{i % 13}.example.com/article/{i}\"}},");
        builder.Append($"\"device\":{{\"ua\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\",\"ip\":\"203.0.113.{i % 250}\"}},\"user\":{{\"id\":\"u{i * 7919 % 100000}\"}}}}");
        return builder.ToString();
    }
}
