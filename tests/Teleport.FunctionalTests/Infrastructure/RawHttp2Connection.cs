using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// HTTP/2 with prior knowledge written frame by frame over a plain socket (RFC 9113), for what HttpClient never
/// sends: CONTINUATION floods, streams over the server's limit, resets in bulk, lying lengths, bad pseudo-headers.
/// Header blocks are HPACK literals without indexing or Huffman coding (RFC 7541 6.2.2), which every decoder takes.
/// </summary>
internal sealed class RawHttp2Connection : IAsyncDisposable
{
    public const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7, WindowUpdate = 0x8, Continuation = 0x9;
    public const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;
    public const uint RefusedStream = 0x7;

    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    // The reader acknowledges SETTINGS and PING while the test writes: one frame at a time on the wire.
    private readonly SemaphoreSlim _writing = new(1, 1);

    private RawHttp2Connection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Connects, sends the preface and an empty SETTINGS, and acknowledges the server's settings as they come.</summary>
    public static async Task<RawHttp2Connection> ConnectAsync(Uri server)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.Host, server.Port);
        var connection = new RawHttp2Connection(socket);
        await connection.WriteRawAsync(Preface);
        await connection.WriteFrameAsync(Settings, 0, 0, []);
        return connection;
    }

    /// <summary>A header block: each field as a literal without indexing, new name (RFC 7541 6.2.2).</summary>
    public static byte[] Encode(params (string Name, string Value)[] fields)
    {
        var block = new MemoryStream();
        foreach (var (name, value) in fields)
        {
            block.WriteByte(0x00);
            WriteString(block, name);
            WriteString(block, value);
        }

        return block.ToArray();
    }

    /// <summary>The usual request head with the given method, path and authority, then <paramref name="extra"/>.</summary>
    public static byte[] Request(string method, string path, string authority, params (string Name, string Value)[] extra)
        => Encode([(":method", method), (":scheme", "http"), (":path", path), (":authority", authority), .. extra]);

    public Task WriteFrameAsync(byte type, byte flags, uint streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), streamId & 0x7FFF_FFFF);
        payload.CopyTo(frame.AsSpan(9));
        return WriteRawAsync(frame);
    }

    public Task WriteHeadersAsync(uint streamId, byte[] block, bool endStream)
        => WriteFrameAsync(Headers, (byte)(EndHeaders | (endStream ? EndStream : 0)), streamId, block);

    public Task WriteRstAsync(uint streamId, uint errorCode)
    {
        Span<byte> code = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(code, errorCode);
        return WriteFrameAsync(RstStream, 0, streamId, code);
    }

    public async Task WriteRawAsync(byte[] bytes)
    {
        await _writing.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes);
            await _stream.FlushAsync();
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>
    /// The next frame other than SETTINGS, PING and WINDOW_UPDATE (answered or skipped here); null once the server has
    /// closed the connection (a reset counts as closed).
    /// </summary>
    public async Task<Frame?> ReadFrameAsync()
    {
        while (true)
        {
            var head = new byte[9];
            if (!await FillAsync(head))
            {
                return null;
            }

            var length = (head[0] << 16) | (head[1] << 8) | head[2];
            var payload = new byte[length];
            if (!await FillAsync(payload))
            {
                return null;
            }

            var frame = new Frame(head[3], head[4], BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(5)) & 0x7FFF_FFFF, payload);
            switch (frame.Type)
            {
                case Settings when (frame.Flags & Ack) == 0:
                    await WriteFrameAsync(Settings, Ack, 0, []);
                    continue;
                case Settings or WindowUpdate:
                    continue;
                case Ping when (frame.Flags & Ack) == 0:
                    await WriteFrameAsync(Ping, Ack, 0, frame.Payload);
                    continue;
                default:
                    return frame;
            }
        }
    }

    /// <summary>Reads until a frame matches; null when the connection closed first.</summary>
    public async Task<Frame?> ReadUntilAsync(Func<Frame, bool> match)
    {
        while (await ReadFrameAsync() is { } frame)
        {
            if (match(frame))
            {
                return frame;
            }
        }

        return null;
    }

    /// <summary>
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 6.5.2, id 0x3) from its first SETTINGS frame, acknowledged;
    /// null when it announced none.
    /// </summary>
    public async Task<uint?> ReadMaxConcurrentStreamsAsync()
        => (await ReadServerSettingsAsync()).TryGetValue(0x3, out var value) ? value : null;

    /// <summary>The settings of the server's first SETTINGS frame by id (RFC 9113 6.5.1), acknowledged.</summary>
    public async Task<Dictionary<ushort, uint>> ReadServerSettingsAsync()
    {
        var head = new byte[9];
        if (!await FillAsync(head) || head[3] != Settings)
        {
            throw new InvalidDataException("The server's first frame is not SETTINGS.");
        }

        var payload = new byte[(head[0] << 16) | (head[1] << 8) | head[2]];
        await FillAsync(payload);
        await WriteFrameAsync(Settings, Ack, 0, []);
        var settings = new Dictionary<ushort, uint>();
        for (var i = 0; i + 6 <= payload.Length; i += 6)
        {
            settings[BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
        }

        return settings;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Close(0);
        return _stream.DisposeAsync();
    }

    private async Task<bool> FillAsync(byte[] buffer)
    {
        var read = 0;
        try
        {
            while (read < buffer.Length)
            {
                var n = await _stream.ReadAsync(buffer.AsMemory(read));
                if (n == 0)
                {
                    return false;
                }

                read += n;
            }
        }
        catch (IOException)
        {
            return false;
        }

        return true;
    }

    private static void WriteString(MemoryStream block, string text)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        WriteInteger(block, bytes.Length);
        block.Write(bytes);
    }

    /// <summary>An HPACK integer with a 7-bit prefix and the Huffman bit clear (RFC 7541 5.1).</summary>
    private static void WriteInteger(MemoryStream block, int value)
    {
        if (value < 127)
        {
            block.WriteByte((byte)value);
            return;
        }

        block.WriteByte(127);
        value -= 127;
        while (value >= 128)
        {
            block.WriteByte((byte)(value % 128 + 128));
            value /= 128;
        }

        block.WriteByte((byte)value);
    }

    /// <summary>One frame as received.</summary>
    public sealed record Frame(byte Type, byte Flags, uint StreamId, byte[] Payload)
    {
        /// <summary>The error code of a RST_STREAM, or of a GOAWAY (after its last stream id).</summary>
        public uint ErrorCode => Type switch
        {
            RstStream => BinaryPrimitives.ReadUInt32BigEndian(Payload),
            GoAway => BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4)),
            _ => 0,
        };

        /// <summary>
        /// The :status of a HEADERS frame, which servers put first: an indexed static-table entry (RFC 7541 Appendix A), or
        /// a literal with the indexed name :status (index 8) and a plain (not Huffman-coded) value; 0 otherwise.
        /// </summary>
        public int Status
        {
            get
            {
                if (Type != Headers || Payload.Length == 0)
                {
                    return 0;
                }

                if ((Payload[0] & 0x80) != 0)
                {
                    return (Payload[0] & 0x7F) switch { 8 => 200, 9 => 204, 10 => 206, 11 => 304, 12 => 400, 13 => 404, 14 => 500, _ => 0 };
                }

                // 0x08 without indexing, 0x18 never indexed, 0x48 with incremental indexing: name index 8, :status.
                return Payload is [0x08 or 0x18 or 0x48, 3, var a, var b, var c, ..] && int.TryParse(Encoding.ASCII.GetString([a, b, c]), out var status) ? status : 0;
            }
        }
    }
}
