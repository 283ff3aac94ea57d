using Microsoft.Extensions.Configuration;
using Teleport.Edge.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class EdgeOptionsValidatorTests
{
    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        var result = new EdgeOptionsValidator().Validate(null, new EdgeOptions());

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("Listen", "127.0.0.1:0")]
    [InlineData("Listen", "[::]:8080")]
    [InlineData("Origin", "http://origin:9090/")]
    [InlineData("RequestTimeout", "00:00:00.001")]
    [InlineData("RequestTimeout", "49.17:02:47.295")]
    [InlineData("TunnelWait", "00:00:00")]
    [InlineData("MaxRequestBodySize", "0")]
    [InlineData("MaxRequestBodySize", "2080374783")]
    [InlineData("MaxResponseBodySize", "0")]
    [InlineData("MaxResponseBodySize", "2080374783")]
    [InlineData("MaxRequestHeadersSize", "1")]
    [InlineData("MaxPendingExchanges", "1")]
    [InlineData("MaxBatchItems", "1")]
    [InlineData("MaxBatchBytes", "1")]
    [InlineData("MaxBatchBytes", "67108864")]
    [InlineData("MaxBatchDelay", "00:00:00.001")]
    [InlineData("MaxBatchDelay", "00:00:01")]
    public void Validate_BoundaryValue_Succeeds(string key, string value)
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind((key, value)));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("Listen", "nonsense", "--listen")]
    [InlineData("Listen", "127.0.0.1", "--listen")]
    [InlineData("Origin", "", "--origin")]
    [InlineData("Origin", "origin:9090", "--origin")]
    [InlineData("Origin", "https://origin:9090", "--origin")]
    [InlineData("Origin", "http://origin:9090/tunnel", "--origin")]
    [InlineData("Origin", "/relative", "--origin")]
    [InlineData("RequestTimeout", "00:00:00", "--request-timeout")]
    [InlineData("RequestTimeout", "-00:00:01", "--request-timeout")]
    [InlineData("RequestTimeout", "50.00:00:00", "--request-timeout")]
    [InlineData("TunnelWait", "-00:00:00.001", "--tunnel-wait")]
    [InlineData("TunnelWait", "30.00:00:00", "--tunnel-wait")]
    [InlineData("Origin", "http://origin:9090/?x=1", "--origin")]
    [InlineData("MaxRequestBodySize", "-1", "--max-request-body-size")]
    [InlineData("MaxRequestBodySize", "2080374784", "--max-request-body-size")]
    [InlineData("MaxResponseBodySize", "-1", "--max-response-body-size")]
    [InlineData("MaxResponseBodySize", "2080374784", "--max-response-body-size")]
    [InlineData("MaxRequestHeadersSize", "0", "--max-request-headers-size")]
    [InlineData("MaxPendingExchanges", "0", "--max-pending")]
    [InlineData("MaxPendingExchanges", "-5", "--max-pending")]
    [InlineData("MaxBatchItems", "0", "--max-batch-items")]
    [InlineData("MaxBatchBytes", "0", "--max-batch-bytes")]
    [InlineData("MaxBatchBytes", "67108865", "--max-batch-bytes")]
    [InlineData("MaxBatchDelay", "-00:00:00.001", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:01.001", "--max-batch-delay")]
    public void Validate_BadValue_ReportsThatSetting(string key, string value, string flag)
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind((key, value)));

        Assert.True(result.Failed);
        var error = Assert.Single(result.Failures ?? []);
        Assert.StartsWith(flag + " ", error);
    }

    [Fact]
    public void Validate_EverySettingBad_ReportsAllAtOnce()
    {
        var options = Bind(
            ("Listen", "nonsense"),
            ("Origin", "ftp://origin"),
            ("RequestTimeout", "00:00:00"),
            ("TunnelWait", "-00:00:01"),
            ("MaxRequestBodySize", "-1"),
            ("MaxResponseBodySize", "-1"),
            ("MaxRequestHeadersSize", "0"),
            ("MaxPendingExchanges", "0"),
            ("MaxBatchItems", "0"),
            ("MaxBatchBytes", "0"));

        var result = new EdgeOptionsValidator().Validate(null, options);

        Assert.Equal(
            ["--listen", "--origin", "--request-timeout", "--tunnel-wait", "--max-request-body-size", "--max-response-body-size",
             "--max-request-headers-size", "--max-pending", "--max-batch-items", "--max-batch-bytes"],
            (result.Failures ?? []).Select(f => f.Split(' ')[0]));
    }

    /// <summary>Defaults with the given settings bound over them, as the "Edge" section would be.</summary>
    private static EdgeOptions Bind(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)))
            .Build();
        var options = new EdgeOptions();
        configuration.Bind(options);
        return options;
    }
}
