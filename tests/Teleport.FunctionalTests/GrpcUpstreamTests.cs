using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>A real gRPC service behind the tunnel: its status travels in HTTP/2 trailers.</summary>
public sealed class GrpcUpstreamTests(ITestOutputHelper output)
{
    [Fact]
    public async Task UnaryCall_ToH2cGrpcUpstream_ReturnsTheReplyAndItsStatusFromTheTrailers()
    {
        var health = new HealthServiceImpl();
        health.SetStatus("teleport", HealthCheckResponse.Types.ServingStatus.Serving);
        await using var up = await TestServer.StartUpstreamAsync(
            output,
            services => services.AddGrpc().Services.AddSingleton(health),
            app => app.MapGrpcService<HealthServiceImpl>(),
            kestrel => kestrel.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", $"h2c://{up.Authority}"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        // http:// makes the gRPC client speak HTTP/2 with prior knowledge, as the edge's cleartext port accepts.
        using var channel = GrpcChannel.ForAddress(edge.Address);
        var client = new Health.HealthClient(channel);

        // OK: headers, a message, then grpc-status in the trailers; without them the client fails the call.
        var reply = await client.CheckAsync(new HealthCheckRequest { Service = "teleport" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);

        // An error before any message: a trailers-only response, whose status rides in the headers.
        var failure = await Assert.ThrowsAsync<RpcException>(() => client.CheckAsync(new HealthCheckRequest { Service = "unknown" }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.NotFound, failure.StatusCode);
    }
}
