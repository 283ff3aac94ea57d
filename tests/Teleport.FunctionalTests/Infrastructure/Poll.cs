namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>Waiting for what a test cannot be told of, e.g. an upstream noticing its connection closed.</summary>
internal static class Poll
{
    /// <summary>Polls until <paramref name="condition"/> holds; fails after 10 s saying what is left.</summary>
    public static async Task UntilAsync(Func<bool> condition, Func<string> state)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (!condition())
        {
            Assert.True(Environment.TickCount64 < deadline, state());
            await Task.Delay(10);
        }
    }
}
