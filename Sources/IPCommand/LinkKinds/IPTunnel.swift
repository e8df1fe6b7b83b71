import CLinuxUAPI
import LinkValues
import NetlinkWire

/// The IP-in-IP kinds, one instance per `IPTunnelLink.Variant`: `ipip` (IPv4, or MPLS, or either: `mode any`, in IPv4,
/// as iproute2's link_iptnl.c), `sit` (IPv6 or IPv4/MPLS in IPv4, with `isatap` and 6rd prefixes) and `ip6tnl` (IPv6 or
/// IPv4 in IPv6, RFC 2473, as link_ip6tnl.c).
public struct IPTunnelFamilyKind: LinkKind {
    public let variant: IPTunnelLink.Variant
    public init(_ variant: IPTunnelLink.Variant) { self.variant = variant }
    public var kind: String { variant.rawValue }
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        try Self.parse(kind, &args, session: session, isAdd: isAdd, into: &w)
    }
    public func describe(_ data: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        variant == .ip6tnl ? Self.describe6(data, session: session) : Self.describe(data, session: session)
    }
}

/// The IFLA_IPTUN_* family's shared parser and printer (the encoder is `IPTunnelLink`'s).
extension IPTunnelFamilyKind {
    /// `mode` words: (word, inner protocol). sit also takes ip6ip / ipv6/ipv4.
    static func modes(_ kind: String) -> [(String, UInt8)] {
        if kind == "ip6tnl" {
            return [("ipv6/ipv6", UInt8(IPPROTO_IPV6)), ("ip6ip6", UInt8(IPPROTO_IPV6)),
                    ("ip/ipv6", UInt8(IPPROTO_IPIP)), ("ipv4/ipv6", UInt8(IPPROTO_IPIP)), ("ipip6", UInt8(IPPROTO_IPIP)),
                    ("ip4ip6", UInt8(IPPROTO_IPIP)), ("any/ipv6", 0), ("any", 0)]
        }
        var m: [(String, UInt8)] = []
        if kind == "sit" { m += [("ipv6/ipv4", UInt8(IPPROTO_IPV6)), ("ip6ip", UInt8(IPPROTO_IPV6))] }
        return m + [("ipv4/ipv4", UInt8(IPPROTO_IPIP)), ("ipip", UInt8(IPPROTO_IPIP)), ("ip4ip4", UInt8(IPPROTO_IPIP)),
                    ("mpls/ipv4", UInt8(IPPROTO_MPLS)), ("mplsip", UInt8(IPPROTO_MPLS)), ("any/ipv4", 0), ("any", 0)]
    }

    /// Keywords matched exactly; `dev` and `dsfield` also by prefix (iproute2's `matches()`).
    static func exactKeywords(_ kind: String) -> [String] {
        if kind == "ip6tnl" {
            return ["mode", "remote", "local", "ttl", "hoplimit", "hlim", "encaplimit", "tos", "tclass", "tc", "flowlabel", "fl",
                    "dscp", "fwmark", "allow-localremote", "noallow-localremote"] + TunnelEncap.keywords + ["external"]
        }
        return ["mode", "remote", "local", "ttl", "hoplimit", "hlim", "tos", "tclass", "tc", "nopmtudisc", "pmtudisc"]
            + (kind == "sit" ? ["isatap"] : []) + TunnelEncap.keywords
            + ["external", "6rd-prefix", "6rd-relay_prefix", "6rd-reset", "fwmark"]
    }
    static let prefixKeywords = ["dev", "dsfield"]

    /// `ip link add|set ... type ipip|sit|ip6tnl ...`.
    static func parse(_ kind: String, _ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        let family: TunnelFamily = kind == "ip6tnl" ? .ip6tnl : .iptnl
        var p = isAdd ? TunnelParameters(family: family)
                      : try TunnelLookup.parameters(for: args, kind: kind, family: family, session: session)
        try p.parseIPTunnelWords(&args, kind: kind, session: session)
        if family == .ip6tnl { p.encodeIP6Tunnel(into: &w) } else { p.encodeIPTunnel(sit: kind == "sit", into: &w) }
    }

