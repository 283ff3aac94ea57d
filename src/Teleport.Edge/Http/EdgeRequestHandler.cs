using System.Diagnostics;
using Google.Protobuf;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Teleport.Edge.Diagnostics;
using Teleport.Edge.Hosting;
using Teleport.Edge.Tunnel;
using Teleport.Protocol.Buffers;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// Carries one client request through the tunnel and writes the origin's answer back.
/// </summary>
internal sealed class EdgeRequestHandler
{
    private readonly TunnelClient _tunnel;
    private readonly EdgeMetrics _metrics;
    private readonly ILogger<EdgeRequestHandler> _logger;
    private readonly ForwardedHeadersMode _forwarded;
    private readonly TimeSpan _tunnelWait;
    private readonly uint _timeoutMs;
    private readonly long _deadlineMs;
    private readonly int _maxPending;
    private readonly string _noTunnelMessage;
    private int _pending;

    public EdgeRequestHandler(TunnelClient tunnel, EdgeMetrics metrics, IOptions<EdgeOptions> options, ILogger<EdgeRequestHandler> logger)
    {
        var o = options.Value;
        _tunnel = tunnel;
        _metrics = metrics;
        metrics.Meter?.CreateObservableUpDownCounter("teleport.edge.requests.in_flight", () => Volatile.Read(ref _pending), description: "Client requests being handled now.");
        _logger = logger;
        _forwarded = o.ForwardedHeaders;
        _tunnelWait = o.TunnelWait;
        _timeoutMs = (uint)o.RequestTimeout.TotalMilliseconds;
        // The origin answers 504 itself at the request timeout; this grace covers its answer's trip back.
        _deadlineMs = (long)o.RequestTimeout.TotalMilliseconds + 2_000;
        _maxPending = o.MaxPendingExchanges;
        _noTunnelMessage = $"no tunnel to the origin {o.Origin} (waited {o.TunnelWait.TotalSeconds:0.###} s)";
    }

    /// <summary>
    /// Steps: (1) admit the request under the pending limit; (2) find a live tunnel stream, waiting a
    /// bounded time; (3) read the body into a pooled buffer; (4) queue the exchange's start; (5) wait
    /// for the answer, which may arrive in any order relative to other exchanges; (6) write it out,
    /// or map the failure to 4xx/5xx with a one-line body.
    /// </summary>
    public async Task HandleAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        if (Interlocked.Increment(ref _pending) > _maxPending)
        {
            Interlocked.Decrement(ref _pending);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "edge-overloaded",
                $"the edge already has {_maxPending} exchanges pending");
            _metrics.RequestFinished(EdgeOutcome.Rejected, started);
            return;
        }

        try
        {
            _metrics.RequestFinished(await ForwardAsync(context), started);
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    private async Task<EdgeOutcome> ForwardAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        if (!_tunnel.TryGetConnection(out var connection))
        {
            connection = (await _tunnel.WaitForConnectionAsync(_tunnelWait, aborted))!;
            if (connection is null)
            {
                await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-tunnel", _noTunnelMessage);
                return EdgeOutcome.TunnelError;
            }
        }

        var request = context.Request;
        var hasBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        var body = hasBody
            ? await PooledBody.ReadAsync(request.Body, request.ContentLength, (int)connection.MaxRequestBodySize, aborted)
            : default;
        if (body.TooLarge)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "request-too-large",
                $"the request body is larger than {connection.MaxRequestBodySize} bytes");
            return EdgeOutcome.Rejected;
        }

        var start = new RequestStart
        {
            Method = request.Method,
            PathAndQuery = RequestTarget.PathAndQuery(context),
            Body = UnsafeByteOperations.UnsafeWrap(body.Memory),
            HasBody = hasBody,
            TimeoutMs = _timeoutMs,
            Protocol = request.Protocol,
        };
        var size = RequestHeaders.Copy(request, _forwarded, start.Headers) + body.Length + start.PathAndQuery.Length + 32;

        var exchange = connection.TryBegin(Environment.TickCount64 + _deadlineMs);
        if (exchange is null || !await connection.SendAsync(exchange, new EdgeItem { ExchangeId = exchange.Id, RequestStart = start }, size, body.Buffer, aborted))
        {
            // Not queued: the buffer is still ours.
            body.Return();
            await WriteAnswerAsync(context, LocalErrors.TunnelLost);
            return EdgeOutcome.TunnelError;
        }

        OriginItem answer;
        using (aborted.Register(static s => ((AbandonState)s!).Abandon(), new AbandonState(connection, exchange)))
        {
            answer = await exchange.Answer;
        }

        if (aborted.IsCancellationRequested)
        {
            return EdgeOutcome.Aborted;
        }

        await WriteAnswerAsync(context, answer);
        return OutcomeOf(answer);
    }

    /// <summary>The metric's view of an answer: the upstream's status class, or the failing stage.</summary>
    private static EdgeOutcome OutcomeOf(OriginItem answer)
    {
        if (answer.KindCase == OriginItem.KindOneofCase.ResponseStart)
        {
            return answer.ResponseStart.Status is >= 200 and < 300 ? EdgeOutcome.Success : EdgeOutcome.Non2xx;
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
        var status = ErrorResponses.StatusFor(error.Code);
        EdgeLog.ExchangeFailed(_logger, context.Request.Method, context.Request.Path, status, error.Code, error.Message);
        await ErrorResponses.WriteAsync(context, status, ErrorResponses.NameOf(error.Code), error.Message);
    }

    /// <summary>What the client-abort callback needs; a class so the callback is a static lambda.</summary>
    private sealed class AbandonState(TunnelConnection connection, PendingExchange exchange)
    {
        public void Abandon() => connection.Abandon(exchange, CancelReason.ClientAborted, LocalErrors.Abandoned);
    }
}
