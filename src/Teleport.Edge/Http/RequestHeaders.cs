using Google.Protobuf.Collections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Primitives;
using Teleport.Edge.Hosting;
using Teleport.Protocol.Http;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>Copies a client's header fields into an exchange: end-to-end fields only, plus X-Forwarded-*.</summary>
internal static class RequestHeaders
{
    private const string ForwardedFor = "X-Forwarded-For";
    private const string ForwardedProto = "X-Forwarded-Proto";
    private const string ForwardedHost = "X-Forwarded-Host";

    /// <summary>A client's own, shorter request timeout ("500ms", "5s"); the edge takes it and does not forward it.</summary>
    public const string Timeout = "X-Teleport-Timeout";

    /// <summary>Fills <paramref name="target"/> and returns roughly how many bytes the fields take.</summary>
    public static int Copy(HttpRequest request, ForwardedHeadersMode mode, RepeatedField<Header> target)
    {
        var headers = request.Headers;
        var connection = headers.Connection;
        var size = 0;
        foreach (var (name, values) in headers)
        {
            // Expect is met here: Kestrel answers 100 Continue when the body is first read, and the body then travels
            // with (or right after) the start, so an upstream asked to expect it would only stall waiting for a 100.
            if (HopByHopHeaders.IsHopByHop(name, connection) || (mode != ForwardedHeadersMode.Off && IsForwarded(name))
                || name.Equals("Expect", StringComparison.OrdinalIgnoreCase) || name.Equals(Timeout, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var value in values)
            {
                target.Add(new Header { Name = name, Value = value ?? string.Empty });
                size += name.Length + (value?.Length ?? 0) + 4;
            }
        }

        if (mode != ForwardedHeadersMode.Off)
        {
            var append = mode == ForwardedHeadersMode.Append;
            size += Add(target, ForwardedFor, Earlier(headers, ForwardedFor, connection, append), request.HttpContext.Connection.RemoteIpAddress?.ToString());
            size += Add(target, ForwardedProto, Earlier(headers, ForwardedProto, connection, append), ListenerScheme(request.HttpContext));
            size += Add(target, ForwardedHost, Earlier(headers, ForwardedHost, connection, append), headers.Host);
        }

        return size;
    }

    /// <summary>
    /// "https" on a TLS listener, else "http". Not request.Scheme: HTTP/2 clients state their own :scheme, and the
    /// edge lets them (AllowAlternateSchemes, for h2c), so an h2c client could claim "https". Only Kestrel's TLS
    /// middleware sets the handshake feature; the h2c detection's stand-in does not.
    /// </summary>
    private static string ListenerScheme(HttpContext context)
        => context.Features.Get<ITlsHandshakeFeature>() is null ? Uri.UriSchemeHttp : Uri.UriSchemeHttps;

    // A client's X-Forwarded-* value that its Connection header names belongs to its hop only (RFC 9110 7.6.1).
    private static StringValues Earlier(IHeaderDictionary headers, string name, StringValues connection, bool append)
        => append && !HopByHopHeaders.IsHopByHop(name, connection) ? headers[name] : default;

    private static bool IsForwarded(string name)
        => name.Equals(ForwardedFor, StringComparison.OrdinalIgnoreCase)
        || name.Equals(ForwardedProto, StringComparison.OrdinalIgnoreCase)
        || name.Equals(ForwardedHost, StringComparison.OrdinalIgnoreCase);

    private static int Add(RepeatedField<Header> target, string name, StringValues earlier, string? hop)
    {
        var value = (earlier.Count, string.IsNullOrEmpty(hop)) switch
        {
            (0, true) => null,
            (0, false) => hop,
            (_, true) => string.Join(", ", earlier.ToArray()),
            _ => string.Join(", ", earlier.ToArray()) + ", " + hop,
        };

        if (string.IsNullOrEmpty(value))
        {
            return 0;
        }

        target.Add(new Header { Name = name, Value = value });
        return name.Length + value.Length + 4;
    }
}
