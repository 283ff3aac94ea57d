using System.Text.Json;

namespace Teleport.Tests.Hosting;

/// <summary>
/// The runtime settings each service is built with (its runtimeconfig.json, which the runtime reads before any of
/// its code runs): measured choices, so losing one in a project edit should fail here, not in a benchmark weeks later.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    public void Service_RunsServerGcWithoutDatas_Gen0Capped_AndWorkersThatBlockAtOnce(string service)
    {
        var path = Path.Combine(AppContext.BaseDirectory, service + ".runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.True(properties.GetProperty("System.GC.Server").GetBoolean(), $"{path}: Server GC");
        Assert.Equal(0, properties.GetProperty("System.GC.DynamicAdaptationMode").GetInt32());
        Assert.Equal(8 * 1024 * 1024, properties.GetProperty("System.GC.Gen0MaxBudget").GetInt32());
        Assert.Equal(0, properties.GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit").GetInt32());
    }
}
