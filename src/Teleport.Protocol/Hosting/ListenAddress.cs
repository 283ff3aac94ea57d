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
        var portText = colon < 0 ? default : value.AsSpan(colon + 1);
        if (portText.IsEmpty || portText.ContainsAnyExceptInRange('0', '9') || !ushort.TryParse(portText, out var port))
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
        else if (host.Contains(':'))
        {
            // "::1:8080" is ambiguous: IPv6 addresses take brackets, "[::1]:8080".
            return false;
        }

        // Only the full dotted form: IPAddress.TryParse would read "1" as 0.0.0.1.
        if (!IPAddress.TryParse(host, out var address) || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Count(c => c == '.') != 3))
        {
            return false;
        }

        endPoint = new IPEndPoint(address, port);
        return true;
    }
}
