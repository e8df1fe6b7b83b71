import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `xfrm` (ip-xfrm(8)): IPsec states (`xfrm state`) and policies (`xfrm policy`) over NETLINK_XFRM.
///
/// Requests follow iproute2 6.1's ip/xfrm_state.c, ip/xfrm_policy.c and ip/ipxfrm.c: the same structures, the
/// same attributes in the same order (golden bytes in Tests/IPCommandTests/Golden/xfrm). Text output is ip's,
/// byte for byte; ip's xfrm has no JSON, so `-j` prints Isthmus's own (docs/COMPATIBILITY.md).
public enum XFRMCommand {
    /// The objects, in do_xfrm()'s order ("sa" is ip's other name for state).
    static let verbs = ["state", "sa", "policy", "monitor"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        guard let word = args.next() else {
            throw UsageError("\"xfrm\" needs an object: state or policy; usage: \(Usage.xfrm)")
        }
        switch Arguments.match(word, verbs) {
        case "state", "sa": try XFRMState.run(&args, session)
        case "policy": try XFRMPolicy.run(&args, session)
        case "monitor": throw UsageError("\"xfrm monitor\" is not supported by isthmus (states and policies only)")
        default: throw UsageError.unknown(word, in: "xfrm", validChoices: ["state", "policy"])
        }
    }
}

/// Parsing shared by `xfrm state` and `xfrm policy` (ip/ipxfrm.c's xfrm_id_parse, xfrm_selector_parse, ...).
enum XFRMParse {
    static let protocols: [(String, UInt8)] = [
        ("esp", UInt8(IPPROTO_ESP)), ("ah", UInt8(IPPROTO_AH)), ("comp", UInt8(IPPROTO_COMP)),
        ("route2", UInt8(IPPROTO_ROUTING)), ("hao", UInt8(IPPROTO_DSTOPTS)), ("ipsec-any", 255)   // IPSEC_PROTO_ANY (linux/ipsec.h),
    ]
    static let protocolNames = "esp, ah, comp, route2, hao, ipsec-any"
    static let modes: [(String, UInt8)] = [
        ("transport", UInt8(XFRM_MODE_TRANSPORT)), ("tunnel", UInt8(XFRM_MODE_TUNNEL)),
        ("ro", UInt8(XFRM_MODE_ROUTEOPTIMIZATION)), ("in_trigger", UInt8(XFRM_MODE_IN_TRIGGER)), ("beet", UInt8(XFRM_MODE_BEET)),
    ]

    static func isIPsec(_ p: UInt8) -> Bool { p == UInt8(IPPROTO_ESP) || p == UInt8(IPPROTO_AH) || p == UInt8(IPPROTO_COMP) }
    static func isRouteOptimization(_ p: UInt8) -> Bool { p == UInt8(IPPROTO_ROUTING) || p == UInt8(IPPROTO_DSTOPTS) }

    /// A C number (get_u32 and friends: decimal, 0x hex, 0 octal) after `keyword`.
    static func number<T: FixedWidthInteger>(_ args: inout Arguments, for keyword: String, _: T.Type) throws -> T {
        let v = try args.value(for: keyword, expected: "a number")
        guard let n = CNumber.parse(v, T.self) else { throw UsageError.invalid(v, for: keyword, expected: "a number 0-\(T.max)") }
        return n
    }

    /// `KEYWORD NAME...` or `KEYWORD 0xNN` (ip's xfrm_state_flag_parse, xfrm_policy_flag_parse): the names of
    /// `table` while they come, or a hex number that replaces the flags (`replace`).
    static func flags<T: FixedWidthInteger>(_ args: inout Arguments, for keyword: String, _ table: [(String, T)]) throws -> (T, replace: Bool) {
        let expected = "0xNN or one or more of " + table.map(\.0).joined(separator: ", ")
        let first = try args.value(for: keyword, expected: expected)
        if first.count > 2 && first.hasPrefix("0x") {
            guard let v = T(first.dropFirst(2), radix: 16) else { throw UsageError.invalid(first, for: keyword, expected: expected) }
            return (v, true)
        }
        guard let f = table.first(where: { $0.0 == first }) else { throw UsageError.invalid(first, for: keyword, expected: expected) }
        var v = f.1
        while let w = args.peek, let g = table.first(where: { $0.0 == w }) { _ = args.next(); v |= g.1 }
        return (v, false)
    }

