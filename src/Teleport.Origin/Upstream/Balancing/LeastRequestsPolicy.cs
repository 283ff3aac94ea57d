namespace Teleport.Origin.Upstream.Balancing;

/// <summary>The upstream with the fewest requests in flight; the first in configuration order on a tie.</summary>
internal sealed class LeastRequestsPolicy : IBalancingPolicy
{
    public string Name => "least-requests";

    public UpstreamState Pick(HealthyUpstreams candidates)
    {
        var best = candidates[0];
        var fewest = best.ActiveRequests;
        for (var i = 1; i < candidates.Count && fewest > 0; i++)
        {
            var candidate = candidates[i];
            var active = candidate.ActiveRequests;
            if (active < fewest)
            {
                best = candidate;
                fewest = active;
            }
        }

        return best;
    }
}
