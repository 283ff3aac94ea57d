using System.Diagnostics;
using Google.Protobuf;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Teleport.Edge.Diagnostics;
using Teleport.Edge.Hosting;
using Teleport.Edge.Tunnel;
using Teleport.Protocol;
using Teleport.Protocol.Buffers;
using Teleport.Protocol.Hosting;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// Carries one client request through the tunnel and writes the origin's answer back.
/// </summary>
internal sealed class EdgeRequestHandler
{
    /// <summary>Tries of one request on different streams: the first and at most two retries.</summary>
    private const int MaxAttempts = 3;

    /// <summary>Least time a retry waits for another stream, even when the request has used up --tunnel-wait.</summary>
    private const long RetryWaitMs = 1_000;

    /// <summary>How much longer than the request timeout the edge waits for the origin's own 504.</summary>
    private const long DeadlineGraceMs = 2_000;

    private readonly TunnelPool _tunnel;
    private readonly EdgeMetrics _metrics;
    private readonly EdgeTracing _tracing;
    private readonly EdgeAccessLog? _accessLog;
    private readonly ILogger<EdgeRequestHandler> _logger;
    private readonly ForwardedHeadersMode _forwarded;
    private readonly long _tunnelWaitMs;
    private readonly bool _retryIdempotent;
    private readonly uint _timeoutMs;
    private readonly RouteTimeouts _routeTimeouts;
    private readonly int _maxPending;
    private readonly string _noTunnelMessage;
    private int _pending;

    public EdgeRequestHandler(TunnelPool tunnel, EdgeMetrics metrics, EdgeTracing tracing, EdgeAccessLog accessLog, IOptions<EdgeOptions> options, ILogger<EdgeRequestHandler> logger)
    {
        var o = options.Value;
        _tunnel = tunnel;
        _metrics = metrics;
        _tracing = tracing;
        _accessLog = accessLog.Enabled ? accessLog : null;
        metrics.Meter?.CreateObservableUpDownCounter("teleport.edge.requests.in_flight", () => Volatile.Read(ref _pending), description: "Client requests being handled now.");
        _logger = logger;
        _forwarded = o.ForwardedHeaders;
        _tunnelWaitMs = (long)o.TunnelWait.TotalMilliseconds;
        _retryIdempotent = o.RetryIdempotent;
        _timeoutMs = (uint)o.RequestTimeout.TotalMilliseconds;
        // Validated at start-up.
        RouteTimeouts.TryParse(o.RouteTimeout, out _routeTimeouts, out _);
        _maxPending = o.MaxPendingExchanges;
        _noTunnelMessage = $"no tunnel to {(o.OriginOrDefault().Count == 1 ? "the origin " + o.OriginOrDefault()[0] : "any of the origins " + string.Join(", ", o.OriginOrDefault()))} (waited {o.TunnelWait.TotalSeconds:0.###} s)";
    }

