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
    [InlineData("Listen:0", "127.0.0.1:0")]
    [InlineData("DrainTimeout", "00:00:00")]
    [InlineData("DrainTimeout", "01:00:00")]
    [InlineData("Listen:0", "[::]:8080")]
    [InlineData("Listen:0", "http://0.0.0.0:8080")]
    [InlineData("Listen:0", "unix:/run/teleport/edge.sock")]
    [InlineData("Origin:0", "http://origin:9090/")]
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
    [InlineData("Http2Window", "65536")]
    [InlineData("Http2Window", "16777216")]
    [InlineData("MaxBatchDelay", "00:00:00.001")]
    [InlineData("MaxBatchDelay", "00:00:01")]
    [InlineData("Streams", "1")]
    [InlineData("Streams", "64")]
    [InlineData("HeartbeatInterval", "00:00:00.010")]
    [InlineData("HeartbeatTimeout", "00:00:05.001")]
    [InlineData("ReconnectDelay", "00:00:00.001")]
    [InlineData("ReconnectDelay", "00:00:01")]
    [InlineData("ReconnectMaxDelay", "00:10:00")]
    [InlineData("AccessLog", "true")]
    [InlineData("OtlpEndpoint", "http://collector:4317")]
    [InlineData("OtlpEndpoint", "https://collector.example:4318/v1/traces")]
    public void Validate_BoundaryValue_Succeeds(string key, string value)
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind((key, value)));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("Listen:0", "nonsense", "--listen")]
    [InlineData("Listen:0", "127.0.0.1", "--listen")]
    [InlineData("Listen:0", "unix:edge.sock", "--listen")]
    [InlineData("Listen:0", "unix:", "--listen")]
    [InlineData("Listen:0", "https://127.0.0.1:8443", "--listen-cert")]
    [InlineData("ListenCertificates:0", "/etc/teleport/edge.pem", "--listen-cert")]
    [InlineData("ListenKeys:0", "/etc/teleport/edge.key", "--listen-cert")]
    [InlineData("ListenUnixMode", "660", "--listen-unix-mode")]
    [InlineData("Origin:0", "", "--origin")]
    [InlineData("Origin:0", "origin:9090", "--origin")]
    [InlineData("Origin:0", "ftp://origin:9090", "--origin")]
    [InlineData("Origin:0", "http://origin:9090/tunnel", "--origin")]
    [InlineData("Origin:0", "/relative", "--origin")]
    [InlineData("RequestTimeout", "00:00:00", "--request-timeout")]
    [InlineData("RequestTimeout", "-00:00:01", "--request-timeout")]
    [InlineData("RequestTimeout", "50.00:00:00", "--request-timeout")]
    [InlineData("TunnelWait", "-00:00:00.001", "--tunnel-wait")]
    [InlineData("TunnelWait", "30.00:00:00", "--tunnel-wait")]
    [InlineData("DrainTimeout", "-00:00:01", "--drain-timeout")]
    [InlineData("DrainTimeout", "01:00:01", "--drain-timeout")]
    [InlineData("Origin:0", "http://origin:9090/?x=1", "--origin")]
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
    [InlineData("Http2Window", "65535", "--http2-window")]
    [InlineData("Http2Window", "16777217", "--http2-window")]
    [InlineData("MaxBatchDelay", "-00:00:00.001", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:01.001", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:00.0002", "--max-batch-delay")]
    [InlineData("MaxBatchDelay", "00:00:00.0015", "--max-batch-delay")]
    [InlineData("Streams", "0", "--streams")]
    [InlineData("Streams", "65", "--streams")]
    [InlineData("HeartbeatInterval", "00:00:00.009", "--heartbeat-interval")]
    [InlineData("HeartbeatTimeout", "00:00:05", "--heartbeat-timeout")]
    [InlineData("ReconnectDelay", "00:00:00", "--reconnect-delay")]
    [InlineData("ReconnectDelay", "00:00:01.001", "--reconnect-delay")]
    [InlineData("ReconnectMaxDelay", "00:10:00.001", "--reconnect-delay")]
    [InlineData("OtlpEndpoint", "collector:4317", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "ftp://collector:4317", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "http://collector:4318/?token=x", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "http://user:secret@collector:4317", "--otlp-endpoint")]
    [InlineData("OtlpEndpoint", "/v1/traces", "--otlp-endpoint")]
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
            ("Listen:0", "nonsense"),
            ("Origin:0", "ftp://origin"),
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

    [Fact]
    public void Http2Window_Largest_IsAcceptedByDotNetsHttp2Client()
    {
        // --http2-window's upper bound is the largest stream window SocketsHttpHandler takes by default.
        using var handler = new System.Net.Http.SocketsHttpHandler { InitialHttp2StreamWindowSize = 16 * 1024 * 1024 };

        Assert.Throws<ArgumentOutOfRangeException>(() => handler.InitialHttp2StreamWindowSize = 16 * 1024 * 1024 + 1);
    }

    [Fact]
    public void Validate_SameAddressTwice_ReportsTheRepeat()
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind(("Listen:0", "127.0.0.1:8080"), ("Listen:1", "http://127.0.0.1:8080")));

        var error = Assert.Single(result.Failures ?? []);
        Assert.Equal("--listen 'http://127.0.0.1:8080' is given more than once.", error);
    }

    [Theory]
    [InlineData("66")]
    [InlineData("0888")]
    [InlineData("01777")]
    [InlineData("rw-rw----")]
    public void Validate_BadUnixMode_ReportsIt(string mode)
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind(("Listen:0", "unix:/run/edge.sock"), ("ListenUnixMode", mode)));

        var error = Assert.Single(result.Failures ?? []);
        Assert.Equal($"--listen-unix-mode '{mode}' is not an octal mode like 660.", error);
    }

    [Fact]
    public void Validate_CertificateFileMissing_NamesTheFile()
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind(("Listen:0", "https://127.0.0.1:8443"), ("ListenCertificates:0", "/nonexistent/edge.pem")));

        var error = Assert.Single(result.Failures ?? []);
        Assert.StartsWith("--listen-cert '/nonexistent/edge.pem' cannot be loaded: ", error);
    }

    [Fact]
    public void Validate_KeysForSomeCertificatesOnly_ReportsTheMismatch()
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind(
            ("Listen:0", "https://127.0.0.1:8443"), ("ListenCertificates:0", "a.pem"), ("ListenCertificates:1", "b.pem"), ("ListenKeys:0", "a.key")));

        var error = Assert.Single(result.Failures ?? []);
        Assert.StartsWith("--listen-key is given 1 times for 2 --listen-cert", error);
    }

    [Fact]
    public void Validate_SameOriginTwice_ReportsTheRepeat()
    {
        var result = new EdgeOptionsValidator().Validate(null, Bind(("Origin:0", "http://origin:9090"), ("Origin:1", "http://origin:9090/")));

        var error = Assert.Single(result.Failures ?? []);
        Assert.Equal("--origin 'http://origin:9090/' is given more than once; use --streams for more streams to one origin.", error);
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
