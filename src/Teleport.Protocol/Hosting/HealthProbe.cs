namespace Teleport.Protocol.Hosting;

/// <summary>
/// "PROGRAM --probe URL": one GET, exit 0 on a 2xx answer and 1 otherwise, for container health checks
/// (HEALTHCHECK, compose's healthcheck.test). The runtime images carry no curl or wget, and adding one for
/// this would grow every image and its attack surface; the program that is already there can ask.
/// </summary>
/// <remarks>
/// Checked before the service's own command line is parsed, so it never builds a host or opens a port, and
/// it adds no option a service could be configured with (nor a TELEPORT_* variable).
/// </remarks>
internal static class HealthProbe
{
    /// <summary>Exit code when the URL answered 2xx.</summary>
    public const int Healthy = 0;

    /// <summary>Exit code when it answered anything else, or not at all.</summary>
    public const int Unhealthy = 1;

    private const string Flag = "--probe";

    /// <summary>Longest wait for the answer; health checkers give up later (compose's timeout is 30 s by default).</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>The --help lines, indented as the service's own options.</summary>
    public const string HelpText = """

        Health check (for containers, which have no curl):
          --probe URL       GET URL once and exit: 0 on a 2xx answer, 1 otherwise (printing why), 2 when the
                            URL is not an absolute http:// or https:// URL. Starts no service; give no other
                            option. Example: --probe http://127.0.0.1:9100/readyz

        """;

    /// <summary>Whether <paramref name="args"/> ask for a probe ("--probe URL" or "--probe=URL" first).</summary>
    public static bool IsRequested(IReadOnlyList<string> args)
        => args.Count > 0 && (args[0] == Flag || args[0].StartsWith(Flag + "=", StringComparison.Ordinal));

    /// <summary>Runs the probe; returns the process exit code and writes one line to stdout (healthy) or stderr.</summary>
    public static async Task<int> RunAsync(string program, IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        var url = args[0] == Flag ? (args.Count == 2 ? args[1] : null) : args.Count == 1 ? args[0][(Flag.Length + 1)..] : null;
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            await error.WriteLineAsync($"{program}: {Flag} takes one absolute http:// or https:// URL and no other option");
            return ServiceHost.UsageError;
        }

        // No proxy: a probe asks the process next to it, whatever HTTP_PROXY the container inherited.
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { Timeout = Timeout };
        try
        {
            using var response = await http.GetAsync(uri);
            var status = $"{(int)response.StatusCode} {response.ReasonPhrase}";
            if (response.IsSuccessStatusCode)
            {
                await output.WriteLineAsync($"{program}: {uri}: {status}");
                return Healthy;
            }

            // /readyz says why in its JSON body: keep the start of it.
            var body = await response.Content.ReadAsStringAsync();
            body = body.Length > 200 ? body[..200] + "..." : body;
            await error.WriteLineAsync($"{program}: {uri}: {status} {body.Trim()}".TrimEnd());
            return Unhealthy;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            var why = ex is TaskCanceledException ? $"no answer within {Timeout.TotalSeconds:0} s" : ex.Message;
            await error.WriteLineAsync($"{program}: {uri}: {why}");
            return Unhealthy;
        }
    }
}
