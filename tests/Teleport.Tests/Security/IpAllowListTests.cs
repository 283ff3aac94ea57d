using System.Net;
using Teleport.Protocol.Security;

namespace Teleport.Tests.Security;

public sealed class IpAllowListTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.20.30.40", true)]
    [InlineData("::ffff:10.20.30.40", true)]    // an IPv4 peer on a dual-stack socket
    [InlineData("::1", true)]
    [InlineData("2001:db8:1::5", true)]
    [InlineData("11.0.0.1", false)]
    [InlineData("::ffff:11.0.0.1", false)]
    [InlineData("2001:db9::1", false)]
    [InlineData("::2", false)]
    public void Allows_MatchesIpv4AndIpv6Networks(string address, bool allowed)
    {
        Assert.True(IpAllowList.TryParse(["127.0.0.1", "10.0.0.0/8", "::1/128", " 2001:db8::/32 "], "--allow-ip", out var list, out var errors), string.Join(" ", errors));

        Assert.Equal(allowed, list.Allows(IPAddress.Parse(address)));
    }

    [Fact]
    public void TryParse_BadEntries_ReportsEachOne()
    {
        Assert.False(IpAllowList.TryParse(["10.0.0.0/8", "10.1.2.3/8", "not-an-ip", "::1/129"], "--allow-ip", out var list, out var errors));

        Assert.Null(list);
        Assert.Equal(3, errors.Count);
        Assert.All(errors, e => Assert.StartsWith("--allow-ip '", e));
        Assert.Contains(errors, e => e.Contains("'10.1.2.3/8'", StringComparison.Ordinal));
    }
}
