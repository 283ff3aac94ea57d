using Teleport.Protocol.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class ServiceHostTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(3, 1)]
    [InlineData(4, 2)]
    [InlineData(16, 8)]
    public void SocketEventThreads_IsHalfTheCoresAndAtLeastOne(int processors, int expected)
        => Assert.Equal(expected, ServiceHost.SocketEventThreads(processors));
}
