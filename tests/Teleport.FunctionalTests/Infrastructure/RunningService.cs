using System.Diagnostics;
using System.Net.Sockets;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>A built service (teleport-origin, teleport-edge) running as its own process until killed or disposed.</summary>
internal sealed class RunningService : IDisposable
{
    private readonly Process _process;

    private RunningService(Process process) => _process = process;

    /// <summary>Starts the service and returns once <paramref name="port"/> on 127.0.0.1 accepts connections.</summary>
    public static async Task<RunningService> StartAsync(string assembly, int port, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, assembly + ".dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var service = new RunningService(Process.Start(start)!);
        // Drained so that a full pipe never blocks the service.
        service._process.OutputDataReceived += static (_, _) => { };
        service._process.ErrorDataReceived += static (_, _) => { };
        service._process.BeginOutputReadLine();
        service._process.BeginErrorReadLine();
        await WaitForPortAsync(port).DefaultTimeout();
        return service;
    }

    /// <summary>Ends the process at once (SIGKILL): no drain, no goodbye on its connections.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    private static async Task WaitForPortAsync(int port)
    {
        while (true)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }
    }
}
