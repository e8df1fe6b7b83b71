import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `neighbour` (ip-neighbour(8)): add, change, replace, delete, show and flush ARP / NDISC entries.
///
/// Requests follow iproute2 6.1's ipneigh_modify(): NDA_PROTOCOL where given, then NDA_DST, NDA_FLAGS_EXT and
/// NDA_LLADDR; the state defaults to NUD_PERMANENT.
public enum NeighbourCommand {
    /// Verbs in iproute2's do_ipneigh() order (abbreviations resolve to the first match).
    static let verbs = ["add", "change", "chg", "replace", "delete", "show", "list", "lst", "flush"]

    /// Runs `neighbour VERB ...`.
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try modify(&args, session, type: RTM_NEWNEIGH, flags: [.create, .excl])
        case "change", "chg": try modify(&args, session, type: RTM_NEWNEIGH, flags: [.replace])
        case "replace": try modify(&args, session, type: RTM_NEWNEIGH, flags: [.create, .replace])
        case "delete": try modify(&args, session, type: RTM_DELNEIGH, flags: [])
        case "flush": try list(&args, session, flush: true)
        default: try list(&args, session, flush: false)
        }
    }


    /// NUD_* names in nud_state_a2n() order; `true` marks names matched as abbreviations.
    static let nudNames: [(String, UInt16, Bool)] = [
        ("permanent", UInt16(NUD_PERMANENT), true), ("reachable", UInt16(NUD_REACHABLE), true), ("noarp", UInt16(NUD_NOARP), false),
        ("none", UInt16(NUD_NONE), false), ("stale", UInt16(NUD_STALE), false), ("incomplete", UInt16(NUD_INCOMPLETE), false),
        ("delay", UInt16(NUD_DELAY), false), ("probe", UInt16(NUD_PROBE), false), ("failed", UInt16(NUD_FAILED), true),
    ]
    static let nudExpected = "permanent, reachable, noarp, none, stale, incomplete, delay, probe, failed or a single-bit number"

    /// nud_state_a2n(): a state name, or a number with a single bit below 0x100.
    static func nudState(_ v: String) -> UInt16? {
        for (n, s, abbrev) in nudNames where abbrev ? (!v.isEmpty && n.hasPrefix(v)) : n == v { return s }
        guard let n = CNumber.parse(v, UInt32.self), n < 0x100, n & (n &- 1) == 0 else { return nil }
        return UInt16(n)
    }

    /// The if-chain of ipneigh_modify(), in its order.
    static let modifyKeywords: [Keyword] = [
        .abbrev("lladdr"), .exact("nud"), .abbrev("proxy"), .exact("router"), .exact("use"), .exact("managed"),
        .abbrev("extern_learn"), .exact("dev"), .abbrev("protocol"), .exact("to"),
    ]

    // MARK: add / change / replace / delete

    static func modify(_ args: inout Arguments, _ session: Session, type: Int, flags: NetlinkFlags) throws {
        let command = args.words.joined(separator: " ")   // the words as typed, object word included
        var h = NeighbourHeader(family: session.options.family, state: UInt16(NUD_PERMANENT))
        var w = AttributeWriter()
        var extFlags: UInt32 = 0
        var dev: String?
        var devOK = false
        var dst: InetPrefix?
        var lladdr: String?
        while let word = args.next() {
            let key = modifyKeywords.resolve(word)
            switch key {
            case "lladdr":
                let v = try args.value(for: word, expected: "a link-layer address such as 02:00:00:00:00:01, or null")
                if lladdr != nil { throw UsageError("duplicate \"lladdr\": \(v)") }
                lladdr = v
            case "nud":
                let v = try args.value(for: word, expected: nudExpected)
                guard let s = nudState(v) else { throw UsageError.invalid(v, for: "nud", expected: nudExpected) }
                h.state = s
            case "proxy":
                let v = try args.value(for: word, expected: "a proxied address")
                if dst != nil { throw UsageError("duplicate address \"\(v)\"") }
                dst = try Inet.address(v, for: "proxy", family: session.options.family)
                devOK = true
                h.flags |= UInt8(NTF_PROXY)
            case "router": h.flags |= UInt8(NTF_ROUTER)
            case "use": h.flags |= UInt8(NTF_USE)
            case "managed": extFlags |= UInt32(NTF_EXT_MANAGED); h.state = UInt16(NUD_NONE)
            case "extern_learn": h.flags |= UInt8(NTF_EXT_LEARNED)
            case "dev":
                dev = try args.interfaceName(for: word); devOK = true
            case "protocol":
                w.u8(NDA_PROTOCOL, try RTNames.proto(try args.value(for: word, expected: "a protocol name or number"), for: word))
            default:
                if word == "help" { throw UsageError(Usage.neighbour) }
                var v = word
                if key == "to" { v = try args.value(for: "to", expected: "an address") }
                guard let a = Inet.parseAddress(v, family: session.options.family), !a.isAny else {
                    if key == "to" { throw UsageError.invalid(v, for: "to", expected: Inet.expected(session.options.family, prefix: false)) }
                    throw args.unknown(word, validChoices: modifyKeywords.names + ["ADDR"])
                }
                if dst != nil { throw UsageError("duplicate address \"\(v)\"") }
                dst = a
            }
        }
        guard devOK, let dst, dst.family != 0 else {
            throw UsageError("device and destination are required: \"neighbour \(verbName(type, flags)) ADDR dev IFNAME ...\"")
        }
        h.family = dst.family
        w.raw(NDA_DST, dst.bytes)
        if extFlags != 0 { w.u32(NDA_FLAGS_EXT, extFlags) }
        if let lladdr, lladdr != "null" {
            guard let b = linkLayerAddress(lladdr) else {
                throw UsageError.invalid(lladdr, for: "lladdr", expected: "a link-layer address such as 02:00:00:00:00:01, or null")
            }
            w.raw(NDA_LLADDR, b)
        }
        if let dev { h.ifindex = try session.ifindex(dev) }
        let msg = try RTMessage.neighbour(type, flags: flags, header: h, attributes: w)
        try session.submit(NetlinkRequest(msg, operation: command))
    }

    static func verbName(_ type: Int, _ flags: NetlinkFlags) -> String {
        if type == RTM_DELNEIGH { return "del" }
        if flags.contains(.create) { return flags.contains(.replace) ? "replace" : "add" }
        return "change"
    }

    /// ll_addr_a2n(): an IPv4 dotted address (tunnel link layers) or colon-separated hex bytes.
    static func linkLayerAddress(_ s: String) -> [UInt8]? {
        if s.contains("."), !s.contains(":"), let a = Inet.parseAddress(s, family: Inet.inet), a.family == Inet.inet { return a.bytes }
        var out: [UInt8] = []
        for part in s.split(separator: ":", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.count <= 2, let v = UInt8(part, radix: 16) else { return nil }
            out.append(v)
        }
        return out.isEmpty || out.count > 32 ? nil : out
    }

    // MARK: show / flush

    static let listKeywords = ["dev", "master", "nomaster", "unused", "nud", "proxy", "protocol", "to"]

    static func list(_ args: inout Arguments, _ session: Session, flush: Bool) throws {
        if flush && args.isEmpty { throw UsageError("neighbour flush requires arguments, e.g. \"dev IFNAME\"; valid: \(listKeywords.joined(separator: ", "))") }
        var family = session.options.family
        var state: UInt32 = flush ? ~UInt32(NUD_PERMANENT | NUD_NOARP) : 0xff & ~UInt32(NUD_NOARP)
        var stateGiven = false
        var dev: String?
        var master: String?
        var noMaster = false
        var unused = false
        var proxy = false
        var proto: UInt8?
        var prefix: InetPrefix?
        while let word = args.next() {
            switch word {
            case "dev":
                let v = try args.interfaceName(for: word)
                if dev != nil { throw UsageError("duplicate \"dev\": \(v)") }
                dev = v
            case "master": master = try args.interfaceName(for: word)
            case "nomaster": noMaster = true
            case "unused": unused = true
            case "nud":
                let v = try args.value(for: word, expected: nudExpected + " or all")
                if !stateGiven { stateGiven = true; state = 0 }
                var s: UInt32
                if let n = nudState(v) { s = UInt32(n) } else if v == "all" {
                    s = ~0
                    if flush { s &= ~UInt32(NUD_NOARP) }
                } else { throw UsageError.invalid(v, for: "nud", expected: nudExpected + " or all") }
                if s == 0 { s = 0x100 }
                state |= s
            case "proxy": proxy = true
            case _ where !word.isEmpty && "protocol".hasPrefix(word):
                let v = try args.value(for: "protocol", expected: "a protocol name, number or all")
                proto = v == "all" ? nil : try RTNames.proto(v, for: "protocol")
            case "help": throw UsageError(Usage.neighbour)
            default:
                var v = word
                if word == "to" { v = try args.value(for: "to", expected: "a prefix") }
                guard let p = Inet.parsePrefix(v, family: family) else {
                    throw args.unknown(word, validChoices: listKeywords + ["PREFIX"])
                }
                if family == 0 { family = p.family }
                prefix = p
            }
        }
        let ifindex = try dev.map { try session.ifindex($0) }
        let masterIndex = try master.map { try session.ifindex($0) }

        try session.flush()
        let (names, masters, types) = try RTDump.linkTables(session)
        let req = try RTMessage.neighbour(RTM_GETNEIGH, flags: [], header: NeighbourHeader(family: family, flags: proxy ? UInt8(NTF_PROXY) : 0))
        let entries = try session.rtnl().dump(req, operation: "dump neighbours").compactMap { m -> (NetlinkMessage, NeighbourMessage)? in
            guard m.type == UInt16(RTM_NEWNEIGH), let n = try? NeighbourMessage(m) else { return nil }
            return (m, n)
        }
        var selected: [(NetlinkMessage, NeighbourMessage)] = []
        for (m, n) in entries {
            let h = n.header
            if family != 0 && h.family != family { continue }
            if h.family == UInt8(AF_BRIDGE) && family == 0 { continue }
            if let ifindex, h.ifindex != ifindex { continue }
            if let masterIndex, masters[h.ifindex] != masterIndex { continue }
            if noMaster && masters[h.ifindex] != nil { continue }
            if state & UInt32(h.state) == 0 && h.flags & UInt8(NTF_PROXY) == 0 && h.flags & UInt8(NTF_EXT_LEARNED) == 0
                && (h.state != 0 || state & 0x100 == 0) { continue }
            if let prefix, prefix.family != 0, prefix.bitlen > 0 {
                guard let d = n.destination, d.family == prefix.family, Inet.match(d.bytes, prefix.bytes, bits: prefix.bitlen) else { continue }
            }
            if let proto, (n.proto ?? 0) != proto { continue }
            if unused, let ci = n.cacheInfo, ci.refcnt != 0 { continue }
            selected.append((m, n))
        }
        if flush {
            let requests = selected.map { (m, n) -> NetlinkRequest in
                var d = m
                d.type = UInt16(RTM_DELNEIGH); d.flags = 0; d.seq = 0; d.pid = 0
                return NetlinkRequest(d, operation: "neighbour flush \(n.destination?.description ?? "?")")
            }
            guard !requests.isEmpty else { return }
            for r in try session.rtnl().execute(requests, stopOnError: false) {
                if case .failure(let e) = r, e.errno != ENOENT { throw e }
            }
            return
        }
        for (_, n) in selected {
            let (t, j) = describe(n, names: names, types: types, filterIndex: ifindex, session: session)
            if session.options.json { session.emit(j.json) } else { session.print(t) }
        }
    }

    static let stateNames: [(UInt16, String)] = [
        (UInt16(NUD_INCOMPLETE), "INCOMPLETE"), (UInt16(NUD_REACHABLE), "REACHABLE"), (UInt16(NUD_STALE), "STALE"),
        (UInt16(NUD_DELAY), "DELAY"), (UInt16(NUD_PROBE), "PROBE"), (UInt16(NUD_FAILED), "FAILED"),
        (UInt16(NUD_NOARP), "NOARP"), (UInt16(NUD_PERMANENT), "PERMANENT"),
    ]

    /// Text and JSON of one entry, as iproute2's print_neigh().
    static func describe(_ n: NeighbourMessage, names: [Int32: String], types: [Int32: UInt16], filterIndex: Int32?, session: Session) -> (String, JSONObject) {
        let h = n.header
        var p = FieldPrinter()
        p.string("dst", nil, n.destination?.description)
        if filterIndex == nil && h.ifindex != 0 { p.string("dev", "dev", RTDump.name(h.ifindex, names, session)) }
        p.string("lladdr", "lladdr", n.linkLayerAddress.map { LinkSummary.hardwareAddress($0, type: types[h.ifindex] ?? UInt16(ARPHRD_ETHER)) })
        p.null("router", "router", h.flags & UInt8(NTF_ROUTER) != 0)
        p.null("proxy", "proxy", h.flags & UInt8(NTF_PROXY) != 0)
        p.null("managed", "managed", (n.extendedFlags ?? 0) & UInt32(NTF_EXT_MANAGED) != 0)
        p.null("extern_learn", "extern_learn", h.flags & UInt8(NTF_EXT_LEARNED) != 0)
        p.null("offload", "offload", h.flags & UInt8(NTF_OFFLOADED) != 0)
        if session.options.statistics > 0 {
            if let ci = n.cacheInfo {
                let hz = UInt32(max(1, sysconf(Int32(_SC_CLK_TCK))))
                // print_cacheinfo(): " ref N" only when referenced, then " used U/C/U" with no trailing space.
                if ci.refcnt != 0 { p.field("refcnt", JSON(ci.refcnt), text: " ref \(ci.refcnt)") }
                p.field("used", JSON(ci.used / hz), text: " used \(ci.used / hz)/\(ci.confirmed / hz)/\(ci.updated / hz)")
                p.jsonOnly("confirmed", JSON(ci.confirmed / hz))
                p.jsonOnly("updated", JSON(ci.updated / hz))
            }
            p.number("probes", "probes", n.probes)
        }
        if h.state != 0 {
            var s = h.state
            var list: [String] = []
            for (bit, name) in stateNames where s & bit != 0 { s &= ~bit; list.append(name) }
            p.field("state", .array(list.map { .string($0) }), text: list.map { $0 + " " }.joined())
        }
        if let proto = n.proto, proto != 0 { p.string("protocol", "proto", RTNames.protoName(proto)) }
        return (p.text, p.json)
    }
}
