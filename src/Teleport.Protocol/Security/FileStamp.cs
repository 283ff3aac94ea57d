namespace Teleport.Protocol.Security;

/// <summary>
/// When a set of files was last written, to notice a replaced certificate or token file with one stat per file
/// instead of a watcher thread (FileSystemWatcher misses atomic renames into place on some file systems).
/// </summary>
internal readonly record struct FileStamp(DateTime First, DateTime Second)
{
    /// <summary>The write times of <paramref name="first"/> and, if given, <paramref name="second"/>; missing files read as MinValue.</summary>
    public static FileStamp Of(string first, string? second = null)
        => new(WriteTime(first), second is null ? default : WriteTime(second));

    private static DateTime WriteTime(string path)
    {
        try
        {
            return File.GetLastWriteTimeUtc(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return DateTime.MinValue;
        }
    }
}
