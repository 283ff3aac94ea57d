using System.Buffers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Teleport.Protocol.Http;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>Writes an origin's response to the client.</summary>
internal static class ResponseWriter
{
    /// <summary>RFC 9110 5.6.2 tchar: what a field name may hold.</summary>
    private static readonly SearchValues<char> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>
    /// RFC 9110 5.5 field-vchar, SP and HTAB, ASCII only: no CR, LF or NUL (a field injected into the response),
    /// and no obs-text, which Kestrel refuses to write anyway.
    /// </summary>
    private static readonly SearchValues<char> ValueChars = SearchValues.Create("\t !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>
    /// Writes <paramref name="start"/>, or, when it cannot be a valid HTTP response (a status outside 200-599,
    /// a field that is not a token or a value with control characters), answers 502 without writing any of it.
    /// Only a broken or hostile origin sends such a thing: the origin's HTTP client refuses them from upstreams.
    /// A head with body_follows is written with the body bytes it holds and sent at once; the rest follows.
    /// </summary>
    /// <returns>False when the response was refused (502 written instead).</returns>
    public static async Task<bool> WriteAsync(HttpContext context, ResponseStart start)
    {
        // Everything is checked before the first byte goes out: a trailer found bad after the body could only cut the response.
        if (Refuse(start) is { } reason)
        {
            await AnswerInvalidAsync(context, reason);
            return false;
        }

        var response = context.Response;
        response.StatusCode = (int)start.Status;
        var headers = response.Headers;
        if (!await TryCopyHeadersAsync(context, start))
        {
            return false;
        }

        var status = start.Status;
        if (status == 204)
        {
            // RFC 9110 8.6: never on a 204, and Kestrel fails the response (a 500) if the field is there.
            headers.ContentLength = null;
            return true;
        }

        if (HttpMethods.IsHead(context.Request.Method) || status == 304)
        {
            // No body: any Content-Length the upstream sent stays as it describes the resource.
            return true;
        }

        if (start.BodyFollows)
        {
            // Length unknown unless the upstream said it (then it stays, and Kestrel holds the body to it); the head
            // goes out now, so that a client of an event stream sees it before the first event.
            if (start.Body.Length > 0)
            {
                await response.Body.WriteAsync(start.Body.Memory, context.RequestAborted);
            }
            else
            {
                await response.StartAsync(context.RequestAborted);
            }

            return true;
        }

        var body = start.Body;
        var http11 = HttpProtocol.IsHttp11(context.Request.Protocol);
        // HTTP/1.1 carries trailers only after a chunked body, so not when the origin sent a Content-Length (they are
        // dropped then, and the body's true length replaces the field); HTTP/2 frames them either way.
        var trailers = start.Trailers.Count > 0 && response.SupportsTrailers() && (!http11 || response.ContentLength is null);
        if (!trailers || !http11)
        {
            response.ContentLength = body.Length;
        }

        if (body.Length > 0)
        {
            await response.Body.WriteAsync(body.Memory, context.RequestAborted);
        }

        if (trailers)
        {
            AppendTrailers(response, start.Trailers);
        }

        return true;
    }

    /// <summary>
    /// Switches the client's connection to the protocol the upstream accepted with <paramref name="start"/> (a 101 to
    /// a WebSocket handshake): its end-to-end fields (Sec-WebSocket-Accept, -Protocol, -Extensions) go out with
    /// Connection and Upgrade, which are hop-by-hop and so rebuilt here, as WebSocketMiddleware writes them. An HTTP/2
    /// client's extended CONNECT is accepted instead, with a 200 (RFC 8441 5).
    /// </summary>
    /// <returns>The client's connection (or HTTP/2 stream) as a duplex stream; null when a field was not valid (502 written instead).</returns>
    public static async Task<Stream?> SwitchAsync(HttpContext context, ResponseStart start, string token)
    {
        if (RefuseFields(start.Headers, "header") is { } reason)
        {
            await AnswerInvalidAsync(context, reason);
            return null;
        }

        if (!await TryCopyHeadersAsync(context, start))
        {
            return null;
        }

        if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            // The accept answers the key the edge made up for the upstream, not anything the client sent: RFC 8441 5
            // has no such field. No Upgrade or Connection either: HTTP/2 has no connection-specific fields.
            context.Response.Headers.Remove(HeaderNames.SecWebSocketAccept);
            context.Response.StatusCode = StatusCodes.Status200OK;
            return await connect.AcceptAsync();
        }

        // Kestrel writes the 101 with Connection: Upgrade itself.
        context.Response.Headers.Upgrade = token;
        return await context.Features.GetRequiredFeature<IHttpUpgradeFeature>().UpgradeAsync();
    }

