using System.Text;
using Microsoft.Extensions.Configuration;

namespace Teleport.Protocol.Hosting;

/// <summary>
/// The command line of teleport-edge and teleport-origin, without dependencies. Flags and TELEPORT_* environment
/// variables become configuration key/values layered over appsettings.json: flags > environment > appsettings.json
/// > defaults in the options classes. Startup path only, so LINQ and string building are fine here.
/// </summary>
/// <remarks>
/// Host wiring, steps:
/// 1. <see cref="Parse"/> the arguments. On HelpRequested print <see cref="FormatHelp"/> and exit 0; on Error print it
///    to stderr and exit 2 (usage error), before any host is built.
/// 2. Once appsettings.json is in the configuration, call <see cref="AddOverrides"/> with
///    <see cref="ReadEnvironment"/>(options, Environment.GetEnvironmentVariable) and the parsed values, so this
///    layer sits on top. Don't also hand args to the host's own command-line provider.
/// </remarks>
internal static class CommandLine
{
    private const int HelpWidth = 100;
    private const int MaxSuggestionDistance = 2;

    /// <summary>Parses <c>--name value</c>, <c>--name=value</c> and switches; rejects anything else.</summary>
    public static CommandLineResult Parse(IReadOnlyList<string> args, IReadOnlyList<CliOption> options)
    {
        // Help wins over errors, so "teleport-edge --bogus --help" still shows help.
        if (args.Any(a => a is "-h" or "--help" or "-?")) return CommandLineResult.Help;

        var values = new List<KeyValuePair<string, string?>>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);   // option name -> times given
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-')) return CommandLineResult.Failure($"unexpected argument '{arg}'");
            var equals = arg.IndexOf('=');
            var name = equals < 0 ? arg : arg[..equals];
            var option = name.StartsWith("--", StringComparison.Ordinal)
                ? options.FirstOrDefault(o => o.Name == name[2..])   // exact: a prefix would break when options are added
                : null;
            if (option is null) return CommandLineResult.Failure(UnknownOption(name, options));

