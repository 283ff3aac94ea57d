using Microsoft.Net.Http.Headers;
using Teleport.Protocol.Http;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>Writes an origin's response to the client.</summary>
internal static class ResponseWriter
{
    public static async Task WriteAsync(HttpContext context, ResponseStart start)
    {
        var response = context.Response;
        response.StatusCode = (int)start.Status;
        var headers = response.Headers;
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

        var status = start.Status;
        if (HttpMethods.IsHead(context.Request.Method) || status is 204 or 304 || status < 200)
        {
            // No body: any Content-Length the upstream sent stays as it describes the resource.
            return;
        }

        var body = start.Body;
        var trailers = start.Trailers.Count > 0 && response.SupportsTrailers();
        // HTTP/1.1 carries trailers only after a chunked body; HTTP/2 frames them either way.
        if (!trailers || !HttpProtocol.IsHttp11(context.Request.Protocol))
        {
            response.ContentLength = body.Length;
        }

        if (body.Length > 0)
        {
            await response.Body.WriteAsync(body.Memory, context.RequestAborted);
        }

        if (trailers)
        {
            foreach (var trailer in start.Trailers)
            {
                if (!HopByHopHeaders.IsHopByHop(trailer.Name, default))
                {
                    response.AppendTrailer(trailer.Name, trailer.Value);
                }
            }
        }
    }
}
