namespace Teleport.Edge.Tunnel;

/// <summary>
/// What one origin last reported of its load (in pongs) beyond this edge's own exchanges, shared by this edge's
/// streams to it, so that new exchanges lean towards the origin that other edges keep less busy.
/// </summary>
internal sealed class OriginLoad(int streams)
{
    private int _foreign;

    /// <summary>Exchanges that others run on the origin, per stream of this edge to it.</summary>
    public int ForeignPerStream => Volatile.Read(ref _foreign) / streams;

    /// <summary>Records a pong: the origin runs <paramref name="active"/> exchanges; the reporting stream has <paramref name="pendingOnStream"/> open.</summary>
    /// <remarks>This edge's streams to one origin carry about the same load (each request goes to the least loaded), so ours is about that times the streams.</remarks>
    public void Report(uint active, int pendingOnStream)
        => Volatile.Write(ref _foreign, (int)Math.Clamp((long)active - (long)pendingOnStream * streams, 0, int.MaxValue));
}
