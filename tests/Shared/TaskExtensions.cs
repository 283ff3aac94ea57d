using System.Runtime.CompilerServices;

namespace Teleport.Testing;

/// <summary>Every await in a test is bounded; a hang fails with the place that hung instead of stalling the run. Shared by the test projects.</summary>
internal static class TaskExtensions
{
    public static readonly TimeSpan DefaultTimeoutSpan = TimeSpan.FromSeconds(30);

    public static async Task<T> DefaultTimeout<T>(this Task<T> task, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            return await task.WaitAsync(DefaultTimeoutSpan);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {DefaultTimeoutSpan.TotalSeconds} s at {Path.GetFileName(file)}:{line}.");
        }
    }

    public static async Task DefaultTimeout(this Task task, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            await task.WaitAsync(DefaultTimeoutSpan);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {DefaultTimeoutSpan.TotalSeconds} s at {Path.GetFileName(file)}:{line}.");
        }
    }

    public static Task DefaultTimeout(this ValueTask task, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        => task.AsTask().DefaultTimeout(file, line);

    public static Task<T> DefaultTimeout<T>(this ValueTask<T> task, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        => task.AsTask().DefaultTimeout(file, line);
}
