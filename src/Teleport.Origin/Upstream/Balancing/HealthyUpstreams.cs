namespace Teleport.Origin.Upstream.Balancing;

/// <summary>
/// The upstreams a request may go to, taken once per pick: the policy sees one consistent set even while another
/// request takes an upstream out. Valid only during the pick; it lives on the stack.
/// </summary>
internal readonly ref struct HealthyUpstreams
{
    private readonly ReadOnlySpan<UpstreamState> _all;
    private readonly ReadOnlySpan<int> _indexes;

    /// <param name="all">Every configured upstream.</param>
    /// <param name="indexes">Positions in <paramref name="all"/> of the healthy ones, in configuration order.</param>
    public HealthyUpstreams(ReadOnlySpan<UpstreamState> all, ReadOnlySpan<int> indexes)
    {
        _all = all;
        _indexes = indexes;
    }

    public int Count => _indexes.Length;

    public UpstreamState this[int i] => _all[_indexes[i]];
}
