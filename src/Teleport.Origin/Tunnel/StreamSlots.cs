using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;

namespace Teleport.Origin.Tunnel;

/// <summary>
/// Tunnel streams open on the whole origin, from the call's start to its end (a stream still waiting for its hello
/// counts): capped by --max-streams, so silent or endless streams cannot pile up without bound.
/// </summary>
internal sealed class StreamSlots(IOptions<OriginOptions> options)
{
    private int _open;

    public int Limit { get; } = options.Value.MaxStreams;

    /// <summary>Streams holding a slot now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Takes a slot; false (and nothing taken) when <see cref="Limit"/> streams are open.</summary>
    public bool TryTake()
    {
        if (Interlocked.Increment(ref _open) <= Limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        return false;
    }

    /// <summary>Gives back a slot taken by <see cref="TryTake"/>; once per successful take.</summary>
    public void Return() => Interlocked.Decrement(ref _open);
}
