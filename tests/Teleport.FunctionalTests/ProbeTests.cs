using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>"--probe URL", the containers' health check: the built programs as processes, against real admin listeners.</summary>
public sealed class ProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Probe_ReadyEdgeAndOrigin_ExitZero_EdgeWithoutTunnel_ExitsOneSayingWhy()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, app => app.Run(c => c.Response.WriteAsync("up")));
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--admin", "127.0.0.1:0");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--admin", "127.0.0.1:0");
        await using var lonely = await TestServer.StartEdgeAsync(output, new Uri($"http://127.0.0.1:{FreePort.Refusing()}"), ["--admin", "127.0.0.1:0"], waitForTunnel: false);

        var ready = await ServiceProcess.RunAsync("teleport-edge", "--probe", new Uri(edge.AdminAddress, "/readyz").ToString());
        var originReady = await ServiceProcess.RunAsync("teleport-origin", $"--probe={new Uri(origin.AdminAddress, "/readyz")}");
        var alive = await ServiceProcess.RunAsync("teleport-edge", "--probe", new Uri(lonely.AdminAddress, "/healthz").ToString());
        var notReady = await ServiceProcess.RunAsync("teleport-edge", "--probe", new Uri(lonely.AdminAddress, "/readyz").ToString());

        Assert.True(ready.ExitCode == 0, ready.StandardError);
        Assert.Contains("200 OK", ready.StandardOutput);
        Assert.True(originReady.ExitCode == 0, originReady.StandardError);
        Assert.True(alive.ExitCode == 0, alive.StandardError);
        Assert.Equal(1, notReady.ExitCode);
        // The readiness JSON travels into `docker inspect`'s health log.
        Assert.Contains("503 Service Unavailable {\"ready\":false", notReady.StandardError);
    }

    [Fact]
    public async Task Probe_NothingListening_ExitsOne_DemoProbesTheSampleUpstream()
    {
        var closed = $"http://127.0.0.1:{FreePort.Refusing()}/readyz";

        var refused = await ServiceProcess.RunAsync("teleport-origin", "--probe", closed);
        var demo = await ServiceProcess.RunAsync("Teleport.Demo", "--probe", closed);

        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith($"teleport-origin: {closed}: ", refused.StandardError);
        Assert.Equal(1, demo.ExitCode);
        Assert.StartsWith($"teleport-demo: {closed}: ", demo.StandardError);
    }

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    [InlineData("Teleport.Demo")]
    public async Task Probe_NoUrlOrMoreOptions_ExitsTwo(string program)
    {
        var none = await ServiceProcess.RunAsync(program, "--probe");
        var relative = await ServiceProcess.RunAsync(program, "--probe", "/readyz");
        var more = await ServiceProcess.RunAsync(program, "--probe", "http://127.0.0.1:1/readyz", "--listen", "127.0.0.1:0");

        Assert.Equal(2, none.ExitCode);
        Assert.Equal(2, relative.ExitCode);
        Assert.Equal(2, more.ExitCode);
        Assert.Contains("--probe takes one absolute http:// or https:// URL", more.StandardError);
    }

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    [InlineData("Teleport.Demo")]
    public async Task Help_ListsProbe(string program)
    {
        var (exitCode, stdout, _) = await ServiceProcess.RunAsync(program, "--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("--probe URL", stdout);
    }
}
