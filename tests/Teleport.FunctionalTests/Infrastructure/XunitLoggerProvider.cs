using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>Routes server logs to the test's output and keeps Error-level entries for assertions.</summary>
internal sealed class XunitLoggerProvider(ITestOutputHelper output, string prefix) : ILoggerProvider
{
    private ITestOutputHelper Output { get; } = output;

    private string Prefix { get; } = prefix;

    public ConcurrentQueue<string> Errors { get; } = new();

    public ConcurrentQueue<string> Warnings { get; } = new();

    /// <summary>Every line, for tests that expect a particular entry (e.g. why a stream ended).</summary>
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(XunitLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{DateTime.Now:HH:mm:ss.fff} {provider.Prefix} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}";
            provider.Lines.Enqueue(line);
            if (logLevel >= LogLevel.Error)
            {
                provider.Errors.Enqueue(line);
            }

            if (logLevel >= LogLevel.Warning)
            {
                provider.Warnings.Enqueue(line);
            }

            try
            {
                provider.Output.WriteLine(line);
            }
            catch (InvalidOperationException)
            {
                // The test has finished; late logs from shutdown have nowhere to go.
            }
        }
    }
}
