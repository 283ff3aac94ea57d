using System.Net;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>
/// A hostile origin against a real edge: whatever it sends, clients get a clean answer (its response when it
/// is well-formed, else 502 or 503), never a raw injected field or a crash, and the edge reconnects.
/// </summary>
public sealed class HostileOriginTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Edge_OriginAnswersBeforeItsHello_Reconnects_ClientsGet503()
    {
        await using var origin = await HostileOrigin.StartAsync(output, async s =>
        {
            await s.ReadAsync();
            await s.WriteAsync(HostileStream.Ok(1));
        });
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, ["--tunnel-wait", "200ms"], waitForTunnel: false);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/x").DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        await edge.WaitUntilAsync(_ => origin.Calls >= 2).DefaultTimeout();
        Assert.Contains(edge.WarningLogs, l => l.Contains("not its hello", StringComparison.Ordinal));
        Assert.Empty(edge.ErrorLogs);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("absurd-length")]
    [InlineData("truncated")]
    public async Task Edge_OriginSendsJunkAfterItsHello_PendingRequestGets502_EdgeReconnects(string junk)
    {
        await using var origin = await HostileOrigin.StartAsync(output, async s =>
        {
            await s.HelloAsync();
            var start = await s.ReadStartAsync();
            if (s.Number > 1)
            {
                // After the reconnect, a well-behaved origin.
                await s.WriteAsync(HostileStream.Ok(start!.ExchangeId, body: "second stream"));
                await s.HoldAsync();
                return;
            }

            await s.WriteRawAsync(junk switch
            {
                "garbage" => GrpcWire.Frame([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]),
                "absurd-length" => GrpcWire.Frame([0x12], declaredLength: 0x7FFF_FFF0),
                _ => GrpcWire.Frame(new byte[10], declaredLength: 1000),
            });
            if (junk == "truncated")
            {
                return;
            }

            await s.HoldAsync();
        });
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", "none");
        using var client = edge.CreateClient();

        using (var first = await client.GetAsync("/first").DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.BadGateway, first.StatusCode);
        }

        await edge.WaitUntilAsync(_ => origin.Calls >= 2).DefaultTimeout();
        using var second = await client.GetAsync("/second").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("second stream", await second.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Contains(edge.WarningLogs, l => l.Contains("Tunnel to", StringComparison.Ordinal) && l.Contains("lost", StringComparison.Ordinal));
        Assert.Empty(edge.ErrorLogs);
    }

    [Fact]
    public async Task Edge_OriginAnswersUnknownIdsTwiceAndWithoutKind_ClientsGetTheFirstAnswer_StreamStaysUp()
    {
        await using var origin = await HostileOrigin.StartAsync(output, async s =>
        {
            await s.HelloAsync();
            var first = (await s.ReadStartAsync())!.ExchangeId;
            // Ids never issued (0 included), then the real answer, then a duplicate and an error for the same id.
            await s.WriteAsync(HostileStream.Ok(0), HostileStream.Ok(first + 1000), HostileStream.Ok(ulong.MaxValue));
            await s.WriteAsync(HostileStream.Ok(first, 201, "first"), HostileStream.Ok(first, 500, "duplicate"),
                new OriginItem { ExchangeId = first, Error = new ExchangeError { Code = ErrorCode.Internal, Message = "late" } });
            // An item of no kind for the second exchange (as a later version's kind looks): ignored [C-ITEM-1], and
            // the exchange still takes its real answer.
            var second = (await s.ReadStartAsync())!.ExchangeId;
            await s.WriteAsync(new OriginItem { ExchangeId = second });
            await s.WriteAsync(HostileStream.Ok(second, body: "second"));
            var third = (await s.ReadStartAsync())!.ExchangeId;
            await s.WriteAsync(HostileStream.Ok(third, body: "third"));
            await s.HoldAsync();
        });
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", "none");
        using var client = edge.CreateClient();

        using var first = await client.GetAsync("/1").DefaultTimeout();
        using var second = await client.GetAsync("/2").DefaultTimeout();
        using var third = await client.GetAsync("/3").DefaultTimeout();

        Assert.Equal((HttpStatusCode.Created, "first"), (first.StatusCode, await first.Content.ReadAsStringAsync()));
        Assert.Equal((HttpStatusCode.OK, "second"), (second.StatusCode, await second.Content.ReadAsStringAsync()));
        Assert.Equal((HttpStatusCode.OK, "third"), (third.StatusCode, await third.Content.ReadAsStringAsync()));
        Assert.Equal(1, origin.Calls);
        Assert.Empty(edge.ErrorLogs);
    }

    public static TheoryData<string, string> InjectedFields => new()
    {
        { "X-Evil", "a\r\nSet-Cookie: injected=1" },
        { "X-Evil", "a\nSet-Cookie: injected=1" },
        { "X-Evil", "a\rb" },
        { "X-Evil", "a\0b" },
        { "X-Evil", "caf\u00e9 \u2603" },
        { "Bad Name", "v" },
        { "Bad:Name", "v" },
        { "X-Ok\r\nSet-Cookie", "injected=1" },
        { "", "v" },
        { "Date", "a\r\nSet-Cookie: injected=1" },
        { "Content-Length", "not-a-number" },
    };

    // Kestrel refuses such fields by throwing; the edge must turn that into a clean 502, not a 500 or a broken response.
    [Theory]
    [MemberData(nameof(InjectedFields))]
    public async Task Edge_OriginResponseFieldWithInvalidCharacters_Answers502_NothingInjected(string name, string value)
    {
        await using var origin = await HostileOrigin.StartAsync(output, async s =>
        {
            await s.HelloAsync();
            while (await s.ReadStartAsync() is { } start)
            {
                await s.WriteAsync(start.RequestStart.PathAndQuery == "/good"
                    ? HostileStream.Ok(start.ExchangeId, body: "good")
                    : HostileStream.Ok(start.ExchangeId, 200, "evil", ("X-Before", "1"), (name, value), ("X-After", "1")));
            }
        });
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", "none");

        var (status, text) = await RawHttp.SendAsync(edge.Address, "GET /evil HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(502, status);
        Assert.DoesNotContain("injected", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Before", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("X-Teleport-Error: origin-response", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(edge.WarningLogs, l => l.Contains("invalid response", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(edge.ErrorLogs);
        // The tunnel is not at fault: the next request goes through it.
        var (good, goodText) = await RawHttp.SendAsync(edge.Address, "GET /good HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").DefaultTimeout();
        Assert.Equal((200, true), (good, goodText.EndsWith("good", StringComparison.Ordinal)));
        Assert.Equal(1, origin.Calls);
    }

    [Fact]
    public async Task Edge_OriginTrailerWithInvalidCharacters_Answers502BeforeAnyByteOfTheBody()
    {
        await using var origin = await HostileOrigin.StartAsync(output, async s =>
        {
            await s.HelloAsync();
            var start = await s.ReadStartAsync();
            var answer = HostileStream.Ok(start!.ExchangeId, 200, "body-bytes");
            answer.ResponseStart.Trailers.Add(new Header { Name = "X-Trailer", Value = "a\r\nSet-Cookie: injected=1" });
            await s.WriteAsync(answer);
            await s.HoldAsync();
        });
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", "none");

        var (status, text) = await RawHttp.SendAsync(edge.Address, "GET /t HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(502, status);
        Assert.DoesNotContain("body-bytes", text, StringComparison.Ordinal);
        Assert.DoesNotContain("injected", text, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(edge.ErrorLogs);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(99u)]
    [InlineData(101u)]
    [InlineData(103u)]
    [InlineData(600u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public async Task Edge_OriginStatusOutside200To599_Answers502(uint code)
    {
        await using var origin = await HostileOrigin.StartAsync(output, async s =>
        {
            await s.HelloAsync();
            var start = await s.ReadStartAsync();
            await s.WriteAsync(HostileStream.Ok(start!.ExchangeId, code, "odd"));
            await s.HoldAsync();
        });
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--compression", "none");

        var (status, text) = await RawHttp.SendAsync(edge.Address, "GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").DefaultTimeout();

        Assert.Equal(502, status);
        Assert.DoesNotContain("odd", text, StringComparison.Ordinal);
        Assert.Empty(edge.ErrorLogs);
    }
}
