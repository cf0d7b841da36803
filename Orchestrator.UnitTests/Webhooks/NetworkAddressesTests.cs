using System.Net;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>The SSRF address rule: only public unicast addresses may be a webhook's target.</summary>
public sealed class NetworkAddressesTests
{
    [Theory]
    [InlineData("0.0.0.0")]             // unspecified
    [InlineData("0.1.2.3")]             // "this network"
    [InlineData("10.0.0.1")]            // private
    [InlineData("10.255.255.255")]
    [InlineData("100.64.0.1")]          // CGNAT
    [InlineData("100.127.255.254")]
    [InlineData("127.0.0.1")]           // loopback
    [InlineData("127.8.9.10")]
    [InlineData("169.254.169.254")]     // link-local (cloud metadata)
    [InlineData("172.16.0.1")]          // private
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.8")]           // IETF protocol assignments
    [InlineData("192.0.2.1")]           // documentation
    [InlineData("192.168.1.1")]         // private
    [InlineData("198.18.0.1")]          // benchmarking
    [InlineData("198.51.100.7")]        // documentation
    [InlineData("203.0.113.9")]         // documentation
    [InlineData("224.0.0.1")]           // multicast
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]           // reserved
    [InlineData("255.255.255.255")]     // broadcast
    [InlineData("::")]                  // unspecified
    [InlineData("::1")]                 // loopback
    [InlineData("::ffff:127.0.0.1")]    // IPv4-mapped loopback
    [InlineData("::ffff:10.1.2.3")]     // IPv4-mapped private
    [InlineData("64:ff9b::a00:1")]      // NAT64 of 10.0.0.1
    [InlineData("2002:7f00:1::1")]      // 6to4 of 127.0.0.1
    [InlineData("2002:c0a8:101::1")]    // 6to4 of 192.168.1.1
    [InlineData("2001::1")]             // Teredo
    [InlineData("2001:db8::1")]         // documentation
    [InlineData("3fff::1")]             // documentation (RFC 9637)
    [InlineData("fc00::1")]             // unique-local
    [InlineData("fd12:3456:789a::1")]
    [InlineData("fe80::1")]             // link-local
    [InlineData("fec0::1")]             // site-local (deprecated)
    [InlineData("ff02::1")]             // multicast
    [InlineData("100::1")]              // discard-only
    public void NotPublic_AddressesAreRefused(string address) =>
        Assert.False(NetworkAddresses.IsPublic(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("1.1.1.1")]
    [InlineData("8.8.8.8")]
    [InlineData("93.184.215.14")]
    [InlineData("100.63.255.255")]      // just below CGNAT
    [InlineData("100.128.0.0")]         // just above CGNAT
    [InlineData("172.15.255.255")]      // just below 172.16/12
    [InlineData("172.32.0.0")]          // just above
    [InlineData("192.169.0.1")]
    [InlineData("223.255.255.254")]     // last below multicast
    [InlineData("::ffff:8.8.8.8")]      // IPv4-mapped public
    [InlineData("64:ff9b::808:808")]    // NAT64 of 8.8.8.8
    [InlineData("2002:808:808::1")]     // 6to4 of 8.8.8.8
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001:82a::200e")]
    public void Public_AddressesAreAllowed(string address) =>
        Assert.True(NetworkAddresses.IsPublic(IPAddress.Parse(address)), address);
}
