namespace Teleport.Protocol.Hosting;

/// <summary>
/// Outcome of <see cref="CommandLine.Parse"/>. At most one of <see cref="HelpRequested"/> and <see cref="Error"/>
/// is set; <see cref="Values"/> is empty unless parsing succeeded.
/// </summary>
internal sealed class CommandLineResult
{
    private CommandLineResult(bool helpRequested, string? error, IReadOnlyList<KeyValuePair<string, string?>> values)
    {
        HelpRequested = helpRequested;
        Error = error;
        Values = values;
    }

    /// <summary>-h, --help or -? was given anywhere; the caller prints help and exits successfully.</summary>
    public bool HelpRequested { get; }

    /// <summary>One line naming the offending argument, for stderr; null when the arguments are valid.</summary>
    public string? Error { get; }

    /// <summary>Configuration key/values in argument order, each key once (repeatable ones as Key:0, Key:1, ...).</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> Values { get; }

    public static CommandLineResult Help { get; } = new(true, null, []);

    public static CommandLineResult Failure(string error) => new(false, error, []);

    public static CommandLineResult Success(IReadOnlyList<KeyValuePair<string, string?>> values) => new(false, null, values);
}