    /// `mode MODE` (matches(): abbreviations allowed).
    static func mode(_ args: inout Arguments) throws -> UInt8 {
        let expected = "one of transport, tunnel, ro, in_trigger, beet"
        let v = try args.value(for: "mode", expected: expected)
        guard !v.isEmpty, let m = modes.first(where: { $0.0.hasPrefix(v) }) else { throw UsageError.invalid(v, for: "mode", expected: expected) }
        return m.1
    }

    /// `proto XFRM-PROTO` of an ID.
    static func xfrmProtocol(_ args: inout Arguments, for keyword: String = "proto") throws -> UInt8 {
        let v = try args.value(for: keyword, expected: "one of \(protocolNames)")
        guard let p = protocols.first(where: { $0.0 == v }) else { throw UsageError.invalid(v, for: keyword, expected: "one of \(protocolNames)") }
        return p.1
    }

    static func protocolName(_ p: UInt8) -> String { protocols.first { $0.1 == p }?.0 ?? String(p) }

    /// `mark MARK [mask MASK]` (xfrm_parse_mark): the mask defaults to all ones.
    static func mark(_ args: inout Arguments) throws -> XFRMMark {
        let v = try number(&args, for: "mark", UInt32.self)
        var mask = UInt32.max
        if args.peek == "mask" {
            _ = args.next()
            mask = try number(&args, for: "mask", UInt32.self)
        }
        return XFRMMark(value: v, mask: mask)
    }

    /// An address or prefix for `keyword` in the family given so far (get_prefix with preferred_family).
    static func prefix(_ args: inout Arguments, for keyword: String, family: UInt8) throws -> InetPrefix {
        let v = try args.value(for: keyword, expected: Inet.expected(family, prefix: true))
        let p = try Inet.prefix(v, for: keyword, family: family)
        guard p.family == Inet.inet || p.family == Inet.inet6, !p.isAny else {
            throw UsageError.wrong(v, "value after \"\(keyword)\" has an unrecognized address family")
        }
        return p
    }

    /// The ID words (src, dst, proto, spi) — one group, like xfrm_id_parse(): the family the addresses gave (0 if
    /// none), the prefix lengths given for src and dst (list filters use them) and which words were given.
    struct ID {
        var saddr = [UInt8](repeating: 0, count: 16)
        var id = XFRMID()
        var family: UInt8 = 0
        var srcBits = 0, dstBits = 0
        var protoGiven = false, spiGiven = false
        var given = false
    }
    static let idWords = ["src", "dst", "proto", "spi"]

    /// Parses ID words while they come (whether proto is required is the caller's to check: lists need none).
    static func id(_ args: inout Arguments, into r: inout ID, family: UInt8) throws {
        var srcFamily: UInt8 = 0, dstFamily: UInt8 = 0
        while let w = args.peek, idWords.contains(w) {
            _ = args.next()
            switch w {
            case "src", "dst":
                if (w == "src" && srcFamily != 0) || (w == "dst" && dstFamily != 0) { throw UsageError("\"\(w)\" is given twice in the ID") }
                let p = try prefix(&args, for: w, family: family)
                r.family = p.family
                if w == "src" { r.saddr = [UInt8].padded(p.bytes); r.srcBits = p.bitlen; srcFamily = p.family }
                else { r.id.daddr = [UInt8].padded(p.bytes); r.dstBits = p.bitlen; dstFamily = p.family }
            case "proto":
                if r.protoGiven { throw UsageError("\"proto\" is given twice in the ID") }
                r.id.proto = try xfrmProtocol(&args)
                r.protoGiven = true
            default:
                if r.spiGiven { throw UsageError("\"spi\" is given twice in the ID") }
                r.id.spi = try number(&args, for: "spi", UInt32.self)
                r.spiGiven = true
            }
            r.given = true
        }
        if srcFamily != 0 && dstFamily != 0 && srcFamily != dstFamily {
            throw UsageError("\"src\" and \"dst\" must be of the same address family")
        }
        if r.id.spi != 0 && r.id.proto != 0 {
            if isRouteOptimization(r.id.proto) { throw UsageError("\"spi\" is invalid with XFRM-PROTO value \"\(protocolName(r.id.proto))\"") }
            if r.id.proto == UInt8(IPPROTO_COMP) && r.id.spi >= 0x10000 {
                throw UsageError("SPI value \(r.id.spi) is too large with XFRM-PROTO value \"comp\" (at most 0xffff)")
            }
        }
    }

    /// Lifetime keys of `limit KEY VALUE` (xfrm_lifetime_cfg_parse).
    static let limitKeys = ["time-soft", "time-hard", "time-use-soft", "time-use-hard", "byte-soft", "byte-hard", "packet-soft", "packet-hard"]

