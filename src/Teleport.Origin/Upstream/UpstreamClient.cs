using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Upstream;

/// <summary>
/// The pooled HTTP clients of the origin, one handler per upstream (its transport and TLS checks are its own),
/// behind one invoker that hands each <see cref="UpstreamRequest"/> to its upstream's handler. Built as a proxy's
/// should be: no proxy, no redirects, no automatic decompression, no cookies, a connect timeout.
/// </summary>
internal sealed class UpstreamClient : IDisposable
{
    public UpstreamClient(UpstreamSelector upstreams, IOptions<OriginOptions> options, ILogger<UpstreamClient> logger)
    {
        var o = options.Value;
        X509Certificate2Collection? authorities = null;
        if (o.UpstreamCa is not null && !PemTrust.TryLoadAuthorities(o.UpstreamCa, "--upstream-ca", out authorities, out var error))
        {
            throw new InvalidOperationException(error);
        }

        var routes = upstreams.All.Select(upstream => new Route(CreateHandler(upstream, o, authorities, logger))).ToArray();
        Invoker = new HttpMessageInvoker(new Router(routes), disposeHandler: true);
    }

    /// <summary>Sends <see cref="UpstreamRequest"/>s only.</summary>
    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();

    private static SocketsHttpHandler CreateHandler(UpstreamAddress upstream, OriginOptions options, X509Certificate2Collection? authorities, ILogger logger)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = options.UpstreamConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            // The tunnel already decides what happens on error; activity headers add bytes to every request.
            ActivityHeadersPropagator = null,
        };

        if (upstream.TlsName is not null)
        {
            handler.SslOptions = UpstreamTrust.ClientOptions(upstream, authorities, options.UpstreamInsecure, logger);
        }

        if (upstream.SocketPath is { } path)
        {
            var endPoint = new UnixDomainSocketEndPoint(path);
            handler.ConnectCallback = (_, cancellationToken) => ConnectAsync(endPoint, AddressFamily.Unix, ProtocolType.Unspecified, cancellationToken);
        }
        else if (upstream.ConnectTo is { } address)
        {
            // The request's host is the --upstream-sni name, for SNI and Host; the connection goes to the URL's host.
            handler.ConnectCallback = (_, cancellationToken) => ConnectAsync(address, AddressFamily.Unspecified, ProtocolType.Tcp, cancellationToken);
        }

        return handler;
    }

    private static async ValueTask<Stream> ConnectAsync(EndPoint endPoint, AddressFamily family, ProtocolType protocol, CancellationToken cancellationToken)
    {
        var socket = family == AddressFamily.Unix
            ? new Socket(family, SocketType.Stream, protocol)
            : new Socket(SocketType.Stream, protocol) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Dispatches on <see cref="UpstreamRequest.Upstream"/>; owns the routes and so their handlers.</summary>
    private sealed class Router(Route[] routes) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => routes[((UpstreamRequest)request).Upstream.Index].ForwardAsync(request, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                foreach (var route in routes)
                {
                    route.Dispose();
                }
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// Opens a handler's protected SendAsync to the router. An HttpMessageInvoker per upstream would do the same,
    /// but each invoker emits HTTP telemetry events, so every request would be counted twice.
    /// </summary>
    private sealed class Route(HttpMessageHandler handler) : DelegatingHandler(handler)
    {
        public Task<HttpResponseMessage> ForwardAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => SendAsync(request, cancellationToken);
    }
}
