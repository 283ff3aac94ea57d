using System.Text.RegularExpressions;
using Teleport.Conformance.Infrastructure;

namespace Teleport.Conformance;

/// <summary>
/// Ties docs/protocol.md to this suite: every rule id the spec defines ("[C-HELLO-1]") is checked by at
/// least one test here, and every id a test cites exists in the spec.
/// </summary>
public sealed partial class SpecCoverageTests
{
    [Fact]
    public void EveryRuleInTheSpec_IsCheckedByATest_AndEveryCitedRuleExists()
    {
        var spec = RuleIds(File.ReadAllText(Repository.PathOf("docs", "protocol.md")));
        var cited = Directory.GetFiles(Repository.PathOf("tests", "Teleport.Conformance"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.EndsWith(nameof(SpecCoverageTests) + ".cs", StringComparison.Ordinal))
            .SelectMany(f => RuleIds(File.ReadAllText(f)))
            .ToHashSet();

        Assert.NotEmpty(spec);
        Assert.True(spec.Except(cited).ToList() is [], $"Rules no test checks: {string.Join(", ", spec.Except(cited).Order())}");
        Assert.True(cited.Except(spec).ToList() is [], $"Tests cite rules the spec does not define: {string.Join(", ", cited.Except(spec).Order())}");
    }

    private static HashSet<string> RuleIds(string text) => [.. RuleId().Matches(text).Select(m => m.Value)];

    [GeneratedRegex(@"\[C-[A-Z]+-\d+\]")]
    private static partial Regex RuleId();
}