    static func limit(_ args: inout Arguments, into l: inout XFRMLifetimeConfig) throws {
        let k = try args.value(for: "limit", expected: limitKeys.joined(separator: ", "))
        guard limitKeys.contains(k) else { throw UsageError.invalid(k, for: "limit", expected: "one of " + limitKeys.joined(separator: ", ")) }
        let v = try number(&args, for: k, UInt64.self)
        switch k {
        case "time-soft": l.softAddExpires = v
        case "time-hard": l.hardAddExpires = v
        case "time-use-soft": l.softUseExpires = v
        case "time-use-hard": l.hardUseExpires = v
        case "byte-soft": l.softByteLimit = v
        case "byte-hard": l.hardByteLimit = v
        case "packet-soft": l.softPacketLimit = v
        default: l.hardPacketLimit = v
        }
    }

    /// What a selector was given, for list filters.
    struct SelectorGiven {
        var srcBits = 0, dstBits = 0
        var dev = false, proto = false, sport = false, dport = false
        var any = false
    }
    static let selectorWords = ["src", "dst", "dev"]
    static let upspecWords = ["proto", "sport", "dport", "type", "code", "key"]

    /// A SELECTOR (xfrm_selector_parse): src, dst, dev and one UPSPEC group, while the words are theirs.
    /// `family` is the preferred family (-4/-6); the selector's own comes from its addresses.
    @discardableResult
    static func selector(_ args: inout Arguments, into sel: inout XFRMSelector, family: UInt8, session: Session) throws -> SelectorGiven {
        var g = SelectorGiven()
        var srcFamily: UInt8 = 0, dstFamily: UInt8 = 0
        var upspecDone = false
        while let w = args.peek {
            if selectorWords.contains(w) {
                _ = args.next()
                switch w {
                case "src", "dst":
                    let p = try prefix(&args, for: w, family: family)
                    sel.family = UInt16(p.family)
                    if w == "src" { sel.saddr = [UInt8].padded(p.bytes); sel.prefixlenS = UInt8(clamping: p.bitlen); g.srcBits = p.bitlen; srcFamily = p.family }
                    else { sel.daddr = [UInt8].padded(p.bytes); sel.prefixlenD = UInt8(clamping: p.bitlen); g.dstBits = p.bitlen; dstFamily = p.family }
                default:
                    let name = try args.value(for: "dev", expected: "an interface name or none")
                    if name == "none" { sel.ifindex = 0 } else {
                        try Arguments.checkInterfaceName(name, for: "dev")
                        sel.ifindex = try session.ifindex(name)
                    }
                    g.dev = true
                }
                g.any = true
            } else if upspecWords.contains(w), !upspecDone {
                try upspec(&args, into: &sel, given: &g)
                upspecDone = true
                g.any = true
            } else {
                break
            }
        }
        if srcFamily != 0 && dstFamily != 0 && srcFamily != dstFamily {
            throw UsageError("the selector's \"src\" and \"dst\" must be of the same address family")
        }
        return g
    }

    /// UPSPEC: proto, then sport/dport, type/code or key, checked against the protocol at the end.
    static func upspec(_ args: inout Arguments, into sel: inout XFRMSelector, given g: inout SelectorGiven) throws {
        var ports = false, typeCode = false, key = false
        while let w = args.peek, upspecWords.contains(w) {
            _ = args.next()
            switch w {
            case "proto":
                let v = try args.value(for: "proto", expected: "a protocol name from /etc/protocols, a number or any")
                if v == "any" { sel.proto = 0 }
                else if let n = RuleCommand.ipProtocol(v) { sel.proto = n }
                else if let n = CNumber.parse(v, UInt8.self) { sel.proto = n }
                else { throw UsageError.invalid(v, for: "proto", expected: "a protocol name from /etc/protocols, a number 0-255 or any") }
                g.proto = true
            case "sport", "dport":
                let v = try number(&args, for: w, UInt16.self)
                if w == "sport" { sel.sport = v; if v != 0 { sel.sportMask = 0xffff }; g.sport = true }
                else { sel.dport = v; if v != 0 { sel.dportMask = 0xffff }; g.dport = true }
                ports = true
            case "type", "code":
                let s = try args.value(for: w, expected: "a number 0-255")
                guard let v = CNumber.parse(s, UInt16.self), v <= 0xff else { throw UsageError.invalid(s, for: w, expected: "a number 0-255") }
                if w == "type" { sel.sport = v; sel.sportMask = 0xffff; g.sport = true }
                else { sel.dport = v; sel.dportMask = 0xffff; g.dport = true }
                typeCode = true
            default:
                let s = try args.value(for: "key", expected: "a dotted quad or a number")
                var k: UInt32
                if s.contains(".") {
                    guard let a = Inet.parseAddress(s, family: Inet.inet), a.bytes.count == 4 else {
                        throw UsageError.invalid(s, for: "key", expected: "a dotted quad or a number")
                    }
                    k = a.bytes.reduce(0) { $0 << 8 | UInt32($1) }
                } else {
                    guard let n = CNumber.parse(s, UInt32.self) else { throw UsageError.invalid(s, for: "key", expected: "a dotted quad or a number 0-4294967295") }
                    k = n
                }
                sel.sport = UInt16(truncatingIfNeeded: k >> 16); sel.dport = UInt16(truncatingIfNeeded: k)
                sel.sportMask = 0xffff; sel.dportMask = 0xffff
                g.dport = true
                key = true
            }
        }
        let p = Int32(sel.proto)
        if ports, ![IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_DCCP, IPPROTO_IP].map({ Int32($0) }).contains(p) {
            throw UsageError("\"sport\" and \"dport\" are invalid with PROTO value \"\(XFRMPrint.protoName(sel.proto))\" (only tcp, udp, sctp, dccp)")
        }
        if typeCode, ![IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_MH].map({ Int32($0) }).contains(p) {
            throw UsageError("\"type\" and \"code\" are invalid with PROTO value \"\(XFRMPrint.protoName(sel.proto))\" (only icmp, ipv6-icmp, mobility-header)")
        }
        if key, p != Int32(IPPROTO_GRE) {
            throw UsageError("\"key\" is invalid with PROTO value \"\(XFRMPrint.protoName(sel.proto))\" (only gre)")
        }
    }

