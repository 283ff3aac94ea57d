namespace Teleport.Origin.Upstream.Balancing;

/// <summary>The healthy upstreams in turn, whatever they are busy with.</summary>
internal sealed class RoundRobinPolicy : IBalancingPolicy
{
    public const string PolicyName = "round-robin";

    private uint _next = uint.MaxValue;

    public string Name => PolicyName;

    public UpstreamState Pick(HealthyUpstreams candidates)
        => candidates[(int)(Interlocked.Increment(ref _next) % (uint)candidates.Count)];
}
