import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `rule` (ip-rule(8)): add, delete, show and flush policy routing rules.
///
/// Requests follow iproute2 6.1's iprule_modify(): FRA_* attributes in command-line order; the family is -4/-6's
/// (IPv4 when neither is given, whatever the addresses are, as ip does); `add` defaults to the main table unless a
/// table, a type or l3mdev was given. Show prints as print_rule(), text and JSON.
public enum RuleCommand {
    /// Verbs in iproute2's do_iprule() order (abbreviations resolve to the first match).
    static let verbs = ["list", "lst", "show", "save", "restore", "add", "delete", "flush"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try modify(&args, session, type: RTM_NEWRULE)
        case "delete": try modify(&args, session, type: RTM_DELRULE)
        case "flush": try list(&args, session, flush: true)
        case "save", "restore": throw UsageError("rule \(verb) (a binary dump of rules) is not supported by isthmus; use \"rule show\" and \"rule add\"")
        default: try list(&args, session, flush: false)
        }
    }


    /// The if-chain of iprule_modify(), in its order; anything else is a type (`[type] blackhole`, `goto N`, `nop`).
    static let modifyKeywords: [Keyword] = [
        .exact("not"), .exact("from"), .exact("to"), .abbrev("preference"), .abbrev("order"), .abbrev("priority"),
        .exact("tos"), .abbrev("dsfield"), .exact("fwmark"), .abbrev("realms"), .abbrev("protocol"), .abbrev("tun_id"),
        .abbrev("table"), .exact("lookup"), .abbrev("suppress_prefixlength"), .exact("sup_pl"),
        .abbrev("suppress_ifgroup"), .exact("sup_group"), .exact("dev"), .exact("iif"), .exact("oif"), .exact("l3mdev"),
        .exact("uidrange"), .exact("nat"), .abbrev("map-to"), .exact("ipproto"), .exact("sport"), .exact("dport"),
    ]
    static let typeWords = ["type", "goto", "nop", "unicast", "blackhole", "unreachable", "prohibit"]

    // MARK: add / delete

    static func modify(_ args: inout Arguments, _ session: Session, type: Int) throws {
        let verb = type == RTM_NEWRULE ? "add" : "del"
        let command = "rule " + args.words.joined(separator: " ")
        if args.isEmpty { throw UsageError("\"rule \(verb)\" requires arguments; \(Usage.seeHelp("rule"))") }
        var h = RuleHeader(family: session.options.family, action: type == RTM_NEWRULE ? UInt8(FR_ACT_TO_TBL) : UInt8(FR_ACT_UNSPEC))
        var w = AttributeWriter()
        var tableOK = false, l3mdev = false
        var tableID: UInt32 = 0
        while let word = args.next() {
            switch modifyKeywords.resolve(word) {
            case "not": h.flags |= UInt32(FIB_RULE_INVERT)
            case let k? where k == "from" || k == "to":
                // get_prefix() with the header's family; ip does not take the family from the address.
                let p = try Inet.prefix(try args.value(for: k, expected: Inet.expected(h.family, prefix: true)), for: k, family: h.family)
                if k == "from" { h.srcLength = UInt8(clamping: max(p.bitlen, 0)); w.raw(FRA_SRC, p.bytes) }
                else { h.dstLength = UInt8(clamping: max(p.bitlen, 0)); w.raw(FRA_DST, p.bytes) }
            case "preference", "order", "priority":
                w.u32(FRA_PRIORITY, try number(&args, for: word, UInt32.self))
            case "tos", "dsfield":
                h.tos = try RouteCommand.dsfield(try args.value(for: word, expected: "a TOS value in hex"), for: word)
            case "fwmark":
                let (mark, mask) = try fwmark(try args.value(for: word, expected: "MARK or MARK/MASK"))
                w.u32(FRA_FWMARK, mark)
                if let mask { w.u32(FRA_FWMASK, mask) }
            case "realms":
                w.u32(FRA_FLOW, try RouteCommand.realms(try args.value(for: word, expected: "FROM/TO or a number")))
            case "protocol":
                w.u8(FRA_PROTOCOL, try RTNames.proto(try args.value(for: word, expected: "a protocol name or number"), for: "protocol"))
            case "tun_id":
                // get_be64(): the id in network byte order.
                let id = try number(&args, for: "tun_id", UInt64.self)
                w.raw(FRA_TUN_ID, withUnsafeBytes(of: id.bigEndian) { Array($0) })
            case "table", "lookup":
                let v = try args.value(for: word, expected: "main, local, default or a number")
                guard let t = RTNames.table(v) else { throw UsageError.invalid(v, for: word, expected: "main, local, default or a number") }
                tableID = t
                if t < 256 { h.table = UInt8(t) } else { h.table = UInt8(RT_TABLE_UNSPEC.rawValue); w.u32(FRA_TABLE, t) }
                tableOK = true
            case "suppress_prefixlength", "sup_pl":
                let v = try args.value(for: word, expected: "a prefix length 0 or more")
                guard let n = CNumber.parse(v, Int32.self), n >= 0 else { throw UsageError.invalid(v, for: "suppress_prefixlength", expected: "a number 0 or more") }
                w.i32(FRA_SUPPRESS_PREFIXLEN, n)
            case "suppress_ifgroup", "sup_group":
                let v = try args.value(for: word, expected: "default or a group number")
                guard let g = v == "default" ? 0 : CNumber.parse(v, Int32.self) else {
                    throw UsageError.invalid(v, for: "suppress_ifgroup", expected: "default or a group number")
                }
                w.i32(FRA_SUPPRESS_IFGROUP, g)
            case "dev", "iif", "oif":
                let v = try args.interfaceName(for: word)
                w.string(word == "oif" ? FRA_OIFNAME : FRA_IIFNAME, v)
            case "l3mdev":
                w.u8(FRA_L3MDEV, 1); tableOK = true; l3mdev = true
            case "uidrange":
                let v = try args.value(for: word, expected: "START-END")
                guard let r = range(v, UInt32.self, single: false) else { throw UsageError.invalid(v, for: "uidrange", expected: "a UID range START-END") }
                var b: [UInt8] = []
                Bytes.append(r.0, to: &b); Bytes.append(r.1, to: &b)
                w.raw(FRA_UID_RANGE, b)
            case "nat", "map-to":
                throw UsageError("rule \"\(word)\": route NAT was removed from Linux; isthmus does not send it")
            case "ipproto":
                let v = try args.value(for: word, expected: "a protocol name from /etc/protocols or a number")
                guard let p = ipProtocol(v) else { throw UsageError.invalid(v, for: "ipproto", expected: "a protocol name from /etc/protocols or a number 0-255") }
                w.u8(FRA_IP_PROTO, p)
            case let k? where k == "sport" || k == "dport":
                let v = try args.value(for: k, expected: "PORT or PORT-PORT")
                guard let r = range(v, UInt16.self, single: true) else { throw UsageError.invalid(v, for: k, expected: "a port 0-65535 or a range PORT-PORT") }
                var b: [UInt8] = []
                Bytes.append(r.0, to: &b); Bytes.append(r.1, to: &b)
                w.raw(k == "sport" ? FRA_SPORT_RANGE : FRA_DPORT_RANGE, b)
            default:
                var t = word
                if word == "type" { t = try args.value(for: "type", expected: "unicast, blackhole, unreachable, prohibit, goto or nop") }
                if !t.isEmpty && "help".hasPrefix(t) { throw UsageError(Usage.rule) }
                if !t.isEmpty && "goto".hasPrefix(t) {
                    h.action = UInt8(FR_ACT_GOTO)
                    w.u32(FRA_GOTO, try number(&args, for: "goto", UInt32.self))
                } else if !t.isEmpty && "nop".hasPrefix(t) {
                    h.action = UInt8(FR_ACT_NOP)
                } else if let a = RTNames.routeType(t) {
                    h.action = a
                } else if word == "type" {
                    throw UsageError.invalid(t, for: "type", expected: "unicast, blackhole, unreachable, prohibit, goto N or nop")
                } else {
                    throw args.unknown(word, validChoices: modifyKeywords.names + typeWords)
                }
                tableOK = true
            }
        }
        if l3mdev && tableID != 0 { throw UsageError("\"table\" can not be given for l3mdev rules") }
        if h.family == 0 { h.family = Inet.inet }
        if !tableOK && type == RTM_NEWRULE { h.table = UInt8(RT_TABLE_MAIN.rawValue) }
        let flags: NetlinkFlags = type == RTM_NEWRULE ? [.create, .excl] : []
        try session.submit(NetlinkRequest(RTMessage.rule(type, flags: flags, header: h, attributes: w), operation: command))
    }

    /// get_u32()/get_u64() of the value after `keyword` (decimal, 0x hex or 0 octal), the error naming the keyword.
    static func number<T: FixedWidthInteger>(_ args: inout Arguments, for keyword: String, _: T.Type) throws -> T {
        let v = try args.value(for: keyword, expected: "a number")
        guard let n = CNumber.parse(v, T.self) else { throw UsageError.invalid(v, for: keyword, expected: "a number 0-\(T.max)") }
        return n
    }

    /// `MARK[/MASK]`, each a C number.
    static func fwmark(_ v: String) throws -> (UInt32, UInt32?) {
        let parts = v.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let mark = CNumber.parse(parts[0], UInt32.self) else { throw UsageError.invalid(v, for: "fwmark", expected: "MARK or MARK/MASK, numbers 0-0xffffffff") }
        guard parts.count == 2 else { return (mark, nil) }
        guard let mask = CNumber.parse(parts[1], UInt32.self) else { throw UsageError.invalid(String(parts[1]), for: "fwmask", expected: "a number 0-0xffffffff") }
        return (mark, mask)
    }

    /// `A-B` in decimal (ip's sscanf("%u-%u")); with `single`, a lone `A` means A-A.
    static func range<T: FixedWidthInteger>(_ v: String, _: T.Type, single: Bool) -> (T, T)? {
        let parts = v.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = T(parts[0], radix: 10) else { return nil }
        if parts.count == 1 { return single ? (a, a) : nil }
        guard let b = T(parts[1], radix: 10) else { return nil }
        return (a, b)
    }

    /// inet_proto_a2n(): a number 0-255 or a name from /etc/protocols.
    static func ipProtocol(_ v: String) -> UInt8? {
        if let n = UInt8(v, radix: 10) { return n }
        guard !v.isEmpty, let pe = getprotobyname(v) else { return nil }
        return UInt8(exactly: pe.pointee.p_proto)
    }

    /// inet_proto_n2a(): the /etc/protocols name, else "ipproto-N".
    static func ipProtocolName(_ p: UInt8) -> String {
        if let pe = getprotobynumber(Int32(p)), let n = pe.pointee.p_name { return String(cString: n) }
        return "ipproto-\(p)"
    }

    // MARK: show / flush

    /// The selectors of iprule_list_flush_or_save().
    struct Filter {
        var family: UInt8 = 0
        var pref: UInt32?
        var not = false
        var tos: UInt8?
        var fwmark: UInt32 = 0, fwmask: UInt32 = 0
        var iif: String?, oif: String?
        var l3mdev = false
        var uidRange: (UInt32, UInt32)?
        var tunID: UInt64 = 0
        var table: UInt32 = 0
        var src: InetPrefix?, dst: InetPrefix?
        var proto: UInt8 = 0, protoMask: UInt8 = 0
        var ipproto: UInt8 = 0
        var sport: (UInt16, UInt16)?, dport: (UInt16, UInt16)?

        /// filter_nlmsg().
        func accepts(_ r: RuleMessage) -> Bool {
            let h = r.header
            if family != 0 && h.family != family { return false }
            if let pref, pref != (r.attribute(FRA_PRIORITY)?.u32 ?? 0) { return false }
            if not && h.flags & UInt32(FIB_RULE_INVERT) == 0 { return false }
            for (p, len, attr) in [(src, h.srcLength, FRA_SRC), (dst, h.dstLength, FRA_DST)] {
                guard let p, p.family != 0 else { continue }
                if p.family != h.family || p.bitlen > Int(len) { return false }
                if p.bitlen > 0 {
                    guard let a = r.attribute(attr), Inet.match(Array(a.data), p.bytes, bits: p.bitlen) else { return false }
                }
            }
            if let tos, tos != h.tos { return false }
            if fwmark != 0 && fwmark != (r.attribute(FRA_FWMARK)?.u32 ?? 0) { return false }
            if fwmask != 0 && fwmask != (r.attribute(FRA_FWMASK)?.u32 ?? 0) { return false }
            if let iif, r.attribute(FRA_IIFNAME)?.string != iif { return false }
            if let oif, r.attribute(FRA_OIFNAME)?.string != oif { return false }
            if l3mdev && (r.attribute(FRA_L3MDEV)?.u8 ?? 0) == 0 { return false }
            if let u = uidRange {
                guard let d = r.attribute(FRA_UID_RANGE)?.data, let s = Bytes.load(UInt32.self, from: d),
                      let e = Bytes.load(UInt32.self, from: d, at: 4), s == u.0, e == u.1 else { return false }
            }
            if ipproto != 0 && ipproto != (r.attribute(FRA_IP_PROTO)?.u8 ?? 0) { return false }
            for (want, attr) in [(sport, FRA_SPORT_RANGE), (dport, FRA_DPORT_RANGE)] {
                guard let want, want.0 != 0 else { continue }
                guard let d = r.attribute(attr)?.data, let s = Bytes.load(UInt16.self, from: d),
                      let e = Bytes.load(UInt16.self, from: d, at: 2), s == want.0, e == want.1 else { return false }
            }
            if tunID != 0 {
                guard let t = r.attribute(FRA_TUN_ID)?.u64, UInt64(bigEndian: t) == tunID else { return false }
            }
            if table > 0 && table != r.table { return false }
            return true
        }
    }

    static let listKeywords: [Keyword] = [
        .abbrev("preference"), .abbrev("order"), .abbrev("priority"), .exact("not"), .exact("tos"), .exact("dsfield"),
        .exact("fwmark"), .exact("dev"), .exact("iif"), .exact("oif"), .exact("l3mdev"), .exact("uidrange"),
        .abbrev("tun_id"), .abbrev("lookup"), .abbrev("table"), .abbrev("from"), .abbrev("src"), .abbrev("protocol"),
        .exact("ipproto"), .exact("sport"), .exact("dport"), .abbrev("dst"), .abbrev("to"),
    ]

    static func list(_ args: inout Arguments, _ session: Session, flush: Bool) throws {
        var f = Filter()
        let family = session.options.family == 0 ? Inet.inet : session.options.family
        f.family = session.options.family
        while let word = args.next() {
            let key = listKeywords.resolve(word)
            switch key {
            case "preference", "order", "priority": f.pref = try number(&args, for: word, UInt32.self)
            case "not": f.not = true
            case "tos", "dsfield": f.tos = try RouteCommand.dsfield(try args.value(for: word, expected: "a TOS value in hex"), for: word)
            case "fwmark":
                let (mark, mask) = try fwmark(try args.value(for: word, expected: "MARK or MARK/MASK"))
                f.fwmark = mark
                if let mask { f.fwmask = mask }
            case "dev", "iif":
                f.iif = try args.interfaceName(for: word)
            case "oif":
                f.oif = try args.interfaceName(for: word)
            case "l3mdev": f.l3mdev = true
            case "uidrange":
                let v = try args.value(for: word, expected: "START-END")
                guard let r = range(v, UInt32.self, single: false) else { throw UsageError.invalid(v, for: "uidrange", expected: "a UID range START-END") }
                f.uidRange = r
            case "tun_id": f.tunID = try number(&args, for: "tun_id", UInt64.self)
            case "lookup", "table":
                let v = try args.value(for: word, expected: "main, local, default or a number")
                guard let t = RTNames.table(v) else { throw UsageError.invalid(v, for: word, expected: "main, local, default or a number") }
                f.table = t
            case "from", "src":
                f.src = try Inet.prefix(try args.value(for: word, expected: "a prefix"), for: word, family: family)
            case "protocol":
                let v = try args.value(for: word, expected: "a protocol name, number or all")
                if v == "all" { f.proto = 0; f.protoMask = 0 } else { f.proto = try RTNames.proto(v, for: "protocol"); f.protoMask = 0xff }
            case "ipproto":
                let v = try args.value(for: word, expected: "a protocol name or number")
                guard let p = ipProtocol(v) else { throw UsageError.invalid(v, for: "ipproto", expected: "a protocol name from /etc/protocols or a number 0-255") }
                f.ipproto = p
            case let k? where k == "sport" || k == "dport":
                let v = try args.value(for: k, expected: "PORT or PORT-PORT")
                guard let r = range(v, UInt16.self, single: true) else { throw UsageError.invalid(v, for: k, expected: "a port 0-65535 or a range PORT-PORT") }
                if k == "sport" { f.sport = r } else { f.dport = r }
            default:
                if word == "help" { throw UsageError(Usage.rule) }
                var v = word
                if key == "dst" || key == "to" { v = try args.value(for: "to", expected: "a prefix") }
                guard let p = Inet.parsePrefix(v, family: family) else {
                    if key != nil { throw UsageError.invalid(v, for: "to", expected: Inet.expected(family, prefix: true)) }
                    throw args.unknown(word, validChoices: listKeywords.names + ["PREFIX"])
                }
                f.dst = p
            }
        }
        try session.flush()
        let req = try RTMessage.rule(RTM_GETRULE, flags: [], header: RuleHeader(family: family))
        let rules = try session.rtnl().dump(req, operation: "dump rules").compactMap { m -> (NetlinkMessage, RuleMessage)? in
            guard m.type == UInt16(RTM_NEWRULE), let r = try? RuleMessage(m) else { return nil }
            return (m, r)
        }
        let selected = rules.filter { f.accepts($0.1) }
        if flush {
            // flush_rule(): every selected rule that has a priority (the kernel omits FRA_PRIORITY for 0, so the
            // "from all lookup local" rule stays).
            let requests = selected.filter { (_, r) in
                if let p = r.attribute(FRA_PROTOCOL)?.u8, (f.proto ^ p) & f.protoMask != 0 { return false }
                return r.attribute(FRA_PRIORITY) != nil
            }.map { (m, _) -> NetlinkRequest in
                var d = m
                d.type = UInt16(RTM_DELRULE); d.flags = 0; d.seq = 0; d.pid = 0
                return NetlinkRequest(d, operation: "rule flush")
            }
            guard !requests.isEmpty else { return }
            for r in try session.rtnl().execute(requests, stopOnError: false) {
                if case .failure(let e) = r, e.errno != ENOENT { throw e }
            }
            return
        }
        for (_, r) in selected {
            let (t, j) = describe(r, deleted: false, details: session.options.details)
            if session.options.json { session.emit(j.json) } else { session.print(t) }
        }
    }

    // MARK: printing

    /// Text (one line) and JSON of one rule, as iproute2's print_rule(). ip's formats here put the space before
    /// each field (" to %s"), so every field gives its text whole.
    static func describe(_ r: RuleMessage, deleted: Bool, details: Bool) -> (String, JSONObject) {
        let h = r.header
        var p = FieldPrinter()
        if deleted { p.field("deleted", .bool(true), text: "Deleted ") }
        let prio = r.attribute(FRA_PRIORITY)?.u32 ?? 0
        p.field("priority", JSON(prio), text: "\(prio):\t")
        p.null("not", "not", h.flags & UInt32(FIB_RULE_INVERT) != 0)
        let hostLen = h.family == Inet.inet ? 32 : h.family == Inet.inet6 ? 128 : -1
        func address(_ a: Attribute) -> String { IPAddress(bytes: a.data)?.description ?? "???" }
        /// `from`/`to`: the address, with its length unless a host's; `0/LEN` for a length alone. False: neither.
        func selector(_ a: Attribute?, length: UInt8, key: String, label: String) -> Bool {
            if let a {
                let v = address(a)
                p.field(key, .string(v), text: "\(label) \(v)")
                if Int(length) != hostLen { p.field(key + "len", JSON(length), text: "/\(length)") }
            } else if length != 0 {
                p.jsonOnly(key, "0")
                p.field(key + "len", JSON(length), text: "\(label) 0/\(length)")
            } else {
                return false
            }
            return true
        }
        if !selector(r.attribute(FRA_SRC), length: h.srcLength, key: "src", label: "from") { p.field("src", "all", text: "from all") }
        _ = selector(r.attribute(FRA_DST), length: h.dstLength, key: "dst", label: " to")
        if h.tos != 0 { let v = RouteCommand.dsfieldName(h.tos); p.field("tos", .string(v), text: " tos \(v)") }
        let markAttr = r.attribute(FRA_FWMARK), maskAttr = r.attribute(FRA_FWMASK)
        if markAttr != nil || maskAttr != nil {
            let mark = hex(markAttr?.u32 ?? 0)
            p.field("fwmark", .string(mark), text: " fwmark \(mark)")
            if let mask = maskAttr?.u32, mask != 0xffff_ffff { p.field("fwmask", .string(hex(mask)), text: "/\(hex(mask))") }
        }
        if let iif = r.attribute(FRA_IIFNAME)?.string {
            p.field("iif", .string(iif), text: " iif \(iif)")
            if h.flags & UInt32(FIB_RULE_IIF_DETACHED) != 0 { p.field("iif_detached", .null, text: " [detached]") }
        }
        if let oif = r.attribute(FRA_OIFNAME)?.string {
            p.field("oif", .string(oif), text: " oif \(oif)")
            if h.flags & UInt32(FIB_RULE_OIF_DETACHED) != 0 { p.field("oif_detached", .null, text: " [detached]") }
        }
        if let m = r.attribute(FRA_L3MDEV)?.u8, m != 0 { p.field("l3mdev", .null, text: " lookup [l3mdev-table]") }
        if let d = r.attribute(FRA_UID_RANGE)?.data, let s = Bytes.load(UInt32.self, from: d), let e = Bytes.load(UInt32.self, from: d, at: 4) {
            p.field("uid_start", JSON(s), text: " uidrange \(s)-\(e)")
            p.jsonOnly("uid_end", JSON(e))
        }
        if let proto = r.attribute(FRA_IP_PROTO)?.u8 { let n = ipProtocolName(proto); p.field("ipproto", .string(n), text: " ipproto \(n)") }
        for (attr, name) in [(FRA_SPORT_RANGE, "sport"), (FRA_DPORT_RANGE, "dport")] {
            guard let d = r.attribute(attr)?.data, let s = Bytes.load(UInt16.self, from: d), let e = Bytes.load(UInt16.self, from: d, at: 2) else { continue }
            if s == e { p.field(name, JSON(s), text: " \(name) \(s)") } else {
                p.field(name + "_start", JSON(s), text: " \(name) \(s)-\(e)")
                p.jsonOnly(name + "_end", JSON(e))
            }
        }
        if let id = r.attribute(FRA_TUN_ID)?.u64 { let v = UInt64(bigEndian: id); p.field("tun_id", JSON(v), text: " tun_id \(v)") }
        let table = r.table
        if table != 0 {
            let n = RTNames.tableName(table)
            p.field("table", .string(n), text: " lookup \(n)")
            if let pl = r.attribute(FRA_SUPPRESS_PREFIXLEN)?.i32, pl != -1 {
                p.field("suppress_prefixlen", JSON(Int(pl)), text: " suppress_prefixlength \(pl)")
            }
            if let g = r.attribute(FRA_SUPPRESS_IFGROUP)?.i32, g != -1 {
                let n = g == 0 ? "default" : String(g)
                p.field("suppress_ifgroup", .string(n), text: " suppress_ifgroup \(n)")
            }
        }
        if let flow = r.attribute(FRA_FLOW)?.u32 {
            let from = flow >> 16, to = flow & 0xffff
            p.text(" realms ")
            if from != 0 { p.field("flow_from", .string(realmName(from)), text: "\(realmName(from))/") }
            p.field("flow_to", .string(realmName(to)), text: realmName(to))
        }
        switch Int(h.action) {
        case Int(RTN_NAT):
            if let g = r.attribute(RTA_GATEWAY.rawValue) { let v = address(g); p.field("nat_gateway", .string(v), text: " map-to \(v)") }
            else { p.field("masquerade", .null, text: " masquerade") }
        case Int(FR_ACT_GOTO):
            if let g = r.attribute(FRA_GOTO)?.u32 { p.field("goto", JSON(g), text: " goto \(g)") } else { p.field("goto", "none", text: " goto none") }
            if h.flags & UInt32(FIB_RULE_UNRESOLVED) != 0 { p.field("unresolved", .null, text: " [unresolved]") }
        case Int(FR_ACT_NOP): p.field("nop", .null, text: " nop")
        case Int(FR_ACT_TO_TBL): break
        default: let n = RTNames.routeTypeName(h.action); p.field("action", .string(n), text: " \(n)")
        }
        if let proto = r.attribute(FRA_PROTOCOL)?.u8, (proto != 0 && proto != UInt8(RTPROT_KERNEL)) || details {
            let n = RTNames.protoName(proto); p.field("protocol", .string(n), text: " proto \(n)")
        }
        return (p.text, p.json)
    }

    /// print_0xhex("%#llx"): 0 as "0", anything else with 0x.
    static func hex(_ v: UInt32) -> String { v == 0 ? "0" : "0x" + String(v, radix: 16) }

    /// rtnl_rtrealm_n2a() with iproute2's default rt_realms file: 0 is "cosmos".
    static func realmName(_ v: UInt32) -> String { v == 0 ? "cosmos" : String(v) }
}
