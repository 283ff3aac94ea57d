namespace Teleport.Protocol.Hosting;

/// <summary>How the services write their logs to standard output (--log-format).</summary>
internal enum LogFormat
{
    /// <summary>One human-readable line per entry.</summary>
    Console,

    /// <summary>One JSON object per line (Microsoft.Extensions.Logging's JSON console formatter), for log collectors.</summary>
    Json,
}
