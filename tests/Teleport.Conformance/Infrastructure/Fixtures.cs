using System.Net;

namespace Teleport.Conformance.Infrastructure;

/// <summary>
/// "Origin under test": the origin named by TELEPORT_CONFORMANCE_ORIGIN_CMD (default: ours) in front of a
/// test upstream, a second one whose upstream is dead, and our edge in front of the first.
/// </summary>
public sealed class OriginUnderTestFixture : IAsyncLifetime
{
    internal TestUpstream Upstream { get; private set; } = null!;

    internal PeerProcess Origin { get; private set; } = null!;

    /// <summary>The origin under test again, configured with an upstream address nothing listens on.</summary>
    internal PeerProcess DeadUpstreamOrigin { get; private set; } = null!;

    /// <summary>Our edge, tunnelling to <see cref="Origin"/>.</summary>
    internal PeerProcess Edge { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Upstream = await TestUpstream.StartAsync();
        var origin = PeerProcess.StartAsync("origin under test", Implementations.OriginUnderTest, new Dictionary<string, string> { ["upstream"] = Upstream.Url });
        // A port that stays dead while the tests run: one only picked free could be given to another test's server.
        var dead = PeerProcess.StartAsync("origin under test (dead upstream)", Implementations.OriginUnderTest, new Dictionary<string, string> { ["upstream"] = $"http://127.0.0.1:{FreePort.Refusing()}" });
        Origin = await origin;
        DeadUpstreamOrigin = await dead;
        Edge = await PeerProcess.StartAsync("our edge", Implementations.OurEdge, new Dictionary<string, string> { ["origin"] = Origin.Address.GetLeftPart(UriPartial.Authority) });
        await Http.WaitUntilServingAsync(Edge);
    }

    public async Task DisposeAsync()
    {
        await Edge.DisposeAsync();
        await DeadUpstreamOrigin.DisposeAsync();
        await Origin.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}

/// <summary>
/// "Edge under test": an edge implementation started twice, once in front of our origin (with a test
/// upstream behind it) and once in front of a <see cref="ScriptedOrigin"/> that checks its messages.
/// </summary>
public abstract class EdgeFixture : IAsyncLifetime
{
    internal TestUpstream Upstream { get; private set; } = null!;

    /// <summary>Our origin, in front of <see cref="Upstream"/>.</summary>
    internal PeerProcess Origin { get; private set; } = null!;

    internal ScriptedOrigin Scripted { get; private set; } = null!;

    /// <summary>The edge under test, tunnelling to <see cref="Origin"/>.</summary>
    internal PeerProcess Edge { get; private set; } = null!;

    /// <summary>The edge under test, tunnelling to <see cref="Scripted"/>.</summary>
    internal PeerProcess ScriptedEdge { get; private set; } = null!;

    /// <summary>The edge's command template: {port} to listen on, {origin} to tunnel to.</summary>
    internal abstract string EdgeTemplate { get; }

    /// <summary>Whether the edge claims the optional feature of sending cancel when its client goes away.</summary>
    internal abstract bool SendsCancel { get; }

    /// <summary>Rules the edge is known to break (docs/protocol.md, "Known deviations of our implementation").</summary>
    internal virtual IReadOnlySet<KnownDeviation> KnownDeviations { get; } = new HashSet<KnownDeviation>();

    public async Task InitializeAsync()
    {
        await PrepareAsync();
        Upstream = await TestUpstream.StartAsync();
        Scripted = await ScriptedOrigin.StartAsync();
        Origin = await PeerProcess.StartAsync("our origin", Implementations.OurOrigin, new Dictionary<string, string> { ["upstream"] = Upstream.Url });
        var edge = StartEdgeAsync(Origin.Address);
        var scriptedEdge = StartEdgeAsync(Scripted.Address);
        Edge = await edge;
        ScriptedEdge = await scriptedEdge;
        await Http.WaitUntilServingAsync(Edge);
        await Http.WaitUntilServingAsync(ScriptedEdge);
    }

    /// <summary>Starts another instance of the edge under test, e.g. in front of a fresh scripted origin.</summary>
    internal Task<PeerProcess> StartEdgeAsync(Uri origin)
        => PeerProcess.StartAsync("edge under test", EdgeTemplate, new Dictionary<string, string> { ["origin"] = origin.GetLeftPart(UriPartial.Authority) });

    public async Task DisposeAsync()
    {
        await ScriptedEdge.DisposeAsync();
        await Edge.DisposeAsync();
        await Origin.DisposeAsync();
        await Scripted.DisposeAsync();
        await Upstream.DisposeAsync();
    }

    /// <summary>Whatever the implementation needs before it can start.</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;
}

/// <summary>The edge named by TELEPORT_CONFORMANCE_EDGE_CMD, default ours.</summary>
public sealed class EdgeUnderTestFixture : EdgeFixture
{
    /// <summary>Optional features a custom edge claims, comma-separated (docs/conformance.md).</summary>
    private const string FeaturesVariable = "TELEPORT_CONFORMANCE_EDGE_FEATURES";

    internal override string EdgeTemplate => Implementations.EdgeUnderTest;

    private static bool IsOurs => Environment.GetEnvironmentVariable(Implementations.EdgeVariable) is not { Length: > 0 };

    internal override bool SendsCancel
        => IsOurs || (Environment.GetEnvironmentVariable(FeaturesVariable) ?? "").Split(',', StringSplitOptions.TrimEntries).Contains("cancel");

    internal override IReadOnlySet<KnownDeviation> KnownDeviations { get; } = IsOurs
        ? new HashSet<KnownDeviation> { KnownDeviation.ConnectionListWithKeepAlive }
        : new HashSet<KnownDeviation>();
}

/// <summary>Bugs of our edge that the suite found (docs/protocol.md, "Known deviations of our implementation").</summary>
public enum KnownDeviation
{
    /// <summary>"Connection: keep-alive, X-Named" does not keep X-Named from being forwarded.</summary>
    ConnectionListWithKeepAlive,
}

/// <summary>The Node.js edge of examples/node.</summary>
public sealed class NodeEdgeFixture : EdgeFixture
{
    internal override string EdgeTemplate => Implementations.NodeEdge;

    internal override bool SendsCancel => true;

    protected override Task PrepareAsync() => Implementations.EnsureNodeEdgeInstalledAsync();
}

/// <summary>HTTP clients for talking to an edge under test.</summary>
internal static class Http
{
    public static HttpClient Client(PeerProcess edge)
        => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = DecompressionMethods.None })
        {
            BaseAddress = edge.Address,
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>
    /// Waits until a request through the edge gets its answer from beyond the tunnel: an edge accepts
    /// connections before its tunnel is up, and answers 502/503 until then.
    /// </summary>
    public static async Task WaitUntilServingAsync(PeerProcess edge)
    {
        using var client = Client(edge);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            edge.AssertRunning();
            using var response = await client.GetAsync("/conformance/ready").DefaultTimeout();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{edge.Name} answered {(int)response.StatusCode} instead of 200 for 30 s. Command: {edge.CommandLine}\n{edge.Output}");
            }

            await Task.Delay(100);
        }
    }
}
