using Teleport.Protocol.Buffers;
using Teleport.Tests.TestSupport;

namespace Teleport.Tests.Buffers;

public sealed class PooledBodyTests
{
    private const int Limit = 10_000;

    [Theory]
    [InlineData(null)]
    [InlineData(0L)]
    public async Task ReadAsync_EmptyStream_ReturnsEmptyBodyWithoutBuffer(long? contentLength)
    {
        var body = await PooledBody.ReadAsync(new TrickleStream([]), contentLength, Limit, CancellationToken.None).DefaultTimeout();

        Assert.False(body.TooLarge);
        Assert.Equal(0, body.Length);
        Assert.Null(body.Buffer);
        Assert.True(body.Memory.IsEmpty);
    }

    [Fact]
    public async Task ReadAsync_KnownLength_KeepsEveryByte()
    {
        var content = Content(3000);

        var body = await PooledBody.ReadAsync(new MemoryStream(content), content.Length, Limit, CancellationToken.None).DefaultTimeout();

        Assert.False(body.TooLarge);
        Assert.Equal(content, body.Memory.ToArray());
        body.Return();
    }

    [Fact]
    public async Task ReadAsync_UnknownLengthInSmallReads_GrowsAndKeepsEveryByte()
    {
        // Larger than the first guess of 4 KiB, so the array is replaced twice along the way.
        var content = Content(9_999);
        var stream = new TrickleStream(content);

        var body = await PooledBody.ReadAsync(stream, null, Limit, CancellationToken.None).DefaultTimeout();

        Assert.False(body.TooLarge);
        Assert.Equal(content.Length, body.Length);
        Assert.Equal(content, body.Memory.ToArray());
        Assert.True(stream.Reads > 2000, "The body arrived in many small reads.");
        body.Return();
    }

    [Fact]
    public async Task ReadAsync_KnownLengthInSmallReads_KeepsEveryByte()
    {
        var content = Content(5000);

        var body = await PooledBody.ReadAsync(new TrickleStream(content), content.Length, Limit, CancellationToken.None).DefaultTimeout();

        Assert.Equal(content, body.Memory.ToArray());
        body.Return();
    }

    [Theory]
    [InlineData(null)]
    [InlineData((long)Limit)]
    public async Task ReadAsync_ExactlyAtLimit_ReturnsBody(long? contentLength)
    {
        var content = Content(Limit);

        var body = await PooledBody.ReadAsync(new TrickleStream(content), contentLength, Limit, CancellationToken.None).DefaultTimeout();

        Assert.False(body.TooLarge);
        Assert.Equal(content, body.Memory.ToArray());
        body.Return();
    }

    [Theory]
    [InlineData(null)]
    [InlineData(10L)]
    [InlineData((long)Limit)]
    public async Task ReadAsync_OneByteOverLimit_TooLarge(long? contentLength)
    {
        // A Content-Length that undersells the body does not get it past the limit.
        var body = await PooledBody.ReadAsync(new TrickleStream(Content(Limit + 1)), contentLength, Limit, CancellationToken.None).DefaultTimeout();

        Assert.True(body.TooLarge);
        Assert.Null(body.Buffer);
        Assert.Equal(0, body.Length);
    }

    [Fact]
    public async Task ReadAsync_ContentLengthOverLimit_TooLargeWithoutReading()
    {
        var stream = new TrickleStream(Content(Limit + 1));

        var body = await PooledBody.ReadAsync(stream, Limit + 1, Limit, CancellationToken.None).DefaultTimeout();

        Assert.True(body.TooLarge);
        Assert.Null(body.Buffer);
        Assert.Equal(0, stream.Reads);
    }

    [Fact]
    public async Task ReadAsync_ZeroLimitAndOneByte_TooLarge()
    {
        var body = await PooledBody.ReadAsync(new TrickleStream([42]), null, 0, CancellationToken.None).DefaultTimeout();

        Assert.True(body.TooLarge);
    }

    [Fact]
    public async Task ReadAsync_StreamShorterThanContentLength_ReturnsWhatArrived()
    {
        var content = Content(100);

        var body = await PooledBody.ReadAsync(new TrickleStream(content), 500, Limit, CancellationToken.None).DefaultTimeout();

        Assert.False(body.TooLarge);
        Assert.Equal(content, body.Memory.ToArray());
        body.Return();
    }

    [Fact]
    public async Task ReadAsync_Canceled_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => PooledBody.ReadAsync(new TrickleStream(Content(100)), null, Limit, cts.Token).AsTask()).DefaultTimeout();
    }

    private static byte[] Content(int length)
    {
        var content = new byte[length];
        new Random(length).NextBytes(content);
        return content;
    }
}
