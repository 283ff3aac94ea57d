using Teleport.Protocol;
using Teleport.Protocol.Framing;

namespace Teleport.Tests.Framing;

public sealed class BatchLimitsTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public void ReceiveLimit_BodyAndBatch_AddsHeadroom()
        => Assert.Equal(16 * MiB + 1 * MiB + BatchLimits.HeadroomBytes, BatchLimits.ReceiveLimit(16 * MiB, 1 * MiB));

    [Fact]
    public void ReceiveLimit_ZeroBody_IsBatchPlusHeadroom()
        => Assert.Equal(MiB + BatchLimits.HeadroomBytes, BatchLimits.ReceiveLimit(0, MiB));

    [Theory]
    [InlineData(int.MaxValue, 64 * MiB)]
    [InlineData(int.MaxValue - 64 * MiB, 64 * MiB)]
    [InlineData(4L * 1024 * MiB, 1)]
    public void ReceiveLimit_SumBeyondInt_ClampsToIntMax(long maxBodyBytes, int maxBatchBytes)
        => Assert.Equal(int.MaxValue, BatchLimits.ReceiveLimit(maxBodyBytes, maxBatchBytes));

    [Fact]
    public void FitTo_Zero_AssumesGrpcDefaultOf4MiB()
    {
        var fitted = new BatchLimits(MaxItems: 1024, MaxBytes: 64 * MiB).FitTo(0);

        Assert.Equal(TunnelProtocol.GrpcDefaultMaxMessageBytes - BatchLimits.HeadroomBytes, fitted.MaxBytes);
        Assert.Equal(4 * MiB - BatchLimits.HeadroomBytes, fitted.MaxBytes);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(8u * MiB)]
    [InlineData(uint.MaxValue)]
    public void FitTo_PeerAllowsMoreThanMaxBytes_KeepsMaxBytes(uint peerMax)
        => Assert.Equal(new BatchLimits(1024, MiB), new BatchLimits(1024, MiB).FitTo(peerMax));

    [Fact]
    public void FitTo_PeerAllowsLess_LowersMaxBytesToPeerMinusHeadroom()
    {
        var fitted = new BatchLimits(MaxItems: 7, MaxBytes: 64 * MiB).FitTo(2 * MiB);

        Assert.Equal(new BatchLimits(7, 2 * MiB - BatchLimits.HeadroomBytes), fitted);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData((uint)BatchLimits.HeadroomBytes)]
    public void FitTo_PeerLimitWithinHeadroom_LeavesOneByteSoEveryItemTravelsAlone(uint peerMax)
        => Assert.Equal(new BatchLimits(1024, 1), new BatchLimits(1024, MiB).FitTo(peerMax));

    [Fact]
    public void FitTo_Twice_KeepsTheSmallerCap()
    {
        var limits = new BatchLimits(1024, 64 * MiB).FitTo(2 * MiB).FitTo(8 * MiB);

        Assert.Equal(2 * MiB - BatchLimits.HeadroomBytes, limits.MaxBytes);
    }
}
