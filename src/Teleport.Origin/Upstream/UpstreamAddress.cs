using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Teleport.Origin.Upstream;

/// <summary>
/// One configured upstream, parsed from its --upstream value:
/// <list type="table">
/// <item><term>http://host:port[/base]</term><description>HTTP/1.1.</description></item>
/// <item><term>https://host:port[/base]</term><description>TLS; HTTP/2 or HTTP/1.1, as ALPN settles it.</description></item>
/// <item><term>h2c://host:port[/base]</term><description>Cleartext HTTP/2 with prior knowledge (gRPC servers).</description></item>
/// <item><term>unix:/path/to.sock</term><description>HTTP/1.1 over a unix-domain socket.</description></item>
/// <item><term>h2c+unix:/path/to.sock</term><description>Cleartext HTTP/2 with prior knowledge over a unix-domain socket.</description></item>
/// </list>
/// </summary>
internal sealed class UpstreamAddress
{
    private const string UnixPrefix = "unix:";
    private const string H2cUnixPrefix = "h2c+unix:";

    private UpstreamAddress(int index, string text, string prefix, string authority, Version version, HttpVersionPolicy versionPolicy)
    {
        Index = index;
        Text = text.TrimEnd('/');
        Prefix = prefix;
        Authority = authority;
        Version = version;
        VersionPolicy = versionPolicy;
    }

    /// <summary>Position among the configured upstreams; the upstream's handler has the same one.</summary>
    public int Index { get; }

    /// <summary>
    /// The --upstream value as configured (without a trailing slash): how the operator knows this upstream, so
    /// health messages, metrics and /readyz name it so.
    /// </summary>
    public string Text { get; }

    /// <summary>
    /// "http://host:port" or "https://host:port" plus any base path, without a trailing slash: a request's path is
    /// appended. Unix upstreams use http://localhost (what curl sends as Host over a socket); their connection
    /// goes to <see cref="SocketPath"/> whatever the host says.
    /// </summary>
    public string Prefix { get; }

    /// <summary>host:port, or unix:/path for a socket, for messages.</summary>
    public string Authority { get; }

    /// <summary>HTTP version asked for: 1.1 for http and unix, 2 for https (by ALPN) and the h2c forms.</summary>
    public Version Version { get; }

    /// <summary>RequestVersionOrLower lets ALPN settle on HTTP/1.1; h2c has no negotiation, so it is exact.</summary>
    public HttpVersionPolicy VersionPolicy { get; }

    /// <summary>The unix-domain socket to connect to, or null for TCP.</summary>
    public string? SocketPath { get; private init; }

    /// <summary>For https, the name the upstream's certificate must carry: --upstream-sni, else the URL's host. Null for cleartext.</summary>
    public string? TlsName { get; private init; }

    /// <summary>
    /// The URL's own host and port when --upstream-sni put another name into <see cref="Prefix"/>: connections go
    /// here, while SNI and Host carry the name. Null when the prefix's host is the one to connect to.
    /// </summary>
    public DnsEndPoint? ConnectTo { get; private init; }

    /// <summary>
    /// True when --upstream-sni fixes the Host sent to this https upstream: .NET takes SNI from the Host header, so
    /// keeping the client's Host would send the client's name as SNI instead.
    /// </summary>
    public bool HostIsFixed => ConnectTo is not null;

    /// <summary>Parses one --upstream value; <paramref name="sni"/> is --upstream-sni (https upstreams only).</summary>
    public static bool TryParse(string? text, string? sni, int index, [NotNullWhen(true)] out UpstreamAddress? upstream, [NotNullWhen(false)] out string? error)
    {
        upstream = null;
        error = null;
        var value = text?.Trim() ?? "";
        var h2cUnix = value.StartsWith(H2cUnixPrefix, StringComparison.OrdinalIgnoreCase);
        if (h2cUnix || value.StartsWith(UnixPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var socketPath = value[(h2cUnix ? H2cUnixPrefix : UnixPrefix).Length..];
            // Absolute only: a relative path would depend on the directory the origin happens to start in.
            if (!Path.IsPathFullyQualified(socketPath) || socketPath.EndsWith('/'))
            {
                error = $"--upstream '{text}' needs an absolute socket path, like unix:/run/app.sock.";
                return false;
            }

            upstream = new UpstreamAddress(index, value, "http://localhost", (h2cUnix ? H2cUnixPrefix : UnixPrefix) + socketPath,
                h2cUnix ? HttpVersion.Version20 : HttpVersion.Version11,
                h2cUnix ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower)
            {
                SocketPath = socketPath,
            };
            return true;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "h2c")
            || uri.Host.Length == 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            error = $"--upstream '{text}' is not an address like http://127.0.0.1:8081 (http://, https:// or h2c://host:port[/path], unix:/path/to.sock or h2c+unix:/path/to.sock).";
            return false;
        }

        var path = uri.AbsolutePath.TrimEnd('/');
        switch (uri.Scheme)
        {
            case "http":
                upstream = new UpstreamAddress(index, value, uri.GetLeftPart(UriPartial.Path).TrimEnd('/'), uri.Authority, HttpVersion.Version11, HttpVersionPolicy.RequestVersionOrLower);
                return true;
            case "h2c":
                // No default port for a made-up scheme: h2c is HTTP, so 80 when none is given.
                var port = uri.IsDefaultPort || uri.Port < 0 ? 80 : uri.Port;
                var authority = $"{uri.Host}:{port}";
                upstream = new UpstreamAddress(index, value, $"http://{authority}{path}", authority, HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact);
                return true;
            default:
                if (sni is null)
                {
                    upstream = new UpstreamAddress(index, value, uri.GetLeftPart(UriPartial.Path).TrimEnd('/'), uri.Authority, HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower)
                    {
                        TlsName = uri.IdnHost,
                    };
                    return true;
                }

                upstream = new UpstreamAddress(index, value, $"https://{sni}:{uri.Port}{path}", uri.Authority, HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower)
                {
                    TlsName = sni,
                    ConnectTo = new DnsEndPoint(uri.IdnHost, uri.Port),
                };
                return true;
        }
    }

    public override string ToString() => Prefix;
}
