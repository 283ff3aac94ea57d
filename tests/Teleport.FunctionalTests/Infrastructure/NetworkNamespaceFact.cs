using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>
/// A fact that needs two network namespaces joined by a shaped veth link (<see cref="ShapedLink"/>): skipped, with the
/// reason shown, when the tests do not run as root or iproute2's <c>ip netns</c> and <c>tc</c> are missing.
/// </summary>
internal sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    public NetworkNamespaceFactAttribute()
    {
        if (MissingReason() is { } reason)
        {
            Skip = reason;
        }
    }

    private static string? MissingReason()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "Network namespaces are Linux only.";
        }

        if (geteuid() != 0)
        {
            return "Needs root to create network namespaces and tc qdiscs (the constrained-link tests run in CI as root).";
        }

        return Runs("ip", "netns", "list") && Runs("tc", "-V")
            ? null
            : "Needs iproute2's `ip netns` and `tc` (Debian: apt-get install iproute2).";
    }

    private static bool Runs(string program, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            process.WaitForExit(10_000);
            return process.HasExited && process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    [DllImport("libc")]
    private static extern uint geteuid();
}
