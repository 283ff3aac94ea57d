using System.Diagnostics;
using Teleport.Origin.Upstream;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Diagnostics;

/// <summary>
/// One observed upstream call (see <see cref="UpstreamCalls"/>): the forwarder reports how it ended, and disposing
/// it ends the span and writes the access-log line. Only exists while tracing or the access log is on.
/// </summary>
internal sealed partial class UpstreamCall(UpstreamCalls calls, Activity? activity, ulong id, RequestStart start, UpstreamAddress upstream) : IDisposable
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private int _status;
    private long _responseBytes = -1;
    private ErrorCode _error;

    /// <summary>Records the answer the forwarder packed for a response of <paramref name="status"/>; returns it.</summary>
    /// <param name="answer">
    /// The response whole, the error it became (a body too large or broken off), or, when the body was streamed,
    /// its last chunk: then the bytes are not counted here (-1).
    /// </param>
    public static OutgoingItem<OriginItem> Ended(UpstreamCall? call, int status, OutgoingItem<OriginItem> answer)
    {
        if (call is not null)
        {
            call._status = status;
            switch (answer.Item.KindCase)
            {
                case OriginItem.KindOneofCase.ResponseStart:
                    call._responseBytes = answer.Item.ResponseStart.Body.Length;
                    break;
                case OriginItem.KindOneofCase.Error:
                    call._error = answer.Item.Error.Code;
                    break;
            }
        }

        return answer;
    }

    /// <summary>The call failed before a response could be packed (no connection, broken off).</summary>
    public void Failed(ErrorCode error) => _error = error;

    public void Dispose()
    {
        // Neither an answer nor a failure: the exchange was cancelled (the edge gave up, or the timeout).
        var outcome = _error != ErrorCode.Unspecified ? NameOf(_error)
            : _status == 0 ? "cancelled"
            // A 101 is the answer a WebSocket handshake asks for; the call ends with its connection.
            : _status is (>= 200 and < 300) or 101 ? "success" : "non_2xx";
        if (activity is not null)
        {
            if (activity.IsAllDataRequested)
            {
                if (_status != 0)
                {
                    activity.SetTag("http.response.status_code", _status);
                }

                activity.SetTag("teleport.outcome", outcome);
            }

            // A client span is in error for no answer or a 4xx/5xx (OpenTelemetry HTTP conventions).
            if (_error != ErrorCode.Unspecified || _status >= 400 || _status == 0)
            {
                activity.SetTag("error.type", _status >= 400 ? _status.ToString(System.Globalization.CultureInfo.InvariantCulture) : outcome);
                activity.SetStatus(ActivityStatusCode.Error);
            }

            activity.Dispose();
        }

        if (calls.AccessLog is { } log)
        {
            Call(log, id, start.Method, start.PathAndQuery, upstream.Authority, _status,
                Math.Round(Stopwatch.GetElapsedTime(_started).TotalMilliseconds, 3), start.BodyFollows ? -1 : start.Body.Length, _responseBytes, outcome);
        }
    }

    private static string NameOf(ErrorCode error) => error switch
    {
        ErrorCode.UpstreamConnect => "upstream-connect",
        ErrorCode.UpstreamResponse => "upstream-response",
        ErrorCode.ResponseTooLarge => "response-too-large",
        ErrorCode.BadRequest => "bad-request",
        _ => error.ToString(),
    };

    // Ids of this category are its own (1 and up): it is not Teleport.Origin.
    [LoggerMessage(EventId = 1, EventName = "UpstreamCall", Level = LogLevel.Information,
        Message = "{ExchangeId} {Method} {Target} -> {Upstream} {Status} {DurationMs} ms {RequestBytes} B out {ResponseBytes} B in {Outcome}")]
    private static partial void Call(ILogger logger, ulong exchangeId, string method, string target, string upstream, int status, double durationMs,
        long requestBytes, long responseBytes, string outcome);
}
