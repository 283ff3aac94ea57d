using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.Hosting;

namespace Teleport.FunctionalTests;

/// <summary>How many threads a service gives to socket events: its default, and an operator's count.</summary>
public sealed class SocketThreadsTests
{
    // The runtime names each socket event thread so (its 15-character thread name limit keeps it whole).
    private const string SocketThreadName = ".NET Sockets";

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    public async Task Service_ByDefault_WaitsOnSocketEventsWithHalfTheCores(string service)
        => Assert.Equal(ServiceHost.SocketEventThreads(Environment.ProcessorCount), await CountSocketThreadsAsync(service, []));

    [Fact]
    public async Task Origin_WithTheRuntimesVariableSet_KeepsTheOperatorsCount()
        => Assert.Equal(3, await CountSocketThreadsAsync("teleport-origin", [new("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT", "3")]));

    private static async Task<int> CountSocketThreadsAsync(string service, KeyValuePair<string, string>[] environment)
    {
        string[] args = service == "teleport-edge"
            ? ["--listen", "127.0.0.1:0", "--origin", $"http://127.0.0.1:{FreePort.Refusing()}"]
            : ["--listen", "127.0.0.1:0", "--upstream", $"http://127.0.0.1:{FreePort.Refusing()}"];
        await using var process = BackgroundProcess.Start(service, Path.Combine(AppContext.BaseDirectory, service + ".dll"), args, environment);
        // Listening means sockets exist, and the runtime starts all its event threads with the first one.
        await process.ListeningAddressAsync();
        var count = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{process.Id}/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == SocketThreadName)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // A thread that ended meanwhile (a thread-pool worker); event threads live as long as the process.
            }
        }

        return count;
    }
}
