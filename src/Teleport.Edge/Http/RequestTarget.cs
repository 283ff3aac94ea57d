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
        // Kestrel lets control and non-ASCII bytes through in the target; sent on raw, an upstream would get a
        // malformed request line (and a CR or LF there is a request of its own). Those are percent-encoded instead.
        if (string.IsNullOrEmpty(raw))
        {
            return context.Request.Path.ToUriComponent() + context.Request.QueryString.ToUriComponent();
        }

        if (raw.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            raw = PercentEncodeInvalid(raw);
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

    /// <summary>Percent-encodes (as UTF-8) every character outside visible ASCII; the rest stays as sent.</summary>
    private static string PercentEncodeInvalid(string raw)
    {
        var text = new System.Text.StringBuilder(raw.Length + 16);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in raw.EnumerateRunes())
        {
            if (rune.Value is >= '!' and <= '~')
            {
                text.Append((char)rune.Value);
                continue;
            }

            var length = rune.EncodeToUtf8(utf8);
            foreach (var b in utf8[..length])
            {
                text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
