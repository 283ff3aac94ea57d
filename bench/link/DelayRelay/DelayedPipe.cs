using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Teleport.DelayRelay;

/// <summary>
/// One direction of a relayed connection: a reader loop stamps each chunk with its arrival time and queues it,
/// a writer loop sends it once the delay has passed. The two run apart, so the reader keeps reading while chunks
/// wait, as a long wire holds bytes in flight: the queue, not the reader, carries the bandwidth-delay product.
/// </summary>
internal sealed class DelayedPipe(Socket from, Socket to, TimeSpan delay)
{
    // 64 KiB reads, as YARP's StreamCopier; 4096 chunks in flight hold 6 MiB even of 1.5 KiB reads, more than
    // 200 Mbit/s x 100 ms (2.5 MB), and bound the relay's memory when the receiving side stops reading.
    private const int ChunkSize = 64 * 1024;
    private const int MaxChunksInFlight = 4096;

    private readonly Channel<(long Due, byte[] Buffer, int Length)> _queue =
        Channel.CreateBounded<(long, byte[], int)>(new BoundedChannelOptions(MaxChunksInFlight) { SingleReader = true, SingleWriter = true });

    private readonly long _delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Returns true when the direction ended cleanly (end of stream passed on), false on a failure.</summary>
    public async Task<bool> RunAsync(CancellationToken cancellationToken)
    {
        var reading = ReadAsync(cancellationToken);
        var writing = WriteAsync(cancellationToken);
        var ok = await reading & await writing;
        while (_queue.Reader.TryRead(out var left))
        {
            ArrayPool<byte>.Shared.Return(left.Buffer);
        }

        return ok;
    }

    private async Task<bool> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                int read;
                try
                {
                    read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }

                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    _queue.Writer.TryComplete();
                    return true;
                }

                await _queue.Writer.WriteAsync((Stopwatch.GetTimestamp() + _delayTicks, buffer, read), cancellationToken);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ChannelClosedException or ObjectDisposedException)
        {
            _queue.Writer.TryComplete(e);
            return false;
        }
    }

    private async Task<bool> WriteAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync(cancellationToken))
            {
                while (reader.TryRead(out var chunk))
                {
                    try
                    {
                        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), chunk.Due);
                        if (wait > TimeSpan.Zero)
                        {
                            await Task.Delay(wait, cancellationToken);
                        }

                        await to.SendAsync(chunk.Buffer.AsMemory(0, chunk.Length), SocketFlags.None, cancellationToken);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(chunk.Buffer);
                    }
                }
            }

            // End of stream arrives as late as the bytes before it.
            to.Shutdown(SocketShutdown.Send);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ChannelClosedException or ObjectDisposedException)
        {
            _queue.Writer.TryComplete();
            return false;
        }
    }
}