    /// <summary>
    /// Steps: (1) admit the request under the pending limit; (2) pick the least-loaded live stream, waiting a
    /// bounded time for one; (3) read the body into a pooled buffer; (4) queue the exchange's start; (5) wait
    /// for the answer, which may arrive in any order relative to other exchanges; (6) when the origin surely did
    /// not start it (or it is idempotent and allowed), try again on another stream; (7) write the answer out,
    /// or map the failure to 4xx/5xx with a one-line body.
    /// </summary>
    public async Task HandleAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        // Null unless tracing is on (someone listens to the source); ended when the answer has been written.
        using var activity = _tracing.StartExchange(context);
        if (Interlocked.Increment(ref _pending) > _maxPending)
        {
            Interlocked.Decrement(ref _pending);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "edge-overloaded",
                $"the edge already has {_maxPending} exchanges pending");
            Finished(context, activity, EdgeOutcome.Rejected, started);
            return;
        }

        try
        {
            Finished(context, activity, await ForwardAsync(context, activity), started);
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    private void Finished(HttpContext context, Activity? activity, EdgeOutcome outcome, long started)
    {
        _metrics.RequestFinished(context, outcome, started);
        EdgeTracing.Finish(activity, context, outcome);
        _accessLog?.Write(context, outcome, started);
    }

    private async Task<EdgeOutcome> ForwardAsync(HttpContext context, Activity? activity)
    {
        // The tunnel carries WebSocket handshakes only, over HTTP/1.1 (GET with Upgrade: websocket) or HTTP/2 (extended
        // CONNECT with :protocol websocket, RFC 8441): any other upgrade (h2c, other tokens or :protocol values) gets a
        // clear answer rather than being forwarded without its Upgrade field (hop-by-hop) as if it were a plain request.
        var extendedConnect = context.Features.Get<IHttpExtendedConnectFeature>();
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var upgrading = upgrade is { IsUpgradableRequest: true } || extendedConnect is { IsExtendedConnect: true };
        var webSocket = upgrade is { IsUpgradableRequest: true } ? UpgradedExchange.IsWebSocket(context.Request)
            : extendedConnect is { IsExtendedConnect: true } && UpgradedExchange.IsWebSocket(extendedConnect);
        if (upgrading && !webSocket)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status501NotImplemented, "upgrade-not-supported",
                $"protocol upgrades ({context.Request.Headers.Upgrade}{extendedConnect?.Protocol}) are not carried through the tunnel, only WebSockets (HTTP/1.1 GET with Upgrade: websocket, or HTTP/2 extended CONNECT with :protocol websocket)");
            return EdgeOutcome.Rejected;
        }

        var aborted = context.RequestAborted;
        var waitUntil = Environment.TickCount64 + _tunnelWaitMs;
        if (!_tunnel.TryPick(null, out var connection))
        {
            connection = (await _tunnel.WaitAsync(null, waitUntil, aborted))!;
            if (connection is null)
            {
                await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-tunnel", _noTunnelMessage);
                return EdgeOutcome.TunnelError;
            }
        }

        var request = context.Request;
        var timeoutMs = _routeTimeouts.For(request.Path.Value, _timeoutMs);
        if (request.Headers.TryGetValue(RequestHeaders.Timeout, out var asked))
        {
            // A client may ask for less time than its route's timeout (--route-timeout, else --request-timeout), never for more.
            if (!ValueSyntax.TryParseDuration(asked.ToString(), out var span) || span < TimeSpan.FromMilliseconds(1))
            {
                await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "bad-request",
                    $"{RequestHeaders.Timeout} '{asked}' is not a duration like 500ms, 5s or 2m");
                return EdgeOutcome.Rejected;
            }

            timeoutMs = (uint)Math.Min(timeoutMs, span.TotalMilliseconds);
        }

        // The origin answers 504 itself at the timeout; this grace covers its answer's trip back.
        var deadlineMs = timeoutMs + DeadlineGraceMs;
        if (webSocket)
        {
            return await UpgradeAsync(context, extendedConnect is { IsExtendedConnect: true }, connection, timeoutMs, deadlineMs, activity);
        }

        var hasBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        var streams = hasBody && connection.StreamsBodies && request.ContentLength is not (>= 0 and <= StreamedRequest.WholeBodyBytes);
        PooledBody read;
        try
        {
            if (streams)
            {
                StreamedRequest.AllowIdleGrpcBody(context);
            }

            // A short body of unknown length (a small chunked HTTP/1.1 POST) still goes whole, with its length upstream.
            if (streams && request.ContentLength is null && HttpProtocol.IsHttp11(request.Protocol) && await StreamedRequest.IsShortAsync(request.BodyReader, aborted))
            {
                streams = false;
            }

            if (streams)
            {
                // Long or of unknown length: the body follows the start in chunks, and such a request is not retried
                // (its body cannot be read twice).
                var (streamedStart, streamedSize) = CreateStart(context, ByteString.Empty, 0, hasBody, timeoutMs, activity);
                streamedStart.BodyFollows = true;
                var (streamedAnswer, streamed, upload) = await StreamedRequest.SendAsync(context, connection, streamedStart, streamedSize, deadlineMs, aborted);
                try
                {
                    return aborted.IsCancellationRequested ? EdgeOutcome.Aborted : await FinishAsync(context, connection, streamedAnswer, streamed);
                }
                finally
                {
                    // Full duplex: the body went on beside the streamed response, until now.
                    if (upload is not null)
                    {
                        await upload.StopAsync();
                    }
                }
            }

            read = hasBody ? await PooledBody.ReadAsync(request.Body, request.ContentLength, (int)connection.MaxRequestBodySize, aborted) : default;
        }
        catch (IOException ex) when (!aborted.IsCancellationRequested)
        {
            // Kestrel found the body's framing broken (a bad chunk) or too slow (the minimum data rate): nothing of it is forwarded.
            var status = ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest;
            await ErrorResponses.WriteAsync(context, status, status == StatusCodes.Status408RequestTimeout ? "request-timeout" : "bad-request",
                $"the request body cannot be read: {ex.Message.TrimEnd('.')}");
            return EdgeOutcome.Rejected;
        }

        if (read.TooLarge)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "request-too-large",
                $"the request body is larger than {connection.MaxRequestBodySize} bytes");
            return EdgeOutcome.Rejected;
        }

        var body = read.Buffer is null ? null : new RequestBody(read);
        try
        {
            var (start, size) = CreateStart(context, body is null ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(body.Memory), read.Length, hasBody, timeoutMs, activity);
            var deadline = Environment.TickCount64 + deadlineMs;

            OriginItem answer;
            PendingExchange? exchange;
            for (var attempt = 1; ; attempt++)
            {
                (answer, exchange) = await ExchangeAsync(connection, start, size, deadline, body, aborted);
                if (aborted.IsCancellationRequested)
                {
                    return EdgeOutcome.Aborted;
                }

                if (attempt == MaxAttempts || !MayRetry(answer, request.Method))
                {
                    break;
                }

                // A refusal for load leaves the stream usable but busy: only another stream that is free right now helps.
                var next = answer.Error?.Code == ErrorCode.Overloaded
                    ? (_tunnel.TryPick(connection, out var other) ? other : null)
                    : await _tunnel.WaitAsync(connection, Math.Max(waitUntil, Environment.TickCount64 + RetryWaitMs), aborted);
                if (next is null)
                {
                    break;
                }

                EdgeLog.ExchangeRetried(_logger, request.Method, request.Path, ErrorResponses.NameOf(answer.Error?.Code ?? ErrorCode.Unspecified), attempt);
                connection = next;
            }

            return await FinishAsync(context, connection, answer, exchange);
        }
        finally
        {
            body?.Release();
        }
    }

    /// <summary>
    /// A WebSocket handshake: sent with no body and the client's side to follow, to an origin that carries upgrades
    /// (else 501); a 101 switches the client's connection and relays it until either side ends it, any other answer is
    /// written as usual. Never retried: the upstream may have accepted the socket.
    /// </summary>
    /// <param name="extendedConnect">An HTTP/2 client's handshake (RFC 8441): sent as the HTTP/1.1 one it stands for.</param>
    private async Task<EdgeOutcome> UpgradeAsync(HttpContext context, bool extendedConnect, TunnelConnection connection, uint timeoutMs, long deadlineMs, Activity? activity)
    {
        if (!connection.CarriesUpgrades)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status501NotImplemented, "upgrade-not-supported",
                "the origin does not carry WebSocket upgrades (its hello lists no \"upgrade\" capability)");
            return EdgeOutcome.Rejected;
        }

        var (start, size) = CreateStart(context, ByteString.Empty, 0, hasBody: false, timeoutMs, activity);
        start.BodyFollows = true;
        start.Upgrade = TunnelProtocol.WebSocketUpgrade;
        if (extendedConnect)
        {
            size += UpgradedExchange.AsHttp11Handshake(start);
        }

        var aborted = context.RequestAborted;
        var (answer, exchange) = await UpgradedExchange.SendAsync(connection, start, size, deadlineMs, aborted);
        if (aborted.IsCancellationRequested)
        {
            return EdgeOutcome.Aborted;
        }

        if (answer.ResponseStart is { Status: StatusCodes.Status101SwitchingProtocols, BodyFollows: true } head && exchange?.Body is not null)
        {
            return await UpgradedExchange.RelayAsync(context, connection, exchange, head);
        }

        if (extendedConnect && answer.ResponseStart is { Status: >= 200 and < 300 } unswitched)
        {
            // Over HTTP/2 a 2xx is what opens the socket (RFC 8441 5): an upstream that answered the handshake 2xx
            // without switching must not look to the client as if it had accepted.
            if (unswitched.BodyFollows && exchange is not null)
            {
                connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Abandoned);
            }

            var message = $"the upstream answered the WebSocket handshake {unswitched.Status} without switching protocols";
            EdgeLog.ExchangeFailed(_logger, context.Request.Method, context.Request.Path, StatusCodes.Status502BadGateway, ErrorCode.UpstreamResponse, message);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status502BadGateway, ErrorResponses.NameOf(ErrorCode.UpstreamResponse), message);
            return EdgeOutcome.UpstreamError;
        }

        return await FinishAsync(context, connection, answer, exchange);
    }

    /// <summary>The exchange's start: everything of the request but the body beyond <paramref name="body"/>; and roughly its size.</summary>
    /// <param name="timeoutMs">How long the origin may take for the response head.</param>
    /// <param name="activity">The exchange's span, when tracing: its traceparent replaces the client's.</param>
    private (RequestStart Start, int Size) CreateStart(HttpContext context, ByteString body, int bodyLength, bool hasBody, uint timeoutMs, Activity? activity)
    {
        var request = context.Request;
        var start = new RequestStart
        {
            Method = request.Method,
            PathAndQuery = RequestTarget.PathAndQuery(context),
            Body = body,
            HasBody = hasBody,
            TimeoutMs = timeoutMs,
            Protocol = request.Protocol,
        };
        var size = RequestHeaders.Copy(request, _forwarded, start.Headers) + bodyLength + start.PathAndQuery.Length + 32;
        return (start, size + EdgeTracing.Propagate(activity, start.Headers));
    }

    /// <summary>Writes the answer out: a streamed response chunk by chunk, anything else at once.</summary>
    private async Task<EdgeOutcome> FinishAsync(HttpContext context, TunnelConnection connection, OriginItem answer, PendingExchange? exchange)
    {
        if (answer.ResponseStart is { BodyFollows: true } head && exchange?.Body is not null)
        {
            return await StreamedResponse.WriteAsync(context, connection, exchange, head);
        }

        await WriteAnswerAsync(context, answer);
        return OutcomeOf(answer);
    }

    /// <summary>One attempt: registers the exchange on <paramref name="connection"/>, queues its start and waits for the answer.</summary>
    private static async Task<(OriginItem Answer, PendingExchange? Exchange)> ExchangeAsync(TunnelConnection connection, RequestStart start, int size, long deadline, RequestBody? body, CancellationToken aborted)
    {
        var exchange = connection.TryBegin(deadline, body);
        if (exchange is null)
        {
            return (LocalErrors.NotSent, null);
        }

        await connection.SendAsync(exchange, new EdgeItem { ExchangeId = exchange.Id, RequestStart = start }, size, aborted);
        using (aborted.Register(static s => ((AbandonState)s!).Abandon(), new AbandonState(connection, exchange)))
        {
            var answer = await exchange.Answer;
            // Lost with the stream before its start went out: the origin never saw it.
            return (ReferenceEquals(answer, LocalErrors.TunnelLost) && !exchange.Written ? LocalErrors.NotSent : answer, exchange);
        }
    }

    /// <summary>
    /// Whether another stream may take the exchange: the origin surely did not start it (never sent, refused for
    /// load or shutdown), or it is idempotent and --retry-idempotent allows sending it twice.
    /// </summary>
    private bool MayRetry(OriginItem answer, string method)
    {
        if (ReferenceEquals(answer, LocalErrors.NotSent))
        {
            return true;
        }

        if (ReferenceEquals(answer, LocalErrors.TunnelLost))
        {
            return _retryIdempotent && IsIdempotent(method);
        }

        return answer.KindCase == OriginItem.KindOneofCase.Error && answer.Error.Code is ErrorCode.ShuttingDown or ErrorCode.Overloaded;
    }

    /// <summary>RFC 9110 section 9.2.2.</summary>
    private static bool IsIdempotent(string method)
        => HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method)
            || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);

    /// <summary>The metric's view of an answer: the upstream's status class, or the failing stage.</summary>
    private static EdgeOutcome OutcomeOf(OriginItem answer)
    {
        if (answer.KindCase == OriginItem.KindOneofCase.ResponseStart)
        {
            return answer.ResponseStart.Status is >= 200 and < 300 ? EdgeOutcome.Success : EdgeOutcome.Non2xx;
        }

        if (ReferenceEquals(answer, LocalErrors.EdgeStopping))
        {
            return EdgeOutcome.Rejected;
        }

        return (answer.Error?.Code ?? ErrorCode.Unspecified) switch
        {
            ErrorCode.UpstreamTimeout => EdgeOutcome.Timeout,
            ErrorCode.UpstreamConnect or ErrorCode.UpstreamResponse or ErrorCode.ResponseTooLarge or ErrorCode.NoUpstream => EdgeOutcome.UpstreamError,
            ErrorCode.BadRequest or ErrorCode.RequestTooLarge or ErrorCode.Overloaded or ErrorCode.ShuttingDown => EdgeOutcome.Rejected,
            _ => EdgeOutcome.TunnelError,
        };
    }

    private async Task WriteAnswerAsync(HttpContext context, OriginItem answer)
    {
        if (answer.KindCase == OriginItem.KindOneofCase.ResponseStart)
        {
            await ResponseWriter.WriteAsync(context, answer.ResponseStart);
            return;
        }

        var error = answer.Error ?? LocalErrors.TunnelLost.Error;
        var stopping = ReferenceEquals(answer, LocalErrors.EdgeStopping);
        var status = stopping ? StatusCodes.Status503ServiceUnavailable : ErrorResponses.StatusFor(error.Code);
        EdgeLog.ExchangeFailed(_logger, context.Request.Method, context.Request.Path, status, error.Code, error.Message);
        await ErrorResponses.WriteAsync(context, status, stopping ? ErrorResponses.EdgeShuttingDown : ErrorResponses.NameOf(error.Code), error.Message);
    }

    /// <summary>What the client-abort callback needs; a class so the callback is a static lambda.</summary>
    internal sealed class AbandonState(TunnelConnection connection, PendingExchange exchange)
    {
        public void Abandon() => connection.Abandon(exchange, CancelReason.ClientAborted, LocalErrors.Abandoned);
    }
}
