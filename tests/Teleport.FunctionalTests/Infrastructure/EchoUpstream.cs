using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// An upstream that echoes what reached it: the request body as the response body, and the method,
/// raw target and body hash in X-Echo-* fields. "?delay=MS" delays the answer, "?status=N" sets the
/// status. Every request is also recorded for assertions on the headers that arrived.
/// </summary>
internal sealed class EchoUpstream
{
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public void Configure(WebApplication app) => app.Run(HandleAsync);

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, context.RequestAborted);
        var bytes = body.ToArray();
        var rawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        Requests.Enqueue(new RecordedRequest(
            request.Method,
            rawTarget,
            request.Headers.ToDictionary(h => h.Key, h => h.Value.ToArray(), StringComparer.OrdinalIgnoreCase),
            bytes,
            request.HttpContext.Connection.RemotePort,
            request.Protocol,
            context.Features.Get<ISslStreamFeature>()?.SslStream.TargetHostName));

        if (int.TryParse(request.Query["delay"], out var delay))
        {
            await Task.Delay(delay, context.RequestAborted);
        }

        var response = context.Response;
        response.StatusCode = int.TryParse(request.Query["status"], out var status) ? status : 200;
        response.Headers["X-Echo-Method"] = request.Method;
        response.Headers["X-Echo-Target"] = rawTarget;
        response.Headers["X-Echo-Body-Sha256"] = Convert.ToHexString(SHA256.HashData(bytes));
        response.Headers["X-Echo-Body-Length"] = bytes.Length.ToString();
        if (request.Headers.TryGetValue("X-Test-Id", out var id))
        {
            response.Headers["X-Test-Id"] = id;
        }

        if (response.StatusCode is 204 or 304)
        {
            return;
        }

        response.ContentType = "application/octet-stream";
        response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(request.Method))
        {
            await response.Body.WriteAsync(bytes, context.RequestAborted);
        }
    }
}

/// <summary>What one request looked like when it reached the upstream.</summary>
/// <param name="Protocol">"HTTP/1.1" or "HTTP/2".</param>
/// <param name="TlsServerName">The SNI the client sent over TLS; null without TLS.</param>
internal sealed record RecordedRequest(string Method, string RawTarget, Dictionary<string, string?[]> Headers, byte[] Body, int RemotePort, string Protocol = "", string? TlsServerName = null);
