using Microsoft.Extensions.Configuration;
using Teleport.Origin.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class OriginOptionsValidatorTests
{
    private const string Upstream = "http://127.0.0.1:8081";

    [Fact]
    public void Validate_DefaultsWithAnUpstream_Succeeds()
    {
        var result = new OriginOptionsValidator().Validate(null, new OriginOptions { Upstreams = [Upstream] });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Validate_DefaultsWithoutUpstream_ReportsOnlyTheMissingUpstream()
    {
        var result = new OriginOptionsValidator().Validate(null, new OriginOptions());

        var error = Assert.Single(result.Failures ?? []);
        Assert.StartsWith("--upstream is required", error);
    }

    [Theory]
    [InlineData("Upstreams:0", "http://upstream:8081/")]
    [InlineData("Upstreams:0", "http://upstream:8081/base/path")]
    [InlineData("Upstreams:0", "http://[::1]:8081")]
    [InlineData("Upstreams:0", "https://upstream:8443/base")]
    [InlineData("Upstreams:0", "h2c://grpc:5000")]
    [InlineData("Upstreams:0", "unix:/run/app.sock")]
    [InlineData("Upstreams:0", "h2c+unix:/run/grpc.sock")]
    [InlineData("Listen", "*:0")]
    [InlineData("RequestTimeout", "00:00:00.001")]
    [InlineData("UpstreamConnectTimeout", "00:00:00.001")]
    [InlineData("MaxRequestBodySize", "0")]
    [InlineData("MaxRequestBodySize", "2080374783")]
    [InlineData("MaxResponseBodySize", "0")]
    [InlineData("MaxResponseBodySize", "2080374783")]
    [InlineData("MaxConcurrentExchanges", "1")]
    [InlineData("MaxConcurrentTotal", "1")]
    [InlineData("MaxStreams", "1")]
    [InlineData("MaxStreams", "1000000")]
    [InlineData("MaxStreamsPerConnection", "1")]
    [InlineData("MaxStreamsPerConnection", "1000")]
    [InlineData("HelloTimeout", "00:00:00.100")]
    [InlineData("HelloTimeout", "00:05:00")]
    [InlineData("UpstreamBalance", "least-requests")]
    [InlineData("UpstreamBalance", "Round-Robin")]
    [InlineData("UpstreamDownTime", "00:00:00.001")]
    [InlineData("UpstreamDownTime", "01:00:00")]
    [InlineData("UpstreamHealthPath", "/healthz")]
    [InlineData("UpstreamHealthPath", "/status/ready?full=1")]
    [InlineData("UpstreamHealthInterval", "00:00:00.010")]
    [InlineData("MaxBatchItems", "1")]
    [InlineData("MaxBatchBytes", "1")]
    [InlineData("MaxBatchBytes", "67108864")]
    [InlineData("Http2Window", "65536")]
    [InlineData("Http2Window", "16777216")]
    [InlineData("MaxBatchDelay", "00:00:00.001")]
    [InlineData("MaxBatchDelay", "00:00:01")]
    [InlineData("AccessLog", "true")]
    [InlineData("OtlpEndpoint", "http://collector:4317")]
    [InlineData("OtlpEndpoint", "https://collector.example:4318/v1/traces")]
    public void Validate_BoundaryValue_Succeeds(string key, string value)
    {
        var result = new OriginOptionsValidator().Validate(null, Bind(("Upstreams:1", Upstream), (key, value)));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("Listen", "nonsense", "--listen")]
    [InlineData("Listen", ":99999", "--listen")]
    [InlineData("Upstreams:0", "ftp://upstream:21", "--upstream")]
    [InlineData("Upstreams:0", "http://user:secret@upstream:8081", "--upstream")]
    [InlineData("Upstreams:0", "unix:run/app.sock", "--upstream")]
    [InlineData("Upstreams:0", "h2c+unix:", "--upstream")]
    [InlineData("UpstreamCa", "/etc/teleport/ca.pem", "--upstream-ca")]
    [InlineData("UpstreamSni", "app.internal", "--upstream-sni")]
    [InlineData("UpstreamInsecure", "true", "--upstream-insecure")]
    [InlineData("Upstreams:0", "http://upstream:8081/?q=1", "--upstream")]
    [InlineData("Upstreams:0", "http://upstream:8081/#top", "--upstream")]
    [InlineData("Upstreams:0", "upstream:8081", "--upstream")]
    [InlineData("Upstreams:0", "/relative", "--upstream")]
    [InlineData("Upstreams:0", "", "--upstream")]
    [InlineData("RequestTimeout", "00:00:00", "--request-timeout")]
    [InlineData("RequestTimeout", "-00:00:01", "--request-timeout")]
    [InlineData("UpstreamConnectTimeout", "00:00:00", "--upstream-connect-timeout")]
    [InlineData("UpstreamConnectTimeout", "30.00:00:00", "--upstream-connect-timeout")]
    [InlineData("RequestTimeout", "30.00:00:00", "--request-timeout")]
    [InlineData("MaxRequestBodySize", "-1", "--max-request-body-size")]
    [InlineData("MaxRequestBodySize", "2080374784", "--max-request-body-size")]
    [InlineData("MaxResponseBodySize", "-1", "--max-response-body-size")]
    [InlineData("MaxResponseBodySize", "2080374784", "--max-response-body-size")]
    [InlineData("MaxConcurrentExchanges", "0", "--max-concurrent")]
    [InlineData("MaxConcurrentTotal", "0", "--max-concurrent-total")]
    [InlineData("MaxStreams", "0", "--max-streams")]
    [InlineData("MaxStreams", "1000001", "--max-streams")]
    [InlineData("MaxStreamsPerConnection", "0", "--max-streams-per-connection")]
    [InlineData("MaxStreamsPerConnection", "1001", "--max-streams-per-connection")]
    [InlineData("HelloTimeout", "00:00:00.099", "--hello-timeout")]
    [InlineData("HelloTimeout", "00:05:00.001", "--hello-timeout")]
    [InlineData("HelloTimeout", "-00:00:01", "--hello-timeout")]
    [InlineData("UpstreamBalance", "random", "--upstream-balance")]
    [InlineData("UpstreamBalance", "", "--upstream-balance")]
    [InlineData("UpstreamDownTime", "00:00:00", "--upstream-down-time")]
    [InlineData("UpstreamDownTime", "01:00:00.001", "--upstream-down-time")]
    [InlineData("UpstreamHealthPath", "healthz", "--upstream-health-path")]
    [InlineData("UpstreamHealthPath", "//other-host/healthz", "--upstream-health-path")]
    [InlineData("UpstreamHealthPath", "/health check", "--upstream-health-path")]
    [InlineData("UpstreamHealthPath", "/healthz#top", "--upstream-health-path")]
    [InlineData("UpstreamHealthInterval", "00:00:00.009", "--upstream-health-interval")]
    [InlineData("UpstreamHealthInterval", "00:00:00", "--upstream-health-interval")]
    [InlineData("MaxBatchItems", "0", "--max-batch-items")]
    [InlineData("MaxBatchBytes", "0", "--max-batch-bytes")]
    [InlineData("MaxBatchBytes", "67108865", "--max-batch-bytes")]
    [InlineData("Http2Window", "65535", "--http2-window")]
    [InlineData("Http2Window", "16777217", "--http2-window")]
    [InlineData("MaxBatchDelay", "-00:00:00.001", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:01.001", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:00.0002", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:00.0015", "--max-batch-delay")]
    [InlineData("OtlpEndpoint", "collector:4317", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "ftp://collector:4317", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "http://collector:4318/?token=x", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "http://user:secret@collector:4317", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "/v1/traces", "--otlp-endpoint")]
    public void Validate_BadValue_ReportsThatSetting(string key, string value, string flag)
    {
        var result = new OriginOptionsValidator().Validate(null, Bind(("Upstreams:1", Upstream), (key, value)));

        Assert.True(result.Failed);
        var error = Assert.Single(result.Failures ?? []);
        Assert.StartsWith(flag + " ", error);
    }

    [Fact]
    public void Validate_BadBalancePolicy_NamesTheChoices()
    {
        var result = new OriginOptionsValidator().Validate(null, Bind(("Upstreams:0", Upstream), ("UpstreamBalance", "fastest")));

        Assert.Equal(["--upstream-balance 'fastest' is not one of power-of-two, least-requests, round-robin."], result.Failures ?? []);
    }

    [Fact]
    public void Validate_SeveralBadUpstreams_ReportsEachByName()
    {
        var result = new OriginOptionsValidator().Validate(null, new OriginOptions { Upstreams = ["ftp://a", Upstream, "gopher://b"] });

        Assert.Collection(
            result.Failures ?? [],
            error => Assert.Contains("'ftp://a'", error),
            error => Assert.Contains("'gopher://b'", error));
    }

    [Theory]
    [InlineData("UpstreamSni", "10.0.0.5", "--upstream-sni '10.0.0.5' is not a DNS name like app.internal.")]
    [InlineData("UpstreamCa", "/nonexistent/ca.pem", "--upstream-ca '/nonexistent/ca.pem' cannot be read: ")]
    public void Validate_BadTlsSettingWithHttpsUpstream_ReportsIt(string key, string value, string expected)
    {
        var result = new OriginOptionsValidator().Validate(null, Bind(("Upstreams:0", "https://app:8443"), (key, value)));

        var error = Assert.Single(result.Failures ?? []);
        Assert.StartsWith(expected, error);
    }

    [Fact]
    public void Validate_InsecureWithCa_ReportsTheContradiction()
    {
        var ca = Path.GetTempFileName();
        try
        {
            File.WriteAllText(ca, "no certificate here");
            var result = new OriginOptionsValidator().Validate(null, Bind(("Upstreams:0", "https://app:8443"), ("UpstreamCa", ca), ("UpstreamInsecure", "true")));

            Assert.Equal(
                [$"--upstream-ca '{ca}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).", "--upstream-insecure and --upstream-ca contradict each other: give one."],
                result.Failures ?? []);
        }
        finally
        {
            File.Delete(ca);
        }
    }

    [Fact]
    public void Validate_EverySettingBad_ReportsAllAtOnce()
    {
        var options = Bind(
            ("Listen", "nonsense"),
            ("RequestTimeout", "00:00:00"),
            ("UpstreamConnectTimeout", "-00:00:01"),
            ("MaxRequestBodySize", "-1"),
            ("MaxResponseBodySize", "-1"),
            ("MaxConcurrentExchanges", "0"),
            ("MaxBatchItems", "0"),
            ("MaxBatchBytes", "0"));

        var result = new OriginOptionsValidator().Validate(null, options);

        Assert.Equal(
            ["--listen", "--upstream", "--request-timeout", "--upstream-connect-timeout", "--max-request-body-size",
             "--max-response-body-size", "--max-concurrent", "--max-batch-items", "--max-batch-bytes"],
            (result.Failures ?? []).Select(f => f.Split(' ')[0]));
    }

    /// <summary>Defaults with the given settings bound over them, as the "Origin" section would be.</summary>
    private static OriginOptions Bind(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)))
            .Build();
        var options = new OriginOptions();
        configuration.Bind(options);
        return options;
    }
}
