using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace Teleport.Protocol.Security;

/// <summary>
/// The bearer tokens an edge and its origin share: one per line of --token-file (blank lines and lines starting
/// with # skipped), or the TELEPORT_TOKEN variable. Never a command-line value: any user on the machine can read
/// another process's arguments (ps, /proc/PID/cmdline).
/// </summary>
/// <remarks>
/// The origin accepts every token listed, so a token is rotated without a gap: add the new one to the origin's
/// file, move the edges to it, then remove the old one. The edge sends the first one.
/// </remarks>
internal sealed class SharedTokens
{
    /// <summary>Environment variable holding a token when no --token-file is given.</summary>
    public const string EnvironmentVariable = "TELEPORT_TOKEN";

    /// <summary>gRPC metadata key the edge sends "Bearer TOKEN" in.</summary>
    public const string MetadataKey = "authorization";

    private const string Scheme = "Bearer ";

    private readonly byte[][] _hashes;

    private SharedTokens(string[] tokens)
    {
        First = tokens[0];
        _hashes = [.. tokens.Select(Hash)];
    }

    /// <summary>The token this side sends.</summary>
    public string First { get; }

    /// <summary>Whether tokens are configured at all: a --token-file, or TELEPORT_TOKEN in the environment.</summary>
    public static bool Configured(string? file, Func<string, string?> getVariable)
        => file is not null || !string.IsNullOrWhiteSpace(getVariable(EnvironmentVariable));

    /// <summary>Reads the tokens of <paramref name="file"/>, else of TELEPORT_TOKEN; false with a message naming the source.</summary>
    public static bool TryLoad(string? file, Func<string, string?> getVariable, [NotNullWhen(true)] out SharedTokens? tokens, [NotNullWhen(false)] out string? error)
    {
        tokens = null;
        string text;
        string source;
        if (file is not null)
        {
            source = $"--token-file '{file}'";
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                error = $"{source} cannot be read: {ex.Message}";
                return false;
            }
        }
        else
        {
            source = EnvironmentVariable;
            text = getVariable(EnvironmentVariable) ?? string.Empty;
        }

        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(static line => !line.StartsWith('#'))
            .ToArray();
        if (lines.Length == 0)
        {
            error = $"{source} holds no token (one per line).";
            return false;
        }

        // A token with inner spaces cannot travel as "Bearer TOKEN" unchanged; a short one can be guessed.
        var bad = Array.FindIndex(lines, static line => line.Length < 16 || line.Any(char.IsWhiteSpace) || line.Any(char.IsControl));
        if (bad >= 0)
        {
            error = $"{source}: token {bad + 1} must be at least 16 characters with no spaces or control characters (e.g. openssl rand -hex 32).";
            return false;
        }

        tokens = new SharedTokens(lines);
        error = null;
        return true;
    }

    /// <summary>The metadata value the edge sends.</summary>
    public string AuthorizationValue => Scheme + First;

    /// <summary>
    /// Whether an authorization metadata value carries one of the tokens. Every configured token is compared, in
    /// constant time, over SHA-256 hashes: neither the position of the first wrong byte nor the token's length
    /// (hashes are all 32 bytes) nor which token matched shows in the timing.
    /// </summary>
    public bool Accepts(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = Hash(authorization[Scheme.Length..].Trim());
        var match = false;
        foreach (var hash in _hashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(presented, hash);
        }

        return match;
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
