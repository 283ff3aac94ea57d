namespace Teleport.Protocol.Compression;

/// <summary>How a side compresses the messages it sends on the tunnel stream.</summary>
internal enum TunnelCompression
{
    /// <summary>
    /// <see cref="Brotli"/> when the peer announced it can decode it, else <see cref="Zstd"/> when it can,
    /// <see cref="Gzip"/> otherwise: the smallest mode that works with any conforming peer.
    /// </summary>
    Auto,

    /// <summary>gRPC message compression with gzip ("grpc-encoding: gzip"): each message compressed on its own.</summary>
    Gzip,

    /// <summary>
    /// Brotli with one context for the stream's life ("stream-compression/brotli"): each message is
    /// compressed against everything sent before it. Needs a peer that announced the capability.
    /// </summary>
    Brotli,

    /// <summary>
    /// Zstandard with one frame for the stream's life ("stream-compression/zstd"): like <see cref="Brotli"/>, fewer
    /// bytes per small message (its entropy tables carry over between flushes), but its fast levels miss repeats far
    /// back that Brotli finds. Needs a peer that announced the capability.
    /// </summary>
    Zstd,

    /// <summary>No compression.</summary>
    None,
}
