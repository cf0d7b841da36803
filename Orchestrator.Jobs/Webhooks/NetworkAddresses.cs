using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Jobs;

/// <summary>
/// Which IP addresses a webhook may reach: only public (globally routable) unicast ones, so that a
/// client's <c>callbackUrl</c> cannot make the service call into its own network (SSRF). The
/// ranges are IANA's special-purpose registries (RFC 6890 and its updates) for IPv4 and IPv6.
/// </summary>
public static class NetworkAddresses
{
    // Not globally reachable, or not unicast: private, loopback, link-local, CGNAT, documentation,
    // benchmarking, reserved, multicast, broadcast.
    private static readonly IPNetwork[] BlockedV4 =
    [
        IPNetwork.Parse("0.0.0.0/8"),          // "this network", unspecified
        IPNetwork.Parse("10.0.0.0/8"),         // private (RFC 1918)
        IPNetwork.Parse("100.64.0.0/10"),      // shared address space, carrier-grade NAT (RFC 6598)
        IPNetwork.Parse("127.0.0.0/8"),        // loopback
        IPNetwork.Parse("169.254.0.0/16"),     // link-local (cloud metadata endpoints live here)
        IPNetwork.Parse("172.16.0.0/12"),      // private
        IPNetwork.Parse("192.0.0.0/24"),       // IETF protocol assignments
        IPNetwork.Parse("192.0.2.0/24"),       // documentation (TEST-NET-1)
        IPNetwork.Parse("192.88.99.0/24"),     // 6to4 relay anycast (deprecated)
        IPNetwork.Parse("192.168.0.0/16"),     // private
        IPNetwork.Parse("198.18.0.0/15"),      // benchmarking
        IPNetwork.Parse("198.51.100.0/24"),    // documentation (TEST-NET-2)
        IPNetwork.Parse("203.0.113.0/24"),     // documentation (TEST-NET-3)
        IPNetwork.Parse("224.0.0.0/4"),        // multicast
        IPNetwork.Parse("240.0.0.0/4"),        // reserved, and 255.255.255.255 broadcast
    ];

    // IPv6 global unicast is 2000::/3; within it these are not public targets.
    private static readonly IPNetwork GlobalUnicastV6 = IPNetwork.Parse("2000::/3");

    private static readonly IPNetwork[] BlockedV6 =
    [
        IPNetwork.Parse("2001::/23"),          // IETF protocol assignments (Teredo 2001::/32 among them)
        IPNetwork.Parse("2001:db8::/32"),      // documentation
        IPNetwork.Parse("2002::/16"),          // 6to4: the IPv4 address inside is checked instead
        IPNetwork.Parse("3fff::/20"),          // documentation (RFC 9637)
    ];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");

    /// <summary>
    /// Whether <paramref name="address"/> is a public unicast address. IPv4-mapped IPv6
    /// (<c>::ffff:a.b.c.d</c>), NAT64 (<c>64:ff9b::/96</c>) and 6to4 (<c>2002::/16</c>) addresses are
    /// judged by the IPv4 address they carry; everything outside IPv6 global unicast
    /// (<c>2000::/3</c>: loopback, unspecified, unique-local <c>fc00::/7</c>, link-local
    /// <c>fe80::/10</c>, multicast <c>ff00::/8</c>, …) is not public.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return IsPublic(address.MapToIPv4());
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return !Array.Exists(BlockedV4, n => n.Contains(address));
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address))
        {
            return IsPublic(new IPAddress(bytes.AsSpan(12, 4)));
        }

        if (bytes[0] == 0x20 && bytes[1] == 0x02)
        {
            return IsPublic(new IPAddress(bytes.AsSpan(2, 4)));
        }

        return GlobalUnicastV6.Contains(address) && !Array.Exists(BlockedV6, n => n.Contains(address));
    }
}
