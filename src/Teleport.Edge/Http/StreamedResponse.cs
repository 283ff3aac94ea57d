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
    /// Steps: (1) write the head and the body bytes it holds; (2) write each chunk as it arrives (<see cref="CopyAsync"/>);
    /// (3) at the last chunk append its trailers. A body broken off by the origin, the upstream or the tunnel cuts
    /// the client's response off (never completed as if whole); a client that leaves cancels the exchange.
    /// </summary>
    public static async Task<EdgeOutcome> WriteAsync(HttpContext context, TunnelConnection connection, PendingExchange exchange, ResponseStart head)
    {
        var aborted = context.RequestAborted;
        try
        {
            if (!await ResponseWriter.WriteAsync(context, head))
            {
                connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Abandoned);
                return EdgeOutcome.UpstreamError;
            }

            var last = await CopyAsync(context.Response.Body, connection, exchange, head.Body.Length, aborted);
            if (last.KindCase != OriginItem.KindOneofCase.ResponseBody)
            {
                // Broken off: the client must see a cut response, not a short one that looks whole.
                context.Abort();
                return ReferenceEquals(last, LocalErrors.TunnelLost) ? EdgeOutcome.TunnelError
                    : ReferenceEquals(last, LocalErrors.EdgeStopping) ? EdgeOutcome.Rejected
                    : EdgeOutcome.UpstreamError;
            }

            if (!ResponseWriter.TryFinish(context, last.ResponseBody))
            {
                context.Abort();
                return EdgeOutcome.UpstreamError;
            }

            return head.Status is >= 200 and < 300 ? EdgeOutcome.Success : EdgeOutcome.Non2xx;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            connection.Abandon(exchange, CancelReason.ClientAborted, LocalErrors.Abandoned);
            return EdgeOutcome.Aborted;
        }
    }

    /// <summary>
    /// Writes each chunk of the exchange's body to <paramref name="target"/> as it arrives, granting the written bytes
    /// back in batches, or at once whenever no chunk is waiting (a trickle never starves on a half-spent window).
    /// </summary>
    /// <param name="ungranted">Body bytes already written and not yet granted back (those the head held).</param>
    /// <returns>The last chunk, with its data written; or what broke the body off (an error item, the stream lost, the client gone).</returns>
    public static async Task<OriginItem> CopyAsync(Stream target, TunnelConnection connection, PendingExchange exchange, int ungranted, CancellationToken cancellationToken)
    {
        var body = exchange.Body!;
        // Written bytes go back in quarters of the window while more chunks wait: the origin always has most of it.
        var grantBatch = connection.BodyWindow / 4;
        while (true)
        {
            if (!body.TryRead(out var item))
            {
                ungranted = await GrantAsync(connection, exchange, ungranted, cancellationToken);
                if (!await body.WaitToReadAsync(cancellationToken))
                {
                    return LocalErrors.TunnelLost;
                }

                continue;
            }

            if (item.KindCase != OriginItem.KindOneofCase.ResponseBody)
            {
                return item;
            }

            var chunk = item.ResponseBody;
            if (chunk.Data.Length > 0)
            {
                await target.WriteAsync(chunk.Data.Memory, cancellationToken);
                ungranted += chunk.Data.Length;
                exchange.BodyWritten(chunk.Data.Length);
            }

            if (chunk.End)
            {
                return item;
            }

            if (ungranted >= grantBatch)
            {
                ungranted = await GrantAsync(connection, exchange, ungranted, cancellationToken);
            }
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
