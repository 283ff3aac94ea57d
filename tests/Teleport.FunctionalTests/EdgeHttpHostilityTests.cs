using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>
/// Hostile HTTP clients at a real edge, on raw sockets: smuggling attempts, malformed framing and fields,
/// oversized heads and slow clients are refused or cut off by the edge, and the upstream never sees them.
/// </summary>
public sealed class EdgeHttpHostilityTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Malformed => new()
    {
        { "two-content-lengths", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" },
        { "content-length-list", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 40\r\n\r\nabcd" },
        { "bad-chunk-size", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" },
        { "chunk-without-crlf", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n" },
        { "final-coding-not-chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" },
        { "obs-fold", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" },
        { "bare-cr-in-value", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rSet-Cookie: b\r\n\r\n" },
        { "nul-in-value", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n" },
        { "space-before-colon", "GET /a HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n" },
        { "two-hosts", "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" },
        { "no-host", "GET /a HTTP/1.1\r\n\r\n" },
        { "space-in-target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n" },
        { "bad-version", "GET /a HTTP/1.2\r\nHost: x\r\n\r\n" },
        { "chunk-size-overflow", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Edge_MalformedRequest_Answered400_NothingForwarded(string name, string request)
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, text) = await RawHttp.SendAsync(edge.Address, request).DefaultTimeout();

        output.WriteLine($"{name}: {text.Split("\r\n")[0]}");
        Assert.True(status is 400 or 505, $"{name}: {text.Split("\r\n")[0]}");
        Assert.Empty(echo.Requests);
    }

    // RFC 9112 6.1: Transfer-Encoding wins over Content-Length, and the connection must not be reused, so
    // bytes after the chunked body are never read as a second request.
    [Fact]
    public async Task Edge_ContentLengthAndTransferEncoding_ChunkedWins_NothingSmuggled()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, text) = await RawHttp.SendAsync(edge.Address,
            "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n").DefaultTimeout();

        output.WriteLine(text);
        Assert.True(status is 200 or 400, text);
        Assert.DoesNotContain(echo.Requests, r => r.RawTarget == "/smuggled");
        if (status == 200)
        {
            var forwarded = Assert.Single(echo.Requests);
            Assert.Equal("abc", Encoding.ASCII.GetString(forwarded.Body));
            Assert.Equal("3", Assert.Single(forwarded.Headers["Content-Length"]));
            Assert.False(forwarded.Headers.ContainsKey("Transfer-Encoding"));
        }
    }

    // Kestrel accepts these bytes in a target (RawHttp sends ASCII only, so non-ASCII is covered by the unit tests); the upstream must still get a well-formed request line.
    [Theory]
    [InlineData("/a\u0001b?c\u007fd", "/a%01b?c%7Fd")]
    public async Task Edge_ControlOrNonAsciiBytesInTarget_ForwardedPercentEncoded(string target, string forwarded)
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);

        var (status, text) = await RawHttp.SendAsync(edge.Address, $"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.True(status is 200 or 400, text);
        if (status == 200)
        {
            Assert.Equal(forwarded, Assert.Single(echo.Requests).RawTarget);
        }
    }

    [Theory]
    [InlineData("request-line", 414)]
    [InlineData("one-huge-header", 431)]
    [InlineData("many-headers", 431)]
    public async Task Edge_OversizedHead_Answered4xx_NothingForwarded(string what, int expected)
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        var request = what switch
        {
            "request-line" => $"GET /{new string('a', 16 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n",
            "one-huge-header" => $"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: {new string('b', 40 * 1024)}\r\n\r\n",
            _ => "GET /a HTTP/1.1\r\nHost: x\r\n" + string.Concat(Enumerable.Range(0, 150).Select(i => $"X-H{i}: v\r\n")) + "\r\n",
        };

        var (status, _) = await RawHttp.SendAsync(edge.Address, request).DefaultTimeout();

        Assert.Equal(expected, status);
        Assert.Empty(echo.Requests);
    }

    // The defences against slow clients are Kestrel's; the edge must keep them on (it only lifts the body size
    // limit, which it enforces itself). This pins what the edge runs with.
    [Fact]
    public async Task Edge_KestrelLimits_SlowAndOversizedClientsBounded()
    {
        await using var edge = await TestServer.StartEdgeAsync(output, new Uri("http://127.0.0.1:1"), [], waitForTunnel: false);
        var limits = edge.App.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        Assert.InRange(limits.RequestHeadersTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        Assert.InRange(limits.KeepAliveTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
        Assert.NotNull(limits.MinRequestBodyDataRate);
        Assert.NotNull(limits.MinResponseDataRate);
        Assert.InRange(limits.MaxRequestLineSize, 1, 8 * 1024);
        Assert.InRange(limits.MaxRequestHeaderCount, 1, 100);
        Assert.Equal(32 * 1024, limits.MaxRequestHeadersTotalSize);
    }

    [Fact]
    public async Task Edge_SlowlorisHeaders_CutOffAtTheHeadersTimeout_NothingForwarded()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        // The real timeout is Kestrel's 30 s default (pinned above); a shorter one keeps the test short.
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, [], kestrel: k => k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1));

        var (elapsed, reply) = await TrickleAsync(edge.Address, "GET /a HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + new string('s', 100)).DefaultTimeout();

        output.WriteLine($"cut off after {elapsed.TotalSeconds:0.0} s: {reply.Split("\r\n")[0]}");
        Assert.True(elapsed < TimeSpan.FromSeconds(8), $"still connected after {elapsed.TotalSeconds:0.0} s");
        Assert.True(reply.Length == 0 || reply.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), reply);
        Assert.Empty(echo.Requests);
    }

    [Fact]
    public async Task Edge_SlowBody_CutOffByTheMinimumDataRate_NothingForwarded()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, [],
            kestrel: k => k.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(2)));

        var (elapsed, reply) = await TrickleAsync(edge.Address, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", new string('b', 100)).DefaultTimeout();

        output.WriteLine($"cut off after {elapsed.TotalSeconds:0.0} s: {reply.Split("\r\n")[0]}");
        Assert.True(elapsed < TimeSpan.FromSeconds(8), $"still connected after {elapsed.TotalSeconds:0.0} s");
        Assert.True(reply.Length == 0 || reply.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), reply);
        Assert.Empty(echo.Requests);
    }

    /// <summary>Sends <paramref name="head"/>, then <paramref name="trickle"/> one byte every 100 ms until the server answers or closes.</summary>
    private static async Task<(TimeSpan Elapsed, string Reply)> TrickleAsync(Uri server, string head, string trickle)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Host, server.Port);
        var started = Stopwatch.StartNew();
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        var buffer = new byte[4096];
        var reading = socket.ReceiveAsync(buffer.AsMemory()).AsTask();
        foreach (var c in trickle)
        {
            if (await Task.WhenAny(reading, Task.Delay(100)) == reading)
            {
                break;
            }

            try
            {
                await socket.SendAsync(new[] { (byte)c });
            }
            catch (SocketException)
            {
                break;
            }
        }

        int read;
        try
        {
            read = await reading.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (SocketException)
        {
            read = 0;
        }

        return (started.Elapsed, Encoding.ASCII.GetString(buffer, 0, read));
    }
}
