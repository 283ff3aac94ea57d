using System.Diagnostics.CodeAnalysis;
using System.Net;
using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Hosting;

/// <summary>How clients reach one listener of the edge.</summary>
internal enum ListenerKind
{
    /// <summary>Cleartext TCP: HTTP/1.1, and HTTP/2 with prior knowledge (h2c) on the same port.</summary>
    Http,

    /// <summary>TLS over TCP: HTTP/1.1 or HTTP/2, chosen by ALPN; the certificate is chosen by SNI.</summary>
    Https,

    /// <summary>A unix-domain socket: HTTP/1.1 and h2c, as <see cref="Http"/>.</summary>
    Unix,
}

/// <summary>
/// One --listen value: "127.0.0.1:8080" or "http://..." (cleartext), "https://0.0.0.0:8443", or
/// "unix:/run/teleport/edge.sock". Exactly one of <see cref="EndPoint"/> and <see cref="SocketPath"/> is set.
/// </summary>
internal sealed record EdgeListener(ListenerKind Kind, IPEndPoint? EndPoint, string? SocketPath)
{
    private const string HttpsPrefix = "https://";
    private const string UnixPrefix = "unix:";

    /// <summary>The value's form is valid; it says nothing about whether the address can be bound.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out EdgeListener? listener)
    {
        listener = null;
        var value = text?.Trim() ?? "";
        if (value.StartsWith(UnixPrefix, StringComparison.OrdinalIgnoreCase))
        {
            // Absolute only: a relative path would depend on the directory the service happens to start in.
            var path = value[UnixPrefix.Length..];
            if (!Path.IsPathFullyQualified(path) || path.EndsWith('/'))
            {
                return false;
            }

            listener = new EdgeListener(ListenerKind.Unix, null, path);
            return true;
        }

        var kind = ListenerKind.Http;
        if (value.StartsWith(HttpsPrefix, StringComparison.OrdinalIgnoreCase))
        {
            kind = ListenerKind.Https;
            value = value[HttpsPrefix.Length..].TrimEnd('/');
        }

        if (!ListenAddress.TryParse(value, out var endPoint))
        {
            return false;
        }

        listener = new EdgeListener(kind, endPoint, null);
        return true;
    }
}
