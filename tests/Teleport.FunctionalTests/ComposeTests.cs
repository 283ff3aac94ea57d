using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Teleport.Edge.Hosting;
using Teleport.FunctionalTests.Infrastructure;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Security;
using YamlDotNet.RepresentationModel;

namespace Teleport.FunctionalTests;

/// <summary>
/// docker-compose.yml and docker-compose.tls.yml, checked without a Docker engine: their structure against the
/// programs' real options, and the three services run as local processes with exactly the compose file's
/// command, environment and health checks. (.ci/run also runs `docker-compose config` when it can.)
/// </summary>
public sealed partial class ComposeTests(ITestOutputHelper output)
{
    private const string Compose = "docker-compose.yml";
    private const string TlsOverlay = "docker-compose.tls.yml";

    /// <summary>The image's ENTRYPOINT argument; the Dockerfile links the PROJECT's assembly to it.</summary>
    private const string ImageEntryPoint = "/app/app.dll";

    [Fact]
    public void ComposeFile_EveryService_IsHealthChecked_RestartedAndConfiguredByRealVariables()
    {
        var services = Yaml.Load(Compose).Map("services");
        Assert.Equal(["upstream", "origin", "edge"], services.Keys());

        foreach (var name in services.Keys())
        {
            var service = services.Map(name);
            var project = service.Text("build", "args", "PROJECT");
            var environment = service.Pairs("environment");
            Assert.Equal(".", service.Text("build", "context"));
            Assert.Contains(service.Text("restart"), new[] { "always", "unless-stopped", "on-failure" });
            Assert.All(environment, variable => Assert.True(VariablesOf(project).Contains(variable.Key), $"{name}: {variable.Key} is read by no option of {project}"));
            // Edge and origin are configured by environment alone; the demo image needs its subcommand.
            Assert.Equal(project == "Teleport.Demo" ? ["upstream"] : null, service.Find("command") is null ? null : service.Texts("command"));

            // The health check: the program probes its own admin /readyz, or the sample upstream's /healthz.
            var test = service.Texts("healthcheck", "test");
            var admin = environment.SingleOrDefault(v => v.Key == "TELEPORT_ADMIN").Value ?? environment.Single(v => v.Key == "TELEPORT_LISTEN").Value;
            var path = project == "Teleport.Demo" ? "/healthz" : "/readyz";
            Assert.Equal(["CMD", "dotnet", ImageEntryPoint, "--probe", $"http://127.0.0.1:{PortOf(admin)}{path}"], test);
            foreach (var key in new[] { "interval", "timeout", "retries", "start_period" })
            {
                Assert.NotNull(service.Find("healthcheck", key));
            }

            // Published ports are ones the service listens on.
            foreach (var published in service.Find("ports") is null ? [] : service.Texts("ports"))
            {
                var container = int.Parse(published.Split(':')[^1]);
                Assert.Contains(container, environment.Where(v => v.Key is "TELEPORT_LISTEN" or "TELEPORT_ADMIN").Select(v => PortOf(v.Value)));
            }

            // A service named in a URL is one this service waits for, healthy, on a port it listens on.
            foreach (var (_, value) in environment)
            {
                foreach (Match reference in ServiceAddress().Matches(value))
                {
                    var other = reference.Groups["host"].Value;
                    Assert.Equal("service_healthy", service.Text("depends_on", other, "condition"));
                    Assert.Equal(int.Parse(reference.Groups["port"].Value), PortOf(services.Map(other).Pairs("environment").Single(v => v.Key == "TELEPORT_LISTEN").Value));
                }
            }

            foreach (var dependency in service.Find("depends_on") is null ? [] : service.Keys("depends_on"))
            {
                Assert.Equal("service_healthy", service.Text("depends_on", dependency, "condition"));
                Assert.NotNull(services.Find(dependency, "healthcheck"));
            }
        }
    }

