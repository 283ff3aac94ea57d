using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Teleport.Protocol.Hosting;

namespace Teleport.Demo.Upstream;

/// <summary>
/// A small, realistic HTTP API to put behind the tunnel: an OpenRTB-style bidder (POST /bid) and a
/// product catalog (GET /api/items/{id}). Answers are deterministic for a given request, so runs
/// compare, but differ from request to request as real traffic does.
/// </summary>
internal static class SampleUpstream
{
    private const string DefaultListen = "127.0.0.1:8081";

    private static readonly CliOption[] Options = [new("listen", "Upstream:Listen", "ADDRESS", "")];

    /// <summary>Builds the upstream on <paramref name="endPoint"/>, logging at <paramref name="minimumLevel"/> and above.</summary>
    public static WebApplication Build(IPEndPoint endPoint, LogLevel minimumLevel)
    {
        // No file watcher for appsettings.json reloads: nothing here reads configuration after start.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Logging.SetMinimumLevel(minimumLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // A failed start is reported once, by the caller, without the host's stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.Critical);
        // Explicit endpoints win over ASPNETCORE_URLS/HTTP_PORTS (set in the aspnet container images); say nothing about it.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(endPoint, listen => listen.Protocols = HttpProtocols.Http1));

        var app = builder.Build();
        app.MapPost("/bid", BidResponder.HandleAsync);
        app.MapMethods("/api/items/{id:long}", [HttpMethods.Get, HttpMethods.Head], CatalogResponder.HandleAsync);
        app.MapGet("/healthz", static () => "ok\n");
        return app;
    }

    /// <summary>"teleport-demo upstream [--listen ADDRESS]" (or TELEPORT_LISTEN): serves until Ctrl+C or SIGTERM.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var parsed = CommandLine.Parse(args, Options);
        if (parsed.HelpRequested)
        {
            Console.Out.Write(DemoOptions.Help);
            return 0;
        }

        // Flag, then TELEPORT_LISTEN (as the services read theirs: docker-compose.yml sets it), then the default.
        var listen = parsed.Values.Count > 0 ? parsed.Values[0].Value
            : CommandLine.ReadEnvironment(Options, Environment.GetEnvironmentVariable) is [var variable, ..] ? variable.Value
            : DefaultListen;
        if (parsed.Error is not null || !ListenAddress.TryParse(listen, out var endPoint))
        {
            Console.Error.WriteLine($"teleport-demo upstream: {parsed.Error ?? $"--listen '{listen}' is not an address like 0.0.0.0:8081"}");
            return DemoOptions.UsageError;
        }

        await using var app = Build(endPoint, LogLevel.Information);
        try
        {
            await app.StartAsync();
        }
        catch (IOException ex)
        {
            // Typically "address already in use": one line, not a stack trace.
            Console.Error.WriteLine($"teleport-demo upstream: {ex.Message}");
            return 1;
        }

        UpstreamLog.Listening(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Teleport.Demo.Upstream"), ServiceHost.Address(app));
        await app.WaitForShutdownAsync();
        return 0;
    }
}
