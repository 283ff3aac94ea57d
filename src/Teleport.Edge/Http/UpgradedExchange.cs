using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Teleport.Edge.Diagnostics;
using Teleport.Edge.Tunnel;
using Teleport.Protocol;
using Teleport.Protocol.Http;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// A WebSocket handshake carried through the tunnel ("upgrade" capability) and, once the upstream has answered 101,
/// the connection's bytes both ways: the client's as request_body chunks under the origin's window, the upstream's
/// as response_body chunks under this edge's. An HTTP/2 client's handshake (RFC 8441 extended CONNECT) travels as the
/// HTTP/1.1 one it stands for, so origins and upstreams see one kind only; its stream then carries the same bytes.
/// </summary>
internal static class UpgradedExchange
{
    /// <summary>Whether an upgradable request asks for a WebSocket (RFC 6455 4.1: a GET whose Upgrade lists "websocket").</summary>
    public static bool IsWebSocket(HttpRequest request)
    {
        if (!HttpMethods.IsGet(request.Method))
        {
            return false;
        }

        foreach (var value in request.Headers.Upgrade)
        {
            if (value is not null && HopByHopHeaders.ListsToken(value, TunnelProtocol.WebSocketUpgrade))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether an HTTP/2 extended CONNECT asks for a WebSocket (RFC 8441 4: :protocol "websocket").</summary>
    public static bool IsWebSocket(IHttpExtendedConnectFeature connect)
        => connect.IsExtendedConnect && string.Equals(connect.Protocol, TunnelProtocol.WebSocketUpgrade, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Turns the start of an extended CONNECT into the HTTP/1.1 handshake it stands for (RFC 8441 5): method GET and a
    /// fresh Sec-WebSocket-Key, which RFC 8441 drops (the stream itself shows that the server took the request as a
    /// WebSocket). The upstream's Sec-WebSocket-Accept answers this key only, so it goes no further than the edge
    /// (<see cref="ResponseWriter.SwitchAsync"/>). Every other field (version, subprotocols, extensions, Origin,
    /// cookies, ...) is the client's own.
    /// </summary>
    /// <returns>Roughly how many bytes the start grew by.</returns>
    public static int AsHttp11Handshake(RequestStart start)
    {
        start.Method = HttpMethods.Get;
        var headers = start.Headers;
        for (var i = headers.Count - 1; i >= 0; i--)
        {
            // A client has no key to send over HTTP/2; one that does anyway must not become a second field.
            if (headers[i].Name.Equals(HeaderNames.SecWebSocketKey, StringComparison.OrdinalIgnoreCase))
            {
                headers.RemoveAt(i);
            }
        }

        // RFC 6455 4.1: a random 16-byte nonce, base64-encoded.
        Span<byte> nonce = stackalloc byte[16];
        RandomNumberGenerator.Fill(nonce);
        headers.Add(new Header { Name = HeaderNames.SecWebSocketKey, Value = Convert.ToBase64String(nonce) });
        return HeaderNames.SecWebSocketKey.Length + 24 + 4;
    }

    /// <summary>
    /// Queues the handshake's start and waits for the answer; the request timeout (the exchange's deadline) bounds
    /// only this wait. Nothing of the client's side is sent before a 101: there is none before the switch.
    /// </summary>
    public static async Task<(OriginItem Answer, PendingExchange? Exchange)> SendAsync(TunnelConnection connection, RequestStart start, int size, long deadlineMs, CancellationToken aborted)
    {
        var exchange = connection.TryBegin(Environment.TickCount64 + deadlineMs, null);
        if (exchange is null)
        {
            return (LocalErrors.TunnelLost, null);
        }

        exchange.BeginUpgrade(connection.UploadWindow);
        await connection.SendAsync(exchange, new EdgeItem { ExchangeId = exchange.Id, RequestStart = start }, size, aborted);
        using (aborted.Register(static s => ((EdgeRequestHandler.AbandonState)s!).Abandon(), new EdgeRequestHandler.AbandonState(connection, exchange)))
        {
            return (await exchange.Answer, exchange);
        }
    }

    /// <summary>
    /// Steps: (1) switch the client's connection (HTTP/1.1) or accept its stream (HTTP/2) with the upstream's 101
    /// fields; (2) send the client's bytes in the background until it closes its side (then a last chunk: the origin
    /// closes the upstream connection) or fails (then a cancel); (3) write the upstream's bytes to the client until the
    /// origin ends that direction. The exchange ends with it: the client's connection (or stream) is closed, or cut off
    /// (aborted) when the origin, the upstream or the tunnel broke it off. The bytes relayed each way are left for the
    /// access log as <see cref="RelayedBytes"/>.
    /// </summary>
    public static async Task<EdgeOutcome> RelayAsync(HttpContext context, TunnelConnection connection, PendingExchange exchange, ResponseStart head)
    {
        var aborted = context.RequestAborted;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var sending = Task.CompletedTask;
        var switched = false;
        try
        {
            var client = await ResponseWriter.SwitchAsync(context, head, TunnelProtocol.WebSocketUpgrade);
            if (client is null)
            {
                connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Abandoned);
                return EdgeOutcome.UpstreamError;
            }

            switched = true;
            sending = SendClientSideAsync(client, connection, exchange, stop.Token);
            if (head.Body.Length > 0)
            {
                await client.WriteAsync(head.Body.Memory, aborted);
                exchange.BodyWritten(head.Body.Length);
            }

            var last = await StreamedResponse.CopyAsync(client, connection, exchange, head.Body.Length, aborted);
            if (last.KindCase == OriginItem.KindOneofCase.ResponseBody)
            {
                return EdgeOutcome.Success;
            }

            context.Abort();
            return ReferenceEquals(last, LocalErrors.Abandoned) ? EdgeOutcome.Aborted
                : ReferenceEquals(last, LocalErrors.TunnelLost) ? EdgeOutcome.TunnelError
                : ReferenceEquals(last, LocalErrors.EdgeStopping) ? EdgeOutcome.Rejected
                : EdgeOutcome.UpstreamError;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            connection.Abandon(exchange, CancelReason.ClientAborted, LocalErrors.Abandoned);
            return EdgeOutcome.Aborted;
        }
        finally
        {
            await stop.CancelAsync();
            await sending;
            if (switched)
            {
                // Both directions have stopped: the counts are final.
                context.Features.Set(new RelayedBytes(exchange.BodyBytesSent, exchange.BodyBytesWritten));
            }
        }
    }

    /// <summary>The client's side, as request body chunks; a client that breaks its connection cancels the exchange.</summary>
    private static async Task SendClientSideAsync(Stream client, TunnelConnection connection, PendingExchange exchange, CancellationToken cancellationToken)
    {
        try
        {
            // No body limit: a WebSocket lasts as long as its peers keep it, whatever it carries.
            await StreamedRequest.PumpAsync(client, connection, exchange, long.MaxValue, cancellationToken);
        }
        catch (Exception)
        {
            // Stopped because the exchange has ended; otherwise the client broke its connection, and the other
            // direction learns it from the body, which Abandon ends.
            if (!cancellationToken.IsCancellationRequested)
            {
                connection.Abandon(exchange, CancelReason.ClientAborted, LocalErrors.Abandoned);
            }
        }
    }
}
