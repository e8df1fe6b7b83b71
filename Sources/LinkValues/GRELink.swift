import CLinuxUAPI
import NetlinkWire

/// The GRE family — `gre`, `gretap`, `erspan` (RFC 2784/2890 over IPv4) and `ip6gre`, `ip6gretap`, `ip6erspan` (over
/// IPv6) — as one type whose instances differ by `variant`: the same IFLA_GRE_* attributes, keys, FOU encapsulation
/// and path-MTU settings. The site-level words: `local A remote B [key K] [encap fou encap-sport auto|P
/// encap-dport P] [pmtudisc | nopmtudisc [ignore-df]] [dev IFINDEX]`, or `external`.
public struct GRELink: RTLinkValue {
    /// One kind of the family.
    public enum Variant: String, CaseIterable, Sendable {
        case gre, gretap, erspan, ip6gre, ip6gretap, ip6erspan

        /// IFLA_GRE_* over IPv4 or IPv6.
        public var family: TunnelFamily { rawValue.hasPrefix("ip6") ? .gre6 : .gre }
        /// Carries Ethernet frames (a TAP on the userspace data plane).
        public var isEthernet: Bool { self == .gretap || self == .ip6gretap }
        /// ERSPAN mirroring (its version, index, direction and hardware id attributes).
        public var isERSPAN: Bool { self == .erspan || self == .ip6erspan }
        /// The variant of this family over `ipv6` that carries Ethernet frames or IP packets.
        public static func of(ipv6: Bool, ethernet: Bool) -> Variant {
            ipv6 ? (ethernet ? .ip6gretap : .ip6gre) : (ethernet ? .gretap : .gre)
        }
    }

    /// FOU encapsulation (RFC 8086 GRE-in-UDP): `encap fou encap-sport auto|P encap-dport P`.
    public struct FOU: Equatable, Sendable {
        /// 0: auto (a hash of the inner flow).
        public var sourcePort: UInt16
        public var destinationPort: UInt16
        public init(sourcePort: UInt16 = 0, destinationPort: UInt16) { self.sourcePort = sourcePort; self.destinationPort = destinationPort }
    }

    public static let kinds = Variant.allCases.map(\.rawValue)
    /// The userspace data plane carries GRE and GRE-TAP (not ERSPAN).
    public static let userspaceKinds = [Variant.gretap, .ip6gretap, .gre, .ip6gre].map(\.rawValue)
    /// ip_gre or ip6_gre, and fou for FOU encapsulation.
    public var kernelModules: [String] { [variant.family.isV6 ? "ip6_gre" : "ip_gre"] + (fou != nil ? ["fou"] : []) }
    public var variant: Variant
    public var local: LinkAddress?
    public var remote: LinkAddress?
    /// `key K`: the same input and output key.
    public var key: UInt32?
    public var fou: FOU?
    /// IPv4 only; nil when not stated (the userspace data plane's words, IPv6).
    public var pathMTUDiscovery: Bool?
    /// IPv4 only: fragment outside instead of dropping a frame with DF set.
    public var ignoreDF: Bool
    /// Underlay ifindex (`dev`), as reported.
    public var device: UInt32?
    /// `external` (collect metadata): a flow-based device; nothing else is stated.
    public var external = false

    public var kind: String { variant.rawValue }

    public init(variant: Variant, local: LinkAddress? = nil, remote: LinkAddress? = nil, key: UInt32? = nil, fou: FOU? = nil,
                pathMTUDiscovery: Bool? = nil, ignoreDF: Bool = false, device: UInt32? = nil, external: Bool = false) {
        self.variant = variant; self.local = local; self.remote = remote; self.key = key; self.fou = fou
        self.pathMTUDiscovery = pathMTUDiscovery; self.ignoreDF = ignoreDF; self.device = device; self.external = external
    }

