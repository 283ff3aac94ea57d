using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Http;

/// <summary>
/// --route-timeout: request timeouts for path prefixes, in place of --request-timeout. The longest matching
/// prefix wins; a prefix matches its own path and the paths below it ("/reports" matches "/reports" and
/// "/reports/2026", not "/reportsX"; a prefix ending in "/" matches what starts with it).
/// </summary>
internal sealed class RouteTimeouts
{
    private readonly (string Prefix, uint TimeoutMs)[] _routes;

    private RouteTimeouts((string Prefix, uint TimeoutMs)[] routes) => _routes = routes;

    /// <summary>Parses PREFIX=DURATION entries; false with one message per bad entry.</summary>
    public static bool TryParse(IReadOnlyList<string> entries, out RouteTimeouts routes, out List<string> errors)
    {
        errors = [];
        var parsed = new List<(string Prefix, uint TimeoutMs)>(entries.Count);
        foreach (var entry in entries)
        {
            var equals = entry.LastIndexOf('=');
            var prefix = equals > 0 ? entry[..equals].Trim() : string.Empty;
            if (!prefix.StartsWith('/') || !ValueSyntax.TryParseDuration(entry[(equals + 1)..].Trim(), out var timeout)
                || timeout < TimeSpan.FromMilliseconds(1) || timeout.TotalMilliseconds > uint.MaxValue)
            {
                errors.Add($"--route-timeout '{entry}' is not PREFIX=DURATION with a path prefix starting with / and a positive duration, e.g. /reports=2m.");
                continue;
            }

            if (parsed.Exists(r => r.Prefix == prefix))
            {
                errors.Add($"--route-timeout gives the prefix {prefix} twice.");
                continue;
            }

            parsed.Add((prefix, (uint)timeout.TotalMilliseconds));
        }

        // Longest first: the first match is the most specific.
        parsed.Sort(static (a, b) => b.Prefix.Length.CompareTo(a.Prefix.Length));
        routes = new RouteTimeouts([.. parsed]);
        return errors.Count == 0;
    }

    /// <summary>The timeout of the most specific route <paramref name="path"/> is under, else <paramref name="fallback"/>.</summary>
    public uint For(string? path, uint fallback)
    {
        if (_routes.Length == 0 || string.IsNullOrEmpty(path))
        {
            return fallback;
        }

        foreach (var (prefix, timeoutMs) in _routes)
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal)
                && (path.Length == prefix.Length || prefix[^1] == '/' || path[prefix.Length] == '/'))
            {
                return timeoutMs;
            }
        }

        return fallback;
    }
}
