using System.Text;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// Turns failures into the client's answer: a status and a one-line text/plain body saying what
/// failed, plus an X-Teleport-Error field naming the stage for scripts and dashboards.
/// </summary>
internal static class ErrorResponses
{
    public const string ErrorHeader = "X-Teleport-Error";

    /// <summary>The stage named when the edge stops before an answer came (its --drain-timeout ran out).</summary>
    public const string EdgeShuttingDown = "edge-shutting-down";

    /// <summary>The stage named when the origin's response cannot be written as valid HTTP.</summary>
    public const string InvalidOriginResponse = "origin-response";

    public static int StatusFor(ErrorCode code) => code switch
    {
        ErrorCode.UpstreamTimeout => StatusCodes.Status504GatewayTimeout,
        ErrorCode.BadRequest => StatusCodes.Status400BadRequest,
        ErrorCode.RequestTooLarge => StatusCodes.Status413PayloadTooLarge,
        ErrorCode.Overloaded or ErrorCode.ShuttingDown => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status502BadGateway,
    };

    /// <summary>Stable, lower-case name of a failure stage, e.g. "upstream-timeout".</summary>
    public static string NameOf(ErrorCode code) => code switch
    {
        ErrorCode.UpstreamConnect => "upstream-connect",
        ErrorCode.UpstreamTimeout => "upstream-timeout",
        ErrorCode.UpstreamResponse => "upstream-response",
        ErrorCode.ResponseTooLarge => "response-too-large",
        ErrorCode.BadRequest => "bad-request",
        ErrorCode.RequestTooLarge => "request-too-large",
        ErrorCode.Overloaded => "origin-overloaded",
        ErrorCode.NoUpstream => "no-upstream",
        ErrorCode.ShuttingDown => "origin-shutting-down",
        ErrorCode.Internal => "origin-internal",
        _ => "tunnel",
    };

    public static Task WriteAsync(HttpContext context, int status, string stage, string message)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.Headers[ErrorHeader] = stage;
        response.ContentType = "text/plain; charset=utf-8";
        var body = Encoding.UTF8.GetBytes($"{status} {ReasonPhrase(status)}: {message}\n");
        response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(body, 0, body.Length);
    }

    private static string ReasonPhrase(int status) => status switch
    {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
}
