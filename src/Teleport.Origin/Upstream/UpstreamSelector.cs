using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream.Balancing;

namespace Teleport.Origin.Upstream;

/// <summary>
/// Picks the upstream for each exchange from the origin's own configuration only: one of those in now (see
/// <see cref="Health.UpstreamHealth"/>), as the --upstream-balance policy chooses.
/// </summary>
internal sealed class UpstreamSelector
{
    // Up to this many upstreams, the healthy set of a pick is gathered on the stack.
    private const int StackLimit = 128;

    private readonly UpstreamAddress[] _upstreams;
    private readonly UpstreamState[] _states;
    private readonly IBalancingPolicy _policy;
    private readonly TimeProvider _time;

    public UpstreamSelector(IOptions<OriginOptions> options, TimeProvider time)
    {
        var o = options.Value;
        // The validator has accepted every value by now: reading IOptions<OriginOptions>.Value ran it.
        _upstreams = [.. o.Upstreams.Select((text, index) => UpstreamAddress.TryParse(text, o.UpstreamSni, index, out var upstream, out var error)
            ? upstream
            : throw new InvalidOperationException(error))];
        _states = [.. _upstreams.Select(static upstream => new UpstreamState(upstream))];
        _policy = BalancingPolicies.TryCreate(o.UpstreamBalance, out var policy) ? policy : throw new InvalidOperationException($"no balancing policy '{o.UpstreamBalance}'");
        _time = time;
    }

    /// <summary>Every configured upstream, in configuration order (<see cref="UpstreamAddress.Index"/>).</summary>
    public IReadOnlyList<UpstreamAddress> All => _upstreams;

    /// <summary>The runtime state of every upstream, in configuration order. Not to be changed.</summary>
    public UpstreamState[] States => _states;

    /// <summary>The upstream for a request, or null when none is in (other than <paramref name="exclude"/>).</summary>
    /// <param name="exclude">An upstream just found unreachable, when the request is retried elsewhere.</param>
    public UpstreamState? Pick(UpstreamState? exclude = null)
    {
        var now = _time.GetTimestamp();
        if (_states.Length == 1)
        {
            var only = _states[0];
            return only != exclude && only.IsHealthy(now) ? only : null;
        }

        Span<int> healthy = _states.Length <= StackLimit ? stackalloc int[_states.Length] : new int[_states.Length];
        var count = 0;
        for (var i = 0; i < _states.Length; i++)
        {
            var state = _states[i];
            if (state != exclude && state.IsHealthy(now))
            {
                healthy[count++] = i;
            }
        }

        return count == 0 ? null : _policy.Pick(new HealthyUpstreams(_states, healthy[..count]));
    }
}
