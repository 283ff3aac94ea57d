using System.Globalization;
using System.Text.RegularExpressions;

namespace Teleport.Protocol.Hosting;

/// <summary>
/// Friendly spellings of durations and sizes, accepted from every configuration source:
/// "30s", "500ms", "2m", "1h" become TimeSpans, and "16MiB", "64KiB", "1GiB" (or KB/MB/GB, powers of
/// 1000) become byte counts, so that the options binder sees what it understands.
/// </summary>
internal static partial class ValueSyntax
{
    [GeneratedRegex(@"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex Duration();

    [GeneratedRegex(@"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|K)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex Size();

    /// <summary>Reads "500ms", "30s", "2m" or "1h"; false for anything else or a span beyond TimeSpan.</summary>
    public static bool TryParseDuration(string? value, out TimeSpan span)
    {
        span = default;
        var duration = value is null || value.Length > 32 ? null : Duration().Match(value);
        if (duration is not { Success: true })
        {
            return false;
        }

        var amount = double.Parse(duration.Groups[1].Value, CultureInfo.InvariantCulture);
        try
        {
            span = duration.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(amount),
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                _ => TimeSpan.FromHours(amount),
            };
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>The binder-ready form of <paramref name="value"/>, or null when it is neither a duration nor a size.</summary>
    public static string? Normalize(string? value)
    {
        if (value is null || value.Length > 32)
        {
            return null;
        }

        if (Duration().IsMatch(value))
        {
            // Beyond TimeSpan: leave the text as written, and the binder names the setting it cannot convert.
            return TryParseDuration(value, out var span) ? span.ToString("c", CultureInfo.InvariantCulture) : null;
        }

        var size = Size().Match(value);
        if (size.Success)
        {
            var amount = double.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture);
            var unit = size.Groups[2].Value switch
            {
                "B" => 1L,
                "KiB" or "k" or "K" => 1L << 10,
                "MiB" => 1L << 20,
                "GiB" => 1L << 30,
                "KB" => 1_000L,
                "MB" => 1_000_000L,
                _ => 1_000_000_000L,
            };
            return ((long)Math.Round(amount * unit)).ToString(CultureInfo.InvariantCulture);
        }

        return null;
    }
}
