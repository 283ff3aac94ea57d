namespace Teleport.Protocol;

/// <summary>Constants of the tunnel contract (protos/teleport/v1/tunnel.proto).</summary>
internal static class TunnelProtocol
{
    /// <summary>The protocol version this build speaks.</summary>
    public const uint Version = 1;

    /// <summary>Capability of an origin that answers pings with pongs (docs/protocol.md, "Heartbeat").</summary>
    public const string HeartbeatCapability = "heartbeat";

    /// <summary>Capability of an edge that understands drain items (docs/protocol.md, "Drain").</summary>
    public const string DrainCapability = "drain";

    /// <summary>Capability of a side that streams bodies in chunks under per-exchange windows (docs/protocol.md, "Streamed bodies").</summary>
    public const string StreamingCapability = "streaming";

    /// <summary>Capability of a side that carries WebSocket upgrades as two streamed bodies (docs/protocol.md, "Upgrades (WebSockets)").</summary>
    public const string UpgradeCapability = "upgrade";

    /// <summary>The one upgrade token version 1 carries (RequestStart.upgrade), lower case.</summary>
    public const string WebSocketUpgrade = "websocket";

    /// <summary>Body bytes of one exchange a sender may have unacknowledged when the receiver announces no window (the contract's default).</summary>
    public const int DefaultExchangeWindow = 256 * 1024;

    /// <summary>
    /// The window our sides give each streamed body by default (--body-window): 4 MiB keeps one transfer at ~80 % of
    /// 200 Mbit/s across 80 ms, where the contract's 256 KiB would cap it near 26 Mbit/s.
    /// </summary>
    public const int DefaultBodyWindow = 4 * 1024 * 1024;

    /// <summary>Largest body chunk our sides send: small enough that one exchange's body cannot crowd out others in a message.</summary>
    public const int BodyChunkBytes = 32 * 1024;

    /// <summary>gRPC's default message size limit, assumed when a peer announces none.</summary>
    public const int GrpcDefaultMaxMessageBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Request metadata that makes Grpc.Net.Client compress the messages it sends with the named
    /// encoding (the client has no per-channel setting for it).
    /// </summary>
    public const string ClientEncodingMetadataKey = "grpc-internal-encoding-request";

    /// <summary>The name peers announce in logs, e.g. "teleport-edge/1.0.0".</summary>
    public static string Agent(string service)
        => $"{service}/{typeof(TunnelProtocol).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"}";
}
