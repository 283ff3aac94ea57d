using Teleport.Protocol.V1;

namespace Teleport.Edge.Tunnel;

/// <summary>Answers the edge gives itself when the origin cannot; shared and never modified.</summary>
internal static class LocalErrors
{
    public static readonly OriginItem TunnelLost = Error(ErrorCode.Unspecified, "the tunnel to the origin was lost before the response arrived");

    /// <summary>The stream ended before the exchange's start was written: the origin never saw it (so it may go elsewhere).</summary>
    public static readonly OriginItem NotSent = Error(ErrorCode.Unspecified, "the tunnel to the origin was lost before the request could be sent");

    public static readonly OriginItem NoAnswer = Error(ErrorCode.UpstreamTimeout, "no answer came back through the tunnel in time (the origin's own timeout answer was lost or late: a slow origin or tunnel)");

    public static readonly OriginItem BrokenBody = Error(ErrorCode.UpstreamResponse, "the origin broke off the response body");

    public static readonly OriginItem Abandoned = Error(ErrorCode.Unspecified, "the client went away");

    /// <summary>The edge is stopping and its --drain-timeout has run out before the answer came (answered 503, never retried).</summary>
    public static readonly OriginItem EdgeStopping = Error(ErrorCode.Unspecified, "the edge is shutting down and the response did not come within its --drain-timeout");

    /// <summary>A one-off error answer (for messages that name a value).</summary>
    public static OriginItem Error(ErrorCode code, string message)
        => new() { Error = new ExchangeError { Code = code, Message = message } };
}
