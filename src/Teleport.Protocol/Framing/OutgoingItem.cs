using System.Buffers;

namespace Teleport.Protocol.Framing;

/// <summary>
/// An item queued for a <see cref="BatchWriter{TFrame,TItem}"/>, with what its body wraps: a pooled buffer
/// the writer returns, or an owner the writer tells when it is done with the item.
/// </summary>
/// <remarks>
/// Queuing an item hands its body over to the writer: the item's <c>ByteString</c> wraps it without a copy,
/// so a pooled buffer goes back to <see cref="ArrayPool{T}.Shared"/> only after the message holding it has
/// been serialized. If queuing fails, the producer still owns the body.
/// </remarks>
internal readonly struct OutgoingItem<TItem>
{
    // A byte[] (returned to the pool) or an IOutgoingItemOwner (told); one field keeps the struct small.
    private readonly object? _owner;

    public OutgoingItem(TItem item, int size, byte[]? buffer = null)
    {
        Item = item;
        Size = size;
        _owner = buffer;
    }

    public OutgoingItem(TItem item, int size, IOutgoingItemOwner owner)
    {
        Item = item;
        Size = size;
        _owner = owner;
    }

    public TItem Item { get; }

    /// <summary>Approximate serialized size, used to cap batches.</summary>
    public int Size { get; }

    /// <summary>
    /// A chunk of a streamed body: it waits in the writer's bulk lane, behind every other item. Only body chunks
    /// may be bulk: the writer may send other items of the same exchange (an error, a cancel) ahead of them.
    /// </summary>
    public bool IsBulk { get; init; }

    /// <summary>The writer is done with the item: <paramref name="written"/> is false only when it never reached the stream.</summary>
    public void Release(bool written)
    {
        switch (_owner)
        {
            case byte[] buffer:
                ArrayPool<byte>.Shared.Return(buffer);
                break;
            case IOutgoingItemOwner owner:
                owner.Released(written);
                break;
        }
    }
}

/// <summary>Whoever must know when a writer is done with an item it queued (e.g. to reuse or free its body).</summary>
internal interface IOutgoingItemOwner
{
    /// <param name="written">False when the item was dropped unsent (the stream ended first); true when it was written or may have been.</param>
    void Released(bool written);
}
