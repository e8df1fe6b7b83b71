import CLinuxUAPI
import LinkValues
import NetlinkWire

/// The GRE family's kinds (link_gre.c, link_gre6.c), one instance per `GRELink.Variant`: `gre` (RFC 2784 GRE over
/// IPv4, layer 3), `gretap` (carrying Ethernet frames), `erspan` (ERSPAN type II/III mirroring: `erspan_ver`, `erspan`,
/// `erspan_dir`, `erspan_hwid`), and their IPv6 twins `ip6gre`, `ip6gretap`, `ip6erspan`.
public struct GREFamilyKind: LinkKind {
    public let variant: GRELink.Variant
    public init(_ variant: GRELink.Variant) { self.variant = variant }
    public var kind: String { variant.rawValue }
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        try Self.parse(kind, &args, session: session, isAdd: isAdd, into: &w)
    }
    public func describe(_ data: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        Self.describe(data, v6: variant.family.isV6, session: session)
    }
}

/// The GRE family's shared parser and printer (IFLA_GRE_*; the encoder is `GRELink`'s).
extension GREFamilyKind {
    /// Keywords iproute2 matches by prefix (`matches()`), in its order, so abbreviations resolve the same way.
    static func prefixKeywords(v6: Bool) -> [String] {
        ["key", "nokey", "ikey", "noikey", "okey", "nookey", "seq", "noseq", "iseq", "noiseq", "oseq", "nooseq",
         "csum", "nocsum", "icsum", "noicsum", "ocsum", "noocsum"]
            + (v6 ? [] : ["nopmtudisc", "pmtudisc"])
            + ["remote", "local", "dev", "ttl", "hoplimit", "hlim", "tos", "tclass", "dsfield"]
    }

    /// Keywords iproute2 matches exactly.
    static func exactKeywords(v6: Bool, erspan: Bool) -> [String] {
        let common = TunnelEncap.keywords + ["external", "fwmark"]
        let ers = ["erspan", "erspan_ver", "erspan_dir", "erspan_hwid"]
        if v6 { return ["flowlabel", "fl", "dscp"] + common + ["allow-localremote", "noallow-localremote", "encaplimit"] + ers }
        return common + ["ignore-df", "noignore-df"] + (erspan ? ers : [])
    }

    /// `ip link add|set ... type gre|gretap|erspan|ip6gre|ip6gretap|ip6erspan ...`.
    static func parse(_ kind: String, _ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        let family: TunnelFamily = kind.hasPrefix("ip6") ? .gre6 : .gre
        let erspan = kind.hasSuffix("erspan")
        var p = isAdd ? TunnelParameters(family: family)
                      : try TunnelLookup.parameters(for: args, kind: kind, family: family, session: session)
        try p.parseGREWords(&args, session: session, erspan: erspan)
        p.encodeGRE(erspan: erspan, into: &w)
    }