    /// What iptunnel_print_opt and ip6tunnel_print_opt print first: external, the inner protocol's name from
    /// `protos` (nothing for another), remote, local and the underlay device.
    static func describeHead(_ d: [Attribute], protos: [(UInt8, String)], v6: Bool, session: Session,
                             text t: inout [String], json j: inout JSONObject) {
        if d.first(IFLA_IPTUN_COLLECT_METADATA) != nil { t.append("external"); j.set("external", true) }
        if let p = d.first(IFLA_IPTUN_PROTO)?.u8, let name = protos.first(where: { $0.0 == p })?.1 {
            t.append(name); j.set("proto", name)
        }
        TunnelDescribe.endpoint("remote", d.first(IFLA_IPTUN_REMOTE), v6: v6, text: &t, json: &j)
        TunnelDescribe.endpoint("local", d.first(IFLA_IPTUN_LOCAL), v6: v6, text: &t, json: &j)
        TunnelDescribe.link(d.first(IFLA_IPTUN_LINK), session: session, text: &t, json: &j)
    }

    /// ipip/sit `-d` text and JSON, as iptunnel_print_opt.
    static func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var t: [String] = []
        var j = JSONObject()
        let protos = [(UInt8(IPPROTO_IPIP), "ipip"), (UInt8(IPPROTO_IPV6), "ip6ip"), (UInt8(IPPROTO_MPLS), "mplsip"), (0, "any")]
        describeHead(d, protos: protos, v6: false, session: session, text: &t, json: &j)
        let ttl = d.first(IFLA_IPTUN_TTL)?.u8 ?? 0
        j.set("ttl", ttl)
        t.append(ttl == 0 ? "ttl inherit" : "ttl \(ttl)")
        TunnelDescribe.tos(d.first(IFLA_IPTUN_TOS), text: &t, json: &j)
        let pm = (d.first(IFLA_IPTUN_PMTUDISC)?.u8 ?? 0) != 0
        t.append(pm ? "pmtudisc" : "nopmtudisc"); j.set("pmtudisc", pm)
        if let f = d.first(IFLA_IPTUN_FLAGS)?.u16, f & UInt16(SIT_ISATAP) != 0 { t.append("isatap"); j.set("isatap", true) }
        if let len = d.first(IFLA_IPTUN_6RD_PREFIXLEN)?.u16, len != 0,
           let pa = d.first(IFLA_IPTUN_6RD_PREFIX), pa.data.count == 16, let prefix = IPAddress(bytes: pa.data) {
            t.append("6rd-prefix \(prefix)/\(len)")
            j.set("prefix", prefix.description); j.set("prefixlen", Int(len))
            if let ra = d.first(IFLA_IPTUN_6RD_RELAY_PREFIX), ra.data.count == 4, let relay = IPAddress(bytes: ra.data),
               !relay.isUnspecified {
                let rlen = d.first(IFLA_IPTUN_6RD_RELAY_PREFIXLEN)?.u16 ?? 0
                t.append("6rd-relay_prefix \(relay)/\(rlen)")
                j.set("relay_prefix", relay.description); j.set("relay_prefixlen", Int(rlen))
            }
        }
        TunnelDescribe.fwmark(d.first(IFLA_IPTUN_FWMARK), text: &t, json: &j)
        TunnelEncap.describe(d, .ipTunnel, text: &t, json: &j)
        return (t.joined(separator: " "), j)
    }

    /// ip6tnl `-d` text and JSON, as ip6tunnel_print_opt.
    static func describe6(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var t: [String] = []
        var j = JSONObject()
        let flags = d.first(IFLA_IPTUN_FLAGS)?.u32 ?? 0
        describeHead(d, protos: [(UInt8(IPPROTO_IPIP), "ipip6"), (UInt8(IPPROTO_IPV6), "ip6ip6"), (0, "any")], v6: true,
                     session: session, text: &t, json: &j)
        TunnelDescribe.ip6Head(ttl: d.first(IFLA_IPTUN_TTL), encapLimit: d.first(IFLA_IPTUN_ENCAP_LIMIT),
                               flowinfoAttr: d.first(IFLA_IPTUN_FLOWINFO), flags: flags, text: &t, json: &j)
        if flags & UInt32(IP6_TNL_F_MIP6_DEV) != 0 { t.append("mip6"); j.set("ip6_tnl_f_mip6_dev", true) }
        if flags & UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE) != 0 { t.append("allow-localremote"); j.set("ip6_tnl_f_allow_local_remote", true) }
        if flags & UInt32(IP6_TNL_F_USE_ORIG_FWMARK) != 0 {
            t.append("fwmark inherit"); j.set("ip6_tnl_f_use_orig_fwmark", true)
        } else {
            TunnelDescribe.fwmark(d.first(IFLA_IPTUN_FWMARK), text: &t, json: &j)
        }
        TunnelEncap.describe(d, .ipTunnel, text: &t, json: &j)
        return (t.joined(separator: " "), j)
    }
}

