using System.Net;
using System.Security.Authentication;
using Google.Protobuf.Collections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Teleport.Edge.Hosting;
using Teleport.Edge.Http;
using Teleport.Protocol.V1;

namespace Teleport.Tests.Edge;

public sealed class RequestHeadersTests
{
    [Fact]
    public void Copy_HopByHopFields_Removed()
    {
        var request = Request();
        request.Headers.Connection = "keep-alive, X-Secret";
        request.Headers.KeepAlive = "timeout=5";
        request.Headers.TransferEncoding = "chunked";
        request.Headers.TE = "trailers";
        request.Headers.Trailer = "X-Checksum";
        request.Headers.Upgrade = "websocket";
        request.Headers.ProxyAuthorization = "Basic eA==";
        request.Headers["Proxy-Connection"] = "keep-alive";
        request.Headers["X-Secret"] = "connection-scoped";
        request.Headers["X-Kept"] = "1";

        var headers = Copy(request, ForwardedHeadersMode.Off);

        Assert.Equal(["Host: example.com", "X-Kept: 1"], headers);
    }

    [Fact]
    public void Copy_FieldNamedInSecondConnectionValue_Removed()
    {
        var request = Request();
        request.Headers.Connection = new StringValues(["close", "x-secret"]);
        request.Headers["X-Secret"] = "connection-scoped";

        Assert.Equal(["Host: example.com"], Copy(request, ForwardedHeadersMode.Off));
    }

    [Fact]
    public void Copy_MultiValuedField_KeepsEachValueInOrder()
    {
        var request = Request();
        request.Headers["Via"] = new StringValues(["1.1 a", "1.1 b", "1.1 c"]);
        request.Headers.Accept = "text/html, application/json";

        var headers = Copy(request, ForwardedHeadersMode.Off);

        Assert.Equal(["Host: example.com", "Via: 1.1 a", "Via: 1.1 b", "Via: 1.1 c", "Accept: text/html, application/json"], headers);
    }

    [Fact]
    public void Copy_AppendModeForwardedFieldNamedInConnection_IsNotCarriedOn()
    {
        var request = Request();
        request.Headers["Connection"] = "X-Forwarded-For";
        request.Headers["X-Forwarded-For"] = "203.0.113.9";

        var headers = Copy(request, ForwardedHeadersMode.Append);

        Assert.Contains("X-Forwarded-For: 10.0.0.7", headers);
        Assert.DoesNotContain(headers, h => h.Contains("203.0.113.9"));
    }

    [Fact]
    public void Copy_AppendMode_AddsThisHopAfterClientValues()
    {
        var request = Request();
        request.Headers["X-Forwarded-For"] = "203.0.113.9";
        request.Headers["x-forwarded-proto"] = "http";
        request.Headers["X-Forwarded-Host"] = "front.example";

        var headers = Copy(request, ForwardedHeadersMode.Append);

        Assert.Equal(
            ["Host: example.com", "X-Forwarded-For: 203.0.113.9, 10.0.0.7", "X-Forwarded-Proto: http, https", "X-Forwarded-Host: front.example, example.com"],
            headers);
    }

    [Fact]
    public void Copy_AppendModeWithSeveralClientValues_JoinsThemInOrder()
    {
        var request = Request();
        request.Headers["X-Forwarded-For"] = new StringValues(["198.51.100.1", "203.0.113.9"]);

        var headers = Copy(request, ForwardedHeadersMode.Append);

        Assert.Contains("X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.0.0.7", headers);
    }

    [Fact]
    public void Copy_SetMode_ReplacesClientValues()
    {
        var request = Request();
        request.Headers["X-Forwarded-For"] = "203.0.113.9";
        request.Headers["X-Forwarded-Proto"] = "http";
        request.Headers["X-Forwarded-Host"] = "front.example";

        var headers = Copy(request, ForwardedHeadersMode.Set);

        Assert.Equal(
            ["Host: example.com", "X-Forwarded-For: 10.0.0.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: example.com"],
            headers);
    }

