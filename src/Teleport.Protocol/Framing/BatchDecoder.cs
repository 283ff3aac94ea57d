using System.Buffers;
using Google.Protobuf;
using Teleport.Protocol.Compression;

namespace Teleport.Protocol.Framing;

/// <summary>Reads batches sent by a <see cref="CompressedFrameBuilder{TFrame,TItem}"/>.</summary>
/// <remarks>Not thread-safe: used by the stream's single reader loop only.</remarks>
/// <param name="codec">The stream codec the peer sends with (a <see cref="StreamCodecs"/> name).</param>
internal sealed class BatchDecoder<TBatch>(MessageParser<TBatch> parser, string codec, int maxMessageBytes) : IDisposable
    where TBatch : IMessage<TBatch>
{
    private StreamDecompressor? _decompressor;

    /// <summary>The serialized size of the last batch decoded, for the logical-bytes metric.</summary>
    public int DecodedBytes { get; private set; }

    /// <summary>Decompresses and parses one compressed batch.</summary>
    /// <exception cref="InvalidDataException">The bytes do not continue the stream or do not parse.</exception>
    public TBatch Decode(ByteString payload)
    {
        _decompressor ??= StreamDecompressor.Create(codec, maxMessageBytes);
        var buffer = _decompressor.Decompress(payload.Span, out var length);
        DecodedBytes = length;
        try
        {
            return parser.ParseFrom(buffer.AsSpan(0, length));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("A compressed batch does not parse.", ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => _decompressor?.Dispose();
}
