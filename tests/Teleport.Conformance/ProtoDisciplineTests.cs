using System.Text.RegularExpressions;
using Teleport.Conformance.Infrastructure;

namespace Teleport.Conformance;

/// <summary>
/// The contract's own discipline, checked on the .proto text (buf lint and buf breaking, in spirit):
/// every declaration documented, package options for the languages teams use, and no field that
/// shipped renumbered, retyped or removed without being reserved.
/// </summary>
public sealed partial class ProtoDisciplineTests
{
    private static readonly string ProtoRoot = Repository.PathOf("protos");

    public static TheoryData<string> ProtoFiles() => [.. ProtoPaths().Select(f => Path.GetRelativePath(ProtoRoot, f))];

    [Theory]
    [MemberData(nameof(ProtoFiles))]
    public void EveryDeclaration_HasALeadingComment(string file)
    {
        var lines = File.ReadAllLines(Path.Combine(ProtoRoot, file));
        var undocumented = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            var isDeclaration = Block().IsMatch(line) || Field().IsMatch(line) || EnumValue().IsMatch(line) || Rpc().IsMatch(line);
            if (isDeclaration && (i == 0 || !lines[i - 1].TrimStart().StartsWith("//", StringComparison.Ordinal)))
            {
                undocumented.Add($"{file}:{i + 1}: {line}");
            }
        }

