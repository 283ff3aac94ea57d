using System.Buffers;

namespace Teleport.Protocol.Framing;

/// <summary>
/// An item queued for a <see cref="BatchWriter{TFrame,TItem}"/>, with the pooled buffer its body wraps.
/// </summary>
/// <remarks>
/// Queuing an item hands <see cref="Buffer"/> over to the writer: the item's <c>ByteString</c> wraps it
/// without a copy, so it goes back to <see cref="ArrayPool{T}.Shared"/> only after the message holding
/// it has been serialized. If queuing fails, the producer still owns the buffer and returns it.
/// </remarks>
internal readonly struct OutgoingItem<TItem>(TItem item, int size, byte[]? buffer = null)
{
    public TItem Item { get; } = item;

    /// <summary>Approximate serialized size, used to cap batches.</summary>
    public int Size { get; } = size;

    /// <summary>Pooled array wrapped by the item's body, or null.</summary>
    public byte[]? Buffer { get; } = buffer;

    public void ReturnBuffer()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
