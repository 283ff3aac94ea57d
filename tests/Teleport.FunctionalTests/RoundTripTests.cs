using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>HTTP semantics through the tunnel: methods, bodies, targets, headers, statuses.</summary>
public sealed class RoundTripTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> MethodsAndSizes => new()
    {
        { "GET", 0 },
        { "POST", 0 },
        { "POST", 1 },
        { "POST", 70_000 },
        { "POST", 1024 * 1024 },
        { "PUT", 12_345 },
        { "PATCH", 3 },
        { "DELETE", 0 },
        { "DELETE", 100 },
        { "OPTIONS", 0 },
        { "PROPFIND", 10 },
    };

    [Theory]
    [MemberData(nameof(MethodsAndSizes))]
    public async Task Request_AnyMethodAndBinaryBody_ArrivesAndEchoesByteForByte(string method, int size)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        var body = RandomBytes(size, seed: size);
        using var request = new HttpRequestMessage(new HttpMethod(method), "/echo?x=1");
        if (size > 0 || method is "POST" or "PUT")
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        using var response = await client.SendAsync(request).DefaultTimeout();
        var received = await response.Content.ReadAsByteArrayAsync().DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(method, Header(response, "X-Echo-Method"));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), Header(response, "X-Echo-Body-Sha256"));
        Assert.Equal(body, received);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal(body, seen.Body);
        Assert.Empty(edge.ErrorLogs);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Head_ThroughTunnel_HasHeadersAndLengthButNoBody()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(async c =>
        {
            c.Response.ContentType = "text/plain";
            c.Response.ContentLength = 1234;
            if (!HttpMethods.IsHead(c.Request.Method))
            {
                await c.Response.WriteAsync(new string('x', 1234));
            }
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/r")).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1234, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData(204)]
    [InlineData(304)]
    [InlineData(404)]
    [InlineData(418)]
    [InlineData(500)]
    [InlineData(503)]
    public async Task Status_FromUpstream_PassesThroughUnchanged(int status)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync($"/s?status={status}").DefaultTimeout();

        Assert.Equal(status, (int)response.StatusCode);
        Assert.False(response.Headers.Contains("X-Teleport-Error"));
        var body = await response.Content.ReadAsByteArrayAsync().DefaultTimeout();
        Assert.Empty(body);
        if (status is 204 or 304)
        {
            Assert.Null(response.Content.Headers.ContentLength is 0 ? null : response.Content.Headers.ContentLength);
        }
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/a%2Fb/c%20d?x=1&y=%zz&&z=")]
    [InlineData("/caf%C3%A9/..%2F../x?q=a+b&q=c%26d#")]
    [InlineData("/path;matrix=1/%7Euser?a=%00")]
    [InlineData("//double//slashes/?")]
    [InlineData("/a/./b/../c")]
    public async Task Target_OddPathsAndQueries_ArriveByteForByte(string target)
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        // HttpClient normalizes some targets, so this test speaks HTTP/1.1 on a raw socket.
        var (status, _) = await RawHttp.SendAsync(edge.Address, $"GET {target} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(200, status);
        Assert.Equal(target, Assert.Single(upstream.Requests).RawTarget);
    }

    [Fact]
    public async Task Target_AbsoluteForm_ForwardsPathOnlyToConfiguredUpstream()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, _) = await RawHttp.SendAsync(edge.Address, "GET http://elsewhere.invalid:81/x/y?z=1 HTTP/1.1\r\nHost: elsewhere.invalid:81\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(200, status);
        Assert.Equal("/x/y?z=1", Assert.Single(upstream.Requests).RawTarget);
    }

    [Fact]
    public async Task Headers_MultiValuedBothWays_KeptInOrder()
    {
        RecordedRequest? seen = null;
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c =>
        {
            seen = new RecordedRequest(c.Request.Method, "", c.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToArray(), StringComparer.OrdinalIgnoreCase), [], 0);
            c.Response.Headers.Append("Set-Cookie", "a=1; Path=/");
            c.Response.Headers.Append("Set-Cookie", "b=2; HttpOnly");
            c.Response.Headers.Append("Set-Cookie", "c=3");
            c.Response.Headers["X-Custom"] = "v1";
            return Task.CompletedTask;
        }));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/h");
        request.Headers.TryAddWithoutValidation("X-Multi", "one");
        request.Headers.TryAddWithoutValidation("X-Multi", "two");
        request.Headers.TryAddWithoutValidation("X-Empty", "");
        request.Headers.TryAddWithoutValidation("Accept", ["text/html", "application/json"]);
        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(["a=1; Path=/", "b=2; HttpOnly", "c=3"], response.Headers.GetValues("Set-Cookie"));
        Assert.Equal("v1", Assert.Single(response.Headers.GetValues("X-Custom")));
        Assert.NotNull(seen);
        Assert.Equal("one,two", string.Join(",", seen.Headers["X-Multi"]).Replace(", ", ","));
        Assert.True(seen.Headers.ContainsKey("X-Empty"));
        Assert.Contains("application/json", string.Join(",", seen.Headers["Accept"]));
    }

    [Fact]
    public async Task Host_AsSentByClient_ForwardedByDefault()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/host");
        request.Headers.Host = "api.example.test:8443";
        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("api.example.test:8443", Assert.Single(Assert.Single(upstream.Requests).Headers["Host"]));
    }

    [Fact]
    public async Task Http2Client_PriorKnowledge_IsServedOnTheSamePort()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var h2 = edge.CreateClient(HttpVersion.Version20);
        using var h1 = edge.CreateClient(HttpVersion.Version11);

        using var viaH2 = await h2.PostAsync("/two", new ByteArrayContent([1, 2, 3])).DefaultTimeout();
        using var viaH1 = await h1.GetAsync("/one").DefaultTimeout();

        Assert.Equal(HttpVersion.Version20, viaH2.Version);
        Assert.Equal([1, 2, 3], await viaH2.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal(HttpVersion.Version11, viaH1.Version);
        Assert.Equal(HttpStatusCode.OK, viaH1.StatusCode);
        var forwarded = upstream.Requests.Select(r => r.Headers["X-Forwarded-Proto"].Single()).ToArray();
        Assert.All(forwarded, proto => Assert.Equal("http", proto));
    }

    private static string? Header(HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) ? values.Single() : null;

    internal static byte[] RandomBytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
