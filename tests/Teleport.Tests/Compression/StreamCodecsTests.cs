using System.IO.Compression;
using Teleport.Protocol.Compression;

namespace Teleport.Tests.Compression;

public sealed class StreamCodecsTests
{
    [Theory]
    [InlineData("Auto", true, true, "Brotli")]
    [InlineData("Auto", false, true, "Brotli")]
    [InlineData("Auto", true, false, "Zstd")]
    [InlineData("Auto", false, false, "Gzip")]
    [InlineData("Brotli", true, true, "Brotli")]
    [InlineData("Zstd", true, true, "Zstd")]
    [InlineData("Gzip", true, true, "Gzip")]
    [InlineData("None", true, true, "None")]
    [InlineData("None", false, false, "None")]
    public void Resolve_ConfiguredModeAndPeer_GivesWhatIsSent(string configured, bool peerDecodesZstd, bool peerDecodesBrotli, string expected)
        => Assert.Equal(Enum.Parse<TunnelCompression>(expected), StreamCodecs.Resolve(Enum.Parse<TunnelCompression>(configured), PeerDecodes(peerDecodesZstd, peerDecodesBrotli)));

    [Theory]
    [InlineData("Brotli", true, false)]
    [InlineData("Zstd", false, true)]
    public void Resolve_CodecDemandedPeerWithout_IsNull(string configured, bool peerDecodesZstd, bool peerDecodesBrotli)
        => Assert.Null(StreamCodecs.Resolve(Enum.Parse<TunnelCompression>(configured), PeerDecodes(peerDecodesZstd, peerDecodesBrotli)));

    [Theory]
    [InlineData("Auto", "brotli")]
    [InlineData("Zstd", "zstd")]
    [InlineData("Brotli", "brotli")]
    [InlineData("Gzip", "")]
    [InlineData("None", "")]
    public void Preferred_ConfiguredMode_IsTheCodecTheEdgeNames(string configured, string codec)
        => Assert.Equal(codec, StreamCodecs.Preferred(Enum.Parse<TunnelCompression>(configured)));

    [Theory]
    [InlineData(CompressionLevel.Fastest, 4)]
    [InlineData(CompressionLevel.Optimal, 5)]
    [InlineData(CompressionLevel.SmallestSize, 6)]
    public void BrotliQuality_Level_MapsToQuality(CompressionLevel level, int quality)
        => Assert.Equal(quality, StreamCodecs.BrotliQuality(level));

    [Theory]
    [InlineData(CompressionLevel.Fastest, 1)]
    [InlineData(CompressionLevel.Optimal, 3)]
    [InlineData(CompressionLevel.SmallestSize, 9)]
    public void ZstdLevel_Level_MapsToLevel(CompressionLevel level, int zstdLevel)
        => Assert.Equal(zstdLevel, StreamCodecs.ZstdLevel(level));

    private static Func<string, bool> PeerDecodes(bool zstd, bool brotli) => codec => codec switch
    {
        StreamCodecs.Zstd => zstd,
        StreamCodecs.Brotli => brotli,
        _ => false,
    };
}