    /// Sends a request that wants an ACK; the kernel's refusal comes back as its NetlinkError (exit 2).
    static func send(_ m: NetlinkMessage, _ session: Session, operation: String) throws {
        try session.xfrm().request(m, operation: operation)
    }

    /// ip's xfrm_addr_match(): do the first `bits` bits of two xfrm_address_t agree?
    /// A GET or DELETE request: a DELETE must be acknowledged; each reply to a GET goes to `show`.
    static func getOrDelete(_ type: UInt16, header: [UInt8], attributes w: AttributeWriter, _ session: Session, operation: String,
                            delete: Bool, show: (NetlinkMessage) -> Void) throws {
        let m = try XFRMMessage.make(type, flags: [.request], header: header, attributes: w)
        if delete {
            try send(m, session, operation: operation)
        } else {
            for r in try session.xfrm().request(m, operation: operation) { show(r) }
        }
    }

    static func addressMatch(_ a: [UInt8], _ b: [UInt8], bits: Int) -> Bool { Inet.match(a, b, bits: bits) }
}

extension Array where Element == UInt8 {
    /// An address as xfrm_address_t: 16 bytes, zero filled.
    static func padded(_ b: [UInt8]) -> [UInt8] { b.count >= 16 ? Array(b.prefix(16)) : b + [UInt8](repeating: 0, count: 16 - b.count) }
}

/// Printing shared by states and policies: ip/ipxfrm.c's helpers, each line built as ip builds it, `_SL_` being a
/// line break (or `\` with -o).
struct XFRMPrint {
    var text = ""
    let stats: Int
    let session: Session

    init(session: Session) { self.session = session; self.stats = session.options.statistics }

    mutating func sl() { text += "\n" }

    /// Emits the record: its lines, or with -o one line with `\` for each break (ip prints _SL_ as "\").
    func emit() {
        if session.options.oneline {
            session.print(text.replacingAll("\n", "\\"))
        } else {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
            for l in lines { session.print(l) }
        }
    }

    /// rt_addr_n2a() of an xfrm_address_t in `family`.
    static func address(_ b: [UInt8], family: UInt16) -> String {
        switch Int32(family) {
        case AF_INET: return IPAddress(bytes: Array(b.prefix(4)))?.description ?? "???"
        case AF_INET6: return IPAddress(bytes: [UInt8].padded(b))?.description ?? "???"
        default: return "???"
        }
    }

    /// strxf_proto(): the /etc/protocols name, else the number.
    static func protoName(_ p: UInt8) -> String {
        if let pe = getprotobynumber(Int32(p)), let n = pe.pointee.p_name { return String(cString: n) }
        return String(p)
    }

