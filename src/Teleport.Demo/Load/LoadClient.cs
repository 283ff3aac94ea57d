using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Teleport.Protocol.Diagnostics;

namespace Teleport.Demo.Load;

/// <summary>
/// Sends the sample traffic to the edge with a real HttpClient over HTTP/1.1, a fixed number of requests
/// in flight, and checks every answer. Every client connection is wrapped in a
/// <see cref="CountingStream"/>, so the plain HTTP bytes are counted exactly as they cross the sockets.
/// </summary>
internal static class LoadClient
{
    private const int MaxFailureSamples = 5;
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static async Task<LoadResult> RunAsync(Uri edge, IReadOnlyList<SampleRequest> requests, int concurrency, CancellationToken cancellationToken)
    {
        var plain = new TunnelCounters();
        using var client = CreateClient(edge, plain, concurrency);
        var failures = new ConcurrentQueue<string>();
        var failed = 0;
        var next = -1;

        // Each worker keeps one request in flight; together they keep `concurrency` connections busy.
        async Task WorkAsync()
        {
            int index;
            while (!cancellationToken.IsCancellationRequested && (index = Interlocked.Increment(ref next)) < requests.Count)
            {
                var failure = await SendAsync(client, requests[index], cancellationToken);
                if (failure is not null)
                {
                    Interlocked.Increment(ref failed);
                    if (failures.Count < MaxFailureSamples)
                    {
                        failures.Enqueue($"#{index} {requests[index].Method} {requests[index].PathAndQuery}: {failure}");
                    }
                }
            }
        }

        var clock = Stopwatch.StartNew();
        var workers = new Task[Math.Min(concurrency, requests.Count)];
        for (var w = 0; w < workers.Length; w++)
        {
            workers[w] = Task.Run(WorkAsync, cancellationToken);
        }

        await Task.WhenAll(workers);
        clock.Stop();
        // Interrupted: the counts describe a partial run, so there is nothing to report.
        cancellationToken.ThrowIfCancellationRequested();
        return new LoadResult(failed, [.. failures], clock.Elapsed, plain);
    }

    /// <summary>Sends one request; returns null when the answer is right, else what was wrong with it.</summary>
    private static async Task<string?> SendAsync(HttpClient client, SampleRequest sample, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(new HttpMethod(sample.Method), sample.PathAndQuery);
        foreach (var (name, value) in sample.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (sample.Body is not null)
        {
            request.Content = new ByteArrayContent(sample.Body);
            request.Content.Headers.ContentType = Json;
        }

        try
        {
            using var response = await client.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var stage = response.Headers.TryGetValues("X-Teleport-Error", out var stages) ? $" [{string.Join(",", stages)}]" : "";
                return $"status {(int)response.StatusCode}{stage}: {System.Text.Encoding.UTF8.GetString(body).Trim()}";
            }

            var echoed = response.Headers.TryGetValues("X-Request-Id", out var ids) ? string.Join(",", ids) : "(none)";
            if (echoed != sample.RequestId)
            {
                return $"X-Request-Id {echoed} came back for {sample.RequestId}";
            }

            return CheckId(body, sample.ExpectedId);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            return ex.GetBaseException().Message;
        }
    }

    /// <summary>The answer must be JSON whose "id" is the one asked for: a mixed-up exchange would show here.</summary>
    private static string? CheckId(byte[] body, string expected)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (!document.RootElement.TryGetProperty("id", out var id))
            {
                return "the response has no \"id\"";
            }

            var actual = id.ValueKind == JsonValueKind.String ? id.GetString() : id.GetRawText();
            return actual == expected ? null : $"response id {actual} for request id {expected}";
        }
        catch (JsonException ex)
        {
            return $"the response is not JSON: {ex.Message}";
        }
    }

    private static HttpClient CreateClient(Uri edge, TunnelCounters plain, int concurrency)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = concurrency,
            // No traceparent headers: the bytes sent are exactly the sample's.
            ActivityHeadersPropagator = null,
            ConnectCallback = (context, cancellationToken) => CountingStream.ConnectAsync(context, plain, cancellationToken),
        };

        return new HttpClient(handler)
        {
            BaseAddress = edge,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(60),
        };
    }
}
