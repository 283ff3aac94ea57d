using System.IO.Compression;
using Teleport.Protocol.Compression;

namespace Teleport.Tests.Compression;

public sealed class StreamCodecsTests
{
    [Theory]
    [InlineData("Auto", true, "Brotli")]
    [InlineData("Auto", false, "Gzip")]
    [InlineData("Brotli", true, "Brotli")]
    [InlineData("Gzip", true, "Gzip")]
    [InlineData("None", true, "None")]
    [InlineData("None", false, "None")]
    public void Resolve_ConfiguredModeAndPeer_GivesWhatIsSent(string configured, bool peerDecodesBrotli, string expected)
        => Assert.Equal(Enum.Parse<TunnelCompression>(expected), StreamCodecs.Resolve(Enum.Parse<TunnelCompression>(configured), peerDecodesBrotli));

    [Fact]
    public void Resolve_BrotliDemandedPeerWithout_IsNull()
        => Assert.Null(StreamCodecs.Resolve(TunnelCompression.Brotli, peerDecodesBrotli: false));

    [Theory]
    [InlineData(CompressionLevel.Fastest, 2)]
    [InlineData(CompressionLevel.Optimal, 4)]
    [InlineData(CompressionLevel.SmallestSize, 6)]
    public void BrotliQuality_Level_MapsToQuality(CompressionLevel level, int quality)
        => Assert.Equal(quality, StreamCodecs.BrotliQuality(level));
}
