using System.Net;
using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

internal static class FreePort
{
    /// <summary>A loopback port nothing listens on (it was free a moment ago): connections to it are refused.</summary>
    public static int Closed()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }
}
