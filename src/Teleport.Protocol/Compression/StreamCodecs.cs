using System.IO.Compression;

namespace Teleport.Protocol.Compression;

/// <summary>The stream codecs this build speaks, by their names in the hellos.</summary>
internal static class StreamCodecs
{
    /// <summary>Brotli (RFC 7932), one context per direction, flushed at the end of every message.</summary>
    public const string Brotli = "brotli";

    /// <summary>The capability a peer lists when it can decode <paramref name="codec"/>.</summary>
    public static string Capability(string codec) => "stream-compression/" + codec;

    /// <summary>log2 of the Brotli window: matches reach 4 MiB back, Brotli's own default.</summary>
    public const int BrotliWindow = 22;

    /// <summary>The codec name a side announces for its mode; empty for plain batches.</summary>
    public static string NameOf(TunnelCompression mode) => mode == TunnelCompression.Brotli ? Brotli : string.Empty;

    /// <summary>Whether this build can decode <paramref name="codec"/> (empty: plain batches).</summary>
    public static bool CanDecode(string codec) => codec.Length == 0 || codec == Brotli;

    /// <summary>
    /// What a side sends with, from its configured mode and whether the peer listed the Brotli
    /// capability; null when the configuration demands Brotli and the peer cannot decode it.
    /// </summary>
    public static TunnelCompression? Resolve(TunnelCompression configured, bool peerDecodesBrotli) => configured switch
    {
        TunnelCompression.Auto => peerDecodesBrotli ? TunnelCompression.Brotli : TunnelCompression.Gzip,
        TunnelCompression.Brotli when !peerDecodesBrotli => null,
        _ => configured,
    };

    /// <summary>
    /// Brotli quality for a configured level: 2, 4 or 6. Quality 2 is the fastest that matches
    /// against earlier messages (qualities 0-1 compress each flushed block on its own), at about the
    /// CPU of gzip level 1 (bench/: CodecBenchmarks, and `ratios`).
    /// </summary>
    public static int BrotliQuality(CompressionLevel level) => level switch
    {
        CompressionLevel.NoCompression => 0,
        CompressionLevel.Fastest => 2,
        CompressionLevel.SmallestSize => 6,
        _ => 4,
    };
}
