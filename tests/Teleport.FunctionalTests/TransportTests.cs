using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Teleport.Edge.Hosting;
using Teleport.FunctionalTests.Infrastructure;

namespace Teleport.FunctionalTests;

/// <summary>
/// Every listener and upstream kind end to end: https:// and unix: listeners on the edge, https://, h2c:// and unix:
/// upstreams behind the origin, and a chain of two tunnels.
/// </summary>
public sealed class TransportTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("a.test", "CN=a.test")]
    [InlineData("b.test", "CN=b.test")]
    [InlineData("api.wild.test", "CN=b.test")]
    [InlineData("unknown.test", "CN=a.test")]
    [InlineData(null, "CN=a.test")]
    public async Task HttpsListener_ClientSni_PicksThatCertificate(string? serverName, string expectedSubject)
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Teleport Test CA");
        using var a = certificates.Issue(ca, "a.test", ["a.test"], loopbackAddress: true);
        using var b = certificates.Issue(ca, "b.test", ["b.test", "*.wild.test"]);
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address,
            "--listen", "https://127.0.0.1:0",
            "--listen-cert", certificates.WriteCertificate(a), "--listen-key", certificates.WriteKey(a),
            "--listen-cert", certificates.WriteCertificate(b), "--listen-key", certificates.WriteKey(b));
        string? presented = null;
        using var client = HttpsClient(ca, HttpVersion.Version11, subject => presented = subject);

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(edge.AddressOf("https"), "/sni"));
        if (serverName is not null)
        {
            // SocketsHttpHandler sends the Host header's name as SNI.
            request.Headers.Host = serverName;
        }

        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expectedSubject, presented);
        Assert.Equal("https", Assert.Single(Assert.Single(upstream.Requests).Headers["X-Forwarded-Proto"]));
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task HttpsListener_EitherHttpVersion_IsNegotiatedByAlpn(string version)
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Teleport Test CA");
        using var server = certificates.Issue(ca, "edge.test", ["edge.test"], loopbackAddress: true);
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address,
            "--listen", "https://127.0.0.1:0", "--listen-cert", certificates.WriteCertificate(server), "--listen-key", certificates.WriteKey(server));
        using var client = HttpsClient(ca, Version.Parse(version), _ => { });

        using var response = await client.PostAsync(new Uri(edge.AddressOf("https"), "/alpn"), new ByteArrayContent([4, 5, 6])).DefaultTimeout();

        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal([4, 5, 6], await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal("https", Assert.Single(Assert.Single(upstream.Requests).Headers["X-Forwarded-Proto"]));
        Assert.Empty(edge.ErrorLogs);
    }

    [UnixSocketTheory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task UnixListener_Http11AndPriorKnowledgeHttp2_AreServedWithTheModeGiven(string version)
    {
        using var sockets = new UnixSockets();
        var path = sockets.PathFor("edge.sock");
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--listen", "unix:" + path, "--listen-unix-mode", "600");
        using var client = UnixSockets.CreateClient(path, Version.Parse(version));

        using var response = await client.PostAsync("/unix", new ByteArrayContent([7, 8])).DefaultTimeout();

        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal([7, 8], await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
        Assert.Equal("http", Assert.Single(Assert.Single(upstream.Requests).Headers["X-Forwarded-Proto"]));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [UnixSocketFact]
    public async Task UnixListener_StaleSocketFile_IsRemovedAndTheEdgeServes()
    {
        using var sockets = new UnixSockets();
        var path = sockets.PathFor("edge.sock");
        LeaveStaleSocket(path, sockets.PathFor("other.sock"));
        Assert.True(File.Exists(path));
        await using var up = await TestServer.StartUpstreamAsync(output, new EchoUpstream().Configure);
        await using var origin = await TestServer.StartOriginAsync(output, up.Address);
        var edge = await TestServer.StartEdgeAsync(output, origin.Address, "--listen", "unix:" + path);
        await using (edge)
        {
            using var client = UnixSockets.CreateClient(path);

            using var response = await client.GetAsync("/after-crash").DefaultTimeout();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.False(File.Exists(path), "a stopped edge leaves no socket file behind");
    }

    [UnixSocketFact]
    public async Task UnixListener_SocketInUse_StartFailsNamingIt()
    {
        using var sockets = new UnixSockets();
        var path = sockets.PathFor("edge.sock");
        using var other = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        other.Bind(new UnixDomainSocketEndPoint(path));
        other.Listen();

        var app = EdgeApp.Build(["--listen", "unix:" + path, "--origin", "http://127.0.0.1:9"]);
        await using (app)
        {
            var error = await Assert.ThrowsAsync<IOException>(() => app.StartAsync()).DefaultTimeout();
            Assert.Equal($"unix socket {path} is in use: another process accepts connections on it.", error.Message);
        }
    }

    [UnixSocketTheory]
    [InlineData("unix:", HttpProtocols.Http1, "HTTP/1.1")]
    [InlineData("h2c+unix:", HttpProtocols.Http2, "HTTP/2")]
    public async Task UnixUpstream_ServesThroughTheTunnelInItsHttpVersion(string scheme, HttpProtocols protocols, string expectedProtocol)
    {
        using var sockets = new UnixSockets();
        var path = sockets.PathFor("app.sock");
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure, k => k.ListenUnixSocket(path, l => l.Protocols = protocols));
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", scheme + path]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.PostAsync("/over/unix?x=1", new ByteArrayContent([9])).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([9], await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal(expectedProtocol, seen.Protocol);
        Assert.Equal("/over/unix?x=1", seen.RawTarget);
    }

    [UnixSocketFact]
    public async Task UnixUpstream_NoSocketFile_Answers502UpstreamConnect()
    {
        using var sockets = new UnixSockets();
        var path = sockets.PathFor("missing.sock");
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", "unix:" + path]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream-connect", Assert.Single(response.Headers.GetValues("X-Teleport-Error")));
        Assert.Contains($"unix:{path}", await response.Content.ReadAsStringAsync().DefaultTimeout());
    }

    /// <remarks>
    /// A gRPC service is not used here: its status travels in HTTP/2 trailers, which the tunnel does not carry yet
    /// (issue 4), so a gRPC call through it cannot succeed. An HTTP/2-only Kestrel endpoint shows the same thing
    /// the gRPC case needs: prior knowledge, no HTTP/1.1 fallback.
    /// </remarks>
    [Fact]
    public async Task H2cUpstream_Http2OnlyServer_IsReachedWithPriorKnowledge()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure, HttpProtocols.Http2);
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", $"h2c://{up.Authority}/base"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.PostAsync("/call", new ByteArrayContent([1, 2])).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1, 2], await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("HTTP/2", seen.Protocol);
        Assert.Equal("/base/call", seen.RawTarget);
    }

    [Fact]
    public async Task HttpsUpstream_CertificateFromTheGivenCa_IsTrustedAndSpeaksHttp2()
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Private CA");
        using var server = certificates.Issue(ca, "app.internal", ["app.internal"], loopbackAddress: true);
        var upstream = new EchoUpstream();
        await using var up = await StartHttpsUpstreamAsync(upstream, server);
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", up.AddressOf("https").ToString(), "--upstream-ca", certificates.WriteCertificate(ca)]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/secure");
        request.Headers.Host = "public.example";
        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("HTTP/2", seen.Protocol);
        // --host-header keep: the client's Host, though the certificate was checked against the upstream's address.
        Assert.Equal("public.example", Assert.Single(seen.Headers["Host"]));
        Assert.Empty(origin.WarningLogs);
    }

    [Fact]
    public async Task HttpsUpstream_CertificateFromAnotherCa_Answers502WithTheReasonLogged()
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Private CA");
        using var otherCa = certificates.CreateCa("Some Other CA");
        using var server = certificates.Issue(ca, "app.internal", ["app.internal"], loopbackAddress: true);
        var upstream = new EchoUpstream();
        await using var up = await StartHttpsUpstreamAsync(upstream, server);
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", up.AddressOf("https").ToString(), "--upstream-ca", certificates.WriteCertificate(otherCa)]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/secure").DefaultTimeout();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream-connect", Assert.Single(response.Headers.GetValues("X-Teleport-Error")));
        Assert.StartsWith($"502 Bad Gateway: cannot connect to upstream {up.Authority}", await response.Content.ReadAsStringAsync().DefaultTimeout());
        Assert.Empty(upstream.Requests);
        Assert.Contains(origin.WarningLogs, line => line.Contains($"The TLS certificate of upstream {up.Authority} was rejected: RemoteCertificateChainErrors"));
    }

    [Fact]
    public async Task HttpsUpstream_SniOverride_SendsTheNameAsSniAndHost()
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Private CA");
        // No IP address in the certificate: only the override can make 127.0.0.1 acceptable.
        using var server = certificates.Issue(ca, "app.internal", ["app.internal"]);
        var upstream = new EchoUpstream();
        await using var up = await StartHttpsUpstreamAsync(upstream, server);
        var port = up.AddressOf("https").Port;
        await using var origin = await TestServer.StartOriginAsync(output,
            ["--upstream", $"https://127.0.0.1:{port}", "--upstream-ca", certificates.WriteCertificate(ca), "--upstream-sni", "app.internal"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/named").DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("app.internal", seen.TlsServerName);
        Assert.Equal($"app.internal:{port}", Assert.Single(seen.Headers["Host"]));
    }

    [Fact]
    public async Task HttpsUpstream_Insecure_AcceptsAnUntrustedCertificateAndWarnsAtStart()
    {
        using var certificates = new TestCertificates();
        using var ca = certificates.CreateCa("Untrusted CA");
        using var server = certificates.Issue(ca, "anything", ["anything.test"]);
        var upstream = new EchoUpstream();
        await using var up = await StartHttpsUpstreamAsync(upstream, server);
        await using var origin = await TestServer.StartOriginAsync(output, ["--upstream", up.AddressOf("https").ToString(), "--upstream-insecure"]);
        await using var edge = await TestServer.StartEdgeAsync(output, origin.Address);
        using var client = edge.CreateClient();

        using var response = await client.GetAsync("/whatever").DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(origin.WarningLogs, line => line.Contains("INSECURE: --upstream-insecure is set"));
    }

    [Fact]
    public async Task Chain_OriginWhoseUpstreamIsAnotherEdge_CarriesTheRequestThroughBothTunnels()
    {
        var upstream = new EchoUpstream();
        await using var up = await TestServer.StartUpstreamAsync(output, upstream.Configure);
        await using var innerOrigin = await TestServer.StartOriginAsync(output, up.Address);
        await using var innerEdge = await TestServer.StartEdgeAsync(output, innerOrigin.Address);
        await using var outerOrigin = await TestServer.StartOriginAsync(output, innerEdge.Address);
        await using var outerEdge = await TestServer.StartEdgeAsync(output, outerOrigin.Address);
        using var client = outerEdge.CreateClient();

        var body = RoundTripTests.RandomBytes(50_000, seed: 2);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/relay?hop=2") { Content = new ByteArrayContent(body) };
        request.Headers.Host = "svc.test";
        using var response = await client.SendAsync(request).DefaultTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync().DefaultTimeout());
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("/relay?hop=2", seen.RawTarget);
        Assert.Equal("svc.test", Assert.Single(seen.Headers["Host"]));
        // Each edge adds its hop: the client as the outer edge saw it, then the outer origin as the inner edge saw it.
        Assert.Equal("127.0.0.1, 127.0.0.1", Assert.Single(seen.Headers["X-Forwarded-For"]));
        Assert.Equal("http, http", Assert.Single(seen.Headers["X-Forwarded-Proto"]));
        Assert.Equal(1L, outerEdge.Counters.StreamsOpened);
        Assert.Equal(1L, innerEdge.Counters.StreamsOpened);
    }

    private Task<TestServer> StartHttpsUpstreamAsync(EchoUpstream upstream, X509Certificate2 certificate)
        => TestServer.StartUpstreamAsync(output, upstream.Configure, k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http1AndHttp2;
            l.UseHttps(certificate);
        }));

    /// <summary>
    /// An HTTPS client that trusts <paramref name="ca"/> only and reports the subject of the certificate presented. The
    /// name is not checked: the tests that use it look at which certificate came, including for unknown names.
    /// </summary>
    private static HttpClient HttpsClient(X509Certificate2 ca, Version version, Action<string> presented)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(ca);
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = policy,
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    presented(certificate!.Subject);
                    return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
                },
            },
        };
        return new HttpClient(handler)
        {
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    /// <summary>
    /// Leaves a socket file at <paramref name="path"/> that nothing listens on, as a killed process would: .NET removes
    /// a socket's file when the socket is disposed, so the socket is bound elsewhere and its file moved first.
    /// </summary>
    private static void LeaveStaleSocket(string path, string bindPath)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(bindPath));
        socket.Listen();
        File.Move(bindPath, path);
    }
}
