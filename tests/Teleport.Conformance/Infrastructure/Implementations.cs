using System.Diagnostics;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// Which implementations the suite tests, and how to start them (docs/conformance.md). Each is a command
/// template; the environment variables replace our own implementations with the ones under test.
/// </summary>
internal static class Implementations
{
    /// <summary>Command of the edge under test: {port} to listen on (HTTP/1.1 on 127.0.0.1), {origin} to tunnel to.</summary>
    public const string EdgeVariable = "TELEPORT_CONFORMANCE_EDGE_CMD";

    /// <summary>Command of the origin under test: {port} to listen on (gRPC, h2c on 127.0.0.1), {upstream} to forward to.</summary>
    public const string OriginVariable = "TELEPORT_CONFORMANCE_ORIGIN_CMD";

    public const string OurEdge = "dotnet {bin}/teleport-edge.dll --listen 127.0.0.1:{port} --origin {origin}";

    /// <summary>A 1 MiB body limit keeps the "near the limit" scenarios small and fast.</summary>
    public const string OurOrigin = "dotnet {bin}/teleport-origin.dll --listen 127.0.0.1:{port} --upstream {upstream} --max-request-body-size 1MiB";

    public const string NodeEdge = "node {repo}/examples/node/edge.js --listen 127.0.0.1:{port} --origin {origin}";

    private static readonly SemaphoreSlim NodeInstall = new(1, 1);

    public static string EdgeUnderTest => FromEnvironment(EdgeVariable) ?? OurEdge;

    public static string OriginUnderTest => FromEnvironment(OriginVariable) ?? OurOrigin;

    /// <summary>
    /// Makes sure examples/node can run: node on PATH, and its npm packages installed (npm ci from the
    /// committed lockfile when node_modules is missing, so one `dotnet test` suffices on a fresh clone).
    /// </summary>
    /// <exception cref="InvalidOperationException">Node.js or npm is missing, or the install failed; the message says what to do.</exception>
    public static async Task EnsureNodeEdgeInstalledAsync()
    {
        await NodeInstall.WaitAsync();
        try
        {
            var folder = Repository.PathOf("examples", "node");
            if (FindOnPath("node") is null)
            {
                throw new InvalidOperationException(
                    "The Node.js edge (examples/node) needs `node` (18 or later) on PATH: install Node.js (e.g. `apt-get install nodejs npm`), then run `npm ci --prefix examples/node`.");
            }

            if (Directory.Exists(Path.Combine(folder, "node_modules", "@grpc", "grpc-js")) && Directory.Exists(Path.Combine(folder, "node_modules", "@grpc", "proto-loader")))
            {
                return;
            }

            var npm = FindOnPath("npm") ?? throw new InvalidOperationException(
                "examples/node/node_modules is missing and `npm` is not on PATH: install npm, then run `npm ci --prefix examples/node`.");
            var (exitCode, output) = await RunAsync(npm, ["ci", "--prefix", folder, "--no-audit", "--no-fund"], TimeSpan.FromMinutes(5));
            if (exitCode != 0)
            {
                throw new InvalidOperationException($"`npm ci --prefix examples/node` failed (exit code {exitCode}); run it by hand to see why, then test again.\n{output}");
            }
        }
        finally
        {
            NodeInstall.Release();
        }
    }

    private static string? FromEnvironment(string name)
        => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    private static string? FindOnPath(string program)
        => (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, string[] args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Repository.Root,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
