using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;

namespace Teleport.Origin.Upstream.Health;

/// <summary>
/// Takes upstreams out and brings them back, from what requests see (passive health: failed connections, the 5xx
/// rate) and what health checks see (active health), and logs one line per change.
/// </summary>
/// <remarks>
/// Changes are rare and made under one lock, so two upstreams failing at once cannot both count on the other to
/// stay in; nothing is awaited under it. Requests only read <see cref="UpstreamState"/>. Passive and active
/// verdicts are kept apart, as YARP keeps them: an upstream is in when neither holds it out.
/// </remarks>
internal sealed class UpstreamHealth
{
    private readonly UpstreamState[] _upstreams;
    private readonly TimeProvider _time;
    private readonly long _downTicks;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private volatile string _allDown;

    public UpstreamHealth(UpstreamSelector upstreams, IOptions<OriginOptions> options, TimeProvider time, ILogger<UpstreamHealth> logger)
    {
        _upstreams = upstreams.States;
        _time = time;
        _downTicks = (long)(options.Value.UpstreamDownTime.TotalSeconds * time.TimestampFrequency);
        _logger = logger;
        _allDown = AllDownMessage("no failure seen yet");
    }

    /// <summary>The error message for a request that finds every upstream out, naming the last failure.</summary>
    public string AllDown => _allDown;

    /// <summary>
    /// No connection could be made (refused, unreachable, DNS, TLS, connect timeout): out for the down time, even
    /// the last one, since no request to it can succeed.
    /// </summary>
    public void ConnectFailed(UpstreamState upstream, string reason) => TakeOut(upstream, reason, activeCheck: false);

    /// <summary>An answer came back (<paramref name="failed"/>: 5xx, or a response that broke off); counted for the 5xx rate.</summary>
    public void Answered(UpstreamState upstream, bool failed)
    {
        if (upstream.RecordAnswer(failed))
        {
            TakeOutFor5xx(upstream);
        }
        else if (!failed && upstream.ReportedDown)
        {
            // The first answer after its down time: the probe the passive check needed.
            BringBack(upstream, "it answers again", activeCheck: false);
        }
    }

    /// <summary>An active health check failed: out until one passes.</summary>
    public void CheckFailed(UpstreamState upstream, string reason) => TakeOut(upstream, reason, activeCheck: true);

    /// <summary>An active health check passed: in again, unless a passive down time still runs.</summary>
    public void CheckPassed(UpstreamState upstream)
    {
        if (upstream.FailingChecks || upstream.ReportedDown)
        {
            BringBack(upstream, "its health check passes", activeCheck: true);
        }
    }

    /// <summary>Every upstream, in configuration order.</summary>
    public IReadOnlyList<UpstreamState> Upstreams => _upstreams;

    /// <summary>How many upstreams are in now.</summary>
    public int CountHealthy() => CountHealthy(_time.GetTimestamp());

    /// <summary>Whether <paramref name="upstream"/> is in now.</summary>
    public bool IsHealthy(UpstreamState upstream) => upstream.IsHealthy(_time.GetTimestamp());

    private void TakeOut(UpstreamState upstream, string reason, bool activeCheck)
    {
        bool changed;
        int left;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (activeCheck)
            {
                upstream.FailingChecks = true;
            }
            else
            {
                upstream.DownUntil = now + _downTicks;
            }

            upstream.ForgetAnswers();
            changed = !upstream.ReportedDown;
            upstream.ReportedDown = true;
            left = CountHealthy(now);
            _allDown = AllDownMessage($"{upstream.Address.Text}: {reason}");
        }

        if (changed)
        {
            UpstreamHealthLog.UpstreamDown(_logger, upstream.Address.Text, reason, left, _upstreams.Length);
        }
    }

    private void TakeOutFor5xx(UpstreamState upstream)
    {
        var (failed, answers) = upstream.Answers;
        var reason = $"{failed} of its last {answers} answers were 5xx";
        int others;
        var changed = false;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            others = CountHealthy(now) - (upstream.IsHealthy(now) ? 1 : 0);
            upstream.ForgetAnswers();
            // A 5xx is still an answer: from the last upstream in, passing it on beats a 502 from here. It is
            // judged again after MinAnswers more answers.
            if (others > 0)
            {
                upstream.DownUntil = now + _downTicks;
                changed = !upstream.ReportedDown;
                upstream.ReportedDown = true;
                _allDown = AllDownMessage($"{upstream.Address.Text}: {reason}");
            }
        }

        if (others == 0)
        {
            UpstreamHealthLog.LastUpstreamKept(_logger, upstream.Address.Text, failed, answers);
        }
        else if (changed)
        {
            UpstreamHealthLog.UpstreamDown(_logger, upstream.Address.Text, reason, others, _upstreams.Length);
        }
    }

    private void BringBack(UpstreamState upstream, string how, bool activeCheck)
    {
        bool changed;
        int healthy;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (activeCheck)
            {
                upstream.FailingChecks = false;
            }

            // A late answer to a request sent before the upstream went down proves nothing about it now.
            if (!upstream.IsHealthy(now))
            {
                return;
            }

            changed = upstream.ReportedDown;
            upstream.ReportedDown = false;
            healthy = CountHealthy(now);
        }

        if (changed)
        {
            UpstreamHealthLog.UpstreamUp(_logger, upstream.Address.Text, how, healthy, _upstreams.Length);
        }
    }

    private int CountHealthy(long now)
    {
        var healthy = 0;
        foreach (var upstream in _upstreams)
        {
            if (upstream.IsHealthy(now))
            {
                healthy++;
            }
        }

        return healthy;
    }

    private string AllDownMessage(string last) => _upstreams.Length == 1
        ? $"the upstream is down ({last})"
        : $"all {_upstreams.Length} upstreams are down (last: {last})";
}
