import CLinuxUAPI
import LinkValues
import Netlink
import NetlinkWire

/// `tunnel add|change|delete|show|6rd` — iproute2's `ip tunnel` (and `ip -6 tunnel`) keywords, carried out over
/// rtnetlink (RTM_NEWLINK/RTM_DELLINK with the matching kind: ipip, gre, sit, ip6tnl, ip6gre) instead of the
/// SIOC*TUNNEL ioctls, leaving the same kernel state. `tunnel run` is the userspace data plane: it lives above
/// IPCommand (the TunnelHost target), which the executable hands to the session as `Session.tunnelRunner`.
public enum TunnelCommand {
    static let verbs = ["add", "change", "delete", "show", "lst", "list", "prl", "6rd", "run", "help"]

    /// The kinds `tunnel run` takes (besides `l2tp-control`): the `link add` kinds of the userspace data plane, and
    /// l2tpv3 for `l2tp add tunnel` + `add session` together — each link value's `userspaceKinds`.
    public static var runKinds: [String] { SiteLink.userspaceKinds }

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try add(&args, session)
        case "change": try change(&args, session)
        case "delete": try delete(&args, session)
        case "show", "lst", "list": try show(&args, session)
        case "6rd": try sixrd(&args, session)
        case "prl":
            throw UsageError("\"tunnel prl\" is not supported: the ISATAP potential router list has no rtnetlink interface (use ip tunnel prl)")
        case "run":
            guard let run = session.tunnelRunner else {
                throw UsageError("tunnel run: the userspace data plane is not part of this program (use the isthmus command)")
            }
            try run(&args, session)
        default: throw UsageError(Usage.tunnel)
        }
    }

    /// What a tunnel command line said besides the settings themselves.
    struct Request {
        var name: String?
        /// Inner protocol from `mode` (IPv4 tunnels: IPIP, GRE, IPV6; IPv6 tunnels: IPV6, IPIP, GRE, 0 = any).
        var proto: UInt8?
        var isatap = false
        var v6: Bool
        /// Filters for `show`: which settings were given.
        var given: Set<String> = []
    }

    /// `mode` words of IPv4 tunnels (iptunnel.c).
    static let v4Modes: [(String, UInt8)] = [("ipip", UInt8(IPPROTO_IPIP)), ("ip/ip", UInt8(IPPROTO_IPIP)),
                                             ("gre", UInt8(IPPROTO_GRE)), ("gre/ip", UInt8(IPPROTO_GRE)),
                                             ("sit", UInt8(IPPROTO_IPV6)), ("ipv6/ip", UInt8(IPPROTO_IPV6)),
                                             ("isatap", UInt8(IPPROTO_IPV6))]
    /// `mode` words of IPv6 tunnels (ip6tunnel.c).
    static let v6Modes: [(String, UInt8)] = [("ipv6/ipv6", UInt8(IPPROTO_IPV6)), ("ip6ip6", UInt8(IPPROTO_IPV6)),
                                             ("ip/ipv6", UInt8(IPPROTO_IPIP)), ("ipv4/ipv6", UInt8(IPPROTO_IPIP)),
                                             ("ipip6", UInt8(IPPROTO_IPIP)), ("ip4ip6", UInt8(IPPROTO_IPIP)),
                                             ("ip6gre", UInt8(IPPROTO_GRE)), ("gre/ipv6", UInt8(IPPROTO_GRE)),
                                             ("any/ipv6", 0), ("any", 0)]

    static let v4Keywords = ["mode", "key", "ikey", "okey", "seq", "iseq", "oseq", "csum", "icsum", "ocsum", "nopmtudisc",
                             "pmtudisc", "remote", "local", "dev", "ttl", "hoplimit", "hlim", "tos", "tclass", "dsfield", "name"]
    static let v6Keywords = ["mode", "remote", "local", "dev", "encaplimit", "hoplimit", "ttl", "hlim", "tclass", "tc", "tos",
                             "dsfield", "flowlabel", "fl", "dscp", "allow-localremote", "noallow-localremote", "key", "ikey",
                             "okey", "seq", "iseq", "oseq", "csum", "icsum", "ocsum", "name"]

    /// IPv6 when a `mode` word names an IPv6 tunnel, or with -6 (as do_iptunnel decides).
    static func isV6(_ args: Arguments, _ session: Session) -> Bool {
        let w = args.remaining
        if let i = w.firstIndex(of: "mode"), i + 1 < w.count {
            return v6Modes.contains { $0.0 == w[i + 1] } || ["vti6"].contains(w[i + 1])
        }
        return session.options.family == UInt8(AF_INET6)
    }

    /// Parses iproute2's tunnel words into `p` (settings) and a Request (name, mode). Unknown words are the name.
    static func parse(_ args: inout Arguments, v6: Bool, into p: inout TunnelParameters, _ session: Session) throws -> Request {
        var r = Request(v6: v6)
        let modes = v6 ? v6Modes : v4Modes
        while let word = args.next() {
            var kw = word
            if Arguments.match(word, ["dsfield"]) == "dsfield" { kw = "dsfield" }
            switch kw {
            case "mode":
                let v = try args.value(for: kw, expected: "one of " + modes.map(\.0).joined(separator: ", "))
                if v == "vti" || v == "vti6" {
                    throw UsageError("mode \(v) is not supported by \"isthmus tunnel\"; valid: \(modes.map(\.0).joined(separator: ", "))")
                }
                guard let m = modes.first(where: { $0.0 == v }) else {
                    throw UsageError.invalid(v, for: "mode", expected: "one of " + modes.map(\.0).joined(separator: ", "))
                }
                if let old = r.proto, old != m.1 {
                    throw UsageError("more than one tunnel mode given (\"mode \(v)\" in \"\(args.context)\")")
                }
                r.proto = m.1
                if v == "isatap" { r.isatap = true }
            case "key", "ikey", "okey", "seq", "iseq", "oseq", "csum", "icsum", "ocsum":
                _ = try p.applyGREFlag(kw, &args)
                if kw.hasSuffix("key") { r.given.insert("key") }
            case "nopmtudisc" where !v6: p.pmtudisc = 0
            case "pmtudisc" where !v6: p.pmtudisc = 1
            case "remote", "local":
                let v = try args.value(for: kw, expected: p.addressKind)
                let a = try p.endpoint(v, for: kw)
                if kw == "remote" { p.remote = a } else { p.local = a }
                r.given.insert(kw)
            case "dev":
                p.link = try TunnelParameters.device(&args, kw, session)
                r.given.insert("dev")
            case "ttl", "hoplimit", "hlim":
                p.ttl = try TunnelValues.ttl(&args, kw, inherit: !v6)
            case "tos", "tclass", "tc", "dsfield":
                if v6 { try p.applyTrafficClass(&args, kw) }
                else if kw == "tc" { try nameWord(kw, &args, &r) }
                else { p.tos = try tos(&args, kw) }
            case "encaplimit" where v6: try p.applyEncapLimit(&args, kw)
            case "flowlabel", "fl": if v6 { try p.applyFlowLabel(&args, kw) } else { try nameWord(kw, &args, &r) }
            case "dscp" where v6:
                let v = try args.value(for: kw, expected: "inherit")
                guard v == "inherit" else { throw UsageError.invalid(v, for: kw, expected: "inherit") }
                p.flags |= UInt32(IP6_TNL_F_RCV_DSCP_COPY)
            case "allow-localremote" where v6: p.flags |= UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE)
            case "noallow-localremote" where v6: p.flags &= ~UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE)
            case "name":
                let n = try args.interfaceName(for: "name", expected: "a tunnel interface name")
                try setName(n, &r, args)
            default:
                try nameWord(word, &args, &r)
            }
        }
        return r
    }

    /// A bare word is the tunnel's name (iproute2's fallback); `help` and option-like words are errors.
    static func nameWord(_ word: String, _ args: inout Arguments, _ r: inout Request) throws {
        if word == "help" { throw UsageError(Usage.tunnel) }
        if word.hasPrefix("-") {
            throw args.unknown(word, validChoices: r.v6 ? v6Keywords : v4Keywords)
        }
        try setName(word, &r, args)
    }

    static func setName(_ n: String, _ r: inout Request, _ args: Arguments) throws {
        if let old = r.name {
            throw UsageError("unknown keyword \"\(n)\" in \"\(args.context)\" (the name is already \"\(old)\"); valid: \((r.v6 ? v6Keywords : v4Keywords).joined(separator: ", "))")
        }
        try Arguments.checkInterfaceName(n, for: "name")
        r.name = n
    }

    /// IPv4 `tos`: inherit, a DS field, or inherit/DSFIELD (inherit with a fallback value).
    static func tos(_ args: inout Arguments, _ kw: String) throws -> UInt8 {
        let expected = "inherit, inherit/VALUE, a DS field name or a hex value 00..ff"
        let v = try args.value(for: kw, expected: expected)
        let parts = v.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        var t: UInt8 = 0
        var field: String? = parts[0]
        if parts[0] == "inherit" { t = 1; field = parts.count > 1 ? parts[1] : nil }
        if let field {
            guard let f = TunnelValues.dsfield(field) else { throw UsageError.invalid(v, for: kw, expected: expected) }
            t |= f
        }
        return t
    }

    /// The kind an `add` creates, from the mode (or, as iproute2 does, the name's prefix).
    static func kind(for r: inout Request) throws -> String {
        if r.v6 {
            return r.proto == UInt8(IPPROTO_GRE) ? "ip6gre" : "ip6tnl"
        }
        if r.proto == nil, let n = r.name {
            if n.hasPrefix("gre") { r.proto = UInt8(IPPROTO_GRE) }
            else if n.hasPrefix("ipip") { r.proto = UInt8(IPPROTO_IPIP) }
            else if n.hasPrefix("sit") { r.proto = UInt8(IPPROTO_IPV6) }
            else if n.hasPrefix("isatap") { r.proto = UInt8(IPPROTO_IPV6); r.isatap = true }
        }
        switch r.proto {
        case UInt8(IPPROTO_IPIP): return "ipip"
        case UInt8(IPPROTO_GRE): return "gre"
        case UInt8(IPPROTO_IPV6): return "sit"
        default:
            throw UsageError("cannot determine the tunnel mode: add \"mode ipip\", \"mode gre\", \"mode sit\" or \"mode isatap\" (or an IPv6 mode: \(v6Modes.map(\.0).joined(separator: ", ")))")
        }
    }

    /// Checks and defaults of iptunnel.c's parse_args/do_add, then the settings for `kind`.
    static func finish(_ p: inout TunnelParameters, _ r: Request, kind: String) throws {
        p.family = TunnelFamily.of(kind: kind) ?? p.family
        let keyed = (p.iflags | p.oflags) & ISTHMUS_GRE_KEY != 0
        let isGRE = p.family == .gre || p.family == .gre6
        if keyed && !isGRE {
            throw UsageError("keys are not allowed with \(kind) tunnels (only with mode gre or ip6gre)")
        }
        if kind == "gre" { try p.checkMulticastRemote() }
        if !r.v6 && p.ttl != 0 && p.pmtudisc == 0 {
            throw UsageError("\"ttl \(p.ttl)\" and \"nopmtudisc\" are incompatible (a fixed TTL needs path MTU discovery)")
        }
        if kind == "ipip" || kind == "sit" || kind == "ip6tnl", let proto = r.proto { p.proto = proto }
        if r.isatap { p.sitFlags |= UInt16(SIT_ISATAP) }
    }

    static func encode(_ p: TunnelParameters, kind: String, into w: inout AttributeWriter) {
        if let v = GRELink.Variant(rawValue: kind) {
            p.encodeGRE(erspan: v.isERSPAN, into: &w)
        } else if IPTunnelLink.Variant(rawValue: kind) == .ip6tnl {
            p.encodeIP6Tunnel(into: &w)
        } else {
            p.encodeIPTunnel(sit: kind == IPTunnelLink.Variant.sit.rawValue, into: &w)
        }
    }

    /// `tunnel add NAME mode M ...` → RTM_NEWLINK (create, excl) of the matching kind.
    static func add(_ args: inout Arguments, _ session: Session) throws {
        let v6 = isV6(args, session)
        var p = TunnelParameters(family: v6 ? .ip6tnl : .iptnl)
        // The ioctl path leaves FOU/GUE settings zero; so does this.
        p.encap = TunnelEncap()
        if v6 { p.proto = UInt8(IPPROTO_IPV6) }
        var r = try parse(&args, v6: v6, into: &p, session)
        let kind = try kind(for: &r)
        try finish(&p, r, kind: kind)
        var attrs = AttributeWriter()
        if let name = r.name { attrs.string(IFLA_IFNAME, name) }
        var data = AttributeWriter()
        encode(p, kind: kind, into: &data)
        attrs.nested(IFLA_LINKINFO) { li in
            li.string(IFLA_INFO_KIND, kind)
            li.nested(IFLA_INFO_DATA, data)
        }
        let msg = try RTMessage.link(RTM_NEWLINK, flags: [.create, .excl], header: IfInfoHeader(), attributes: attrs)
        try session.submit(NetlinkRequest(msg, operation: "tunnel add \(r.name ?? "") (\(kind))"))
        if let name = r.name { session.forget(name: name) }
    }

    /// The tunnel a command names, read back from the kernel; errors name the device and its kind.
    static func existing(_ name: String?, verb: String, _ session: Session) throws -> (index: Int32, kind: String, family: TunnelFamily, data: [Attribute]) {
        guard let name else { throw UsageError("\"tunnel \(verb)\" needs the tunnel's NAME") }
        let cur = try TunnelLookup.current(named: name, session: session)
        guard let family = TunnelFamily.of(kind: cur.kind) else {
            throw UsageError("\"\(name)\" is not an IP tunnel (its type is \(cur.kind)); tunnel types: gre, ipip, sit, ip6tnl, ip6gre, gretap, ip6gretap, erspan, ip6erspan")
        }
        return (cur.index, cur.kind, family, cur.data)
    }

    /// `tunnel change NAME ...`: the current settings with the given words applied, sent back whole.
    static func change(_ args: inout Arguments, _ session: Session) throws {
        var scan = args
        var scratch = TunnelParameters(family: isV6(args, session) ? .ip6tnl : .iptnl)
        let pre = try parse(&scan, v6: scratch.family.isV6, into: &scratch, session)
        let cur = try existing(pre.name, verb: "change", session)
        var p = TunnelParameters(decoding: cur.data, family: cur.family)
        var r = try parse(&args, v6: cur.family.isV6, into: &p, session)
        if let proto = r.proto {
            var probe = Request(name: r.name, proto: proto, isatap: r.isatap, v6: r.v6)
            let wanted = try kind(for: &probe)
            let sameFamily = wanted == cur.kind || (wanted == "gre" && cur.kind == "gretap") || (wanted == "ip6gre" && cur.kind == "ip6gretap")
            if !sameFamily { throw UsageError("cannot change \"\(r.name ?? "")\" from \(cur.kind) to \(wanted); delete and add it again") }
            r.proto = proto
        }
        try finish(&p, r, kind: cur.kind)
        var data = AttributeWriter()
        switch cur.family {
        case .gre, .gre6: p.encodeGRE(erspan: cur.kind.hasSuffix("erspan"), into: &data)
        case .ip6tnl: p.encodeIP6Tunnel(into: &data)
        case .iptnl: p.encodeIPTunnel(sit: cur.kind == "sit", into: &data)
        }
        var attrs = AttributeWriter()
        attrs.nested(IFLA_LINKINFO) { li in
            li.string(IFLA_INFO_KIND, cur.kind)
            li.nested(IFLA_INFO_DATA, data)
        }
        let msg = try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(index: cur.index), attributes: attrs)
        try session.submit(NetlinkRequest(msg, operation: "tunnel change \(r.name ?? "")"))
    }

    /// `tunnel delete NAME` → RTM_DELLINK.
    static func delete(_ args: inout Arguments, _ session: Session) throws {
        var p = TunnelParameters(family: isV6(args, session) ? .ip6tnl : .iptnl)
        let r = try parse(&args, v6: p.family.isV6, into: &p, session)
        let cur = try existing(r.name, verb: "delete", session)
        let msg = try RTMessage.link(RTM_DELLINK, flags: [], header: IfInfoHeader(index: cur.index))
        try session.submit(NetlinkRequest(msg, operation: "tunnel delete \(r.name ?? "")"))
        session.invalidateNames()
    }

    /// `tunnel 6rd dev NAME 6rd-prefix P [6rd-relay_prefix R] | 6rd-reset`: a sit tunnel's 6rd prefixes.
    static func sixrd(_ args: inout Arguments, _ session: Session) throws {
        var dev: String?
        var prefix: IPPrefix?, relay: IPPrefix?, reset = false
        let keywords = ["6rd-prefix", "6rd-relay_prefix", "6rd-reset", "dev"]
        while let w = args.next() {
            switch w {
            case "6rd-prefix":
                let v = try args.value(for: w, expected: "an IPv6 prefix")
                guard let p = IPPrefix(v), p.address.isV6 else { throw UsageError.invalid(v, for: w, expected: "an IPv6 prefix like 2001:db8::/32") }
                prefix = p
            case "6rd-relay_prefix":
                let v = try args.value(for: w, expected: "an IPv4 prefix")
                guard let p = IPPrefix(v), !p.address.isV6 else { throw UsageError.invalid(v, for: w, expected: "an IPv4 prefix like 192.0.2.0/24") }
                relay = p
            case "6rd-reset": reset = true
            case "dev": dev = try args.interfaceName(for: w, expected: "the sit tunnel's name")
            default: throw args.unknown(w, validChoices: keywords)
            }
        }
        guard let dev else { throw UsageError("\"tunnel 6rd\" needs \"dev NAME\" (a sit tunnel)") }
        let cur = try existing(dev, verb: "6rd", session)
        guard cur.kind == "sit" else { throw UsageError("\"\(dev)\" is a \(cur.kind) tunnel; 6rd applies to sit tunnels") }
        var p = TunnelParameters(decoding: cur.data, family: .iptnl)
        if reset {
            p.sixrdPrefix = IPPrefix("2002::/16"); p.sixrdRelayPrefix = IPPrefix("0.0.0.0/0")
        } else if prefix != nil || relay != nil {
            // Like SIOCADD6RD: whatever is not given is zero.
            p.sixrdPrefix = prefix ?? IPPrefix("::/0"); p.sixrdRelayPrefix = relay ?? IPPrefix("0.0.0.0/0")
        } else {
            throw UsageError("\"tunnel 6rd dev \(dev)\" needs 6rd-prefix, 6rd-relay_prefix or 6rd-reset")
        }
        var data = AttributeWriter()
        p.encodeIPTunnel(sit: true, into: &data)
        var attrs = AttributeWriter()
        attrs.nested(IFLA_LINKINFO) { li in
            li.string(IFLA_INFO_KIND, "sit")
            li.nested(IFLA_INFO_DATA, data)
        }
        let msg = try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(index: cur.index), attributes: attrs)
        try session.submit(NetlinkRequest(msg, operation: "tunnel 6rd dev \(dev)"))
    }

    // MARK: show

    /// `tunnel show [NAME] [mode M] [remote A] [local A] [dev D] [key K]`: IPv4 tunnels (gre, ipip, sit), or with -6
    /// or an IPv6 mode the IPv6 ones (ip6tnl, ip6gre), printed like `ip tunnel show`.
    static func show(_ args: inout Arguments, _ session: Session) throws {
        let v6 = isV6(args, session)
        var filter = TunnelParameters(family: v6 ? .ip6tnl : .iptnl)
        filter.ttl = 0
        let r = try parse(&args, v6: v6, into: &filter, session)
        try session.flush()
        var w = AttributeWriter()
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_SKIP_STATS))
        let replies = try session.rtnl().dump(RTMessage.link(RTM_GETLINK, flags: .dump, header: IfInfoHeader(), attributes: w),
                                              operation: "tunnel show")
        for m in replies where m.type == UInt16(RTM_NEWLINK) {
            guard let l = try? LinkMessage(m), let name = l.name else { continue }
            session.learn(name: name, index: l.header.index)
            guard let li = l.linkInfo, let kind = li.kind, let family = TunnelFamily.of(kind: kind) else { continue }
            let type = Int32(l.header.type)
            let v4Types = [Int32(ARPHRD_TUNNEL), Int32(ARPHRD_IPGRE), Int32(ARPHRD_SIT)]
            let v6Types = [Int32(ARPHRD_TUNNEL6), Int32(ARPHRD_IP6GRE)]
            let showV6: Bool
            if let want = r.name {
                guard want == name, v4Types.contains(type) || v6Types.contains(type) else { continue }
                showV6 = family.isV6
            } else {
                guard (v6 ? v6Types : v4Types).contains(type) else { continue }
                showV6 = v6
            }
            let p = TunnelParameters(decoding: li.data, family: family)
            let proto = kind.hasSuffix("gre") ? UInt8(IPPROTO_GRE) : p.proto
            if let want = r.proto, want != proto, !(v6 && (want == 0 || proto == 0)) { continue }
            if r.given.contains("remote"), filter.remote != nil, filter.remote != p.remote { continue }
            if r.given.contains("local"), filter.local != nil, filter.local != p.local { continue }
            if r.given.contains("dev"), filter.link != 0, filter.link != p.link { continue }
            if r.given.contains("key"), filter.ikey != 0, filter.ikey != p.ikey { continue }
            let out = showV6 ? describe6(name: name, p, proto: proto, session: session)
                             : describe4(name: name, p, proto: proto, session: session)
            if session.options.json { session.emit(out.json.json) } else { out.lines.forEach { session.print($0) } }
        }
        // Then the userspace data plane's tunnels (`tunnel run`), with their counters.
        for u in try UserspaceTunnelReport.all(netns: session.options.netns) {
            if let want = r.name, want != u.name { continue }
            if session.options.json { session.emit(u.json) } else { u.text.forEach { session.print($0) } }
        }
    }

    /// tnl_strproto.
    static func protoName(_ p: UInt8) -> String {
        switch p {
        case UInt8(IPPROTO_IPIP): return "ip"
        case UInt8(IPPROTO_GRE): return "gre"
        case UInt8(IPPROTO_IPV6): return "ipv6"
        case UInt8(IPPROTO_ESP): return "esp"
        case UInt8(IPPROTO_MPLS): return "mpls"
        case 0: return "any"
        default: return "unknown"
        }
    }

    /// One IPv4 tunnel as iptunnel.c's print_tunnel: a line (plus GRE flag lines) and a JSON object. ip's formats
    /// here put the space before each field (" ttl %u").
    static func describe4(name: String, _ p: TunnelParameters, proto: UInt8, session: Session) -> (lines: [String], json: JSONObject) {
        var o = FieldPrinter()
        let mode = "\(protoName(proto))/ip"
        o.field("ifname", .string(name), text: "\(name): ")
        o.field("mode", .string(mode), text: mode)
        // The text says "any" where the JSON gives the address.
        o.field("remote", .string(p.remote?.description ?? "0.0.0.0"), text: " remote \(p.remote?.description ?? "any")")
        o.field("local", .string(p.local?.description ?? "0.0.0.0"), text: " local \(p.local?.description ?? "any")")
        if p.link != 0, let n = session.ifname(Int32(bitPattern: p.link)) { o.field("dev", .string(n), text: " dev \(n)") }
        if p.ttl != 0 { o.field("ttl", JSON(p.ttl), text: " ttl \(p.ttl)") } else { o.text(" ttl inherit") }
        if p.tos != 0 {
            if p.tos != 1 {
                let text = p.tos & 1 != 0 ? "inherit/" + TunnelValues.dsfieldName(p.tos & ~1) : TunnelValues.dsfieldName(p.tos)
                o.field("tos", .string(TunnelValues.dsfieldName(p.tos)), text: " tos \(text)")
            } else {
                o.text(" tos inherit")
            }
        }
        if p.pmtudisc == 0 { o.field("nopmtudisc", .null, text: " nopmtudisc") }
        if proto == UInt8(IPPROTO_IPV6), let sp = p.sixrdPrefix, sp.length != 0 {
            o.field("6rd-prefix", .string(sp.address.description), text: " 6rd-prefix \(sp.address)/\(sp.length)")
            o.jsonOnly("6rd-prefixlen", JSON(sp.length))
            if let rp = p.sixrdRelayPrefix, !rp.address.isUnspecified {
                o.field("6rd-relay_prefix", .string(rp.address.description), text: " 6rd-relay_prefix \(rp.address)/\(rp.length)")
                o.jsonOnly("6rd-relay_prefixlen", JSON(rp.length))
            }
        }
        return greFlags(p, proto: proto, o)
    }

    /// One IPv6 tunnel as ip6tunnel.c's print_tunnel.
    static func describe6(name: String, _ p: TunnelParameters, proto: UInt8, session: Session) -> (lines: [String], json: JSONObject) {
        var o = FieldPrinter()
        let mode = "\(protoName(proto))/ipv6"
        let remote = p.remote?.description ?? "::", local = p.local?.description ?? "::"
        o.field("ifname", .string(name), text: "\(name): ")
        o.field("mode", .string(mode), text: mode)
        o.field("remote", .string(remote), text: " remote \(remote)")
        o.field("local", .string(local), text: " local \(local)")
        if p.link != 0, let n = session.ifname(Int32(bitPattern: p.link)) { o.field("link", .string(n), text: " dev \(n)") }
        if p.flags & UInt32(IP6_TNL_F_IGN_ENCAP_LIMIT) != 0 {
            o.field("ip6_tnl_f_ign_encap_limit", .null, text: " encaplimit none")
        } else {
            o.field("encap_limit", JSON(p.encapLimit), text: " encaplimit \(p.encapLimit)")
        }
        if p.ttl != 0 { o.field("hoplimit", JSON(p.ttl), text: " hoplimit \(p.ttl)") } else { o.text(" hoplimit inherit") }
        if p.flags & UInt32(IP6_TNL_F_USE_ORIG_TCLASS) != 0 {
            o.field("ip6_tnl_f_use_orig_tclass", .null, text: " tclass inherit")
        } else {
            let tc = "0x" + TunnelValues.hex((p.flowinfo & UInt32(IPV6_FLOWINFO_PRIORITY)) >> 20, width: 2)
            o.field("tclass", .string(tc), text: " tclass \(tc)")
        }
        if p.flags & UInt32(IP6_TNL_F_USE_ORIG_FLOWLABEL) != 0 {
            o.field("ip6_tnl_f_use_orig_flowlabel", .null, text: " flowlabel inherit")
        } else {
            let fl = "0x" + TunnelValues.hex(p.flowinfo & UInt32(IPV6_FLOWINFO_FLOWLABEL), width: 5)
            o.field("flowlabel", .string(fl), text: " flowlabel \(fl)")
        }
        let fi = "0x" + TunnelValues.hex(p.flowinfo, width: 8)
        o.field("flowinfo", .string(fi), text: " (flowinfo \(fi))")
        if p.flags & UInt32(IP6_TNL_F_RCV_DSCP_COPY) != 0 { o.field("ip6_tnl_f_rcv_dscp_copy", .null, text: " dscp inherit") }
        if p.flags & UInt32(IP6_TNL_F_ALLOW_LOCAL_REMOTE) != 0 {
            o.field("ip6_tnl_f_allow_local_remote", .null, text: " allow-localremote")
        }
        return greFlags(p, proto: proto, o)
    }

    /// tnl_print_gre_flags: key/ikey/okey as numbers on the tunnel's line, and for GRE the flag list (text: one
    /// indented line each). Returns the tunnel's lines and JSON.
    static func greFlags(_ p: TunnelParameters, proto: UInt8, _ line: FieldPrinter) -> (lines: [String], json: JSONObject) {
        var o = line
        let key = ISTHMUS_GRE_KEY, seq = ISTHMUS_GRE_SEQ, csum = ISTHMUS_GRE_CSUM
        if p.iflags & key != 0 && p.oflags & key != 0 && p.ikey == p.okey {
            o.field("key", JSON(p.ikey), text: " key \(p.ikey)")
        } else {
            if p.iflags & key != 0 { o.field("ikey", JSON(p.ikey), text: " ikey \(p.ikey)") }
            if p.oflags & key != 0 { o.field("okey", JSON(p.okey), text: " okey \(p.okey)") }
        }
        guard proto == UInt8(IPPROTO_GRE) else { return ([o.text], o.json) }
        var flags: [JSON] = [], lines = [o.text]
        for (set, bit, json, text) in [(p.iflags, seq, "rx_drop_ooseq", "Drop packets out of sequence."),
                                       (p.iflags, csum, "rx_csum", "Checksum in received packet is required."),
                                       (p.oflags, seq, "tx_seq", "Sequence packets on output."),
                                       (p.oflags, csum, "tx_csum", "Checksum output packets.")] where set & bit != 0 {
            flags.append(.string(json)); lines.append("  " + text)
        }
        o.jsonOnly("flags", .array(flags))
        return (lines, o.json)
    }
}
