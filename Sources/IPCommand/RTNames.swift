import CLinuxUAPI
#if canImport(Glibc)
import Glibc
#endif

/// Names of rtnetlink numbers, as iproute2's lib/rt_names.c built-in tables and /etc/iproute2 defaults.
enum RTNames {
    static let scopes: [(String, UInt8)] = [
        ("global", UInt8(RT_SCOPE_UNIVERSE.rawValue)), ("nowhere", UInt8(RT_SCOPE_NOWHERE.rawValue)),
        ("host", UInt8(RT_SCOPE_HOST.rawValue)), ("link", UInt8(RT_SCOPE_LINK.rawValue)), ("site", UInt8(RT_SCOPE_SITE.rawValue)),
    ]
    static let scopeExpected = "global, host, link, site, nowhere or a number 0-255"

    static let protocols: [(String, UInt8)] = [
        ("unspec", UInt8(RTPROT_UNSPEC)), ("redirect", UInt8(RTPROT_REDIRECT)), ("kernel", UInt8(RTPROT_KERNEL)),
        ("boot", UInt8(RTPROT_BOOT)), ("static", UInt8(RTPROT_STATIC)), ("gated", UInt8(RTPROT_GATED)), ("ra", UInt8(RTPROT_RA)),
        ("mrt", UInt8(RTPROT_MRT)), ("zebra", UInt8(RTPROT_ZEBRA)), ("bird", UInt8(RTPROT_BIRD)), ("dnrouted", UInt8(RTPROT_DNROUTED)),
        ("xorp", UInt8(RTPROT_XORP)), ("ntk", UInt8(RTPROT_NTK)), ("dhcp", UInt8(RTPROT_DHCP)), ("keepalived", UInt8(RTPROT_KEEPALIVED)),
        ("babel", UInt8(RTPROT_BABEL)), ("openr", UInt8(RTPROT_OPENR)), ("bgp", UInt8(RTPROT_BGP)), ("isis", UInt8(RTPROT_ISIS)),
        ("ospf", UInt8(RTPROT_OSPF)), ("rip", UInt8(RTPROT_RIP)), ("eigrp", UInt8(RTPROT_EIGRP)),
    ]
    static let tables: [(String, UInt32)] = [
        ("unspec", RT_TABLE_UNSPEC.rawValue), ("default", RT_TABLE_DEFAULT.rawValue),
        ("main", RT_TABLE_MAIN.rawValue), ("local", RT_TABLE_LOCAL.rawValue),
    ]
    /// Route types in rtnl_rtntype_a2n() order; `true` marks names matched as abbreviations.
    static let routeTypes: [(String, UInt8, Bool)] = [
        ("local", UInt8(RTN_LOCAL), false), ("nat", UInt8(RTN_NAT), false), ("broadcast", UInt8(RTN_BROADCAST), true),
        ("brd", UInt8(RTN_BROADCAST), false), ("anycast", UInt8(RTN_ANYCAST), true), ("multicast", UInt8(RTN_MULTICAST), true),
        ("prohibit", UInt8(RTN_PROHIBIT), true), ("unreachable", UInt8(RTN_UNREACHABLE), true),
        ("blackhole", UInt8(RTN_BLACKHOLE), true), ("xresolve", UInt8(RTN_XRESOLVE), true),
        ("unicast", UInt8(RTN_UNICAST), true), ("throw", UInt8(RTN_THROW), false),
    ]
    static let routeTypeNames: [(UInt8, String)] = [
        (UInt8(RTN_UNSPEC), "none"), (UInt8(RTN_UNICAST), "unicast"), (UInt8(RTN_LOCAL), "local"), (UInt8(RTN_BROADCAST), "broadcast"),
        (UInt8(RTN_ANYCAST), "anycast"), (UInt8(RTN_MULTICAST), "multicast"), (UInt8(RTN_BLACKHOLE), "blackhole"),
        (UInt8(RTN_UNREACHABLE), "unreachable"), (UInt8(RTN_PROHIBIT), "prohibit"), (UInt8(RTN_THROW), "throw"),
        (UInt8(RTN_NAT), "nat"), (UInt8(RTN_XRESOLVE), "xresolve"),
    ]

    static func scope(_ word: String, for keyword: String) throws -> UInt8 {
        if let s = scopes.first(where: { $0.0 == word }) { return s.1 }
        guard let n = CNumber.parse(word, UInt8.self) else { throw UsageError.invalid(word, for: keyword, expected: scopeExpected) }
        return n
    }
    static func scopeName(_ v: UInt8) -> String { scopes.first { $0.1 == v }?.0 ?? String(v) }

    static func proto(_ word: String, for keyword: String) throws -> UInt8 {
        if let s = protocols.first(where: { $0.0 == word }) { return s.1 }
        guard let n = CNumber.parse(word, UInt8.self) else {
            throw UsageError.invalid(word, for: keyword, expected: "one of \(protocols.map(\.0).joined(separator: ", ")) or a number 0-255")
        }
        return n
    }
    static func protoName(_ v: UInt8) -> String { protocols.first { $0.1 == v }?.0 ?? String(v) }

    /// A table id: main, local, default, unspec or a number.
    static func table(_ word: String) -> UInt32? {
        if let t = tables.first(where: { $0.0 == word }) { return t.1 }
        return CNumber.parse(word, UInt32.self)
    }
    static func tableName(_ v: UInt32) -> String { tables.first { $0.1 == v }?.0 ?? String(v) }

    static func routeType(_ word: String) -> UInt8? {
        for (name, v, abbrev) in routeTypes where abbrev ? (!word.isEmpty && name.hasPrefix(word)) : (name == word) { return v }
        return CNumber.parse(word, UInt8.self)
    }
    static func routeTypeName(_ v: UInt8) -> String { routeTypeNames.first { $0.0 == v }?.1 ?? String(v) }

    /// iproute2's family_name().
    static func familyName(_ f: UInt8) -> String {
        switch Int32(f) {
        case AF_INET: return "inet"
        case AF_INET6: return "inet6"
        case AF_BRIDGE: return "bridge"
        case AF_PACKET: return "link"
        case AF_MPLS: return "mpls"
        default: return "?"
        }
    }
}
