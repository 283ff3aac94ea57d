using System.Diagnostics.CodeAnalysis;

namespace Teleport.Origin.Upstream.Balancing;

/// <summary>The --upstream-balance values and the policy each selects.</summary>
internal static class BalancingPolicies
{
    /// <summary>Every policy's name, the default first.</summary>
    public static readonly string[] Names = [.. CreateAll().Select(static p => p.Name)];

    /// <summary>A new policy (round-robin keeps a turn of its own) named <paramref name="name"/>, matched without case.</summary>
    public static bool TryCreate(string? name, [NotNullWhen(true)] out IBalancingPolicy? policy)
    {
        var wanted = name?.Trim();
        policy = CreateAll().FirstOrDefault(p => p.Name.Equals(wanted, StringComparison.OrdinalIgnoreCase));
        return policy is not null;
    }

    // Start-up only: a few objects more than needed beat a second list of names to keep in step.
    private static IBalancingPolicy[] CreateAll() => [new PowerOfTwoChoicesPolicy(), new LeastRequestsPolicy(), new RoundRobinPolicy()];
}
