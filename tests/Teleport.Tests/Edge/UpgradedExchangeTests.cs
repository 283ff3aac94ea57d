using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Teleport.Edge.Http;
using Teleport.Protocol.V1;

namespace Teleport.Tests.Edge;

public sealed class UpgradedExchangeTests
{
    [Theory]
    [InlineData("GET", "websocket", true)]
    [InlineData("GET", "WebSocket", true)]
    [InlineData("GET", "h2c, websocket", true)]
    [InlineData("GET", "h2c", false)]
    [InlineData("GET", "websockets", false)]
    [InlineData("POST", "websocket", false)]
    public void IsWebSocket_GetListingTheToken_True(string method, string upgrade, bool expected)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Headers.Upgrade = upgrade;

        Assert.Equal(expected, UpgradedExchange.IsWebSocket(context.Request));
    }

    [Theory]
    [InlineData(true, "websocket", true)]
    [InlineData(true, "WebSocket", true)]
    [InlineData(true, "foo", false)]
    [InlineData(true, null, false)]
    [InlineData(false, "websocket", false)]
    public void IsWebSocket_ExtendedConnectWithProtocolWebsocket_True(bool extendedConnect, string? protocol, bool expected)
    {
        Assert.Equal(expected, UpgradedExchange.IsWebSocket(new ExtendedConnect(extendedConnect, protocol)));
    }

    [Fact]
    public void AsHttp11Handshake_ExtendedConnect_BecomesGetWithOneFreshKey()
    {
        var start = new RequestStart { Method = "CONNECT", PathAndQuery = "/chat" };
        start.Headers.Add(new Header { Name = "sec-websocket-version", Value = "13" });
        start.Headers.Add(new Header { Name = "sec-websocket-key", Value = "c2VudCBhbnl3YXkgYnkgYQ==" });
        start.Headers.Add(new Header { Name = "sec-websocket-protocol", Value = "chat" });

        UpgradedExchange.AsHttp11Handshake(start);
        var first = KeyOf(start);
        UpgradedExchange.AsHttp11Handshake(start);

        Assert.Equal("GET", start.Method);
        Assert.Equal(16, Convert.FromBase64String(first).Length);
        Assert.NotEqual(first, KeyOf(start));
        Assert.Equal(["sec-websocket-version", "sec-websocket-protocol", "Sec-WebSocket-Key"], start.Headers.Select(h => h.Name));
    }

    private static string KeyOf(RequestStart start) => start.Headers.Single(h => h.Name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase)).Value;

    private sealed class ExtendedConnect(bool isExtendedConnect, string? protocol) : IHttpExtendedConnectFeature
    {
        public bool IsExtendedConnect => isExtendedConnect;

        public string? Protocol => protocol;

        public ValueTask<Stream> AcceptAsync() => throw new NotSupportedException();
    }
}
