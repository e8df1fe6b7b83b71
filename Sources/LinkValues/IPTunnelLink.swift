import CLinuxUAPI
import NetlinkWire

/// IP in IP — `ipip` (RFC 2003), `sit` (IPv6 in IPv4, RFC 4213) and `ip6tnl` (RFC 2473) — as one type whose instances
/// differ by `variant`: the same IFLA_IPTUN_* attributes. The site-level words: `local A remote B [mode ipip6|ip6ip6|any]
/// [pmtudisc | nopmtudisc] [dev IFINDEX]`, or `external`.
public struct IPTunnelLink: RTLinkValue {
    public enum Variant: String, CaseIterable, Sendable {
        case ipip, sit, ip6tnl
        /// IFLA_IPTUN_* over IPv4 (ipip, sit) or IPv6 (ip6tnl).
        public var family: TunnelFamily { self == .ip6tnl ? .ip6tnl : .iptnl }
    }

    /// ip6tnl's inner protocol (IFLA_IPTUN_PROTO).
    public enum Mode: String, CaseIterable, Sendable {
        case ipip6, ip6ip6, any
        public var proto: UInt8 {
            switch self {
            case .ipip6: return UInt8(IPPROTO_IPIP)
            case .ip6ip6: return UInt8(IPPROTO_IPV6)
            case .any: return 0
            }
        }
        public init(proto: UInt8?) {
            self = proto == UInt8(IPPROTO_IPIP) ? .ipip6 : proto == UInt8(IPPROTO_IPV6) ? .ip6ip6 : .any
        }
    }

    public static let kinds = Variant.allCases.map(\.rawValue)
    public static let userspaceKinds = kinds
    public var kernelModules: [String] { [variant == .ip6tnl ? "ip6_tunnel" : variant.rawValue] }
    public var variant: Variant
    public var local: LinkAddress?
    public var remote: LinkAddress?
    /// ip6tnl only; nil when not stated.
    public var mode: Mode?
    /// ipip and sit only; nil when not stated.
    public var pathMTUDiscovery: Bool?
    public var device: UInt32?
    /// `external` (collect metadata): a flow-based device; nothing else is stated.
    public var external = false

    public var kind: String { variant.rawValue }

    public init(variant: Variant, local: LinkAddress? = nil, remote: LinkAddress? = nil, mode: Mode? = nil,
                pathMTUDiscovery: Bool? = nil, device: UInt32? = nil, external: Bool = false) {
        self.variant = variant; self.local = local; self.remote = remote; self.mode = mode
        self.pathMTUDiscovery = pathMTUDiscovery; self.device = device; self.external = external
    }

    public static let flagWords: Set<String> = ["external", "pmtudisc", "nopmtudisc"]
    static let keywords = ["external", "local", "remote", "mode", "pmtudisc", "nopmtudisc", "dev"]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard let v = Variant(rawValue: kind) else { throw LinkWordError("\"\(kind)\" is not an IP-in-IP kind") }
        let d = try LinkWords.dictionary(words, kind: kind, known: Self.keywords)
        self.init(variant: v, local: try LinkWords.address(d, "local", kind: kind), remote: try LinkWords.address(d, "remote", kind: kind),
                  device: try LinkWords.number(d, "dev", kind: kind, UInt32.self))
        if d["external"] != nil {
            guard d.count == 1 else { throw LinkWordError("\(kind): \"external\" takes no other words") }
            external = true
        }
        if let m = d["mode"] {
            guard v == .ip6tnl, let mode = Mode(rawValue: m) else {
                throw LinkWordError("\(kind): \"mode \(m)\": expected \(v == .ip6tnl ? "ipip6, ip6ip6 or any" : "no mode (ip6tnl only)")")
            }
            self.mode = mode
        }
        if d["pmtudisc"] != nil && d["nopmtudisc"] != nil { throw LinkWordError("\(kind): both \"pmtudisc\" and \"nopmtudisc\"") }
        pathMTUDiscovery = d["pmtudisc"] != nil ? true : d["nopmtudisc"] != nil ? false : nil
    }

    public init?(kind: String, data d: [Attribute]) {
        guard let v = Variant(rawValue: kind) else { return nil }
        let p = TunnelParameters(decoding: d, family: v.family)
        if p.external { self.init(variant: v); external = true; return }
        self.init(variant: v, local: p.local, remote: p.remote, device: p.link == 0 ? nil : p.link)
        if v == .ip6tnl {
            mode = Mode(proto: d.first(IFLA_IPTUN_PROTO)?.u8)
        } else {
            pathMTUDiscovery = d.first(IFLA_IPTUN_PMTUDISC)?.u8.map { $0 != 0 }
        }
    }

    public var words: [LinkWord] {
        if external { return [LinkWord("external")] }
        var w: [LinkWord] = []
        if let local { w.append(LinkWord("local", "\(local)")) }
        if let remote { w.append(LinkWord("remote", "\(remote)")) }
        if let mode { w.append(LinkWord("mode", mode.rawValue)) }
        if let pm = pathMTUDiscovery { w.append(LinkWord(pm ? "pmtudisc" : "nopmtudisc")) }
        if let device { w.append(LinkWord("dev", "\(device)")) }
        return w
    }

    /// Everything the device carries, iproute2's `link add` defaults for what the value does not state.
    public var parameters: TunnelParameters {
        var p = TunnelParameters(family: variant.family)
        p.external = external
        p.local = local; p.remote = remote
        if let mode { p.proto = mode.proto }
        if let pm = pathMTUDiscovery { p.pmtudisc = pm ? 1 : 0 }
        p.link = device ?? 0
        return p
    }

    public func encode(into w: inout AttributeWriter) {
        switch variant.family {
        case .ip6tnl: parameters.encodeIP6Tunnel(into: &w)
        default: parameters.encodeIPTunnel(sit: variant == .sit, into: &w)
        }
    }
}

