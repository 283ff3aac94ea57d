using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>The command lines as a user meets them: --help, a typo, a missing or bad value.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("teleport-edge", new[] { "--listen", "--origin", "--compression", "--request-timeout", "--route-timeout", "--tunnel-wait", "--max-request-body-size", "--forwarded-headers", "TELEPORT_ORIGIN", "--listen-cert", "--listen-key", "--listen-unix-mode", "https://0.0.0.0:8443", "unix:/run/teleport/edge.sock" })]
    [InlineData("teleport-origin", new[] { "--listen", "--upstream", "--compression", "--request-timeout", "--max-concurrent", "--host-header", "TELEPORT_UPSTREAM", "--upstream-ca", "--upstream-sni", "--upstream-insecure", "h2c://grpc:5000", "h2c+unix:/path/to.sock" })]
    public async Task Help_ListsEveryOptionAndExitsZero(string service, string[] expected)
    {
        var (exitCode, stdout, _) = await ServiceProcess.RunAsync(service, "--help");

        Assert.Equal(0, exitCode);
        Assert.StartsWith($"Usage: {service} [options]", stdout);
        Assert.All(expected, text => Assert.Contains(text, stdout));
    }

    [Fact]
    public async Task UnknownOption_ExitsTwoWithOneLineNamingIt()
    {
        var (exitCode, stdout, stderr) = await ServiceProcess.RunAsync("teleport-edge", "--lisen", "127.0.0.1:0");

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        Assert.Equal("teleport-edge: unknown option '--lisen' (did you mean '--listen'?)", stderr.TrimEnd());
    }

    [Fact]
    public async Task OriginWithoutUpstream_ExitsTwoSayingUpstreamIsRequired()
    {
        var (exitCode, _, stderr) = await ServiceProcess.RunAsync("teleport-origin", "--listen", "127.0.0.1:0");

        Assert.Equal(2, exitCode);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains("--upstream is required", stderr);
    }

    [Theory]
    [InlineData("teleport-edge", "--compression", "zip", "teleport-edge: invalid value 'zip' for --compression (expected auto|brotli|zstd|gzip|none")]
    [InlineData("teleport-origin", "--compression-level", "Fast", "teleport-origin: invalid value 'Fast' for --compression-level (expected Fastest|Optimal|SmallestSize")]
    public async Task BadValue_ExitsTwoNamingTheOption(string service, string option, string value, string expected)
    {
        string[] required = service == "teleport-origin" ? ["--upstream", "http://127.0.0.1:1"] : [];
        var (exitCode, _, stderr) = await ServiceProcess.RunAsync(service, ["--listen", "127.0.0.1:0", .. required, option, value]);

        Assert.Equal(2, exitCode);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith(expected, stderr);
    }

    [Fact]
    public async Task SeveralBadValues_AreReportedTogether()
    {
        var (exitCode, _, stderr) = await ServiceProcess.RunAsync("teleport-edge", "--listen", "nowhere", "--origin", "ftp://x", "--max-pending", "0");

        Assert.Equal(2, exitCode);
        Assert.Contains("--listen 'nowhere'", stderr);
        Assert.Contains("--origin 'ftp://x'", stderr);
        Assert.Contains("--max-pending must be positive", stderr);
    }

    [Fact]
    public async Task BadRouteTimeouts_ExitTwoNamingEachEntry()
    {
        var (exitCode, _, stderr) = await ServiceProcess.RunAsync("teleport-edge", "--listen", "127.0.0.1:0",
            "--route-timeout", "reports=5m", "--route-timeout", "/a=soon", "--route-timeout", "/b=1s", "--route-timeout", "/b=2s");

        Assert.Equal(2, exitCode);
        Assert.Contains("--route-timeout 'reports=5m' is not PREFIX=DURATION", stderr);
        Assert.Contains("--route-timeout '/a=soon' is not PREFIX=DURATION", stderr);
        Assert.Contains("--route-timeout gives the prefix /b twice", stderr);
    }
}
