using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Edge.Hosting;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Diagnostics;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>A real Kestrel server on 127.0.0.1, port 0, in this process: an upstream, an origin or an edge.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly XunitLoggerProvider _logs;

    private readonly string[] _addresses;

    private TestServer(WebApplication app, XunitLoggerProvider logs)
    {
        App = app;
        _logs = logs;
        _addresses = [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];
    }

    public WebApplication App { get; }

    /// <summary>The first TCP address (a unix socket's "http://unix:/path" is no URL to connect to).</summary>
    public Uri Address => new(_addresses.First(a => !a.Contains("://unix:", StringComparison.Ordinal)));

    /// <summary>The admin listener of a service started with --admin (the services open it after their traffic listeners).</summary>
    public Uri AdminAddress => new(_addresses.Last());

    /// <summary>host:port of <see cref="Address"/>.</summary>
    public string Authority => Address.Authority;

    public TunnelCounters Counters => App.Services.GetRequiredService<TunnelCounters>();

    public IReadOnlyCollection<string> ErrorLogs => _logs.Errors;

    /// <summary>Log lines at Warning and above.</summary>
    public IReadOnlyCollection<string> WarningLogs => _logs.Warnings;

    /// <summary>Every log line so far.</summary>
    public IReadOnlyCollection<string> Logs => _logs.Lines;

    /// <summary>The first TCP address with this scheme, e.g. "https".</summary>
    public Uri AddressOf(string scheme)
        => new(_addresses.First(a => a.StartsWith(scheme + "://", StringComparison.Ordinal) && !a.Contains("://unix:", StringComparison.Ordinal)));

    /// <summary>Starts an upstream HTTP/1.1 server whose requests <paramref name="configure"/> handles.</summary>
    public static Task<TestServer> StartUpstreamAsync(ITestOutputHelper output, Action<WebApplication> configure, HttpProtocols protocols = HttpProtocols.Http1)
        => StartUpstreamAsync(output, configure, k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = protocols));

    /// <summary>Starts an upstream on the listeners <paramref name="listen"/> sets up (unix sockets, TLS, ...).</summary>
    public static Task<TestServer> StartUpstreamAsync(ITestOutputHelper output, Action<WebApplication> configure, Action<KestrelServerOptions> listen)
        => StartUpstreamAsync(output, static _ => { }, configure, listen);

    /// <summary>Starts an upstream with services of its own (e.g. gRPC).</summary>
    public static async Task<TestServer> StartUpstreamAsync(ITestOutputHelper output, Action<IServiceCollection> services, Action<WebApplication> configure, Action<KestrelServerOptions> listen)
    {
        var builder = WebApplication.CreateSlimBuilder();
        var logs = RouteLogs(builder, output, "upstream");
        services(builder.Services);
        builder.WebHost.ConfigureKestrel(listen);
        var app = builder.Build();
        configure(app);
        await app.StartAsync().DefaultTimeout();
        return new TestServer(app, logs);
    }

    public static Task<TestServer> StartOriginAsync(ITestOutputHelper output, Uri upstream, params string[] args)
        => StartOriginAsync(output, ["--upstream", upstream.ToString().TrimEnd('/'), .. args]);

    public static async Task<TestServer> StartOriginAsync(ITestOutputHelper output, string[] args)
    {
        XunitLoggerProvider? logs = null;
        // A caller's own --listen (e.g. a fixed port to restart on) replaces the default.
        string[] listen = args.Contains("--listen") ? [] : ["--listen", "127.0.0.1:0"];
        var app = OriginApp.Build([.. listen, .. args], b => logs = RouteLogs(b, output, "origin"));
        await app.StartAsync().DefaultTimeout();
        return new TestServer(app, logs!);
    }

    /// <summary>Starts an edge tunnelling to <paramref name="origin"/>; with <paramref name="waitForTunnel"/>, returns once the stream is up.</summary>
    /// <param name="kestrel">Applied after the edge's own Kestrel settings (e.g. a shorter timeout to keep a test short).</param>
    public static async Task<TestServer> StartEdgeAsync(ITestOutputHelper output, Uri origin, string[] args, bool waitForTunnel = true, Action<KestrelServerOptions>? kestrel = null)
    {
        XunitLoggerProvider? logs = null;
        var app = EdgeApp.Build(["--listen", "127.0.0.1:0", "--origin", origin.ToString().TrimEnd('/'), .. args], b =>
        {
            logs = RouteLogs(b, output, "edge");
            if (kestrel is not null)
            {
                b.Services.PostConfigure(kestrel);
            }
        });
        await app.StartAsync().DefaultTimeout();
        var server = new TestServer(app, logs!);
        if (waitForTunnel)
        {
            await server.WaitUntilAsync(static s => s.Counters.StreamsOpened > 0).DefaultTimeout();
        }

        return server;
    }

    public static Task<TestServer> StartEdgeAsync(ITestOutputHelper output, Uri origin, params string[] args)
        => StartEdgeAsync(output, origin, args, waitForTunnel: true);

    /// <summary>Polls a condition that another part of the system makes true (no fixed sleeps in tests).</summary>
    public async Task WaitUntilAsync(Func<TestServer, bool> condition)
    {
        while (!condition(this))
        {
            await Task.Delay(10);
        }
    }

    public HttpClient CreateClient(Version? version = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = Address,
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync().DefaultTimeout();
        }
        finally
        {
            await App.DisposeAsync();
        }
    }

    private static XunitLoggerProvider RouteLogs(WebApplicationBuilder builder, ITestOutputHelper output, string prefix)
    {
        var logs = new XunitLoggerProvider(output, prefix);
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        return logs;
    }
}
