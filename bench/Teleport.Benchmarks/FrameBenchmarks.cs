using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Teleport.Protocol.V1;

namespace Teleport.Benchmarks;

/// <summary>Protobuf cost per batch of 16 exchanges: what the writer serializes and the reader parses.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private EdgeFrame _requests = new();
    private byte[] _requestBytes = [];
    private byte[] _responseBytes = [];
    private byte[] _buffer = [];

    [GlobalSetup]
    public void Setup()
    {
        _requests = new EdgeFrame { Batch = new EdgeBatch { Items = { SampleExchanges.Requests(16) } } };
        _requestBytes = _requests.ToByteArray();
        _responseBytes = new OriginFrame { Batch = new OriginBatch { Items = { SampleExchanges.Responses(16) } } }.ToByteArray();
        _buffer = new byte[_requestBytes.Length * 2];
    }

    [Benchmark]
    public int SerializeRequestBatch()
    {
        var size = _requests.CalculateSize();
        _requests.WriteTo(_buffer.AsSpan(0, size));
        return size;
    }

    [Benchmark]
    public int ParseRequestBatch() => EdgeFrame.Parser.ParseFrom(_requestBytes).Batch.Items.Count;

    [Benchmark]
    public int ParseResponseBatch() => OriginFrame.Parser.ParseFrom(_responseBytes).Batch.Items.Count;
}
