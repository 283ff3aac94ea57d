using System.Buffers;
using Google.Protobuf;
using Teleport.Edge.Tunnel;
using Teleport.Protocol;
using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Edge.Http;

/// <summary>
/// Sends a request whose body is long or of unknown length ("streaming" capability): the start at once, then the
/// body in chunks as the client sends it, under the window the origin grants, so it is never held whole here.
/// </summary>
internal static class StreamedRequest
{
    /// <summary>Bodies of a known length up to this size are read whole and sent in the start.</summary>
    public const int WholeBodyBytes = 64 * 1024;

    /// <summary>
    /// Waits until the body has ended or grown past <see cref="WholeBodyBytes"/>, leaving all of it unread in the
    /// request's pipe; true when it ended short (it may then go whole in the start, with its length upstream).
    /// Only for HTTP/1.x, where a client sends its whole body before it reads the answer: over HTTP/2 a client may
    /// wait for answers while its body goes on (a bidirectional gRPC call), so such a body is streamed at once.
    /// </summary>
    public static async ValueTask<bool> IsShortAsync(System.IO.Pipelines.PipeReader body, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await body.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (result.IsCompleted || buffer.Length > WholeBodyBytes)
            {
                body.AdvanceTo(buffer.Start);
                return result.IsCompleted && buffer.Length <= WholeBodyBytes;
            }

            // Nothing consumed, all examined: the next read waits for more of the body.
            body.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Why the pumping of a body stopped.</summary>
    internal enum PumpEnd
    {
        Sent,
        TooLarge,
        StreamEnded,
    }

    /// <summary>
    /// Steps: (1) register the exchange (no deadline while the body flows: a big upload may take long) and queue
    /// the start; (2) pump the body in chunks, each waiting for window; (3) once it is all out, start the request
    /// timeout; a body over <paramref name="maxBody"/> abandons the exchange with 413, one the client breaks (bad
    /// framing) with 400; (4) wait for the answer, which may come before the body has ended: a whole answer ends
    /// the upload (the origin wants no more of it), a streamed one lets it go on beside the response (full duplex,
    /// as a bidirectional gRPC call needs) until the response ends; that upload is returned, to be stopped then.
    /// </summary>
    public static async Task<(OriginItem Answer, PendingExchange? Exchange, OngoingUpload? Upload)> SendAsync(HttpContext context, TunnelConnection connection,
        RequestStart start, int size, long deadlineMs, CancellationToken aborted)
    {
        var exchange = connection.TryBegin(long.MaxValue, null);
        if (exchange is null)
        {
            return (LocalErrors.TunnelLost, null, null);
        }

        exchange.BeginUpload(connection.UploadWindow);
        await connection.SendAsync(exchange, new EdgeItem { ExchangeId = exchange.Id, RequestStart = start }, size, aborted);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var maxBody = connection.MaxStreamedRequestBodySize;
        var pumping = PumpAsync(context.Request.Body, connection, exchange, maxBody, stop.Token);
        using (aborted.Register(static s => ((EdgeRequestHandler.AbandonState)s!).Abandon(), new EdgeRequestHandler.AbandonState(connection, exchange)))
        {
            if (await Task.WhenAny(exchange.Answer, pumping) == pumping)
            {
                await EndUploadAsync(pumping, connection, exchange, maxBody, deadlineMs, aborted);
            }

            var answer = await exchange.Answer;
            if (answer.ResponseStart is { BodyFollows: true } && !pumping.IsCompleted)
            {
                return (answer, exchange, new OngoingUpload(pumping, stop, connection, exchange, maxBody));
            }

            await stop.CancelAsync();
            try
            {
                await pumping;
            }
            catch (Exception)
            {
                // Stopped because the answer came first: the origin wants no more of the body.
            }
            finally
            {
                stop.Dispose();
            }

            return (answer, exchange, null);
        }
    }

    /// <summary>
    /// Lifts Kestrel's minimum body data rate for a gRPC call over HTTP/2 or later: a streaming call may send nothing for
    /// minutes while the server streams (ASP.NET Core's gRPC server and YARP lift it too); the limits on pending
    /// exchanges and streams still bound the slots such calls hold. Only before the body's first read: Kestrel
    /// decides then whether to time it.
    /// </summary>
    public static void AllowIdleGrpcBody(HttpContext context)
    {
        if (IsGrpc(context.Request))
        {
            context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>()?.MinDataRate = null;
        }
    }

    /// <summary>HTTP/2 or later with a gRPC content type: a call whose messages may flow both ways at once, at any pace.</summary>
    private static bool IsGrpc(HttpRequest request)
        => !HttpProtocol.IsHttp11(request.Protocol) && !HttpProtocol.IsHttp10(request.Protocol)
            && request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>A request body still being pumped while its streamed response is written.</summary>
    internal sealed class OngoingUpload
    {
        private readonly CancellationTokenSource _stop;
        private readonly Task _watching;

        public OngoingUpload(Task<PumpEnd> pumping, CancellationTokenSource stop, TunnelConnection connection, PendingExchange exchange, long maxBody)
        {
            _stop = stop;
            _watching = WatchAsync(pumping, connection, exchange, maxBody);
        }

        /// <summary>Ends the upload once the response has ended or failed: whatever of the body is still coming is not wanted any more.</summary>
        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _watching;
            _stop.Dispose();
        }

        // A body that grows too large ends the exchange at once (the response is cut off), not when the response ends.
        private static async Task WatchAsync(Task<PumpEnd> pumping, TunnelConnection connection, PendingExchange exchange, long maxBody)
        {
            try
            {
                if (await pumping == PumpEnd.TooLarge)
                {
                    AbandonTooLarge(connection, exchange, maxBody);
                }
            }
            catch (Exception)
            {
                // Stopped, or the client's body broke off: either way no more of it goes.
            }
        }
    }