extension TunnelParameters {
    /// Every keyword after `type ipip|sit|ip6tnl`, as iptunnel_parse_opt / ip6tunnel_parse_opt.
    mutating func parseIPTunnelWords(_ args: inout Arguments, kind: String, session: Session) throws {
        let v6 = family.isV6
        let exact = IPTunnelFamilyKind.exactKeywords(kind)
        let all = exact + IPTunnelFamilyKind.prefixKeywords
        while let word = args.next() {
            guard let kw = exact.contains(word) ? word : Arguments.match(word, IPTunnelFamilyKind.prefixKeywords) else {
                throw args.unknown(word, validChoices: all)
            }
            if try encap.parse(kw, &args) { continue }
            switch kw {
            case "mode":
                let modes = IPTunnelFamilyKind.modes(kind)
                let v = try args.value(for: kw, expected: "one of " + modes.map(\.0).joined(separator: ", "))
                guard let m = modes.first(where: { $0.0 == v }) else {
                    throw UsageError.invalid(v, for: kw, expected: "one of " + modes.map(\.0).joined(separator: ", "))
                }
                proto = m.1
            case "remote": remote = try endpoint(try args.value(for: kw, expected: addressKind), for: kw)
            case "local": local = try endpoint(try args.value(for: kw, expected: addressKind), for: kw)
            case "dev": link = try TunnelParameters.device(&args, kw, session)
            case "ttl", "hoplimit", "hlim": ttl = try TunnelValues.ttl(&args, kw)
            case "tos", "tclass", "tc", "dsfield":
                if v6 { try applyTrafficClass(&args, kw) } else { tos = try TunnelValues.tos(&args, kw) }
            case "nopmtudisc": pmtudisc = 0
            case "pmtudisc": pmtudisc = 1
            case "isatap": sitFlags |= UInt16(SIT_ISATAP)
            case "external": external = true
            case "encaplimit": try applyEncapLimit(&args, kw)
            case "flowlabel", "fl": try applyFlowLabel(&args, kw)
            case "dscp":
                let v = try args.value(for: kw, expected: "inherit")
                guard v == "inherit" else { throw UsageError.invalid(v, for: kw, expected: "inherit") }
                flags |= UInt32(IP6_TNL_F_RCV_DSCP_COPY)
            case "allow-localremote": flags |= UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE)
            case "noallow-localremote": flags &= ~UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE)
            case "fwmark":
                if v6 { try applyIP6FirewallMark(&args, kw) } else { fwmark = try TunnelValues.u32(&args, kw) }
            case "6rd-prefix":
                let v = try args.value(for: kw, expected: "an IPv6 prefix")
                guard let p = IPPrefix(v), p.address.isV6 else { throw UsageError.invalid(v, for: kw, expected: "an IPv6 prefix like 2001:db8::/32") }
                sixrdPrefix = p
            case "6rd-relay_prefix":
                let v = try args.value(for: kw, expected: "an IPv4 prefix")
                guard let p = IPPrefix(v), !p.address.isV6 else { throw UsageError.invalid(v, for: kw, expected: "an IPv4 prefix like 192.0.2.0/24") }
                sixrdRelayPrefix = p
            case "6rd-reset":
                sixrdPrefix = IPPrefix("2002::/16")
                sixrdRelayPrefix = nil
            default: throw args.unknown(word, validChoices: all)
            }
        }
        if !v6 && ttl != 0 && pmtudisc == 0 {
            throw UsageError("\"ttl \(ttl)\" and \"nopmtudisc\" are incompatible (a fixed TTL needs path MTU discovery)")
        }
    }
}
