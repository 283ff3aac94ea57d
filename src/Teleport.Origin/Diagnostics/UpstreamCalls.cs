using System.Diagnostics;
using Google.Protobuf.Collections;
using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Diagnostics;

/// <summary>
/// What the origin observes of each upstream call beyond its metrics: the ActivitySource "Teleport.Origin" (one
/// Client span per call, a child of the edge's span named by the forwarded traceparent, whose own traceparent the
/// upstream receives) and the access log (--access-log, category "Teleport.Origin.Access").
/// </summary>
/// <remarks>
/// With neither on, <see cref="Start"/> returns null at the cost of one HasListeners check: no Activity, no header
/// touched (the edge's, or the client's, traceparent goes upstream as it came), no clock read. One source per
/// application, so a listener can pick one service's spans in a process that runs several (the tests).
/// </remarks>
internal sealed class UpstreamCalls : IDisposable
{
    public const string SourceName = "Teleport.Origin";

    public const string AccessCategory = "Teleport.Origin.Access";

    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    public UpstreamCalls(ILoggerFactory loggers, IOptions<OriginOptions> options)
    {
        // Read once: off, nothing is logged and nothing is measured for it.
        AccessLog = options.Value.AccessLog ? loggers.CreateLogger(AccessCategory) : null;
    }

    public ActivitySource Source { get; } = new(SourceName);

    /// <summary>The access log's logger; null without --access-log.</summary>
    internal ILogger? AccessLog { get; }

    public void Dispose() => Source.Dispose();

    /// <summary>
    /// Starts observing one call to <paramref name="upstream"/>: its span (whose traceparent replaces the one in
    /// <paramref name="request"/>) and its access-log line, both written when the result is disposed.
    /// </summary>
    /// <returns>Null when neither tracing nor the access log is on.</returns>
    public UpstreamCall? Start(ulong id, RequestStart start, UpstreamAddress upstream, HttpRequestMessage request)
    {
        Activity? activity = null;
        if (Source.HasListeners())
        {
            activity = Source.StartActivity("Teleport.Origin.Upstream", ActivityKind.Client, ParentFrom(start.Headers));
            if (activity is not null)
            {
                Describe(activity, start, upstream, request);
                var headers = request.Headers;
                headers.Remove(TraceParent);
                headers.Remove(TraceState);
                headers.TryAddWithoutValidation(TraceParent, activity.Id);
                if (!string.IsNullOrEmpty(activity.TraceStateString))
                {
                    headers.TryAddWithoutValidation(TraceState, activity.TraceStateString);
                }
            }
        }

        return activity is null && AccessLog?.IsEnabled(LogLevel.Information) != true ? null : new UpstreamCall(this, activity, id, start, upstream);
    }

    private static void Describe(Activity activity, RequestStart start, UpstreamAddress upstream, HttpRequestMessage request)
    {
        activity.DisplayName = start.Method;
        if (!activity.IsAllDataRequested)
        {
            return;
        }

        activity.SetTag("http.request.method", start.Method);
        activity.SetTag("url.full", request.RequestUri?.OriginalString);
        activity.SetTag("server.address", request.RequestUri?.Host);
        activity.SetTag("server.port", request.RequestUri?.Port);
        activity.SetTag("teleport.upstream", upstream.Text);
    }

    /// <summary>The span the edge forwarded (its traceparent, or the client's when the edge does not trace).</summary>
    private static ActivityContext ParentFrom(RepeatedField<Header> headers)
    {
        string? parent = null;
        string? state = null;
        foreach (var header in headers)
        {
            if (header.Name.Equals(TraceParent, StringComparison.OrdinalIgnoreCase))
            {
                if (parent is not null)
                {
                    // Several are invalid (W3C Trace Context 3.2): start a new trace.
                    return default;
                }

                parent = header.Value;
            }
            else if (header.Name.Equals(TraceState, StringComparison.OrdinalIgnoreCase))
            {
                state = state is null ? header.Value : state + "," + header.Value;
            }
        }

        return parent is not null && ActivityContext.TryParse(parent, state, isRemote: true, out var context) ? context : default;
    }
}
