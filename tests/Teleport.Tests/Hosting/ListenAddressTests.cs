using System.Net;
using Teleport.Protocol.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class ListenAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:8080", "127.0.0.1", 8080)]
    [InlineData("0.0.0.0:0", "0.0.0.0", 0)]
    [InlineData("10.1.2.3:65535", "10.1.2.3", 65535)]
    [InlineData("[::1]:8080", "::1", 8080)]
    [InlineData("[::]:9090", "::", 9090)]
    [InlineData("[fe80::1:2]:443", "fe80::1:2", 443)]
    [InlineData("*:8080", "0.0.0.0", 8080)]
    [InlineData("+:8080", "0.0.0.0", 8080)]
    [InlineData(":8080", "0.0.0.0", 8080)]
    [InlineData("localhost:8080", "127.0.0.1", 8080)]
    [InlineData("LocalHost:8080", "127.0.0.1", 8080)]
    [InlineData("http://0.0.0.0:8080", "0.0.0.0", 8080)]
    [InlineData("HTTP://127.0.0.1:80/", "127.0.0.1", 80)]
    [InlineData("http://[::1]:8080/", "::1", 8080)]
    [InlineData("http://*:8080", "0.0.0.0", 8080)]
    [InlineData("http://localhost:5000", "127.0.0.1", 5000)]
    [InlineData("  127.0.0.1:8080  ", "127.0.0.1", 8080)]
    public void TryParse_DocumentedForm_ReturnsEndPoint(string text, string address, int port)
    {
        Assert.True(ListenAddress.TryParse(text, out var endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endPoint);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("127.0.0.1:80x")]
    [InlineData("256.0.0.1:80")]
    [InlineData("example.com:8080")]
    [InlineData("https://127.0.0.1:8443")]
    [InlineData("http://127.0.0.1:8080/path")]
    [InlineData("[::1]")]
    [InlineData("::1")]
    [InlineData("[::1:8080")]
    [InlineData("localhost")]
    [InlineData("http://")]
    [InlineData("127.0.0.1: 8080")]
    [InlineData(":+80")]
    [InlineData("1:80")]
    [InlineData("::1:8080")]
    public void TryParse_BadInput_ReturnsFalse(string? text)
    {
        Assert.False(ListenAddress.TryParse(text, out var endPoint));
        Assert.Null(endPoint);
    }
}
