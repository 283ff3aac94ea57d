using System.Net;
using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of another address. <see cref="FreezeExisting"/> makes the connections open now
/// go silent without closing them (a half-open connection: the peer is gone, no reset arrives), while connections
/// made afterwards are relayed normally.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(Socket Client, Socket Server, CancellationTokenSource Pump)> _pairs = [];
    private readonly Lock _lock = new();
    private readonly Task _accepting;

    public TcpRelay(IPEndPoint target)
    {
        _target = target;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>Connections accepted so far.</summary>
    public int Accepted { get; private set; }

    /// <summary>Stops moving bytes on every connection open now; the sockets stay open and unread.</summary>
    public void FreezeExisting()
    {
        lock (_lock)
        {
            foreach (var pair in _pairs)
            {
                pair.Pump.Cancel();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception)
        {
        }

        lock (_lock)
        {
            foreach (var (client, server, pump) in _pairs)
            {
                pump.Cancel();
                client.Dispose();
                server.Dispose();
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            Accepted++;
            var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await server.ConnectAsync(_target, _stop.Token);
            var pump = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            lock (_lock)
            {
                _pairs.Add((client, server, pump));
            }

            _ = PumpAsync(client, server, pump.Token);
            _ = PumpAsync(server, client, pump.Token);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to, CancellationToken frozen)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, frozen);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, frozen);
            }
        }
        catch (Exception)
        {
            // Frozen (cancelled) or closed: either way this direction stops moving bytes.
        }
    }
}
