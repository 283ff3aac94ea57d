using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// Creates sockets inside a named network namespace, so this test process can be a client on one of the
/// <see cref="ShapedLink"/>'s hosts. Linux gives a socket the network namespace of the thread that creates it, and
/// the socket keeps it wherever it is used afterwards; so one thread moves into the namespace (setns) and creates
/// every socket, and the rest of the process never leaves its own namespace.
/// </summary>
internal sealed class NamespaceSockets : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private readonly BlockingCollection<TaskCompletionSource<Socket>> _requests = [];
    private readonly Thread _thread;

    public NamespaceSockets(string name)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _thread = new Thread(() => Serve(name, entered)) { IsBackground = true, Name = "netns " + name };
        _thread.Start();
        entered.Task.Wait(TimeSpan.FromSeconds(10));
        entered.Task.GetAwaiter().GetResult();
    }

    /// <summary>A connected TCP socket to <paramref name="endPoint"/>, as seen from inside the namespace.</summary>
    public async Task<Socket> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var created = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests.Add(created, cancellationToken);
        var socket = await created.Task.WaitAsync(cancellationToken);
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(endPoint, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An HTTP client whose connections start inside the namespace; one connection per concurrent request.</summary>
    public HttpClient CreateHttpClient(int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var address = IPAddress.Parse(context.DnsEndPoint.Host);
            return new NetworkStream(await ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken), ownsSocket: true);
        },
    })
    { Timeout = TimeSpan.FromSeconds(60) };

    public void Dispose()
    {
        // The thread ends, and with it the only thread that was ever in the namespace.
        _requests.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(10));
    }

    private void Serve(string name, TaskCompletionSource entered)
    {
        try
        {
            using var handle = File.OpenHandle("/var/run/netns/" + name);
            if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
            {
                throw new InvalidOperationException($"setns({name}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        catch (Exception e)
        {
            entered.SetException(e);
            return;
        }

        entered.SetResult();
        foreach (var request in _requests.GetConsumingEnumerable())
        {
            try
            {
                request.SetResult(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
            }
            catch (Exception e)
            {
                request.SetException(e);
            }
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);
}