    /// A state or policy message as ip prints it: "Deleted ", "Updated " or "Expired " by its type, the object
    /// (`info`), then "hard N" for an expiry.
    static func emit<Info>(_ m: XFRMObjectMessage<Info>, _ session: Session, deleted: UInt16, updated: UInt16, expired: UInt16,
                           info: (inout XFRMPrint) -> Void) {
        var p = XFRMPrint(session: session)
        switch m.type {
        case deleted: p.text += "Deleted "
        case updated: p.text += "Updated "
        case expired: p.text += "Expired "
        default: break
        }
        info(&p)
        if let hard = m.hard { p.text += "\thard \(hard)"; p.sl() }
        p.emit()
    }

    /// `KEYWORD NAME NAME...`: the names of `table` for the bits set in `value`, then what no name covers in hex
    /// (ip's XFRM_FLAG_PRINT loop).
    static func flags<T: FixedWidthInteger>(_ keyword: String, _ value: T, _ table: [(String, T)]) -> String {
        var v = value
        var s = keyword + " "
        for (name, bit) in table where v & bit != 0 { v &= ~bit; s += name + (v != 0 ? " " : "") }
        if v != 0 { s += String(v, radix: 16) }
        return s
    }

    /// ` (0xBBBBBBBB)`: a flags byte in binary, as `ip -s` prints it (sic: "0x" before binary digits).
    static func flagBits(_ f: UInt8) -> String {
        " (0x" + (0..<8).reversed().map { f & (1 << $0) != 0 ? "1" : "0" }.joined() + ")"
    }

    static func modeName(_ m: UInt8) -> String { XFRMParse.modes.first { $0.1 == m }?.0 ?? String(m) }

    static func hex8(_ v: UInt32) -> String { let h = String(v, radix: 16); return String(repeating: "0", count: max(0, 8 - h.count)) + h }
    /// printf("%#x"): 0 is "0", anything else "0x…".
    static func altHex(_ v: UInt32) -> String { v == 0 ? "0" : "0x" + String(v, radix: 16) }

