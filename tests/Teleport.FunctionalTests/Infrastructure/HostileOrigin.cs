using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// An origin that answers the tunnel call at the byte level on h2c, as a test script says: valid frames,
/// junk, lying lengths, answers for ids nobody asked for. Each call the edge opens runs the script once.
/// </summary>
internal sealed class HostileOrigin : IAsyncDisposable
{
    private readonly TestServer _server;
    private int _calls;

    private HostileOrigin(TestServer server) => _server = server;

    public Uri Address => _server.Address;

    /// <summary>Tunnel calls the edge has opened so far (a reconnect opens another).</summary>
    public int Calls => Volatile.Read(ref _calls);

    public static async Task<HostileOrigin> StartAsync(ITestOutputHelper output, Func<HostileStream, Task> script)
    {
        HostileOrigin? origin = null;
        var server = await TestServer.StartUpstreamAsync(output, app => app.Run(async context =>
        {
            var number = Interlocked.Increment(ref origin!._calls);
            context.Response.ContentType = GrpcWire.ContentType;
            await context.Response.StartAsync();
            try
            {
                await script(new HostileStream(context, number));
                context.Response.AppendTrailer("grpc-status", "0");
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionAbortedException)
            {
                // The edge went away; nothing to end.
            }
        }), HttpProtocols.Http2);
        origin = new HostileOrigin(server);
        return origin;
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>One tunnel call at the hostile origin.</summary>
internal sealed class HostileStream(HttpContext context, int number)
{
    private readonly Queue<EdgeItem> _items = new();

    /// <summary>1 for the edge's first call, 2 after its first reconnect, ...</summary>
    public int Number { get; } = number;

    public CancellationToken Aborted => context.RequestAborted;

    /// <summary>A version 1 hello with the usual limits.</summary>
    public static OriginFrame Hello => new() { Hello = new OriginHello { ProtocolVersion = 1, MaxMessageBytes = 16 * 1024 * 1024, Agent = "hostile-origin" } };

    public async Task<EdgeFrame?> ReadAsync()
    {
        var payload = await GrpcWire.ReadMessageAsync(context.Request.Body, context.RequestAborted);
        return payload is null ? null : EdgeFrame.Parser.ParseFrom(payload);
    }

    /// <summary>Reads the edge's hello and answers with <see cref="Hello"/>.</summary>
    public async Task HelloAsync()
    {
        var hello = await ReadAsync();
        if (hello?.KindCase != EdgeFrame.KindOneofCase.Hello)
        {
            throw new InvalidOperationException($"The edge's first message was {hello?.KindCase}.");
        }

        await WriteAsync(Hello);
    }

    /// <summary>The next exchange the edge starts; null once the edge ended the call.</summary>
    public async Task<EdgeItem?> ReadStartAsync()
    {
        while (_items.Count == 0)
        {
            var frame = await ReadAsync();
            if (frame is null)
            {
                return null;
            }

            foreach (var item in frame.Batch?.Items ?? [])
            {
                if (item.KindCase == EdgeItem.KindOneofCase.RequestStart)
                {
                    _items.Enqueue(item);
                }
            }
        }

        return _items.Dequeue();
    }

    public Task WriteAsync(OriginFrame frame) => WriteRawAsync(GrpcWire.Frame(frame.ToByteArray()));

    public Task WriteAsync(params OriginItem[] items) => WriteAsync(new OriginFrame { Batch = new OriginBatch { Items = { items } } });

    public async Task WriteRawAsync(byte[] bytes)
    {
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>Keeps the call open until the edge ends it.</summary>
    public async Task HoldAsync()
    {
        while (await ReadAsync() is not null)
        {
        }
    }

    public static OriginItem Ok(ulong id, uint status = 200, string body = "ok", params (string Name, string Value)[] headers)
    {
        var start = new ResponseStart { Status = status, Body = ByteString.CopyFromUtf8(body) };
        foreach (var (name, value) in headers)
        {
            start.Headers.Add(new Header { Name = name, Value = value });
        }

        return new OriginItem { ExchangeId = id, ResponseStart = start };
    }
}
