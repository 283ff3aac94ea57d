using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream;
using Teleport.Origin.Upstream.Health;

namespace Teleport.Tests.Upstream;

public sealed class UpstreamHealthTests
{
    private readonly ManualTime _time = new();

    [Fact]
    public void ConnectFailed_TakesItOutForTheDownTimeThenBack()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");
        var dead = selector.States[0];

        health.ConnectFailed(dead, "Connection refused");

        Assert.False(health.IsHealthy(dead));
        Assert.Equal(1, health.CountHealthy());
        for (var i = 0; i < 50; i++)
        {
            Assert.Same(selector.States[1], selector.Pick());
        }

        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(health.IsHealthy(dead));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(health.IsHealthy(dead));
        Assert.True(dead.ReportedDown);
        health.Answered(dead, failed: false);
        Assert.False(dead.ReportedDown);
    }

    [Fact]
    public void ConnectFailed_LastOne_LeavesNoneAndNamesTheFailure()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");

        health.ConnectFailed(selector.States[0], "Connection refused");
        health.ConnectFailed(selector.States[1], "No route to host");

        Assert.Null(selector.Pick());
        Assert.Equal("all 2 upstreams are down (last: http://10.0.0.2:80: No route to host)", health.AllDown);
    }

    [Fact]
    public void Pick_ExcludingTheOnlyHealthyOne_ReturnsNull()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");
        health.ConnectFailed(selector.States[0], "Connection refused");

        Assert.Null(selector.Pick(exclude: selector.States[1]));
        Assert.Same(selector.States[1], selector.Pick());
    }

    [Fact]
    public void Answered_Mostly5xxWithAnotherHealthy_TakesItOut()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");
        var failing = selector.States[0];

        for (var i = 0; i < UpstreamState.MinAnswers; i++)
        {
            health.Answered(failing, failed: true);
        }

        Assert.False(health.IsHealthy(failing));
        Assert.True(health.IsHealthy(selector.States[1]));
    }

    [Fact]
    public void Answered_Only5xxFromTheLastHealthy_KeepsItIn()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");
        health.ConnectFailed(selector.States[1], "Connection refused");
        var last = selector.States[0];

        for (var i = 0; i < 5 * UpstreamState.MinAnswers; i++)
        {
            health.Answered(last, failed: true);
        }

        Assert.True(health.IsHealthy(last));
        Assert.Same(last, selector.Pick());
    }

    [Fact]
    public void Answered_Only5xxFromASingleUpstream_KeepsItIn()
    {
        var (selector, health) = Create("http://10.0.0.1:80");

        for (var i = 0; i < 5 * UpstreamState.MinAnswers; i++)
        {
            health.Answered(selector.States[0], failed: true);
        }

        Assert.Same(selector.States[0], selector.Pick());
    }

    [Fact]
    public void CheckFailed_KeepsItOutPastTheDownTimeUntilACheckPasses()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");
        var checkedOut = selector.States[0];

        health.CheckFailed(checkedOut, "health check /healthz answered 503");
        _time.Advance(TimeSpan.FromMinutes(5));

        Assert.False(health.IsHealthy(checkedOut));
        health.CheckPassed(checkedOut);
        Assert.True(health.IsHealthy(checkedOut));
        Assert.False(checkedOut.ReportedDown);
    }

    [Fact]
    public void CheckPassed_DuringAPassiveDownTime_WaitsForIt()
    {
        var (selector, health) = Create("http://10.0.0.1:80", "http://10.0.0.2:80");
        var upstream = selector.States[0];
        health.ConnectFailed(upstream, "Connection refused");

        health.CheckPassed(upstream);

        Assert.False(health.IsHealthy(upstream));
        _time.Advance(TimeSpan.FromSeconds(10));
        health.CheckPassed(upstream);
        Assert.True(health.IsHealthy(upstream));
        Assert.False(upstream.ReportedDown);
    }

    private (UpstreamSelector Selector, UpstreamHealth Health) Create(params string[] upstreams)
    {
        var options = Options.Create(new OriginOptions { Upstreams = [.. upstreams], UpstreamBalance = "round-robin" });
        var selector = new UpstreamSelector(options, _time);
        return (selector, new UpstreamHealth(selector, options, _time, NullLogger<UpstreamHealth>.Instance));
    }
}