            string value;
            if (option.IsSwitch)
            {
                var on = true;
                if (equals >= 0 && !bool.TryParse(arg[(equals + 1)..], out on))
                    return CommandLineResult.Failure($"option '{option.Flag}' is a switch: use '{option.Flag}' or '{option.Flag}=false'");
                value = on ? "true" : "false";   // normalized, so "--x=TRUE" reads the same as "--x"
            }
            else if (equals >= 0) value = arg[(equals + 1)..];
            // "--listen --origin x" is a forgotten value, not a listen address; "--name=--x" still passes one.
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) value = args[++i];
            else value = "";
            // An empty value is nearly always an unset shell variable ("--listen $ADDR"): fail rather than bind "".
            if (value.Length == 0) return CommandLineResult.Failure($"option '{option.Flag}' needs a value");

            seen.TryGetValue(option.Name, out var count);
            if (count > 0 && !option.Repeatable)
                return CommandLineResult.Failure($"option '{option.Flag}' given more than once");
            seen[option.Name] = count + 1;
            values.Add(new(option.Repeatable ? $"{option.ConfigKey}:{count}" : option.ConfigKey, value));
        }
        return CommandLineResult.Success(values);
    }

    /// <summary>
    /// Reads each option's <see cref="CliOption.EnvironmentVariable"/>. A repeatable option's variable is a
    /// comma-separated list (entries trimmed, empty ones skipped) mapped to ConfigKey:0, ConfigKey:1, ...
    /// A blank variable counts as unset: compose files write "TELEPORT_X=" to mean "not given".
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string?>> ReadEnvironment(
        IReadOnlyList<CliOption> options, Func<string, string?> getVariable)
    {
        var values = new List<KeyValuePair<string, string?>>();
        foreach (var option in options)
        {
            var raw = getVariable(option.EnvironmentVariable);
            if (string.IsNullOrWhiteSpace(raw)) continue;
            if (!option.Repeatable)
            {
                values.Add(new(option.ConfigKey, raw.Trim()));
                continue;
            }
            var items = raw.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i < items.Length; i++) values.Add(new($"{option.ConfigKey}:{i}", items[i]));
        }
        return values;
    }

    /// <summary>
    /// Environment and flag values as one list, each key once: a flag beats its variable, and a repeatable option
    /// given as flags replaces the environment's whole list (key-by-key layering would keep the extra entries).
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string?>> Merge(IReadOnlyList<CliOption> options,
        IEnumerable<KeyValuePair<string, string?>> environmentValues, IEnumerable<KeyValuePair<string, string?>> flagValues)
    {
        var flags = flagValues.ToList();
        var flagKeys = flags.Select(p => p.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var flagLists = ListsSetBy(options, flagKeys);
        var merged = environmentValues.Where(p => !flagKeys.Contains(p.Key) && !flagLists.Any(l => IsItemOf(p.Key, l))).ToList();
        merged.AddRange(flags);
        return merged;
    }

    /// <summary>
    /// Adds <see cref="Merge"/>(environment, flags) as one provider on top of the sources already in
    /// <paramref name="builder"/> (a ConfigurationBuilder or the host's ConfigurationManager). Every repeatable
    /// option set here replaces the list from the layers below instead of overlaying it index by index.
    /// </summary>
    public static IConfigurationBuilder AddOverrides(IConfigurationBuilder builder, IReadOnlyList<CliOption> options,
        IEnumerable<KeyValuePair<string, string?>> environmentValues, IEnumerable<KeyValuePair<string, string?>> flagValues)
    {
        var merged = Merge(options, environmentValues, flagValues);
        return builder.Add(new OverrideProvider(merged, ListsSetBy(options, merged.Select(p => p.Key))));
    }

    /// <summary>The --help text: usage, summary, one aligned entry per option, and where else options come from.</summary>
    public static string FormatHelp(string program, string summary, IReadOnlyList<CliOption> options)
    {
        var text = new StringBuilder();
        text.AppendLine($"Usage: {program} [options]").AppendLine();
        AppendWrapped(text, "", Words(summary), 0);
        text.AppendLine().AppendLine("Options:");

        var rows = options.Select(o => (Lead: "  " + (o.IsSwitch ? o.Flag : $"{o.Flag} {o.ValueName}"), Option: o)).ToList();
        // Descriptions start in one column; a flag too long for it gets a line of its own (see AppendWrapped).
        var column = Math.Min(rows.Select(r => r.Lead.Length).DefaultIfEmpty(12).Max() + 3, 36);
        foreach (var (lead, o) in rows)
        {
            // The notes are single words to the wrapper: "(default:" must not end a line without its value.
            var words = Words(o.Description);
            if (o.Default is not null) words.Add($"(default: {o.Default})");
            if (o.Repeatable) words.Add("(repeatable)");
            AppendWrapped(text, lead, words, column);
            var env = o.Repeatable ? $"[env {o.EnvironmentVariable}, comma-separated]" : $"[env {o.EnvironmentVariable}]";
            AppendWrapped(text, "", [env, $"[config {o.ConfigKey}]"], column);
        }
        AppendWrapped(text, "  -h, --help", Words("Show this help and exit."), column);

        text.AppendLine();
        var example = options.Count == 0 ? "" : $" (\"{options[0].ConfigKey}\" is {JsonPath(options[0].ConfigKey)})";
        AppendWrapped(text, "", Words("Every option can also be set in appsettings.json under the config key shown" + example
            + ", with repeatable options as JSON arrays, and by the environment variable shown. Precedence: flags >"
            + " environment > appsettings.json > built-in defaults. A repeatable option given as flags or in the"
            + " environment replaces the whole list from appsettings.json."), 0);
        return text.ToString();
    }

    private static string UnknownOption(string name, IReadOnlyList<CliOption> options)
    {
        // Compare case-insensitively and ignore the dashes, so "--Listen" and "-listen" still find "--listen".
        var typed = name.TrimStart('-').ToLowerInvariant();
        var closest = typed.Length == 0 ? null : options
            .Select(o => (Option: o, Distance: Distance(typed, o.Name.ToLowerInvariant())))
            .Where(c => c.Distance <= MaxSuggestionDistance)
            .OrderBy(c => c.Distance)          // stable: ties go to the option listed first
            .Select(c => c.Option)
            .FirstOrDefault();
        return closest is null
            ? $"unknown option '{name}' (see --help)"
            : $"unknown option '{name}' (did you mean '{closest.Flag}'?)";
    }

    /// <summary>Edit distance counting a swap of neighbours as one edit ("lsiten" is 1 from "listen").</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    /// <summary>ConfigKeys of the repeatable options that have at least one item among <paramref name="keys"/>.</summary>
    private static List<string> ListsSetBy(IReadOnlyList<CliOption> options, IEnumerable<string> keys)
    {
        var all = keys.ToList();
        return options.Where(o => o.Repeatable && all.Any(k => IsItemOf(k, o.ConfigKey))).Select(o => o.ConfigKey).ToList();
    }

    // Configuration keys are case-insensitive, so the comparisons here are too.
    private static bool IsItemOf(string key, string listKey) =>
        key.Length > listKey.Length + 1
        && key.StartsWith(listKey, StringComparison.OrdinalIgnoreCase)
        && key[listKey.Length] == ':';

    private static string JsonPath(string configKey)
    {
        var parts = configKey.Split(':');
        return string.Join(": { ", parts.Select(p => $"\"{p}\"")) + ": ..." + string.Concat(Enumerable.Repeat(" }", parts.Length - 1));
    }

    private static List<string> Words(string text) => [.. text.Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>Greedy word wrap at HelpWidth: the first line starts with lead, the rest are indented to indent.</summary>
    private static void AppendWrapped(StringBuilder text, string lead, IEnumerable<string> words, int indent)
    {
        if (lead.Length > 0 && lead.Length + 1 > indent)
        {
            text.AppendLine(lead);
            lead = "";
        }
        var line = new StringBuilder(lead.PadRight(indent));
        var lineHasWords = false;
        foreach (var word in words)
        {
            // A word longer than the whole line stays intact on a line of its own rather than being cut.
            if (lineHasWords && line.Length + 1 + word.Length > HelpWidth)
            {
                text.AppendLine(line.ToString());
                line.Clear().Append(' ', indent);
                lineHasWords = false;
            }
            line.Append(lineHasWords ? " " : "").Append(word);
            lineHasWords = true;
        }
        text.AppendLine(line.ToString().TrimEnd());
    }

    /// <summary>
    /// The environment+flags layer. Configuration layers key by key, so a flag list of 1 over an appsettings.json
    /// list of 3 would bind as 3 items. The binder enumerates a list's items through GetChildKeys, where each
    /// provider receives the keys of the providers below it; for the lists set here this provider drops those,
    /// so only its own items remain. (A direct lookup such as config["Edge:Upstreams:2"] can still reach
    /// appsettings.json, but binding never makes one.)
    /// </summary>
    private sealed class OverrideProvider : ConfigurationProvider, IConfigurationSource
    {
        private readonly HashSet<string> _replacedLists;

        public OverrideProvider(IEnumerable<KeyValuePair<string, string?>> values, IEnumerable<string> replacedLists)
        {
            foreach (var (key, value) in values) Data[key] = value;
            _replacedLists = new(replacedLists, StringComparer.OrdinalIgnoreCase);
        }

        // Being its own source is safe: the data is fixed at construction and Load() keeps it, so a
        // ConfigurationManager that rebuilds its providers gets the same answers.
        public IConfigurationProvider Build(IConfigurationBuilder builder) => this;

        public override IEnumerable<string> GetChildKeys(IEnumerable<string> earlierKeys, string? parentPath) =>
            base.GetChildKeys(parentPath is not null && _replacedLists.Contains(parentPath) ? [] : earlierKeys, parentPath);
    }
}
