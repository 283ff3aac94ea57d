using System.Buffers;

namespace Teleport.Protocol.Buffers;

/// <summary>A body read whole into a pooled array; the owner returns it with <see cref="Return"/>.</summary>
internal readonly struct PooledBody
{
    private PooledBody(byte[]? buffer, int length, bool tooLarge)
    {
        Buffer = buffer;
        Length = length;
        TooLarge = tooLarge;
    }

    /// <summary>Rented array holding the body in its first <see cref="Length"/> bytes, or null when empty.</summary>
    public byte[]? Buffer { get; }

    public int Length { get; }

    /// <summary>The body was bigger than the limit; nothing was kept.</summary>
    public bool TooLarge { get; }

    public ReadOnlyMemory<byte> Memory => Buffer is null ? default : Buffer.AsMemory(0, Length);

    public void Return()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }

    /// <summary>
    /// Reads <paramref name="stream"/> to its end into one pooled array, stopping as soon as more than
    /// <paramref name="limit"/> bytes arrive.
    /// </summary>
    /// <param name="expectedLength">Content-Length when known: sizes the array in one go.</param>
    public static async ValueTask<PooledBody> ReadAsync(Stream stream, long? expectedLength, int limit, CancellationToken cancellationToken)
    {
        if (expectedLength > limit)
        {
            return new PooledBody(null, 0, tooLarge: true);
        }

        // One spare byte past a known length lets the read that finds the end return 0 without a regrow.
        var initial = expectedLength is { } known ? (int)Math.Min(known + 1, limit + 1L) : 4096;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initial, 1));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    // length <= limit here (checked after every read), so the new array is larger.
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1L));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > limit)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return new PooledBody(null, 0, tooLarge: true);
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }

        if (length == 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return default;
        }

        return new PooledBody(buffer, length, tooLarge: false);
    }
}
