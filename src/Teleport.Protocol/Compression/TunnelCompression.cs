namespace Teleport.Protocol.Compression;

/// <summary>How a side compresses the messages it sends on the tunnel stream.</summary>
internal enum TunnelCompression
{
    /// <summary>gRPC message compression with gzip ("grpc-encoding: gzip"), at the configured level.</summary>
    Gzip,

    /// <summary>No compression.</summary>
    None,
}
