using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;

namespace Teleport.Origin.Upstream.Health;

/// <summary>
/// With --upstream-health-path, GETs that path on every upstream each --upstream-health-interval, through the
/// upstream's own handler (so unix sockets, TLS checks and h2c apply as for requests): a 2xx answer passes, anything
/// else, or no answer within min(interval, 2 s), takes the upstream out until a check passes. Without the path it
/// does nothing.
/// </summary>
internal sealed class ActiveHealthChecks : BackgroundService
{
    private static readonly UriCreationOptions RawPathAndQuery = new() { DangerousDisablePathAndQueryCanonicalization = true };

    private readonly UpstreamState[] _upstreams;
    private readonly UpstreamHealth _health;
    private readonly HttpMessageInvoker _client;
    private readonly TimeProvider _time;
    private readonly string? _path;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _timeout;

    public ActiveHealthChecks(UpstreamSelector upstreams, UpstreamHealth health, UpstreamClient client, IOptions<OriginOptions> options, TimeProvider time)
    {
        var o = options.Value;
        _upstreams = upstreams.States;
        _health = health;
        _client = client.Invoker;
        _time = time;
        _path = o.UpstreamHealthPath;
        _interval = o.UpstreamHealthInterval;
        // A check must end before the next one starts; two seconds is long enough for a health endpoint.
        _timeout = _interval < TimeSpan.FromSeconds(2) ? _interval : TimeSpan.FromSeconds(2);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_path is null)
        {
            return;
        }

        using var timer = new PeriodicTimer(_interval, _time);
        var checks = new Task[_upstreams.Length];
        try
        {
            // The first round at once, so an upstream that is down at start is out before much traffic finds it.
            do
            {
                for (var i = 0; i < _upstreams.Length; i++)
                {
                    checks[i] = CheckAsync(_upstreams[i], _path, stoppingToken);
                }

                await Task.WhenAll(checks);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task CheckAsync(UpstreamState upstream, string path, CancellationToken stoppingToken)
    {
        var address = upstream.Address;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_timeout);
        string failure;
        try
        {
            using var request = new UpstreamRequest(address, HttpMethod.Get, new Uri(address.Prefix + path, in RawPathAndQuery))
            {
                Version = address.Version,
                VersionPolicy = address.VersionPolicy,
            };
            using var response = await _client.SendAsync(request, timeout.Token);
            // Read to the end, so an HTTP/1.1 connection can serve the next check or a request.
            await response.Content.CopyToAsync(Stream.Null, timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                _health.CheckPassed(upstream);
                return;
            }

            failure = $"health check {path} answered {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            failure = $"health check {path} got no answer within {_timeout.TotalSeconds:0.###} s";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            failure = $"health check {path} failed: {ex.Message}";
        }

        _health.CheckFailed(upstream, failure);
    }
}
