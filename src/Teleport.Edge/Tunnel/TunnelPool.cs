using Microsoft.Extensions.Options;
using Teleport.Edge.Hosting;
using Teleport.Edge.Security;
using Teleport.Protocol.Compression;
using Teleport.Protocol.Diagnostics;

namespace Teleport.Edge.Tunnel;

/// <summary>
/// Every tunnel stream of the edge: <c>--streams</c> links to each <c>--origin</c>. A new exchange goes to the
/// live, non-draining stream with the fewest exchanges pending, counting the load its origin reports from
/// other edges (httpteleport's least-loaded choice across its -out addresses).
/// </summary>
/// <remarks>
/// The streams outlive the HTTP server's graceful shutdown, so requests still in flight get their answers:
/// they close only once the host has stopped (ApplicationStopped), not when hosted services are asked to stop.
/// Exchanges still open at --drain-timeout after the stop began are answered 503 then, a second before the server
/// closes their connections (its shutdown timeout is one second longer).
/// </remarks>
internal sealed class TunnelPool : IHostedService, IAsyncDisposable
{
    private readonly TunnelLink[] _links;
    private readonly EdgeOptions _options;
    private readonly ILogger<TunnelPool> _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationTokenSource _drainExpired = new();
    private TaskCompletionSource<TunnelConnection> _connected = NewSignal();
    private Task? _running;

    public TunnelPool(IOptions<EdgeOptions> options, TunnelCounters counters, IHostApplicationLifetime lifetime, ILogger<TunnelPool> logger)
    {
        lifetime.ApplicationStopped.Register(static s => ((TunnelPool)s!).Shutdown(), this);
        lifetime.ApplicationStopping.Register(static s => ((TunnelPool)s!).StartDrainTimer(), this);
        _options = options.Value;
        _logger = logger;
        var gzip = new GzipCompressionProvider(_options.CompressionLevel);
        var origins = _options.OriginOrDefault();
        var links = new List<TunnelLink>(origins.Count * _options.Streams);
        foreach (var text in origins)
        {
            // The validator has accepted every value by now: reading IOptions<EdgeOptions>.Value ran it.
            var origin = EdgeOptionsValidator.TryParseOrigin(text, out var uri) ? uri : throw new InvalidOperationException($"--origin '{text}' was not validated.");
            var load = new OriginLoad(_options.Streams);
            for (var i = 0; i < _options.Streams; i++)
            {
                links.Add(new TunnelLink(_options, origin, load, gzip, counters, logger, OnConnected, _drainExpired.Token));
            }
        }

        _links = [.. links];
    }

    /// <summary>Every stream slot, for readiness and metrics.</summary>
    public IReadOnlyList<TunnelLink> Links => _links;

    /// <summary>The stream to start a new exchange on: live, not draining, least loaded; false when there is none right now.</summary>
    /// <param name="except">A stream not to pick (one that just refused the exchange), or null.</param>
    public bool TryPick(TunnelConnection? except, out TunnelConnection connection)
    {
        TunnelConnection? best = null;
        var bestLoad = int.MaxValue;
        foreach (var link in _links)
        {
            if (link.Current is { } candidate && candidate != except && candidate.Load < bestLoad)
            {
                best = candidate;
                bestLoad = candidate.Load;
            }
        }

        connection = best!;
        return best is not null;
    }

    /// <summary>Waits until <paramref name="deadline"/> (<see cref="Environment.TickCount64"/>) for a stream to pick; null when none came.</summary>
    public async Task<TunnelConnection?> WaitAsync(TunnelConnection? except, long deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Take the signal before looking, so a stream that connects in between is not missed.
            var signal = Volatile.Read(ref _connected).Task;
            if (TryPick(except, out var connection))
            {
                return connection;
            }

            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return null;
            }

            try
            {
                await signal.WaitAsync(TimeSpan.FromMilliseconds(left), cancellationToken);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.InsecureSkipVerify)
        {
            EdgeSecurityLog.TunnelTlsUnverified(_logger);
        }

        var runs = new Task[_links.Length];
        for (var i = 0; i < runs.Length; i++)
        {
            runs[i] = _links[i].RunAsync(_shutdown.Token);
        }

        _running = Task.WhenAll(runs);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        Shutdown();
        if (_running is not null)
        {
            await _running;
        }

        _shutdown.Dispose();
        _drainExpired.Dispose();
    }

    private void OnConnected(TunnelConnection connection)
        => Interlocked.Exchange(ref _connected, NewSignal()).TrySetResult(connection);

    private void StartDrainTimer()
    {
        try
        {
            _drainExpired.CancelAfter(_options.DrainTimeout);
        }
        catch (ObjectDisposedException)
        {
            // Already disposed.
        }
    }

    private void Shutdown()
    {
        try
        {
            _shutdown.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed.
        }
    }

    private static TaskCompletionSource<TunnelConnection> NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
