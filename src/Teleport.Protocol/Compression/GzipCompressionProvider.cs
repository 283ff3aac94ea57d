using System.IO.Compression;
using Grpc.Net.Compression;

namespace Teleport.Protocol.Compression;

/// <summary>
/// gzip for gRPC messages at a level chosen by configuration.
/// </summary>
/// <remarks>
/// Grpc.Net.Client always passes <see cref="CompressionLevel.Fastest"/> to providers, and the server
/// passes its own setting, so the level given here wins over whatever the caller asks for.
/// </remarks>
internal sealed class GzipCompressionProvider(CompressionLevel level) : ICompressionProvider
{
    public const string Name = "gzip";

    public string EncodingName => Name;

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel)
        => new GZipStream(stream, level, leaveOpen: true);

    public Stream CreateDecompressionStream(Stream stream)
        => new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
}
