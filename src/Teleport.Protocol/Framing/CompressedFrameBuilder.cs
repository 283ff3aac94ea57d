using System.Buffers;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Teleport.Protocol.Compression;

namespace Teleport.Protocol.Framing;

/// <summary>
/// Sends the items as one batch serialized and compressed with the stream's long-lived compression
/// context: each message is compressed against all earlier ones.
/// </summary>
/// <param name="batch">The batch message whose item list is <paramref name="items"/>.</param>
/// <param name="frame">The message written, carrying the compressed bytes.</param>
/// <param name="setPayload">Puts the compressed bytes into <paramref name="frame"/>.</param>
internal sealed class CompressedFrameBuilder<TFrame, TItem>(
    IMessage batch,
    RepeatedField<TItem> items,
    TFrame frame,
    Action<TFrame, ByteString> setPayload,
    StreamCompressor compressor) : FrameBuilder<TFrame, TItem>
{
    private byte[]? _serialized;
    private byte[]? _compressed;
    private int _logicalBytes;

    public override RepeatedField<TItem> Items => items;

    public override int LogicalBytes => _logicalBytes;

    public override TFrame Build()
    {
        var size = batch.CalculateSize();
        _logicalBytes = size;
        _serialized = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        batch.WriteTo(_serialized.AsSpan(0, size));
        _compressed = compressor.Compress(_serialized.AsSpan(0, size), out var length);
        setPayload(frame, UnsafeByteOperations.UnsafeWrap(_compressed.AsMemory(0, length)));
        return frame;
    }

    public override void Reset()
    {
        items.Clear();
        setPayload(frame, ByteString.Empty);
        if (_serialized is not null)
        {
            ArrayPool<byte>.Shared.Return(_serialized);
            _serialized = null;
        }

        if (_compressed is not null)
        {
            ArrayPool<byte>.Shared.Return(_compressed);
            _compressed = null;
        }
    }
}
