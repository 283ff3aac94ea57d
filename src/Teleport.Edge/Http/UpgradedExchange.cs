using Microsoft.AspNetCore.Http.Features;
using Teleport.Edge.Diagnostics;
using Teleport.Edge.Tunnel;
using Teleport.Protocol;
using Teleport.Protocol.Http;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// A WebSocket handshake carried through the tunnel ("upgrade" capability) and, once the upstream has answered 101,
/// the connection's bytes both ways: the client's as request_body chunks under the origin's window, the upstream's
/// as response_body chunks under this edge's.
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
    /// Steps: (1) switch the client's connection with the upstream's 101 fields; (2) send the client's bytes in the
    /// background until it closes its side (then a last chunk: the origin closes the upstream connection) or fails
    /// (then a cancel); (3) write the upstream's bytes to the client until the origin ends that direction. The
    /// exchange ends with it: the client's connection is closed, or cut off (aborted) when the origin, the upstream
    /// or the tunnel broke it off.
    /// </summary>
    public static async Task<EdgeOutcome> RelayAsync(HttpContext context, IHttpUpgradeFeature upgrade, TunnelConnection connection, PendingExchange exchange, ResponseStart head)
    {
        var aborted = context.RequestAborted;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var sending = Task.CompletedTask;
        try
        {
            var client = await ResponseWriter.SwitchAsync(context, upgrade, head, TunnelProtocol.WebSocketUpgrade);
            if (client is null)
            {
                connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Abandoned);
                return EdgeOutcome.UpstreamError;
            }

            sending = SendClientSideAsync(client, connection, exchange, stop.Token);
            if (head.Body.Length > 0)
            {
                await client.WriteAsync(head.Body.Memory, aborted);
            }

            var last = await StreamedResponse.CopyAsync(client, connection, exchange, head.Body.Length, aborted);
            if (last.KindCase == OriginItem.KindOneofCase.ResponseBody)
            {
                return EdgeOutcome.Success;
            }

            context.Abort();
            return ReferenceEquals(last, LocalErrors.Abandoned) ? EdgeOutcome.Aborted
                : ReferenceEquals(last, LocalErrors.TunnelLost) ? EdgeOutcome.TunnelError
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
