using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Teleport.Edge.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class EdgeAppTests
{
    [Fact]
    public async Task Build_ListenAsOneStringInJson_BindsAsOneListener()
    {
        var file = Path.GetTempFileName();
        try
        {
            // The form the README showed before --listen became repeatable.
            await File.WriteAllTextAsync(file, """{ "Edge": { "Listen": "0.0.0.0:18080" } }""");
            await using var app = EdgeApp.Build(["--config", file]);

            var options = app.Services.GetRequiredService<IOptions<EdgeOptions>>().Value;

            Assert.Equal(["0.0.0.0:18080"], options.Listen);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Build_ListenFlagsOverJsonString_ReplaceIt()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, """{ "Edge": { "Listen": "0.0.0.0:18080" } }""");
            await using var app = EdgeApp.Build(["--config", file, "--listen", "127.0.0.1:0", "--listen", "unix:/tmp/edge.sock"]);

            var options = app.Services.GetRequiredService<IOptions<EdgeOptions>>().Value;

            Assert.Equal(["127.0.0.1:0", "unix:/tmp/edge.sock"], options.Listen);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The host waits a second beyond --drain-timeout: the time to write the 503s of what is given up then.</summary>
    [Theory]
    [InlineData(new string[0], 31_000)]
    [InlineData(new[] { "--drain-timeout", "2500ms" }, 3_500)]
    public async Task Build_DrainTimeout_PlusASecond_IsTheHostsShutdownTimeout(string[] args, int expectedMs)
    {
        await using var app = EdgeApp.Build(args);

        var host = app.Services.GetRequiredService<IOptions<HostOptions>>().Value;

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), host.ShutdownTimeout);
    }
}
