namespace Teleport.Protocol.Framing;

/// <summary>Caps on one batch message. An item larger than <see cref="MaxBytes"/> travels alone.</summary>
/// <param name="MaxDelay">
/// How long a message that is not full may wait for more items after its first; zero (the default)
/// writes whatever is queued at once, so batches grow only with load and add no latency.
/// </param>
internal readonly record struct BatchLimits(int MaxItems, int MaxBytes, TimeSpan MaxDelay = default)
{
    /// <summary>Room left in every message for item envelopes and headers beside the body bytes.</summary>
    public const int HeadroomBytes = 1024 * 1024;

    /// <summary>The largest message a receiver must accept given its own body and batch limits.</summary>
    public static int ReceiveLimit(long maxBodyBytes, int maxBatchBytes)
        => (int)Math.Min(int.MaxValue, maxBodyBytes + maxBatchBytes + HeadroomBytes);

    /// <summary>These limits, with batches kept under what the peer said it accepts.</summary>
    public BatchLimits FitTo(uint peerMaxMessageBytes)
    {
        var peerMax = peerMaxMessageBytes == 0 ? TunnelProtocol.GrpcDefaultMaxMessageBytes : (long)peerMaxMessageBytes;
        var room = (int)Math.Clamp(peerMax - HeadroomBytes, 1, int.MaxValue);
        return this with { MaxBytes = Math.Min(MaxBytes, room) };
    }
}
