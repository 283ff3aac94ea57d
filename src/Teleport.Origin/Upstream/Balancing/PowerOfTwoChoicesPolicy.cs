namespace Teleport.Origin.Upstream.Balancing;

/// <summary>
/// The less busy of two upstreams drawn at random (YARP's default). Nearly as good as least-requests at avoiding a
/// slow upstream, without sending every request to the same one while the counts are briefly equal.
/// </summary>
internal sealed class PowerOfTwoChoicesPolicy : IBalancingPolicy
{
    public string Name => "power-of-two";

    public UpstreamState Pick(HealthyUpstreams candidates)
    {
        var count = candidates.Count;
        if (count == 1)
        {
            return candidates[0];
        }

        // Two distinct positions: the second is drawn from the others.
        var first = Random.Shared.Next(count);
        var second = Random.Shared.Next(count - 1);
        if (second >= first)
        {
            second++;
        }

        var a = candidates[first];
        var b = candidates[second];
        return b.ActiveRequests < a.ActiveRequests ? b : a;
    }
}
