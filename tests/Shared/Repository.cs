namespace Teleport.Testing;

/// <summary>Paths in the checked-out repository the tests run from.</summary>
internal static class Repository
{
    /// <summary>The folder holding Teleport.Grpc.sln, found by walking up from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Teleport.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Teleport.Grpc.sln above {AppContext.BaseDirectory}.");
    }
}
