import CLinuxUAPI
import LinkValues
import Netlink
import NetlinkWire

extension LinkKinds {
    /// gre, gretap, erspan, ip6gre, ip6gretap, ip6erspan, ipip, sit, ip6tnl (helper-owned file).
    static let tunnelKinds: [any LinkKind] = GRELink.Variant.allCases.map { GREFamilyKind($0) }
        + IPTunnelLink.Variant.allCases.map { IPTunnelFamilyKind($0) }
}


extension TunnelEncap {
    /// Consumes one encap keyword (and its value); false when `word` is not one.
    mutating func parse(_ word: String, _ args: inout Arguments) throws -> Bool {
        switch word {
        case "noencap": type = UInt16(TUNNEL_ENCAP_NONE.rawValue)
        case "encap":
            switch try args.choice(for: "encap", ["fou", "gue", "none"]) {
            case "fou": type = UInt16(TUNNEL_ENCAP_FOU.rawValue)
            case "gue": type = UInt16(TUNNEL_ENCAP_GUE.rawValue)
            default: type = UInt16(TUNNEL_ENCAP_NONE.rawValue)
            }
        case "encap-sport":
            let v = try args.value(for: word, expected: "auto or a port number")
            if v == "auto" { sport = 0 }
            else {
                guard let p = TunnelValues.unsigned(v, UInt16.self) else { throw UsageError.invalid(v, for: word, expected: "auto or a port number 0..65535") }
                sport = p
            }
        case "encap-dport":
            let v = try args.value(for: word, expected: "a port number")
            guard let p = TunnelValues.unsigned(v, UInt16.self) else { throw UsageError.invalid(v, for: word, expected: "a port number 0..65535") }
            dport = p
        case "encap-csum": flags |= UInt16(TUNNEL_ENCAP_FLAG_CSUM)
        case "noencap-csum": flags &= ~UInt16(TUNNEL_ENCAP_FLAG_CSUM)
        case "encap-udp6-csum": flags |= UInt16(TUNNEL_ENCAP_FLAG_CSUM6)
        case "noencap-udp6-csum": flags &= ~UInt16(TUNNEL_ENCAP_FLAG_CSUM6)
        case "encap-remcsum": flags |= UInt16(TUNNEL_ENCAP_FLAG_REMCSUM)
        case "noencap-remcsum": flags &= ~UInt16(TUNNEL_ENCAP_FLAG_REMCSUM)
        default: return false
        }
        return true
    }

    /// `encap fou encap-sport auto encap-dport 5555 noencap-csum ...` and the JSON `encap` object, as iproute2's
    /// tnl_print_encap (nothing when the type attribute is absent or none).
    static func describe(_ d: [Attribute], _ types: AttributeTypes, text t: inout [String], json j: inout JSONObject) {
        guard let type = d.first(types.type)?.u16, type != UInt16(TUNNEL_ENCAP_NONE.rawValue) else { return }
        let flags = d.first(types.flags)?.u16 ?? 0
        let sport = d.first(types.sport)?.be16 ?? 0
        let dport = d.first(types.dport)?.be16 ?? 0
        var e = JSONObject()
        switch type {
        case UInt16(TUNNEL_ENCAP_FOU.rawValue): t.append("encap fou"); e.set("type", "fou")
        case UInt16(TUNNEL_ENCAP_GUE.rawValue): t.append("encap gue"); e.set("type", "gue")
        default: t.append("encap unknown"); e.set("type", JSON.null)
        }
        e.set("sport", sport); e.set("dport", dport)
        t.append(sport == 0 ? "encap-sport auto" : "encap-sport \(sport)")
        t.append("encap-dport \(dport)")
        for (name, bit, key) in [("csum", TUNNEL_ENCAP_FLAG_CSUM, "csum"), ("csum6", TUNNEL_ENCAP_FLAG_CSUM6, "csum6"),
                                 ("remcsum", TUNNEL_ENCAP_FLAG_REMCSUM, "remcsum")] {
            let on = flags & UInt16(bit) != 0
            t.append(on ? "encap-\(name)" : "noencap-\(name)")
            e.set(key, on)
        }
        j.set("encap", e.json)
    }
}

