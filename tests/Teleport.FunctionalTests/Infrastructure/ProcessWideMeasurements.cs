namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// Tests that measure the whole process (open handles, threads, heap) run alone: other test classes running
/// beside them would move those figures.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMeasurements
{
    public const string Name = "Process-wide measurements";
}
