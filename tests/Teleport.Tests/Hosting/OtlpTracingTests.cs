using OpenTelemetry.Exporter;
using Teleport.Protocol.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class OtlpTracingTests
{
    [Theory]
    [InlineData("http://collector:4317", OtlpExportProtocol.Grpc, "http://collector:4317/")]
    [InlineData("http://collector:4318", OtlpExportProtocol.HttpProtobuf, "http://collector:4318/v1/traces")]
    [InlineData("http://collector:4318/", OtlpExportProtocol.HttpProtobuf, "http://collector:4318/v1/traces")]
    [InlineData("https://collector.example/otlp/v1/traces", OtlpExportProtocol.HttpProtobuf, "https://collector.example/otlp/v1/traces")]
    public void EndpointFor_AddsTheTracesPathOverHttpOnlyWhenThereIsNoPath(string endpoint, OtlpExportProtocol protocol, string expected)
        => Assert.Equal(new Uri(expected), OtlpTracing.EndpointFor(new Uri(endpoint), protocol));

    [Theory]
    [InlineData(null, true)]
    [InlineData("http://127.0.0.1:4317", true)]
    [InlineData("127.0.0.1:4317", false)]
    [InlineData("grpc://collector:4317", false)]
    [InlineData("http://collector:4317#x", false)]
    public void Validate_AcceptsHttpAndHttpsUrlsOnly(string? endpoint, bool valid)
        => Assert.Equal(valid, OtlpTracing.Validate(endpoint) is null);
}
