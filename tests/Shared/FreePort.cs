using System.Net;
using System.Net.Sockets;

namespace Teleport.Testing;

/// <summary>Loopback ports for servers a test starts later or for upstreams that must stay dead. Shared by the test projects.</summary>
internal static class FreePort
{
    /// <summary>
    /// A loopback port that was free a moment ago, for a service a test starts on it later (a fixed port kept across
    /// restarts). Another test may take it meanwhile, so never use it as a port that must stay dead: see <see cref="Refusing"/>.
    /// </summary>
    public static int Next()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    // Bound, never listening, never closed: the kernel hands their ports to nobody else while the tests run.
    private static readonly List<Socket> Held = [];

    /// <summary>
    /// A loopback port that refuses connections for as long as the tests run. Unlike <see cref="Next"/>, whose
    /// port another test may bind a moment later, this one stays dead: for upstreams that must never answer.
    /// </summary>
    public static int Refusing()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        lock (Held)
        {
            Held.Add(socket);
        }

        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
