using Microsoft.AspNetCore.Http;
using Teleport.Edge.Http;

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
}
