using Teleport.Conformance.Infrastructure;

namespace Teleport.Conformance;

/// <summary>Upgrades (WebSockets): what every edge owes, whether or not it carries them.</summary>
public abstract partial class EdgeConformanceTests
{
    // [C-UPGRADE-1] The scripted origin lists no "upgrade": a WebSocket handshake never reaches it as one (ours answers 501;
    // an edge may also refuse it otherwise). A request after it shows the edge has gone on.
    [Fact]
    public async Task WebSocketHandshake_ToAnOriginWithoutUpgrade_NotSentAsAnUpgrade()
    {
        var (status, _) = await RawHttp.SendAsync(fixture.ScriptedEdge.Address,
            "GET /upgrade/not-listed HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").DefaultTimeout();
        using var client = Http.Client(fixture.ScriptedEdge);
        using var after = await client.GetAsync("/upgrade/after").DefaultTimeout();

        Assert.NotEqual(101, status);
        await Scripted.WaitForRequestAsync("/upgrade/after").DefaultTimeout();
        Assert.DoesNotContain(Scripted.Violations, v => v.Contains("[C-UPGRADE-1]", StringComparison.Ordinal));
    }
}
