using System.Buffers.Binary;
using System.IO.Compression;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// gRPC's length-prefixed message framing done by hand (a flag byte, a 4-byte big-endian length, the payload),
/// so hostile peers can send what no generated client or server would: junk payloads, lying lengths.
/// </summary>
internal static class GrpcWire
{
    public const string ContentType = "application/grpc";

    public const string TunnelPath = "/teleport.v1.Tunnel/Open";

    /// <summary>One message: <paramref name="payload"/> behind a prefix declaring <paramref name="declaredLength"/> (default: its real length).</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload, uint? declaredLength = null)
    {
        var bytes = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(1), declaredLength ?? (uint)payload.Length);
        payload.CopyTo(bytes.AsSpan(5));
        return bytes;
    }

    /// <summary>Reads one message's payload (gunzipped when flagged compressed); null at a clean end of the stream.</summary>
    public static async Task<byte[]?> ReadMessageAsync(Stream stream, CancellationToken cancellationToken)
    {
        var prefix = new byte[5];
        if (!await FillAsync(stream, prefix, cancellationToken))
        {
            return null;
        }

        var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(prefix.AsSpan(1))];
        if (!await FillAsync(stream, payload, cancellationToken))
        {
            throw new EndOfStreamException("The stream ended inside a message.");
        }

        if (prefix[0] == 0)
        {
            return payload;
        }

        using var gzip = new GZipStream(new MemoryStream(payload), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        await gzip.CopyToAsync(plain, cancellationToken);
        return plain.ToArray();
    }

    /// <summary>False when the stream ended before the first byte.</summary>
    private static async Task<bool> FillAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken);
            if (read == 0)
            {
                return filled == 0 ? false : throw new EndOfStreamException("The stream ended inside a message.");
            }

            filled += read;
        }

        return true;
    }
}
