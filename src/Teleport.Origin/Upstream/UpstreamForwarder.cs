using System.Net.Http.Headers;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Teleport.Origin.Diagnostics;
using Teleport.Origin.Hosting;
using Teleport.Origin.Upstream.Health;
using Teleport.Protocol.Buffers;
using Teleport.Protocol.Framing;
using Teleport.Protocol.Http;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Upstream;

/// <summary>Completes one exchange against an upstream and packs the answer as an item.</summary>
internal sealed class UpstreamForwarder
{
    private static readonly UriCreationOptions RawPathAndQuery = new() { DangerousDisablePathAndQueryCanonicalization = true };

    private readonly UpstreamSelector _upstreams;
    private readonly UpstreamHealth _health;
    private readonly HttpMessageInvoker _client;
    private readonly UpstreamCalls _calls;
    private readonly bool _keepHost;
    private readonly ILogger<UpstreamForwarder> _logger;

    public UpstreamForwarder(UpstreamSelector upstreams, UpstreamHealth health, UpstreamClient client, UpstreamCalls calls, IOptions<OriginOptions> options, ILogger<UpstreamForwarder> logger)
    {
        _calls = calls;
        _upstreams = upstreams;
        _health = health;
        _client = client.Invoker;
        _keepHost = options.Value.HostHeader == HostHeaderMode.Keep;
        _logger = logger;
    }

