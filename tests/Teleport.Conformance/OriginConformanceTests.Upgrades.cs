using Google.Protobuf;
using Teleport.Conformance.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.Conformance;

/// <summary>Upgrades (WebSockets): checked only against an origin that lists the "upgrade" capability.</summary>
public sealed partial class OriginConformanceTests
{
    /// <summary>RFC 6455 1.3's example key, and the Sec-WebSocket-Accept an upstream answers it with.</summary>
    private const string SocketKey = "dGhlIHNhbXBsZSBub25jZQ==";
    private const string SocketAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    private static EdgeHello UpgradingHello => new() { ProtocolVersion = 1, Agent = "conformance-raw-edge", Capabilities = { "streaming", "upgrade" } };

    // [C-UPGRADE-3] An upgrade the origin cannot run as agreed (from an edge without the capabilities, a token other than
    // "websocket", no body_follows) is refused as a bad request, and nothing is contacted.
    [Theory]
    [InlineData(false, "websocket", true)]
    [InlineData(true, "h2c", true)]
    [InlineData(true, "websocket", false)]
    public async Task Upgrade_NotAgreedOrNotAWebSocket_BadRequest_NothingContacted(bool agreed, string token, bool bodyFollows)
    {
        using var edge = new RawEdge(Origin.Address);
        var hello = agreed ? await edge.HelloAsync(UpgradingHello) : await edge.HelloAsync();
        if (!hello.Capabilities.Contains("upgrade"))
        {
            // An origin without the capability need not know the field at all.
            return;
        }

        var target = $"/upgrade-refused/{agreed}/{token}/{bodyFollows}";
        await edge.SendAsync(Handshake(1, target, token, bodyFollows));
        var answer = Assert.Single(await edge.ReadItemsAsync(1));

        Assert.Equal(ErrorCode.BadRequest, answer.Error?.Code);
        Assert.DoesNotContain(Upstream.Requests, r => r.RawTarget == target);
    }

    // [C-UPGRADE-2] [C-UPGRADE-4] The handshake reaches the upstream with Connection and Upgrade rebuilt; its 101 comes back
    // with body_follows and no hop-by-hop fields; then the client's bytes go up as request_body chunks and the upstream's
    // come back as response_body chunks; a cancel closes the upstream connection.
    [Fact]
    public async Task Upgrade_101RelaysBothWays_CancelClosesTheUpstreamConnection()
    {
        using var edge = new RawEdge(Origin.Address);
        if (!(await edge.HelloAsync(UpgradingHello)).Capabilities.Contains("upgrade"))
        {
            return;
        }

        await edge.SendAsync(Handshake(1, "/upgrade/relay", "websocket", bodyFollows: true));
        var head = Assert.Single(await edge.ReadItemsAsync(1)).ResponseStart;

        Assert.Equal(101u, head.Status);
        Assert.True(head.BodyFollows);
        Assert.Equal([SocketAccept], head.Headers.Where(h => h.Name.Equals("Sec-WebSocket-Accept", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value));
        Assert.DoesNotContain(head.Headers, h => h.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || h.Name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase));
        var seen = await Upstream.WaitForAsync("/upgrade/relay").DefaultTimeout();
        Assert.Contains("websocket", seen.Values("Upgrade").Single(), StringComparison.OrdinalIgnoreCase);

        // A client's masked text frame "hi"; the upstream echoes it unmasked.
        byte[] mask = [1, 2, 3, 4];
        byte[] frame = [0x81, 0x82, .. mask, (byte)('h' ^ mask[0]), (byte)('i' ^ mask[1])];
        await edge.SendAsync(new EdgeItem { ExchangeId = 1, RequestBody = new BodyChunk { Data = ByteString.CopyFrom(frame) } });
        var echoed = new List<byte>();
        while (echoed.Count < 4)
        {
            foreach (var item in await edge.ReadItemsAsync(1))
            {
                if (item.KindCase == OriginItem.KindOneofCase.ResponseBody)
                {
                    echoed.AddRange(item.ResponseBody.Data.ToByteArray());
                }
            }
        }

        Assert.Equal([0x81, 2, (byte)'h', (byte)'i'], echoed);
        await edge.SendAsync(RawEdge.Cancel(1));
        await Upstream.SocketEndedAsync("/upgrade/relay").DefaultTimeout();
    }

    private static EdgeItem Handshake(ulong id, string target, string token, bool bodyFollows)
    {
        var item = RawEdge.Start(id, "GET", target, ("Sec-WebSocket-Key", SocketKey), ("Sec-WebSocket-Version", "13"));
        item.RequestStart.Upgrade = token;
        item.RequestStart.BodyFollows = bodyFollows;
        return item;
    }
}
