using YamlDotNet.RepresentationModel;

namespace Teleport.FunctionalTests.Infrastructure;

/// <summary>Reads the repository's YAML (compose files, Kubernetes manifests) as nodes, failing with the path on a wrong shape.</summary>
internal static class Yaml
{
    /// <summary>Every document of a file under the repository root.</summary>
    public static IReadOnlyList<YamlMappingNode> LoadAll(string relativePath)
    {
        using var reader = new StreamReader(Repository.PathOf(relativePath));
        var stream = new YamlStream();
        stream.Load(reader);
        return stream.Documents.Where(d => d.RootNode is not YamlScalarNode { Value: null or "" })
            .Select(d => Assert.IsType<YamlMappingNode>(d.RootNode)).ToList();
    }

    public static YamlMappingNode Load(string relativePath) => Assert.Single(LoadAll(relativePath));

    /// <summary>The child at a path of keys, or null when a key is missing.</summary>
    public static YamlNode? Find(this YamlNode node, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var child))
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    public static YamlMappingNode Map(this YamlNode node, params string[] keys)
        => Assert.IsType<YamlMappingNode>(node.Find(keys) ?? throw new Xunit.Sdk.XunitException($"missing: {string.Join('.', keys)}"));

    public static string Text(this YamlNode node, params string[] keys)
        => Assert.IsType<YamlScalarNode>(node.Find(keys) ?? throw new Xunit.Sdk.XunitException($"missing: {string.Join('.', keys)}")).Value!;

    public static IReadOnlyList<YamlNode> List(this YamlNode node, params string[] keys)
        => Assert.IsType<YamlSequenceNode>(node.Find(keys) ?? throw new Xunit.Sdk.XunitException($"missing: {string.Join('.', keys)}")).Children.ToList();

    public static IReadOnlyList<string> Texts(this YamlNode node, params string[] keys)
        => node.List(keys).Select(n => Assert.IsType<YamlScalarNode>(n).Value!).ToList();

    /// <summary>A mapping of plain strings, in file order (e.g. compose's environment:).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Pairs(this YamlNode node, params string[] keys)
        => node.Map(keys).Children.Select(p => new KeyValuePair<string, string>(
            Assert.IsType<YamlScalarNode>(p.Key).Value!, Assert.IsType<YamlScalarNode>(p.Value).Value ?? "")).ToList();

    public static IReadOnlyList<string> Keys(this YamlNode node, params string[] keys)
        => node.Map(keys).Children.Keys.Select(k => Assert.IsType<YamlScalarNode>(k).Value!).ToList();
}
