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
    private int _count;

    /// <summary>Exchanges waiting now; read without the lock (stream choice needs no exact figure).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Registers a new exchange with a fresh id (never 0); null once the stream has ended.</summary>
    public PendingExchange? TryAdd(long deadline, RequestBody? body)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return null;
            }

            var exchange = new PendingExchange(++_lastId, deadline, body);
            _byId.Add(exchange.Id, exchange);
            _count = _byId.Count;
            return exchange;
        }
    }

    public bool TryGet(ulong id, out PendingExchange? exchange)
    {
        lock (_lock)
        {
            return _byId.TryGetValue(id, out exchange);
        }
    }

    public bool TryRemove(ulong id, out PendingExchange? exchange)
    {
        lock (_lock)
        {
            var removed = _byId.Remove(id, out exchange);
            _count = _byId.Count;
            return removed;
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

            _count = _byId.Count;
        }
    }

    /// <summary>Copies every exchange waiting now into <paramref name="open"/>.</summary>
    public void CopyTo(List<PendingExchange> open)
    {
        lock (_lock)
        {
            open.AddRange(_byId.Values);
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
            _count = 0;
            return left;
        }
    }
}
