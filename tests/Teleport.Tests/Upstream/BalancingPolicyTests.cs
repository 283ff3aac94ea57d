using Teleport.Origin.Upstream;
using Teleport.Origin.Upstream.Balancing;

namespace Teleport.Tests.Upstream;

public sealed class BalancingPolicyTests
{
    [Theory]
    [InlineData("power-of-two")]
    [InlineData("least-requests")]
    public void Pick_OneUpstreamBusy_AlwaysPicksAnIdleOne(string name)
    {
        var upstreams = Create(3);
        // A slow request in flight on the middle one.
        upstreams[1].RequestStarted();
        var policy = Policy(name);

        for (var i = 0; i < 200; i++)
        {
            Assert.NotSame(upstreams[1], policy.Pick(All(upstreams)));
        }
    }

    [Fact]
    public void Pick_PowerOfTwo_TwoUpstreamsOneBusy_PicksTheIdleOneEveryTime()
    {
        var upstreams = Create(2);
        upstreams[0].RequestStarted();
        var policy = Policy("power-of-two");

        for (var i = 0; i < 200; i++)
        {
            Assert.Same(upstreams[1], policy.Pick(All(upstreams)));
        }
    }

    [Fact]
    public void Pick_PowerOfTwo_AllIdle_SpreadsOverEveryUpstream()
    {
        var upstreams = Create(3);
        var policy = Policy("power-of-two");

        var picked = Enumerable.Range(0, 300).Select(_ => policy.Pick(All(upstreams))).ToHashSet();

        Assert.Equal(3, picked.Count);
    }

    [Fact]
    public void Pick_LeastRequests_PicksTheFewestInFlight()
    {
        var upstreams = Create(3);
        upstreams[0].RequestStarted();
        upstreams[0].RequestStarted();
        upstreams[1].RequestStarted();
        upstreams[2].RequestStarted();
        upstreams[2].RequestStarted();

        Assert.Same(upstreams[1], Policy("least-requests").Pick(All(upstreams)));
    }

    [Fact]
    public void Pick_RoundRobin_TakesEachInTurnFromTheFirst()
    {
        var upstreams = Create(3);
        upstreams[0].RequestStarted();
        var policy = Policy("round-robin");

        var picked = Enumerable.Range(0, 6).Select(_ => policy.Pick(All(upstreams))).ToArray();

        Assert.Equal([upstreams[0], upstreams[1], upstreams[2], upstreams[0], upstreams[1], upstreams[2]], picked);
    }

    [Theory]
    [InlineData("power-of-two")]
    [InlineData("least-requests")]
    [InlineData("round-robin")]
    public void Pick_OnlySomeHealthy_PicksAmongThoseOnly(string name)
    {
        var upstreams = Create(4);
        var policy = Policy(name);
        int[] healthy = [1, 3];

        for (var i = 0; i < 100; i++)
        {
            var picked = policy.Pick(new HealthyUpstreams(upstreams, healthy));
            Assert.True(picked == upstreams[1] || picked == upstreams[3], $"picked {picked.Address}");
        }
    }

    [Theory]
    [InlineData("power-of-two", typeof(PowerOfTwoChoicesPolicy))]
    [InlineData("Least-Requests", typeof(LeastRequestsPolicy))]
    [InlineData(" round-robin ", typeof(RoundRobinPolicy))]
    public void TryCreate_KnownName_CreatesThatPolicy(string name, Type expected)
    {
        Assert.True(BalancingPolicies.TryCreate(name, out var policy));
        Assert.IsType(expected, policy);
    }

    [Theory]
    [InlineData("random")]
    [InlineData("")]
    [InlineData(null)]
    public void TryCreate_UnknownName_Fails(string? name)
    {
        Assert.False(BalancingPolicies.TryCreate(name, out _));
    }

    private static IBalancingPolicy Policy(string name)
        => BalancingPolicies.TryCreate(name, out var policy) ? policy : throw new ArgumentException(name);

    private static HealthyUpstreams All(UpstreamState[] upstreams)
        => new(upstreams, Enumerable.Range(0, upstreams.Length).ToArray());

    internal static UpstreamState[] Create(int count)
        => [.. Enumerable.Range(0, count).Select(i => new UpstreamState(Address($"http://10.0.0.{i + 1}:8080", i)))];

    internal static UpstreamAddress Address(string text, int index)
        => UpstreamAddress.TryParse(text, null, index, out var address, out var error) ? address : throw new ArgumentException(error);
}