    /// `ip -d link show` text and `info_data` JSON, as gre_print_opt (link_gre.c / link_gre6.c).
    static func describe(_ d: [Attribute], v6: Bool, session: Session) -> (text: String, json: JSONObject) {
        var t: [String] = []
        var j = JSONObject()
        if d.first(IFLA_GRE_COLLECT_METADATA) != nil { t.append("external"); j.set("external", true) }
        let flags = d.first(IFLA_GRE_FLAGS)?.u32 ?? 0
        TunnelDescribe.endpoint("remote", d.first(IFLA_GRE_REMOTE), v6: v6, text: &t, json: &j)
        TunnelDescribe.endpoint("local", d.first(IFLA_GRE_LOCAL), v6: v6, text: &t, json: &j)
        TunnelDescribe.link(d.first(IFLA_GRE_LINK), session: session, text: &t, json: &j)
        if v6 {
            TunnelDescribe.ip6Head(ttl: d.first(IFLA_GRE_TTL), encapLimit: d.first(IFLA_GRE_ENCAP_LIMIT),
                                   flowinfoAttr: d.first(IFLA_GRE_FLOWINFO), flags: flags, text: &t, json: &j)
        } else {
            let ttl = d.first(IFLA_GRE_TTL)?.u8 ?? 0
            j.set("ttl", ttl)
            t.append(ttl == 0 ? "ttl inherit" : "ttl \(ttl)")
            TunnelDescribe.tos(d.first(IFLA_GRE_TOS), text: &t, json: &j)
            if let pm = d.first(IFLA_GRE_PMTUDISC)?.u8 {
                if pm == 0 { t.append("nopmtudisc") }
                j.set("pmtudisc", pm != 0)
            }
            if let i = d.first(IFLA_GRE_IGNORE_DF)?.u8, i != 0 { t.append("ignore-df"); j.set("ignore_df", true) }
        }
        let iflags = d.first(IFLA_GRE_IFLAGS)?.u16 ?? 0
        let oflags = d.first(IFLA_GRE_OFLAGS)?.u16 ?? 0
        if iflags & ISTHMUS_GRE_KEY != 0, let k = d.first(IFLA_GRE_IKEY)?.be32 {
            t.append("ikey \(TunnelValues.dotted(k))"); j.set("ikey", TunnelValues.dotted(k))
        }
        if oflags & ISTHMUS_GRE_KEY != 0, let k = d.first(IFLA_GRE_OKEY)?.be32 {
            t.append("okey \(TunnelValues.dotted(k))"); j.set("okey", TunnelValues.dotted(k))
        }
        for (name, f, bit) in [("iseq", iflags, ISTHMUS_GRE_SEQ), ("oseq", oflags, ISTHMUS_GRE_SEQ),
                               ("icsum", iflags, ISTHMUS_GRE_CSUM), ("ocsum", oflags, ISTHMUS_GRE_CSUM)] where f & bit != 0 {
            t.append(name); j.set(name, true)
        }
        if v6, flags & UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE) != 0 {
            t.append("allow-localremote"); j.set("ip6_tnl_f_allow_local_remote", true)
        }
        if v6, flags & UInt32(IP6_TNL_F_USE_ORIG_FWMARK) != 0 {
            t.append("fwmark inherit"); j.set("ip6_tnl_f_use_orig_fwmark", true)
        } else {
            TunnelDescribe.fwmark(d.first(IFLA_GRE_FWMARK), text: &t, json: &j)
        }
        if let i = d.first(IFLA_GRE_ERSPAN_INDEX)?.u32 { t.append("erspan_index \(i)"); j.set("erspan_index", i) }
        if let v = d.first(IFLA_GRE_ERSPAN_VER)?.u8 { t.append("erspan_ver \(v)"); j.set("erspan_ver", v) }
        if let dir = d.first(IFLA_GRE_ERSPAN_DIR)?.u8 {
            let s = dir == 0 ? "ingress" : "egress"
            t.append("erspan_dir \(s)"); j.set("erspan_dir", s)
        }
        if let h = d.first(IFLA_GRE_ERSPAN_HWID)?.u16 {
            t.append("erspan_hwid 0x" + String(h, radix: 16)); j.set("erspan_hwid", "0x" + String(h, radix: 16))
        }
        TunnelEncap.describe(d, .gre, text: &t, json: &j)
        return (t.joined(separator: " "), j)
    }
}

