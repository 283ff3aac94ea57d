using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>The README's first command: the demo runs end to end and exits 0.</summary>
public sealed class DemoTests
{
    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public async Task Demo_RunsTrafficThroughTheTunnel_ReportsSavingsAndExitsZero(string compression)
    {
        var (exitCode, stdout, stderr) = await ServiceProcess.RunAsync("Teleport.Demo", "--requests", "400", "--concurrency", "16", "--compression", compression);

        Assert.True(exitCode == 0, $"exit {exitCode}\n{stdout}\n{stderr}");
        Assert.Contains("errors             0", stdout);
        Assert.Contains("tunnel / plain", stdout);
        Assert.Contains("1 TCP connection, 1 gRPC stream", stdout);
        Assert.Contains("PASS", stdout);
    }

    [Fact]
    public async Task Demo_WrongOption_ExitsTwo()
    {
        var (exitCode, _, stderr) = await ServiceProcess.RunAsync("Teleport.Demo", "--requets", "10");

        Assert.Equal(2, exitCode);
        Assert.Contains("--requets", stderr);
    }
}
