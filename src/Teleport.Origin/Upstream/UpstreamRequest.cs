namespace Teleport.Origin.Upstream;

/// <summary>
/// A request for one upstream. Each upstream has its own handler (its socket path, its TLS checks), and the
/// forwarder holds one invoker for all of them: the request carries its upstream so that invoker can hand it
/// to the right handler without a lookup (see <see cref="UpstreamClient"/>).
/// </summary>
internal sealed class UpstreamRequest(UpstreamAddress upstream, HttpMethod method, Uri requestUri) : HttpRequestMessage(method, requestUri)
{
    public UpstreamAddress Upstream { get; } = upstream;
}
