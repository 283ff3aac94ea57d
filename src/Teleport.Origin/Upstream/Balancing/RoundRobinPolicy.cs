namespace Teleport.Origin.Upstream.Balancing;

/// <summary>The healthy upstreams in turn, whatever they are busy with.</summary>
internal sealed class RoundRobinPolicy : IBalancingPolicy
{
    private uint _next = uint.MaxValue;

    public string Name => "round-robin";

    public UpstreamState Pick(HealthyUpstreams candidates)
        => candidates[(int)(Interlocked.Increment(ref _next) % (uint)candidates.Count)];
}