    private static void AbandonTooLarge(TunnelConnection connection, PendingExchange exchange, long maxBody)
        => connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Error(ErrorCode.RequestTooLarge, $"the request body is larger than {maxBody} bytes"));

    private static async Task EndUploadAsync(Task<PumpEnd> pumping, TunnelConnection connection, PendingExchange exchange, long maxBody, long deadlineMs, CancellationToken aborted)
    {
        try
        {
            switch (await pumping)
            {
                case PumpEnd.Sent:
                    exchange.UploadEnded(Environment.TickCount64 + deadlineMs);
                    break;
                case PumpEnd.TooLarge:
                    AbandonTooLarge(connection, exchange, maxBody);
                    break;
            }
        }
        catch (Exception ex) when (!aborted.IsCancellationRequested && ex is IOException)
        {
            // Kestrel found the body's framing broken: nothing more of it goes, and the origin drops the exchange.
            connection.Abandon(exchange, CancelReason.Unspecified, LocalErrors.Error(ErrorCode.BadRequest, $"the request body cannot be read: {ex.Message.TrimEnd('.')}"));
        }
    }

    /// <summary>
    /// Sends what <paramref name="source"/> yields as request_body chunks, each waiting for the origin's window, and a
    /// last chunk when it ends: a request body, or the client's side of an upgraded connection.
    /// </summary>
    internal static async Task<PumpEnd> PumpAsync(Stream source, TunnelConnection connection, PendingExchange exchange, long maxBody, CancellationToken cancellationToken)
    {
        var window = exchange.UploadWindow!;
        long total = 0;
        while (true)
        {
            var size = Math.Min(TunnelProtocol.BodyChunkBytes, await window.WaitAsync(cancellationToken));
            var buffer = ArrayPool<byte>.Shared.Rent(size);
            int read;
            try
            {
                read = await source.ReadAsync(buffer.AsMemory(0, size), cancellationToken);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }

            if (read == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                var last = new BodyChunk { End = true };
                return await connection.SendChunkAsync(new OutgoingItem<EdgeItem>(new EdgeItem { ExchangeId = exchange.Id, RequestBody = last }, 16) { IsBulk = true }, cancellationToken)
                    ? PumpEnd.Sent
                    : PumpEnd.StreamEnded;
            }

            total += read;
            if (total > maxBody)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                return PumpEnd.TooLarge;
            }

            window.Consume(read);
            exchange.BodySent(read);
            var chunk = new EdgeItem { ExchangeId = exchange.Id, RequestBody = new BodyChunk { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)) } };
            if (!await connection.SendChunkAsync(new OutgoingItem<EdgeItem>(chunk, read + 24, buffer) { IsBulk = true }, cancellationToken))
            {
                return PumpEnd.StreamEnded;
            }
        }
    }
}
