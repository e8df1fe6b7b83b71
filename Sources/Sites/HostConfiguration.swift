import Addresses

/// Which of a host's addresses and routes are configuration — put there by the user, by a script, or by Isthmus — and
/// which the kernel or a protocol made and keeps. Only configuration is shown to the planner: the rest is never drift,
/// never removed, never moved.
///
/// A site's bridge is a host on its LAN. The kernel gives it an IPv6 link-local address and fe80::/64, multicast and
/// prefix routes; the LAN's router advertisements give it SLAAC (and privacy) addresses, a default route and
/// route-information routes; a DHCP client or a routing daemon may add their own. Those all carry the mark of who made
/// them — addresses a lifetime (no IFA_F_PERMANENT) or link scope, routes their protocol (kernel, ra, dhcp, bird, ...)
/// or a table other than main — and belong to whoever made them: deleting them would break the LAN's IPv6, and they
/// come back by themselves anyway. What is left is what `ip address add` and `ip route add` (protocol boot, or static)
/// made: that is what a LAN port carries in an `ip link set eth0 master br0` set-up and what Isthmus itself adds.
///
/// The kernel's values (linux/if_addr.h, linux/rtnetlink.h) are spelled out: this target has no C headers.
public enum HostConfiguration {
    /// IFA_F_PERMANENT: an address without lifetimes (as `ip address add` makes it by default).
    public static let permanentFlag: UInt32 = 0x80
    /// RT_SCOPE_LINK: IPv6 fe80::/10, IPv4 169.254/16 from a zeroconf daemon.
    public static let linkScope: UInt8 = 253
    /// RT_TABLE_MAIN.
    public static let mainTable: UInt32 = 254
    /// RTN_UNICAST.
    public static let unicastType: UInt8 = 1
    /// RTPROT_BOOT (what `ip route add` sets unless told otherwise) and RTPROT_STATIC (an administrator's route).
    public static let configuringProtocols: Set<UInt8> = [3, 4]

    /// An address that someone configured: permanent (no valid/preferred lifetime: not SLAAC, not a privacy address,
    /// not a DHCP lease) and not link-scoped.
    public static func isConfigured(addressFlags flags: UInt32, scope: UInt8) -> Bool {
        flags & permanentFlag != 0 && scope != linkScope
    }

    /// A route that someone configured: a main-table unicast route of protocol boot or static, without an expiry.
    /// Not the kernel's (prefix, fe80::/64), not from router advertisements (RTPROT_RA) or redirects, not a DHCP
    /// client's or a routing daemon's, not in the local or another table.
    public static func isConfigured(routeProtocol proto: UInt8, table: UInt32, type: UInt8, expires: Bool) -> Bool {
        table == mainTable && type == unicastType && configuringProtocols.contains(proto) && !expires
    }

    /// Whether `route` (`PREFIX [via GATEWAY] ...`) can live on a device with `addresses`: a device route, a
    /// link-local gateway, or a gateway inside one of the addresses' prefixes. A route whose gateway is reached through
    /// an address that is not configuration — a DHCP client's lease — belongs with that address and does not move.
    public static func gatewayReachable(_ route: String, through addresses: [String]) -> Bool {
        let words = route.split(separator: " ")
        guard let v = words.firstIndex(of: "via"), v + 1 < words.count else { return true }
        guard let gateway = IPAddress(String(words[v + 1])) else { return false }
        if gateway.isV6 && gateway.bytes[0] == 0xfe && gateway.bytes[1] & 0xc0 == 0x80 { return true }
        return addresses.contains { IPPrefix(cidr: $0)?.contains(gateway) == true }
    }

    /// A route as the planner writes it: `PREFIX [via GATEWAY] [src ADDRESS] [metric N]`, the metric only when it is
    /// not what `ip route add` gives by default (0 for IPv4, 1024 for IPv6), so that a route moved to another device
    /// keeps its preferred source and its metric.
    public static func routeWords(destination: String, gateway: String?, source: String? = nil, metric: UInt32?, ipv6: Bool) -> String {
        var words = destination
        if let gateway { words += " via " + gateway }
        if let source { words += " src " + source }
        if let metric, metric != (ipv6 ? 1024 : 0) { words += " metric \(metric)" }
        return words
    }
}
