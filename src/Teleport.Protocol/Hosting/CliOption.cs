namespace Teleport.Protocol.Hosting;

/// <summary>
/// One command-line flag of teleport-edge or teleport-origin, and where its value lands in configuration.
/// The same option can also be set through <see cref="EnvironmentVariable"/> or in appsettings.json under
/// <see cref="ConfigKey"/>; <see cref="CommandLine"/> turns flags and variables into configuration key/values.
/// </summary>
/// <param name="Name">Flag without dashes, e.g. "listen" for <c>--listen</c>. Matched exactly, case-sensitively.</param>
/// <param name="ConfigKey">Configuration key the value binds to, e.g. "Edge:Listen".</param>
/// <param name="ValueName">Placeholder shown in help, e.g. "ADDRESS". Ignored for switches.</param>
/// <param name="Description">One or two sentences for --help; wrapped by the formatter.</param>
/// <param name="Default">The default applied by the options class, shown in help only. Null hides it.</param>
/// <param name="Repeatable">
/// May be given several times. Values go to ConfigKey:0, ConfigKey:1, ... so they bind to a list or array.
/// </param>
/// <param name="IsSwitch">Takes no value: <c>--name</c> sets "true"; <c>--name=false</c> is also accepted.</param>
internal sealed record CliOption(
    string Name,
    string ConfigKey,
    string ValueName,
    string Description,
    string? Default = null,
    bool Repeatable = false,
    bool IsSwitch = false)
{
    /// <summary>The flag as typed, e.g. "--listen".</summary>
    public string Flag => "--" + Name;

    /// <summary>
    /// Environment variable read by <see cref="CommandLine.ReadEnvironment"/>: "TELEPORT_" + the name upper-cased
    /// with '-' turned into '_' (max-body-size -> TELEPORT_MAX_BODY_SIZE). Derived rather than configured so the
    /// flag and the variable cannot drift apart.
    /// </summary>
    public string EnvironmentVariable => "TELEPORT_" + Name.ToUpperInvariant().Replace('-', '_');
}
