import CLinuxUAPI
import NetlinkWire

/// Which attribute set and defaults a tunnel kind uses: IFLA_GRE_* over IPv4 or IPv6, or IFLA_IPTUN_* over IPv4
/// (ipip, sit) or IPv6 (ip6tnl).
public enum TunnelFamily: Sendable {
    case gre, gre6, iptnl, ip6tnl

    /// The outer address family.
    public var isV6: Bool { self == .gre6 || self == .ip6tnl }

    /// The family of a tunnel kind name (`GRELink.Variant`, `IPTunnelLink.Variant`), nil for other kinds.
    public static func of(kind: String) -> TunnelFamily? {
        GRELink.Variant(rawValue: kind)?.family ?? IPTunnelLink.Variant(rawValue: kind)?.family
    }
}

/// FOU/GUE encapsulation of a tunnel (IFLA_*_ENCAP_TYPE/FLAGS/SPORT/DPORT); ports in host order here.
public struct TunnelEncap: Equatable, Sendable {
    public var type = UInt16(TUNNEL_ENCAP_NONE.rawValue)
    public var flags: UInt16 = 0
    public var sport: UInt16 = 0
    public var dport: UInt16 = 0

    /// iproute2's encap keywords, all matched exactly.
    public static let keywords = ["noencap", "encap", "encap-sport", "encap-dport", "encap-csum", "noencap-csum",
                           "encap-udp6-csum", "noencap-udp6-csum", "encap-remcsum", "noencap-remcsum"]

    public init() {}

    /// The four attribute types of one attribute set: IFLA_GRE_ENCAP_* or IFLA_IPTUN_ENCAP_*.
    public struct AttributeTypes: Sendable {
        public let type, flags, sport, dport: Int32
        public static let gre = AttributeTypes(type: Int32(IFLA_GRE_ENCAP_TYPE), flags: Int32(IFLA_GRE_ENCAP_FLAGS),
                                               sport: Int32(IFLA_GRE_ENCAP_SPORT), dport: Int32(IFLA_GRE_ENCAP_DPORT))
        public static let ipTunnel = AttributeTypes(type: Int32(IFLA_IPTUN_ENCAP_TYPE), flags: Int32(IFLA_IPTUN_ENCAP_FLAGS),
                                                    sport: Int32(IFLA_IPTUN_ENCAP_SPORT), dport: Int32(IFLA_IPTUN_ENCAP_DPORT))
    }

    /// The four attributes in iproute2's order (type, flags, sport, dport; ports big-endian).
    public func encode(_ t: AttributeTypes, into w: inout AttributeWriter) {
        w.u16(t.type, type)
        w.u16(t.flags, flags)
        w.be16(t.sport, sport)
        w.be16(t.dport, dport)
    }

    /// Reads back what the kernel reports (absent attributes keep their current value).
    public mutating func decode(_ d: [Attribute], _ t: AttributeTypes) {
        if let v = d.first(t.type)?.u16 { type = v }
        if let v = d.first(t.flags)?.u16 { flags = v }
        if let v = d.first(t.sport)?.be16 { sport = v }
        if let v = d.first(t.dport)?.be16 { dport = v }
    }
}

/// Everything one IP tunnel device carries: the union of IFLA_GRE_* (gre, gretap, erspan and their IPv6 twins) and
/// IFLA_IPTUN_* (ipip, sit, ip6tnl). Starts from iproute2's `link add` defaults for the family; `link set` and
/// `tunnel change` start from the kernel's current values instead.
public struct TunnelParameters: Equatable, Sendable {
    public var family: TunnelFamily
    public var local: IPAddress?
    public var remote: IPAddress?
    /// Underlay ifindex (`dev`), 0 for none.
    public var link: UInt32 = 0
    /// TTL (IPv4) or hop limit (IPv6); 0 is inherit.
    public var ttl: UInt8 = 0
    /// IPv4 TOS; 1 is inherit.
    public var tos: UInt8 = 0
    public var pmtudisc: UInt8 = 1
    /// 0: not given; 1: ignore-df; 2: noignore-df (iproute2 sends `ignore_df & 1` when nonzero).
    public var ignoreDF: UInt8 = 0
    /// GRE_KEY/GRE_SEQ/GRE_CSUM bits exactly as the kernel's u16 holds them (network order, like iproute2).
    public var iflags: UInt16 = 0
    public var oflags: UInt16 = 0
    /// Keys as numbers; on the wire big-endian (so 1.2.3.4 and 16909060 are the same key).
    public var ikey: UInt32 = 0
    public var okey: UInt32 = 0
    public var encap = TunnelEncap()
    /// `external`: collect metadata, all other settings ignored.
    public var external = false
    public var fwmark: UInt32 = 0
    /// Inner protocol for ipip/sit/ip6tnl (IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_MPLS, 0 = any).
    public var proto: UInt8 = 0
    /// sit's IFLA_IPTUN_FLAGS (SIT_ISATAP).
    public var sitFlags: UInt16 = 0
    public var encapLimit: UInt8 = 0
    /// Traffic class and flow label as the 32-bit value whose big-endian bytes go on the wire.
    public var flowinfo: UInt32 = 0
    /// IP6_TNL_F_* flags (ip6gre, ip6tnl).
    public var flags: UInt32 = 0
    public var erspanIndex: UInt32 = 0
    public var erspanVersion: UInt8 = 1
    public var erspanDirection: UInt8 = 0
    public var erspanHardwareID: UInt16 = 0
    public var sixrdPrefix: IPPrefix?
    public var sixrdRelayPrefix: IPPrefix?

