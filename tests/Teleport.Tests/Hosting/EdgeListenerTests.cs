using System.Net;
using Teleport.Edge.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class EdgeListenerTests
{
    [Theory]
    [InlineData("127.0.0.1:8080", "Http", "127.0.0.1:8080")]
    [InlineData("http://0.0.0.0:8080", "Http", "0.0.0.0:8080")]
    [InlineData("https://0.0.0.0:8443", "Https", "0.0.0.0:8443")]
    [InlineData("HTTPS://[::1]:8443/", "Https", "[::1]:8443")]
    [InlineData("https://localhost:0", "Https", "127.0.0.1:0")]
    public void TryParse_TcpForms_ReturnKindAndEndPoint(string text, string kind, string endPoint)
    {
        Assert.True(EdgeListener.TryParse(text, out var listener));
        Assert.Equal(Enum.Parse<ListenerKind>(kind), listener.Kind);
        Assert.Equal(IPEndPoint.Parse(endPoint), listener.EndPoint);
        Assert.Null(listener.SocketPath);
    }

    [Fact]
    public void TryParse_UnixForm_ReturnsThePath()
    {
        Assert.True(EdgeListener.TryParse("unix:/run/teleport/edge.sock", out var listener));
        Assert.Equal(new EdgeListener(ListenerKind.Unix, null, "/run/teleport/edge.sock"), listener);
    }

    [Theory]
    [InlineData("")]
    [InlineData("unix:")]
    [InlineData("unix:edge.sock")]
    [InlineData("unix:/run/teleport/")]
    [InlineData("https://")]
    [InlineData("https://0.0.0.0")]
    [InlineData("ftp://0.0.0.0:21")]
    public void TryParse_BadForm_ReturnsFalse(string text)
    {
        Assert.False(EdgeListener.TryParse(text, out _));
    }

    [Theory]
    [InlineData("660", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite)]
    [InlineData("0600", UnixFileMode.UserRead | UnixFileMode.UserWrite)]
    [InlineData("777", (UnixFileMode)0x1FF)]
    public void TryParseMode_Octal_ReturnsTheMode(string text, UnixFileMode expected)
    {
        Assert.True(UnixSocketFiles.TryParseMode(text, out var mode));
        Assert.Equal(expected, mode);
    }

    [Theory]
    [InlineData("api.example.org", "*.example.com", false)]
    [InlineData("api.example.com", "*.example.com", true)]
    [InlineData("API.Example.COM", "*.example.com", true)]
    [InlineData("example.com", "*.example.com", false)]
    [InlineData("a.b.example.com", "*.example.com", false)]
    [InlineData(".example.com", "*.example.com", false)]
    [InlineData("api.example.com", "api.example.com", false)]
    public void MatchesWildcard_OneLabelOnly(string serverName, string pattern, bool expected)
    {
        Assert.Equal(expected, ServerCertificates.MatchesWildcard(pattern, serverName));
    }
}
