using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Teleport.Protocol.Hosting;

/// <summary>
/// Start-up shared by teleport-edge and teleport-origin: command line and environment into
/// configuration (over appsettings.json), --help, and one-line errors with a non-zero exit code.
/// </summary>
internal static class ServiceHost
{
    /// <summary>Exit code for a wrong command line or configuration.</summary>
    public const int UsageError = 2;

    /// <summary>The runtime's switch (read once, before the first socket) for running socket completions on the event thread.</summary>
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>The runtime's switch (read once, before the first socket) for how many threads wait on socket events.</summary>
    private const string SocketThreadsVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>
    /// A web application builder whose configuration is, from lowest to highest precedence:
    /// appsettings.json (and --config FILE), TELEPORT_* variables, then <paramref name="args"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The command line is wrong; the message says how.</exception>
    public static WebApplicationBuilder CreateBuilder(ServiceDefinition service, IReadOnlyList<string> args)
    {
        var parsed = CommandLine.Parse(args, service.Options);
        if (parsed.Error is not null || parsed.HelpRequested)
        {
            throw new ArgumentException(parsed.Error ?? "--help is answered by RunAsync, not by a builder.");
        }

        // No reload-on-change: the default watches the working directory recursively, a thread and
        // CPU for nothing (settings are validated once at start).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        // Kestrel's half of inline completions: the request runs on the thread that read it.
        builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1");
        var configuration = builder.Configuration;
        var environment = CommandLine.ReadEnvironment(service.Options, Environment.GetEnvironmentVariable);
        var configFile = FindValue(parsed.Values, "Config") ?? FindValue(environment, "Config");
        if (configFile is not null)
        {
            configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }

        CommandLine.AddOverrides(configuration, service.Options, environment, parsed.Values);

        // Durations and sizes may be written "30s" or "16MiB" in any source.
        var friendly = new List<KeyValuePair<string, string?>>();
        foreach (var (key, value) in configuration.AsEnumerable())
        {
            if (ValueSyntax.Normalize(value) is { } normalized)
            {
                friendly.Add(new(key, normalized));
            }
        }

        configuration.AddInMemoryCollection(friendly);

        builder.Logging.ClearProviders();
        if (ReadLogFormat(service, configuration) == LogFormat.Json)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                // Collectors want absolute time; the formatter writes one unindented object per line.
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // With any level of this category on, hosting builds an Activity and a log scope per request.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // Kestrel warns at start that cleartext Http1AndHttp2 endpoints serve HTTP/1.1 only; the edge's
        // prior-knowledge detection makes that untrue, and a false warning on every start misleads.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // A failed start is reported by RunAsync in one line; the host's own report is a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.Critical);
        // Logging:LogLevel:<category> from configuration must beat the defaults above: of two rules for
        // the same category the later one wins, and the builder read the section before they were added.
        builder.Logging.AddConfiguration(configuration.GetSection("Logging"));
        return builder;
    }

    /// <summary>Socket event threads for a machine of <paramref name="processors"/> cores: half of them, at least one.</summary>
    internal static int SocketEventThreads(int processors) => Math.Max(1, processors / 2);

    /// <summary>Runs a service from its command line; returns the process exit code.</summary>
    public static async Task<int> RunAsync(ServiceDefinition service, string[] args, Func<IReadOnlyList<string>, WebApplication> build)
    {
        if (HealthProbe.IsRequested(args))
        {
            return await HealthProbe.RunAsync(service.Program, args, Console.Out, Console.Error);
        }

        // Every exchange crosses four sockets, and each completion handed to the thread pool costs a
        // wake-up and a context switch: measured, inline completions cut edge+origin CPU per request by
        // about a third. Nothing on these paths blocks a thread. An operator's explicit 0 wins.
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }

        // With inline completions the runtime starts one event thread per core; on two cores those threads, the
        // thread pool's workers and the other processes of the path take turns on the cores, and every turn is a
        // context switch. Half as many event threads measured up to a fifth less CPU per request on two cores, and
        // fuller batches (bench/RESULTS.md); larger machines were not measured. An operator's explicit count wins, and
        // without inline completions the runtime's own default (one thread per 30 cores) stays.
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1" && Environment.GetEnvironmentVariable(SocketThreadsVariable) is null)
        {
            Environment.SetEnvironmentVariable(SocketThreadsVariable, SocketEventThreads(Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture));
        }

        var parsed = CommandLine.Parse(args, service.Options);
        if (parsed.HelpRequested)
        {
            Console.Out.Write(CommandLine.FormatHelp(service.Program, service.Summary, service.Options) + HealthProbe.HelpText);
            return 0;
        }

        if (parsed.Error is not null)
        {
            return Fail(service, parsed.Error);
        }

        WebApplication app;
        try
        {
            app = build(args);
            await app.StartAsync();
        }
        catch (OptionsValidationException ex)
        {
            return Fail(service, string.Join(" ", ex.Failures));
        }
        catch (InvalidOperationException ex) when (ex.Message.Contains("configuration value", StringComparison.Ordinal))
        {
            // The binder names the configuration key and the value; say which flag that is and what it takes.
            var option = service.Options.FirstOrDefault(o => ex.Message.Contains($"'{o.ConfigKey}'", StringComparison.OrdinalIgnoreCase));
            var value = ex.Message.Split('\'') is { Length: > 2 } parts ? parts[1] : "?";
            return Fail(service, option is null
                ? ex.Message
                : $"invalid value '{value}' for {option.Flag} (expected {option.ValueName}{(option.Default is null ? "" : $", default {option.Default}")})");
        }
        catch (Exception ex) when (ex is IOException or FileNotFoundException)
        {
            return Fail(service, ex.Message, exitCode: 1);
        }

        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return 0;
    }

    /// <summary>The first address a started application listens on, with the real port when 0 was asked for.</summary>
    public static Uri Address(WebApplication app)
        => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static int Fail(ServiceDefinition service, string message, int exitCode = UsageError)
    {
        Console.Error.WriteLine($"{service.Program}: {message}");
        return exitCode;
    }

    /// <summary>
    /// --log-format, needed before the options are bound (logging is set up first). A value that is
    /// no <see cref="LogFormat"/> falls back to console here and fails validation at start.
    /// </summary>
    private static LogFormat ReadLogFormat(ServiceDefinition service, IConfiguration configuration)
        => service.Options.FirstOrDefault(static o => o.Name == "log-format") is { } option
            && Enum.TryParse<LogFormat>(configuration[option.ConfigKey], ignoreCase: true, out var format)
            ? format
            : LogFormat.Console;

    private static string? FindValue(IEnumerable<KeyValuePair<string, string?>> values, string suffix)
    {
        foreach (var (key, value) in values)
        {
            if (key.EndsWith(":" + suffix, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }
}
