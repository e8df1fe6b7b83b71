import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `route` (ip-route(8)): add, change, replace, prepend, append, test, delete, show, get and flush routes.
///
/// Requests follow iproute2 6.1's iproute_modify(): RTA_* attributes in command-line order, then RTA_OIF,
/// RTA_METRICS and RTA_MULTIPATH; the header's table, scope, protocol and type defaults are iproute2's.
public enum RouteCommand {
    /// Verbs in iproute2's do_iproute() order (abbreviations resolve to the first match).
    static let verbs = ["add", "change", "chg", "replace", "prepend", "append", "test", "delete", "list", "show", "lst", "get", "flush"]

    /// Runs `route VERB ...`.
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try modify(&args, session, type: RTM_NEWROUTE, flags: [.create, .excl])
        case "change", "chg": try modify(&args, session, type: RTM_NEWROUTE, flags: [.replace])
        case "replace": try modify(&args, session, type: RTM_NEWROUTE, flags: [.create, .replace])
        case "prepend": try modify(&args, session, type: RTM_NEWROUTE, flags: [.create])
        case "append": try modify(&args, session, type: RTM_NEWROUTE, flags: [.create, .append])
        case "test": try modify(&args, session, type: RTM_NEWROUTE, flags: [.excl])
        case "delete": try modify(&args, session, type: RTM_DELROUTE, flags: [])
        case "get": try get(&args, session)
        case "flush": try list(&args, session, flush: true)
        default: try list(&args, session, flush: false)
        }
    }


    /// The if-chain of iproute_modify(), in its order.
    static let modifyKeywords: [Keyword] = [
        .exact("src"), .exact("as"), .exact("via"), .exact("from"), .exact("tos"), .abbrev("dsfield"), .exact("expires"),
        .abbrev("metric"), .abbrev("priority"), .exact("preference"), .exact("scope"), .exact("mtu"), .exact("hoplimit"),
        .exact("advmss"), .abbrev("reordering"), .exact("rtt"), .exact("rto_min"), .abbrev("window"), .abbrev("cwnd"),
        .abbrev("initcwnd"), .abbrev("initrwnd"), .abbrev("features"), .abbrev("quickack"), .abbrev("congctl"),
        .abbrev("rttvar"), .abbrev("ssthresh"), .abbrev("realms"), .exact("onlink"), .exact("nexthop"), .exact("nhid"),
        .abbrev("protocol"), .abbrev("table"), .exact("dev"), .exact("oif"), .abbrev("pref"), .exact("ttl-propagate"),
        .abbrev("fastopen_no_cookie"), .exact("to"),
    ]

    /// RTAX_* metrics that take `[lock] N` (mtu, window, ...), with their value check.
    static let metricKeywords: [String: (type: Int, max: UInt32)] = [
        "mtu": (RTAX_MTU, .max), "hoplimit": (RTAX_HOPLIMIT, 255), "advmss": (RTAX_ADVMSS, .max),
        "reordering": (RTAX_REORDERING, .max), "window": (RTAX_WINDOW, .max), "cwnd": (RTAX_CWND, .max),
        "initcwnd": (RTAX_INITCWND, .max), "initrwnd": (RTAX_INITRWND, .max), "ssthresh": (RTAX_SSTHRESH, .max),
    ]

    // MARK: add / change / replace / append / delete

    static func modify(_ args: inout Arguments, _ session: Session, type: Int, flags: NetlinkFlags) throws {
        let command = args.words.joined(separator: " ")   // the words as typed, object word included
        var h = RouteHeader(family: session.options.family, table: UInt8(RT_TABLE_MAIN.rawValue), scope: UInt8(RT_SCOPE_NOWHERE.rawValue))
        if type != RTM_DELROUTE {
            h.proto = UInt8(RTPROT_BOOT); h.scope = UInt8(RT_SCOPE_UNIVERSE.rawValue); h.type = UInt8(RTN_UNICAST)
        }
        var w = AttributeWriter()
        var mx = AttributeWriter()
        var mxlock: UInt32 = 0
        var dev: String?
        var gwOK = false, dstOK = false, scopeOK = false, tableOK = false, typeOK = false
        var nexthops: [String]?
        var nhid: UInt32 = 0

        loop: while let word = args.next() {
            let key = modifyKeywords.resolve(word)
            switch key {
            case "src":
                let a = try Inet.address(try args.value(for: word, expected: "an address"), for: word, family: h.family)
                if h.family == 0 { h.family = a.family }
                w.raw(RTA_PREFSRC.rawValue, a.bytes)
            case "as": w.raw(RTA_NEWDST.rawValue, try newDestination(&args, for: word, family: &h.family))
            case "via":
                if gwOK { throw UsageError("use nexthop syntax to specify multiple \"via\"") }
                gwOK = true
                let a = try gateway(&args, family: h.family)
                if h.family == 0 { h.family = a.family }
                if a.family == h.family { w.raw(RTA_GATEWAY.rawValue, a.bytes) } else { w.raw(RTA_VIA.rawValue, via(a)) }
            case "from":
                let p = try Inet.prefix(try args.value(for: word, expected: "a source prefix"), for: word, family: h.family)
                if h.family == 0 { h.family = p.family }
                if !p.bytes.isEmpty { w.raw(RTA_SRC.rawValue, p.bytes) }
                h.srcLength = UInt8(clamping: p.bitlen)
            case "tos", "dsfield":
                h.tos = try dsfield(try args.value(for: word, expected: "a TOS value in hex"), for: word)
            case "expires":
                w.u32(RTA_EXPIRES.rawValue, try args.integer(for: word, UInt32.self))
            case "metric", "priority", "preference":
                w.u32(RTA_PRIORITY.rawValue, try args.integer(for: word, UInt32.self))
            case "scope":
                h.scope = try RTNames.scope(try args.value(for: word, expected: RTNames.scopeExpected), for: word)
                scopeOK = true
            case let k? where metricKeywords[k] != nil:
                let m = metricKeywords[k]!
                var v = try args.value(for: k, expected: "[lock] a number")
                if v == "lock" { mxlock |= 1 << UInt32(m.type); v = try args.value(for: k, expected: "a number") }
                guard let n = CNumber.parse(v, UInt32.self), n <= m.max else {
                    throw UsageError.invalid(v, for: k, expected: m.max == .max ? "a number" : "a number 0-\(m.max)")
                }
                mx.u32(m.type, n)
            case "rtt", "rttvar", "rto_min":
                let k = key!
                let t = k == "rtt" ? RTAX_RTT : k == "rttvar" ? RTAX_RTTVAR : RTAX_RTO_MIN
                var v = try args.value(for: k, expected: "a time such as 10ms or 1s")
                if k == "rto_min" { mxlock |= 1 << UInt32(t) } else if v == "lock" {
                    mxlock |= 1 << UInt32(t); v = try args.value(for: k, expected: "a time such as 10ms or 1s")
                }
                guard let (ms, raw) = rttTime(v) else { throw UsageError.invalid(v, for: k, expected: "a time such as 10ms or 1s") }
                let scaled = raw ? ms : (k == "rtt" ? ms &* 8 : k == "rttvar" ? ms &* 4 : ms)
                mx.u32(t, scaled)
            case "features":
                let v = try args.value(for: word, expected: "ecn")
                guard v == "ecn" else { throw UsageError.invalid(v, for: "features", expected: "ecn") }
                mx.u32(RTAX_FEATURES, UInt32(RTAX_FEATURE_ECN))
            case "quickack", "fastopen_no_cookie":
                let k = key!
                let v = try args.value(for: k, expected: "0 or 1")
                guard let n = CNumber.parse(v, UInt32.self), n <= 1 else { throw UsageError.invalid(v, for: k, expected: "0 or 1") }
                mx.u32(k == "quickack" ? RTAX_QUICKACK : RTAX_FASTOPEN_NO_COOKIE, n)
            case "congctl":
                var v = try args.value(for: word, expected: "[lock] a congestion control algorithm")
                if v == "lock" { mxlock |= 1 << UInt32(RTAX_CC_ALGO); v = try args.value(for: word, expected: "an algorithm name") }
                mx.raw(RTAX_CC_ALGO, Array(v.utf8))
            case "realms":
                let v = try args.value(for: word, expected: "FROM/TO or a number")
                w.u32(RTA_FLOW.rawValue, try realms(v))
            case "onlink":
                h.flags |= UInt32(RTNH_F_ONLINK)
            case "nexthop":
                nexthops = [word] + args.remaining
                while args.next() != nil {}
                break loop
            case "nhid":
                nhid = try args.integer(for: word, UInt32.self)
                w.u32(RTA_NH_ID.rawValue, nhid)
            case "protocol":
                h.proto = try RTNames.proto(try args.value(for: word, expected: "a protocol name or number"), for: word)
            case "table":
                let v = try args.value(for: word, expected: "main, local, default or a number")
                guard let t = RTNames.table(v) else { throw UsageError.invalid(v, for: "table", expected: "main, local, default or a number") }
                if t < 256 { h.table = UInt8(t) } else { h.table = UInt8(RT_TABLE_UNSPEC.rawValue); w.u32(RTA_TABLE.rawValue, t) }
                tableOK = true
            case "dev", "oif":
                dev = try args.interfaceName(for: word)
            case "pref":
                let v = try args.value(for: word, expected: "low, medium, high or a number")
                let p: UInt8
                switch v {
                case "low": p = UInt8(ICMPV6_ROUTER_PREF_LOW)
                case "medium": p = UInt8(ICMPV6_ROUTER_PREF_MEDIUM)
                case "high": p = UInt8(ICMPV6_ROUTER_PREF_HIGH)
                default:
                    guard let n = CNumber.parse(v, UInt8.self) else { throw UsageError.invalid(v, for: "pref", expected: "low, medium, high or a number") }
                    p = n
                }
                w.u8(RTA_PREF.rawValue, p)
            case "ttl-propagate":
                let v = try args.value(for: word, expected: "enabled or disabled")
                if !v.isEmpty && "enabled".hasPrefix(v) { w.u8(RTA_TTL_PROPAGATE.rawValue, 1) }
                else if !v.isEmpty && "disabled".hasPrefix(v) { w.u8(RTA_TTL_PROPAGATE.rawValue, 0) }
                else { throw UsageError.invalid(v, for: "ttl-propagate", expected: "enabled or disabled") }
            default:
                if word == "help" { throw UsageError(Usage.route) }
                var target = word
                if key == "to" { target = try args.value(for: "to", expected: "a prefix or default") }
                if let first = target.first, !first.isNumber, let t = RTNames.routeType(target) {
                    h.type = t; typeOK = true
                    target = try args.value(for: target, expected: "a prefix or default")
                }
                guard let p = Inet.parsePrefix(target, family: h.family) else {
                    if key == "to" || typeOK { throw UsageError.invalid(target, for: "to", expected: Inet.expected(h.family, prefix: true)) }
                    // A word that looks like an address is a prefix that did not parse (as ip says); any other is
                    // more likely a mistyped keyword.
                    if Arguments.looksLikeAddress(word) {
                        throw UsageError("invalid prefix \"\(word)\": expected \(Inet.expected(h.family, prefix: true)) or default")
                    }
                    throw args.unknown(word, validChoices: modifyKeywords.names + RTNames.routeTypes.map(\.0) + ["PREFIX", "default"])
                }
                if dstOK { throw UsageError("duplicate destination \"\(target)\"") }
                if h.family == 0 { h.family = p.family }
                h.dstLength = UInt8(clamping: p.bitlen)
                dstOK = true
                if !p.bytes.isEmpty { w.raw(RTA_DST.rawValue, p.bytes) }
            }
        }

        guard dstOK else { throw UsageError("missing destination: give PREFIX or default; \(Usage.seeHelp("route"))") }
        if let dev { w.u32(RTA_OIF.rawValue, UInt32(bitPattern: try session.ifindex(dev))) }
        if !mx.bytes.isEmpty || mx.overflow != nil {
            if mxlock != 0 { mx.u32(RTAX_LOCK, mxlock) }
            w.nested(RTA_METRICS.rawValue, mx)
        }
        if let nexthops {
            w.raw(RTA_MULTIPATH.rawValue, try multipath(nexthops, header: &h, session: session))
        }
        if h.family == 0 { h.family = Inet.inet }
        if !tableOK && [RTN_LOCAL, RTN_BROADCAST, RTN_NAT, RTN_ANYCAST].map({ UInt8($0) }).contains(h.type) {
            h.table = UInt8(RT_TABLE_LOCAL.rawValue)
        }
        if !scopeOK {
            if h.family == Inet.inet6 || h.family == UInt8(AF_MPLS) { h.scope = UInt8(RT_SCOPE_UNIVERSE.rawValue) }
            else if h.type == UInt8(RTN_LOCAL) || h.type == UInt8(RTN_NAT) { h.scope = UInt8(RT_SCOPE_HOST.rawValue) }
            else if [RTN_BROADCAST, RTN_MULTICAST, RTN_ANYCAST].map({ UInt8($0) }).contains(h.type) { h.scope = UInt8(RT_SCOPE_LINK.rawValue) }
            else if h.type == UInt8(RTN_UNICAST) || h.type == UInt8(RTN_UNSPEC) {
                if type == RTM_DELROUTE { h.scope = UInt8(RT_SCOPE_NOWHERE.rawValue) }
                else if !gwOK && nexthops == nil && nhid == 0 { h.scope = UInt8(RT_SCOPE_LINK.rawValue) }
            }
        }
        let msg = try RTMessage.route(type, flags: flags, header: h, attributes: w)
        try session.submit(NetlinkRequest(msg, operation: command))
    }

    /// `via [inet|inet6] ADDR`, as iproute2's read_family() then get_addr().
    /// `as [to] ADDRESS` (RTA_NEWDST): the address's bytes; an unset family becomes the address's.
    static func newDestination(_ args: inout Arguments, for word: String, family: inout UInt8) throws -> [UInt8] {
        var v = try args.value(for: word, expected: "an address")
        if v == "to" { v = try args.value(for: "as to", expected: "an address") }
        let a = try Inet.address(v, for: word, family: family)
        if family == 0 { family = a.family }
        return a.bytes
    }

    static func gateway(_ args: inout Arguments, family: UInt8) throws -> InetPrefix {
        var v = try args.value(for: "via", expected: "a gateway address")
        var fam = family
        if v == "inet" || v == "inet6" {
            fam = v == "inet" ? Inet.inet : Inet.inet6
            v = try args.value(for: "via \(v)", expected: "a gateway address")
        }
        return try Inet.address(v, for: "via", family: fam)
    }

    /// struct rtvia: the address family (host-order u16) then the address.
    static func via(_ a: InetPrefix) -> [UInt8] {
        var b: [UInt8] = []
        Bytes.append(UInt16(a.family), to: &b)
        return b + a.bytes
    }

    /// RTA_MULTIPATH payload from `nexthop via ADDR dev IFNAME weight N onlink ...` groups (iproute2's parse_nexthops()).
    static func multipath(_ words: [String], header h: inout RouteHeader, session: Session) throws -> [UInt8] {
        var a = Arguments(words)
        var out: [UInt8] = []
        while let word = a.next() {
            guard word == "nexthop" else { throw UsageError("\"nexthop\" or end of line is expected instead of \"\(word)\"") }
            guard a.peek != nil else { throw UsageError("unexpected end of line after \"nexthop\"") }
            var flags: UInt8 = 0, hops: UInt8 = 0
            var ifindex: Int32 = 0
            var attrs = AttributeWriter()
            hop: while let k = a.peek {
                switch k {
                case "via":
                    _ = a.next()
                    let g = try gateway(&a, family: h.family)
                    if h.family == 0 { h.family = g.family }
                    if g.family == h.family { attrs.raw(RTA_GATEWAY.rawValue, g.bytes) } else { attrs.raw(RTA_VIA.rawValue, via(g)) }
                case "dev":
                    _ = a.next()
                    ifindex = try session.ifindex(try a.interfaceName(for: "dev"))
                case "weight":
                    _ = a.next()
                    let v = try a.value(for: "weight", expected: "a number 1-256")
                    guard let n = CNumber.parse(v, UInt32.self), (1...256).contains(n) else {
                        throw UsageError.invalid(v, for: "weight", expected: "a number 1-256")
                    }
                    hops = UInt8(n - 1)
                case "onlink":
                    _ = a.next(); flags |= UInt8(RTNH_F_ONLINK)
                case _ where !k.isEmpty && "realms".hasPrefix(k):
                    _ = a.next()
                    attrs.u32(RTA_FLOW.rawValue, try realms(try a.value(for: "realms", expected: "FROM/TO or a number")))
                case "as":
                    _ = a.next()
                    var v = try a.value(for: "as", expected: "an address")
                    if v == "to" { v = try a.value(for: "as to", expected: "an address") }
                    attrs.raw(RTA_NEWDST.rawValue, try Inet.address(v, for: "as", family: h.family).bytes)
                case "nexthop":
                    break hop
                default:
                    throw UsageError.unknown(k, in: "nexthop", validChoices: ["via", "dev", "weight", "onlink", "realms", "as", "nexthop"])
                }
            }
            // struct rtnexthop's rtnh_len is a u16 that counts its 8-byte header.
            let hop = try attrs.encoded()
            guard hop.count <= Int(UInt16.max) - 8 else {
                throw WireLengthError(attributeType: UInt16(RTA_MULTIPATH.rawValue), length: 8 + hop.count, limit: Int(UInt16.max))
            }
            Bytes.append(UInt16(8 + hop.count), to: &out)
            out += [flags, hops]
            Bytes.append(ifindex, to: &out)
            out += hop
        }
        return out
    }

    /// iproute2's default /etc/iproute2/rt_dsfield names: DiffServ codepoints (RFC 2474 class selectors, RFC 2597
    /// assured forwarding AFxy = 8x+2y, RFC 3246 expedited forwarding 46) shifted into the TOS byte.
    static let dsfieldNames: [(UInt8, String)] = {
        var t: [(UInt8, String)] = [(0, "default")]
        for x in 1...4 { for y in 1...3 { t.append((UInt8((8 * x + 2 * y) << 2), "AF\(x)\(y)")) } }
        for x in 1...7 { t.append((UInt8((8 * x) << 2), "CS\(x)")) }
        t.append((46 << 2, "EF"))
        return t
    }()

    /// rtnl_dsfield_n2a(): a DiffServ name, else "0x%02x".
    static func dsfieldName(_ v: UInt8) -> String { dsfieldNames.first { $0.0 == v }?.1 ?? "0x" + hex2(v) }

    /// rtnl_dsfield_a2n(): a DiffServ name or a hex TOS value.
    static func dsfield(_ v: String, for keyword: String) throws -> UInt8 {
        if let n = dsfieldNames.first(where: { $0.1 == v }) { return n.0 }
        var s = Substring(v)
        if s.hasPrefix("0x") || s.hasPrefix("0X") { s = s.dropFirst(2) }
        guard let n = UInt8(s, radix: 16) else { throw UsageError.invalid(v, for: keyword, expected: "a TOS value in hex (0x00-0xff)") }
        return n
    }

    /// get_rt_realms_or_raw(): FROM/TO realm numbers, or a raw 32-bit value.
    static func realms(_ v: String) throws -> UInt32 {
        if let n = CNumber.parse(v, UInt32.self) { return n }
        let parts = v.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw UsageError.invalid(v, for: "realms", expected: "FROM/TO or a number") }
        let from = parts[0].isEmpty ? 0 : CNumber.parse(parts[0], UInt16.self)
        let to = parts[1].isEmpty ? 0 : CNumber.parse(parts[1], UInt16.self)
        guard let from, let to else { throw UsageError.invalid(v, for: "realms", expected: "FROM/TO or a number") }
        return UInt32(from) << 16 | UInt32(to)
    }

    /// get_time_rtt(): a time in ms (suffix s/sec/secs multiplies by 1000, ms/msec/msecs); raw when no suffix.
    static func rttTime(_ v: String) -> (UInt32, Bool)? {
        let digits = v.prefix { $0.isNumber || $0 == "." || $0 == "x" || $0 == "X" || $0.isHexDigit }
        var numberPart = String(digits)
        var suffix = String(v.dropFirst(digits.count))
        // Hex digits may swallow a suffix like "s" only in the 0x form; re-split for decimal numbers.
        if !numberPart.hasPrefix("0x") && !numberPart.hasPrefix("0X") {
            let d = v.prefix { $0.isNumber || $0 == "." }
            numberPart = String(d); suffix = String(v.dropFirst(d.count))
        }
        var t: Double
        if numberPart.contains(".") { guard let d = Double(numberPart), d >= 0 else { return nil }; t = d }
        else { guard let n = CNumber.parse(numberPart, UInt32.self) else { return nil }; t = Double(n) }
        var raw = true
        if !suffix.isEmpty {
            raw = false
            switch suffix.lowercased() {
            case "s", "sec", "secs": t *= 1000
            case "ms", "msec", "msecs": break
            default: return nil
            }
        }
        guard t < Double(UInt32.max) else { return nil }
        var val = UInt32(t)
        if Double(val) < t { val += 1 }
        return (val, raw)
    }

    // MARK: show / flush

    /// iproute2's route filter: the selectors of `route show|flush`.
    struct Filter {
        var table: UInt32 = RT_TABLE_MAIN.rawValue
        var family: UInt8 = 0
        var proto: UInt8 = 0, protoMask: UInt8 = 0
        var scope: UInt8 = 0, scopeMask: UInt8 = 0
        var typeMask: UInt32 = 0
        var tos: UInt8 = 0, tosMask: UInt8 = 0
        var oif: Int32?
        var iif: Int32?
        var metric: UInt32?
        var via: InetPrefix?
        var prefsrc: InetPrefix?
        /// "root PREFIX": routes inside PREFIX.
        var root: InetPrefix?
        /// "match PREFIX": routes covering PREFIX.
        var match: InetPrefix?
        var cloned = false

        func accepts(_ r: RouteMessage) -> Bool {
            let h = r.header
            if family != 0 && h.family != family { return false }
            if cloned != (h.flags & UInt32(RTM_F_CLONED) != 0) { return false }
            if table != 0 && r.table != table { return false }
            if (proto ^ h.proto) & protoMask != 0 { return false }
            if (scope ^ h.scope) & scopeMask != 0 { return false }
            if typeMask != 0 && typeMask & (1 << UInt32(h.type & 31)) == 0 { return false }
            if (tos ^ h.tos) & tosMask != 0 { return false }
            let dst = r.destination?.bytes ?? [UInt8](repeating: 0, count: Inet.byteLength(h.family))
            if let root {
                if root.family != 0 && root.family != h.family { return false }
                if root.bitlen > Int(h.dstLength) { return false }
                if root.bitlen > 0 && !Inet.match(dst, root.bytes, bits: root.bitlen) { return false }
            }
            if let match {
                if match.family != 0 && match.family != h.family { return false }
                if match.bitlen >= 0 && match.bitlen < Int(h.dstLength) { return false }
                if !match.bytes.isEmpty && !Inet.match(dst, match.bytes, bits: Int(h.dstLength)) { return false }
            }
            if let via {
                guard let g = r.gateway ?? r.via else { return false }
                if via.family != 0 && g.family != via.family { return false }
                if via.bitlen > 0 && !Inet.match(g.bytes, via.bytes, bits: via.bitlen) { return false }
            }
            if let prefsrc {
                guard let s = r.preferredSource, prefsrc.family == 0 || s.family == prefsrc.family else { return false }
                if prefsrc.bitlen > 0 && !Inet.match(s.bytes, prefsrc.bytes, bits: prefsrc.bitlen) { return false }
            }
            if let oif, (r.outputInterface ?? 0) != oif { return false }
            if let iif, (r.inputInterface ?? 0) != iif { return false }
            if let metric, (r.priority ?? 0) != metric { return false }
            return true
        }
    }

    static let listKeywords: [Keyword] = [
        .abbrev("table"), .abbrev("cached"), .abbrev("cloned"), .exact("tos"), .abbrev("dsfield"), .abbrev("protocol"),
        .abbrev("scope"), .abbrev("type"), .exact("dev"), .exact("oif"), .exact("iif"), .abbrev("metric"), .abbrev("priority"),
        .exact("preference"), .exact("via"), .exact("src"), .abbrev("from"),
    ]

    static func list(_ args: inout Arguments, _ session: Session, flush: Bool) throws {
        var f = Filter()
        f.family = session.options.family
        if flush && args.isEmpty { throw UsageError("route flush requires arguments, e.g. \"table main\" or \"dev IFNAME\"") }
        var oifName: String?, iifName: String?
        while let word = args.next() {
            switch listKeywords.resolve(word) {
            case "table":
                let v = try args.value(for: word, expected: "main, local, default, all, cache or a number")
                if let t = RTNames.table(v) { f.table = t }
                else if v == "all" { f.table = 0 }
                else if v == "cache" { f.cloned = true }
                else { throw UsageError.invalid(v, for: "table", expected: "main, local, default, all, cache or a number") }
            case "cached", "cloned": f.cloned = true
            case "tos", "dsfield":
                f.tos = try dsfield(try args.value(for: word, expected: "a TOS value in hex"), for: word); f.tosMask = 0xff
            case "protocol":
                let v = try args.value(for: word, expected: "a protocol name, number or all")
                if v == "all" { f.proto = 0; f.protoMask = 0 } else { f.proto = try RTNames.proto(v, for: word); f.protoMask = 0xff }
            case "scope":
                let v = try args.value(for: word, expected: RTNames.scopeExpected + " or all")
                if v == "all" { f.scope = UInt8(RT_SCOPE_NOWHERE.rawValue); f.scopeMask = 0 } else { f.scope = try RTNames.scope(v, for: word); f.scopeMask = 0xff }
            case "type":
                let v = try args.value(for: word, expected: "a route type")
                guard let t = RTNames.routeType(v) else {
                    throw UsageError.invalid(v, for: "type", expected: "one of " + RTNames.routeTypes.map(\.0).joined(separator: ", "))
                }
                f.typeMask = 1 << UInt32(t & 31)
            case "dev", "oif": oifName = try args.interfaceName(for: word)
            case "iif": iifName = try args.interfaceName(for: word)
            case "metric", "priority", "preference": f.metric = try args.integer(for: word, UInt32.self)
            case "via":
                var v = try args.value(for: word, expected: "a gateway prefix")
                var fam = f.family
                if v == "inet" || v == "inet6" { fam = v == "inet" ? Inet.inet : Inet.inet6; v = try args.value(for: word, expected: "a gateway prefix") }
                f.via = try Inet.prefix(v, for: word, family: fam)
            case "src": f.prefsrc = try Inet.prefix(try args.value(for: word, expected: "a source prefix"), for: word, family: f.family)
            case "from":
                throw UsageError("route show \"from\" selectors are not supported by isthmus")
            default:
                if word == "help" { throw UsageError(Usage.route) }
                var v = word
                var mode = "exact"
                if !v.isEmpty && "to".hasPrefix(v) { v = try args.value(for: "to", expected: "a prefix") }
                for m in ["root", "match", "exact"] where !v.isEmpty && m.hasPrefix(v) {
                    mode = m; v = try args.value(for: m, expected: "a prefix"); break
                }
                guard let p = Inet.parsePrefix(v, family: f.family) else {
                    throw args.unknown(word, validChoices: listKeywords.names + ["root", "match", "exact", "PREFIX"])
                }
                switch mode {
                case "root": f.root = p
                case "match": f.match = p
                default: f.root = p; f.match = p
                }
            }
        }
        if let oifName { f.oif = try session.ifindex(oifName) }
        if let iifName { f.iif = try session.ifindex(iifName) }
        var dumpFamily = f.family
        if dumpFamily == 0 && f.table != 0 { dumpFamily = Inet.inet }
        if f.family == 0 && (f.table != 0) { f.family = Inet.inet }

        try session.flush()
        let names = try linkNames(session)
        // iproute_dump_filter(): the cache is dumped only when RTM_F_CLONED is asked for.
        let msg = try RTMessage.route(RTM_GETROUTE, flags: [], header: RouteHeader(family: dumpFamily, flags: f.cloned ? UInt32(RTM_F_CLONED) : 0))
        let routes = try session.rtnl().dump(msg, operation: "dump routes").compactMap { m -> RouteMessage? in
            m.type == UInt16(RTM_NEWROUTE) ? try? RouteMessage(m) : nil
        }
        let selected = routes.filter(f.accepts)
        if flush {
            guard !selected.isEmpty else { return }
            let requests = try selected.map { r -> NetlinkRequest in
                var h: [UInt8] = []
                r.header.encode(into: &h)
                var w = AttributeWriter()
                for a in r.attributes { w.raw(a.type, a.data, flags: a.nested ? UInt16(NLA_F_NESTED) : 0) }
                return NetlinkRequest(try RTMessage.make(RTM_DELROUTE, flags: [], header: h, attributes: w), operation: "route flush")
            }
            for r in try session.rtnl().execute(requests, stopOnError: false) {
                if case .failure(let e) = r, e.errno != ESRCH, e.errno != ENOENT { throw e }
            }
            return
        }
        for r in selected { emit(describe(r, names: names, filter: f, session: session), session) }
    }

    static func emit(_ d: (text: String, json: JSONObject), _ session: Session) {
        if session.options.json { session.emit(d.json.json) } else {
            for line in d.text.split(separator: "\n", omittingEmptySubsequences: false) { session.print(String(line)) }
        }
    }

    static func linkNames(_ session: Session) throws -> [Int32: String] {
        var names: [Int32: String] = [:]
        for l in try RTDump.links(session) { if let n = l.name { names[l.header.index] = n } }
        return names
    }

    // MARK: get

    static let getKeywords: [Keyword] = [
        .exact("tos"), .abbrev("dsfield"), .abbrev("from"), .abbrev("iif"), .abbrev("mark"), .abbrev("oif"), .exact("dev"),
        .abbrev("notify"), .abbrev("connected"), .abbrev("uid"), .abbrev("fibmatch"), .exact("as"), .abbrev("sport"),
        .abbrev("dport"), .abbrev("ipproto"), .exact("to"),
    ]

    static func get(_ args: inout Arguments, _ session: Session) throws {
        var h = RouteHeader(family: session.options.family)
        var w = AttributeWriter()
        var idev: String?, odev: String?
        var mark: UInt32 = 0
        var fibMatch = false
        var found = false
        while let word = args.next() {
            let key = getKeywords.resolve(word)
            switch key {
            case "tos", "dsfield": h.tos = try dsfield(try args.value(for: word, expected: "a TOS value in hex"), for: word)
            case "from":
                let p = try Inet.prefix(try args.value(for: word, expected: "a source address"), for: word, family: h.family)
                if h.family == 0 { h.family = p.family }
                if !p.bytes.isEmpty { w.raw(RTA_SRC.rawValue, p.bytes) }
                h.srcLength = UInt8(clamping: p.bitlen)
            case "iif": idev = try args.interfaceName(for: word)
            case "mark": mark = try args.integer(for: word, UInt32.self)
            case "oif", "dev": odev = try args.interfaceName(for: word)
            case "notify": h.flags |= UInt32(RTM_F_NOTIFY)
            case "connected": throw UsageError("route get \"connected\" is not supported by isthmus")
            case "uid": w.u32(RTA_UID.rawValue, try args.integer(for: word, UInt32.self))
            case "fibmatch": fibMatch = true
            case "as": w.raw(RTA_NEWDST.rawValue, try newDestination(&args, for: word, family: &h.family))
            case "sport", "dport":
                let k = key!
                w.be16(k == "sport" ? RTA_SPORT.rawValue : RTA_DPORT.rawValue, try args.integer(for: k, UInt16.self))
            case "ipproto":
                let v = try args.value(for: word, expected: "tcp, udp, icmp, ipv6-icmp or a number")
                let table: [String: Int32] = ["tcp": Int32(IPPROTO_TCP), "udp": Int32(IPPROTO_UDP), "icmp": Int32(IPPROTO_ICMP), "ipv6-icmp": Int32(IPPROTO_ICMPV6)]
                guard let p = table[v].map({ UInt8($0) }) ?? CNumber.parse(v, UInt8.self) else {
                    throw UsageError.invalid(v, for: "ipproto", expected: "tcp, udp, icmp, ipv6-icmp or a number")
                }
                w.u8(RTA_IP_PROTO.rawValue, p)
            default:
                if word == "help" { throw UsageError(Usage.route) }
                var v = word
                if key == "to" { v = try args.value(for: "to", expected: "an address") }
                guard let p = Inet.parsePrefix(v, family: h.family) else {
                    throw args.unknown(word, validChoices: getKeywords.names + ["ADDRESS"])
                }
                if h.family == 0 { h.family = p.family }
                if !p.bytes.isEmpty { w.raw(RTA_DST.rawValue, p.bytes) }
                if h.family == Inet.inet && p.bitlen != 32 { h.dstLength = 32 }
                else if h.family == Inet.inet6 && p.bitlen != 128 { h.dstLength = 128 }
                else { h.dstLength = UInt8(clamping: p.bitlen) }
                found = true
            }
        }
        guard found else { throw UsageError("route get needs a destination address; \(Usage.seeHelp("route"))") }
        if let idev { w.u32(RTA_IIF.rawValue, UInt32(bitPattern: try session.ifindex(idev))) }
        if let odev { w.u32(RTA_OIF.rawValue, UInt32(bitPattern: try session.ifindex(odev))) }
        if mark != 0 { w.u32(RTA_MARK.rawValue, mark) }
        if h.family == 0 { h.family = Inet.inet }
        if h.family == Inet.inet { h.flags |= UInt32(RTM_F_LOOKUP_TABLE) }
        if fibMatch { h.flags |= UInt32(RTM_F_FIB_MATCH) }

        try session.flush()
        let msg = try RTMessage.route(RTM_GETROUTE, flags: [], header: h, attributes: w)
        let replies = try session.rtnl().request(msg, operation: "route get " + args.words.dropFirst(2).joined(separator: " "))
        guard let reply = replies.first(where: { $0.type == UInt16(RTM_NEWROUTE) }) else {
            throw UsageError("route get: the kernel returned no route")
        }
        let r = try RouteMessage(reply)
        let names = try linkNames(session)
        var f = Filter()
        f.table = 0
        emit(describe(r, names: names, filter: f, session: session), session)
    }

    // MARK: printing

    static let flagNames: [(UInt32, String)] = [
        (UInt32(RTNH_F_DEAD), "dead"), (UInt32(RTNH_F_ONLINK), "onlink"), (UInt32(RTNH_F_PERVASIVE), "pervasive"),
        (UInt32(RTNH_F_OFFLOAD), "offload"), (UInt32(RTNH_F_TRAP), "trap"), (UInt32(RTM_F_NOTIFY), "notify"),
        (UInt32(RTNH_F_LINKDOWN), "linkdown"), (UInt32(RTNH_F_UNRESOLVED), "unresolved"), (UInt32(RTM_F_OFFLOAD), "rt_offload"),
        (UInt32(RTM_F_TRAP), "rt_trap"), (UInt32(RTM_F_OFFLOAD_FAILED), "rt_offload_failed"),
    ]
    static let cacheFlagNames: [(UInt32, String)] = [
        (UInt32(truncatingIfNeeded: RTCF_LOCAL), "local"), (UInt32(RTCF_REJECT), "reject"), (UInt32(RTCF_MULTICAST), "mc"),
        (UInt32(RTCF_BROADCAST), "brd"), (UInt32(RTCF_DNAT), "dst-nat"), (UInt32(RTCF_SNAT), "src-nat"), (UInt32(RTCF_MASQ), "masq"),
        (UInt32(RTCF_DIRECTDST), "dst-direct"), (UInt32(RTCF_DIRECTSRC), "src-direct"), (UInt32(RTCF_REDIRECTED), "redirected"),
        (UInt32(RTCF_DOREDIRECT), "redirect"), (UInt32(RTCF_FAST), "fastroute"), (UInt32(RTCF_NOTIFY), "notify"),
        (UInt32(RTCF_TPROXY), "proxy"),
    ]
    static let metricNames: [(Int, String)] = [
        (RTAX_MTU, "mtu"), (RTAX_WINDOW, "window"), (RTAX_RTT, "rtt"), (RTAX_RTTVAR, "rttvar"), (RTAX_SSTHRESH, "ssthresh"),
        (RTAX_CWND, "cwnd"), (RTAX_ADVMSS, "advmss"), (RTAX_REORDERING, "reordering"), (RTAX_HOPLIMIT, "hoplimit"),
        (RTAX_INITCWND, "initcwnd"), (RTAX_FEATURES, "features"), (RTAX_RTO_MIN, "rto_min"), (RTAX_INITRWND, "initrwnd"),
        (RTAX_QUICKACK, "quickack"), (RTAX_CC_ALGO, "congctl"), (RTAX_FASTOPEN_NO_COOKIE, "fastopen_no_cookie"),
    ]

    /// Text (possibly several lines) and JSON of one route, as iproute2's print_route().
    static func describe(_ r: RouteMessage, names: [Int32: String], filter f: Filter, session: Session) -> (text: String, json: JSONObject) {
        let h = r.header
        var p = FieldPrinter()
        let details = session.options.details
        let hostLen = h.family == Inet.inet ? 32 : h.family == Inet.inet6 ? 128 : 0
        if h.type != UInt8(RTN_UNICAST) || details { p.string("type", nil, RTNames.routeTypeName(h.type)) }
        var dst: String
        if let d = r.destination { dst = Int(h.dstLength) != hostLen ? "\(d)/\(h.dstLength)" : d.description }
        else if h.dstLength != 0 { dst = "0/\(h.dstLength)" }
        else { dst = "default" }
        p.string("dst", nil, dst)
        if let s = r.source {
            p.string("from", "from", Int(h.srcLength) != hostLen ? "\(s)/\(h.srcLength)" : s.description)
        } else if h.srcLength != 0 {
            p.field("src", .string("0/\(h.srcLength)"), text: "from 0/\(h.srcLength) ")
        }
        p.number("nhid", "nhid", r.nextHopID)
        p.string("newdst", "as to", r.attribute(RTA_NEWDST).flatMap { IPAddress(bytes: $0.data) }?.description)
        if h.tos != 0 && f.tosMask != 0xff { p.string("tos", "tos", dsfieldName(h.tos)) }
        if f.via?.bitlen != hostLen { p.string("gateway", "via", r.gateway?.description) }
        if let v = r.attribute(RTA_VIA) { via(v, into: &p) }
        if let oif = r.outputInterface, f.oif == nil { p.string("dev", "dev", names[oif] ?? session.ifname(oif) ?? "if\(oif)") }
        let table = r.table
        if table != 0 && (table != RT_TABLE_MAIN.rawValue || details) && f.table == 0 {
            p.string("table", "table", RTNames.tableName(table))
        }
        if h.flags & UInt32(RTM_F_CLONED) == 0 {
            if (h.proto != UInt8(RTPROT_BOOT) || details) && f.protoMask != 0xff { p.string("protocol", "proto", RTNames.protoName(h.proto)) }
            if (h.scope != UInt8(RT_SCOPE_UNIVERSE.rawValue) || details) && f.scopeMask != 0xff {
                p.string("scope", "scope", RTNames.scopeName(h.scope))
            }
        }
        if f.prefsrc?.bitlen != hostLen { p.string("prefsrc", "src", r.preferredSource?.description) }
        if f.metric == nil { p.number("metric", "metric", r.priority) }
        flags(flagNames.filter { h.flags & $0.0 != 0 }.map(\.1), into: &p)
        if let mark = r.mark, mark != 0 {
            p.field("mark", JSON(mark), text: mark >= 16 ? "mark 0x\(String(mark, radix: 16)) " : "mark \(mark) ")
        }
        if let flow = r.attribute(RTA_FLOW)?.u32 {
            let from = flow >> 16, to = flow & 0xffff
            var o = JSONObject()
            if from != 0 { o.set("from", String(from)) }
            o.set("to", String(to))
            p.field("flow", o.json, text: from != 0 ? "realms \(from)/\(to) " : "realm \(to) ")
        }
        p.number("uid", "uid", r.uid)
        if h.family == Inet.inet && h.flags & UInt32(RTM_F_CLONED) != 0 {
            var cf = h.flags & ~UInt32(0xffff)
            var names: [String] = []
            for (bit, n) in cacheFlagNames where cf & bit != 0 { cf &= ~bit; names.append(n) }
            if cf != 0 { names.append(String(cf, radix: 16)) }
            p.field("cache", .array(names.map { .string($0) }),
                    text: "\n    cache " + (names.isEmpty ? "" : "<" + names.joined(separator: ",") + "> "))
        }
        if h.family == Inet.inet || h.family == Inet.inet6, let ci = r.cacheExpiresAndError {
            let hz = max(1, Int32(sysconf(Int32(_SC_CLK_TCK))))
            if ci.expires != 0 { p.field("expires", JSON(Int(ci.expires / hz)), text: "expires \(ci.expires / hz)sec ") }
            if ci.error != 0 { p.number("error", "error", ci.error) }
        }
        if let mxa = r.attribute(RTA_METRICS), let kids = try? mxa.children() {
            let m = metrics(kids)
            p.field("metrics", .array([m.json.json]), text: m.text)
        }
        if let iif = r.inputInterface, f.iif == nil { p.string("iif", "iif", names[iif] ?? session.ifname(iif) ?? "if\(iif)") }
        if let pref = r.pref {
            // No space after it: ip's "pref %s" (the next field, if any, begins a line).
            switch Int32(pref) {
            case ICMPV6_ROUTER_PREF_LOW: p.field("pref", "low", text: "pref low")
            case ICMPV6_ROUTER_PREF_MEDIUM: p.field("pref", "medium", text: "pref medium")
            case ICMPV6_ROUTER_PREF_HIGH: p.field("pref", "high", text: "pref high")
            default: p.field("pref", JSON(pref), text: "\(pref)")
            }
        }
        if let tp = r.attribute(RTA_TTL_PROPAGATE)?.u8 {
            p.field("ttl-propogate", .bool(tp != 0), text: "ttl-propogate \(tp != 0 ? "enabled" : "disabled")")
        }
        if r.attribute(RTA_MULTIPATH) != nil {
            var arr: [JSON] = []
            for nh in r.nextHops {
                var o = FieldPrinter()
                o.text("\n\tnexthop ")
                o.string("gateway", "via", nh.gateway?.description)
                if let v = nh.attributes.first(RTA_VIA.rawValue) { via(v, into: &o) }
                o.string("dev", "dev", names[nh.ifindex] ?? session.ifname(nh.ifindex) ?? "if\(nh.ifindex)")
                if h.family != UInt8(AF_MPLS) { o.number("weight", "weight", Int(nh.hops) + 1) }
                flags(flagNames.filter { UInt32(nh.flags) & $0.0 != 0 }.map(\.1), into: &o)
                p.text(o.text)
                arr.append(o.json.json)
            }
            p.jsonOnly("nexthops", .array(arr))
        }
        return (p.text, p.json)
    }

    /// RTA_VIA (struct rtvia: a host-order u16 family, then the address): `via FAMILY HOST `, an object in the JSON.
    static func via(_ v: Attribute, into p: inout FieldPrinter) {
        guard v.data.count >= 2, let fam = Bytes.load(UInt16.self, from: v.data) else { return }
        let famName = RTNames.familyName(UInt8(truncatingIfNeeded: fam))
        let host = IPAddress(bytes: v.data.dropFirst(2))?.description ?? formatHardwareAddress(v.data.dropFirst(2))
        var o = JSONObject(); o.set("family", famName); o.set("host", host)
        p.field("via", o.json, text: "via \(famName) \(host) ")
    }

    /// The route's or a next hop's flag words, each followed by a space; always an array in the JSON.
    static func flags(_ names: [String], into p: inout FieldPrinter) {
        p.field("flags", .array(names.map { .string($0) }), text: names.map { $0 + " " }.joined())
    }

    /// RTA_METRICS: `NAME [lock] VALUE ` for each metric set or locked, and the JSON object of them.
    static func metrics(_ kids: [Attribute]) -> FieldPrinter {
        var o = FieldPrinter()
        let lock = kids.first(RTAX_LOCK)?.u32 ?? 0
        for (type, name) in metricNames {
            let a = kids.first(type)
            if a == nil && lock & (1 << UInt32(type)) == 0 { continue }
            let val: UInt32 = type == RTAX_CC_ALGO ? 0 : (a?.u32 ?? 0)
            if type == RTAX_HOPLIMIT && Int32(bitPattern: val) == -1 { continue }
            o.text(name + " ")
            if lock & (1 << UInt32(type)) != 0 { o.text("lock ") }
            switch type {
            case RTAX_FEATURES:
                var feat = val
                if feat & UInt32(RTAX_FEATURE_ECN) != 0 { o.field("ecn", .null, text: "ecn "); feat &= ~UInt32(RTAX_FEATURE_ECN) }
                if feat != 0 { o.string("features", nil, "0x" + String(val, radix: 16)) }
            case RTAX_RTT, RTAX_RTTVAR, RTAX_RTO_MIN:
                let v = type == RTAX_RTT ? val / 8 : type == RTAX_RTTVAR ? val / 4 : val
                o.field(name, JSON(v), text: v >= 1000 ? "\(formatSeconds(v))s " : "\(v)ms ")
            case RTAX_CC_ALGO:
                o.string("congestion", nil, a?.string ?? "")
            default:
                o.number(name, nil, val)
            }
        }
        return o
    }

    static func hex2(_ v: UInt8) -> String { let s = String(v, radix: 16); return s.count < 2 ? "0" + s : s }

    /// printf("%g", ms/1e3) for the values route metrics take.
    static func formatSeconds(_ ms: UInt32) -> String {
        let whole = ms / 1000, frac = ms % 1000
        if frac == 0 { return String(whole) }
        var f = String(frac)
        while f.count < 3 { f = "0" + f }
        while f.hasSuffix("0") { f.removeLast() }
        return "\(whole).\(f)"
    }
}