    /// iproute2's DEFAULT_TNL_HOP_LIMIT for ip6gre/ip6tnl (a tool default, not a kernel constant).
    public static let defaultHopLimit: UInt8 = 64

    /// iproute2's defaults for `ip link add ... type KIND` in this family.
    public init(family: TunnelFamily) {
        self.family = family
        if family.isV6 {
            ttl = TunnelParameters.defaultHopLimit
            encapLimit = UInt8(IPV6_DEFAULT_TNL_ENCAP_LIMIT)
            encap.flags = UInt16(TUNNEL_ENCAP_FLAG_CSUM6)
        }
    }
}

extension TunnelParameters {
    /// What the kernel reports, read like iproute2 reads it before a change. Never traps: absent or short
    /// attributes keep the defaults.
    public init(decoding d: [Attribute], family: TunnelFamily) {
        self.init(family: family)
        switch family {
        case .gre, .gre6: decodeGRE(d)
        case .iptnl, .ip6tnl: decodeIPTunnel(d)
        }
    }
}

extension TunnelParameters {
    /// The types of the attributes IFLA_GRE_* and IFLA_IPTUN_* both have, for the same fields.
    struct SharedAttributeTypes {
        let local, remote, ttl, tos, pmtudisc, link, encapLimit, flowinfo, collectMetadata, fwmark: Int32
        let encap: TunnelEncap.AttributeTypes

        static let gre = SharedAttributeTypes(
            local: Int32(IFLA_GRE_LOCAL), remote: Int32(IFLA_GRE_REMOTE), ttl: Int32(IFLA_GRE_TTL), tos: Int32(IFLA_GRE_TOS),
            pmtudisc: Int32(IFLA_GRE_PMTUDISC), link: Int32(IFLA_GRE_LINK), encapLimit: Int32(IFLA_GRE_ENCAP_LIMIT),
            flowinfo: Int32(IFLA_GRE_FLOWINFO), collectMetadata: Int32(IFLA_GRE_COLLECT_METADATA), fwmark: Int32(IFLA_GRE_FWMARK),
            encap: .gre)
        static let ipTunnel = SharedAttributeTypes(
            local: Int32(IFLA_IPTUN_LOCAL), remote: Int32(IFLA_IPTUN_REMOTE), ttl: Int32(IFLA_IPTUN_TTL), tos: Int32(IFLA_IPTUN_TOS),
            pmtudisc: Int32(IFLA_IPTUN_PMTUDISC), link: Int32(IFLA_IPTUN_LINK), encapLimit: Int32(IFLA_IPTUN_ENCAP_LIMIT),
            flowinfo: Int32(IFLA_IPTUN_FLOWINFO), collectMetadata: Int32(IFLA_IPTUN_COLLECT_METADATA), fwmark: Int32(IFLA_IPTUN_FWMARK),
            encap: .ipTunnel)
    }

    /// Reads the fields both attribute sets have as the kernel reports them; an absent attribute keeps the current
    /// value. The endpoints are 4 or 16 bytes by family (another size is ignored), the unspecified address meaning none.
    mutating func decodeShared(_ d: [Attribute], _ t: SharedAttributeTypes) {
        let len = family.isV6 ? 16 : 4
        if let a = d.first(t.local), a.data.count == len { local = IPAddress(bytes: a.data).flatMap { $0.isUnspecified ? nil : $0 } }
        if let a = d.first(t.remote), a.data.count == len { remote = IPAddress(bytes: a.data).flatMap { $0.isUnspecified ? nil : $0 } }
        if let v = d.first(t.ttl)?.u8 { ttl = v }
        if let v = d.first(t.tos)?.u8 { tos = v }
        if let v = d.first(t.pmtudisc)?.u8 { pmtudisc = v }
        if let v = d.first(t.link)?.u32 { link = v }
        if let v = d.first(t.encapLimit)?.u8 { encapLimit = v }
        if let v = d.first(t.flowinfo)?.be32 { flowinfo = v }
        encap.decode(d, t.encap)
        external = d.first(t.collectMetadata) != nil
        if let v = d.first(t.fwmark)?.u32 { fwmark = v }
    }
}
