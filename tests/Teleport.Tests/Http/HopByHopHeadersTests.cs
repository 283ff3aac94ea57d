using Microsoft.Extensions.Primitives;
using Teleport.Protocol.Http;

namespace Teleport.Tests.Http;

public sealed class HopByHopHeadersTests
{
    [Theory]
    [InlineData("Connection")]
    [InlineData("Keep-Alive")]
    [InlineData("Proxy-Connection")]
    [InlineData("Proxy-Authenticate")]
    [InlineData("Proxy-Authorization")]
    [InlineData("TE")]
    [InlineData("Trailer")]
    [InlineData("Transfer-Encoding")]
    [InlineData("Upgrade")]
    [InlineData("HTTP2-Settings")]
    [InlineData("transfer-encoding")]
    [InlineData("KEEP-ALIVE")]
    [InlineData("te")]
    public void IsHopByHop_ConnectionSpecificField_True(string name)
        => Assert.True(HopByHopHeaders.IsHopByHop(name, StringValues.Empty));

    [Theory]
    [InlineData(":authority")]
    [InlineData(":path")]
    [InlineData(":method")]
    [InlineData(":scheme")]
    [InlineData(":status")]
    [InlineData("")]
    public void IsHopByHop_PseudoHeaderOrEmptyName_True(string name)
        => Assert.True(HopByHopHeaders.IsHopByHop(name, StringValues.Empty));

    [Theory]
    [InlineData("Host")]
    [InlineData("Content-Type")]
    [InlineData("Content-Length")]
    [InlineData("Accept")]
    [InlineData("Authorization")]
    [InlineData("Cookie")]
    [InlineData("X-Forwarded-For")]
    [InlineData("Trailers")]
    [InlineData("Connection-Id")]
    [InlineData("X-Upgrade")]
    public void IsHopByHop_EndToEndField_False(string name)
        => Assert.False(HopByHopHeaders.IsHopByHop(name, StringValues.Empty));

    [Theory]
    [InlineData("X-Session", "X-Session")]
    [InlineData("x-session", "X-SESSION")]
    [InlineData("X-Session", "close, X-Session")]
    [InlineData("X-Session", "keep-alive,x-session,upgrade")]
    [InlineData("X-Session", " \tX-Session\t , close")]
    public void IsHopByHop_FieldNamedInConnection_True(string name, string connection)
        => Assert.True(HopByHopHeaders.IsHopByHop(name, connection));

    [Fact]
    public void IsHopByHop_FieldNamedInSecondConnectionValue_True()
        => Assert.True(HopByHopHeaders.IsHopByHop("X-Session", new StringValues(["close", "X-Other, X-Session"])));

    [Theory]
    [InlineData("X-Session", "close")]
    [InlineData("X-Session", "X-Session-Id")]
    [InlineData("X-Session-Id", "X-Session")]
    [InlineData("X-Session", "X-Sess")]
    [InlineData("X-Session", "")]
    [InlineData("X-Session", ",,")]
    [InlineData("X-Session", "X-Session;q=1")]
    public void IsHopByHop_FieldNotNamedInConnection_False(string name, string connection)
        => Assert.False(HopByHopHeaders.IsHopByHop(name, connection));

    [Fact]
    public void IsHopByHop_NullConnectionValue_Ignored()
        => Assert.False(HopByHopHeaders.IsHopByHop("X-Session", new StringValues([null, "close"])));

    [Theory]
    [InlineData("a", "a", true)]
    [InlineData("a,b,c", "c", true)]
    [InlineData("a , B , c", "b", true)]
    [InlineData("a,,b", "b", true)]
    [InlineData("a,b,", "b", true)]
    [InlineData(",a", "a", true)]
    [InlineData("ab", "a", false)]
    [InlineData("a", "ab", false)]
    [InlineData("a b", "a", false)]
    [InlineData("", "a", false)]
    [InlineData(" ", "a", false)]
    public void ListsToken_CommaSeparatedList_MatchesWholeTrimmedElementsOnly(string list, string token, bool expected)
        => Assert.Equal(expected, HopByHopHeaders.ListsToken(list, token));
}
