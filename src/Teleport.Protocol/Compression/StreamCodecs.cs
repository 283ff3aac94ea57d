using System.IO.Compression;

namespace Teleport.Protocol.Compression;

/// <summary>The stream codecs this build speaks, by their names in the hellos.</summary>
internal static class StreamCodecs
{
    /// <summary>Zstandard (RFC 8878), one frame per direction, flushed at the end of every message.</summary>
    public const string Zstd = "zstd";

    /// <summary>Brotli (RFC 7932), one context per direction, flushed at the end of every message.</summary>
    public const string Brotli = "brotli";

    /// <summary>log2 of the zstd window the compressor uses: matches reach 4 MiB back, as with Brotli.</summary>
    public const int ZstdWindowLog = 22;

    /// <summary>log2 of the largest zstd window a peer may make this side hold (the contract's limit).</summary>
    public const int ZstdMaxWindowLog = 23;

    /// <summary>log2 of the Brotli window: matches reach 4 MiB back, Brotli's own default.</summary>
    public const int BrotliWindow = 22;

    /// <summary>The capability a peer lists when it can decode <paramref name="codec"/>.</summary>
    public static string Capability(string codec) => "stream-compression/" + codec;

    /// <summary>The codec name a side announces for its mode; empty for plain batches.</summary>
    public static string NameOf(TunnelCompression mode) => mode switch
    {
        TunnelCompression.Zstd => Zstd,
        TunnelCompression.Brotli => Brotli,
        _ => string.Empty,
    };

    /// <summary>The codec an edge names in its hello for its configured mode: the one it will send with if the origin lists it.</summary>
    public static string Preferred(TunnelCompression configured) => configured == TunnelCompression.Auto ? Brotli : NameOf(configured);

    /// <summary>Whether <paramref name="mode"/> sends compressed batches with a stream codec.</summary>
    public static bool IsStreamCodec(TunnelCompression mode) => mode is TunnelCompression.Zstd or TunnelCompression.Brotli;

    /// <summary>Whether <paramref name="codec"/> names a stream codec this build speaks.</summary>
    public static bool Knows(string codec) => codec is Zstd or Brotli;

    /// <summary>Whether this build can decode <paramref name="codec"/> (empty: plain batches).</summary>
    public static bool CanDecode(string codec) => codec.Length == 0 || Knows(codec);

    /// <summary>
    /// What a side sends with, from its configured mode and the stream codecs it may send on this stream; null when
    /// the configuration demands a codec it may not. Auto takes Brotli, then zstd, then gzip: on the yardstick
    /// Brotli's 4 MiB window finds the far repeats zstd's fast levels miss, for less CPU (bench/RESULTS.md).
    /// </summary>
    /// <param name="maySend">Whether a codec (by name) may be sent: the peer lists it (and, for an edge, its hello named it).</param>
    public static TunnelCompression? Resolve(TunnelCompression configured, Func<string, bool> maySend) => configured switch
    {
        TunnelCompression.Auto => maySend(Brotli) ? TunnelCompression.Brotli : maySend(Zstd) ? TunnelCompression.Zstd : TunnelCompression.Gzip,
        TunnelCompression.Zstd when !maySend(Zstd) => null,
        TunnelCompression.Brotli when !maySend(Brotli) => null,
        _ => configured,
    };

    /// <summary>
    /// Brotli quality for a configured level: 4, 5 or 6. Qualities 2-3 compress a byte faster on their own, but
    /// quality 2 writes new prefix codes with every flushed message (about 21 B for a small exchange against 12 at
    /// quality 4), and end to end the pair spent within a few percent of the same CPU per request at quality 4
    /// (fewer bytes to frame, send and decode) while sending 30-50 % fewer bytes (bench/RESULTS.md, `ratios small`).
    /// Qualities 0-1 do not match against earlier messages at all.
    /// </summary>
    public static int BrotliQuality(CompressionLevel level) => level switch
    {
        CompressionLevel.NoCompression => 0,
        CompressionLevel.Fastest => 4,
        CompressionLevel.SmallestSize => 6,
        _ => 5,
    };

    /// <summary>
    /// zstd level for a configured level: 1, 3 or 9. Level 1 is both the fastest and, on tunnel traffic (many
    /// similar small messages), as small as 3 (bench/: CodecBenchmarks, and `ratios`).
    /// </summary>
    public static int ZstdLevel(CompressionLevel level) => level switch
    {
        CompressionLevel.NoCompression => 1,
        CompressionLevel.Fastest => 1,
        CompressionLevel.SmallestSize => 9,
        _ => 3,
    };
}
