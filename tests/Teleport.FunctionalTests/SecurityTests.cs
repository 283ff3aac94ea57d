using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.Security;
using Teleport.Protocol.V1;

namespace Teleport.FunctionalTests;

/// <summary>TLS, mutual TLS, bearer tokens and allow lists on the tunnel and the edge's listener, on real Kestrel.</summary>
public sealed class SecurityTests(ITestOutputHelper output) : IDisposable
{
    private const string Token1 = "token-one-0123456789abcdef";
    private const string Token2 = "token-two-0123456789abcdef";

    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task Tls_EdgeTrustsTheOriginsCaFile_RequestsPass()
    {
        var ca = _certificates.CreateCa("tunnel-ca");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca);
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin), "--ca-file", _certificates.WriteCertificate(ca));

        await AssertPassesAsync(edge);
        Assert.Equal("https", origin.Address.Scheme);
        Assert.Empty(edge.WarningLogs);
    }

    [Fact]
    public async Task Tls_OriginCertificateFromAnotherCa_EdgeRefusesLogsWhyAndClientsGet503()
    {
        var ca = _certificates.CreateCa("tunnel-ca");
        var other = _certificates.CreateCa("someone-else");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca);
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin),
            ["--ca-file", _certificates.WriteCertificate(other), "--tunnel-wait", "200ms"], waitForTunnel: false);

        await edge.WaitUntilAsync(static s => s.ErrorLogs.Any(l => l.Contains("TLS certificate of the origin", StringComparison.Ordinal))).DefaultTimeout();
        using var client = edge.CreateClient();
        using var response = await client.GetAsync("/x").DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(0, edge.Counters.StreamsOpened);
        Assert.Equal(0, origin.Counters.StreamsOpened);
        Assert.Contains(edge.ErrorLogs, l => l.Contains("--ca-file", StringComparison.Ordinal) && l.Contains("RemoteCertificateChainErrors", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tls_InsecureSkipVerify_ConnectsToAnUntrustedOriginAndWarnsAtStart()
    {
        var ca = _certificates.CreateCa("untrusted-ca");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca);
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin), "--insecure-skip-verify");

        await AssertPassesAsync(edge);
        Assert.Contains(edge.WarningLogs, l => l.Contains("INSECURE: --insecure-skip-verify", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tls_CertificateFilesRewritten_NextConnectionGetsTheNewCertificate()
    {
        var oldCa = _certificates.CreateCa("old-ca");
        var newCa = _certificates.CreateCa("new-ca");
        var first = _certificates.Issue(oldCa, "origin", ["localhost"], loopbackAddress: true);
        var certificateFile = _certificates.WriteCertificate(first);
        var keyFile = _certificates.WriteKey(first);
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--tls-cert", certificateFile, "--tls-key", keyFile);
        await using (var before = await TestServer.StartEdgeAsync(output, Https(origin), "--ca-file", _certificates.WriteCertificate(oldCa)))
        {
            await AssertPassesAsync(before);
        }

        var renewed = _certificates.Issue(newCa, "origin", ["localhost"], loopbackAddress: true);
        File.WriteAllText(certificateFile, renewed.ExportCertificatePem());
        File.WriteAllText(keyFile, renewed.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        await using var after = await TestServer.StartEdgeAsync(output, Https(origin), "--ca-file", _certificates.WriteCertificate(newCa));

        // Only the renewed certificate chains to the new CA: the first edge's CA would no longer do.
        await AssertPassesAsync(after);
        Assert.Empty(origin.ErrorLogs);
    }

    [Fact]
    public async Task Mtls_ClientCertificateFromTheClientCa_RequestsPass()
    {
        var ca = _certificates.CreateCa("tunnel-ca");
        var clientCa = _certificates.CreateCa("edges-ca");
        var client = _certificates.IssueClient(clientCa, "edge-1");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca, "--client-ca", _certificates.WriteCertificate(clientCa));
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin), "--ca-file", _certificates.WriteCertificate(ca),
            "--client-cert", _certificates.WriteCertificate(client), "--client-key", _certificates.WriteKey(client));

        await AssertPassesAsync(edge);
        Assert.Empty(origin.WarningLogs);
    }

    [Fact]
    public async Task Mtls_NoClientCertificate_OriginRefusesTheHandshakeAndClientsGet503()
    {
        var ca = _certificates.CreateCa("tunnel-ca");
        var clientCa = _certificates.CreateCa("edges-ca");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca, "--client-ca", _certificates.WriteCertificate(clientCa));
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin),
            ["--ca-file", _certificates.WriteCertificate(ca), "--tunnel-wait", "200ms"], waitForTunnel: false);

        await origin.WaitUntilAsync(static s => s.WarningLogs.Any(l => l.Contains("no client certificate", StringComparison.Ordinal))).DefaultTimeout();
        await AssertNoTunnelAsync(edge, origin);
        Assert.Contains(origin.WarningLogs, l => l.Contains("Refused the TLS handshake of 127.0.0.1:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mtls_ExpiredClientCertificate_OriginRefusesTheHandshake()
    {
        var ca = _certificates.CreateCa("tunnel-ca");
        var clientCa = _certificates.CreateCa("edges-ca");
        var expired = _certificates.IssueClient(clientCa, "edge-expired", expired: true);
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca, "--client-ca", _certificates.WriteCertificate(clientCa));
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin),
            ["--ca-file", _certificates.WriteCertificate(ca), "--tunnel-wait", "200ms",
             "--client-cert", _certificates.WriteCertificate(expired), "--client-key", _certificates.WriteKey(expired)], waitForTunnel: false);

        await origin.WaitUntilAsync(static s => s.WarningLogs.Any(l => l.Contains("CN=edge-expired", StringComparison.Ordinal))).DefaultTimeout();
        await AssertNoTunnelAsync(edge, origin);
        Assert.Contains(origin.WarningLogs, l => l.Contains("does not chain to --client-ca", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mtls_ClientCertificateFromAnotherCa_OriginRefusesTheHandshake()
    {
        var ca = _certificates.CreateCa("tunnel-ca");
        var clientCa = _certificates.CreateCa("edges-ca");
        var stranger = _certificates.IssueClient(_certificates.CreateCa("stranger-ca"), "edge-stranger");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await StartTlsOriginAsync(up, ca, "--client-ca", _certificates.WriteCertificate(clientCa));
        await using var edge = await TestServer.StartEdgeAsync(output, Https(origin),
            ["--ca-file", _certificates.WriteCertificate(ca), "--tunnel-wait", "200ms",
             "--client-cert", _certificates.WriteCertificate(stranger), "--client-key", _certificates.WriteKey(stranger)], waitForTunnel: false);

        await origin.WaitUntilAsync(static s => s.WarningLogs.Any(l => l.Contains("CN=edge-stranger", StringComparison.Ordinal))).DefaultTimeout();
        await AssertNoTunnelAsync(edge, origin);
    }

    [Fact]
    public async Task Token_Missing_OriginAnswersUnauthenticatedBeforeReadingAnyMessage()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--token-file", _certificates.Write(Token1));
        using var channel = GrpcChannel.ForAddress(origin.Address);
        using var call = new Tunnel.TunnelClient(channel).Open();

        // Not even a hello is sent: an origin that read before checking would wait for one (10 s), then answer DeadlineExceeded.
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout());

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Equal(0, origin.Counters.StreamsOpened);
        Assert.Contains(origin.WarningLogs, l => l.Contains("Refused a tunnel stream from ipv4:127.0.0.1:", StringComparison.Ordinal) && l.Contains("no authorization", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Token_Wrong_EdgeLogsWhatToFixKeepsRetryingAndClientsGet503()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--token-file", _certificates.Write(Token1));
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address,
            ["--token-file", _certificates.Write(Token2), "--tunnel-wait", "200ms"], waitForTunnel: false);

        // Two refusals: the edge keeps retrying after the first.
        await origin.WaitUntilAsync(static s => s.WarningLogs.Count(l => l.Contains("wrong token", StringComparison.Ordinal)) >= 2).DefaultTimeout();
        using var client = edge.CreateClient();
        using var response = await client.GetAsync("/x").DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(0, origin.Counters.StreamsOpened);
        Assert.Contains(edge.ErrorLogs, l => l.Contains("refused this edge's token (Unauthenticated)", StringComparison.Ordinal) && l.Contains("--token-file", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Token_TwoInTheOriginsFile_EachIsAccepted()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--token-file", _certificates.Write($"# rotation\n{Token1}\n\n{Token2}\n"));
        await using var edge1 = await TestServer.StartEdgeAsync(output, origin.Address, "--token-file", _certificates.Write(Token1));
        await using var edge2 = await TestServer.StartEdgeAsync(output, origin.Address, "--token-file", _certificates.Write(Token2 + "\n"));

        await AssertPassesAsync(edge1);
        await AssertPassesAsync(edge2);
        Assert.Equal(2, origin.Counters.StreamsOpened);
        Assert.Empty(origin.WarningLogs);
    }

    [Fact]
    public async Task Token_RemovedFromTheOriginsFile_IsRefusedFromTheNextStreamWithoutRestart()
    {
        var tokenFile = _certificates.Write($"{Token1}\n{Token2}\n");
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--token-file", tokenFile);
        await using (var before = await TestServer.StartEdgeAsync(output, origin.Address, "--token-file", _certificates.Write(Token1)))
        {
            await AssertPassesAsync(before);
        }

        File.WriteAllText(tokenFile, Token2);
        await using var after = await TestServer.StartEdgeAsync(output, origin.Address, ["--token-file", _certificates.Write(Token1)], waitForTunnel: false);

        await origin.WaitUntilAsync(static s => s.WarningLogs.Any(l => l.Contains("wrong token", StringComparison.Ordinal))).DefaultTimeout();
        Assert.Equal(1, origin.Counters.StreamsOpened);
    }

    [Fact]
    public async Task AllowIp_Loopback_PassesOnBothListeners()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--allow-ip", "127.0.0.0/8");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--allow-ip", "10.0.0.0/8", "--allow-ip", "127.0.0.1/32");

        await AssertPassesAsync(edge);
        Assert.Equal(0, Refused(edge));
        Assert.Equal(0, Refused(origin));
    }

    [Ipv6LoopbackFact]
    public async Task AllowIp_Ipv6Network_MatchesTheIpv6LoopbackOnly()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--listen", "[::1]:0", "--allow-ip", "::1/128");
        var v6 = edge.App.Urls.Select(u => new Uri(u)).Single(u => u.Host == "[::1]");
        using var client = edge.CreateClient();

        using var response = await client.GetAsync(new Uri(v6, "/v6")).DefaultTimeout();
        await AssertConnectionClosedAsync(client, "/v4");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, Refused(edge));
    }

    /// <summary>
    /// The edge closes a refused client's connection as soon as it is accepted. Usually the client sees that as an
    /// <see cref="HttpRequestException"/>; when the reset arrives before SocketsHttpHandler asks the socket for its
    /// remote end point, the handler lets the bare <see cref="SocketException"/> through. Both mean "closed".
    /// </summary>
    internal static async Task AssertConnectionClosedAsync(HttpClient client, string path)
    {
        var error = await Record.ExceptionAsync(() => client.GetAsync(path).DefaultTimeout());
        Assert.True(error is HttpRequestException or SocketException, $"expected the connection to be closed, got: {error?.ToString() ?? "a response"}");
    }

    internal static long Refused(TestServer server) => server.App.Services.GetRequiredService<AccessCounters>().ConnectionsRefused;

    /// <summary>The refused-connections counter as /metrics shows it, for the allow list's reason.</summary>
    internal static async Task<double> RefusedMetricAsync(TestServer server, string name)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(server.AdminAddress, "/metrics")).DefaultTimeout();
        Assert.Contains(name + "{", text);
        return OperationsTests.Sum(text, name, "reason=\"allow_ip\"");
    }

    private static Uri Https(TestServer origin) => new($"https://{origin.Authority}");

    private Task<TestServer> StartTlsOriginAsync(TestServer upstream, X509Certificate2 ca, params string[] args)
    {
        var certificate = _certificates.Issue(ca, "origin", ["localhost"], loopbackAddress: true);
        return TestServer.StartOriginAsync(output, upstream.Address,
            ["--tls-cert", _certificates.WriteCertificate(certificate), "--tls-key", _certificates.WriteKey(certificate), .. args]);
    }

    private static async Task AssertPassesAsync(TestServer edge)
    {
        using var client = edge.CreateClient();
        using var response = await client.GetAsync("/through").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    internal static async Task AssertNoTunnelAsync(TestServer edge, TestServer origin)
    {
        using var client = edge.CreateClient();
        using var response = await client.GetAsync("/x").DefaultTimeout();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(0, edge.Counters.StreamsOpened);
        Assert.Equal(0, origin.Counters.StreamsOpened);
    }
}

