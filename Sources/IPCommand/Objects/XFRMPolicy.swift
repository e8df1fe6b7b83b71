import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `xfrm policy`: add/update, delete, get, deleteall, list/show, flush, count — ip/xfrm_policy.c of iproute2 6.1.
enum XFRMPolicy {
    /// do_xfrm_policy()'s verbs in its order.
    static let verbs = ["add", "update", "delete", "deleteall", "delall", "list", "show", "lst", "get", "flush", "count", "set", "setdefault", "getdefault"]

    static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "list")
        switch verb {
        case "add": try modify(&args, session, type: XFRMMessageType.newPolicy)
        case "update": try modify(&args, session, type: XFRMMessageType.updPolicy)
        case "delete": try getOrDelete(&args, session, delete: true)
        case "get": try getOrDelete(&args, session, delete: false)
        case "deleteall", "delall": try listOrDeleteAll(&args, session, deleteAll: true)
        case "flush": try flush(&args, session)
        case "count": try count(&args, session)
        case "set", "setdefault", "getdefault": throw UsageError("\"xfrm policy \(verb)\" is not supported by isthmus")
        default: try listOrDeleteAll(&args, session, deleteAll: false)
        }
    }

    static let dirs: [(String, UInt8)] = [("in", UInt8(XFRM_POLICY_IN)), ("out", UInt8(XFRM_POLICY_OUT)), ("fwd", UInt8(XFRM_POLICY_FWD))]
    static let ptypes: [(String, UInt8)] = [("main", UInt8(XFRM_POLICY_TYPE_MAIN)), ("sub", UInt8(XFRM_POLICY_TYPE_SUB))]
    static let flagNames: [(String, UInt8)] = [("localok", UInt8(XFRM_POLICY_LOCALOK)), ("icmp", UInt8(XFRM_POLICY_ICMP))]

    static func pick(_ args: inout Arguments, for keyword: String, _ table: [(String, UInt8)]) throws -> UInt8 {
        let expected = "one of " + table.map(\.0).joined(separator: ", ")
        let v = try args.value(for: keyword, expected: expected)
        guard let e = table.first(where: { $0.0 == v }) else { throw UsageError.invalid(v, for: keyword, expected: expected) }
        return e.1
    }

    static func action(_ args: inout Arguments) throws -> UInt8 {
        try pick(&args, for: "action", [("allow", UInt8(XFRM_POLICY_ALLOW)), ("block", UInt8(XFRM_POLICY_BLOCK))])
    }

    /// `ctx CTX` as XFRMA_SEC_CTX bytes.
    static func context(_ args: inout Arguments) throws -> [UInt8] {
        let c = try args.value(for: "ctx", expected: "a security context string")
        // ip's CTX_BUF_SIZE: 256 bytes with the NUL.
        guard c.utf8.count < 256 else { throw UsageError.wrong(c, "\"ctx\" is \(c.utf8.count) bytes; at most 255") }
        return XFRMSecurityContext(context: Array(c.utf8) + [0]).encoded
    }

    /// `tmpl ID [mode MODE] [reqid REQID] [level LEVEL]` (xfrm_tmpl_parse); `family` is ip's preferred_family,
    /// which the template's addresses then set.
    static func template(_ args: inout Arguments, family: inout UInt8) throws -> XFRMUserTemplate {
        var t = XFRMUserTemplate()
        t.family = UInt16(family)
        t.aalgos = .max; t.ealgos = .max; t.calgos = .max
        var id = XFRMParse.ID()
        var any = false
        while let w = args.peek {
            if XFRMParse.idWords.contains(w) {
                if id.given { break }
                try XFRMParse.id(&args, into: &id, family: 0)
                if id.family != 0 { t.family = UInt16(id.family) }
                t.saddr = id.saddr
                t.id = id.id
                if !id.protoGiven { throw UsageError("\"tmpl\" needs \"proto\" (one of \(XFRMParse.protocolNames))") }
                family = UInt8(truncatingIfNeeded: t.family)
            } else if w == "mode" {
                _ = args.next(); t.mode = try XFRMParse.mode(&args)
            } else if w == "reqid" {
                _ = args.next(); t.reqid = try XFRMParse.number(&args, for: "reqid", UInt32.self)
            } else if w == "level" {
                _ = args.next(); t.optional = try pick(&args, for: "level", [("required", 0), ("use", 1)])
            } else {
                break
            }
            any = true
        }
        if !any { throw UsageError("\"tmpl\" needs a TMPL: src ADDR dst ADDR proto XFRM-PROTO [spi SPI] [mode MODE] [reqid REQID] [level required|use]") }
        if !id.given { throw UsageError("\"tmpl\" needs \"proto\" (one of \(XFRMParse.protocolNames))") }
        return t
    }

    // MARK: add / update

    /// The words `add`/`update` and `get`/`delete` share: dir, ctx, mark, ptype (each of dir, ctx and ptype
    /// once, as ip refuses a repeat) and if_id.
    struct SharedWords {
        var dir: UInt8?
        var ptype: UInt8?
        var ctx: [UInt8]?
        var mark = XFRMMark(value: 0, mask: 0)
        var ifID: UInt32?

        /// Takes the value of `word`, one of dir, ctx, mark, ptype, if_id.
        mutating func take(_ word: String, _ args: inout Arguments) throws {
            switch word {
            case "dir":
                if dir != nil { throw UsageError("\"dir\" is given twice") }
                dir = try pick(&args, for: "dir", dirs)
            case "ctx":
                if ctx != nil { throw UsageError("\"ctx\" is given twice") }
                ctx = try context(&args)
            case "mark": mark = try XFRMParse.mark(&args)
            case "ptype":
                if ptype != nil { throw UsageError("\"ptype\" is given twice") }
                ptype = try pick(&args, for: "ptype", ptypes)
            default: ifID = try XFRMParse.number(&args, for: "if_id", UInt32.self)
            }
        }

        func requiredDir() throws -> UInt8 {
            guard let dir else { throw UsageError("not enough information: \"dir\" (in, out or fwd) is required") }
            return dir
        }

        /// In ip's order: XFRMA_POLICY_TYPE, XFRMA_TMPL, XFRMA_MARK (when `withMark`: add and get differ there),
        /// XFRMA_SEC_CTX, XFRMA_IF_ID.
        func encode(into w: inout AttributeWriter, templates: [UInt8] = [], withMark: Bool) {
            if let ptype { w.raw(XFRMAttributeType.policyType, XFRMUserPolicyType(type: ptype).encoded) }
            if !templates.isEmpty { w.raw(XFRMAttributeType.tmpl, templates) }
            if withMark { var b: [UInt8] = []; mark.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
            if let ctx { w.raw(XFRMAttributeType.secCtx, ctx) }
            if let ifID { w.u32(XFRMAttributeType.ifID, ifID) }
        }
    }

    static let modifyKeywords = ["dir", "ctx", "mark", "index", "ptype", "action", "priority", "flag", "limit", "tmpl", "if_id"]

    static func modify(_ args: inout Arguments, _ session: Session, type: UInt16) throws {
        let verb = type == XFRMMessageType.newPolicy ? "add" : "update"
        var pf = session.options.family
        var info = XFRMUserPolicyInfo()
        info.selector.family = UInt16(pf)
        info.lifetime = .unlimited
        var selGiven = false
        var shared = SharedWords()
        var templates: [UInt8] = []
        while let word = args.peek {
            if !modifyKeywords.contains(word) {
                guard !selGiven, XFRMParse.selectorWords.contains(word) || XFRMParse.upspecWords.contains(word) else {
                    _ = args.next()
                    throw UsageError.unknown(word, in: "xfrm policy \(verb)", validChoices: modifyKeywords + (selGiven ? [] : ["src", "dst", "dev", "proto"]))
                }
                try XFRMParse.selector(&args, into: &info.selector, family: pf, session: session)
                selGiven = true
                if pf == 0 { pf = UInt8(truncatingIfNeeded: info.selector.family) }
                continue
            }
            _ = args.next()
            switch word {
            case "index": info.index = try XFRMParse.number(&args, for: "index", UInt32.self)
            case "action": info.action = try action(&args)
            case "priority": info.priority = try XFRMParse.number(&args, for: "priority", UInt32.self)
            case "flag":
                let (f, replace) = try XFRMParse.flags(&args, for: "flag", flagNames)
                info.flags = replace ? f : info.flags | f
            case "limit": try XFRMParse.limit(&args, into: &info.lifetime)
            case "tmpl":
                // ip's buffer holds 1024 bytes of templates (16).
                guard templates.count + XFRMUserTemplate.size <= 1024 else { throw UsageError("too many \"tmpl\": at most 16") }
                try template(&args, family: &pf).encode(into: &templates)
            default: try shared.take(word, &args)
            }
        }
        info.dir = try shared.requiredDir()
        var w = AttributeWriter()
        shared.encode(into: &w, templates: templates, withMark: shared.mark.mask != 0)
        if info.selector.family == 0 { info.selector.family = UInt16(AF_INET) }
        var h: [UInt8] = []
        info.encode(into: &h)
        try XFRMParse.send(try XFRMMessage.make(type, flags: [.request], header: h, attributes: w), session, operation: "xfrm policy \(verb)")
    }

    // MARK: get / delete

    static let getKeywords = ["dir", "ctx", "mark", "index", "ptype", "if_id"]

    static func getOrDelete(_ args: inout Arguments, _ session: Session, delete: Bool) throws {
        let verb = delete ? "delete" : "get"
        var pid = XFRMUserPolicyID()
        var selGiven = false, indexGiven = false
        var shared = SharedWords()
        let pf = session.options.family
        while let word = args.peek {
            if !getKeywords.contains(word) {
                guard !selGiven, XFRMParse.selectorWords.contains(word) || XFRMParse.upspecWords.contains(word) else {
                    _ = args.next()
                    throw UsageError.unknown(word, in: "xfrm policy \(verb)", validChoices: getKeywords + (selGiven ? [] : ["src", "dst", "dev", "proto"]))
                }
                try XFRMParse.selector(&args, into: &pid.selector, family: pf, session: session)
                selGiven = true
                continue
            }
            _ = args.next()
            switch word {
            case "index":
                if indexGiven { throw UsageError("\"index\" is given twice") }
                indexGiven = true
                pid.index = try XFRMParse.number(&args, for: "index", UInt32.self)
            default: try shared.take(word, &args)
            }
        }
        pid.dir = try shared.requiredDir()
        if !selGiven && !indexGiven { throw UsageError("not enough information: either a SELECTOR or \"index\" is required") }
        if selGiven && indexGiven { throw UsageError("a SELECTOR and \"index\" cannot both be given") }
        if pid.selector.family == 0 { pid.selector.family = UInt16(AF_INET) }
        var w = AttributeWriter()
        shared.encode(into: &w, withMark: shared.mark.mask & shared.mark.value != 0)
        var h: [UInt8] = []
        pid.encode(into: &h)
        try XFRMParse.getOrDelete(delete ? XFRMMessageType.delPolicy : XFRMMessageType.getPolicy, header: h, attributes: w,
                                  session, operation: "xfrm policy \(verb)", delete: delete) {
            if let p = try? XFRMPolicyMessage($0) { output(p, session) }
        }
    }

    // MARK: list / deleteall

    struct Filter {
        var use = false
        var family: UInt16 = 0
        var sel = XFRMSelector()
        var given = XFRMParse.SelectorGiven()
        var dir: UInt8?
        var index: UInt32?
        var ptype: UInt8?
        var action: UInt8?
        var priority: UInt32?
        var flags: UInt8?
        var noSocket = false

        /// xfrm_policy_filter_match().
        func matches(_ p: XFRMUserPolicyInfo, ptype pt: UInt8) -> Bool {
            guard use else { return true }
            if family != 0 && family != p.selector.family { return false }
            if let dir, p.dir != dir { return false }
            if noSocket && p.dir >= UInt8(XFRM_POLICY_MAX) { return false }
            if let ptype, pt != ptype { return false }
            if given.srcBits > 0 && !XFRMParse.addressMatch(p.selector.saddr, sel.saddr, bits: given.srcBits) { return false }
            if given.dstBits > 0 && !XFRMParse.addressMatch(p.selector.daddr, sel.daddr, bits: given.dstBits) { return false }
            if given.dev && p.selector.ifindex != sel.ifindex { return false }
            if given.proto && p.selector.proto != sel.proto { return false }
            if given.sport && p.selector.sport != sel.sport { return false }
            if given.dport && p.selector.dport != sel.dport { return false }
            if let index, p.index != index { return false }
            if let action, p.action != action { return false }
            if let priority, p.priority != priority { return false }
            if let flags, p.flags & flags == 0 { return false }
            return true
        }
    }

    static let listKeywords = ["dir", "index", "ptype", "action", "priority", "flag", "nosock"]

    static func listOrDeleteAll(_ args: inout Arguments, _ session: Session, deleteAll: Bool) throws {
        var f = Filter()
        f.use = !args.isEmpty || session.options.family != 0
        f.family = UInt16(session.options.family)
        f.sel.family = f.family
        var selGiven = false
        let verb = deleteAll ? "deleteall" : "list"
        while let word = args.peek {
            if !listKeywords.contains(word) {
                guard !selGiven, XFRMParse.selectorWords.contains(word) || XFRMParse.upspecWords.contains(word) else {
                    _ = args.next()
                    throw UsageError.unknown(word, in: "xfrm policy \(verb)", validChoices: listKeywords + (selGiven ? [] : ["src", "dst", "dev", "proto"]))
                }
                f.given = try XFRMParse.selector(&args, into: &f.sel, family: UInt8(truncatingIfNeeded: f.family), session: session)
                selGiven = true
                if f.family == 0 { f.family = f.sel.family }
                continue
            }
            _ = args.next()
            switch word {
            case "dir": f.dir = try pick(&args, for: "dir", dirs)
            case "index": f.index = try XFRMParse.number(&args, for: "index", UInt32.self)
            case "ptype": f.ptype = try pick(&args, for: "ptype", ptypes)
            case "action": f.action = try action(&args)
            case "priority": f.priority = try XFRMParse.number(&args, for: "priority", UInt32.self)
            case "flag": f.flags = try XFRMParse.flags(&args, for: "flag", flagNames).0
            default: f.noSocket = true
            }
        }
        let sock = try session.xfrm()
        let dumpRequest = try XFRMMessage.make(XFRMMessageType.getPolicy, flags: [.request, .dump], header: [])
        if deleteAll {
            for _ in 0..<64 {
                let policies = try sock.dump(dumpRequest, operation: "xfrm policy dump")
                    .compactMap { try? XFRMPolicyMessage($0) }
                    .filter { f.matches($0.info, ptype: $0.attributes.policyType ?? UInt8(XFRM_POLICY_TYPE_MAIN)) && $0.info.dir < UInt8(XFRM_POLICY_MAX) }
                if policies.isEmpty { return }
                for p in policies {
                    var pid = XFRMUserPolicyID()
                    pid.selector = p.info.selector; pid.dir = p.info.dir; pid.index = p.info.index
                    var h: [UInt8] = []
                    pid.encode(into: &h)
                    var w = AttributeWriter()
                    if let m = p.attributes.mark { var b: [UInt8] = []; m.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
                    if let i = p.attributes.ifID { w.u32(XFRMAttributeType.ifID, i) }
                    try sock.request(try XFRMMessage.make(XFRMMessageType.delPolicy, flags: [.request], header: h, attributes: w), operation: "xfrm policy deleteall")
                }
            }
            throw UsageError("xfrm policy deleteall: policies kept reappearing after 64 rounds of deleting")
        }
        for r in try sock.dump(dumpRequest, operation: "xfrm policy dump") {
            guard let p = try? XFRMPolicyMessage(r), f.matches(p.info, ptype: p.attributes.policyType ?? UInt8(XFRM_POLICY_TYPE_MAIN)) else { continue }
            output(p, session)
        }
    }

    /// One policy, as xfrm_policy_print() prints it (or its JSON).
    static func output(_ m: XFRMPolicyMessage, _ session: Session) {
        if session.options.json { session.emit(json(m, session)); return }
        XFRMPrint.emit(m, session, deleted: XFRMMessageType.delPolicy, updated: XFRMMessageType.updPolicy,
                       expired: XFRMMessageType.polExpire) { info(m.info, m.attributes, into: &$0) }
    }

    static func dirName(_ d: UInt8) -> (socket: Bool, name: String) {
        let socket = d >= UInt8(XFRM_POLICY_MAX)
        let dir = socket ? d - UInt8(XFRM_POLICY_MAX) : d
        return (socket, dirs.first { $0.1 == dir }?.0 ?? String(dir))
    }

    /// xfrm_policy_info_print().
    static func info(_ x: XFRMUserPolicyInfo, _ a: XFRMAttributes, into p: inout XFRMPrint) {
        p.selector(x.selector, family: UInt16(p.session.options.family), prefix: "")
        if let c = a.securityContext { p.securityContext(c) }
        let buf = "\t"
        p.text += buf
        let d = dirName(x.dir)
        p.text += (d.socket ? "socket " : "dir ") + d.name + " "
        switch Int(x.action) {
        case Int(XFRM_POLICY_ALLOW): if p.stats > 0 { p.text += "action allow " }
        case Int(XFRM_POLICY_BLOCK): p.text += "action block "
        default: p.text += "action \(x.action) "
        }
        if p.stats > 0 { p.text += "index \(x.index) " }
        p.text += "priority \(x.priority) "
        if let t = a.policyType { p.text += "ptype \(ptypes.first { $0.1 == t }?.0 ?? String(t)) " }
        if p.stats > 0 { p.text += "share \(XFRMPrint.shareName(x.share)) " }
        if p.stats > 0 || x.flags != 0 { p.text += XFRMPrint.flags("flag", x.flags, flagNames) }
        if p.stats > 0 { p.text += XFRMPrint.flagBits(x.flags) }
        p.sl()
        if p.stats > 0 { p.lifetime(x.lifetime, x.current, prefix: buf) }
        p.attributes(a, family: x.selector.family, prefix: buf, nokeys: false)
    }

    static func json(_ m: XFRMPolicyMessage, _ session: Session) -> JSON {
        let x = m.info
        var kv: [(String, JSON)] = []
        if m.type == XFRMMessageType.delPolicy { kv.append(("deleted", true)) }
        let d = dirName(x.dir)
        kv += [("sel", XFRMJSON.selector(x.selector, family: UInt16(session.options.family), session: session)),
               ("dir", .string(d.name)), ("socket", .bool(d.socket)),
               ("action", .string(x.action == UInt8(XFRM_POLICY_ALLOW) ? "allow" : x.action == UInt8(XFRM_POLICY_BLOCK) ? "block" : String(x.action))),
               ("index", JSON(x.index)), ("priority", JSON(x.priority)),
               ("ptype", .string(ptypes.first { $0.1 == (m.attributes.policyType ?? 0) }?.0 ?? String(m.attributes.policyType ?? 0))),
               ("flags", .array(flagNames.filter { x.flags & $0.1 != 0 }.map { .string($0.0) }))]
        XFRMJSON.attributes(m.attributes, family: x.selector.family, nokeys: false, into: &kv, session: session)
        if session.options.statistics > 0 { kv.append(("lifetime", XFRMJSON.lifetime(x.lifetime, x.current))) }
        return .object(kv)
    }

    // MARK: flush / count

    static func flush(_ args: inout Arguments, _ session: Session) throws {
        var w = AttributeWriter()
        var given = false
        while let word = args.next() {
            guard word == "ptype" else { throw UsageError.unknown(word, in: "xfrm policy flush", validChoices: ["ptype"]) }
            if given { throw UsageError("\"ptype\" is given twice") }
            given = true
            w.raw(XFRMAttributeType.policyType, XFRMUserPolicyType(type: try pick(&args, for: "ptype", ptypes)).encoded)
        }
        try XFRMParse.send(try XFRMMessage.make(XFRMMessageType.flushPolicy, flags: [.request], header: [], attributes: w), session, operation: "xfrm policy flush")
    }

    static func count(_ args: inout Arguments, _ session: Session) throws {
        if let word = args.next() { throw UsageError.unknown(word, in: "xfrm policy count", validChoices: []) }
        var h: [UInt8] = []
        Bytes.append(UInt32.max, to: &h)
        let replies = try session.xfrm().request(try XFRMMessage.make(XFRMMessageType.getSPDInfo, flags: [.request], header: h), operation: "xfrm policy count")
        guard let r = replies.first, let info = try? XFRMSPDInfo(r) else {
            throw UsageError("xfrm policy count: the kernel gave no SPD info")
        }
        let c = info.counts.map { $0.map { Int32(bitPattern: $0) } }
        if session.options.json {
            var kv: [(String, JSON)] = []
            if let c { kv += [("in", JSON(c[0])), ("out", JSON(c[1])), ("fwd", JSON(c[2])),
                               ("socket", .object([("in", JSON(c[3])), ("out", JSON(c[4])), ("fwd", JSON(c[5]))]))] }
            if let b = info.buckets, let m = info.maxBuckets { kv += [("buckets", JSON(b)), ("max_buckets", JSON(m))] }
            session.emit(.object(kv))
            return
        }
        var text = "\t SPD"
        if let c {
            text += " IN  \(c[0]) OUT \(c[1]) FWD \(c[2])"
            if session.options.statistics > 0 { text += " (Sock: IN \(c[3]) OUT \(c[4]) FWD \(c[5]))" }
            text += "\n"
        }
        if session.options.statistics > 1 {
            if let b = info.buckets, let m = info.maxBuckets { text += "\t SPD buckets: count \(Int32(bitPattern: b)) Max \(Int32(bitPattern: m))\n" }
            if let t = info.thresholds4 { text += "\t SPD IPv4 thresholds: local \(t.0) remote \(t.1)\n" }
            if let t = info.thresholds6 { text += "\t SPD IPv6 thresholds: local \(t.0) remote \(t.1)\n" }
        }
        var p = XFRMPrint(session: session)
        p.text = text
        p.emit()
    }
}
