using System.Collections.Concurrent;
using System.Diagnostics;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// A built program (dotnet DLL ARGS) running until disposed, with an environment of its own: the test
/// process's, without any TELEPORT_* or ASP.NET Core URL variable, plus the ones given.
/// </summary>
internal sealed class BackgroundProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly string _name;

    private BackgroundProcess(string name, Process process)
    {
        _name = name;
        _process = process;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The program's process id.</summary>
    public int Id => _process.Id;

    /// <summary>The program's resident memory now.</summary>
    public long WorkingSet
    {
        get
        {
            _process.Refresh();
            return _process.WorkingSet64;
        }
    }

    /// <summary>What the program printed so far, stdout and stderr interleaved.</summary>
    public string Output => string.Join('\n', _lines);

    /// <param name="launcher">A command the program runs under, e.g. ["ip", "netns", "exec", "ns1"]; it must exec the program.</param>
    public static BackgroundProcess Start(string name, string dll, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string>> environment, IReadOnlyList<string>? launcher = null)
    {
        var start = Describe(dll, args, environment, launcher);
        var process = new Process { StartInfo = start };
        var running = new BackgroundProcess(name, process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) running._lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) running._lines.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return running;
    }

    /// <summary>
    /// The address a service started with --listen 127.0.0.1:0 bound, read from its "listening on" log line (in
    /// either log format); a port chosen by the kernel cannot be taken by another test meanwhile, as a port
    /// picked free beforehand can.
    /// </summary>
    public async Task<Uri> ListeningAddressAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var match = System.Text.RegularExpressions.Regex.Match(Output, @"listening on (http://127\.0\.0\.1:[0-9]+)");
            if (match.Success)
            {
                return new Uri(match.Groups[1].Value);
            }

            if (HasExited || deadline.Elapsed > Teleport.Testing.TaskExtensions.DefaultTimeoutSpan)
            {
                throw new InvalidOperationException($"{_name} did not say where it listens:\n{Output}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Runs a short command (a health check) in the same kind of environment; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string dll, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string>> environment)
    {
        using var process = Process.Start(Describe(dll, args, environment))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().DefaultTimeout();
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, (await stdout + await stderr).Trim());
    }

    /// <summary>Stops the program and writes its output to <paramref name="output"/>.</summary>
    public async Task StopAsync(ITestOutputHelper output)
    {
        await DisposeAsync();
        output.WriteLine($"--- {_name} (exit {_process.ExitCode})");
        foreach (var line in _lines)
        {
            output.WriteLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync().DefaultTimeout();
    }

    private static ProcessStartInfo Describe(string dll, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string>> environment, IReadOnlyList<string>? launcher = null)
    {
        var start = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (launcher is { Count: > 0 })
        {
            foreach (var arg in launcher.Skip(1))
            {
                start.ArgumentList.Add(arg);
            }

            start.ArgumentList.Add("dotnet");
        }

        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var key in start.Environment.Keys.Where(IsConfiguration).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    // What a container would not inherit from this machine: the services' own settings and Kestrel's URLs.
    private static bool IsConfiguration(string key)
        => key.StartsWith("TELEPORT_", StringComparison.Ordinal) || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || key == "HEALTHCHECK_URL";
}
