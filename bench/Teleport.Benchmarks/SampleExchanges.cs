using System.Text;
using Google.Protobuf;
using Teleport.Demo.Load;
using Teleport.Protocol.V1;

namespace Teleport.Benchmarks;

/// <summary>The demo's seeded traffic as tunnel items: what the edge and the origin really put in batches.</summary>
internal static class SampleExchanges
{
    /// <summary>A bid-style JSON answer of about 600 B that differs per exchange (ids, prices), as real ones do.</summary>
    private static string BidResponse(int i) =>
        $"{{\"id\":\"{i:x8}-5b6e-4f70-8a91-b2c3d4e5f607\",\"bidid\":\"dsp-{i * 7919:x}\",\"cur\":\"USD\",\"seatbid\":[{{\"seat\":\"dsp-example\",\"bid\":[{{\"id\":\"b-{i:x}-0001\"," +
        $"\"impid\":\"1\",\"price\":{1 + i % 97 / 100.0:0.00},\"adid\":\"ad-{48000 + i % 300}\",\"cid\":\"camp-9912\",\"crid\":\"cr-{48000 + i % 300}\",\"w\":300,\"h\":250," +
        $"\"adomain\":[\"brand-example.com\"],\"cat\":[\"IAB3-1\"],\"nurl\":\"https://win.dsp-example.com/win?auction={i:x}&price=${{AUCTION_PRICE}}&imp=1\"," +
        $"\"adm\":\"<div><a href='https://click.dsp-example.com/c?cr={48000 + i % 300}&cb={i:x}'><img src='https://cdn.dsp-example.com/cr/{48000 + i % 300}/300x250.jpg' width=300 height=250></a></div>\"}}]}}]}}";

    public static EdgeItem[] Requests(int count)
    {
        var samples = SampleTraffic.Create(count, seed: 1234);
        var items = new EdgeItem[count];
        for (var i = 0; i < count; i++)
        {
            var sample = samples[i];
            var start = new RequestStart
            {
                Method = sample.Method,
                PathAndQuery = sample.PathAndQuery,
                HasBody = sample.Body is not null,
                Body = sample.Body is null ? ByteString.Empty : ByteString.CopyFrom(sample.Body),
                TimeoutMs = 30_000,
                Protocol = "HTTP/1.1",
            };
            start.Headers.Add(new Header { Name = "Host", Value = "api.example.com" });
            foreach (var (name, value) in sample.Headers)
            {
                start.Headers.Add(new Header { Name = name, Value = value });
            }

            start.Headers.Add(new Header { Name = "X-Forwarded-For", Value = $"203.0.113.{i % 250}" });
            start.Headers.Add(new Header { Name = "X-Forwarded-Proto", Value = "http" });
            start.Headers.Add(new Header { Name = "X-Forwarded-Host", Value = "api.example.com" });
            items[i] = new EdgeItem { ExchangeId = (ulong)i + 1, RequestStart = start };
        }

        return items;
    }

    public static OriginItem[] Responses(int count)
    {
        var items = new OriginItem[count];
        for (var i = 0; i < count; i++)
        {
            var head = new ResponseStart { Status = 200, Body = ByteString.CopyFrom(Encoding.UTF8.GetBytes(BidResponse(i))) };
            head.Headers.Add(new Header { Name = "Content-Type", Value = "application/json" });
            head.Headers.Add(new Header { Name = "Date", Value = "Fri, 27 Nov 2026 19:00:00 GMT" });
            head.Headers.Add(new Header { Name = "Server", Value = "nginx" });
            head.Headers.Add(new Header { Name = "Content-Length", Value = head.Body.Length.ToString() });
            items[i] = new OriginItem { ExchangeId = (ulong)i + 1, ResponseStart = head };
        }

        return items;
    }

    /// <summary>The yardstick's get-small exchange (GET /foo/bar, Host: foobar; nginx's fixed 261-byte text) as the edge and origin carry it.</summary>
    public static EdgeItem[] SmallRequests(int count)
    {
        var items = new EdgeItem[count];
        for (var i = 0; i < count; i++)
        {
            var start = new RequestStart { Method = "GET", PathAndQuery = "/foo/bar", TimeoutMs = 30_000, Protocol = "HTTP/1.1" };
            start.Headers.Add(new Header { Name = "Host", Value = "foobar" });
            start.Headers.Add(new Header { Name = "X-Forwarded-For", Value = "127.0.0.1" });
            start.Headers.Add(new Header { Name = "X-Forwarded-Proto", Value = "http" });
            start.Headers.Add(new Header { Name = "X-Forwarded-Host", Value = "foobar" });
            items[i] = new EdgeItem { ExchangeId = (ulong)i + 1, RequestStart = start };
        }

        return items;
    }

    public static OriginItem[] SmallResponses(int count)
    {
        var body = ByteString.CopyFrom(Encoding.UTF8.GetBytes(new string('x', 261)));
        var items = new OriginItem[count];
        for (var i = 0; i < count; i++)
        {
            var head = new ResponseStart { Status = 200, Body = body };
            head.Headers.Add(new Header { Name = "Date", Value = $"Sat, 28 Nov 2026 10:{i / 20000 % 60:00}:{i / 1000 % 60:00} GMT" });
            head.Headers.Add(new Header { Name = "Content-Type", Value = "text/plain" });
            head.Headers.Add(new Header { Name = "Content-Length", Value = "261" });
            // Answers complete out of order: neighbouring ids, not consecutive ones.
            items[i] = new OriginItem { ExchangeId = (ulong)(i ^ 5) + 1, ResponseStart = head };
        }

        return items;
    }

    /// <summary>Serialized batches of <paramref name="batchSize"/> consecutive items.</summary>
    public static byte[][] Batches<T>(IReadOnlyList<T> items, int batchSize, Func<IEnumerable<T>, IMessage> batch)
        => [.. items.Chunk(batchSize).Select(chunk => batch(chunk).ToByteArray())];
}
