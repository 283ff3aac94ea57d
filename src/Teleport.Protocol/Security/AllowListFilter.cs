using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Teleport.Protocol.Security;

/// <summary>
/// Kestrel connection middleware that closes a connection from outside --allow-ip before a byte of it is read:
/// no TLS handshake, no HTTP parsing, no gRPC. Refusals are counted in <see cref="AccessCounters.ConnectionsRefused"/>
/// and logged at most once per <see cref="LogInterval"/>, so a scan cannot flood the log.
/// </summary>
internal sealed class AllowListFilter
{
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly IpAllowList _list;
    private readonly AccessCounters _counters;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private long _nextLogTimestamp;
    private long _suppressed;

    public AllowListFilter(IpAllowList list, AccessCounters counters, ILogger logger, TimeProvider time)
    {
        _list = list;
        _counters = counters;
        _logger = logger;
        _time = time;
    }

    /// <summary>
    /// Puts the filter in front of everything else on <paramref name="listen"/>: call it before UseHttps and any
    /// other Use. Does nothing when <paramref name="entries"/> is empty (every address may connect).
    /// </summary>
    /// <param name="entries">The validated --allow-ip values.</param>
    public static void Apply(ListenOptions listen, IReadOnlyList<string> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        var list = IpAllowList.TryParse(entries, "--allow-ip", out var parsed, out var errors)
            ? parsed
            : throw new InvalidOperationException(string.Join(" ", errors));
        var services = listen.ApplicationServices;
        var filter = new AllowListFilter(list, services.GetRequiredService<AccessCounters>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger(SecurityLog.Category), services.GetService<TimeProvider>() ?? TimeProvider.System);
        listen.Use(next => connection => filter.OnConnectionAsync(connection, next));
    }

    public Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        // Unix-socket peers have no IP address: the socket file's permissions decide who may connect there.
        if (connection.RemoteEndPoint is not IPEndPoint peer || _list.Allows(peer.Address))
        {
            return next(connection);
        }

        _counters.ConnectionRefused();
        var now = _time.GetTimestamp();
        var due = Interlocked.Read(ref _nextLogTimestamp);
        if (now >= due && Interlocked.CompareExchange(ref _nextLogTimestamp, now + (long)(LogInterval.TotalSeconds * _time.TimestampFrequency), due) == due)
        {
            SecurityLog.ConnectionRefused(_logger, peer.ToString(), connection.LocalEndPoint?.ToString() ?? "?", Interlocked.Exchange(ref _suppressed, 0));
        }
        else
        {
            Interlocked.Increment(ref _suppressed);
        }

        // Returning without calling next ends the connection; Abort makes it a reset instead of waiting to drain.
        connection.Abort(new ConnectionAbortedException("The peer's address is not in --allow-ip."));
        return Task.CompletedTask;
    }
}