extension TunnelParameters {
    /// The outer address family's name for messages.
    var addressKind: String { family.isV6 ? "an IPv6 address or any" : "an IPv4 address or any" }

    /// Parses `local`/`remote` values: an address of the tunnel's family, or `any` (unset).
    func endpoint(_ v: String, for keyword: String) throws -> IPAddress? {
        if v == "any" || v == "default" { return nil }
        guard let a = IPAddress(v), a.isV6 == family.isV6 else { throw UsageError.invalid(v, for: keyword, expected: addressKind) }
        return a.isUnspecified ? nil : a
    }

    /// Underlay device index for `dev NAME`.
    static func device(_ args: inout Arguments, _ keyword: String, _ session: Session) throws -> UInt32 {
        let d = try args.interfaceName(for: keyword, expected: "the underlay interface name")
        return UInt32(bitPattern: try session.ifindex(d))
    }
}

/// Number and name parsing with iproute2's rules (get_u8/get_u32 with base 0 accept 0x hex and 0 octal; TOS names
/// come from rt_dsfield).
enum TunnelValues {
    /// iproute2's DEFAULT_TNL_HOP_LIMIT for ip6gre/ip6tnl (a tool default, not a kernel constant).
    static let defaultHopLimit = TunnelParameters.defaultHopLimit

    /// strtoul-like parse with base 0 (or a forced base), rejecting trailing junk and out-of-range values.
    static func unsigned<T: FixedWidthInteger & UnsignedInteger>(_ s: String, _: T.Type, base: Int = 0) -> T? {
        var body = Substring(s)
        var radix = base
        if radix == 0 || radix == 16, body.hasPrefix("0x") || body.hasPrefix("0X") {
            body = body.dropFirst(2); radix = 16
        } else if radix == 0, body.count > 1, body.hasPrefix("0") {
            body = body.dropFirst(); radix = 8
        } else if radix == 0 { radix = 10 }
        guard !body.isEmpty else { return nil }
        return T(body, radix: radix)
    }

    /// /etc/iproute2/rt_dsfield as Debian ships it.
    static let dsfieldNames: [(String, UInt8)] = [
        ("default", 0x00), ("AF11", 0x28), ("AF12", 0x30), ("AF13", 0x38), ("AF21", 0x48), ("AF22", 0x50), ("AF23", 0x58),
        ("AF31", 0x68), ("AF32", 0x70), ("AF33", 0x78), ("AF41", 0x88), ("AF42", 0x90), ("AF43", 0x98), ("CS1", 0x20),
        ("CS2", 0x40), ("CS3", 0x60), ("CS4", 0x80), ("CS5", 0xA0), ("CS6", 0xC0), ("CS7", 0xE0), ("EF", 0xB8),
    ]

    /// rtnl_dsfield_a2n: a name from rt_dsfield or a hex number 0..ff.
    static func dsfield(_ s: String) -> UInt8? {
        if let n = dsfieldNames.first(where: { $0.0 == s }) { return n.1 }
        return unsigned(s, UInt8.self, base: 16)
    }

    /// rtnl_dsfield_n2a: the name when there is one, else 0x%02x.
    static func dsfieldName(_ v: UInt8) -> String {
        if let n = dsfieldNames.first(where: { $0.1 == v }) { return n.0 }
        return "0x" + hex(v, width: 2)
    }

    /// `tos`/`dsfield` for IPv4 tunnels: inherit (1), a name, or hex.
    static func tos(_ args: inout Arguments, _ keyword: String) throws -> UInt8 {
        let v = try args.value(for: keyword, expected: "inherit, a DS field name (AF11, EF...) or a hex value 00..ff")
        if v == "inherit" { return 1 }
        guard let t = dsfield(v) else { throw UsageError.invalid(v, for: keyword, expected: "inherit, a DS field name (AF11, EF...) or a hex value 00..ff") }
        return t
    }

    /// `ttl`/`hoplimit`: inherit (0) or 0..255.
    static func ttl(_ args: inout Arguments, _ keyword: String, inherit: Bool = true) throws -> UInt8 {
        let expected = inherit ? "1..255 or inherit" : "0..255"
        let v = try args.value(for: keyword, expected: expected)
        if inherit && v == "inherit" { return 0 }
        guard let t = unsigned(v, UInt8.self) else { throw UsageError.invalid(v, for: keyword, expected: expected) }
        return t
    }

