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

    /// <summary>Brotli quality for a configured level: 1, 5 or 9.</summary>
    public static int BrotliQuality(CompressionLevel level) => level switch
    {
        CompressionLevel.NoCompression => 0,
        CompressionLevel.Fastest => 1,
        CompressionLevel.SmallestSize => 9,
        _ => 5,
    };
}
