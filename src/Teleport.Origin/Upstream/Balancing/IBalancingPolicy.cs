namespace Teleport.Origin.Upstream.Balancing;

/// <summary>
/// Chooses the upstream for one request among the healthy ones, as YARP's ILoadBalancingPolicy does. Called per
/// request from any thread: implementations keep no lock and allocate nothing.
/// </summary>
internal interface IBalancingPolicy
{
    /// <summary>The --upstream-balance value that selects this policy.</summary>
    string Name { get; }

    /// <summary>Picks one of <paramref name="candidates"/>, of which there is at least one.</summary>
    UpstreamState Pick(HealthyUpstreams candidates);
}
