using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Teleport.Protocol.Hosting;

/// <summary>Parses listen addresses: "127.0.0.1:8080", "[::1]:8080", "*:8080", ":8080", "localhost:8080", "http://0.0.0.0:8080".</summary>
internal static class ListenAddress
{
    public static bool TryParse(string? text, [NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var value = text.Trim();
        if (value.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            value = value["http://".Length..].TrimEnd('/');
        }

        var colon = value.LastIndexOf(':');
        if (colon < 0 || !ushort.TryParse(value.AsSpan(colon + 1), out var port))
        {
            return false;
        }

        var host = value[..colon];
        if (host is "" or "*" or "+")
        {
            endPoint = new IPEndPoint(IPAddress.Any, port);
            return true;
        }

        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            endPoint = new IPEndPoint(IPAddress.Loopback, port);
            return true;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (!IPAddress.TryParse(host, out var address))
        {
            return false;
        }

        endPoint = new IPEndPoint(address, port);
        return true;
    }
}
