namespace Teleport.Conformance.Infrastructure;

/// <summary>A stream codec of docs/protocol.md ("stream-compression/NAME"), written from the document alone.</summary>
internal interface IStreamCodec : IDisposable
{
    /// <summary>Its name in the hellos.</summary>
    string Name { get; }

    /// <summary>Compresses one message against everything compressed before, flushed so it decodes alone.</summary>
    byte[] Compress(ReadOnlySpan<byte> message);

    /// <summary>Decodes one message: everything the peer flushed for it.</summary>
    byte[] Decompress(ReadOnlySpan<byte> input);

    /// <summary>A codec by its name in the hellos.</summary>
    static IStreamCodec Create(string name) => name switch
    {
        "brotli" => new BrotliStreamCodec(),
        "zstd" => new ZstdStreamCodec(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a stream codec of the contract"),
    };
}