    /// strxf_time(): "-" for 0, else local time "%Y-%m-%d %T".
    static func time(_ t: UInt64) -> String {
        if t == 0 { return "-" }
        var tt = time_t(truncatingIfNeeded: Int64(bitPattern: t))
        var tmv = tm()
        guard localtime_r(&tt, &tmv) != nil else { return "-" }
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%Y-%m-%d %T", &tmv)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func limit(_ v: UInt64) -> String { v == xfrmInfinity ? "(INF)" : String(v) }

    /// xfrm_id_info_print().
    mutating func idInfo(saddr: [UInt8], id: XFRMID, mode: UInt8, reqid: UInt32, family: UInt16, forceSPI: Bool, prefix: String, title: String?) {
        if let title { text += title }
        text += "src \(Self.address(saddr, family: family)) dst \(Self.address(id.daddr, family: family))"
        sl()
        text += prefix + "\t"
        text += "proto \(XFRMParse.protocolName(id.proto)) "
        if stats > 0 || forceSPI || id.spi != 0 {
            text += "spi 0x\(Self.hex8(id.spi))"
            if stats > 0 { text += "(\(id.spi))" }
            text += " "
        }
        text += "reqid \(reqid)"
        if stats > 0 { text += "(0x\(Self.hex8(reqid)))" }
        text += " mode \(Self.modeName(mode))"
        sl()
    }

    /// xfrm_selector_print().
    mutating func selector(_ sel: XFRMSelector, family: UInt16, prefix: String) {
        var f = sel.family
        if f == 0 { f = family }
        if f == 0 { f = UInt16(session.options.family) }
        text += prefix
        text += "src \(Self.address(sel.saddr, family: f))/\(sel.prefixlenS) "
        text += "dst \(Self.address(sel.daddr, family: f))/\(sel.prefixlenD) "
        if sel.proto != 0 { text += "proto \(Self.protoName(sel.proto)) " }
        switch Int32(sel.proto) {
        case Int32(IPPROTO_ICMP), Int32(IPPROTO_ICMPV6):
            if sel.sportMask != 0 { text += "type \(sel.sport) " }
            if sel.dportMask != 0 { text += "code \(sel.dport) " }
        case Int32(IPPROTO_GRE):
            if sel.sportMask != 0 || sel.dportMask != 0 { text += "key \((UInt32(sel.sport) << 16) + UInt32(sel.dport)) " }
        case Int32(IPPROTO_MH):
            if sel.sportMask != 0 { text += "type \(sel.sport) " }
            if sel.dportMask != 0 && stats > 0 {
                // ip prints the raw (network-order) field as %.4x.
                let raw = sel.dport.byteSwapped
                let h = String(raw, radix: 16)
                text += "(dport) 0x\(String(repeating: "0", count: max(0, 4 - h.count)) + h) "
            }
        default:
            if sel.sportMask != 0 { text += "sport \(sel.sport) " }
            if sel.dportMask != 0 { text += "dport \(sel.dport) " }
        }
        if sel.ifindex > 0 { text += "dev \(session.ifname(sel.ifindex) ?? "if\(sel.ifindex)") " }
        if stats > 0 { text += "uid \(sel.user)" }
        sl()
    }

    /// __xfrm_algo_print() and its aead/auth-trunc variants.
    mutating func algorithm(_ a: XFRMAlgorithm, type: String, prefix: String, nokeys: Bool) {
        text += prefix + "\(type) " + a.name + " "
        if a.truncatedKey {
            text += "(ERROR truncated)"
        } else if nokeys {
            text += "<<Keys hidden>>"
        } else if !a.key.isEmpty {
            text += "0x" + a.key.map { let h = String($0, radix: 16); return $0 < 16 ? "0" + h : h }.joined()
            if stats > 0 { text += " (\(Int32(bitPattern: a.keyBits)) bits)" }
        }
        switch a.kind {
        case .plain: break
        case .truncated(let v), .aead(let v): text += " \(Int32(bitPattern: v))"
        }
        sl()
    }

    /// xfrm_lifetime_print().
    mutating func lifetime(_ cfg: XFRMLifetimeConfig, _ cur: XFRMLifetimeCurrent, prefix: String) {
        text += prefix + "lifetime config:"; sl()
        text += prefix + "  limit: soft \(Self.limit(cfg.softByteLimit))(bytes), hard \(Self.limit(cfg.hardByteLimit))(bytes)"; sl()
        text += prefix + "  limit: soft \(Self.limit(cfg.softPacketLimit))(packets), hard \(Self.limit(cfg.hardPacketLimit))(packets)"; sl()
        text += prefix + "  expire add: soft \(cfg.softAddExpires)(sec), hard \(cfg.hardAddExpires)(sec)"; sl()
        text += prefix + "  expire use: soft \(cfg.softUseExpires)(sec), hard \(cfg.hardUseExpires)(sec)"; sl()
        text += prefix + "lifetime current:"; sl()
        text += prefix + "  \(cur.bytes)(bytes), \(cur.packets)(packets)"; sl()
        text += prefix + "  add \(Self.time(cur.addTime)) use \(Self.time(cur.useTime))"; sl()
    }

    static func shareName(_ s: UInt8) -> String {
        switch s { case 0: return "any"; case 1: return "session"; case 2: return "user"; case 3: return "unique"; default: return String(s) }
    }

    /// xfrm_tmpl_print().
    mutating func templates(_ ts: [XFRMUserTemplate], prefix: String) {
        if ts.isEmpty { text += prefix + "(ERROR \"tmpl\" truncated)"; sl(); return }
        for t in ts {
            text += prefix
            idInfo(saddr: t.saddr, id: t.id, mode: t.mode, reqid: t.reqid, family: t.family, forceSPI: false, prefix: prefix, title: "tmpl ")
            if stats > 0 || t.optional != 0 {
                text += prefix + "\t"
                switch t.optional {
                case 0: if stats > 0 { text += "level required " }
                case 1: text += "level use "
                default: text += "level \(t.optional) "
                }
                if stats > 0 { text += "share \(Self.shareName(t.share)) " }
                sl()
            }
            if stats > 0 {
                text += prefix + "\tenc-mask \(Self.hex8(t.ealgos)) auth-mask \(Self.hex8(t.aalgos)) comp-mask \(Self.hex8(t.calgos))"
                sl()
            }
        }
    }

    /// xfrm_xfrma_print(): the attributes after a state's or policy's fixed part.
    mutating func attributes(_ a: XFRMAttributes, family: UInt16, prefix: String, nokeys: Bool) {
        func outputMark() {
            guard let m = a.outputMark else { return }
            text += "output-mark 0x\(String(m, radix: 16))"
            if let mask = a.outputMarkMask { text += "/0x\(String(mask, radix: 16))" }
        }
        if let m = a.mark {
            text += "\tmark \(Self.altHex(m.value))/\(Self.altHex(m.mask)) "
            outputMark()
            sl()
        } else if a.outputMark != nil {
            text += "\t"
            outputMark()
            sl()
        }
        if let x = a.auth, a.authTrunc == nil { algorithm(x, type: "auth", prefix: prefix, nokeys: nokeys) }
        if let x = a.authTrunc { algorithm(x, type: "auth-trunc", prefix: prefix, nokeys: nokeys) }
        if let x = a.aead { algorithm(x, type: "aead", prefix: prefix, nokeys: nokeys) }
        if let x = a.crypt { algorithm(x, type: "enc", prefix: prefix, nokeys: nokeys) }
        if let x = a.comp { algorithm(x, type: "comp", prefix: prefix, nokeys: nokeys) }
        if let e = a.encap {
            text += prefix + "encap type "
            switch e.type {
            case XFRMEncapTemplate.espInUDPNonIKE: text += "espinudp-nonike "
            case XFRMEncapTemplate.espInUDP: text += "espinudp "
            case XFRMEncapTemplate.espInTCP: text += "espintcp "
            default: text += "\(e.type) "
            }
            text += "sport \(e.sport) dport \(e.dport) addr \(Self.address(e.originalAddress, family: family))"
            sl()
        }
        if let ts = a.templates { templates(ts, prefix: prefix) }
        if let c = a.careOfAddress { text += prefix + "coa \(Self.address(c, family: family))"; sl() }
        if let l = a.lastUsed { text += prefix + "lastused \(Self.time(l))"; sl() }
        if let r = a.replay {
            text += prefix + "anti-replay context: seq 0x\(String(r.seq, radix: 16)), oseq 0x\(String(r.oseq, radix: 16)), bitmap 0x\(Self.hex8(r.bitmap))"
            sl()
        }
        if let r = a.replayESN {
            text += prefix + "anti-replay esn context:"; sl()
            text += prefix + " seq-hi 0x\(String(r.seqHi, radix: 16)), seq 0x\(String(r.seq, radix: 16)), oseq-hi 0x\(String(r.oseqHi, radix: 16)), oseq 0x\(String(r.oseq, radix: 16))"
            sl()
            text += prefix + " replay_window \(r.replayWindow), bitmap-length \(r.bmpLen)"
            var j = 0
            for w in r.bitmap.reversed() {
                if j % 8 == 0 { sl(); text += prefix + " " }
                j += 1
                text += Self.hex8(w) + " "
            }
            sl()
        }
        if let i = a.offloadIndex {
            text += prefix + "crypto offload parameters: dev \(session.ifname(i) ?? "if\(i)") dir \(a.offloadFlags & 2 != 0 ? "in" : "out")"
            sl()
        }
        if let i = a.ifID { text += prefix + "if_id \(Self.altHex(i))"; sl() }
        if let t = a.tfcPad { text += prefix + "tfcpad \(t)"; sl() }
    }

    /// xfrm_sec_ctx_print().
    mutating func securityContext(_ c: XFRMSecurityContext) {
        let s = String(decoding: c.context.prefix { $0 != 0 }, as: UTF8.self)
        text += "\tsecurity context \(s) "
        sl()
    }
}

extension String {
    func replacingAll(_ a: Character, _ b: String) -> String { reduce(into: "") { $0 += $1 == a ? b : String($1) } }
}

/// JSON for `xfrm … -j` (ip 6.1's xfrm prints no JSON; the shape is Isthmus's, in docs/COMPATIBILITY.md).
enum XFRMJSON {
    static func address(_ b: [UInt8], family: UInt16) -> JSON { .string(XFRMPrint.address(b, family: family)) }