    /// <summary>Copies the end-to-end fields of <paramref name="start"/>; false when Kestrel refuses one (502 written instead).</summary>
    private static async Task<bool> TryCopyHeadersAsync(HttpContext context, ResponseStart start)
    {
        var response = context.Response;
        var headers = response.Headers;
        try
        {
            foreach (var header in start.Headers)
            {
                // A conforming origin never sends hop-by-hop fields; one that does is not trusted with them.
                if (HopByHopHeaders.IsHopByHop(header.Name, default))
                {
                    continue;
                }

                // Kestrel fills in Date itself; the upstream's replaces it rather than joining it.
                if (header.Name.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase))
                {
                    headers.Date = header.Value;
                }
                else
                {
                    headers.Append(header.Name, header.Value);
                }
            }

            return true;
        }
        catch (InvalidOperationException ex)
        {
            // What Kestrel still refuses (e.g. a Content-Length that is no number). Nothing has been sent yet.
            response.Clear();
            await AnswerInvalidAsync(context, ex.Message);
            return false;
        }
    }

    /// <summary>
    /// Ends a streamed body: appends the trailers of its last chunk where the client's protocol carries them (they
    /// are dropped otherwise, as for a whole body); false when one is not valid, and the response must be cut off.
    /// </summary>
    public static bool TryFinish(HttpContext context, BodyChunk last)
    {
        if (last.Trailers.Count == 0 || !context.Response.SupportsTrailers() || context.Response.ContentLength is not null)
        {
            return true;
        }

        if (RefuseFields(last.Trailers, "trailer") is not null)
        {
            return false;
        }

        AppendTrailers(context.Response, last.Trailers);
        return true;
    }

    private static void AppendTrailers(HttpResponse response, Google.Protobuf.Collections.RepeatedField<Header> trailers)
    {
        foreach (var trailer in trailers)
        {
            if (!HopByHopHeaders.IsHopByHop(trailer.Name, default))
            {
                response.AppendTrailer(trailer.Name, trailer.Value);
            }
        }
    }

    /// <summary>Why <paramref name="start"/> cannot be written as it is; null when it can.</summary>
    private static string? Refuse(ResponseStart start)
    {
        // The contract carries final responses only (docs/protocol.md): a 1xx here would, among other things,
        // let a 101 announce a protocol switch that never happened.
        if (start.Status is < 200 or > 599)
        {
            return $"status {start.Status} is outside 200-599";
        }

        return RefuseFields(start.Headers, "header") ?? RefuseFields(start.Trailers, "trailer");
    }

    private static string? RefuseFields(Google.Protobuf.Collections.RepeatedField<Header> fields, string kind)
    {
        foreach (var field in fields)
        {
            if (field.Name.Length == 0 || field.Name.AsSpan().ContainsAnyExcept(TokenChars))
            {
                return $"{kind} name '{Printable(field.Name)}' is not a token";
            }

            if (field.Value.AsSpan().ContainsAnyExcept(ValueChars))
            {
                return $"{kind} {field.Name} has a control or non-ASCII character in its value";
            }
        }

        return null;
    }

    private static Task AnswerInvalidAsync(HttpContext context, string reason)
    {
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ResponseWriter));
        EdgeLog.InvalidOriginResponse(logger, context.Request.Method, context.Request.Path, reason);
        return ErrorResponses.WriteAsync(context, StatusCodes.Status502BadGateway, ErrorResponses.InvalidOriginResponse,
            $"the origin's response is not valid HTTP: {reason}");
    }

    /// <summary>A name for a log line, its control characters shown as escapes.</summary>
    private static string Printable(string text)
        => text.Length > 64 ? Printable(text[..64]) + "..." : text.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);
}
