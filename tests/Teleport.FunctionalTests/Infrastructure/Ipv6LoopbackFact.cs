using System.Net;
using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>A fact that is skipped, with the reason shown, where this machine cannot bind the IPv6 loopback (::1).</summary>
internal sealed class Ipv6LoopbackFactAttribute : FactAttribute
{
    public Ipv6LoopbackFactAttribute()
    {
        if (!HasIpv6Loopback())
        {
            Skip = "This machine has no IPv6 loopback (::1) to bind.";
        }
    }

    private static bool HasIpv6Loopback()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return false;
        }

        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