    static func selector(_ s: XFRMSelector, family: UInt16, session: Session) -> JSON {
        let f = s.family != 0 ? s.family : family
        var kv: [(String, JSON)] = [
            ("family", .string(f == UInt16(AF_INET6) ? "inet6" : f == UInt16(AF_INET) ? "inet" : String(f))),
            ("src", .string("\(XFRMPrint.address(s.saddr, family: f))/\(s.prefixlenS)")),
            ("dst", .string("\(XFRMPrint.address(s.daddr, family: f))/\(s.prefixlenD)")),
        ]
        if s.proto != 0 { kv.append(("proto", .string(XFRMPrint.protoName(s.proto)))) }
        // The port fields carry ICMP type/code and a GRE key for those protocols, named as ip prints them.
        switch Int32(s.proto) {
        case Int32(IPPROTO_ICMP), Int32(IPPROTO_ICMPV6), Int32(IPPROTO_MH):
            if s.sportMask != 0 { kv.append(("type", JSON(s.sport))) }
            if s.dportMask != 0 && s.proto != UInt8(IPPROTO_MH) { kv.append(("code", JSON(s.dport))) }
        case Int32(IPPROTO_GRE):
            if s.sportMask != 0 || s.dportMask != 0 { kv.append(("key", JSON((UInt32(s.sport) << 16) + UInt32(s.dport)))) }
        default:
            if s.sportMask != 0 { kv.append(("sport", JSON(s.sport))) }
            if s.dportMask != 0 { kv.append(("dport", JSON(s.dport))) }
        }
        if s.ifindex > 0 { kv.append(("dev", .string(session.ifname(s.ifindex) ?? "if\(s.ifindex)"))) }
        return .object(kv)
    }

