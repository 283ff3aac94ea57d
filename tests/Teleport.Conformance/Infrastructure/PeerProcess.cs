using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// An implementation under test, run as its own process from a command template such as
/// "dotnet {bin}/teleport-edge.dll --listen 127.0.0.1:{port} --origin {origin}". The suite picks a free
/// port for {port}, fills in the other placeholders, and waits until the process accepts TCP connections there.
/// </summary>
internal sealed class PeerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private PeerProcess(Process process, string name, string commandLine, int port)
    {
        _process = process;
        Name = name;
        CommandLine = commandLine;
        Port = port;
    }

    public string Name { get; }

    /// <summary>The command as run, placeholders filled in.</summary>
    public string CommandLine { get; }

    /// <summary>The loopback port the process listens on.</summary>
    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>Everything the process printed so far, both streams, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>
    /// Starts <paramref name="template"/> with <paramref name="values"/> (and {port}, {bin}, {repo}) filled in,
    /// and returns once it accepts connections on {port}.
    /// </summary>
    /// <exception cref="InvalidOperationException">It exited, or did not listen in time; the message has its output.</exception>
    public static async Task<PeerProcess> StartAsync(string name, string template, IReadOnlyDictionary<string, string> values)
    {
        var port = FreePort.Next();
        var all = new Dictionary<string, string>(values)
        {
            ["port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["bin"] = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar),
            ["repo"] = Repository.Root,
        };
        var args = CommandTemplate.Expand(template, all);
        var start = new ProcessStartInfo(args[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Repository.Root,
        };
        foreach (var arg in args.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{name}: could not start '{args[0]}'.");
        var peer = new PeerProcess(process, name, string.Join(' ', args), port);
        process.OutputDataReceived += (_, e) => peer.Capture(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Capture(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await peer.WaitUntilListeningAsync();
        }
        catch
        {
            await peer.DisposeAsync();
            throw;
        }

        return peer;
    }

    /// <summary>Throws, with the process's output, when the process has exited (a crash would otherwise look like a protocol failure).</summary>
    public void AssertRunning()
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode}. Command: {CommandLine}\n{Output}");
        }
    }

    /// <summary>Asks the process to stop as a service manager would (SIGTERM), without waiting for it.</summary>
    public void Terminate()
    {
        if (Kill(_process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void Capture(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }

    private async Task WaitUntilListeningAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            AssertRunning();
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port));
                return;
            }
            catch (SocketException) when (deadline.Elapsed < StartTimeout)
            {
                // Not listening yet: processes take a moment to start.
                await Task.Delay(50);
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException($"{Name} did not listen on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds} s ({ex.SocketErrorCode}). Command: {CommandLine}\n{Output}");
            }
        }
    }
}

/// <summary>Command templates: whitespace-separated words, "double quotes" group words, {name} is replaced.</summary>
internal static class CommandTemplate
{
    /// <exception cref="InvalidOperationException">A placeholder has no value, or the template is empty.</exception>
    public static List<string> Expand(string template, IReadOnlyDictionary<string, string> values)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var quoted = false;
        var inWord = false;
        foreach (var c in template)
        {
            if (c == '"')
            {
                quoted = !quoted;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (inWord)
                {
                    words.Add(Fill(word.ToString(), values));
                    word.Clear();
                    inWord = false;
                }
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            words.Add(Fill(word.ToString(), values));
        }

        return words.Count > 0 ? words : throw new InvalidOperationException("The command template is empty.");
    }

    private static string Fill(string word, IReadOnlyDictionary<string, string> values)
    {
        var result = new StringBuilder();
        var i = 0;
        while (i < word.Length)
        {
            var open = word.IndexOf('{', i);
            var close = open < 0 ? -1 : word.IndexOf('}', open);
            if (close < 0)
            {
                result.Append(word, i, word.Length - i);
                break;
            }

            var name = word[(open + 1)..close];
            result.Append(word, i, open - i);
            result.Append(values.TryGetValue(name, out var value)
                ? value
                : throw new InvalidOperationException($"Unknown placeholder {{{name}}} in '{word}'; known: {string.Join(", ", values.Keys.Select(k => "{" + k + "}"))}."));
            i = close + 1;
        }

        return result.ToString();
    }
}
