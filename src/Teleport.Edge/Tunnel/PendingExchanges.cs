namespace Teleport.Edge.Tunnel;

/// <summary>
/// The exchanges of one tunnel stream still waiting for an answer, by id. Answers arrive in any
/// order; each is matched here.
/// </summary>
/// <remarks>
/// One lock, never held across an await. Once <see cref="Close"/> has run, nothing more can be
/// added, so an exchange registered by a request racing with the stream's end is never stranded.
/// </remarks>
internal sealed class PendingExchanges
{
    private readonly Dictionary<ulong, PendingExchange> _byId = [];
    private readonly Lock _lock = new();
    private ulong _lastId;
    private bool _closed;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byId.Count;
            }
        }
    }

    /// <summary>Registers a new exchange with a fresh id (never 0); null once the stream has ended.</summary>
    public PendingExchange? TryAdd(long deadline)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return null;
            }

            var exchange = new PendingExchange(++_lastId, deadline);
            _byId.Add(exchange.Id, exchange);
            return exchange;
        }
    }

    public bool TryRemove(ulong id, out PendingExchange? exchange)
    {
        lock (_lock)
        {
            return _byId.Remove(id, out exchange);
        }
    }

    /// <summary>Moves the exchanges whose deadline has passed into <paramref name="expired"/>.</summary>
    public void RemoveExpired(long now, List<PendingExchange> expired)
    {
        lock (_lock)
        {
            foreach (var exchange in _byId.Values)
            {
                if (exchange.Deadline <= now)
                {
                    expired.Add(exchange);
                }
            }

            foreach (var exchange in expired)
            {
                _byId.Remove(exchange.Id);
            }
        }
    }

    /// <summary>Refuses new exchanges and returns every one still waiting.</summary>
    public List<PendingExchange> Close()
    {
        lock (_lock)
        {
            _closed = true;
            var left = new List<PendingExchange>(_byId.Values);
            _byId.Clear();
            return left;
        }
    }
}
