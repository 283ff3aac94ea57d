using System.Diagnostics;
using Grpc.Core;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>
/// How the origin ends a tunnel call when the edge has ended its side (HTTP/2 half-close): the exchanges the edge
/// started are still answered on the origin's open side, then the call ends with status OK, never with a reset.
/// </summary>
public sealed class OriginStreamEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Origin_EdgeHalfClosesWithExchangesRunning_AnswersThem_EndsWithOk()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var call = new RawTunnelCall(origin.Address);
        await call.WriteAsync(new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 1 } }).DefaultTimeout();
        await call.WriteAsync(new EdgeFrame
        {
            Batch = new EdgeBatch
            {
                Items =
                {
                    new EdgeItem { ExchangeId = 1, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "/now" } },
                    new EdgeItem { ExchangeId = 2, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "/later?delay=300" } },
                },
            },
        }).DefaultTimeout();
        call.Complete();

        var hello = await call.ReadAsync(OriginFrame.Parser).DefaultTimeout();
        Assert.Equal(OriginFrame.KindOneofCase.Hello, hello!.KindCase);
        var answered = new Dictionary<ulong, uint>();
        while (await call.ReadAsync(OriginFrame.Parser).DefaultTimeout() is { } frame)
        {
            foreach (var item in frame.Batch.Items)
            {
                answered.Add(item.ExchangeId, item.ResponseStart.Status);
            }
        }

        var (code, detail, _) = await call.ReadToEndAsync().DefaultTimeout();
        Assert.True(code == StatusCode.OK, $"The call ended with {(code < 0 ? "a reset" : code)} ({detail}), not OK.");
        Assert.Equal(new Dictionary<ulong, uint> { [1] = 200, [2] = 200 }, answered);
        await origin.WaitUntilAsync(s => s.Counters.StreamsOpen == 0).DefaultTimeout();
        Assert.Empty(origin.ErrorLogs);
    }

    // The wait after a half-close is bounded: an exchange that cannot finish (a slow upstream, or a streamed body past
    // its window, which a half-closed edge can no longer grant) is aborted after the drain timeout.
    [Fact]
    public async Task Origin_EdgeHalfClosesWithAnExchangeThatDoesNotFinish_EndsWithOkAfterTheDrainTimeout()
    {
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--drain-timeout", "300ms");
        await using var call = new RawTunnelCall(origin.Address);
        await call.WriteAsync(new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 1 } }).DefaultTimeout();
        Assert.NotNull(await call.ReadAsync(OriginFrame.Parser).DefaultTimeout());
        await call.WriteAsync(new EdgeFrame
        {
            Batch = new EdgeBatch { Items = { new EdgeItem { ExchangeId = 1, RequestStart = new RequestStart { Method = "GET", PathAndQuery = "/slow?delay=20000" } } } },
        }).DefaultTimeout();

        var clock = Stopwatch.StartNew();
        call.Complete();
        var (code, detail, messages) = await call.ReadToEndAsync().DefaultTimeout();

        Assert.True(code == StatusCode.OK, $"The call ended with {(code < 0 ? "a reset" : code)} ({detail}), not OK.");
        Assert.Equal(0, messages);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        await origin.WaitUntilAsync(s => s.Counters.StreamsOpen == 0).DefaultTimeout();
    }
}
