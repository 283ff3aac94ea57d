using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>A fact that is skipped, with the reason shown, where the OS has no unix-domain sockets.</summary>
internal sealed class UnixSocketFactAttribute : FactAttribute
{
    public UnixSocketFactAttribute()
    {
        if (!Socket.OSSupportsUnixDomainSockets)
        {
            Skip = "This OS has no unix-domain sockets.";
        }
    }
}

/// <summary>A theory that is skipped, with the reason shown, where the OS has no unix-domain sockets.</summary>
internal sealed class UnixSocketTheoryAttribute : TheoryAttribute
{
    public UnixSocketTheoryAttribute()
    {
        if (!Socket.OSSupportsUnixDomainSockets)
        {
            Skip = "This OS has no unix-domain sockets.";
        }
    }
}
