using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Teleport.Conformance.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.Conformance;

/// <summary>
/// The origin under test (TELEPORT_CONFORMANCE_ORIGIN_CMD, default ours) against a raw gRPC edge that
/// plays by the rules or breaks them on purpose, and against our edge with real HTTP clients. Each test
/// names the rules of docs/protocol.md it checks.
/// </summary>
public sealed partial class OriginConformanceTests(OriginUnderTestFixture fixture) : IClassFixture<OriginUnderTestFixture>
{
    private PeerProcess Origin => fixture.Origin;

    private TestUpstream Upstream => fixture.Upstream;

    // [C-HELLO-2]
    [Fact]
    public async Task Hello_Version1_AnsweredWithHelloFirst()
    {
        using var edge = new RawEdge(Origin.Address);

        var hello = await edge.HelloAsync();

        Assert.Equal(1u, hello.ProtocolVersion);
        Assert.Equal("", hello.StreamCompression);
    }

    // [C-HELLO-3]
    [Fact]
    public async Task Hello_UnsupportedVersion_FailedPrecondition()
    {
        using var edge = new RawEdge(Origin.Address);

        await edge.Call.RequestStream.WriteAsync(new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 2 } }).DefaultTimeout();

        Assert.Equal(StatusCode.FailedPrecondition, (await edge.ReadUntilEndAsync()).StatusCode);
    }

    // [C-HELLO-4] A non-conforming edge: a batch before the hello.
    [Fact]
    public async Task BatchBeforeHello_InvalidArgument()
    {
        using var edge = new RawEdge(Origin.Address);

        await edge.SendAsync(RawEdge.Start(1, "GET", "/before-hello"));

        Assert.Equal(StatusCode.InvalidArgument, (await edge.ReadUntilEndAsync()).StatusCode);
        Assert.DoesNotContain(Upstream.Requests, r => r.RawTarget == "/before-hello");
    }

    // [C-HELLO-5] A non-conforming edge: a second hello.
    [Fact]
    public async Task SecondHello_InvalidArgument()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        await edge.Call.RequestStream.WriteAsync(new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 1 } }).DefaultTimeout();

        Assert.Equal(StatusCode.InvalidArgument, (await edge.ReadUntilEndAsync()).StatusCode);
    }

    // [C-CAP-1] [C-ITEM-1]
    [Fact]
    public async Task UnknownCapabilitiesAndItemKinds_Ignored()
    {
        using var edge = new RawEdge(Origin.Address);
        var hello = await edge.HelloAsync(new EdgeHello { ProtocolVersion = 1, Capabilities = { "x-conformance/unknown", "stream-compression/x-conformance-codec" } });
        Assert.Equal("", hello.StreamCompression);

        // An item whose kind this version does not know (as a later version's would look): no kind set.
        await edge.SendAsync(new EdgeItem { ExchangeId = 9 }, RawEdge.Start(10, "GET", "/after-unknown-item"));
        var answer = Assert.Single(await edge.ReadItemsAsync(1));

        Assert.Equal(10UL, answer.ExchangeId);
        Assert.Equal(200u, answer.ResponseStart.Status);
    }

    // [C-ID-1] A non-conforming edge: exchange id 0.
    [Fact]
    public async Task ExchangeIdZero_InvalidArgument()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Start(0, "GET", "/id-zero"));

        Assert.Equal(StatusCode.InvalidArgument, (await edge.ReadUntilEndAsync()).StatusCode);
    }

    // [C-ID-2] A non-conforming edge: an id reused while its exchange is open.
    [Fact]
    public async Task ExchangeIdReusedWhileOpen_InvalidArgument()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Start(7, "GET", "/reused-1?hold=1"), RawEdge.Start(7, "GET", "/reused-2?hold=1"));

        Assert.Equal(StatusCode.InvalidArgument, (await edge.ReadUntilEndAsync()).StatusCode);
    }

    // [C-ID-3] Ids are unique only while open: an ended exchange's id may start a new one.
    [Fact]
    public async Task ExchangeIdReusedAfterItEnded_Accepted()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Start(5, "GET", "/first-use"));
        Assert.Equal(200u, Assert.Single(await edge.ReadItemsAsync(1)).ResponseStart.Status);
        await edge.SendAsync(RawEdge.Start(5, "GET", "/second-use"));
        var second = Assert.Single(await edge.ReadItemsAsync(1));

        Assert.Equal("/second-use", Header(second, "X-Upstream-Target"));
    }

    // [C-CODEC-1] A non-conforming edge: compressed_batch without a negotiated codec.
    [Fact]
    public async Task CompressedBatchWithoutNegotiatedCodec_InvalidArgument()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        using var codec = new BrotliStreamCodec();
        await edge.SendCompressedAsync(codec, RawEdge.Start(1, "GET", "/not-negotiated"));

        Assert.Equal(StatusCode.InvalidArgument, (await edge.ReadUntilEndAsync()).StatusCode);
        Assert.DoesNotContain(Upstream.Requests, r => r.RawTarget == "/not-negotiated");
    }

    // [C-CODEC-2] [C-BATCH-2] A minimal edge (no capabilities) gets plain batches, never empty ones.
    [Fact]
    public async Task EdgeWithoutCapabilities_GetsOnlyPlainBatches()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        for (ulong id = 1; id <= 3; id++)
        {
            await edge.SendAsync(RawEdge.Start(id, "GET", $"/plain-{id}"));
            await edge.ReadItemsAsync(1);
        }

        Assert.All(edge.FrameKinds, kind => Assert.Equal(OriginFrame.KindOneofCase.Batch, kind));
    }

    // [C-CODEC-3] [C-CODEC-4] Optional: the stream codecs, when the origin lists them.
    [Theory]
    [InlineData("brotli")]
    [InlineData("zstd")]
    public async Task StreamCodec_WhenListed_DecodedBothWays_GarbageRefused(string name)
    {
        using var edge = new RawEdge(Origin.Address);
        var hello = await edge.HelloAsync(new EdgeHello { ProtocolVersion = 1, Capabilities = { $"stream-compression/{name}" }, StreamCompression = name });
        if (!hello.Capabilities.Contains($"stream-compression/{name}"))
        {
            // Optional feature: an origin that does not list it must still not send it.
            Assert.Equal("", hello.StreamCompression);
            return;
        }

        // Our edge listed only this codec: the origin may send with it or with none.
        Assert.Contains(hello.StreamCompression, new[] { "", name });
        using var codec = IStreamCodec.Create(name);
        // The second message only decodes with the context the first one left behind.
        await edge.SendCompressedAsync(codec, RawEdge.Post(1, $"/{name}-1", TestUpstream.Pattern(20_000)));
        var first = Assert.Single(await edge.ReadItemsAsync(1));
        await edge.SendCompressedAsync(codec, RawEdge.Post(2, $"/{name}-2", TestUpstream.Pattern(20_000)));
        var second = Assert.Single(await edge.ReadItemsAsync(1));
        Assert.Equal(TestUpstream.Pattern(20_000), first.ResponseStart.Body.ToByteArray());
        Assert.Equal(TestUpstream.Pattern(20_000), second.ResponseStart.Body.ToByteArray());

        await edge.Call.RequestStream.WriteAsync(new EdgeFrame { CompressedBatch = ByteString.CopyFromUtf8("not compressed at all") }).DefaultTimeout();
        Assert.Equal(StatusCode.InvalidArgument, (await edge.ReadUntilEndAsync()).StatusCode);
    }

    // [C-GZIP-1]
    [Fact]
    public async Task GzipCompressedMessages_Accepted()
    {
        using var edge = new RawEdge(Origin.Address, gzip: true);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Post(1, "/gzipped", TestUpstream.Pattern(50_000)));

        Assert.Equal(TestUpstream.Pattern(50_000), Assert.Single(await edge.ReadItemsAsync(1)).ResponseStart.Body.ToByteArray());
    }

    // [C-ORDER-1] [C-EXCH-1] [C-BATCH-1]
    [Fact]
    public async Task ManyExchangesInOneBatch_EachAnsweredOnce_InCompletionOrder()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();
        var items = new List<EdgeItem> { RawEdge.Start(1, "GET", "/order-slow?delay=3000") };
        for (ulong id = 2; id <= 40; id++)
        {
            items.Add(RawEdge.Start(id, "GET", $"/order-fast-{id}"));
        }

        await edge.SendAsync([.. items]);
        var answers = await edge.ReadItemsAsync(40);

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (ulong)i), answers.Select(a => a.ExchangeId).Order());
        Assert.Equal(1UL, answers[^1].ExchangeId);
        Assert.All(answers, a => Assert.Equal(200u, a.ResponseStart.Status));
    }

    // [C-HTTP-1] The origin alone picks the upstream: no target form or Host can send a request elsewhere.
    [Theory]
    [InlineData("http://elsewhere.invalid/x")]
    [InlineData("elsewhere.invalid:80")]
    [InlineData("*")]
    [InlineData("")]
    public async Task TargetNotInOriginForm_BadRequest_NothingContacted(string target)
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Start(1, "GET", target), RawEdge.Start(2, "GET", "/elsewhere-by-host", ("X-Forwarded-Host", "elsewhere.invalid")));
        var answers = await edge.ReadItemsAsync(2);

        Assert.Equal(ErrorCode.BadRequest, answers.Single(a => a.ExchangeId == 1).Error.Code);
        Assert.Equal(200u, answers.Single(a => a.ExchangeId == 2).ResponseStart.Status);
        Assert.DoesNotContain(Upstream.Requests, r => r.RawTarget.Contains("elsewhere.invalid", StringComparison.Ordinal));
    }

    // [C-HTTP-2] [C-HTTP-3] [C-HTTP-4]
    [Fact]
    public async Task FieldsMethodAndTarget_ForwardedAsSent_HopByHopDropped()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();
        const string target = "/a/../b%2F%41?q=%41&x=1&x=2";

        await edge.SendAsync(RawEdge.Start(1, "PURGE", target,
            ("X-Multi", "one"), ("X-Multi", "two"), ("Connection", "X-Named"), ("X-Named", "secret"), ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-Later"), ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"), ("Proxy-Authorization", "Basic eDp5"), ("X-Kept", "yes")));
        var answer = Assert.Single(await edge.ReadItemsAsync(1));
        var seen = await Upstream.WaitForAsync(target).DefaultTimeout();

        Assert.Equal("PURGE", seen.Method);
        // HTTP/1.1 may join repeated fields into one line (RFC 9110, 5.3): the values and their order are what count.
        Assert.Equal("one, two", string.Join(", ", seen.Values("X-Multi")));
        Assert.Equal(["yes"], seen.Values("X-Kept"));
        foreach (var name in new[] { "Connection", "X-Named", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authorization" })
        {
            Assert.Empty(seen.Values(name));
        }

        // Repeated response fields come back as separate entries, in order.
        Assert.Equal(["a=1", "b=2"], answer.ResponseStart.Headers.Where(h => h.Name.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value));
        Assert.DoesNotContain(answer.ResponseStart.Headers, h => h.Name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || h.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase));
    }

    // [C-LIMIT-2] Bodies right at the announced limit, both ways, arrive intact.
    [Fact]
    public async Task BodiesAtTheAnnouncedLimit_Intact()
    {
        using var edge = new RawEdge(Origin.Address, maxReceiveBytes: 8 * 1024 * 1024);
        var hello = await edge.HelloAsync(new EdgeHello { ProtocolVersion = 1, MaxMessageBytes = 8 * 1024 * 1024 });
        Assert.True(hello.MaxRequestBodyBytes is > 0 and <= 4 * 1024 * 1024,
            $"Start the origin under test with a request body limit of at most 4 MiB (it announced {hello.MaxRequestBodyBytes}); see docs/conformance.md.");
        var size = (int)hello.MaxRequestBodyBytes;

        await edge.SendAsync(RawEdge.Post(1, "/at-limit", TestUpstream.Pattern(size)), RawEdge.Start(2, "GET", $"/large-response?size={size}"));
        var answers = await edge.ReadItemsAsync(2);

        Assert.Equal(TestUpstream.Pattern(size), answers.Single(a => a.ExchangeId == 1).ResponseStart.Body.ToByteArray());
        Assert.Equal(TestUpstream.Pattern(size), answers.Single(a => a.ExchangeId == 2).ResponseStart.Body.ToByteArray());
    }

    // [C-LIMIT-1] The origin keeps every message under the edge's announced limit: answers that would
    // not fit one message together are spread over several, and one that cannot fit at all becomes
    // RESPONSE_TOO_LARGE (the gRPC client here enforces the limit, so a bigger message fails the test).
    [Fact]
    public async Task MessagesStayUnderTheEdgesLimit()
    {
        const int limit = 2 * 1024 * 1024;
        using var edge = new RawEdge(Origin.Address, maxReceiveBytes: limit);
        await edge.HelloAsync(new EdgeHello { ProtocolVersion = 1, MaxMessageBytes = limit });
        var items = Enumerable.Range(1, 8).Select(i => RawEdge.Start((ulong)i, "GET", $"/under-limit-{i}?size={300 * 1024}")).ToList();
        items.Add(RawEdge.Start(9, "GET", $"/over-limit?size={limit + 1}"));

        await edge.SendAsync([.. items]);
        var answers = await edge.ReadItemsAsync(9);

        Assert.All(answers.Where(a => a.ExchangeId != 9), a => Assert.Equal(300 * 1024, a.ResponseStart.Body.Length));
        Assert.Equal(ErrorCode.ResponseTooLarge, answers.Single(a => a.ExchangeId == 9).Error.Code);
    }

    // [C-CANCEL-1] [C-CANCEL-2]
    [Fact]
    public async Task Cancel_AbortsTheUpstreamRequest_NothingMoreForThatId()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();
        await edge.SendAsync(RawEdge.Cancel(424242));
        await edge.SendAsync(RawEdge.Start(1, "GET", "/cancel-me?hold=1"));
        await Upstream.WaitForAsync("/cancel-me?hold=1").DefaultTimeout();

        await edge.SendAsync(RawEdge.Cancel(1));
        await Upstream.AbortedAsync("/cancel-me?hold=1").DefaultTimeout();
        await edge.SendAsync(RawEdge.Start(2, "GET", "/after-cancel"));

        Assert.Equal(2UL, Assert.Single(await edge.ReadItemsAsync(1)).ExchangeId);
    }

    // [C-EOS-2]
    [Fact]
    public async Task StreamEnd_AbortsOpenUpstreamRequests()
    {
        using (var edge = new RawEdge(Origin.Address))
        {
            await edge.HelloAsync();
            await edge.SendAsync(RawEdge.Start(1, "GET", "/open-at-end?hold=1"));
            await Upstream.WaitForAsync("/open-at-end?hold=1").DefaultTimeout();
        }

        await Upstream.AbortedAsync("/open-at-end?hold=1").DefaultTimeout();
    }

    // [C-TIME-1]
    [Fact]
    public async Task TimeoutMs_UpstreamTimeout()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();
        var start = RawEdge.Start(1, "GET", "/too-slow?delay=20000");
        start.RequestStart.TimeoutMs = 300;

        await edge.SendAsync(start);

        Assert.Equal(ErrorCode.UpstreamTimeout, Assert.Single(await edge.ReadItemsAsync(1)).Error.Code);
    }

    // [C-ERR-1]
    [Fact]
    public async Task DeadUpstream_UpstreamConnect()
    {
        using var edge = new RawEdge(fixture.DeadUpstreamOrigin.Address);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Start(1, "GET", "/nobody-listens"));

        Assert.Equal(ErrorCode.UpstreamConnect, Assert.Single(await edge.ReadItemsAsync(1)).Error.Code);
    }

    // [C-EXCH-1] [C-ORDER-1] End to end through our edge: real HTTP clients, answers in completion order.
    [Fact]
    public async Task ThroughOurEdge_ExchangesCompleteIndependently()
    {
        using var client = Http.Client(fixture.Edge);
        var slow = client.GetAsync("/http-slow?delay=3000");
        using var post = await client.PostAsync("/http-post", new ByteArrayContent(TestUpstream.Pattern(100_000))).DefaultTimeout();

        Assert.False(slow.IsCompleted, "A fast exchange waited for a slow one.");
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(TestUpstream.Pattern(100_000), await post.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal(["a=1", "b=2"], post.Headers.GetValues("Set-Cookie"));
        using var slowResponse = await slow.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, slowResponse.StatusCode);
    }

    // [C-CANCEL-1] End to end: a client that goes away ends the upstream request too.
    [Fact]
    public async Task ThroughOurEdge_ClientAbort_AbortsUpstream()
    {
        using var client = Http.Client(fixture.Edge);
        using var abort = new CancellationTokenSource();
        var request = client.GetAsync("/http-abort?hold=1", abort.Token);
        await Upstream.WaitForAsync("/http-abort?hold=1").DefaultTimeout();

        await abort.CancelAsync();

        await Upstream.AbortedAsync("/http-abort?hold=1").DefaultTimeout();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request).DefaultTimeout();
    }

    private static string? Header(OriginItem item, string name)
        => item.ResponseStart.Headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase))?.Value;

    // [C-PING-1] A pong answers each ping at once, also while an exchange is still running.
    [Fact]
    public async Task Ping_AnsweredWithPongAtOnce()
    {
        using var edge = new RawEdge(Origin.Address);
        var hello = await edge.HelloAsync();
        if (!hello.Capabilities.Contains("heartbeat"))
        {
            // The rule binds origins that list the capability; this one does not, so it must never be pinged.
            return;
        }

        await edge.SendAsync(RawEdge.Start(1, "GET", "/ping-behind-slow?delay=3000"), new EdgeItem { Ping = new Ping { Nonce = 424242 } });
        var first = Assert.Single(await edge.ReadItemsAsync(1));

        Assert.Equal(0UL, first.ExchangeId);
        Assert.Equal(424242UL, first.Pong.Nonce);
        Assert.True(first.Pong.ActiveExchanges >= 1, "the slow exchange is running, so the origin's load is at least 1");
        Assert.Equal(1UL, Assert.Single(await edge.ReadItemsAsync(1)).ExchangeId);
    }

    // [C-DRAIN-1] [C-RETRY-1] A stopping origin drains only edges that listed "drain", still answers what it
    // started, and refuses (without forwarding) what arrives afterwards.
    [Fact]
    public async Task Stopping_DrainsEdgesThatListedIt_AnswersStarted_RefusesLaterWithoutForwarding()
    {
        await using var origin = await PeerProcess.StartAsync("origin under test (stopped)", Implementations.OriginUnderTest, new Dictionary<string, string> { ["upstream"] = Upstream.Url });
        using var drainable = new RawEdge(origin.Address);
        await drainable.HelloAsync(new EdgeHello { ProtocolVersion = 1, Agent = "conformance-raw-edge", Capabilities = { "drain" } });
        using var plain = new RawEdge(origin.Address);
        await plain.HelloAsync();
        await drainable.SendAsync(RawEdge.Start(1, "GET", "/drain-held-a?delay=4000"));
        await plain.SendAsync(RawEdge.Start(1, "GET", "/drain-held-b?delay=4000"));
        await Upstream.WaitForAsync("/drain-held-a?delay=4000");
        await Upstream.WaitForAsync("/drain-held-b?delay=4000");

        origin.Terminate();

        var drain = Assert.Single(await drainable.ReadItemsAsync(1));
        Assert.Equal(0UL, drain.ExchangeId);
        Assert.Equal(OriginItem.KindOneofCase.Drain, drain.KindCase);
        await drainable.SendAsync(RawEdge.Start(2, "GET", "/after-drain"));
        var answers = (await drainable.ReadItemsAsync(2)).ToDictionary(i => i.ExchangeId);
        Assert.Equal(200u, answers[1].ResponseStart.Status);
        Assert.Equal(ErrorCode.ShuttingDown, answers[2].Error.Code);
        Assert.DoesNotContain(Upstream.Requests, r => r.RawTarget == "/after-drain");

        var held = Assert.Single(await plain.ReadItemsAsync(1));
        Assert.Equal(1UL, held.ExchangeId);
        Assert.Equal(200u, held.ResponseStart.Status);
    }

    // [C-DRAIN-1] [C-DRAIN-3] A drained call stays open until the edge ends its side, even with nothing running: a
    // request start that crossed the drain on the wire is refused (to be retried elsewhere), not lost with the call.
    [Fact]
    public async Task Stopping_IdleDrainedCall_StaysOpenUntilTheEdgeEndsItsSide_RefusesWhatCrossedTheDrain()
    {
        await using var origin = await PeerProcess.StartAsync("origin under test (stopped while idle)", Implementations.OriginUnderTest, new Dictionary<string, string> { ["upstream"] = Upstream.Url });
        using var edge = new RawEdge(origin.Address);
        await edge.HelloAsync(new EdgeHello { ProtocolVersion = 1, Agent = "conformance-raw-edge", Capabilities = { "drain" } });

        origin.Terminate();

        var drain = Assert.Single(await edge.ReadItemsAsync(1));
        Assert.Equal(OriginItem.KindOneofCase.Drain, drain.KindCase);
        // Longer than a writer's flush and a poll: an origin that ends the call once idle has ended it by now.
        await Task.Delay(300);
        await edge.SendAsync(RawEdge.Start(1, "GET", "/crossed-the-drain"));
        var refused = Assert.Single(await edge.ReadItemsAsync(1));
        Assert.Equal(1UL, refused.ExchangeId);
        Assert.Equal(ErrorCode.ShuttingDown, refused.Error.Code);

        await edge.Call.RequestStream.CompleteAsync();
        Assert.Equal(StatusCode.OK, (await edge.ReadUntilEndAsync()).StatusCode);
        Assert.DoesNotContain(Upstream.Requests, r => r.RawTarget == "/crossed-the-drain");
    }

    // [C-STREAM-1] An edge that did not list "streaming" gets a long body whole.
    [Fact]
    public async Task LongResponse_ToAnEdgeWithoutStreaming_ComesWhole()
    {
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync();

        await edge.SendAsync(RawEdge.Start(1, "GET", "/long-whole?size=300000"));
        var answer = Assert.Single(await edge.ReadItemsAsync(1));

        Assert.False(answer.ResponseStart.BodyFollows);
        Assert.Equal(TestUpstream.Pattern(300000), answer.ResponseStart.Body.ToByteArray());
    }

    // [C-STREAM-2] [C-STREAM-4] To an edge that takes streamed bodies, a long one may come in chunks: never more
    // than the window before a grant, and ending with a last chunk.
    [Fact]
    public async Task LongResponse_ToAStreamingEdge_StaysInItsWindow_EndsWithALastChunk()
    {
        const int Window = 64 * 1024;
        const int Size = 300_000;
        using var edge = new RawEdge(Origin.Address);
        await edge.HelloAsync(new EdgeHello { ProtocolVersion = 1, Agent = "conformance-raw-edge", Capabilities = { "streaming" }, ExchangeWindow = Window });
        await edge.SendAsync(RawEdge.Start(1, "GET", $"/long-streamed?size={Size}"));

        var head = Assert.Single(await edge.ReadItemsAsync(1)).ResponseStart;
        if (!head.BodyFollows)
        {
            // Streaming is the origin's choice: whole is conforming too.
            Assert.Equal(Size, head.Body.Length);
            return;
        }

        var body = new List<byte>(head.Body.ToByteArray());
        var ungranted = body.Count;
        var ended = false;
        var responses = edge.Call.ResponseStream;
        var next = responses.MoveNext();
        while (!ended)
        {
            // With all of it granted the window is open and the next chunk must come (or the wait times out); with some
            // of it ungranted, a pause may be the spent window: grant what has arrived.
            if (ungranted > 0 && await Task.WhenAny(next, Task.Delay(300)) != next)
            {
                await edge.SendAsync(new EdgeItem { ExchangeId = 1, WindowUpdate = new WindowUpdate { Bytes = (uint)ungranted } });
                ungranted = 0;
                continue;
            }

            Assert.True(await next.DefaultTimeout(), "the origin ended the stream before the body's last chunk");
            foreach (var item in responses.Current.Batch.Items)
            {
                Assert.Equal(OriginItem.KindOneofCase.ResponseBody, item.KindCase);
                body.AddRange(item.ResponseBody.Data.ToByteArray());
                ungranted += item.ResponseBody.Data.Length;
                Assert.True(ungranted <= Window, $"{ungranted} bytes out with a window of {Window}");
                ended = item.ResponseBody.End;
            }

            if (!ended)
            {
                next = responses.MoveNext();
            }
        }

        Assert.Equal(TestUpstream.Pattern(Size), body.ToArray());
    }
}
