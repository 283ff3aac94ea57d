namespace Teleport.Demo;

/// <summary>
/// Deterministic building blocks for sample traffic. Every value comes from a seeded <see cref="Random"/>,
/// so a run sends and answers the same bytes each time while no two requests are alike.
/// </summary>
internal static class RandomText
{
    private const string HexDigits = "0123456789abcdef";
    private const string Base64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// <summary>A seed that is the same in every process (string.GetHashCode is randomized per process): FNV-1a.</summary>
    public static int StableSeed(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash & int.MaxValue);
    }

    public static T Pick<T>(this Random random, T[] choices) => choices[random.Next(choices.Length)];

    /// <summary>Lower-case hex, e.g. for ids, hashes and cookie values.</summary>
    public static string Hex(this Random random, int length) => Draw(random, HexDigits, length);

    /// <summary>Base64url-looking text, e.g. for consent strings and tokens.</summary>
    public static string Token(this Random random, int length) => Draw(random, Base64Url, length);

    /// <summary>A version-4-shaped UUID, e.g. "3f2c...-....".</summary>
    public static string Uuid(this Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        bytes[7] = (byte)((bytes[7] & 0x0f) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3f) | 0x80);
        return new Guid(bytes).ToString();
    }

    /// <summary>A price such as 1.37, rounded to cents.</summary>
    public static double Price(this Random random, double min, double max)
        => Math.Round(min + (random.NextDouble() * (max - min)), 2);

    private static string Draw(Random random, string alphabet, int length)
        => string.Create(length, (random, alphabet), static (span, state) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = state.alphabet[state.random.Next(state.alphabet.Length)];
            }
        });
}
