namespace Teleport.Origin.Upstream;

/// <summary>
/// The live state of one upstream, kept apart from its immutable <see cref="UpstreamAddress"/>: the requests it
/// is serving (for the balancing policy), whether it is out and until when, and its recent answers. Read on the
/// hot path without locks; it is taken out and brought back only by <see cref="Health.UpstreamHealth"/>.
/// </summary>
internal sealed class UpstreamState(UpstreamAddress address)
{
    /// <summary>Answers remembered for the 5xx rate.</summary>
    public const int Window = 20;

    /// <summary>Fewest answers in the window before a rate is trusted: two 5xx out of the first three mean little.</summary>
    public const int MinAnswers = 10;

    private const long HistoryMask = (1L << Window) - 1;
    private const int CountShift = 32;

    private int _activeRequests;

    // TimeProvider timestamp before which passive health keeps the upstream out; 0 when it never was.
    private long _downUntil;

    // Bits 0-19: the last answers, newest in bit 0, 1 = failed (5xx); bits 32 and up: how many of them count.
    // One word, so an answer is recorded with one compare-and-swap and the rate read without tearing.
    private long _answers;

    private volatile bool _failingChecks;
    private volatile bool _reportedDown;

    public UpstreamAddress Address { get; } = address;

    /// <summary>Requests sent to this upstream whose answer has not been read to its end.</summary>
    public int ActiveRequests => Volatile.Read(ref _activeRequests);

    /// <summary>
    /// Whether the last state change logged for this upstream was "down". It may be back in already (its down time
    /// passed); the first answer it gives then is logged as "back up".
    /// </summary>
    public bool ReportedDown
    {
        get => _reportedDown;
        set => _reportedDown = value;
    }

    /// <summary>Active health checks failed and none has passed since.</summary>
    public bool FailingChecks
    {
        get => _failingChecks;
        set => _failingChecks = value;
    }

    /// <summary>The timestamp (<see cref="TimeProvider.GetTimestamp"/>) until which failures keep it out.</summary>
    public long DownUntil
    {
        get => Volatile.Read(ref _downUntil);
        set => Volatile.Write(ref _downUntil, value);
    }

    /// <summary>In, at <paramref name="now"/>: no failed health check, and any passive down time has passed.</summary>
    public bool IsHealthy(long now) => !_failingChecks && now >= Volatile.Read(ref _downUntil);

    public void RequestStarted() => Interlocked.Increment(ref _activeRequests);

    public void RequestEnded() => Interlocked.Decrement(ref _activeRequests);

    /// <summary>
    /// Remembers one answer; true when at least <see cref="MinAnswers"/> are remembered and half or more of them
    /// failed. A success into a window without failures changes nothing and writes nothing, so the common case
    /// costs one read and no contended write.
    /// </summary>
    public bool RecordAnswer(bool failed)
    {
        var current = Volatile.Read(ref _answers);
        while (true)
        {
            var count = (int)(current >> CountShift);
            var history = ((current << 1) | (failed ? 1L : 0L)) & HistoryMask;
            var next = ((long)Math.Min(count + 1, Window) << CountShift) | history;
            if (next == current)
            {
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _answers, next, current);
            if (seen == current)
            {
                var remembered = (int)(next >> CountShift);
                return failed && remembered >= MinAnswers && 2 * long.PopCount(history) >= remembered;
            }

            current = seen;
        }
    }

    /// <summary>How many of the remembered answers failed, and how many are remembered.</summary>
    public (int Failed, int Answers) Answers
    {
        get
        {
            var answers = Volatile.Read(ref _answers);
            return ((int)long.PopCount(answers & HistoryMask), (int)(answers >> CountShift));
        }
    }

    /// <summary>Forgets the remembered answers: an upstream that comes back is judged on what it does next.</summary>
    public void ForgetAnswers() => Volatile.Write(ref _answers, 0);
}
