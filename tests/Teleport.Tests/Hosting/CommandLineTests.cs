using Microsoft.Extensions.Configuration;
using Teleport.Protocol.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class CommandLineTests
{
    private static readonly CliOption[] Options =
    [
        new("listen", "Edge:Listen", "ADDRESS", "Address and port the edge accepts HTTP requests on.", Default: "http://0.0.0.0:8080"),
        new("origin", "Edge:OriginAddress", "URL", "Origin gRPC endpoint."),
        new("upstream", "Edge:Upstreams", "URL", "Upstream base address.", Repeatable: true),
        new("max-body-size", "Edge:MaxBodySize", "BYTES", "Largest request body accepted.", Default: "10485760"),
        new("verbose", "Edge:Verbose", "", "Log every exchange.", IsSwitch: true),
    ];

    [Fact]
    public void Parse_SpaceSeparatedValue_MapsToConfigKey()
    {
        var result = CommandLine.Parse(["--listen", "http://127.0.0.1:9000", "--max-body-size", "-1"], Options);

        Assert.Null(result.Error);
        Assert.False(result.HelpRequested);
        Assert.Equal([Pair("Edge:Listen", "http://127.0.0.1:9000"), Pair("Edge:MaxBodySize", "-1")], result.Values);
    }

    [Fact]
    public void Parse_EqualsValue_KeepsEverythingAfterFirstEquals()
    {
        var result = CommandLine.Parse(["--origin=http://o:5001/?a=b", "--listen=--odd"], Options);

        Assert.Null(result.Error);
        Assert.Equal([Pair("Edge:OriginAddress", "http://o:5001/?a=b"), Pair("Edge:Listen", "--odd")], result.Values);
    }

    [Theory]
    [InlineData("--verbose", "true")]
    [InlineData("--verbose=true", "true")]
    [InlineData("--verbose=FALSE", "false")]
    public void Parse_SwitchForms_SetNormalizedBoolean(string arg, string expected)
    {
        var result = CommandLine.Parse([arg, "--listen", "x"], Options);

        Assert.Null(result.Error);
        Assert.Equal([Pair("Edge:Verbose", expected), Pair("Edge:Listen", "x")], result.Values);
    }

    [Fact]
    public void Parse_SwitchWithNonBooleanValue_ReturnsError()
    {
        var result = CommandLine.Parse(["--verbose=yes"], Options);

        Assert.Equal("option '--verbose' is a switch: use '--verbose' or '--verbose=false'", result.Error);
        Assert.Empty(result.Values);
    }

    [Fact]
    public void Parse_SwitchFollowedByWord_RejectsWordAsPositional()
    {
        Assert.Equal("unexpected argument 'false'", CommandLine.Parse(["--verbose", "false"], Options).Error);
    }

    [Fact]
    public void Parse_RepeatableGivenThreeTimes_IndexesFromZero()
    {
        var result = CommandLine.Parse(["--upstream", "http://a", "--listen", "x", "--upstream=http://b", "--upstream", "http://c"], Options);

        Assert.Null(result.Error);
        Assert.Equal(
            [Pair("Edge:Upstreams:0", "http://a"), Pair("Edge:Listen", "x"), Pair("Edge:Upstreams:1", "http://b"), Pair("Edge:Upstreams:2", "http://c")],
            result.Values);
    }

    [Theory]
    [InlineData("--lisen", "unknown option '--lisen' (did you mean '--listen'?)")]
    [InlineData("--lsiten", "unknown option '--lsiten' (did you mean '--listen'?)")]
    [InlineData("--Listen", "unknown option '--Listen' (did you mean '--listen'?)")]
    [InlineData("-listen", "unknown option '-listen' (did you mean '--listen'?)")]
    [InlineData("--max-body", "unknown option '--max-body' (see --help)")]
    [InlineData("--bogus", "unknown option '--bogus' (see --help)")]
    [InlineData("--", "unknown option '--' (see --help)")]
    public void Parse_UnknownOption_NamesItAndSuggestsOnlyWhenClose(string arg, string expected)
    {
        var result = CommandLine.Parse(["--listen", "x", arg, "v"], Options);

        Assert.Equal(expected, result.Error);
        Assert.False(result.HelpRequested);
        Assert.Empty(result.Values);
    }

    [Fact]
    public void Parse_UnknownOptionWithEqualsValue_NamesOnlyTheFlag()
    {
        Assert.Equal("unknown option '--orign' (did you mean '--origin'?)", CommandLine.Parse(["--orign=http://o"], Options).Error);
    }

    [Theory]
    [InlineData("--listen")]
    [InlineData("--listen=")]
    [InlineData("--listen", "--origin", "http://o")]
    public void Parse_MissingValue_ReturnsNeedsValue(params string[] args)
    {
        Assert.Equal("option '--listen' needs a value", CommandLine.Parse(args, Options).Error);
    }

    [Fact]
    public void Parse_NonRepeatableGivenTwice_ReturnsError()
    {
        var result = CommandLine.Parse(["--listen", "a", "--listen=b"], Options);

        Assert.Equal("option '--listen' given more than once", result.Error);
        Assert.Empty(result.Values);
    }

    [Fact]
    public void Parse_SwitchGivenTwice_ReturnsError()
    {
        Assert.Equal("option '--verbose' given more than once", CommandLine.Parse(["--verbose", "--verbose=false"], Options).Error);
    }

    [Fact]
    public void Parse_PositionalArgument_ReturnsError()
    {
        Assert.Equal("unexpected argument 'foo'", CommandLine.Parse(["--listen", "x", "foo"], Options).Error);
    }

    [Theory]
    [InlineData("-h")]
    [InlineData("--help")]
    [InlineData("-?")]
    public void Parse_HelpFlagAmongBadArguments_RequestsHelpWithoutError(string flag)
    {
        var result = CommandLine.Parse(["--bogus", flag, "stray"], Options);

        Assert.True(result.HelpRequested);
        Assert.Null(result.Error);
        Assert.Empty(result.Values);
    }

    [Fact]
    public void Parse_NoArguments_SucceedsEmpty()
    {
        var result = CommandLine.Parse([], Options);

        Assert.Null(result.Error);
        Assert.False(result.HelpRequested);
        Assert.Empty(result.Values);
    }

    [Theory]
    [InlineData("listen", "TELEPORT_LISTEN")]
    [InlineData("max-body-size", "TELEPORT_MAX_BODY_SIZE")]
    public void EnvironmentVariable_Name_IsPrefixedUpperSnakeCase(string name, string expected)
    {
        Assert.Equal(expected, new CliOption(name, "K", "V", "D").EnvironmentVariable);
    }

    [Fact]
    public void ReadEnvironment_SetVariables_MapToConfigKeys()
    {
        var env = new Dictionary<string, string>
        {
            ["TELEPORT_LISTEN"] = " http://0.0.0.0:1 ",
            ["TELEPORT_MAX_BODY_SIZE"] = "42",
            ["TELEPORT_VERBOSE"] = "true",
            ["TELEPORT_ORIGIN"] = "  ",                         // blank means unset
            ["TELEPORT_UPSTREAM"] = " http://a , ,http://b,",  // trimmed, empty entries skipped
            ["LISTEN"] = "ignored",
        };

        var values = CommandLine.ReadEnvironment(Options, name => env.GetValueOrDefault(name));

        Assert.Equal(
            [Pair("Edge:Listen", "http://0.0.0.0:1"), Pair("Edge:Upstreams:0", "http://a"), Pair("Edge:Upstreams:1", "http://b"),
             Pair("Edge:MaxBodySize", "42"), Pair("Edge:Verbose", "true")],
            values);
    }

    [Fact]
    public void ReadEnvironment_NothingSet_ReturnsEmpty()
    {
        Assert.Empty(CommandLine.ReadEnvironment(Options, _ => null));
    }

    [Fact]
    public void Merge_FlagListShorterThanEnvironmentList_ReplacesWholeList()
    {
        var env = new[] { Pair("Edge:Upstreams:0", "e0"), Pair("Edge:Upstreams:1", "e1"), Pair("Edge:Upstreams:2", "e2"), Pair("Edge:Listen", "env") };
        var flags = new[] { Pair("edge:upstreams:0", "f0") };   // config keys are case-insensitive

        Assert.Equal([Pair("Edge:Listen", "env"), Pair("edge:upstreams:0", "f0")], CommandLine.Merge(Options, env, flags));
    }

    [Fact]
    public void Merge_FlagScalar_OverridesVariableAndKeysStayUnique()
    {
        var env = new[] { Pair("Edge:Listen", "env"), Pair("Edge:OriginAddress", "http://env") };
        var flags = new[] { Pair("Edge:Listen", "flag") };

        Assert.Equal([Pair("Edge:OriginAddress", "http://env"), Pair("Edge:Listen", "flag")], CommandLine.Merge(Options, env, flags));
    }

    [Fact]
    public void AddOverrides_FlagListOverLongerAppsettingsAndEnvironmentLists_BindsOnlyFlagList()
    {
        var builder = new ConfigurationBuilder().AddInMemoryCollection(AppSettings);
        var env = CommandLine.ReadEnvironment(Options, n => n == "TELEPORT_UPSTREAM" ? "http://e0,http://e1" : null);
        var flags = CommandLine.Parse(["--upstream", "http://flag"], Options).Values;

        var bound = Bind(CommandLine.AddOverrides(builder, Options, env, flags).Build());

        Assert.Equal(["http://flag"], bound.Upstreams);
        Assert.Equal("http://settings", bound.Listen);   // untouched keys still come from appsettings
    }

    [Fact]
    public void AddOverrides_EnvironmentListOverLongerAppsettingsList_BindsOnlyEnvironmentList()
    {
        // ConfigurationManager is what WebApplication.CreateBuilder hands the host; it builds providers as added.
        using var manager = new ConfigurationManager();
        manager.AddInMemoryCollection(AppSettings);
        CommandLine.AddOverrides(manager, Options, CommandLine.ReadEnvironment(Options, n => n == "TELEPORT_UPSTREAM" ? "http://e0,http://e1" : null), []);

        Assert.Equal(["http://e0", "http://e1"], Bind(manager).Upstreams);
    }

    [Fact]
    public void AddOverrides_ListNotOverridden_KeepsAppsettingsList()
    {
        var builder = new ConfigurationBuilder().AddInMemoryCollection(AppSettings);

        var bound = Bind(CommandLine.AddOverrides(builder, Options, [], CommandLine.Parse(["--listen", "x"], Options).Values).Build());

        Assert.Equal(["http://s0", "http://s1", "http://s2"], bound.Upstreams);
        Assert.Equal("x", bound.Listen);
    }

    [Theory]
    [InlineData(null, null, "http://settings")]
    [InlineData("http://env", null, "http://env")]
    [InlineData("http://env", "http://flag", "http://flag")]
    [InlineData(null, "http://flag", "http://flag")]
    public void AddOverrides_ScalarFromEachLayer_FlagsBeatEnvironmentBeatAppsettings(string? envValue, string? flagValue, string expected)
    {
        var builder = new ConfigurationBuilder().AddInMemoryCollection(AppSettings);
        var env = CommandLine.ReadEnvironment(Options, n => n == "TELEPORT_LISTEN" ? envValue : null);
        var flags = CommandLine.Parse(flagValue is null ? [] : ["--listen", flagValue], Options).Values;

        Assert.Equal(expected, Bind(CommandLine.AddOverrides(builder, Options, env, flags).Build()).Listen);
    }

    [Fact]
    public void FormatHelp_EveryOption_ShowsFlagEnvironmentDefaultAndConfigKey()
    {
        var help = CommandLine.FormatHelp("teleport-edge", "Accepts HTTP and tunnels it to an origin.", Options);
        var lines = help.ReplaceLineEndings("\n").Split('\n');

        Assert.Equal("Usage: teleport-edge [options]", lines[0]);
        Assert.Contains("Accepts HTTP and tunnels it to an origin.", lines);
        Assert.Equal(
            "  --listen ADDRESS Address and port the edge accepts HTTP requests on. (default: http://0.0.0.0:8080)"
            + " [env TELEPORT_LISTEN] [config Edge:Listen]",
            Entry(lines, "  --listen "));
        Assert.Equal("  --verbose Log every exchange. [env TELEPORT_VERBOSE] [config Edge:Verbose]", Entry(lines, "  --verbose "));
        Assert.Equal(
            "  --upstream URL Upstream base address. (repeatable) [env TELEPORT_UPSTREAM, comma-separated] [config Edge:Upstreams]",
            Entry(lines, "  --upstream "));
        foreach (var o in Options)
        {
            var entry = Entry(lines, $"  {o.Flag} ");
            Assert.Contains(o.Description, entry);
            Assert.Contains($"[env {o.EnvironmentVariable}", entry);
            Assert.Contains($"[config {o.ConfigKey}]", entry);
            if (o.Default is not null) Assert.Contains($"(default: {o.Default})", entry);
        }
        Assert.Equal("  -h, --help Show this help and exit.", Entry(lines, "  -h, --help "));
        var closing = string.Join(' ', lines.SkipWhile(l => !l.StartsWith("Every option", StringComparison.Ordinal)));
        Assert.Contains("appsettings.json under the config key shown (\"Edge:Listen\" is \"Edge\": { \"Listen\": ... })", closing);
        Assert.Contains("Precedence: flags > environment > appsettings.json > built-in defaults.", closing);
    }

    [Fact]
    public void FormatHelp_LongDescription_WrapsUnder100ColumnsAtTheDescriptionColumn()
    {
        var longText = string.Join(' ', Enumerable.Repeat("word", 60));
        CliOption[] options = [new("listen", "Edge:Listen", "ADDRESS", longText), new("x", "Edge:X", "V", "Short.")];

        var lines = CommandLine.FormatHelp("p", longText, options).ReplaceLineEndings("\n").Split('\n');

        Assert.All(lines, l => Assert.True(l.Length <= 100, $"{l.Length} columns: '{l}'"));
        var first = Array.FindIndex(lines, l => l.StartsWith("  --listen ADDRESS", StringComparison.Ordinal));
        var column = lines[first].IndexOf("word", StringComparison.Ordinal);
        Assert.Equal(new string(' ', column) + "word", lines[first + 1][..(column + 4)]);   // continuation aligned
        Assert.Equal(60, lines.Sum(l => l.Split(' ').Count(w => w == "word")) / 2);        // summary + option, none lost
    }

    private static readonly Dictionary<string, string?> AppSettings = new()
    {
        ["Edge:Listen"] = "http://settings",
        ["Edge:Upstreams:0"] = "http://s0",
        ["Edge:Upstreams:1"] = "http://s1",
        ["Edge:Upstreams:2"] = "http://s2",
    };

    /// <summary>An option's help entry from its first line up to the next option, joined on single spaces.</summary>
    private static string Entry(string[] lines, string lead)
    {
        var first = Array.FindIndex(lines, l => l.StartsWith(lead, StringComparison.Ordinal));
        Assert.True(first >= 0, $"no line starts with '{lead}'");
        // Continuation lines are indented past the flags; collapsing the padding makes the entry comparable.
        var entry = lines.Skip(first).TakeWhile((l, i) => i == 0 || l.StartsWith("   ", StringComparison.Ordinal));
        return "  " + string.Join(' ', string.Join(' ', entry).Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    private static KeyValuePair<string, string?> Pair(string key, string? value) => new(key, value);

    private static BoundOptions Bind(IConfiguration configuration)
    {
        var options = new BoundOptions();
        configuration.GetSection("Edge").Bind(options);
        return options;
    }

    private sealed class BoundOptions
    {
        public string? Listen { get; set; }
        public List<string> Upstreams { get; set; } = [];
    }
}
