namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// Tests that measure the whole process (open handles, threads, heap) run alone: other test classes running
/// beside them would move those figures.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMeasurements
{
    public const string Name = "Process-wide measurements";

    /// <summary>The managed heap's live bytes, after a full compacting collection and the finalizers it queued.</summary>
    public static long LiveHeapBytes()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