    public static let flagWords: Set<String> = ["external", "pmtudisc", "nopmtudisc", "ignore-df"]
    static let keywords = ["external", "local", "remote", "key", "encap", "encap-sport", "encap-dport", "pmtudisc", "nopmtudisc", "ignore-df", "dev"]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard let v = Variant(rawValue: kind) else { throw LinkWordError("\"\(kind)\" is not a GRE kind") }
        let d = try LinkWords.dictionary(words, kind: kind, known: Self.keywords)
        self.init(variant: v, local: try LinkWords.address(d, "local", kind: kind), remote: try LinkWords.address(d, "remote", kind: kind),
                  key: try LinkWords.number(d, "key", kind: kind, UInt32.self), ignoreDF: d["ignore-df"] != nil,
                  device: try LinkWords.number(d, "dev", kind: kind, UInt32.self))
        if d["external"] != nil {
            guard d.count == 1 else { throw LinkWordError("\(kind): \"external\" takes no other words") }
            external = true
        }
        if let e = d["encap"] {
            guard e == "fou" else { throw LinkWordError("\(kind): \"encap \(e)\": expected fou") }
            let s = d["encap-sport"] ?? "auto"
            guard let sport = s == "auto" ? 0 : UInt16(s) else { throw LinkWordError("\(kind): \"encap-sport \(s)\": expected auto or a port") }
            guard let dport = try LinkWords.number(d, "encap-dport", kind: kind, UInt16.self) else {
                throw LinkWordError("\(kind): \"encap fou\" needs \"encap-dport PORT\"")
            }
            fou = FOU(sourcePort: sport, destinationPort: dport)
        }
        if d["pmtudisc"] != nil && d["nopmtudisc"] != nil { throw LinkWordError("\(kind): both \"pmtudisc\" and \"nopmtudisc\"") }
        pathMTUDiscovery = d["pmtudisc"] != nil ? true : d["nopmtudisc"] != nil ? false : nil
    }

    public init?(kind: String, data d: [Attribute]) {
        guard let v = Variant(rawValue: kind) else { return nil }
        let p = TunnelParameters(decoding: d, family: v.family)
        if p.external { self.init(variant: v); external = true; return }
        self.init(variant: v, local: p.local, remote: p.remote, device: p.link == 0 ? nil : p.link)
        if p.iflags & ISTHMUS_GRE_KEY != 0, d.first(IFLA_GRE_IKEY) != nil { key = p.ikey }
        if p.encap.type == UInt16(TUNNEL_ENCAP_FOU.rawValue) { fou = FOU(sourcePort: p.encap.sport, destinationPort: p.encap.dport) }
        if !v.family.isV6 {
            pathMTUDiscovery = d.first(IFLA_GRE_PMTUDISC)?.u8.map { $0 != 0 }
            ignoreDF = d.first(IFLA_GRE_IGNORE_DF)?.u8 == 1
        }
    }

    public var words: [LinkWord] {
        if external { return [LinkWord("external")] }
        var w: [LinkWord] = []
        if let local { w.append(LinkWord("local", "\(local)")) }
        if let remote { w.append(LinkWord("remote", "\(remote)")) }
        if let key { w.append(LinkWord("key", "\(key)")) }
        if let fou {
            w += [LinkWord("encap", "fou"), LinkWord("encap-sport", fou.sourcePort == 0 ? "auto" : "\(fou.sourcePort)"),
                  LinkWord("encap-dport", "\(fou.destinationPort)")]
        }
        if let pm = pathMTUDiscovery { w.append(LinkWord(pm ? "pmtudisc" : "nopmtudisc")) }
        if ignoreDF { w.append(LinkWord("ignore-df")) }
        if let device { w.append(LinkWord("dev", "\(device)")) }
        return w
    }

    /// Everything the device carries, iproute2's `link add` defaults for what the value does not state.
    public var parameters: TunnelParameters {
        var p = TunnelParameters(family: variant.family)
        p.external = external
        p.local = local; p.remote = remote
        if let key { p.ikey = key; p.okey = key; p.iflags |= ISTHMUS_GRE_KEY; p.oflags |= ISTHMUS_GRE_KEY }
        if let fou { p.encap.type = UInt16(TUNNEL_ENCAP_FOU.rawValue); p.encap.sport = fou.sourcePort; p.encap.dport = fou.destinationPort }
        if let pm = pathMTUDiscovery { p.pmtudisc = pm ? 1 : 0 }
        if ignoreDF { p.ignoreDF = 1 }
        p.link = device ?? 0
        return p
    }

    public func encode(into w: inout AttributeWriter) { parameters.encodeGRE(erspan: variant.isERSPAN, into: &w) }
}

