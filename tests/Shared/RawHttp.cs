using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Teleport.Testing;

/// <summary>HTTP/1.1 over a plain socket, for requests HttpClient would rewrite.</summary>
internal static partial class RawHttp
{
    /// <summary>
    /// Sends <paramref name="request"/> as is and reads one response: the head, then Content-Length bytes
    /// of body (or everything until the server closes when there is none). Returns the status and the text.
    /// </summary>
    public static async Task<(int Status, string Response)> SendAsync(Uri server, string request)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Host, server.Port);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));

        var received = new MemoryStream();
        var buffer = new byte[8192];
        int? total = null;
        while (total is null || received.Length < total)
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
            var text = Encoding.Latin1.GetString(received.GetBuffer(), 0, (int)received.Length);
            var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (total is null && headEnd >= 0)
            {
                var length = ContentLength().Match(text[..headEnd]);
                total = length.Success ? headEnd + 4 + int.Parse(length.Groups[1].Value) : int.MaxValue;
            }
        }

        var response = Encoding.Latin1.GetString(received.GetBuffer(), 0, (int)received.Length);
        var status = response.Length >= 12 && int.TryParse(response.AsSpan(9, 3), out var code) ? code : 0;
        return (status, response);
    }

    [GeneratedRegex(@"\r\nContent-Length:\s*(\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex ContentLength();
}
