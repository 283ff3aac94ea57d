namespace Teleport.Protocol.Security;

/// <summary>Refuses a token given on the command line, with a message that says where it belongs instead.</summary>
internal static class TokenArguments
{
    /// <exception cref="ArgumentException">The command line holds --token (any user can read it with ps).</exception>
    public static void Refuse(IReadOnlyList<string> args)
    {
        // Without this, "--token" would only be an unknown option; the operator needs to hear why there is none.
        if (args.Any(static a => a == "--token" || a.StartsWith("--token=", StringComparison.Ordinal)))
        {
            throw new ArgumentException("option '--token' is refused: a command line is visible to every user of the machine (ps, /proc); put the token in a file given with --token-file, or in the TELEPORT_TOKEN variable");
        }
    }
}
