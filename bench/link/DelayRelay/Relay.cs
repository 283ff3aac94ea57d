using System.Net;
using System.Net.Sockets;

namespace Teleport.DelayRelay;

/// <summary>Accepts connections and runs a <see cref="DelayedPipe"/> each way for every one of them.</summary>
internal sealed class Relay(IPEndPoint listen, IPEndPoint target, TimeSpan delay)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(listen);
        // wrk opens hundreds of connections at once.
        listener.Listen(4096);
        while (true)
        {
            var client = await listener.AcceptAsync(cancellationToken);
            _ = ServeAsync(client, cancellationToken);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken cancellationToken)
    {
        using var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var _ = client;
        try
        {
            // The relay stands for a wire: it must not add Nagle's wait to the delay it was asked for.
            client.NoDelay = true;
            upstream.NoDelay = true;
            await upstream.ConnectAsync(target, cancellationToken);
            using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var up = new DelayedPipe(client, upstream, delay).RunAsync(abort.Token);
            var down = new DelayedPipe(upstream, client, delay).RunAsync(abort.Token);
            // A failed direction (reset, refused write) ends both: a wire has no half-broken state.
            var first = await Task.WhenAny(up, down);
            if (!await first)
            {
                abort.Cancel();
            }

            await Task.WhenAll(up, down);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
        }
    }
}
