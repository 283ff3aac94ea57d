using System.Net;
using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// A server that no request may ever reach: it accepts and counts TCP connections (closing each at once),
/// so a test can prove the origin never connected anywhere but its configured upstreams.
/// </summary>
internal sealed class VictimListener : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private int _accepted;

    public VictimListener()
    {
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>host:port of the victim, for hostile targets and fields.</summary>
    public string Authority => $"127.0.0.1:{Port}";

    public int Accepted => Volatile.Read(ref _accepted);

    public void Dispose() => _listener.Stop();

    private async Task AcceptAsync()
    {
        while (true)
        {
            try
            {
                using var socket = await _listener.AcceptSocketAsync();
                Interlocked.Increment(ref _accepted);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }
        }
    }
}
