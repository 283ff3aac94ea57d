using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>
/// A hostile edge against a real origin: nothing in a frame may make the origin connect anywhere but its
/// configured upstream, and a protocol violation ends that stream only, with a precise status, its
/// upstream requests aborted and its counters released.
/// </summary>
public sealed class HostileEdgeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Origin_HostileTargetsAndFields_ReachOnlyTheConfiguredUpstream()
    {
        using var victim = new VictimListener();
        var echo = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, echo.Configure);
        // --host-header keep (the default) is the hostile edge's best chance: its Host is passed on.
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--host-header", "keep");
        using var channel = GrpcChannel.ForAddress(origin.Address);
        using var call = new Tunnel.TunnelClient(channel).Open();
        await call.RequestStream.WriteAsync(new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 1, Agent = "hostile" } }).DefaultTimeout();
        Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());

        var v = victim.Authority;
        string[] targets =
        [
            $"http://{v}/x", $"https://{v}/x", $"HTTP://{v}", v, $"{v}/x", "*", $"//{v}/x", $"///{v}/x", $"/\\{v}/x", $"\\\\{v}\\x",
            $"@{v}/x", $"/@{v}/x", $"user:pass@{v}/x", $"/%2F%2F{v}/x", $"/%2f%2f{v}/x", $"/x?next=http://{v}/", $"/x#@{v}",
            $"http:{v}/x", $"http:/{v}/x", $" http://{v}/x", $"\thttp://{v}/x", "/x/../../..",
            $"/x HTTP/1.1\r\nHost: {v}\r\n\r\nGET /smuggled", "/x\0y", $"/x\r\nHost: {v}", "/\u00e9",
        ];
        (string Name, string Value)[] fields =
        [
            ("Host", v), ("Host", $"{v}\r\nX-Injected: 1"), ("X-Forwarded-Host", v), ("X-Forwarded-For", "127.0.0.1"), ("Forwarded", $"host={v};for=127.0.0.1"),
            ("X-Original-URL", $"http://{v}/x"), ("X-Rewrite-URL", $"http://{v}/x"), (":authority", v), (":path", $"http://{v}/x"), ("X-Evil", "a\r\n\r\nGET /smuggled HTTP/1.1"),
        ];
        var items = new List<EdgeItem>();
        ulong id = 0;
        foreach (var target in targets)
        {
            items.Add(Start(++id, "GET", target, ("Host", v)));
        }

        foreach (var field in fields)
        {
            items.Add(Start(++id, "GET", "/by-field", field));
        }

        items.Add(Start(++id, "CONNECT", v));
        // HttpClient would put the Host field in a CONNECT's request line: found by the property test below.
        items.Add(Start(++id, "CONNECT", "/x", ("Host", v)));
        items.Add(Start(++id, "connect", "/x", ("Host", v)));
        items.Add(Start(++id, "GET", "/plain"));
        await call.RequestStream.WriteAsync(new EdgeFrame { Batch = new EdgeBatch { Items = { items } } }).DefaultTimeout();

        var answers = new Dictionary<ulong, OriginItem>();
        while (answers.Count < items.Count)
        {
            Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout(), $"The origin ended the stream after {answers.Count} answers.");
            foreach (var answer in call.ResponseStream.Current.Batch.Items)
            {
                Assert.True(answers.TryAdd(answer.ExchangeId, answer), $"exchange {answer.ExchangeId} answered twice");
            }
        }

        Assert.Equal(0, victim.Accepted);
        var wrong = new List<string>();
        foreach (var (number, answer) in answers)
        {
            var start = items[(int)number - 1].RequestStart;
            // Refused, or served by the configured upstream (which echoes the target it got).
            var fine = answer.KindCase == OriginItem.KindOneofCase.Error
                ? answer.Error.Code == ErrorCode.BadRequest
                : answer.ResponseStart.Headers.Any(h => h.Name == "X-Echo-Target");
            if (!fine)
            {
                wrong.Add($"{start.Method} {Escape(start.PathAndQuery)} [{string.Join(", ", start.Headers.Select(h => h.Name + ": " + Escape(h.Value)))}] -> "
                    + (answer.KindCase == OriginItem.KindOneofCase.Error ? $"{answer.Error.Code} {answer.Error.Message}" : $"{answer.ResponseStart.Status}, not from the upstream"));
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        foreach (var r in echo.Requests)
        {
            output.WriteLine($"upstream got: {r.Method} {Escape(r.RawTarget)}");
        }

        // Nothing smuggled into a second request, nothing raw in a request line, only origin-form targets (no CONNECT).
        Assert.DoesNotContain(echo.Requests, r => r.RawTarget.Contains("smuggled", StringComparison.Ordinal) || r.RawTarget.AsSpan().ContainsAnyExceptInRange('!', '~')
            || !r.RawTarget.StartsWith('/'));

        Assert.Equal(answers.Values.Count(a => a.KindCase == OriginItem.KindOneofCase.ResponseStart), echo.Requests.Count);
        Assert.All(echo.Requests, r =>
        {
            Assert.StartsWith("/", r.RawTarget);
            Assert.DoesNotContain(r.RawTarget, c => c is '\r' or '\n' or ' ' or '\0');
            Assert.DoesNotContain(r.Headers.Keys, k => k.Equals("X-Injected", StringComparison.OrdinalIgnoreCase));
        });
        Assert.DoesNotContain(echo.Requests, r => r.RawTarget == "/smuggled");
        Assert.Equal("/plain", Assert.Single(echo.Requests, r => r.RawTarget == "/plain").RawTarget);
    }

    public static TheoryData<string, StatusCode> Violations => new()
    {
        { "batch-before-hello", StatusCode.InvalidArgument },
        { "wrong-version", StatusCode.FailedPrecondition },
        { "second-hello", StatusCode.InvalidArgument },
        { "id-zero", StatusCode.InvalidArgument },
        { "id-reused", StatusCode.InvalidArgument },
        { "compressed-without-codec", StatusCode.InvalidArgument },
        { "absurd-declared-length", StatusCode.ResourceExhausted },
        { "message-over-limit", StatusCode.ResourceExhausted },
        { "no-hello-garbage", StatusCode.InvalidArgument },
        { "garbage-after-hello", StatusCode.InvalidArgument },
    };

    // A violation ends that stream only: its held upstream request is aborted, the neighbour stream keeps
    // working, and the open-stream count comes back to the neighbour alone.
    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Origin_ProtocolViolation_EndsThatStreamOnly_WithPreciseStatus_ReleasesItsWork(string violation, StatusCode expected)
    {
        var held = new HeldRequests();
        await using var up = await TestServer.StartUpstreamAsync(output, held.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--max-request-body-size", "64KiB");
        await using var neighbour = new RawTunnelCall(origin.Address);
        await neighbour.WriteAsync(new EdgeFrame { Hello = Hello() }).DefaultTimeout();
        Assert.NotNull(await neighbour.ReadAsync(OriginFrame.Parser).DefaultTimeout());
        await neighbour.WriteAsync(Batch(Start(1, "GET", "/hold?neighbour"))).DefaultTimeout();
        await held.WaitForAsync("/hold?neighbour").DefaultTimeout();

        await using (var hostile = new RawTunnelCall(origin.Address))
        {
            await ViolateAsync(hostile, violation, held).DefaultTimeout();
            var (code, detail, _) = await hostile.ReadToEndAsync().DefaultTimeout();
            output.WriteLine($"{violation}: {code} {detail}");
            Assert.Equal(expected, code);
        }

        // One line in the origin's log names the peer's fault.
        await origin.WaitUntilAsync(s => s.WarningLogs.Any(l => l.Contains($"ended with {expected}:", StringComparison.Ordinal))).DefaultTimeout();

        // Everything the hostile stream held is let go; the neighbour's exchange is still running.
        await origin.WaitUntilAsync(_ => held.Aborted == held.Arrived - 1).DefaultTimeout();
        await origin.WaitUntilAsync(s => s.Counters.StreamsOpen == 1).DefaultTimeout();
        await neighbour.WriteAsync(Batch(Start(2, "GET", "/after"))).DefaultTimeout();
        var answer = (await neighbour.ReadAsync(OriginFrame.Parser).DefaultTimeout())!.Batch.Items.Single();
        Assert.Equal((2UL, 200u), (answer.ExchangeId, answer.ResponseStart.Status));
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Origin_UnknownIdsAndCancelsForEndedExchanges_Ignored_StreamStaysUp()
    {
        var held = new HeldRequests();
        await using var up = await TestServer.StartUpstreamAsync(output, held.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var call = new RawTunnelCall(origin.Address);
        await call.WriteAsync(new EdgeFrame { Hello = Hello() }).DefaultTimeout();
        Assert.NotNull(await call.ReadAsync(OriginFrame.Parser).DefaultTimeout());

        await call.WriteAsync(Batch(Start(1, "GET", "/one"))).DefaultTimeout();
        Assert.Equal(1UL, (await call.ReadAsync(OriginFrame.Parser).DefaultTimeout())!.Batch.Items.Single().ExchangeId);
        // A cancel for the exchange that has ended, one for an id never used, an item of no kind, then real work.
        await call.WriteAsync(Batch(Cancel(1), Cancel(424242), Cancel(ulong.MaxValue), new EdgeItem { ExchangeId = 77 }, Start(2, "GET", "/two"))).DefaultTimeout();
        var answer = (await call.ReadAsync(OriginFrame.Parser).DefaultTimeout())!.Batch.Items.Single();

        Assert.Equal((2UL, 200u), (answer.ExchangeId, answer.ResponseStart.Status));
        Assert.Equal(1, origin.Counters.StreamsOpen);
    }

    /// <summary>Opens with a hello (unless the violation is about the hello), starts a held exchange, then breaks the rule.</summary>
    internal static async Task ViolateAsync(RawTunnelCall call, string violation, HeldRequests held, byte[]? body = null)
    {
        switch (violation)
        {
            case "no-hello-garbage":
                await call.WriteRawAsync(GrpcWire.Frame([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0xDE, 0xAD]));
                return;
            case "batch-before-hello":
                await call.WriteAsync(Batch(Start(1, "GET", "/hold")));
                return;
            case "wrong-version":
                await call.WriteAsync(new EdgeFrame { Hello = new EdgeHello { ProtocolVersion = 99 } });
                return;
        }

        await call.WriteAsync(new EdgeFrame { Hello = Hello() });
        Assert.Equal(OriginFrame.KindOneofCase.Hello, (await call.ReadAsync(OriginFrame.Parser))!.KindCase);
        var path = $"/hold?{Guid.NewGuid():N}";
        var start = Start(1, "POST", path);
        start.RequestStart.Body = ByteString.CopyFrom(body ?? []);
        start.RequestStart.HasBody = true;
        await call.WriteAsync(Batch(start));
        await held.WaitForAsync(path);
        switch (violation)
        {
            case "abandoned":
                // No rule broken: the edge just vanishes (the call is disposed) with work in flight.
                return;
            case "second-hello":
                await call.WriteAsync(new EdgeFrame { Hello = Hello() });
                break;
            case "id-zero":
                await call.WriteAsync(Batch(Start(0, "GET", "/zero")));
                break;
            case "id-reused":
                await call.WriteAsync(Batch(Start(1, "GET", "/again")));
                break;
            case "compressed-without-codec":
                await call.WriteAsync(new EdgeFrame { CompressedBatch = ByteString.CopyFrom(0x1B, 0x00, 0xFF) });
                break;
            case "garbage-after-hello":
                await call.WriteRawAsync(GrpcWire.Frame([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x02]));
                break;
            case "absurd-declared-length":
                await call.WriteRawAsync(GrpcWire.Frame([0x0A, 0x00], declaredLength: 0x7FFF_FFF0));
                break;
            case "message-over-limit":
                // The origin takes 64 KiB bodies: its receive limit is that plus a batch and headroom, about 2 MiB.
                var huge = Start(2, "POST", "/huge");
                huge.RequestStart.Body = ByteString.CopyFrom(new byte[3 * 1024 * 1024]);
                await call.WriteAsync(Batch(huge));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(violation), violation, null);
        }
    }

    private static string Escape(string text) => text.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\0", "\\0");

    private static EdgeHello Hello() => new() { ProtocolVersion = 1, Agent = "hostile-edge" };

    private static EdgeFrame Batch(params EdgeItem[] items) => new() { Batch = new EdgeBatch { Items = { items } } };

    private static EdgeItem Cancel(ulong id) => new() { ExchangeId = id, Cancel = new Teleport.Protocol.V1.Cancel { Reason = CancelReason.ClientAborted } };

    private static EdgeItem Start(ulong id, string method, string target, params (string Name, string Value)[] headers)
    {
        var start = new RequestStart { Method = method, PathAndQuery = target, Protocol = "HTTP/1.1" };
        foreach (var (name, value) in headers)
        {
            start.Headers.Add(new Header { Name = name, Value = value });
        }

        return new EdgeItem { ExchangeId = id, RequestStart = start };
    }

    /// <summary>An upstream that holds "/hold" requests until they are aborted, and answers anything else at once.</summary>
    internal sealed class HeldRequests
    {
        private int _arrived;
        private int _aborted;

        public int Arrived => Volatile.Read(ref _arrived);

        public int Aborted => Volatile.Read(ref _aborted);

        private readonly ConcurrentDictionary<string, bool> _held = new();

        public ConcurrentQueue<string> Targets { get; } = new();

        public void Configure(WebApplication app) => app.Run(async context =>
        {
            Targets.Enqueue(context.Features.Get<IHttpRequestFeature>()!.RawTarget);
            if (context.Request.Path != "/hold")
            {
                await context.Response.WriteAsync("ok");
                return;
            }

            // Read the body first: a connection whose unread body fills Kestrel's input buffer is no longer
            // read, so its close (the origin aborting the request) would go unnoticed.
            await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            _held.TryAdd(context.Features.Get<IHttpRequestFeature>()!.RawTarget, true);
            Interlocked.Increment(ref _arrived);
            try
            {
                // Until the origin aborts it, or the upstream stops (so a failed test does not hang in disposal).
                using var either = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, app.Lifetime.ApplicationStopping);
                await Task.Delay(Timeout.Infinite, either.Token);
            }
            finally
            {
                Interlocked.Increment(ref _aborted);
            }
        });

        public async Task WaitForAsync(string target)
        {
            while (!_held.ContainsKey(target))
            {
                await Task.Delay(5);
            }
        }
    }
}
