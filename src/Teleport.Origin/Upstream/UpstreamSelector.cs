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
        _upstreams = [.. options.Value.Upstreams.Select(u => new UpstreamAddress(new Uri(u)))];
    }

    public UpstreamAddress Next()
        => _upstreams.Length == 1 ? _upstreams[0] : _upstreams[Interlocked.Increment(ref _next) % (uint)_upstreams.Length];
}

/// <summary>One configured upstream.</summary>
internal sealed class UpstreamAddress(Uri uri)
{
    /// <summary>"http://host:port" plus any base path, without a trailing slash: a request's path is appended.</summary>
    public string Prefix { get; } = uri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    /// <summary>host:port, for messages.</summary>
    public string Authority { get; } = uri.Authority;

    public override string ToString() => Prefix;
}
