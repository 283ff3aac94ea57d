namespace Teleport.Edge.Http;

/// <summary>
/// What an upgraded connection carried each way, set as a feature of its request once the relay has ended: neither
/// direction has a Content-Length to report, so the access log takes these counts instead.
/// </summary>
/// <param name="FromClient">Bytes the client sent after the switch, all relayed to the origin.</param>
/// <param name="ToClient">Bytes written to the client after the switch.</param>
internal sealed record RelayedBytes(long FromClient, long ToClient);