    [Fact]
    public void Copy_OffMode_ForwardsClientValuesUntouchedAndAddsNothing()
    {
        var request = Request();
        request.Headers["X-Forwarded-For"] = "203.0.113.9";

        var headers = Copy(request, ForwardedHeadersMode.Off);

        Assert.Equal(["Host: example.com", "X-Forwarded-For: 203.0.113.9"], headers);
    }

    [Fact]
    public void Copy_AppendModeWithoutRemoteAddress_KeepsClientValueOnly()
    {
        var request = Request();
        request.HttpContext.Connection.RemoteIpAddress = null;
        request.Headers["X-Forwarded-For"] = "203.0.113.9";

        var headers = Copy(request, ForwardedHeadersMode.Append);

        Assert.Contains("X-Forwarded-For: 203.0.113.9", headers);
    }

    [Fact]
    public void Copy_SetModeWithoutRemoteAddressOrHost_OmitsThoseFields()
    {
        var request = Request();
        request.HttpContext.Connection.RemoteIpAddress = null;
        request.Headers.Host = StringValues.Empty;

        var headers = Copy(request, ForwardedHeadersMode.Set);

        Assert.Equal(["X-Forwarded-Proto: https"], headers);
    }

    [Fact]
    public void Copy_IPv6RemoteAddress_WrittenWithoutBrackets()
    {
        var request = Request();
        request.HttpContext.Connection.RemoteIpAddress = IPAddress.IPv6Loopback;

        Assert.Contains("X-Forwarded-For: ::1", Copy(request, ForwardedHeadersMode.Set));
    }

    [Fact]
    public void Copy_SomeFields_ReturnsAtLeastTheirLength()
    {
        var request = Request();
        request.Headers["Via"] = new StringValues(["1.1 a", "1.1 b"]);
        request.Headers["X-Forwarded-For"] = "203.0.113.9";
        var target = new RepeatedField<Header>();

        var size = RequestHeaders.Copy(request, ForwardedHeadersMode.Append, target);

        Assert.True(size >= target.Sum(h => h.Name.Length + h.Value.Length), $"size {size}");
    }

    [Fact]
    public void Copy_NoFieldsAndOff_ReturnsZero()
    {
        var request = Request();
        request.Headers.Host = StringValues.Empty;
        var target = new RepeatedField<Header>();

        Assert.Equal(0, RequestHeaders.Copy(request, ForwardedHeadersMode.Off, target));
        Assert.Empty(target);
    }

    [Fact]
    public void Copy_SchemeClaimedWithoutTls_ForwardsTheListenersScheme()
    {
        // An h2c client states its own :scheme; only the listener's TLS says what the hop really was.
        var context = new DefaultHttpContext();
        context.Request.Scheme = "https";

        var headers = Copy(context.Request, ForwardedHeadersMode.Set);

        Assert.Equal(["X-Forwarded-Proto: http"], headers);
    }

    /// <summary>A request for example.com from 10.0.0.7 that came over TLS.</summary>
    private static HttpRequest Request()
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse("10.0.0.7");
        context.Features.Set<ITlsHandshakeFeature>(new Tls());
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("example.com");
        return context.Request;
    }

    private sealed class Tls : ITlsHandshakeFeature
    {
        public SslProtocols Protocol => SslProtocols.Tls13;

        [Obsolete("Required by the interface.")]
        public CipherAlgorithmType CipherAlgorithm => CipherAlgorithmType.Aes256;

        [Obsolete("Required by the interface.")]
        public int CipherStrength => 256;

        [Obsolete("Required by the interface.")]
        public HashAlgorithmType HashAlgorithm => HashAlgorithmType.Sha384;

        [Obsolete("Required by the interface.")]
        public int HashStrength => 384;

        [Obsolete("Required by the interface.")]
        public ExchangeAlgorithmType KeyExchangeAlgorithm => ExchangeAlgorithmType.None;

        [Obsolete("Required by the interface.")]
        public int KeyExchangeStrength => 0;
    }

    private static string[] Copy(HttpRequest request, ForwardedHeadersMode mode)
    {
        var target = new RepeatedField<Header>();
        RequestHeaders.Copy(request, mode, target);
        return target.Select(h => $"{h.Name}: {h.Value}").ToArray();
    }
}