/// <summary>
/// Reads an edge's and an origin's /metrics: alone, since an exporter takes every meter of its name in the process, and another
/// test's service with --admin running at the same time may report the same series (it failed once so).
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class AllowIpMetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AllowIp_WithoutLoopback_EdgeClosesTheClientsConnectionAndCountsIt()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32", "--admin", "127.0.0.1:0");
        using var client = edge.CreateClient();

        await SecurityTests.AssertConnectionClosedAsync(client, "/x");
        await SecurityTests.AssertConnectionClosedAsync(client, "/y");

        Assert.Equal(2, SecurityTests.Refused(edge));
        Assert.Equal(2, await SecurityTests.RefusedMetricAsync(edge, "teleport_edge_connections_refused_total"));
        // Rate-limited: the second refusal within 10 s is counted but not logged.
        Assert.Single(edge.WarningLogs, l => l.Contains("not in --allow-ip", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AllowIp_WithoutLoopback_OriginClosesTheEdgesConnectionAndCountsIt()
    {
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address, "--allow-ip", "192.0.2.0/24", "--admin", "127.0.0.1:0");
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, ["--tunnel-wait", "200ms"], waitForTunnel: false);

        await origin.WaitUntilAsync(static s => SecurityTests.Refused(s) >= 2).DefaultTimeout();
        await SecurityTests.AssertNoTunnelAsync(edge, origin);
        // The admin listener is not behind the allow list; the figure only grows while the edge retries.
        Assert.True(await SecurityTests.RefusedMetricAsync(origin, "teleport_origin_connections_refused_total") >= 2);
    }
}
