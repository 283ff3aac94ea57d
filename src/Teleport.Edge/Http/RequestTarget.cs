using Microsoft.AspNetCore.Http.Features;

namespace Teleport.Edge.Http;

/// <summary>The request target to forward, byte for byte as the client sent it.</summary>
internal static class RequestTarget
{
    /// <summary>
    /// The raw target in origin form. A client may send absolute form ("GET http://host/x"), which
    /// HTTP/1.1 servers must accept (RFC 9112 3.2.2): its path and query are forwarded, its authority
    /// never decides where the request goes.
    /// </summary>
    public static string PathAndQuery(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            return context.Request.Path.ToUriComponent() + context.Request.QueryString.ToUriComponent();
        }

        if (raw[0] == '/' || raw == "*")
        {
            return raw;
        }

        // Absolute form: skip "scheme://authority".
        var schemeEnd = raw.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return raw;
        }

        var pathStart = raw.IndexOfAny(['/', '?'], schemeEnd + 3);
        return pathStart < 0 ? "/" : raw[pathStart] == '?' ? "/" + raw[pathStart..] : raw[pathStart..];
    }
}
