using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>Short socket paths (sun_path holds about 100 bytes) in a temporary directory deleted on dispose.</summary>
internal sealed class UnixSockets : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("tp-");

    public string PathFor(string name) => Path.Combine(_directory.FullName, name);

    /// <summary>An HttpClient whose every connection goes to the socket at <paramref name="path"/>.</summary>
    public static HttpClient CreateClient(string path, Version? version = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri("http://localhost"), Timeout = TimeSpan.FromSeconds(60) };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return client;
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
