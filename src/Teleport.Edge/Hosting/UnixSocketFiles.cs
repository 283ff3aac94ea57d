using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Teleport.Edge.Hosting;

/// <summary>
/// Looks after the socket files of the unix: listeners around Kestrel's bind, which fails on an existing file and
/// creates a new one with the umask's permissions: removes a stale file before the bind, sets --listen-unix-mode
/// after it. Lifecycle hooks run before and after every hosted service's start, Kestrel's included.
/// </summary>
internal sealed class UnixSocketFiles(IOptions<EdgeOptions> options) : IHostedLifecycleService
{
    private readonly string[] _paths = [.. options.Value.ListenOrDefault()
        .Select(text => EdgeListener.TryParse(text, out var listener) ? listener.SocketPath : null)
        .OfType<string>()];

    private readonly UnixFileMode? _mode = TryParseMode(options.Value.ListenUnixMode, out var mode) ? mode : null;

    /// <summary>Reads an octal mode such as "660" or "0660" (at most 0777).</summary>
    public static bool TryParseMode(string? text, [NotNullWhen(true)] out UnixFileMode? mode)
    {
        mode = null;
        if (text is not { Length: >= 3 and <= 4 } || text.AsSpan().ContainsAnyExceptInRange('0', '7'))
        {
            return false;
        }

        var value = 0;
        foreach (var digit in text)
        {
            value = value * 8 + (digit - '0');
        }

        if (value > 0x1FF)
        {
            return false;
        }

        mode = (UnixFileMode)value;
        return true;
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        foreach (var path in _paths)
        {
            RemoveStale(path);
        }

        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        // Between the bind and this call the file has the umask's permissions; where that matters, keep the socket
        // in a directory only the allowed users can enter.
        if (_mode is { } mode && !OperatingSystem.IsWindows())
        {
            foreach (var path in _paths)
            {
                File.SetUnixFileMode(path, mode);
            }
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Deletes a file at <paramref name="path"/> that nothing accepts connections on: the socket of a process that
    /// ended without removing it. Refuses a socket in use and a file with content (connect(2) answers "refused" for
    /// a plain file too, but a socket file is always empty).
    /// </summary>
    /// <exception cref="IOException">The path is in use or is not a socket file; the message says which.</exception>
    private static void RemoveStale(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"unix socket {path} is in use: another process accepts connections on it.");
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Nobody listens: stale, unless it is not a socket at all (checked below).
            }
            catch (SocketException ex)
            {
                throw new IOException($"unix socket {path} exists and cannot be checked: {ex.Message}.", ex);
            }
        }

        if (new FileInfo(path).Length > 0)
        {
            throw new IOException($"unix socket path {path} is a file with content, not a stale socket; it was left alone.");
        }

        File.Delete(path);
    }
}
