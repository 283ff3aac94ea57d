using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Teleport.Edge.Http;

namespace Teleport.Tests.Edge;

public sealed class RequestTargetTests
{
    [Theory]
    [InlineData("/")]
    [InlineData("/a/b?x=1&y=2")]
    [InlineData("/files/a%2Fb%2fc?name=%C3%A9t%C3%A9")]
    [InlineData("/odd/..;/%2e%2E/./a?q=a+b&&=&x=%zz#frag")]
    [InlineData("//double//slashes?")]
    [InlineData("/redirect?to=http://other/x")]
    [InlineData("*")]
    public void PathAndQuery_OriginFormOrAsterisk_PassedThroughByteForByte(string raw)
        => Assert.Equal(raw, RequestTarget.PathAndQuery(Context(raw)));

    // Whatever the server let through, no space, control or non-ASCII character goes on raw: the upstream's request line stays well-formed.
    [Theory]
    [InlineData("/a b", "/a%20b")]
    [InlineData("/a\u0001b?c\u007fd", "/a%01b?c%7Fd")]
    [InlineData("/x\r\nHost: evil", "/x%0D%0AHost:%20evil")]
    [InlineData("/caf\u00e9?q=\u2603", "/caf%C3%A9?q=%E2%98%83")]
    [InlineData("http://h/a b", "/a%20b")]
    public void PathAndQuery_InvalidCharacters_PercentEncoded(string raw, string forwarded)
        => Assert.Equal(forwarded, RequestTarget.PathAndQuery(Context(raw)));

    [Theory]
    [InlineData("http://example.com/a/b?x=1", "/a/b?x=1")]
    [InlineData("http://example.com:8080/a%2Fb?x=%20", "/a%2Fb?x=%20")]
    [InlineData("HTTPS://EXAMPLE.COM/Path", "/Path")]
    [InlineData("http://user:pw@example.com/p", "/p")]
    [InlineData("http://[::1]:8080/p?q", "/p?q")]
    [InlineData("http://example.com/", "/")]
    [InlineData("http://example.com", "/")]
    [InlineData("http://example.com:80", "/")]
    [InlineData("http://h?x=1", "/?x=1")]
    [InlineData("http://h?next=http://other/y", "/?next=http://other/y")]
    public void PathAndQuery_AbsoluteForm_StripsSchemeAndAuthority(string raw, string expected)
        => Assert.Equal(expected, RequestTarget.PathAndQuery(Context(raw)));

    [Fact]
    public void PathAndQuery_AuthorityForm_PassedThroughForOriginToRefuse()
        => Assert.Equal("example.com:443", RequestTarget.PathAndQuery(Context("example.com:443")));

    [Fact]
    public void PathAndQuery_NoRawTarget_RebuildsFromPathAndQueryString()
    {
        var context = Context(null);
        context.Request.Path = "/a b/ü";
        context.Request.QueryString = new QueryString("?x=1");

        Assert.Equal("/a%20b/%C3%BC?x=1", RequestTarget.PathAndQuery(context));
    }

    private static DefaultHttpContext Context(string? rawTarget)
    {
        var context = new DefaultHttpContext();
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = rawTarget!;
        // What the server would have decoded: must not be what gets forwarded.
        context.Request.Path = "/decoded";
        return context;
    }
}
