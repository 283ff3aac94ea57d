using System.Collections.Frozen;
using Microsoft.Extensions.Primitives;

namespace Teleport.Protocol.Http;

/// <summary>
/// Header fields that belong to one connection and are never forwarded (RFC 9110 7.6.1).
/// </summary>
internal static class HopByHopHeaders
{
    private static readonly FrozenSet<string> Names = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        // HTTP/2 settings of the client's connection, never meaningful beyond it.
        "HTTP2-Settings");

    /// <summary>
    /// Whether <paramref name="name"/> must not be forwarded: a hop-by-hop field, an HTTP/2
    /// pseudo-header, or a field named in the message's Connection header.
    /// </summary>
    /// <param name="connection">The message's Connection header value(s), or empty.</param>
    public static bool IsHopByHop(string name, StringValues connection)
    {
        if (name.Length == 0 || name[0] == ':' || Names.Contains(name))
        {
            return true;
        }

        foreach (var value in connection)
        {
            if (value is not null && ListsToken(value, name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the comma-separated list <paramref name="list"/> holds <paramref name="token"/>.</summary>
    internal static bool ListsToken(ReadOnlySpan<char> list, ReadOnlySpan<char> token)
    {
        foreach (var range in list.Split(','))
        {
            if (list[range].Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
