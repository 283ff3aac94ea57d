using System.Net;
using Teleport.Conformance.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.Conformance;

/// <summary>
/// An edge under test, driven by real HTTP clients: in front of our origin (with a test upstream
/// behind it), and in front of a <see cref="ScriptedOrigin"/> that checks every message the edge sends
/// and answers as each scenario needs. Each test names the rules of docs/protocol.md it checks; the
/// subclasses pick the implementation.
/// </summary>
public abstract partial class EdgeConformanceTests(EdgeFixture fixture)
{
    private ScriptedOrigin Scripted => fixture.Scripted;

    // [C-HELLO-1] [C-CAP-1] [C-CODEC-2] [C-GZIP-1]
    [Fact]
    public async Task Stream_OpensWithHello_NoCodecTheOriginDidNotList_AcceptsGzipAndIdentity()
    {
        using var client = Http.Client(fixture.ScriptedEdge);
        // The scripted origin compresses every other message with gzip: four answers meet both kinds.
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.PostAsync($"/mixed-encoding-{i}", new StringContent($"body {i}")).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"body {i}", await response.Content.ReadAsStringAsync().DefaultTimeout());
        }

        var hello = Assert.Single(Scripted.Hellos);
        Assert.Equal(1u, hello.ProtocolVersion);
        Assert.All(Scripted.AcceptEncodings, encodings => Assert.Contains("gzip", encodings.Split(',', StringSplitOptions.TrimEntries)));
        Assert.All(Scripted.Frames, frame => Assert.Equal(EdgeFrame.KindOneofCase.Batch, frame.Kind));
        Assert.Empty(Scripted.Violations);
    }

    // [C-EXCH-1] [C-HTTP-3] Through our origin to a real upstream: method, body and fields intact both ways.
    [Fact]
    public async Task Exchanges_ThroughOurOrigin_Intact()
    {
        using var client = Http.Client(fixture.Edge);
        using var get = await client.GetAsync("/edge-get?status=201").DefaultTimeout();
        using var post = await client.PostAsync("/edge-post", new ByteArrayContent(TestUpstream.Pattern(100_000))).DefaultTimeout();

        Assert.Equal(HttpStatusCode.Created, get.StatusCode);
        Assert.Equal("GET", get.Headers.GetValues("X-Upstream-Method").Single());
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(TestUpstream.Pattern(100_000), await post.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal(["a=1", "b=2"], post.Headers.GetValues("Set-Cookie"));
        Assert.Equal(TestUpstream.Pattern(100_000), (await fixture.Upstream.WaitForAsync("/edge-post").DefaultTimeout()).Body);
    }

    // [C-ORDER-2] Answers arrive in the order the origin chooses; the edge matches them by id.
    [Fact]
    public async Task AnswersInReverseOrder_EachReachesItsClient()
    {
        using var client = Http.Client(fixture.ScriptedEdge);
        var first = client.GetStringAsync("/hold/first");
        var second = client.GetStringAsync("/hold/second");
        await Scripted.WaitForRequestAsync("/hold/first").DefaultTimeout();
        await Scripted.WaitForRequestAsync("/hold/second").DefaultTimeout();

        Scripted.Release("/hold/second");
        Assert.Equal("released second", await second.DefaultTimeout());
        Assert.False(first.IsCompleted);
        Scripted.Release("/hold/first");

        Assert.Equal("released first", await first.DefaultTimeout());
    }

    // [C-LIMIT-2] Bodies at our origin's 1 MiB request limit, and as large a response, arrive intact.
    [Fact]
    public async Task BodiesAtTheLimit_ThroughOurOrigin_Intact()
    {
        const int size = 1024 * 1024;
        using var client = Http.Client(fixture.Edge);

        using var post = await client.PostAsync("/edge-at-limit", new ByteArrayContent(TestUpstream.Pattern(size))).DefaultTimeout();
        var response = await client.GetByteArrayAsync($"/edge-large-response?size={size}").DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(TestUpstream.Pattern(size), await post.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal(TestUpstream.Pattern(size), response);
    }

    // [C-LIMIT-3] A body over the origin's announced max_request_body_bytes is refused by the edge itself.
    [Fact]
    public async Task BodyOverTheAnnouncedLimit_413_NeverSent()
    {
        const int limit = (int)ScriptedOrigin.DefaultMaxRequestBodyBytes;
        using var client = Http.Client(fixture.ScriptedEdge);

        using var fits = await client.PostAsync("/just-fits", new ByteArrayContent(TestUpstream.Pattern(limit))).DefaultTimeout();
        using var tooBig = await client.PostAsync("/too-big", new ByteArrayContent(TestUpstream.Pattern(limit + 1))).DefaultTimeout();
        using var tooBigChunked = await client.PostAsync("/too-big-chunked", new StreamContent(new MemoryStream(TestUpstream.Pattern(limit + 1)))).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Assert.Equal(TestUpstream.Pattern(limit), await fits.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBigChunked.StatusCode);
        Assert.False(Scripted.Requests.ContainsKey("/too-big"));
        Assert.False(Scripted.Requests.ContainsKey("/too-big-chunked"));
    }

    // [C-ERR-2]
    [Theory]
    [InlineData(ErrorCode.Unspecified, 502)]
    [InlineData(ErrorCode.UpstreamConnect, 502)]
    [InlineData(ErrorCode.UpstreamTimeout, 504)]
    [InlineData(ErrorCode.UpstreamResponse, 502)]
    [InlineData(ErrorCode.ResponseTooLarge, 502)]
    [InlineData(ErrorCode.BadRequest, 400)]
    [InlineData(ErrorCode.RequestTooLarge, 413)]
    [InlineData(ErrorCode.Overloaded, 503)]
    [InlineData(ErrorCode.NoUpstream, 502)]
    [InlineData(ErrorCode.ShuttingDown, 503)]
    [InlineData(ErrorCode.Internal, 502)]
    [InlineData((ErrorCode)99, 502)]
    public async Task ExchangeError_MappedToItsStatus(ErrorCode code, int status)
    {
        using var client = Http.Client(fixture.ScriptedEdge);

        using var response = await client.GetAsync($"/error/{(int)code}").DefaultTimeout();

        Assert.Equal(status, (int)response.StatusCode);
    }

    // [C-ID-4] [C-BATCH-1] An answer for an id the edge does not wait for is ignored, even beside a real one.
    [Fact]
    public async Task AnswerForAnUnknownId_Ignored()
    {
        using var client = Http.Client(fixture.ScriptedEdge);

        Assert.Equal("for you", await client.GetStringAsync("/unknown-id/a").DefaultTimeout());
        Assert.Equal("for you", await client.GetStringAsync("/unknown-id/b").DefaultTimeout());
    }

    // [C-ID-1] [C-ID-2] [C-BATCH-2] [C-LIMIT-1] Many exchanges at once: ids non-zero and unique while open,
    // no empty batches, and every message under the origin's 1 MiB limit (which its gRPC server enforces).
    [Fact]
    public async Task ConcurrentExchanges_DistinctIds_MessagesUnderTheLimit()
    {
        using var client = Http.Client(fixture.ScriptedEdge);
        var body = TestUpstream.Pattern(60 * 1024);

        var responses = await Task.WhenAll(Enumerable.Range(0, 32).Select(async i =>
        {
            using var response = await client.PostAsync($"/burst-{i}", new ByteArrayContent(body));
            return (response.StatusCode, Body: await response.Content.ReadAsByteArrayAsync());
        })).DefaultTimeout();

        Assert.All(responses, r =>
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(body, r.Body);
        });
        var ids = Enumerable.Range(0, 32).Select(i => Scripted.Requests[$"/burst-{i}"].ExchangeId).ToList();
        Assert.Equal(32, ids.Distinct().Count());
        Assert.Empty(Scripted.Violations);
    }

    // [C-HTTP-2] [C-HTTP-3] [C-HTTP-4] [C-HTTP-5] The request as the client sent it, less hop-by-hop fields;
    // the response less the hop-by-hop fields a broken origin sends anyway.
    [Fact]
    public async Task HttpFields_EndToEndOnly_TargetAndMethodAsSent()
    {
        const string target = "/a/../b%2F%41?q=%41&x=1&x=2";
        var (status, _) = await RawHttp.SendAsync(fixture.ScriptedEdge.Address,
            $"PURGE {target} HTTP/1.1\r\nHost: example.test\r\nConnection: X-Named\r\nX-Named: secret\r\nKeep-Alive: timeout=5\r\n" +
            "TE: trailers\r\nProxy-Authorization: Basic eDp5\r\nX-Multi: one\r\nX-Multi: two\r\nContent-Length: 0\r\n\r\n").DefaultTimeout();
        var (_, response) = await RawHttp.SendAsync(fixture.ScriptedEdge.Address,
            "GET /hop-by-hop/out HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(200, status);
        var start = (await Scripted.WaitForRequestAsync("/a/../b%2F%41").DefaultTimeout()).RequestStart;
        Assert.Equal("PURGE", start.Method);
        Assert.Equal(target, start.PathAndQuery);
        Assert.Equal(["example.test"], Values(start, "Host"));
        Assert.Equal(["one", "two"], Values(start, "X-Multi"));
        foreach (var name in new[] { "Connection", "X-Named", "Keep-Alive", "TE", "Proxy-Authorization", "Transfer-Encoding", "Upgrade" })
        {
            Assert.Empty(Values(start, name));
        }

        var head = response[..response.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        Assert.StartsWith("HTTP/1.1 200", head);
        Assert.Contains("\r\nX-End-To-End: kept", head, StringComparison.OrdinalIgnoreCase);
        foreach (var field in new[] { "\r\nKeep-Alive:", "\r\nProxy-Connection:", "\r\nTE:", "\r\nTrailer:", "\r\nUpgrade:", "X-Named-By-Connection" })
        {
            Assert.DoesNotContain(field, head, StringComparison.OrdinalIgnoreCase);
        }

        Assert.EndsWith("\r\n\r\nok", response);
    }

    // [C-HTTP-2] A Connection list that also holds keep-alive still names fields to drop.
    [Fact]
    public async Task ConnectionListWithKeepAlive_NamedFieldNotSent()
    {
        var (status, _) = await RawHttp.SendAsync(fixture.ScriptedEdge.Address,
            "GET /connection-list HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, X-Named\r\nX-Named: secret\r\nContent-Length: 0\r\n\r\n").DefaultTimeout();

        Assert.Equal(200, status);
        var forwarded = Values((await Scripted.WaitForRequestAsync("/connection-list").DefaultTimeout()).RequestStart, "X-Named");
        AssertRule(KnownDeviation.ConnectionListWithKeepAlive, forwarded.Length == 0, "the edge sent X-Named, which the client's Connection field names");
    }

    // [C-LIMIT-1] [C-LIMIT-3] A body that fits the origin's body limit (none announced here) but not its
    // 1 MiB message limit is refused with 413, and the stream goes on.
    [Fact]
    public async Task BodyOverTheMessageLimit_413_StreamSurvives()
    {
        await using var origin = await ScriptedOrigin.StartAsync(maxRequestBodyBytes: 0);
        await using var edge = await fixture.StartEdgeAsync(origin.Address);
        await Http.WaitUntilServingAsync(edge);
        using var client = Http.Client(edge);

        using var response = await client.PostAsync("/over-message-limit", new ByteArrayContent(TestUpstream.Pattern(ScriptedOrigin.MaxMessageBytes + 1024))).DefaultTimeout();
        using var next = await client.GetAsync("/after-over-message-limit").DefaultTimeout();

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    // [C-PING-2] Pings only to an origin that lists heartbeat (answered there), and id 0 for nothing else.
    [Fact]
    public async Task Heartbeat_OnlyToOriginsThatListIt()
    {
        await using var silent = await ScriptedOrigin.StartAsync();
        await using var beating = await ScriptedOrigin.StartAsync(heartbeat: true);
        await using var toSilent = await fixture.StartEdgeAsync(silent.Address);
        await using var toBeating = await fixture.StartEdgeAsync(beating.Address);
        await Http.WaitUntilServingAsync(toSilent);
        await Http.WaitUntilServingAsync(toBeating);
        using var a = Http.Client(toSilent);
        using var b = Http.Client(toBeating);

        for (var i = 0; i < 3; i++)
        {
            using var viaSilent = await a.GetAsync($"/heartbeat-silent-{i}").DefaultTimeout();
            using var viaBeating = await b.GetAsync($"/heartbeat-beating-{i}").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, viaSilent.StatusCode);
            Assert.Equal(HttpStatusCode.OK, viaBeating.StatusCode);
        }

        Assert.Empty(silent.Violations);
        Assert.Empty(beating.Violations);
    }

    // [C-DRAIN-2] An edge that listed "drain" starts nothing more on a drained stream: the next request goes
    // to another stream (ours opens a replacement at once).
    [Fact]
    public async Task Drain_NextExchangeGoesToAnotherStream()
    {
        await using var origin = await ScriptedOrigin.StartAsync();
        await using var edge = await fixture.StartEdgeAsync(origin.Address);
        await Http.WaitUntilServingAsync(edge);
        using var client = Http.Client(edge);
        using (var before = await client.GetAsync("/before-drain").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        if (await origin.DrainAsync() == 0)
        {
            // The rule binds edges that list the capability; this one does not, so it was never sent a drain.
            Assert.DoesNotContain(origin.Hellos, h => h.Capabilities.Contains("drain"));
            return;
        }

        // The drain item needs a moment to reach the edge: a request that overtakes it may still use the stream.
        // Ours opens a replacement once it has read the drain; an edge that connects lazily is given two seconds.
        for (var waited = 0; waited < 2000 && origin.Hellos.Count < 2; waited += 20)
        {
            await Task.Delay(20);
        }

        using var after = await client.GetAsync("/after-drain").DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.NotEqual(origin.RequestStreams["/before-drain"], origin.RequestStreams["/after-drain"]);
        Assert.Empty(origin.Violations);
    }

    // [C-DRAIN-3] An edge that listed "drain" keeps its side of a drained call open while an exchange it started
    // there is open (it may still cancel it), and ends it once that exchange is answered.
    [Fact]
    public async Task Drain_EdgeEndsItsSideOnceItsExchangesThereAreAnswered()
    {
        await using var origin = await ScriptedOrigin.StartAsync();
        await using var edge = await fixture.StartEdgeAsync(origin.Address);
        await Http.WaitUntilServingAsync(edge);
        using var client = Http.Client(edge);
        var held = client.GetAsync("/hold/across-drain");
        await origin.WaitForRequestAsync("/hold/across-drain").DefaultTimeout();
        var stream = origin.RequestStreams["/hold/across-drain"];

        if (await origin.DrainAsync() == 0)
        {
            Assert.DoesNotContain(origin.Hellos, h => h.Capabilities.Contains("drain"));
            origin.Release("/hold/across-drain");
            (await held.DefaultTimeout()).Dispose();
            return;
        }

        await Task.Delay(300);
        Assert.False(origin.EndedByEdge.ContainsKey(stream), "the edge ended its side while its exchange there was open");
        origin.Release("/hold/across-drain");
        using (var answer = await held.DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal("released across-drain", await answer.Content.ReadAsStringAsync());
        }

        for (var waited = 0; waited < 5000 && !origin.EndedByEdge.ContainsKey(stream); waited += 20)
        {
            await Task.Delay(20);
        }

        Assert.True(origin.EndedByEdge.ContainsKey(stream), "the edge did not end its side of the drained call within 5 s of its last answer");
        Assert.Empty(origin.Violations);
    }

    // [C-STREAM-3] A long response through our origin (which streams it to an edge that lists "streaming")
    // arrives whole: the edge grants back what it has written.
    [Fact]
    public async Task LongResponse_ThroughOurOrigin_ArrivesWhole()
    {
        using var client = Http.Client(fixture.Edge);

        using var response = await client.GetAsync("/long-response?size=3000000").DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TestUpstream.Pattern(3_000_000), await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
    }

    // [C-STREAM-1] The scripted origin does not list "streaming": a body of unknown length comes whole in the start.
    [Fact]
    public async Task BodyOfUnknownLength_ToAnOriginWithoutStreaming_GoesWhole()
    {
        using var client = Http.Client(fixture.ScriptedEdge);
        var body = TestUpstream.Pattern(50_000);

        using var response = await client.PostAsync("/unknown-length", new StreamContent(new MemoryStream(body))).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var start = (await Scripted.WaitForRequestAsync("/unknown-length")).RequestStart;
        Assert.False(start.BodyFollows);
        Assert.Equal(body, start.Body.ToByteArray());
        Assert.DoesNotContain(Scripted.Violations, v => v.Contains("[C-STREAM-1]", StringComparison.Ordinal));
    }

    // [C-CANCEL-3] Optional (SHOULD): a client that goes away gets its exchange cancelled at the origin.
    [Fact]
    public async Task ClientGoesAway_ExchangeCancelled()
    {
        using var client = Http.Client(fixture.ScriptedEdge);
        using var abort = new CancellationTokenSource();
        var request = client.GetAsync("/hold/abandoned", abort.Token);
        var start = await Scripted.WaitForRequestAsync("/hold/abandoned").DefaultTimeout();

        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request).DefaultTimeout();

        if (fixture.SendsCancel)
        {
            while (!Scripted.Cancels.ContainsKey(start.ExchangeId))
            {
                await Task.Delay(10).DefaultTimeout();
            }

            Assert.Equal(CancelReason.ClientAborted, Scripted.Cancels[start.ExchangeId]);
        }

        // With or without a cancel, the stream goes on serving.
        Assert.Equal("released after", await Release(client, "/hold/after").DefaultTimeout());
    }

    // [C-EOS-1] When the stream ends, every exchange still open on it is answered 502.
    [Fact]
    public async Task StreamEnds_OpenExchangesAnswered502()
    {
        await using var origin = await ScriptedOrigin.StartAsync();
        await using var edge = await fixture.StartEdgeAsync(origin.Address);
        await Http.WaitUntilServingAsync(edge);
        using var client = Http.Client(edge);

        using var response = await client.GetAsync("/end-stream/now").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    // [C-HELLO-5] An origin breaking the rules (a hello mid-stream): the edge ends the stream, answering 502.
    [Fact]
    public async Task OriginSendsSecondHello_StreamEnded502()
    {
        await using var origin = await ScriptedOrigin.StartAsync();
        await using var edge = await fixture.StartEdgeAsync(origin.Address);
        await Http.WaitUntilServingAsync(edge);
        using var client = Http.Client(edge);

        // Nothing else ever answers this exchange: only the end of the stream can.
        using var response = await client.GetAsync("/second-hello/now").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    /// <summary>
    /// Checks a rule; for an edge with the documented deviation (docs/protocol.md, "Known deviations"),
    /// checks that it still breaks it, so fixing the bug fails here until the deviation is struck.
    /// </summary>
    private void AssertRule(KnownDeviation deviation, bool kept, string failure)
    {
        if (fixture.KnownDeviations.Contains(deviation))
        {
            Assert.False(kept, $"The known deviation {deviation} is gone: strike it from docs/protocol.md and from the fixture.");
        }
        else
        {
            Assert.True(kept, failure);
        }
    }

    private async Task<string> Release(HttpClient client, string path)
    {
        var answer = client.GetStringAsync(path);
        await Scripted.WaitForRequestAsync(path);
        Scripted.Release(path);
        return await answer;
    }

    private static string[] Values(RequestStart start, string name)
        => [.. start.Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value)];
}

/// <summary>The edge named by TELEPORT_CONFORMANCE_EDGE_CMD; ours when it is not set.</summary>
public sealed class EdgeUnderTestConformanceTests(EdgeUnderTestFixture fixture) : EdgeConformanceTests(fixture), IClassFixture<EdgeUnderTestFixture>;

/// <summary>The Node.js edge of examples/node, on every CI run: the second implementation of the contract.</summary>
public sealed class NodeEdgeConformanceTests(NodeEdgeFixture fixture) : EdgeConformanceTests(fixture), IClassFixture<NodeEdgeFixture>;
