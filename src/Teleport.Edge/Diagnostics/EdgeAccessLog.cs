using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Teleport.Edge.Hosting;
using Teleport.Edge.Http;

namespace Teleport.Edge.Diagnostics;

/// <summary>
/// The access log (--access-log): one line per exchange at Information in the category "Teleport.Edge.Access",
/// so it can be routed or filtered on its own (Logging:LogLevel:Teleport.Edge.Access), in the console or JSON
/// format like every other line.
/// </summary>
/// <remarks>
/// Off by default. The request handler holds no instance of it then (the flag is read once, at start), so no
/// argument is computed and no string is built per request.
/// </remarks>
internal sealed partial class EdgeAccessLog(ILoggerFactory loggers, IOptions<EdgeOptions> options)
{
    public const string Category = "Teleport.Edge.Access";

    private readonly ILogger _logger = loggers.CreateLogger(Category);

    /// <summary>Whether --access-log is on.</summary>
    public bool Enabled { get; } = options.Value.AccessLog;

    /// <param name="started">When the request arrived, from <see cref="Stopwatch.GetTimestamp"/>.</param>
    public void Write(HttpContext context, EdgeOutcome outcome, long started)
    {
        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var request = context.Request;
        var response = context.Response;
        var error = response.Headers.TryGetValue(ErrorResponses.ErrorHeader, out var stage) && stage.Count == 1 ? stage[0]! : "-";
        // An upgraded connection (a WebSocket) has no announced lengths: the bytes relayed each way after the switch.
        var relayed = context.Features.Get<RelayedBytes>();
        Exchange(_logger, request.Method, RequestTarget.PathAndQuery(context), response.StatusCode,
            Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 3),
            // -1: a body of unannounced length (chunked, or HTTP/2 without content-length).
            relayed?.FromClient ?? request.ContentLength ?? (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false ? 0 : -1),
            relayed?.ToClient ?? response.ContentLength ?? -1, EdgeMetrics.NameOf(outcome), error,
            context.Connection.RemoteIpAddress?.ToString() ?? "unix");
    }

    // Ids of this category are its own (1 and up): it is not Teleport.Edge.
    [LoggerMessage(EventId = 1, EventName = "Exchange", Level = LogLevel.Information,
        Message = "{Method} {Target} {Status} {DurationMs} ms {RequestBytes} B in {ResponseBytes} B out {Outcome} {Error} {Client}")]
    private static partial void Exchange(ILogger logger, string method, string target, int status, double durationMs,
        long requestBytes, long responseBytes, string outcome, string error, string client);
}
