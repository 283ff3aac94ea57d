using Teleport.FunctionalTests.Infrastructure;
using Teleport.Protocol.Security;
using YamlDotNet.RepresentationModel;

namespace Teleport.FunctionalTests;

/// <summary>
/// deploy/kubernetes/*.yaml, checked without a cluster: probes on the admin port, real TELEPORT_* variables,
/// hardening, resources, Services that select the pods, and the token mounted from the Secret.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string[] Files = ["deploy/kubernetes/edge.yaml", "deploy/kubernetes/origin.yaml", "deploy/kubernetes/token-secret.yaml"];

    private static readonly Dictionary<string, string> Projects = new()
    {
        ["teleport-edge"] = "Teleport.Edge",
        ["teleport-origin"] = "Teleport.Origin",
    };

    private static readonly List<YamlMappingNode> Documents = [.. Files.SelectMany(Yaml.LoadAll)];

    [Fact]
    public void Manifests_AreTheTwoDeploymentsTheirServicesAndTheSecret_WithoutNamespace()
    {
        Assert.Equal(
            ["Deployment/teleport-edge", "Deployment/teleport-origin", "Secret/teleport-token", "Service/teleport-edge", "Service/teleport-origin"],
            Documents.Select(d => $"{d.Text("kind")}/{d.Text("metadata", "name")}").Order());
        Assert.All(Documents, d => Assert.Null(d.Find("metadata", "namespace")));
    }

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    public void Deployment_ProbesTheAdminPort_RunsHardened_WithResources_AndRealVariables(string name)
    {
        var pod = Deployment(name).Map("spec", "template", "spec");
        var container = Assert.IsType<YamlMappingNode>(Assert.Single(pod.List("containers")));
        var environment = Environment(container);
        var ports = container.List("ports").ToDictionary(p => p.Text("name"), p => int.Parse(p.Text("containerPort")));

        Assert.All(environment.Keys, variable => Assert.True(ComposeTests.VariablesOf(Projects[name]).Contains(variable), $"{name}: {variable} is read by no option"));
        Assert.Equal(ports["admin"], PortOf(environment["TELEPORT_ADMIN"]));
        Assert.StartsWith("0.0.0.0:", environment["TELEPORT_ADMIN"]);   // the kubelet probes the pod's address
        Assert.Equal(ports[name == "teleport-edge" ? "http" : "tunnel"], PortOf(environment["TELEPORT_LISTEN"]));

        Assert.Equal("/healthz", container.Text("livenessProbe", "httpGet", "path"));
        Assert.Equal("admin", container.Text("livenessProbe", "httpGet", "port"));
        Assert.Equal("/readyz", container.Text("readinessProbe", "httpGet", "path"));
        Assert.Equal("admin", container.Text("readinessProbe", "httpGet", "port"));

        foreach (var kind in new[] { "requests", "limits" })
        {
            Assert.NotNull(container.Find("resources", kind, "cpu"));
            Assert.NotNull(container.Find("resources", kind, "memory"));
        }

        Assert.Equal("true", pod.Text("securityContext", "runAsNonRoot"));
        Assert.Equal("true", container.Text("securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("false", container.Text("securityContext", "allowPrivilegeEscalation"));
        Assert.Equal(["ALL"], container.Texts("securityContext", "capabilities", "drop"));
        // The read-only root needs somewhere for the runtime's temporary files.
        Assert.Contains(container.List("volumeMounts"), m => m.Text("mountPath") == "/tmp");
    }

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    public void Deployment_ReadsTheTokenFromTheSecret_NeverFromAVariableValue(string name)
    {
        var pod = Deployment(name).Map("spec", "template", "spec");
        var container = Assert.IsType<YamlMappingNode>(Assert.Single(pod.List("containers")));
        var secret = Documents.Single(d => d.Text("kind") == "Secret");

        var tokenFile = Environment(container)["TELEPORT_TOKEN_FILE"];
        Assert.False(Environment(container).ContainsKey(SharedTokens.EnvironmentVariable));
        var mount = container.List("volumeMounts").Single(m => tokenFile.StartsWith(m.Text("mountPath") + "/", StringComparison.Ordinal));
        Assert.Equal("true", mount.Text("readOnly"));
        var volume = pod.List("volumes").Single(v => v.Text("name") == mount.Text("name"));
        Assert.Equal(secret.Text("metadata", "name"), volume.Text("secret", "secretName"));
        Assert.Contains(Path.GetFileName(tokenFile), secret.Keys("stringData"));
    }

    [Fact]
    public void Secret_AsCommitted_IsRefusedByBothServices_SoNobodyRunsOnAPlaceholderToken()
    {
        var secret = Documents.Single(d => d.Text("kind") == "Secret");
        var file = Path.Combine(Path.GetTempPath(), $"teleport-token-{Guid.NewGuid():N}");
        File.WriteAllText(file, secret.Text("stringData", "token"));
        try
        {
            Assert.False(SharedTokens.TryLoad(file, static _ => null, out _, out var error));
            Assert.EndsWith("holds no token (one per line).", error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("teleport-edge")]
    [InlineData("teleport-origin")]
    public void Service_SelectsTheDeploymentsPods_AndTargetsANamedContainerPort(string name)
    {
        var deployment = Deployment(name);
        var service = Documents.Single(d => d.Text("kind") == "Service" && d.Text("metadata", "name") == name);
        var labels = deployment.Pairs("spec", "template", "metadata", "labels");
        var container = Assert.Single(deployment.List("spec", "template", "spec", "containers"));

        Assert.All(service.Pairs("spec", "selector"), label => Assert.Contains(label, labels));
        Assert.All(deployment.Pairs("spec", "selector", "matchLabels"), label => Assert.Contains(label, labels));
        Assert.All(service.List("spec", "ports"), port => Assert.Contains(port.Text("targetPort"), container.List("ports").Select(p => p.Text("name"))));
    }

    [Fact]
    public void Edge_PointsAtTheOriginService()
    {
        var origin = Documents.Single(d => d.Text("kind") == "Service" && d.Text("metadata", "name") == "teleport-origin");
        var edge = Assert.IsType<YamlMappingNode>(Assert.Single(Deployment("teleport-edge").List("spec", "template", "spec", "containers")));

        var port = origin.List("spec", "ports").Single(p => p.Text("targetPort") == "tunnel").Text("port");
        Assert.Equal($"http://teleport-origin:{port}", Environment(edge)["TELEPORT_ORIGIN"]);
    }

    private static YamlMappingNode Deployment(string name)
        => Documents.Single(d => d.Text("kind") == "Deployment" && d.Text("metadata", "name") == name);

    private static Dictionary<string, string> Environment(YamlNode container)
        => container.List("env").ToDictionary(e => e.Text("name"), e => e.Text("value"));

    private static int PortOf(string address) => int.Parse(address[(address.LastIndexOf(':') + 1)..]);
}
