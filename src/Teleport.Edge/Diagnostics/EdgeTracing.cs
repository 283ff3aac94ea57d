using System.Diagnostics;
using Google.Protobuf.Collections;
using Teleport.Edge.Http;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Diagnostics;

/// <summary>
/// The edge's ActivitySource, "Teleport.Edge": one Server span per exchange, continuing the client's W3C trace
/// (traceparent/tracestate), whose own traceparent replaces the client's in the headers sent to the origin, so
/// the origin's upstream call (and the upstream) join the same trace beneath it.
/// </summary>
/// <remarks>
/// Costs nothing when nobody listens (no --otlp-endpoint, no in-process listener): <see cref="ActivitySource.HasListeners"/>
/// is checked first, no header is parsed and no Activity exists, so the client's traceparent travels untouched.
/// One source per application rather than a static one, so a listener can pick one service's spans in a process
/// that runs several (the tests); OpenTelemetry matches it by name.
/// </remarks>
internal sealed class EdgeTracing : IDisposable
{
    public const string SourceName = "Teleport.Edge";

    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    public ActivitySource Source { get; } = new(SourceName);

    public void Dispose() => Source.Dispose();

    /// <summary>Starts the exchange's span, or returns null when nobody listens (or the sampler drops it).</summary>
    public Activity? StartExchange(HttpContext context)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        // ASP.NET Core's own request activity, when something made it, has already read the client's headers.
        var parent = Activity.Current?.Context ?? ParentFrom(context.Request.Headers);
        var activity = Source.StartActivity("Teleport.Edge.Exchange", ActivityKind.Server, parent);
        if (activity is null)
        {
            return null;
        }

        var request = context.Request;
        activity.DisplayName = request.Method;
        if (activity.IsAllDataRequested)
        {
            activity.SetTag("http.request.method", request.Method);
            activity.SetTag("url.path", request.Path.Value);
            activity.SetTag("network.protocol.name", "http");
            activity.SetTag("network.protocol.version", request.Protocol);
            activity.SetTag("client.address", context.Connection.RemoteIpAddress?.ToString());
        }

        return activity;
    }

    /// <summary>
    /// Puts <paramref name="activity"/>'s traceparent (and the trace's tracestate) into the headers for the origin,
    /// in place of the client's; returns roughly the bytes added. Nothing changes without a span.
    /// </summary>
    public static int Propagate(Activity? activity, RepeatedField<Header> headers)
    {
        if (activity is null)
        {
            return 0;
        }

        for (var i = headers.Count - 1; i >= 0; i--)
        {
            var name = headers[i].Name;
            if (name.Equals(TraceParent, StringComparison.OrdinalIgnoreCase) || name.Equals(TraceState, StringComparison.OrdinalIgnoreCase))
            {
                headers.RemoveAt(i);
            }
        }

        var id = activity.Id!;
        headers.Add(new Header { Name = TraceParent, Value = id });
        var size = TraceParent.Length + id.Length + 4;
        if (!string.IsNullOrEmpty(activity.TraceStateString))
        {
            headers.Add(new Header { Name = TraceState, Value = activity.TraceStateString });
            size += TraceState.Length + activity.TraceStateString.Length + 4;
        }

        return size;
    }

    /// <summary>Records how the exchange ended; the caller's using ends the span.</summary>
    public static void Finish(Activity? activity, HttpContext context, EdgeOutcome outcome)
    {
        if (activity is null || !activity.IsAllDataRequested)
        {
            return;
        }

        var status = context.Response.StatusCode;
        activity.SetTag("http.response.status_code", status);
        activity.SetTag("teleport.outcome", EdgeMetrics.NameOf(outcome));
        if (context.Response.Headers.TryGetValue(ErrorResponses.ErrorHeader, out var error) && error.Count == 1)
        {
            activity.SetTag("error.type", error[0]);
        }

        // A server span is in error for 5xx only (OpenTelemetry HTTP conventions): 4xx is the client's doing.
        if (status >= 500)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Count == 1 ? error[0] : null);
        }
    }

    private static ActivityContext ParentFrom(IHeaderDictionary headers)
    {
        var parent = headers.TraceParent;
        // Several traceparent fields are invalid (W3C Trace Context 3.2): start a new trace then.
        if (parent.Count != 1)
        {
            return default;
        }

        var state = headers.TraceState;
        return ActivityContext.TryParse(parent[0], state.Count == 1 ? state[0] : null, isRemote: true, out var context) ? context : default;
    }
}
