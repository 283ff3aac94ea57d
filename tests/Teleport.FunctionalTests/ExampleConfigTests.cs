using System.Collections;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Teleport.Edge.Hosting;
using Teleport.Origin.Hosting;

namespace Teleport.FunctionalTests;

/// <summary>
/// deploy/config/*.appsettings.json: each loads through the service's real --config path, binding and
/// validation, sets every option to its built-in default, and documents every key with the right flag.
/// </summary>
public sealed class ExampleConfigTests
{
    private const string EdgeExample = "deploy/config/edge.appsettings.json";
    private const string OriginExample = "deploy/config/origin.appsettings.json";

    [Fact]
    public async Task EdgeExample_BindsAndValidates_ToTheDefaults()
    {
        await using var app = EdgeApp.Build(["--config", Repository.PathOf(EdgeExample)]);
        var options = app.Services.GetRequiredService<IOptions<EdgeOptions>>().Value;   // runs the validator
        var defaults = new EdgeOptions();

        // The example writes the default listener and origin out; the options class keeps them out of the lists
        // (see EdgeOptions.Listen).
        Assert.Equal(defaults.ListenOrDefault(), options.Listen);
        Assert.Equal(defaults.OriginOrDefault(), options.Origin);
        AssertSameValues(defaults, options, except: [nameof(EdgeOptions.Listen), nameof(EdgeOptions.Origin)]);
    }

    [Fact]
    public async Task OriginExample_BindsAndValidates_ToTheDefaults_WithTheOneRequiredUpstream()
    {
        await using var app = OriginApp.Build(["--config", Repository.PathOf(OriginExample)]);
        var options = app.Services.GetRequiredService<IOptions<OriginOptions>>().Value;   // runs the validator

        Assert.Equal(["http://127.0.0.1:8081"], options.Upstreams);
        AssertSameValues(new OriginOptions(), options, except: [nameof(OriginOptions.Upstreams)]);
    }

    [Theory]
    [InlineData(EdgeExample, "edge")]
    [InlineData(OriginExample, "origin")]
    public void Example_HasEveryOptionOnce_EachUnderACommentNamingItsFlag(string example, string service)
    {
        var definition = service == "edge" ? EdgeApp.Definition : OriginApp.Definition;
        var section = definition.Options[0].ConfigKey.Split(':')[0];
        var flags = definition.Options.Where(o => o.Name != "config").ToDictionary(o => o.ConfigKey.Split(':')[1], o => o.Flag);

        var documented = ReadSectionKeys(File.ReadAllBytes(Repository.PathOf(example)), section);

        Assert.Equal(flags.Keys.Order(), documented.Keys.Order());
        Assert.All(documented, key => Assert.True(key.Value.StartsWith(flags[key.Key] + ":", StringComparison.Ordinal),
            $"{section}:{key.Key} is documented as \"{key.Value}\", not as {flags[key.Key]}"));
    }

    [Fact]
    public async Task Example_WithAWrongValue_FailsValidation_SoTheTestsAboveCanFail()
    {
        var copy = Path.Combine(Path.GetTempPath(), $"teleport-example-{Guid.NewGuid():N}.json");
        var text = await File.ReadAllTextAsync(Repository.PathOf(EdgeExample));
        await File.WriteAllTextAsync(copy, text.Replace("\"MaxBatchItems\": 1024", "\"MaxBatchItems\": 0", StringComparison.Ordinal));
        try
        {
            // Building the edge already reads the options (Kestrel's listeners come from them).
            var failure = Assert.Throws<OptionsValidationException>(() => EdgeApp.Build(["--config", copy]));
            Assert.Contains("--max-batch-items must be positive.", failure.Failures);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>Each key of the section and the comment line right above it (the first line of a comment block).</summary>
    private static Dictionary<string, string> ReadSectionKeys(byte[] json, string section)
    {
        var keys = new Dictionary<string, string>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Allow });
        var comments = new List<string>();
        var inSection = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.Comment:
                    comments.Add(reader.GetComment().Trim());
                    break;
                case JsonTokenType.PropertyName when reader.CurrentDepth == 1:
                    inSection = reader.GetString() == section;
                    comments.Clear();
                    break;
                case JsonTokenType.PropertyName when reader.CurrentDepth == 2 && inSection:
                    var key = reader.GetString()!;
                    Assert.True(comments.Count > 0, $"{section}:{key} has no comment");
                    Assert.True(keys.TryAdd(key, comments[0]), $"{section}:{key} appears twice");
                    comments.Clear();
                    break;
                default:
                    if (reader.TokenType is not JsonTokenType.StartObject and not JsonTokenType.StartArray)
                    {
                        comments.Clear();
                    }

                    break;
            }
        }

        return keys;
    }

    /// <summary>Every public property of <paramref name="actual"/> equals the default's (lists item by item).</summary>
    private static void AssertSameValues<T>(T expected, T actual, string[] except)
    {
        foreach (var property in typeof(T).GetProperties().Where(p => !except.Contains(p.Name)))
        {
            var want = property.GetValue(expected);
            var got = property.GetValue(actual);
            if (want is IEnumerable wantItems and not string)
            {
                Assert.True(Describe(wantItems) == Describe((IEnumerable)got!), $"{property.Name}: {Describe((IEnumerable)got!)}, default {Describe(wantItems)}");
            }
            else
            {
                Assert.True(Equals(want, got), $"{property.Name}: {got ?? "null"}, default {want ?? "null"}");
            }
        }
    }

    private static string Describe(IEnumerable items)
    {
        var text = new StringBuilder("[");
        foreach (var item in items)
        {
            text.Append(item).Append(',');
        }

        return text.Append(']').ToString();
    }
}
