using System.Net;
using BenchmarkDotNet.Attributes;
using Google.Protobuf.Collections;
using Microsoft.AspNetCore.Http;
using Teleport.Edge.Hosting;
using Teleport.Edge.Http;
using Teleport.Edge.Tunnel;
using Teleport.Protocol.V1;

namespace Teleport.Benchmarks;

/// <summary>The edge's per-exchange work outside Kestrel and the tunnel: header mapping and the pending table.</summary>
[MemoryDiagnoser]
public class EdgeBenchmarks
{
    private readonly RepeatedField<Header> _headers = [];
    private readonly PendingExchanges _pending = new();
    private DefaultHttpContext _context = new();

    [GlobalSetup]
    public void Setup()
    {
        _context = new DefaultHttpContext();
        _context.Connection.RemoteIpAddress = IPAddress.Parse("198.51.100.7");
        var request = _context.Request;
        request.Method = "POST";
        request.Scheme = "http";
        var sample = Teleport.Demo.Load.SampleTraffic.Create(2, seed: 1).First(s => s.Body is not null);
        request.Headers.Host = "bid.example.com";
        foreach (var (name, value) in sample.Headers)
        {
            request.Headers.Append(name, value);
        }

        request.Headers.ContentType = "application/json";
        request.Headers.ContentLength = sample.Body!.Length;
    }

    [Benchmark]
    public int CopyRequestHeaders()
    {
        _headers.Clear();
        return RequestHeaders.Copy(_context.Request, ForwardedHeadersMode.Append, _headers);
    }

    [Benchmark]
    public bool PendingAddAndComplete()
    {
        var exchange = _pending.TryAdd(deadline: long.MaxValue, body: null)!;
        return _pending.TryRemove(exchange.Id, out _);
    }
}