extension TunnelParameters {
    /// Applies `[no][i|o]key|seq|csum`, shared by `link add type gre...` and `tunnel add`.
    mutating func applyGREFlag(_ kw: String, _ args: inout Arguments) throws -> Bool {
        let key = ISTHMUS_GRE_KEY, seq = ISTHMUS_GRE_SEQ, csum = ISTHMUS_GRE_CSUM
        switch kw {
        case "key": let k = try TunnelValues.key(&args, kw); iflags |= key; oflags |= key; ikey = k; okey = k
        case "nokey": iflags &= ~key; oflags &= ~key; ikey = 0; okey = 0
        case "ikey": ikey = try TunnelValues.key(&args, kw); iflags |= key
        case "noikey": iflags &= ~key; ikey = 0
        case "okey": okey = try TunnelValues.key(&args, kw); oflags |= key
        case "nookey": oflags &= ~key; okey = 0
        case "seq": iflags |= seq; oflags |= seq
        case "noseq": iflags &= ~seq; oflags &= ~seq
        case "iseq": iflags |= seq
        case "noiseq": iflags &= ~seq
        case "oseq": oflags |= seq
        case "nooseq": oflags &= ~seq
        case "csum": iflags |= csum; oflags |= csum
        case "nocsum": iflags &= ~csum; oflags &= ~csum
        case "icsum": iflags |= csum
        case "noicsum": iflags &= ~csum
        case "ocsum": oflags |= csum
        case "noocsum": oflags &= ~csum
        default: return false
        }
        return true
    }

    /// IPv6 `tclass`/`tos`: inherit or a hex traffic class into flowinfo (ip6gre, ip6tnl, ip -6 tunnel).
    mutating func applyTrafficClass(_ args: inout Arguments, _ kw: String) throws {
        let v = try args.value(for: kw, expected: "inherit or a hex traffic class 00..ff")
        let mask = UInt32(IPV6_FLOWINFO_PRIORITY)
        flowinfo &= ~mask
        if v == "inherit" { flags |= UInt32(IP6_TNL_F_USE_ORIG_TCLASS); return }
        guard let tc = TunnelValues.unsigned(v, UInt8.self, base: 16) else {
            throw UsageError.invalid(v, for: kw, expected: "inherit or a hex traffic class 00..ff")
        }
        flowinfo |= (UInt32(tc) << 20) & mask
        flags &= ~UInt32(IP6_TNL_F_USE_ORIG_TCLASS)
    }

    /// IPv6 `flowlabel`: inherit or a hex label 0..fffff.
    mutating func applyFlowLabel(_ args: inout Arguments, _ kw: String) throws {
        let v = try args.value(for: kw, expected: "inherit or a hex flow label 0..fffff")
        let mask = UInt32(IPV6_FLOWINFO_FLOWLABEL)
        flowinfo &= ~mask
        if v == "inherit" { flags |= UInt32(IP6_TNL_F_USE_ORIG_FLOWLABEL); return }
        guard let l = TunnelValues.unsigned(v, UInt32.self, base: 16), l <= mask else {
            throw UsageError.invalid(v, for: kw, expected: "inherit or a hex flow label 0..fffff")
        }
        flowinfo |= l & mask
        flags &= ~UInt32(IP6_TNL_F_USE_ORIG_FLOWLABEL)
    }

    /// IPv6 `encaplimit`: none or 0..255.
    mutating func applyEncapLimit(_ args: inout Arguments, _ kw: String) throws {
        let v = try args.value(for: kw, expected: "none or 0..255")
        if v == "none" { flags |= UInt32(IP6_TNL_F_IGN_ENCAP_LIMIT); return }
        guard let e = TunnelValues.unsigned(v, UInt8.self) else { throw UsageError.invalid(v, for: kw, expected: "none or 0..255") }
        encapLimit = e
        flags &= ~UInt32(IP6_TNL_F_IGN_ENCAP_LIMIT)
    }

    /// IPv6 `fwmark`: inherit (copy the inner packet's) or a number.
    mutating func applyIP6FirewallMark(_ args: inout Arguments, _ kw: String) throws {
        if args.peek == "inherit" {
            _ = args.next()
            flags |= UInt32(IP6_TNL_F_USE_ORIG_FWMARK); fwmark = 0
        } else {
            fwmark = try TunnelValues.u32(&args, kw)
            flags &= ~UInt32(IP6_TNL_F_USE_ORIG_FWMARK)
        }
    }

