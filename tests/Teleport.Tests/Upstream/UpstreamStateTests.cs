using Teleport.Origin.Upstream;

namespace Teleport.Tests.Upstream;

public sealed class UpstreamStateTests
{
    [Fact]
    public void RecordAnswer_FailuresBelowMinimumAnswers_DoesNotTrip()
    {
        var upstream = BalancingPolicyTests.Create(1)[0];

        for (var i = 1; i < UpstreamState.MinAnswers; i++)
        {
            Assert.False(upstream.RecordAnswer(failed: true), $"tripped after {i} answers");
        }

        Assert.True(upstream.RecordAnswer(failed: true));
    }

    [Fact]
    public void RecordAnswer_HalfOfTheLastTwentyFailed_Trips()
    {
        var upstream = BalancingPolicyTests.Create(1)[0];
        for (var i = 0; i < 40; i++)
        {
            upstream.RecordAnswer(failed: false);
        }

        // 9 of the last 20 failed: under half. The 10th makes half.
        for (var i = 0; i < 9; i++)
        {
            Assert.False(upstream.RecordAnswer(failed: true));
        }

        Assert.Equal((9, 20), upstream.Answers);
        Assert.True(upstream.RecordAnswer(failed: true));
        Assert.Equal((10, 20), upstream.Answers);
    }

    [Fact]
    public void RecordAnswer_OldFailuresLeaveTheWindow()
    {
        var upstream = BalancingPolicyTests.Create(1)[0];
        for (var i = 0; i < 9; i++)
        {
            upstream.RecordAnswer(failed: true);
        }

        for (var i = 0; i < UpstreamState.Window; i++)
        {
            Assert.False(upstream.RecordAnswer(failed: false));
        }

        Assert.Equal((0, 20), upstream.Answers);
    }

    [Fact]
    public void RecordAnswer_SuccessesOnly_NeverTrip()
    {
        var upstream = BalancingPolicyTests.Create(1)[0];

        for (var i = 0; i < 100; i++)
        {
            Assert.False(upstream.RecordAnswer(failed: false));
        }
    }

    [Fact]
    public void ForgetAnswers_StartsTheCountAgain()
    {
        var upstream = BalancingPolicyTests.Create(1)[0];
        for (var i = 0; i < 15; i++)
        {
            upstream.RecordAnswer(failed: true);
        }

        upstream.ForgetAnswers();

        Assert.Equal((0, 0), upstream.Answers);
        Assert.False(upstream.RecordAnswer(failed: true));
    }
}
