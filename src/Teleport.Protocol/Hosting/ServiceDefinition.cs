namespace Teleport.Protocol.Hosting;

/// <summary>What a service's command line is: its name, what it does, and its options.</summary>
internal sealed record ServiceDefinition(string Program, string Summary, IReadOnlyList<CliOption> Options);