    /// Every keyword after `type gre...`, as gre_parse_opt / link_gre6.c's gre_parse_opt.
    mutating func parseGREWords(_ args: inout Arguments, session: Session, erspan: Bool) throws {
        let v6 = family.isV6
        let prefixed = GREFamilyKind.prefixKeywords(v6: v6)
        let exact = GREFamilyKind.exactKeywords(v6: v6, erspan: erspan)
        let all = prefixed + exact
        while let word = args.next() {
            guard let kw = exact.contains(word) ? word : Arguments.match(word, prefixed) else {
                throw args.unknown(word, validChoices: all)
            }
            if try applyGREFlag(kw, &args) { continue }
            if try encap.parse(kw, &args) { continue }
            switch kw {
            case "nopmtudisc": pmtudisc = 0
            case "pmtudisc": pmtudisc = 1
            case "remote": remote = try endpoint(try args.value(for: kw, expected: addressKind), for: kw)
            case "local": local = try endpoint(try args.value(for: kw, expected: addressKind), for: kw)
            case "dev": link = try TunnelParameters.device(&args, kw, session)
            case "ttl", "hoplimit", "hlim": ttl = try TunnelValues.ttl(&args, kw)
            case "tos", "tclass", "dsfield":
                if v6 { try applyTrafficClass(&args, kw) } else { tos = try TunnelValues.tos(&args, kw) }
            case "flowlabel", "fl": try applyFlowLabel(&args, kw)
            case "dscp":
                let v = try args.value(for: kw, expected: "inherit")
                guard v == "inherit" else { throw UsageError.invalid(v, for: kw, expected: "inherit") }
                flags |= UInt32(IP6_TNL_F_RCV_DSCP_COPY)
            case "external": external = true
            case "ignore-df": ignoreDF = 1
            case "noignore-df": ignoreDF = 2
            case "fwmark":
                if v6 { try applyIP6FirewallMark(&args, kw) } else { fwmark = try TunnelValues.u32(&args, kw) }
            case "allow-localremote": flags |= UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE)
            case "noallow-localremote": flags &= ~UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE)
            case "encaplimit": try applyEncapLimit(&args, kw)
            case "erspan":
                let v = try args.value(for: kw, expected: "an index 1..1048575")
                guard let i = TunnelValues.unsigned(v, UInt32.self), i != 0, i < 1 << 20 else {
                    throw UsageError.invalid(v, for: kw, expected: "an index 1..1048575 (20 bits)")
                }
                erspanIndex = i
            case "erspan_ver":
                let v = try args.value(for: kw, expected: "0, 1 or 2")
                guard let n = TunnelValues.unsigned(v, UInt8.self), n <= 2 else { throw UsageError.invalid(v, for: kw, expected: "0, 1 or 2") }
                erspanVersion = n
            case "erspan_dir": erspanDirection = try args.choice(for: kw, ["ingress", "egress"]) == "ingress" ? 0 : 1
            case "erspan_hwid":
                let v = try args.value(for: kw, expected: "a number 0..65535")
                guard let h = TunnelValues.unsigned(v, UInt16.self) else { throw UsageError.invalid(v, for: kw, expected: "a number 0..65535") }
                erspanHardwareID = h
            default: throw args.unknown(word, validChoices: all)
            }
        }
        if !v6 { try checkMulticastRemote() }
    }

    /// A multicast remote needs a local address, and keys default to the group (as iproute2 does for GRE/IPv4).
    mutating func checkMulticastRemote() throws {
        guard let r = remote, r.isMulticast, let group = r.v4Value else { return }
        if ikey == 0 { ikey = group; iflags |= ISTHMUS_GRE_KEY }
        if okey == 0 { okey = group; oflags |= ISTHMUS_GRE_KEY }
        if local == nil { throw UsageError("a broadcast tunnel (multicast remote \(r)) requires a source address: add \"local ADDR\"") }
    }
}