    /// <summary>
    /// Steps: (1) check the target is origin form, so nothing in the request can pick the destination;
    /// (2) pick a healthy upstream, or answer NoUpstream at once when every one is out;
    /// (3) build the upstream request, path and query byte for byte; (4) send and read the response head; when no
    /// connection could be made, the request never left, so it goes once more to another healthy upstream;
    /// (5) read the body into a pooled buffer under the limit; (6) pack status, end-to-end headers and body.
    /// Expected failures come back as error items; cancellation (the edge gave up, or the timeout) is left to the
    /// caller, which knows which it was.
    /// </summary>
    /// <param name="maxResponseBody">Largest body that may be passed back.</param>
    /// <param name="sink">Where a streamed response goes, when the edge takes streamed bodies; null to answer in one item.</param>
    /// <param name="streamedBody">The request body when it arrives in chunks after the start; null when the start holds it whole.</param>
    public Task<OutgoingItem<OriginItem>> ForwardAsync(ulong id, RequestStart start, int maxResponseBody, IResponseBodySink? sink, Stream? streamedBody, CancellationToken cancellationToken)
    {
        var target = start.PathAndQuery;
        if (target.Length == 0 || target[0] != '/')
        {
            return Task.FromResult(ErrorItem.Create(id, ErrorCode.BadRequest, $"request target '{Shorten(target)}' is not in origin form (/path?query)"));
        }

        // HttpClient writes a CONNECT's request line with the Host field as its target (authority form): a hostile edge
        // could ask an upstream that is itself a proxy to open a tunnel anywhere. The origin forwards requests only.
        if (start.Method.Equals("CONNECT", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(ErrorItem.Create(id, ErrorCode.BadRequest, "CONNECT is not forwarded: the origin sends requests to its upstreams, it opens no tunnels"));
        }

        // The target goes into the upstream's request line byte for byte: a space, CR/LF or control character
        // would let a peer write a second request there (smuggling). A conforming edge percent-encodes them.
        if (target.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            return Task.FromResult(ErrorItem.Create(id, ErrorCode.BadRequest, "request target holds a character that must be percent-encoded (space, control or non-ASCII)"));
        }

        return _upstreams.Pick() is { } upstream
            ? ForwardToAsync(id, start, upstream, mayRetry: true, maxResponseBody, sink, streamedBody, cancellationToken)
            : Task.FromResult(ErrorItem.Create(id, ErrorCode.NoUpstream, _health.AllDown));
    }

    private async Task<OutgoingItem<OriginItem>> ForwardToAsync(ulong id, RequestStart start, UpstreamState upstream, bool mayRetry, int maxResponseBody, IResponseBodySink? sink, Stream? streamedBody, CancellationToken cancellationToken)
    {
        var address = upstream.Address;
        if (start.Upgrade.Length > 0 && address.Version == System.Net.HttpVersion.Version20 && address.VersionPolicy == HttpVersionPolicy.RequestVersionExact)
        {
            return ErrorItem.Create(id, ErrorCode.UpstreamResponse, $"upstream {address.Authority} speaks HTTP/2 only (h2c): a WebSocket upgrade needs HTTP/1.1");
        }

        HttpRequestMessage request;
        try
        {
            request = CreateRequest(start, address, streamedBody);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
        {
            return ErrorItem.Create(id, ErrorCode.BadRequest, $"the request cannot be forwarded: {ex.Message}");
        }

        // Set exactly when no response came: no connection could be made.
        string? connectFailure = null;
        using (request)
        {
            // Null unless tracing or --access-log is on; ended here, before any retry on another upstream.
            using var call = _calls.Start(id, start, address, request);
            upstream.RequestStarted();
            try
            {
                HttpResponseMessage? response = null;
                try
                {
                    response = await _client.SendAsync(request, cancellationToken);
                }
                catch (HttpRequestException ex) when (ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError)
                {
                    connectFailure = ex.Message;
                }
                catch (HttpRequestException ex)
                {
                    // Sent, at least in part: not retried, and counted against the upstream like a 5xx.
                    _health.Answered(upstream, failed: true);
                    call?.Failed(ErrorCode.UpstreamResponse);
                    OriginLog.UpstreamFailed(_logger, address.Authority, ErrorCode.UpstreamResponse, ex.Message);
                    return ErrorItem.Create(id, ErrorCode.UpstreamResponse, $"upstream {address.Authority} failed: {ex.Message}");
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // The handler's own connect timeout, not ours.
                    connectFailure = "connect timed out";
                }

                if (response is not null)
                {
                    using (response)
                    {
                        _health.Answered(upstream, failed: (int)response.StatusCode >= 500);
                        return UpstreamCall.Ended(call, (int)response.StatusCode, await PackResponseAsync(id, start, response, address, maxResponseBody, sink, streamedBody, cancellationToken));
                    }
                }

                call?.Failed(ErrorCode.UpstreamConnect);
            }
            finally
            {
                upstream.RequestEnded();
            }
        }

        _health.ConnectFailed(upstream, connectFailure!);
        OriginLog.UpstreamFailed(_logger, address.Authority, ErrorCode.UpstreamConnect, connectFailure!);
        // Nothing reached the upstream, so even a POST may go elsewhere; once, so a request never walks the whole list.
        if (mayRetry && _upstreams.Pick(exclude: upstream) is { } other)
        {
            return await ForwardToAsync(id, start, other, mayRetry: false, maxResponseBody, sink, streamedBody, cancellationToken);
        }

        return ErrorItem.Create(id, ErrorCode.UpstreamConnect, $"cannot connect to upstream {address.Authority}: {connectFailure}");
    }

    private HttpRequestMessage CreateRequest(RequestStart start, UpstreamAddress upstream, Stream? streamedBody)
    {
        var request = new UpstreamRequest(upstream, HttpMethod.Parse(start.Method), new Uri(upstream.Prefix + start.PathAndQuery, in RawPathAndQuery))
        {
            Version = upstream.Version,
            VersionPolicy = upstream.VersionPolicy,
        };

        if (start.Upgrade.Length > 0)
        {
            // Only HTTP/1.1 switches protocols with Upgrade (ALPN must not settle on HTTP/2). The client's bytes are no
            // request body: they go to the connection once the upstream has answered 101 (UpgradeRelay).
            request.Version = System.Net.HttpVersion.Version11;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            request.Headers.Connection.Add("Upgrade");
            request.Headers.Upgrade.Add(new ProductHeaderValue(start.Upgrade));
        }
        else if (streamedBody is not null)
        {
            // Length unknown: chunked (HTTP/1.1) or DATA frames (HTTP/2), read as the chunks arrive.
            request.Content = new StreamedRequestContent(streamedBody, Protocol.TunnelProtocol.BodyChunkBytes);
        }
        else if (start.HasBody || start.Body.Length > 0)
        {
            request.Content = new ReadOnlyMemoryContent(start.Body.Memory);
        }

        var headers = request.Headers;
        StringValues connection = default;
        foreach (var header in start.Headers)
        {
            if (header.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connection = StringValues.Concat(connection, header.Value);
            }
        }

        foreach (var header in start.Headers)
        {
            var name = header.Name;
            // A conforming edge never sends hop-by-hop fields; one that does is not trusted with them.
            // Content-Length is derived from the body, never taken from the peer.
            if (HopByHopHeaders.IsHopByHop(name, connection) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                if (_keepHost && !upstream.HostIsFixed)
                {
                    headers.Host = header.Value;
                }

                continue;
            }

            if (ContentHeaders.IsContentHeader(name))
            {
                request.Content ??= new ReadOnlyMemoryContent(ReadOnlyMemory<byte>.Empty);
                request.Content.Headers.TryAddWithoutValidation(name, header.Value);
            }
            else if (!headers.TryAddWithoutValidation(name, header.Value))
            {
                throw new FormatException($"header '{Shorten(name)}' is not valid");
            }
        }

        return request;
    }

    private async Task<OutgoingItem<OriginItem>> PackResponseAsync(ulong id, RequestStart start, HttpResponseMessage response, UpstreamAddress upstream, int maxResponseBody,
        IResponseBodySink? sink, Stream? streamedBody, CancellationToken cancellationToken)
    {
        var head = new ResponseStart { Status = (uint)response.StatusCode };
        var connection = response.Headers.NonValidated.TryGetValues("Connection", out var named) ? new StringValues([.. named]) : default;
        var size = 32 + CopyHeaders(response.Headers, head.Headers, connection);
        size += CopyHeaders(response.Content.Headers, head.Headers, connection);

        var status = (int)response.StatusCode;
        // OriginSession starts an upgrade only for an edge that streams, with the client's side as a streamed body.
        if (status == 101 && start.Upgrade.Length > 0 && sink is not null && streamedBody is Tunnel.StreamedRequestBody clientSide)
        {
            try
            {
                return await UpgradeRelay.RunAsync(id, head, size, response, clientSide, sink, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                OriginLog.UpstreamFailed(_logger, upstream.Authority, ErrorCode.UpstreamResponse, $"upgraded connection broken off: {ex.Message.TrimEnd('.')}");
                return ErrorItem.Create(id, ErrorCode.UpstreamResponse, $"upstream {upstream.Authority} broke off the upgraded connection: {ex.Message.TrimEnd('.')}");
            }
        }

        var noBody = start.Method == "HEAD" || status is 204 or 304 || status < 200;
        var body = default(PooledBody);
        if (!noBody)
        {
            var length = response.Content.Headers.ContentLength;
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                if (sink is not null && length is not <= StreamedBody.WholeBodyBytes)
                {
                    // Long or of unknown length: it may go out in chunks as it arrives (a download, events).
                    return await StreamedBody.SendAsync(id, head, size, stream, response, connection, sink.MaxBodyBytes, sink, cancellationToken)
                        ?? TooLarge(id, upstream, sink.MaxBodyBytes);
                }

                body = await PooledBody.ReadAsync(stream, length, maxResponseBody, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                OriginLog.UpstreamFailed(_logger, upstream.Authority, ErrorCode.UpstreamResponse, ex.Message);
                return ErrorItem.Create(id, ErrorCode.UpstreamResponse, $"upstream {upstream.Authority} broke off the response body: {ex.Message}");
            }

            if (body.TooLarge)
            {
                return TooLarge(id, upstream, maxResponseBody);
            }

            head.Body = UnsafeByteOperations.UnsafeWrap(body.Memory);
            size += CopyTrailers(response, head.Trailers, connection);
        }

        var item = new OriginItem { ExchangeId = id, ResponseStart = head };
        return new OutgoingItem<OriginItem>(item, size + body.Length, body.Buffer);
    }

    private OutgoingItem<OriginItem> TooLarge(ulong id, UpstreamAddress upstream, int maxResponseBody)
    {
        OriginLog.UpstreamFailed(_logger, upstream.Authority, ErrorCode.ResponseTooLarge, $"body over {maxResponseBody} bytes");
        return ErrorItem.Create(id, ErrorCode.ResponseTooLarge, $"upstream {upstream.Authority} sent a response body over {maxResponseBody} bytes");
    }

    /// <summary>
    /// Copies trailer fields, known once the body has been read to its end; only HTTP/2 and chunked bodies can
    /// have any (asking otherwise would allocate an empty collection per response).
    /// </summary>
    internal static int CopyTrailers(HttpResponseMessage response, RepeatedField<Header> target, StringValues connection)
        => response.Version.Major >= 2 || response.Headers.NonValidated.Contains("Transfer-Encoding")
            ? CopyHeaders(response.TrailingHeaders, target, connection)
            : 0;

    /// <summary>Copies end-to-end fields; returns roughly how many bytes they take.</summary>
    private static int CopyHeaders(HttpHeaders source, RepeatedField<Header> target, StringValues connection)
    {
        var size = 0;
        foreach (var (name, fieldValues) in source.NonValidated)
        {
            if (HopByHopHeaders.IsHopByHop(name, connection))
            {
                continue;
            }

            foreach (var value in fieldValues)
            {
                target.Add(new Header { Name = name, Value = value });
                size += name.Length + value.Length + 4;
            }
        }

        return size;
    }

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
