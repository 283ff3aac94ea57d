using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;

namespace Teleport.Origin.Upstream;

/// <summary>Picks the upstream for each exchange, in turn, from the origin's own configuration only.</summary>
internal sealed class UpstreamSelector
{
    private readonly UpstreamAddress[] _upstreams;
    private uint _next;

    public UpstreamSelector(IOptions<OriginOptions> options)
    {
        var o = options.Value;
        // The validator has accepted every value by now: reading IOptions<OriginOptions>.Value ran it.
        _upstreams = [.. o.Upstreams.Select((text, index) => UpstreamAddress.TryParse(text, o.UpstreamSni, index, out var upstream, out var error)
            ? upstream
            : throw new InvalidOperationException(error))];
    }

    /// <summary>Every configured upstream, in configuration order (<see cref="UpstreamAddress.Index"/>).</summary>
    public IReadOnlyList<UpstreamAddress> All => _upstreams;

    public UpstreamAddress Next()
        => _upstreams.Length == 1 ? _upstreams[0] : _upstreams[Interlocked.Increment(ref _next) % (uint)_upstreams.Length];
}
