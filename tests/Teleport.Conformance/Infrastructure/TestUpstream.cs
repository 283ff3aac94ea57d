using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// The upstream behind the origin in every scenario: a real Kestrel HTTP/1.1 server on 127.0.0.1 that
/// records what reached it and answers by query: "?delay=MS" waits first, "?status=N" sets the status,
/// "?size=N" answers N bytes instead of echoing the request body, "?hold=1" waits until the request is
/// aborted (and records that in <see cref="Aborted"/>). A WebSocket handshake is accepted and echoed (<see cref="SocketsEnded"/>).
/// </summary>
internal sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestUpstream(WebApplication app)
    {
        _app = app;
    }

    /// <summary>Where the server listens; known once it has started.</summary>
    public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>"http://127.0.0.1:PORT", as an origin's --upstream.</summary>
    public string Url => Address.GetLeftPart(UriPartial.Authority);

    /// <summary>Requests by their raw target, in arrival order.</summary>
    public ConcurrentQueue<UpstreamRequest> Requests { get; } = new();

    /// <summary>Raw targets of WebSocket handshakes whose socket has ended (closed or broken).</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> SocketsEnded { get; } = new();

    /// <summary>Raw targets of "?hold=1" requests whose client (the origin) gave up on them.</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> Aborted { get; } = new();

    public static async Task<TestUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1);
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        var upstream = new TestUpstream(app);
        app.UseWebSockets();
        app.Run(upstream.HandleAsync);
        await app.StartAsync().DefaultTimeout();
        return upstream;
    }

    /// <summary>Waits for the request with this raw target to have arrived.</summary>
    public async Task<UpstreamRequest> WaitForAsync(string rawTarget)
    {
        while (true)
        {
            var found = Requests.FirstOrDefault(r => r.RawTarget == rawTarget);
            if (found is not null)
            {
                return found;
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Completes when the WebSocket opened with this raw target has ended.</summary>
    public Task SocketEndedAsync(string rawTarget) => SocketsEnded.GetOrAdd(rawTarget, _ => NewSignal()).Task;

    /// <summary>Completes when the held request with this raw target is aborted by the origin.</summary>
    public Task AbortedAsync(string rawTarget) => Aborted.GetOrAdd(rawTarget, _ => NewSignal()).Task;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().DefaultTimeout();
        await _app.DisposeAsync();
    }

    /// <summary>A body whose every byte depends on its position, so a shifted or truncated copy shows.</summary>
    public static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i * 31 + (i >> 8));
        }

        return bytes;
    }

    /// <summary>A WebSocket handshake: accepted, and every frame sent back as received until the socket ends.</summary>
    private async Task EchoSocketAsync(HttpContext context)
    {
        var rawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        Requests.Enqueue(new UpstreamRequest(context.Request.Method, rawTarget,
            [.. context.Request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? "")))], []));
        var ended = SocketsEnded.GetOrAdd(rawTarget, _ => NewSignal());
        try
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[16 * 1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(result.CloseStatus ?? System.Net.WebSockets.WebSocketCloseStatus.Empty, result.CloseStatusDescription, context.RequestAborted);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
            }
        }
        catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or OperationCanceledException or IOException)
        {
            // Broken off by the origin: what the tests wait for.
        }
        finally
        {
            ended.TrySetResult();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task HandleAsync(HttpContext context)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            await EchoSocketAsync(context);
            return;
        }

        var request = context.Request;
        using var received = new MemoryStream();
        await request.Body.CopyToAsync(received, context.RequestAborted);
        var rawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        Requests.Enqueue(new UpstreamRequest(
            request.Method,
            rawTarget,
            [.. request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? "")))],
            received.ToArray()));

        var query = request.Query;
        if (query.ContainsKey("hold"))
        {
            var aborted = Aborted.GetOrAdd(rawTarget, _ => NewSignal());
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                aborted.TrySetResult();
            }

            return;
        }

        if (int.TryParse(query["delay"], out var delay))
        {
            await Task.Delay(delay, context.RequestAborted);
        }

        var response = context.Response;
        response.StatusCode = int.TryParse(query["status"], out var status) ? status : 200;
        response.Headers["X-Upstream-Method"] = request.Method;
        response.Headers["X-Upstream-Target"] = rawTarget;
        response.Headers.Append("Set-Cookie", "a=1");
        response.Headers.Append("Set-Cookie", "b=2");
        if (response.StatusCode is 204 or 304)
        {
            return;
        }

        var body = int.TryParse(query["size"], out var size) ? Pattern(size) : received.ToArray();
        response.ContentType = "application/octet-stream";
        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(request.Method))
        {
            await response.Body.WriteAsync(body, context.RequestAborted);
        }
    }
}

/// <summary>What one request looked like when it reached the upstream.</summary>
internal sealed record UpstreamRequest(string Method, string RawTarget, KeyValuePair<string, string>[] Headers, byte[] Body)
{
    public string[] Values(string name)
        => [.. Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value)];
}
