using Teleport.Edge.Diagnostics;
using Teleport.Edge.Tunnel;
using Teleport.Protocol;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// Writes a streamed response ("streaming" capability): the head at once, then each chunk as it arrives, giving
/// the origin more window as the client takes the bytes, so a slow client slows down its own exchange only.
/// </summary>
internal static class StreamedResponse
{

    /// <summary>
    /// Steps: (1) write the head and the body bytes it holds; (2) write each chunk, granting the written bytes back
    /// in batches, or at once whenever no chunk is waiting (a trickle never starves on a half-spent window);
    /// (3) at the last chunk append its trailers. A body broken off by the origin, the upstream or the tunnel cuts
    /// the client's response off (never completed as if whole); a client that leaves cancels the exchange.
    /// </summary>
    public static async Task<EdgeOutcome> WriteAsync(HttpContext context, TunnelConnection connection, PendingExchange exchange, ResponseStart head)
    {
        var aborted = context.RequestAborted;
        var body = exchange.Body!;
        try
        {
            if (!await ResponseWriter.WriteAsync(context, head))
            {
                connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Abandoned);
                return EdgeOutcome.UpstreamError;
            }

            // Written bytes go back in quarters of the window while more chunks wait: the origin always has most of it.
            var grantBatch = connection.BodyWindow / 4;
            var ungranted = head.Body.Length;
            while (true)
            {
                if (!body.TryRead(out var item))
                {
                    ungranted = await GrantAsync(connection, exchange, ungranted, aborted);
                    if (!await body.WaitToReadAsync(aborted))
                    {
                        context.Abort();
                        return EdgeOutcome.TunnelError;
                    }

                    continue;
                }

                if (item.KindCase != OriginItem.KindOneofCase.ResponseBody)
                {
                    // Broken off: the client must see a cut response, not a short one that looks whole.
                    context.Abort();
                    return ReferenceEquals(item, LocalErrors.TunnelLost) ? EdgeOutcome.TunnelError : EdgeOutcome.UpstreamError;
                }

                var chunk = item.ResponseBody;
                if (chunk.Data.Length > 0)
                {
                    await context.Response.Body.WriteAsync(chunk.Data.Memory, aborted);
                    ungranted += chunk.Data.Length;
                }

                if (chunk.End)
                {
                    if (!ResponseWriter.TryFinish(context, chunk))
                    {
                        context.Abort();
                        return EdgeOutcome.UpstreamError;
                    }

                    return head.Status is >= 200 and < 300 ? EdgeOutcome.Success : EdgeOutcome.Non2xx;
                }

                if (ungranted >= grantBatch)
                {
                    ungranted = await GrantAsync(connection, exchange, ungranted, aborted);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            connection.Abandon(exchange, CancelReason.ClientAborted, LocalErrors.Abandoned);
            return EdgeOutcome.Aborted;
        }
    }

    /// <returns>0: nothing left ungranted.</returns>
    private static async ValueTask<int> GrantAsync(TunnelConnection connection, PendingExchange exchange, int bytes, CancellationToken cancellationToken)
    {
        if (bytes > 0)
        {
            exchange.Granted(bytes);
            await connection.GrantAsync(exchange, bytes, cancellationToken);
        }

        return 0;
    }
}
