using System.Buffers;
using Teleport.Protocol.Buffers;

namespace Teleport.Edge.Tunnel;

/// <summary>
/// A request body in a pooled array, shared by the request handler and every stream writer the exchange was
/// queued on (a retry queues it again elsewhere); the array goes back to the pool when the last one lets go.
/// </summary>
internal sealed class RequestBody
{
    private readonly byte[] _buffer;
    private readonly int _length;
    private int _holders = 1;

    /// <param name="body">A non-empty body, now owned by this object (held once, by its creator).</param>
    public RequestBody(PooledBody body)
    {
        _buffer = body.Buffer!;
        _length = body.Length;
    }

    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _length);

    public void Hold() => Interlocked.Increment(ref _holders);

    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}