    [Fact]
    public void TlsOverlay_UsesRealVariables_AndReadsCertificatesAndTokenFromMountedSecrets()
    {
        var overlay = Yaml.Load(TlsOverlay);
        var baseServices = Yaml.Load(Compose).Map("services");
        var secrets = overlay.Keys("secrets");
        Assert.Equal(["origin", "edge"], overlay.Keys("services"));

        foreach (var name in overlay.Keys("services"))
        {
            var service = overlay.Map("services", name);
            var project = baseServices.Text(name, "build", "args", "PROJECT");
            var mounted = service.Texts("secrets");
            foreach (var (variable, value) in service.Pairs("environment"))
            {
                Assert.True(VariablesOf(project).Contains(variable), $"{name}: {variable} is read by no option of {project}");
                Assert.NotEqual(SharedTokens.EnvironmentVariable, variable);   // the token is a file, never a variable
                if (value.StartsWith("/run/secrets/", StringComparison.Ordinal))
                {
                    Assert.Contains(value["/run/secrets/".Length..], mounted);
                }
            }

            Assert.All(mounted, secret => Assert.Contains(secret, secrets));
            Assert.Equal("/run/secrets/tunnel-token", service.Pairs("environment").Single(v => v.Key == "TELEPORT_TOKEN_FILE").Value);
        }

        Assert.StartsWith("https://origin:", overlay.Pairs("services", "edge", "environment").Single(v => v.Key == "TELEPORT_ORIGIN").Value);
        Assert.All(secrets, secret => Assert.StartsWith("./deploy/", overlay.Text("secrets", secret, "file")));
    }

