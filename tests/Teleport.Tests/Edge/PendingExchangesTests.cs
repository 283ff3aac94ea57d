using Teleport.Edge.Tunnel;
using Teleport.Tests.TestSupport;

namespace Teleport.Tests.Edge;

public sealed class PendingExchangesTests
{
    [Fact]
    public void TryAdd_Sequence_IdsStartAtOneAndIncrease()
    {
        var pending = new PendingExchanges();

        var ids = Enumerable.Range(0, 3).Select(_ => pending.TryAdd(deadline: 100, body: null)!.Id);

        Assert.Equal([1UL, 2UL, 3UL], ids);
        Assert.Equal(3, pending.Count);
    }

    [Fact]
    public void TryAdd_AfterRemove_NeverReusesAnId()
    {
        var pending = new PendingExchanges();
        var first = pending.TryAdd(100, null)!;
        pending.TryRemove(first.Id, out _);

        var second = pending.TryAdd(100, null)!;

        Assert.Equal(2UL, second.Id);
    }

    [Fact]
    public void TryAdd_KeepsDeadline()
        => Assert.Equal(12345, new PendingExchanges().TryAdd(12345, null)!.Deadline);

    [Fact]
    public async Task TryAdd_Concurrent_GivesEveryExchangeADistinctId()
    {
        var pending = new PendingExchanges();
        const int PerTask = 1000;

        var added = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            Enumerable.Range(0, PerTask).Select(_ => pending.TryAdd(100, null)!.Id).ToArray()))).DefaultTimeout();

        Assert.Equal(Enumerable.Range(1, 8 * PerTask).Select(i => (ulong)i), added.SelectMany(ids => ids).Order());
        Assert.Equal(8 * PerTask, pending.Count);
    }

    [Fact]
    public void TryRemove_KnownId_ReturnsTheExchangeOnce()
    {
        var pending = new PendingExchanges();
        var exchange = pending.TryAdd(100, null)!;

        Assert.True(pending.TryRemove(exchange.Id, out var removed));
        Assert.Same(exchange, removed);
        Assert.False(pending.TryRemove(exchange.Id, out var again));
        Assert.Null(again);
        Assert.Equal(0, pending.Count);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(2UL)]
    [InlineData(ulong.MaxValue)]
    public void TryRemove_UnknownId_ReturnsFalse(ulong id)
    {
        var pending = new PendingExchanges();
        pending.TryAdd(100, null);

        Assert.False(pending.TryRemove(id, out var removed));
        Assert.Null(removed);
        Assert.Equal(1, pending.Count);
    }

    [Fact]
    public void RemoveExpired_MixedDeadlines_MovesThoseAtOrBeforeNow()
    {
        var pending = new PendingExchanges();
        var early = pending.TryAdd(100, null)!;
        var due = pending.TryAdd(200, null)!;
        var late = pending.TryAdd(300, null)!;
        var expired = new List<PendingExchange>();

        pending.RemoveExpired(now: 200, expired);

        Assert.Equal([early, due], expired.OrderBy(e => e.Id));
        Assert.Equal(1, pending.Count);
        Assert.False(pending.TryRemove(early.Id, out _));
        Assert.False(pending.TryRemove(due.Id, out _));
        Assert.True(pending.TryRemove(late.Id, out _));
    }

    [Fact]
    public void RemoveExpired_NothingDue_LeavesAll()
    {
        var pending = new PendingExchanges();
        pending.TryAdd(100, null);
        var expired = new List<PendingExchange>();

        pending.RemoveExpired(now: 99, expired);

        Assert.Empty(expired);
        Assert.Equal(1, pending.Count);
    }

    [Fact]
    public void Close_WithPending_ReturnsAllAndRefusesLaterAdds()
    {
        var pending = new PendingExchanges();
        var a = pending.TryAdd(100, null)!;
        var b = pending.TryAdd(200, null)!;

        var left = pending.Close();

        Assert.Equal([a, b], left.OrderBy(e => e.Id));
        Assert.Equal(0, pending.Count);
        Assert.Null(pending.TryAdd(300, null));
        Assert.False(pending.TryRemove(a.Id, out _));
    }

    [Fact]
    public void Close_Twice_SecondReturnsNothing()
    {
        var pending = new PendingExchanges();
        pending.TryAdd(100, null);
        pending.Close();

        Assert.Empty(pending.Close());
    }
}