extension TunnelParameters {
    /// IFLA_INFO_DATA for the GRE family in iproute2's order: the full set, defaults included.
    public func encodeGRE(erspan: Bool, into w: inout AttributeWriter) {
        if external { w.flag(IFLA_GRE_COLLECT_METADATA); return }
        w.be32(IFLA_GRE_IKEY, ikey)
        w.be32(IFLA_GRE_OKEY, okey)
        w.u16(IFLA_GRE_IFLAGS, iflags)
        w.u16(IFLA_GRE_OFLAGS, oflags)
        if let local { w.raw(IFLA_GRE_LOCAL, local.bytes) }
        if let remote { w.raw(IFLA_GRE_REMOTE, remote.bytes) }
        if family.isV6 {
            if link != 0 { w.u32(IFLA_GRE_LINK, link) }
            w.u8(IFLA_GRE_TTL, ttl)
            w.u8(IFLA_GRE_ENCAP_LIMIT, encapLimit)
            w.be32(IFLA_GRE_FLOWINFO, flowinfo)
            w.u32(IFLA_GRE_FLAGS, flags)
            w.u32(IFLA_GRE_FWMARK, fwmark)
        } else {
            w.u8(IFLA_GRE_PMTUDISC, pmtudisc)
            if ignoreDF != 0 { w.u8(IFLA_GRE_IGNORE_DF, ignoreDF & 1) }
            w.u8(IFLA_GRE_TOS, tos)
            if link != 0 { w.u32(IFLA_GRE_LINK, link) }
            w.u8(IFLA_GRE_TTL, ttl)
            w.u32(IFLA_GRE_FWMARK, fwmark)
        }
        // link_gre6.c sends the ERSPAN version for every kind; link_gre.c only for erspan.
        if family.isV6 || erspan {
            w.u8(IFLA_GRE_ERSPAN_VER, erspanVersion)
            if erspanVersion == 1 && erspanIndex != 0 {
                w.u32(IFLA_GRE_ERSPAN_INDEX, erspanIndex)
            } else if erspanVersion == 2 {
                w.u8(IFLA_GRE_ERSPAN_DIR, erspanDirection)
                w.u16(IFLA_GRE_ERSPAN_HWID, erspanHardwareID)
            }
        }
        encap.encode(.gre, into: &w)
    }

    /// Reads IFLA_GRE_* as the kernel reports them.
    public mutating func decodeGRE(_ d: [Attribute]) {
        decodeShared(d, .gre)
        if let v = d.first(IFLA_GRE_IKEY)?.be32 { ikey = v }
        if let v = d.first(IFLA_GRE_OKEY)?.be32 { okey = v }
        if let v = d.first(IFLA_GRE_IFLAGS)?.u16 { iflags = v }
        if let v = d.first(IFLA_GRE_OFLAGS)?.u16 { oflags = v }
        if let v = d.first(IFLA_GRE_IGNORE_DF)?.u8 { ignoreDF = v != 0 ? 1 : 0 }
        if let v = d.first(IFLA_GRE_FLAGS)?.u32 { flags = v }
        if let v = d.first(IFLA_GRE_ERSPAN_INDEX)?.u32 { erspanIndex = v }
        if let v = d.first(IFLA_GRE_ERSPAN_VER)?.u8 { erspanVersion = v }
        if let v = d.first(IFLA_GRE_ERSPAN_DIR)?.u8 { erspanDirection = v }
        if let v = d.first(IFLA_GRE_ERSPAN_HWID)?.u16 { erspanHardwareID = v }
    }
}
