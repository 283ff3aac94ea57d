using System.Collections.Frozen;

namespace Teleport.Protocol.Http;

/// <summary>
/// Header fields that <see cref="System.Net.Http"/> keeps on <c>HttpContent</c> rather than on the
/// message: a forwarded request must put them there or HttpClient rejects them.
/// </summary>
internal static class ContentHeaders
{
    private static readonly FrozenSet<string> Names = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "Allow",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Content-Length",
        "Content-Location",
        "Content-MD5",
        "Content-Range",
        "Content-Type",
        "Expires",
        "Last-Modified");

    public static bool IsContentHeader(string name) => Names.Contains(name);
}
