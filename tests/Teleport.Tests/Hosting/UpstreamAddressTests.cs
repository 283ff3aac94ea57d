using System.Net;
using Teleport.Origin.Upstream;

namespace Teleport.Tests.Hosting;

public sealed class UpstreamAddressTests
{
    [Theory]
    [InlineData("http://app:8081", "http://app:8081", "app:8081", "1.1", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("http://app:8081/base/", "http://app:8081/base", "app:8081", "1.1", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("https://app:8443/base", "https://app:8443/base", "app:8443", "2.0", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("https://app", "https://app", "app", "2.0", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("h2c://grpc:5000", "http://grpc:5000", "grpc:5000", "2.0", HttpVersionPolicy.RequestVersionExact)]
    [InlineData("h2c://grpc/api", "http://grpc:80/api", "grpc:80", "2.0", HttpVersionPolicy.RequestVersionExact)]
    [InlineData("unix:/run/app.sock", "http://localhost", "unix:/run/app.sock", "1.1", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("h2c+unix:/run/grpc.sock", "http://localhost", "h2c+unix:/run/grpc.sock", "2.0", HttpVersionPolicy.RequestVersionExact)]
    public void TryParse_EachScheme_SetsPrefixAndVersionPolicy(string text, string prefix, string authority, string version, HttpVersionPolicy policy)
    {
        Assert.True(UpstreamAddress.TryParse(text, sni: null, index: 3, out var upstream, out var error), error);
        Assert.Equal(prefix, upstream.Prefix);
        Assert.Equal(authority, upstream.Authority);
        Assert.Equal(Version.Parse(version), upstream.Version);
        Assert.Equal(policy, upstream.VersionPolicy);
        Assert.Equal(3, upstream.Index);
        Assert.False(upstream.HostIsFixed);
    }

    [Fact]
    public void TryParse_Unix_ConnectsToThePathAndHasNoTls()
    {
        Assert.True(UpstreamAddress.TryParse("unix:/run/app.sock", sni: "ignored.example", 0, out var upstream, out _));
        Assert.Equal("/run/app.sock", upstream.SocketPath);
        Assert.Null(upstream.TlsName);
        Assert.Null(upstream.ConnectTo);
    }

    [Fact]
    public void TryParse_HttpsWithoutSni_ChecksTheUrlsHost()
    {
        Assert.True(UpstreamAddress.TryParse("https://10.0.0.5:8443", sni: null, 0, out var upstream, out _));
        Assert.Equal("10.0.0.5", upstream.TlsName);
        Assert.Null(upstream.ConnectTo);
    }

    [Fact]
    public void TryParse_HttpsWithSni_PutsTheNameInThePrefixAndConnectsToTheUrlsHost()
    {
        Assert.True(UpstreamAddress.TryParse("https://10.0.0.5:8443/base", sni: "app.internal", 0, out var upstream, out _));
        Assert.Equal("https://app.internal:8443/base", upstream.Prefix);
        Assert.Equal("app.internal", upstream.TlsName);
        Assert.Equal(new DnsEndPoint("10.0.0.5", 8443), upstream.ConnectTo);
        Assert.Equal("10.0.0.5:8443", upstream.Authority);
        Assert.True(upstream.HostIsFixed);
    }

    [Fact]
    public void TryParse_HttpWithSni_IgnoresIt()
    {
        Assert.True(UpstreamAddress.TryParse("http://app:8081", sni: "app.internal", 0, out var upstream, out _));
        Assert.Equal("http://app:8081", upstream.Prefix);
        Assert.Null(upstream.TlsName);
        Assert.False(upstream.HostIsFixed);
    }

    [Theory]
    [InlineData("unix:app.sock", "needs an absolute socket path")]
    [InlineData("h2c+unix:", "needs an absolute socket path")]
    [InlineData("ws://app:8081", "is not an address like")]
    [InlineData("https://app:8443/?x=1", "is not an address like")]
    [InlineData("app:8081", "is not an address like")]
    public void TryParse_BadValue_SaysWhy(string text, string expected)
    {
        Assert.False(UpstreamAddress.TryParse(text, sni: null, 0, out _, out var error));
        Assert.StartsWith($"--upstream '{text}' ", error);
        Assert.Contains(expected, error);
    }
}
