using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Teleport.Protocol.Security;

/// <summary>
/// The --allow-ip networks of a listener: a peer may connect only from an address inside one of them. IPv4 and IPv6;
/// an IPv4 peer seen on a dual-stack socket (::ffff:10.1.2.3) is matched as the IPv4 address it is.
/// </summary>
internal sealed class IpAllowList
{
    private readonly IPNetwork[] _networks;

    private IpAllowList(IPNetwork[] networks) => _networks = networks;

    /// <summary>Parses CIDRs such as 10.0.0.0/8 or 2001:db8::/32; a bare address means that address alone.</summary>
    /// <returns>False with one message per bad entry, naming <paramref name="flag"/>.</returns>
    public static bool TryParse(IReadOnlyList<string> entries, string flag, [NotNullWhen(true)] out IpAllowList? list, out List<string> errors)
    {
        errors = [];
        var networks = new List<IPNetwork>(entries.Count);
        foreach (var entry in entries)
        {
            var text = entry.Trim();
            if (IPAddress.TryParse(text, out var single))
            {
                networks.Add(new IPNetwork(Normalize(single), single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            // IPNetwork quietly reads 10.1.2.3/8 as 10.0.0.0/8; bits set past the prefix are refused instead, as
            // they are usually a typo for a narrower network (10.1.2.3/32, 10.1.2.0/24) that must not widen silently.
            else if (IPNetwork.TryParse(text, out var network) && IPAddress.TryParse(text.AsSpan(0, text.IndexOf('/')), out var written) && written.Equals(network.BaseAddress))
            {
                networks.Add(network);
            }
            else
            {
                errors.Add($"{flag} '{entry}' is not a network like 10.0.0.0/8, 192.168.1.7 or 2001:db8::/32 (no bits set past the prefix).");
            }
        }

        list = errors.Count == 0 ? new IpAllowList([.. networks]) : null;
        return list is not null;
    }

    /// <summary>Whether a peer at <paramref name="address"/> may connect.</summary>
    public bool Allows(IPAddress address)
    {
        address = Normalize(address);
        foreach (var network in _networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
