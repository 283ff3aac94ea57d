using Google.Protobuf;
using Google.Protobuf.Collections;

namespace Teleport.Protocol.Framing;

/// <summary>
/// Turns the items a <see cref="BatchWriter{TFrame,TItem}"/> collected into the one message it writes.
/// </summary>
/// <remarks>
/// The writer calls, per message: add to <see cref="Items"/>, <see cref="Build"/>, write, then
/// <see cref="Reset"/> once the write has completed (the message's bytes are no longer needed).
/// </remarks>
internal abstract class FrameBuilder<TFrame, TItem>
{
    /// <summary>The items of the message being built.</summary>
    public abstract RepeatedField<TItem> Items { get; }

    /// <summary>The message to write for the current items; valid until <see cref="Reset"/>.</summary>
    public abstract TFrame Build();

    /// <summary>The last built message's serialized size before compression, for the logical-bytes metric; valid until <see cref="Reset"/>.</summary>
    public abstract int LogicalBytes { get; }

    /// <summary>Clears the items and releases what the last message held.</summary>
    public abstract void Reset();
}

/// <summary>Sends the items as a plain batch message (gRPC may still compress it per message).</summary>
internal sealed class PlainFrameBuilder<TFrame, TItem>(TFrame frame, RepeatedField<TItem> items) : FrameBuilder<TFrame, TItem>
    where TFrame : IMessage
{
    public override RepeatedField<TItem> Items => items;

    public override TFrame Build() => frame;

    // gRPC serializes (and maybe gzips) the message out of sight: a size pass of our own, per message and
    // only when asked, is the price of knowing the logical bytes.
    public override int LogicalBytes => frame.CalculateSize();

    public override void Reset() => items.Clear();
}