extension TunnelParameters {
    /// IFLA_INFO_DATA for ipip/sit in iproute2's order (PROTO first; the full set, defaults included).
    public func encodeIPTunnel(sit: Bool, into w: inout AttributeWriter) {
        guard !encodeIPTunnelHead(into: &w) else { return }
        w.u8(IFLA_IPTUN_PMTUDISC, pmtudisc)
        w.u8(IFLA_IPTUN_TOS, tos)
        w.u8(IFLA_IPTUN_TTL, ttl)
        encodeIPTunnelTail(into: &w)
        guard sit else { return }
        w.u16(IFLA_IPTUN_FLAGS, sitFlags)
        if let p = sixrdPrefix {
            w.raw(IFLA_IPTUN_6RD_PREFIX, p.address.bytes)
            w.u16(IFLA_IPTUN_6RD_PREFIXLEN, UInt16(p.length))
        }
        if let r = sixrdRelayPrefix {
            w.raw(IFLA_IPTUN_6RD_RELAY_PREFIX, r.address.bytes)
            w.u16(IFLA_IPTUN_6RD_RELAY_PREFIXLEN, UInt16(r.length))
        }
    }

    /// What both IFLA_IPTUN_* encoders start with: PROTO, then COLLECT_METADATA alone for an external tunnel
    /// (true: nothing more follows), else the endpoints.
    private func encodeIPTunnelHead(into w: inout AttributeWriter) -> Bool {
        w.u8(IFLA_IPTUN_PROTO, proto)
        if external { w.flag(IFLA_IPTUN_COLLECT_METADATA); return true }
        if let local { w.raw(IFLA_IPTUN_LOCAL, local.bytes) }
        if let remote { w.raw(IFLA_IPTUN_REMOTE, remote.bytes) }
        return false
    }

    /// IFLA_INFO_DATA for ip6tnl in iproute2's order.
    public func encodeIP6Tunnel(into w: inout AttributeWriter) {
        guard !encodeIPTunnelHead(into: &w) else { return }
        w.u8(IFLA_IPTUN_TTL, ttl)
        w.u8(IFLA_IPTUN_ENCAP_LIMIT, encapLimit)
        w.be32(IFLA_IPTUN_FLOWINFO, flowinfo)
        w.u32(IFLA_IPTUN_FLAGS, flags)
        encodeIPTunnelTail(into: &w)
    }

    /// What both IFLA_IPTUN_* encoders write after their family's fields: LINK, FWMARK, then the encapsulation.
    private func encodeIPTunnelTail(into w: inout AttributeWriter) {
        w.u32(IFLA_IPTUN_LINK, link)
        w.u32(IFLA_IPTUN_FWMARK, fwmark)
        encap.encode(.ipTunnel, into: &w)
    }

    /// Reads IFLA_IPTUN_* as the kernel reports them.
    public mutating func decodeIPTunnel(_ d: [Attribute]) {
        decodeShared(d, .ipTunnel)
        if let v = d.first(IFLA_IPTUN_PROTO)?.u8 { proto = v }
        if family.isV6 {
            if let v = d.first(IFLA_IPTUN_FLAGS)?.u32 { flags = v }
        } else if let v = d.first(IFLA_IPTUN_FLAGS)?.u16 {
            sitFlags = v
        }
        if let a = d.first(IFLA_IPTUN_6RD_PREFIX), a.data.count == 16, let addr = IPAddress(bytes: a.data),
           let l = d.first(IFLA_IPTUN_6RD_PREFIXLEN)?.u16, l <= 128 {
            sixrdPrefix = IPPrefix(address: addr, length: UInt8(l))
        }
        if let a = d.first(IFLA_IPTUN_6RD_RELAY_PREFIX), a.data.count == 4, let addr = IPAddress(bytes: a.data),
           let l = d.first(IFLA_IPTUN_6RD_RELAY_PREFIXLEN)?.u16, l <= 32 {
            sixrdRelayPrefix = IPPrefix(address: addr, length: UInt8(l))
        }
    }
}