        Assert.True(undocumented.Count == 0, "Declarations without a leading // comment:\n" + string.Join('\n', undocumented));
    }

    [Theory]
    [MemberData(nameof(ProtoFiles))]
    public void PackageOptions_ForGoJavaAndCSharp(string file)
    {
        var text = File.ReadAllText(Path.Combine(ProtoRoot, file));
        var package = Package().Match(text);

        Assert.True(package.Success, $"{file} declares no package.");
        // teleport.v1 lives in teleport/v1/: the major version is in the package and the path.
        Assert.Equal(Path.GetDirectoryName(file)!.Replace(Path.DirectorySeparatorChar, '.'), package.Groups[1].Value);
        Assert.Matches(@"\.v\d+$", package.Groups[1].Value);
        foreach (var option in new[] { "go_package", "java_package", "java_multiple_files", "java_outer_classname", "csharp_namespace" })
        {
            Assert.Matches($@"(?m)^option {option} = .+;$", text);
        }
    }

    /// <summary>
    /// Every field in proto-fields.snapshot (what shipped) is still there with its number and type, or its
    /// number and name are reserved. New fields pass; add them to the snapshot when they ship.
    /// </summary>
    [Fact]
    public void ShippedFields_NeverRenumberedRetypedOrSilentlyRemoved()
    {
        var current = ProtoPaths().SelectMany(f => Scan(File.ReadAllLines(f))).ToList();
        var fields = current.Where(d => d.Kind == "field").ToDictionary(d => d.Key);
        var reserved = current.Where(d => d.Kind == "reserved").ToLookup(d => d.Owner, d => d.Detail);
        var broken = new List<string>();
        foreach (var line in File.ReadAllLines(Repository.PathOf("tests", "Teleport.Conformance", "proto-fields.snapshot")).Where(l => l.Length > 0 && l[0] != '#'))
        {
            // "teleport.v1.RequestStart.headers = 3 repeated Header"
            var parts = line.Split(' ', 4);
            var (key, number, type) = (parts[0], parts[2], parts[3]);
            var owner = key[..key.LastIndexOf('.')];
            var name = key[(key.LastIndexOf('.') + 1)..];
            if (fields.TryGetValue(key, out var field))
            {
                if (field.Detail != $"= {number} {type}")
                {
                    broken.Add($"{key} was '= {number} {type}', is now '{field.Detail}'");
                }
            }
            else if (!reserved[owner].Any(r => ReservesNumber(r, int.Parse(number, System.Globalization.CultureInfo.InvariantCulture))) || !reserved[owner].Any(r => r.Contains($"\"{name}\"", StringComparison.Ordinal)))
            {
                broken.Add($"{key} (= {number}) was removed without `reserved {number};` and `reserved \"{name}\";` in {owner}");
            }
        }

        Assert.True(broken.Count == 0, "Breaking changes to the v1 contract (make a v2 package instead, docs/protocol.md \"Versioning\"):\n" + string.Join('\n', broken));
    }

    [Fact]
    public void FieldNumbers_UniqueAndNotReserved()
    {
        var declarations = ProtoPaths().SelectMany(f => Scan(File.ReadAllLines(f))).ToList();
        foreach (var message in declarations.Where(d => d.Kind == "field").GroupBy(d => d.Owner))
        {
            var numbers = message.Select(f => int.Parse(f.Detail.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.True(numbers.Count == numbers.Distinct().Count(), $"{message.Key} uses a field number twice.");
            var reserved = declarations.Where(d => d.Kind == "reserved" && d.Owner == message.Key).Select(d => d.Detail).ToList();
            Assert.DoesNotContain(numbers, n => reserved.Any(r => ReservesNumber(r, n)));
        }
    }

    private static string[] ProtoPaths() => Directory.GetFiles(ProtoRoot, "*.proto", SearchOption.AllDirectories);

    /// <summary>
    /// Declarations by scope: fields ("teleport.v1.EdgeFrame.hello", "= 1 EdgeHello") and reserved
    /// statements of each message. A small scanner for this repository's formatting: one declaration per line.
    /// </summary>
    private static IEnumerable<(string Kind, string Owner, string Key, string Detail)> Scan(string[] lines)
    {
        var package = "";
        var scopes = new Stack<(string Kind, string Name)>();
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (Package().Match(line) is { Success: true } p)
            {
                package = p.Groups[1].Value;
            }
            else if (Block().Match(line) is { Success: true } block)
            {
                scopes.Push((block.Groups[1].Value, block.Groups[2].Value));
            }
            else if (line == "}")
            {
                scopes.Pop();
            }
            else if (scopes.Count > 0)
            {
                // A oneof's fields belong to the message around it.
                var message = string.Join('.', scopes.Where(s => s.Kind == "message").Select(s => s.Name).Reverse());
                var owner = package + "." + message;
                if (Field().Match(line) is { Success: true } field && scopes.Peek().Kind is "message" or "oneof")
                {
                    yield return ("field", owner, owner + "." + field.Groups[3].Value, $"= {field.Groups[4].Value} {field.Groups[1].Value}{field.Groups[2].Value}");
                }
                else if (Reserved().Match(line) is { Success: true } reserved)
                {
                    yield return ("reserved", owner, owner, reserved.Groups[1].Value);
                }
            }
        }
    }

    /// <summary>Whether a reserved list ("2, 9 to 11, \"old\"") holds <paramref name="number"/>.</summary>
    private static bool ReservesNumber(string list, int number)
        => list.Split(',', StringSplitOptions.TrimEntries).Any(part =>
            part.Split(" to ") is [var from, var to]
                ? int.TryParse(from, out var low) && (to == "max" || (int.TryParse(to, out var high) && number <= high)) && number >= low
                : int.TryParse(part, out var single) && single == number);

    [GeneratedRegex(@"(?m)^package ([\w.]+);")]
    private static partial Regex Package();

    [GeneratedRegex(@"^(message|enum|service|oneof) (\w+) \{$")]
    private static partial Regex Block();

    [GeneratedRegex(@"^(repeated |optional )?([\w.]+) (\w+) = (\d+)( \[.*\])?;")]
    private static partial Regex Field();

    [GeneratedRegex(@"^[A-Z][A-Z0-9_]* = -?\d+( \[.*\])?;")]
    private static partial Regex EnumValue();

    [GeneratedRegex(@"^rpc \w+\(")]
    private static partial Regex Rpc();

    [GeneratedRegex(@"^reserved (.+);")]
    private static partial Regex Reserved();
}