    /// tnl_parse_key: a dotted quad (its bytes are the key) or an unsigned number.
    static func key(_ args: inout Arguments, _ keyword: String) throws -> UInt32 {
        let v = try args.value(for: keyword, expected: "a key: a number or a dotted quad")
        if v.contains(".") {
            guard let a = IPAddress(v), let k = a.v4Value else { throw UsageError.invalid(v, for: keyword, expected: "a dotted quad like 1.2.3.4 or a number") }
            return k
        }
        guard let k = unsigned(v, UInt32.self) else { throw UsageError.invalid(v, for: keyword, expected: "an unsigned 32-bit number or a dotted quad") }
        return k
    }

    static func u32(_ args: inout Arguments, _ keyword: String, base: Int = 0) throws -> UInt32 {
        let v = try args.value(for: keyword, expected: "a number")
        guard let n = unsigned(v, UInt32.self, base: base) else { throw UsageError.invalid(v, for: keyword, expected: "an unsigned 32-bit number") }
        return n
    }

    static func hex<T: BinaryInteger>(_ v: T, width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// A key printed as iproute2 prints IFLA_GRE_IKEY (inet_ntop of its bytes).
    static func dotted(_ k: UInt32) -> String { "\(k >> 24).\((k >> 16) & 0xff).\((k >> 8) & 0xff).\(k & 0xff)" }
}

/// Shared pieces of the tunnel kinds' describe().
enum TunnelDescribe {
    /// tnl_print_endpoint: "any" when absent or all zeros, "unknown" when the length is wrong.
    static func endpoint(_ name: String, _ a: Attribute?, v6: Bool, text t: inout [String], json j: inout JSONObject) {
        let value: String
        if let a {
            if a.data.count == (v6 ? 16 : 4), let addr = IPAddress(bytes: a.data) {
                value = addr.isUnspecified ? "any" : addr.description
            } else {
                value = "unknown"
            }
        } else {
            value = "any"
        }
        t.append("\(name) \(value)"); j.set(name, value)
    }

    /// `dev NAME` for a nonzero underlay index.
    static func link(_ a: Attribute?, session: Session, text t: inout [String], json j: inout JSONObject) {
        guard let l = a?.u32, l != 0 else { return }
        let n = session.ifname(Int32(bitPattern: l)) ?? "if\(l)"
        t.append("dev \(n)"); j.set("link", n)
    }

    /// `fwmark 0x..` when nonzero (JSON as a hex string).
    static func fwmark(_ a: Attribute?, text t: inout [String], json j: inout JSONObject) {
        guard let m = a?.u32, m != 0 else { return }
        t.append("fwmark 0x" + String(m, radix: 16)); j.set("fwmark", "0x" + String(m, radix: 16))
    }

    /// IPv4 `tos`: nothing for 0, "inherit" for 1 (JSON "0x1"), else hex.
    static func tos(_ a: Attribute?, text t: inout [String], json j: inout JSONObject) {
        guard let tos = a?.u8, tos != 0 else { return }
        j.set("tos", "0x" + String(tos, radix: 16))
        t.append(tos == 1 ? "tos inherit" : "tos 0x" + String(tos, radix: 16))
    }

