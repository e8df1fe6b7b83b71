import CLinuxUAPI
import NetlinkWire

/// `type vxlan` (RFC 7348): keywords and attribute order as iproute2's iplink_vxlan.c — most attributes in the
/// order given, then ID, LOCAL, GROUP/REMOTE, LEARNING and PORT last.
public struct VXLANKind: LinkKind {
    public let kind = "vxlan"
    public init() {}
    static let keywords = ["id", "vni", "group", "remote", "local", "dev", "ttl", "hoplimit", "tos", "dsfield", "df",
                           "flowlabel", "label", "ageing", "maxaddress", "srcport", "port", "dstport", "learning", "nolearning",
                           "proxy", "noproxy", "rsc", "norsc", "l2miss", "nol2miss", "l3miss", "nol3miss", "udpcsum", "noudpcsum",
                           "udp6zerocsumtx", "noudp6zerocsumtx", "udp6zerocsumrx", "noudp6zerocsumrx", "remcsumtx", "noremcsumtx",
                           "remcsumrx", "noremcsumrx", "external", "noexternal", "gbp", "gpe"]
    static let boolKeywords: [String: (Int32, UInt8)] = [
        "proxy": (Int32(IFLA_VXLAN_PROXY), 1), "noproxy": (Int32(IFLA_VXLAN_PROXY), 0),
        "rsc": (Int32(IFLA_VXLAN_RSC), 1), "norsc": (Int32(IFLA_VXLAN_RSC), 0),
        "l2miss": (Int32(IFLA_VXLAN_L2MISS), 1), "nol2miss": (Int32(IFLA_VXLAN_L2MISS), 0),
        "l3miss": (Int32(IFLA_VXLAN_L3MISS), 1), "nol3miss": (Int32(IFLA_VXLAN_L3MISS), 0),
        "udpcsum": (Int32(IFLA_VXLAN_UDP_CSUM), 1), "noudpcsum": (Int32(IFLA_VXLAN_UDP_CSUM), 0),
        "udp6zerocsumtx": (Int32(IFLA_VXLAN_UDP_ZERO_CSUM6_TX), 1), "noudp6zerocsumtx": (Int32(IFLA_VXLAN_UDP_ZERO_CSUM6_TX), 0),
        "udp6zerocsumrx": (Int32(IFLA_VXLAN_UDP_ZERO_CSUM6_RX), 1), "noudp6zerocsumrx": (Int32(IFLA_VXLAN_UDP_ZERO_CSUM6_RX), 0),
        "remcsumtx": (Int32(IFLA_VXLAN_REMCSUM_TX), 1), "noremcsumtx": (Int32(IFLA_VXLAN_REMCSUM_TX), 0),
        "remcsumrx": (Int32(IFLA_VXLAN_REMCSUM_RX), 1), "noremcsumrx": (Int32(IFLA_VXLAN_REMCSUM_RX), 0),
    ]

    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        var vni: UInt32?
        var local: IPAddress?, remote: IPAddress?
        var learning: UInt8 = 1, learningGiven = false, metadata = false
        var dstport: UInt16?
        var gpe = false
        var seen = Set<String>()
        func once(_ key: String) throws {
            if !seen.insert(key).inserted { throw UsageError("duplicate \"\(key)\" in \"\(args.context)\"") }
        }
        while let word = args.next() {
            guard let kw = Arguments.match(word, Self.keywords) else { throw args.unknown(word, validChoices: Self.keywords) }
            switch kw {
            case "id", "vni":
                try once("id")
                vni = try args.integer(for: kw, UInt32.self, range: 0...0xFF_FFFF)
            case "group", "remote":
                try once("remote")
                let v = try args.value(for: kw, expected: "an IP address")
                guard let a = IPAddress(v) else { throw UsageError.invalid(v, for: kw, expected: "an IP address") }
                if kw == "group" && !a.isMulticast { throw UsageError.invalid(v, for: "group", expected: "a multicast address") }
                if kw == "remote" && a.isMulticast { throw UsageError.invalid(v, for: "remote", expected: "a unicast address (use group for multicast)") }
                remote = a
            case "local":
                try once("local")
                let v = try args.value(for: kw, expected: "an IP address")
                guard let a = IPAddress(v), !a.isMulticast else { throw UsageError.invalid(v, for: "local", expected: "a unicast IP address") }
                local = a
            case "dev":
                try once("dev")
                let d = try args.value(for: "dev", expected: "the underlay interface")
                w.u32(IFLA_VXLAN_LINK, UInt32(bitPattern: try session.ifindex(d)))
            case "ttl", "hoplimit":
                try once("ttl")
                let v = try args.value(for: kw, expected: "1..255 or inherit")
                if v == "inherit" { w.u8(IFLA_VXLAN_TTL, 0) }
                else {
                    guard let t = Arguments.parseInteger(v, UInt32.self), t <= 255 else { throw UsageError.invalid(v, for: kw, expected: "1..255 or inherit") }
                    w.u8(IFLA_VXLAN_TTL, UInt8(t))
                }
            case "tos", "dsfield":
                try once("tos")
                let v = try args.value(for: kw, expected: "a number or inherit")
                if v == "inherit" { w.u8(IFLA_VXLAN_TOS, 1) }
                else {
                    guard let t = UInt8(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: 16) else { throw UsageError.invalid(v, for: kw, expected: "a TOS value in hex or inherit") }
                    w.u8(IFLA_VXLAN_TOS, t)
                }
            case "df":
                try once("df")
                let v = try args.choice(for: "df", ["unset", "set", "inherit"])
                w.u8(IFLA_VXLAN_DF, v == "unset" ? UInt8(VXLAN_DF_UNSET.rawValue) : v == "set" ? UInt8(VXLAN_DF_SET.rawValue) : UInt8(VXLAN_DF_INHERIT.rawValue))
            case "flowlabel", "label":
                try once("flowlabel")
                let l = try args.integer(for: kw, UInt32.self, range: 0...0xF_FFFF)
                w.be32(IFLA_VXLAN_LABEL, l)
            case "ageing":
                try once("ageing")
                let v = try args.value(for: kw, expected: "seconds or none")
                guard let a = v == "none" ? 0 : Arguments.parseInteger(v, UInt32.self) else { throw UsageError.invalid(v, for: kw, expected: "seconds or none") }
                w.u32(IFLA_VXLAN_AGEING, a)
            case "maxaddress":
                try once("maxaddress")
                let v = try args.value(for: kw, expected: "a number or unlimited")
                guard let a = v == "unlimited" ? 0 : Arguments.parseInteger(v, UInt32.self) else { throw UsageError.invalid(v, for: kw, expected: "a number or unlimited") }
                w.u32(IFLA_VXLAN_LIMIT, a)
            case "srcport", "port":
                try once("srcport")
                let lo = try args.integer(for: "srcport", UInt16.self)
                let hi = try args.integer(for: "srcport", UInt16.self)
                if lo != 0 || hi != 0 {
                    var b: [UInt8] = []
                    Bytes.appendBE(lo, to: &b); Bytes.appendBE(hi, to: &b)
                    w.raw(IFLA_VXLAN_PORT_RANGE, b)
                }
            case "dstport":
                try once("dstport")
                dstport = try args.integer(for: "dstport", UInt16.self)
            case "learning", "nolearning":
                try once("learning")
                learning = kw == "learning" ? 1 : 0
                learningGiven = true
            case "external", "noexternal":
                try once("external")
                metadata = kw == "external"
                if metadata { learning = 0 }
                w.u8(IFLA_VXLAN_COLLECT_METADATA, metadata ? 1 : 0)
            case "gbp": try once(kw); w.flag(IFLA_VXLAN_GBP)
            case "gpe": try once(kw); gpe = true; w.flag(IFLA_VXLAN_GPE)
            default:
                let (type, value) = Self.boolKeywords[kw]!
                try once(kw.hasPrefix("no") ? String(kw.dropFirst(2)) : kw)
                w.u8(type, value)
            }
        }
        if metadata && vni != nil { throw UsageError("vxlan: \"external\" and \"id\" cannot both be given") }
        if !metadata && vni == nil && isAdd { throw UsageError("vxlan: missing \"id VNI\" (0-16777215)") }
        if let r = remote, r.isMulticast, !seen.contains("dev") { throw UsageError("vxlan: \"group\" needs \"dev\" (the underlay interface)") }
        if let l = local, let r = remote, l.isV6 != r.isV6 { throw UsageError("vxlan: local \(l) and remote \(r) are of different address families") }
        if dstport == nil && gpe { dstport = 4790 }
        if let vni { w.u32(IFLA_VXLAN_ID, vni) }
        if let local { if local.isV6 { w.raw(IFLA_VXLAN_LOCAL6, local.bytes) } else { w.raw(IFLA_VXLAN_LOCAL, local.bytes) } }
        if let remote { if remote.isV6 { w.raw(IFLA_VXLAN_GROUP6, remote.bytes) } else { w.raw(IFLA_VXLAN_GROUP, remote.bytes) } }
        if isAdd || learningGiven { w.u8(IFLA_VXLAN_LEARNING, learning) }
        if let dstport, dstport != 0 { w.be16(IFLA_VXLAN_PORT, dstport) }
    }

    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var t: [String] = []
        var j = JSONObject()
        if d.first(IFLA_VXLAN_COLLECT_METADATA)?.u8 == 1 { j.set("external", true); return ("external", j) }
        guard let vni = d.first(IFLA_VXLAN_ID)?.u32 else { return ("", j) }
        t.append("id \(vni)"); j.set("id", vni)
        if let g = d.first(IFLA_VXLAN_GROUP).flatMap({ IPAddress(bytes: $0.data) }), !g.isUnspecified {
            let k = g.isMulticast ? "group" : "remote"
            t.append("\(k) \(g)"); j.set(k, g.description)
        } else if let g = d.first(IFLA_VXLAN_GROUP6).flatMap({ IPAddress(bytes: $0.data) }), !g.isUnspecified {
            t.append("\(g.isMulticast ? "group" : "remote") \(g)"); j.set(g.isMulticast ? "group6" : "remote6", g.description)
        }
        if let l = d.first(IFLA_VXLAN_LOCAL).flatMap({ IPAddress(bytes: $0.data) }), !l.isUnspecified {
            t.append("local \(l)"); j.set("local", l.description)
        } else if let l = d.first(IFLA_VXLAN_LOCAL6).flatMap({ IPAddress(bytes: $0.data) }), !l.isUnspecified {
            t.append("local \(l)"); j.set("local6", l.description)
        }
        if let link = d.first(IFLA_VXLAN_LINK)?.i32, link != 0 {
            let n = session.ifname(link) ?? "if\(link)"
            t.append("dev \(n)"); j.set("link", n)
        }
        if let r = d.first(IFLA_VXLAN_PORT_RANGE), let lo = Bytes.loadBE(UInt16.self, from: r.data), let hi = Bytes.loadBE(UInt16.self, from: r.data, at: 2) {
            t.append("srcport \(lo) \(hi)")
            var pr = JSONObject(); pr.set("low", lo); pr.set("high", hi); j.set("port_range", pr.json)
        }
        if let p = d.first(IFLA_VXLAN_PORT)?.be16 { t.append("dstport \(p)"); j.set("port", p) }
        if let l = d.first(IFLA_VXLAN_LEARNING)?.u8 { j.set("learning", l != 0); if l == 0 { t.append("nolearning") } }
        for (k, a) in [("proxy", IFLA_VXLAN_PROXY), ("rsc", IFLA_VXLAN_RSC), ("l2miss", IFLA_VXLAN_L2MISS), ("l3miss", IFLA_VXLAN_L3MISS)] {
            if d.first(a)?.u8 == 1 { t.append(k); j.set(k, true) }
        }
        if let tos = d.first(IFLA_VXLAN_TOS)?.u8, tos != 0 {
            t.append(tos == 1 ? "tos inherit" : "tos 0x\(String(tos, radix: 16))"); j.set("tos", "0x\(String(tos, radix: 16))")
        }
        let ttl = d.first(IFLA_VXLAN_TTL)?.u8 ?? 0
        t.append(ttl == 0 ? "ttl auto" : "ttl \(ttl)"); j.set("ttl", ttl)
        if let df = d.first(IFLA_VXLAN_DF)?.u8 {
            let s = df == UInt8(VXLAN_DF_SET.rawValue) ? "set" : df == UInt8(VXLAN_DF_INHERIT.rawValue) ? "inherit" : "unset"
            // ip prints the default ("unset") in JSON only.
            if s != "unset" { t.append("df \(s)") }
            j.set("df", s)
        }
        if let l = d.first(IFLA_VXLAN_LABEL)?.be32, l != 0 { t.append("flowlabel 0x\(String(l, radix: 16))"); j.set("label", "0x\(String(l, radix: 16))") }
        if let a = d.first(IFLA_VXLAN_AGEING)?.u32 { t.append(a == 0 ? "ageing none" : "ageing \(a)"); j.set("ageing", a) }
        if let m = d.first(IFLA_VXLAN_LIMIT)?.u32, m != 0 { t.append("maxaddr \(m)"); j.set("limit", m) }
        if let c = d.first(IFLA_VXLAN_UDP_CSUM)?.u8 { t.append(c != 0 ? "udpcsum" : "noudpcsum"); j.set("udp_csum", c != 0) }
        if let c = d.first(IFLA_VXLAN_UDP_ZERO_CSUM6_TX)?.u8 { t.append(c != 0 ? "udp6zerocsumtx" : "noudp6zerocsumtx"); j.set("udp_zero_csum6_tx", c != 0) }
        if let c = d.first(IFLA_VXLAN_UDP_ZERO_CSUM6_RX)?.u8 { t.append(c != 0 ? "udp6zerocsumrx" : "noudp6zerocsumrx"); j.set("udp_zero_csum6_rx", c != 0) }
        if d.first(IFLA_VXLAN_GBP) != nil { t.append("gbp"); j.set("gbp", true) }
        if d.first(IFLA_VXLAN_GPE) != nil { t.append("gpe"); j.set("gpe", true) }
        return (t.joined(separator: " "), j)
    }
}
