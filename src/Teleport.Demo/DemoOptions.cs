using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Teleport.Edge.Hosting;
using Teleport.Protocol.Hosting;

namespace Teleport.Demo;

/// <summary>What the demo run does; parsed from its command line with the services' own parser.</summary>
internal sealed record DemoOptions
{
    /// <summary>Exit code for a wrong command line, as for teleport-edge and teleport-origin.</summary>
    public const int UsageError = ServiceHost.UsageError;

    public const string Help = """
        Usage: teleport-demo [options]
               teleport-demo upstream [--listen ADDRESS]
               teleport-demo --probe URL

        Starts a sample upstream, a teleport-origin and a teleport-edge on 127.0.0.1 in this process, sends
        realistic HTTP/1.1 traffic (OpenRTB-like bids and product API calls) through the edge with a real
        HttpClient, checks every answer, and reports the bytes on the wire: plain HTTP between client and edge
        against the one compressed, batched gRPC stream between edge and origin. Exits 1 if a request or a
        check failed.

        Options:
          --requests N          Requests to send (default: 5000).
          --concurrency N       Requests in flight at once, one client connection each (default: 64).
          --compression MODE    Passed to both edge and origin: what their --compression accepts,
                                auto, brotli, zstd, gzip or none (default: auto).
          --serve               After the run, keep serving and print the edge's address and a curl line
                                until Ctrl+C.
          -h, --help            Show this help and exit.

        teleport-demo upstream runs only the sample upstream (POST /bid, GET /api/items/{id}, GET /healthz):
          --listen ADDRESS      Where it listens (default: 127.0.0.1:8081; or the TELEPORT_LISTEN variable).

        teleport-demo --probe URL sends one GET and exits 0 on a 2xx answer, 1 otherwise (the containers'
        health check, e.g. --probe http://127.0.0.1:8081/healthz).

        """;

    private const string S = "Demo:";

    /// <summary>What the edge's --compression accepts ("auto|brotli|zstd|gzip|none"), taken from its definition so the two cannot drift.</summary>
    private static readonly string[] CompressionModes = EdgeApp.Definition.Options.First(o => o.Name == "compression").ValueName.Split('|');

    private static readonly CliOption[] Options =
    [
        new("requests", S + nameof(Requests), "N", ""),
        new("concurrency", S + nameof(Concurrency), "N", ""),
        new("compression", S + nameof(Compression), "MODE", ""),
        new("serve", S + nameof(Serve), "", "", IsSwitch: true),
    ];

    /// <summary>Requests to send. Default 5000, at least 1.</summary>
    public int Requests { get; init; } = 5000;

    /// <summary>Requests in flight at once. Default 64, at least 1.</summary>
    public int Concurrency { get; init; } = 64;

    /// <summary>Passed as --compression to the edge and the origin, e.g. "auto" or "none". Default auto, as theirs.</summary>
    public string Compression { get; init; } = "auto";

    /// <summary>Keep serving after the run until Ctrl+C.</summary>
    public bool Serve { get; init; }

    /// <summary>
    /// Parses the command line. False with a null <paramref name="error"/> when help was asked for,
    /// false with an error for a wrong command line.
    /// </summary>
    public static bool TryParse(IReadOnlyList<string> args, [NotNullWhen(true)] out DemoOptions? options, out string? error)
    {
        options = null;
        var parsed = CommandLine.Parse(args, Options);
        error = parsed.Error;
        if (parsed.HelpRequested || error is not null)
        {
            return false;
        }

        var result = new DemoOptions();
        foreach (var (key, value) in parsed.Values)
        {
            switch (key[S.Length..])
            {
                case nameof(Requests):
                    if (!TryPositive(value, out var requests))
                    {
                        error = $"--requests must be a positive number, not '{value}'";
                        return false;
                    }

                    result = result with { Requests = requests };
                    break;
                case nameof(Concurrency):
                    if (!TryPositive(value, out var concurrency))
                    {
                        error = $"--concurrency must be a positive number, not '{value}'";
                        return false;
                    }

                    result = result with { Concurrency = concurrency };
                    break;
                case nameof(Compression):
                    if (value is null || !CompressionModes.Contains(value))
                    {
                        error = $"--compression must be one of {string.Join(", ", CompressionModes)}, not '{value}'";
                        return false;
                    }

                    result = result with { Compression = value };
                    break;
                case nameof(Serve):
                    result = result with { Serve = value == "true" };
                    break;
            }
        }

        options = result;
        return true;
    }

    private static bool TryPositive(string? text, out int value)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;
}