    static func algorithm(_ a: XFRMAlgorithm, type: String, nokeys: Bool) -> JSON {
        var kv: [(String, JSON)] = [("type", .string(type)), ("name", .string(a.name))]
        if !nokeys { kv.append(("key", .string("0x" + a.key.map { let h = String($0, radix: 16); return $0 < 16 ? "0" + h : h }.joined()))) }
        kv.append(("key_bits", JSON(a.keyBits)))
        switch a.kind {
        case .plain: break
        case .truncated(let v): kv.append(("trunc_bits", JSON(v)))
        case .aead(let v): kv.append(("icv_bits", JSON(v)))
        }
        return .object(kv)
    }

    static func attributes(_ a: XFRMAttributes, family: UInt16, nokeys: Bool, into kv: inout [(String, JSON)], session: Session) {
        var algs: [JSON] = []
        if let x = a.auth, a.authTrunc == nil { algs.append(algorithm(x, type: "auth", nokeys: nokeys)) }
        if let x = a.authTrunc { algs.append(algorithm(x, type: "auth-trunc", nokeys: nokeys)) }
        if let x = a.aead { algs.append(algorithm(x, type: "aead", nokeys: nokeys)) }
        if let x = a.crypt { algs.append(algorithm(x, type: "enc", nokeys: nokeys)) }
        if let x = a.comp { algs.append(algorithm(x, type: "comp", nokeys: nokeys)) }
        if !algs.isEmpty { kv.append(("algorithms", .array(algs))) }
        if let m = a.mark { kv.append(("mark", .object([("value", JSON(m.value)), ("mask", JSON(m.mask))]))) }
        if let m = a.outputMark {
            var o: [(String, JSON)] = [("value", JSON(m))]
            if let mask = a.outputMarkMask { o.append(("mask", JSON(mask))) }
            kv.append(("output_mark", .object(o)))
        }
        if let e = a.encap {
            let type: String
            switch e.type {
            case XFRMEncapTemplate.espInUDPNonIKE: type = "espinudp-nonike"
            case XFRMEncapTemplate.espInUDP: type = "espinudp"
            case XFRMEncapTemplate.espInTCP: type = "espintcp"
            default: type = String(e.type)
            }
            kv.append(("encap", .object([("type", .string(type)), ("sport", JSON(e.sport)), ("dport", JSON(e.dport)),
                                         ("addr", address(e.originalAddress, family: family))])))
        }
        if let ts = a.templates {
            kv.append(("tmpl", .array(ts.map { t in
                .object([("src", address(t.saddr, family: t.family)), ("dst", address(t.id.daddr, family: t.family)),
                         ("proto", .string(XFRMParse.protocolName(t.id.proto))), ("spi", JSON(t.id.spi)), ("reqid", JSON(t.reqid)),
                         ("mode", .string(XFRMPrint.modeName(t.mode))),
                         ("level", .string(t.optional == 0 ? "required" : t.optional == 1 ? "use" : String(t.optional)))])
            })))
        }
        if let c = a.careOfAddress { kv.append(("coa", address(c, family: family))) }
        if let i = a.ifID { kv.append(("if_id", JSON(i))) }
        if let t = a.tfcPad { kv.append(("tfcpad", JSON(t))) }
        if let c = a.securityContext { kv.append(("ctx", .string(String(decoding: c.context.prefix { $0 != 0 }, as: UTF8.self)))) }
    }

    static func lifetime(_ cfg: XFRMLifetimeConfig, _ cur: XFRMLifetimeCurrent) -> JSON {
        func lim(_ v: UInt64) -> JSON { v == xfrmInfinity ? .null : JSON(v) }
        return .object([
            ("config", .object([("soft_bytes", lim(cfg.softByteLimit)), ("hard_bytes", lim(cfg.hardByteLimit)),
                                ("soft_packets", lim(cfg.softPacketLimit)), ("hard_packets", lim(cfg.hardPacketLimit)),
                                ("soft_add_expires", JSON(cfg.softAddExpires)), ("hard_add_expires", JSON(cfg.hardAddExpires)),
                                ("soft_use_expires", JSON(cfg.softUseExpires)), ("hard_use_expires", JSON(cfg.hardUseExpires))])),
            ("current", .object([("bytes", JSON(cur.bytes)), ("packets", JSON(cur.packets)),
                                 ("add_time", JSON(cur.addTime)), ("use_time", JSON(cur.useTime))])),
        ])
    }
}