    /// IPv6 hop limit, encap limit, traffic class, flow label and the IP6_TNL_F_* flags, as ip6gre/ip6tnl print them
    /// (up to, not including, the GRE keys).
    static func ip6Head(ttl: Attribute?, encapLimit: Attribute?, flowinfoAttr: Attribute?, flags: UInt32,
                        text t: inout [String], json j: inout JSONObject) {
        let hop = ttl?.u8 ?? 0
        j.set("ttl", hop)
        t.append(hop == 0 ? "hoplimit inherit" : "hoplimit \(hop)")
        if flags & UInt32(IP6_TNL_F_IGN_ENCAP_LIMIT) != 0 {
            t.append("encaplimit none"); j.set("ip6_tnl_f_ign_encap_limit", true)
        } else if let e = encapLimit?.u8 {
            t.append("encaplimit \(e)"); j.set("encap_limit", e)
        }
        let flowinfo = flowinfoAttr?.be32 ?? 0
        if flags & UInt32(IP6_TNL_F_USE_ORIG_TCLASS) != 0 {
            t.append("tclass inherit"); j.set("ip6_tnl_f_use_orig_tclass", true)
        } else if flowinfoAttr != nil {
            let tc = "0x" + TunnelValues.hex((flowinfo & UInt32(IPV6_FLOWINFO_PRIORITY)) >> 20, width: 2)
            t.append("tclass \(tc)"); j.set("tclass", tc)
        }
        if flags & UInt32(IP6_TNL_F_USE_ORIG_FLOWLABEL) != 0 {
            t.append("flowlabel inherit"); j.set("ip6_tnl_f_use_orig_flowlabel", true)
        } else if flowinfoAttr != nil {
            let fl = "0x" + TunnelValues.hex(flowinfo & UInt32(IPV6_FLOWINFO_FLOWLABEL), width: 5)
            t.append("flowlabel \(fl)"); j.set("flowlabel", fl)
        }
        if flags & UInt32(IP6_TNL_F_RCV_DSCP_COPY) != 0 { t.append("dscp inherit"); j.set("ip6_tnl_f_rcv_dscp_copy", true) }
    }
}

/// Reading a tunnel's current settings (for `link set ... type KIND` and `tunnel change`, which resend them all:
/// the kernel's changelink resets whatever a request leaves out).
enum TunnelLookup {
    /// RTM_GETLINK by name; the link's kind and IFLA_INFO_DATA.
    static func current(named name: String, session: Session) throws -> (index: Int32, kind: String, data: [Attribute]) {
        try Session.checkDeviceName(name)
        try session.flush()
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, name)
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_SKIP_STATS))
        let msg = try RTMessage.link(RTM_GETLINK, flags: .request, header: IfInfoHeader(), attributes: w)
        let replies: [NetlinkMessage]
        do {
            replies = try session.rtnl().request(msg, operation: "RTM_GETLINK \(name)")
        } catch let e as NetlinkError where e.errno == 19 /* ENODEV */ {
            throw UsageError("cannot find device \"\(name)\"")
        }
        guard let m = replies.first(where: { $0.type == UInt16(RTM_NEWLINK) }), let l = try? LinkMessage(m),
              let li = l.linkInfo, let kind = li.kind else {
            throw UsageError("failed to get existing tunnel info for \"\(name)\"")
        }
        session.learn(name: name, index: l.header.index)
        return (l.header.index, kind, li.data)
    }

    /// The device a `link set|change ... type KIND` line names, read back from the words before `type`.
    static func deviceBeforeType(_ args: Arguments) -> String? {
        let words = Array(args.words[..<min(args.index, args.words.count)])
        guard let typeAt = words.lastIndex(of: "type") else { return nil }
        // Skip the object word ("link", "l", ...) and the verb.
        var i = 0
        if i < typeAt, IPCommandRunner.object(named: words[i]) != nil { i += 1 }
        if i < typeAt { i += 1 }
        let withValue: Set<String> = ["name", "mtu", "address", "broadcast", "brd", "txqueuelen", "qlen", "txqlen", "master",
                                      "netns", "link", "group", "promisc", "multicast", "allmulticast", "arp", "alias",
                                      "numtxqueues", "numrxqueues", "index"]
        var dev: String?
        while i < typeAt {
            let w = words[i]
            if w == "dev", i + 1 < typeAt { return words[i + 1] }
            if withValue.contains(w) { i += 2; continue }
            if ["up", "down", "nomaster"].contains(w) { i += 1; continue }
            if dev == nil { dev = w }
            i += 1
        }
        return dev
    }

    /// Current parameters of the device named before `type` (for `link set`), checked to be of `kind`.
    static func parameters(for args: Arguments, kind: String, family: TunnelFamily, session: Session) throws -> TunnelParameters {
        guard let dev = deviceBeforeType(args) else {
            throw UsageError("\"\(args.context)\": cannot tell which device to change; name it with \"dev NAME\"")
        }
        let cur = try current(named: dev, session: session)
        guard cur.kind == kind else {
            throw UsageError("device \"\(dev)\" is of type \"\(cur.kind)\", not \"\(kind)\"")
        }
        return TunnelParameters(decoding: cur.data, family: family)
    }
}