    [Fact]
    public async Task ComposeServices_AsProcesses_WithTheComposeEnvironment_BecomeHealthy_CarryTraffic_AndReportMetrics()
    {
        var services = Yaml.Load(Compose).Map("services");
        var ports = new PortMap(services.Keys());
        var running = new List<(string Name, BackgroundProcess Process)>();
        try
        {
            // In depends_on order, each started only once the ones it waits for pass their health check,
            // as `condition: service_healthy` makes compose do.
            foreach (var name in StartOrder(services))
            {
                var service = services.Map(name);
                var dll = DllOf(service.Text("build", "args", "PROJECT"));
                var environment = service.Pairs("environment").Select(v => new KeyValuePair<string, string>(v.Key, ports.Rewrite(name, v.Value))).ToList();
                var command = service.Find("command") is null ? [] : service.Texts("command");
                var process = BackgroundProcess.Start(name, dll, command, environment);
                running.Add((name, process));

                var test = service.Texts("healthcheck", "test");
                Assert.Equal(["CMD", "dotnet", ImageEntryPoint], test.Take(3));
                await WaitHealthyAsync(name, process, dll, [.. test.Skip(3).Select(a => ports.Rewrite(name, a))], environment);
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var edge = new Uri($"http://127.0.0.1:{ports.Of("edge", 8080)}");
            var item = await http.GetAsync(new Uri(edge, "/api/items/42")).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, item.StatusCode);
            Assert.Contains("\"id\":42,", await item.Content.ReadAsStringAsync());
            var bid = await http.PostAsync(new Uri(edge, "/bid"), new StringContent(
                """{"id":"compose-1","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":0.5}]}""", Encoding.UTF8, "application/json")).DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, bid.StatusCode);
            Assert.Contains("\"id\":\"compose-1\"", await bid.Content.ReadAsStringAsync());

            // The admin listeners at the ports TELEPORT_ADMIN gave them.
            var edgeAdmin = new Uri($"http://127.0.0.1:{ports.Of("edge", 9100)}");
            var originAdmin = new Uri($"http://127.0.0.1:{ports.Of("origin", 9100)}");
            var edgeMetrics = await ScrapeUntilAsync(http, edgeAdmin, "teleport_edge_requests_total", "outcome=\"success\"", 2);
            Assert.Equal(1, OperationsTests.Sum(edgeMetrics, "teleport_edge_tunnel_streams_up"));
            var originMetrics = await ScrapeUntilAsync(http, originAdmin, "teleport_origin_upstream_requests_total", "outcome=\"success\"", 2);
            Assert.Equal(1, OperationsTests.Sum(originMetrics, "teleport_origin_tunnel_streams_up"));
            foreach (var admin in new[] { edgeAdmin, originAdmin })
            {
                using var ready = await http.GetAsync(new Uri(admin, "/readyz")).DefaultTimeout();
                Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
                Assert.True(JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("ready").GetBoolean());
            }
        }
        finally
        {
            foreach (var (_, process) in Enumerable.Reverse(running))
            {
                await process.StopAsync(output);
            }
        }
    }

    /// <summary>The TELEPORT_* variables a PROJECT's program reads (the demo image runs only its sample upstream here).</summary>
    internal static IReadOnlySet<string> VariablesOf(string project) => project switch
    {
        "Teleport.Edge" => EdgeApp.Definition.Options.Select(o => o.EnvironmentVariable).Append(SharedTokens.EnvironmentVariable).ToHashSet(),
        "Teleport.Origin" => OriginApp.Definition.Options.Select(o => o.EnvironmentVariable).Append(SharedTokens.EnvironmentVariable).ToHashSet(),
        "Teleport.Demo" => new HashSet<string> { "TELEPORT_LISTEN" },
        _ => throw new Xunit.Sdk.XunitException($"unknown PROJECT '{project}'"),
    };

    /// <summary>The built assembly the image of a PROJECT runs (the Dockerfile's assembly-name step).</summary>
    private static string DllOf(string project) => Path.Combine(AppContext.BaseDirectory, project switch
    {
        "Teleport.Edge" => "teleport-edge",
        "Teleport.Origin" => "teleport-origin",
        "Teleport.Demo" => "Teleport.Demo",
        _ => throw new Xunit.Sdk.XunitException($"unknown PROJECT '{project}'"),
    } + ".dll");

    private static int PortOf(string address) => int.Parse(address[(address.LastIndexOf(':') + 1)..]);

    private static List<string> StartOrder(YamlMappingNode services)
    {
        var order = new List<string>();
        void Visit(string name, int depth)
        {
            Assert.True(depth <= services.Children.Count, $"depends_on cycle at {name}");
            if (order.Contains(name)) return;
            foreach (var dependency in services.Find(name, "depends_on") is null ? [] : services.Keys(name, "depends_on")) Visit(dependency, depth + 1);
            order.Add(name);
        }

        foreach (var name in services.Keys()) Visit(name, 0);
        return order;
    }

    private async Task WaitHealthyAsync(string name, BackgroundProcess process, string dll, string[] probe, IReadOnlyList<KeyValuePair<string, string>> environment)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var (exitCode, text) = await BackgroundProcess.RunAsync(dll, probe, environment);
            if (exitCode == 0)
            {
                output.WriteLine($"{name} healthy: {text}");
                return;
            }

            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"{name} never became healthy; last probe (exit {exitCode}): {text}\n{process.Output}");
            }

            await Task.Delay(200);
        }
    }

    private static async Task<string> ScrapeUntilAsync(HttpClient http, Uri admin, string metric, string label, double expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var text = await http.GetStringAsync(new Uri(admin, "/metrics")).DefaultTimeout();
            var value = OperationsTests.Sum(text, metric, label);
            if (value == expected || DateTime.UtcNow > deadline)
            {
                Assert.True(value == expected, $"{metric}{{{label}}} is {value}, not {expected}:\n{text}");
                return text;
            }

            await Task.Delay(50);
        }
    }

    /// <summary>"name:port" where name is a compose service (http://upstream:8081).</summary>
    [GeneratedRegex(@"//(?<host>[a-z][a-z0-9-]*):(?<port>\d+)")]
    private static partial Regex ServiceAddress();

    /// <summary>
    /// Gives every (service, container port) a free loopback port, as if each service had its own network
    /// namespace: "0.0.0.0:P" and "127.0.0.1:P" in a service's own values, and "SERVICE:P" anywhere, become
    /// "127.0.0.1:free port". Nothing else in a value changes.
    /// </summary>
    private sealed partial class PortMap(IReadOnlyList<string> services)
    {
        private readonly Dictionary<(string Service, int Port), int> _ports = [];

        public int Of(string service, int port)
        {
            if (!_ports.TryGetValue((service, port), out var mapped))
            {
                do
                {
                    mapped = FreePort.Next();
                }
                while (_ports.ContainsValue(mapped));
                _ports[(service, port)] = mapped;
            }

            return mapped;
        }

        public string Rewrite(string service, string value) => HostPort().Replace(value, match =>
        {
            var host = match.Groups["host"].Value;
            var owner = host is "0.0.0.0" or "127.0.0.1" ? service : services.Contains(host) ? host : null;
            return owner is null ? match.Value : $"127.0.0.1:{Of(owner, int.Parse(match.Groups["port"].Value))}";
        });

        [GeneratedRegex(@"(?<host>\d+\.\d+\.\d+\.\d+|[a-z][a-z0-9-]*):(?<port>\d+)\b")]
        private static partial Regex HostPort();
    }
}
