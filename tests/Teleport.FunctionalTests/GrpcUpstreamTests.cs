using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>A real gRPC service behind the tunnel: its status travels in HTTP/2 trailers.</summary>
public sealed class GrpcUpstreamTests(ITestOutputHelper output)
{
    /// <summary>An h2c gRPC server with <paramref name="health"/> and the ping-pong service.</summary>
    private Task<TestServer> StartGrpcUpstreamAsync(HealthServiceImpl health) => TestServer.StartUpstreamAsync(
        output,
        services => services.AddGrpc().Services.AddSingleton(health),
        app =>
        {
            app.MapGrpcService<HealthServiceImpl>();
            app.MapGrpcService<PingPongService>();
        },
        kestrel => kestrel.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));

    [Fact]
    public async Task UnaryCall_ToH2cGrpcUpstream_ReturnsTheReplyAndItsStatusFromTheTrailers()
    {
        var health = new HealthServiceImpl();
        health.SetStatus("teleport", HealthCheckResponse.Types.ServingStatus.Serving);
        await using var up = await StartGrpcUpstreamAsync(health);
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

    [Fact]
    public async Task StreamingCalls_MessagesTravelOneByOne_BothWays()
    {
        var health = new HealthServiceImpl();
        health.SetStatus("teleport", HealthCheckResponse.Types.ServingStatus.Serving);
        await using var up = await StartGrpcUpstreamAsync(health);
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", $"h2c://{up.Authority}"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var channel = GrpcChannel.ForAddress(edge.Address);

        // Bidirectional: each message is answered before the next is sent, so the request body cannot be waited
        // for whole, and each answer must come through while the call goes on.
        using (var call = new Tunnel.TunnelClient(channel).Open())
        {
            for (var i = 0; i < 5; i++)
            {
                await call.RequestStream.WriteAsync(new EdgeFrame { Hello = new EdgeHello { Agent = $"ping {i}" } }).DefaultTimeout();
                Assert.True(await call.ResponseStream.MoveNext().DefaultTimeout());
                Assert.Equal($"pong {i}", call.ResponseStream.Current.Hello.Agent);
            }

            await call.RequestStream.CompleteAsync().DefaultTimeout();
            Assert.False(await call.ResponseStream.MoveNext().DefaultTimeout());
            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        }

        // Server streaming: the current status comes at once, the next one when it changes, while the call stays open.
        using var watch = new Health.HealthClient(channel).Watch(new HealthCheckRequest { Service = "teleport" });
        Assert.True(await watch.ResponseStream.MoveNext().DefaultTimeout());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, watch.ResponseStream.Current.Status);
        health.SetStatus("teleport", HealthCheckResponse.Types.ServingStatus.NotServing);
        Assert.True(await watch.ResponseStream.MoveNext().DefaultTimeout());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, watch.ResponseStream.Current.Status);
    }

    /// <summary>A bidirectional service (the tunnel's own contract, as any proto would do): answers each hello at once.</summary>
    private sealed class PingPongService : Tunnel.TunnelBase
    {
        public override async Task Open(IAsyncStreamReader<EdgeFrame> requestStream, IServerStreamWriter<OriginFrame> responseStream, ServerCallContext context)
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var agent = requestStream.Current.Hello.Agent.Replace("ping", "pong", StringComparison.Ordinal);
                await responseStream.WriteAsync(new OriginFrame { Hello = new OriginHello { Agent = agent } });
            }
        }
    }
}
