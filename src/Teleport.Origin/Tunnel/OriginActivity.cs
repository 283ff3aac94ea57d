using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;

namespace Teleport.Origin.Tunnel;

/// <summary>
/// Exchanges running on the whole origin, across every stream: capped by --max-concurrent-total and reported
/// to edges in pongs, so that they can steer new exchanges to less busy origins.
/// </summary>
internal sealed class OriginActivity(IOptions<OriginOptions> options)
{
    private int _active;

    public int Limit { get; } = options.Value.MaxConcurrentTotal;

    public int Active => Volatile.Read(ref _active);

    /// <summary>Counts an exchange in; false (and nothing counted) when the origin already runs <see cref="Limit"/>.</summary>
    public bool TryStart()
    {
        if (Interlocked.Increment(ref _active) <= Limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Ended() => Interlocked.Decrement(ref _active);
}
