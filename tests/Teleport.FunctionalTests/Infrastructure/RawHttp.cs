using System.Net.Sockets;
using System.Text;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>HTTP/1.1 over a plain socket, for requests HttpClient would rewrite.</summary>
internal static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> as is and reads until the server closes; returns the status and the whole response text.</summary>
    public static async Task<(int Status, string Response)> SendAsync(Uri server, string request)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Host, server.Port);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.Latin1);
        var text = await reader.ReadToEndAsync();
        var status = text.Length >= 12 && int.TryParse(text.AsSpan(9, 3), out var code) ? code : 0;
        return (status, text);
    }
}
