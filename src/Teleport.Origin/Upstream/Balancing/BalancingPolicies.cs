namespace Teleport.Origin.Upstream.Balancing;

/// <summary>The --upstream-balance values and the policy each selects.</summary>
internal static class BalancingPolicies
{
    public static readonly string[] Names = [PowerOfTwoChoicesPolicy.PolicyName, LeastRequestsPolicy.PolicyName, RoundRobinPolicy.PolicyName];

    /// <summary>A new policy (round-robin has a turn of its own) for <paramref name="name"/>, matched without case.</summary>
    public static bool TryCreate(string? name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IBalancingPolicy? policy)
    {
        policy = name?.Trim().ToLowerInvariant() switch
        {
            PowerOfTwoChoicesPolicy.PolicyName => new PowerOfTwoChoicesPolicy(),
            LeastRequestsPolicy.PolicyName => new LeastRequestsPolicy(),
            RoundRobinPolicy.PolicyName => new RoundRobinPolicy(),
            _ => null,
        };
        return policy is not null;
    }
}
