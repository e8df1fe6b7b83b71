import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `xfrm state`: add/update, delete, get, deleteall, list/show, flush, count — ip/xfrm_state.c of iproute2 6.1.
enum XFRMState {
    /// do_xfrm_state()'s verbs in its order (abbreviations resolve to the first match).
    static let verbs = ["add", "update", "allocspi", "delete", "deleteall", "delall", "list", "show", "lst", "get", "flush", "count"]

    static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "list")
        switch verb {
        case "add": try modify(&args, session, type: XFRMMessageType.newSA)
        case "update": try modify(&args, session, type: XFRMMessageType.updSA)
        case "allocspi": throw UsageError("\"xfrm state allocspi\" is not supported by isthmus; give the SPI with \"xfrm state add ... spi SPI\"")
        case "delete": try getOrDelete(&args, session, delete: true)
        case "get": try getOrDelete(&args, session, delete: false)
        case "deleteall", "delall": try listOrDeleteAll(&args, session, deleteAll: true)
        case "flush": try flush(&args, session)
        case "count": try count(&args, session)
        default: try listOrDeleteAll(&args, session, deleteAll: false)
        }
    }

    static let flagNames: [(String, UInt8)] = [
        ("noecn", UInt8(XFRM_STATE_NOECN)), ("decap-dscp", UInt8(XFRM_STATE_DECAP_DSCP)), ("nopmtudisc", UInt8(XFRM_STATE_NOPMTUDISC)),
        ("wildrecv", UInt8(XFRM_STATE_WILDRECV)), ("icmp", UInt8(XFRM_STATE_ICMP)), ("af-unspec", UInt8(XFRM_STATE_AF_UNSPEC)),
        ("align4", UInt8(XFRM_STATE_ALIGN4)), ("esn", UInt8(XFRM_STATE_ESN)),
    ]
    static let extraFlagNames: [(String, UInt32)] = [("dont-encap-dscp", UInt32(XFRM_SA_XFLAG_DONT_ENCAP_DSCP)), ("oseq-may-wrap", UInt32(XFRM_SA_XFLAG_OSEQ_MAY_WRAP))]

    static let algorithmTypes: [(String, UInt16)] = [
        ("enc", XFRMAttributeType.algCrypt), ("auth", XFRMAttributeType.algAuth), ("comp", XFRMAttributeType.algComp),
        ("aead", XFRMAttributeType.algAEAD), ("auth-trunc", XFRMAttributeType.algAuthTrunc),
    ]
    /// ip's XFRM_ALGO_KEY_BUF_SIZE.
    static let keyLimit = 512

    /// ALGO-KEYMAT (xfrm_algo_parse): "0x" and hex digits (an odd count gets a leading 0), else the word's bytes.
    static func key(_ word: String, for type: String) throws -> [UInt8] {
        let b = Array(word.utf8)
        if b.count > 2 && word.hasPrefix("0x") {
            var digits = Array(b.dropFirst(2))
            if digits.count % 2 == 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
            guard digits.count / 2 <= keyLimit else {
                throw UsageError.wrong(word, "the key of \"\(type)\" is \(digits.count / 2) bytes; at most \(keyLimit)")
            }
            var out: [UInt8] = []
            var i = 0
            while i < digits.count {
                guard let v = UInt8(String(decoding: digits[i..<(i + 2)], as: UTF8.self), radix: 16) else {
                    throw UsageError.wrong(word, "the key of \"\(type)\" is not hex digits after 0x")
                }
                out.append(v)
                i += 2
            }
            return out
        }
        guard b.count <= keyLimit else { throw UsageError.wrong(word, "the key of \"\(type)\" is \(b.count) bytes; at most \(keyLimit)") }
        return b
    }

    // MARK: add / update

    static func modify(_ args: inout Arguments, _ session: Session, type: UInt16) throws {
        let verb = type == XFRMMessageType.newSA ? "add" : "update"
        var pf = session.options.family
        var info = XFRMUserSAInfo()
        info.family = UInt16(pf)
        info.lifetime = .unlimited
        var w = AttributeWriter()
        var id = XFRMParse.ID()
        var replayWindow: UInt32 = 0
        var seq: UInt32 = 0, oseq: UInt32 = 0, seqHi: UInt32 = 0, oseqHi: UInt32 = 0
        var extra: UInt32 = 0
        var mark = XFRMMark(value: 0, mask: 0)
        var outputMark: UInt32 = 0, outputMask: UInt32 = 0
        var ifID: UInt32?
        var tfcpad: UInt32 = 0
        var aead = false, enc = false, auth = false, comp = false
        var coa = false, ctx = false, sel = false
        var offload: (Int32, UInt8)?
        let keywords = ["src", "dst", "proto", "spi", "mode", "mark", "reqid", "seq", "replay-window", "replay-seq", "replay-seq-hi",
                        "replay-oseq", "replay-oseq-hi", "flag", "extra-flag", "sel", "limit", "encap", "coa", "ctx", "offload",
                        "output-mark", "if_id", "tfcpad"] + algorithmTypes.map(\.0)
        if args.isEmpty { throw UsageError("\"xfrm state \(verb)\" needs an ID (src ADDR dst ADDR proto XFRM-PROTO spi SPI); usage: \(Usage.xfrm)") }
        while let word = args.peek {
            if XFRMParse.idWords.contains(word) {
                if id.given { throw UsageError("\"\(word)\": the ID (src, dst, proto, spi) must be given together, once") }
                try XFRMParse.id(&args, into: &id, family: pf)
                if id.family != 0 { info.family = UInt16(id.family) }
                info.saddr = id.saddr
                info.id = id.id
                if pf == 0 { pf = UInt8(truncatingIfNeeded: info.family) }
                continue
            }
            _ = args.next()
            switch word {
            case "mode": info.mode = try XFRMParse.mode(&args)
            case "mark": mark = try XFRMParse.mark(&args)
            case "reqid": info.reqid = try XFRMParse.number(&args, for: "reqid", UInt32.self)
            case "seq": info.seq = try XFRMParse.number(&args, for: "seq", UInt32.self).byteSwapped   // get_be32
            case "replay-window": replayWindow = try XFRMParse.number(&args, for: word, UInt32.self)
            case "replay-seq": seq = try XFRMParse.number(&args, for: word, UInt32.self)
            case "replay-seq-hi": seqHi = try XFRMParse.number(&args, for: word, UInt32.self)
            case "replay-oseq": oseq = try XFRMParse.number(&args, for: word, UInt32.self)
            case "replay-oseq-hi": oseqHi = try XFRMParse.number(&args, for: word, UInt32.self)
            case "flag":
                let (f, replace) = try XFRMParse.flags(&args, for: "flag", flagNames)
                info.flags = replace ? f : info.flags | f
            case "extra-flag":
                let (f, replace) = try XFRMParse.flags(&args, for: "extra-flag", extraFlagNames)
                extra = replace ? f : extra | f
            case "sel":
                if sel { throw UsageError("\"sel\" is given twice") }
                sel = true
                let g = try XFRMParse.selector(&args, into: &info.selector, family: 0, session: session)
                if !g.any { throw UsageError("\"sel\" needs a SELECTOR: [src ADDR[/PLEN]] [dst ADDR[/PLEN]] [dev DEV] [proto PROTO [sport PORT] [dport PORT]]") }
                pf = UInt8(truncatingIfNeeded: info.selector.family)
            case "limit": try XFRMParse.limit(&args, into: &info.lifetime)
            case "encap":
                let types: [(String, UInt16)] = [("espinudp-nonike", XFRMEncapTemplate.espInUDPNonIKE), ("espinudp", XFRMEncapTemplate.espInUDP), ("espintcp", XFRMEncapTemplate.espInTCP)]
                let t = try args.value(for: "encap", expected: "espinudp, espinudp-nonike or espintcp, then SPORT DPORT OADDR")
                guard let et = types.first(where: { $0.0 == t }) else { throw UsageError.invalid(t, for: "encap", expected: "espinudp, espinudp-nonike or espintcp") }
                var e = XFRMEncapTemplate()
                e.type = et.1
                e.sport = try XFRMParse.number(&args, for: "encap SPORT", UInt16.self)
                e.dport = try XFRMParse.number(&args, for: "encap DPORT", UInt16.self)
                let oa = try args.value(for: "encap OADDR", expected: "an IPv4 or IPv6 address")
                e.originalAddress = [UInt8].padded(try Inet.address(oa, for: "encap OADDR", family: 0).bytes)
                var b: [UInt8] = []
                e.encode(into: &b)
                w.raw(XFRMAttributeType.encap, b)
            case "coa":
                if coa { throw UsageError("\"coa\" is given twice") }
                coa = true
                let p = try XFRMParse.prefix(&args, for: "coa", family: pf)
                w.raw(XFRMAttributeType.coAddr, [UInt8].padded(p.bytes))
            case "ctx":
                if ctx { throw UsageError("\"ctx\" is given twice") }
                ctx = true
                w.raw(XFRMAttributeType.secCtx, try XFRMPolicy.context(&args))
            case "offload":
                var index: Int32 = 0
                if args.peek == "dev" {
                    _ = args.next()
                    index = try session.ifindex(try args.interfaceName(for: "offload dev"))
                }
                let d = try args.value(for: "offload dir", expected: "dir in|out")
                guard d == "dir" else { throw UsageError.invalid(d, for: "offload", expected: "[dev DEV] dir in|out") }
                let dir = try args.choice(for: "offload dir", ["in", "out"])
                offload = (index, dir == "in" ? UInt8(XFRM_OFFLOAD_INBOUND) : 0)
            case "output-mark":
                outputMark = try XFRMParse.number(&args, for: word, UInt32.self)
                if args.peek == "mask" { _ = args.next(); outputMask = try XFRMParse.number(&args, for: "mask", UInt32.self) }
            case "if_id": ifID = try XFRMParse.number(&args, for: word, UInt32.self)
            case "tfcpad": tfcpad = try XFRMParse.number(&args, for: word, UInt32.self)
            default:
                guard let t = algorithmTypes.first(where: { $0.0 == word }) else {
                    throw UsageError.unknown(word, in: "xfrm state \(verb)", validChoices: keywords)
                }
                switch t.1 {
                case XFRMAttributeType.algAEAD:
                    if enc || auth || aead { throw UsageError("\"aead\" cannot be combined with another enc, auth or aead algorithm") }
                    aead = true
                case XFRMAttributeType.algCrypt:
                    if enc || aead { throw UsageError("\"enc\" is given twice or with \"aead\"") }
                    enc = true
                case XFRMAttributeType.algAuth, XFRMAttributeType.algAuthTrunc:
                    if auth || aead { throw UsageError("\"\(word)\" is given twice (auth or auth-trunc) or with \"aead\"") }
                    auth = true
                default:
                    if comp { throw UsageError("\"comp\" is given twice") }
                    comp = true
                }
                let name = try args.value(for: word, expected: "ALGO-NAME")
                guard !name.isEmpty, name.utf8.count < XFRMAlgorithm.nameLength else {
                    throw UsageError.invalid(name, for: word, expected: "an algorithm name of 1-\(XFRMAlgorithm.nameLength - 1) bytes")
                }
                var keyBytes: [UInt8] = []
                if t.1 != XFRMAttributeType.algComp {
                    keyBytes = try key(try args.value(for: "\(word) \(name)", expected: "ALGO-KEYMAT (0x and hex digits, or a string)"), for: word)
                }
                var kind = XFRMAlgorithm.Kind.plain
                if t.1 == XFRMAttributeType.algAEAD { kind = .aead(try XFRMParse.number(&args, for: "\(word) ALGO-ICV-LEN", UInt32.self)) }
                if t.1 == XFRMAttributeType.algAuthTrunc { kind = .truncated(try XFRMParse.number(&args, for: "\(word) ALGO-TRUNC-LEN", UInt32.self)) }
                w.raw(t.1, XFRMAlgorithm(kind: kind, name: name, key: keyBytes).encoded)
            }
        }
        let proto = info.id.proto
        if info.flags & UInt8(XFRM_STATE_ESN) != 0 && replayWindow == 0 { throw UsageError("the esn flag needs a replay-window") }
        if replayWindow > UInt32(XFRMA_REPLAY_ESN_MAX) {
            throw UsageError("replay-window (\(replayWindow)) > XFRMA_REPLAY_ESN_MAX (\(XFRMA_REPLAY_ESN_MAX))")
        }
        if let (index, flags) = offload {
            var b: [UInt8] = []
            Bytes.append(index, to: &b); b += [flags, 0, 0, 0]
            w.raw(XFRMAttributeType.offloadDev, b)
        }
        if info.flags & UInt8(XFRM_STATE_ESN) != 0 || replayWindow > 32 {
            var r = XFRMReplayStateESN()
            r.seq = seq; r.oseq = oseq; r.seqHi = seqHi; r.oseqHi = oseqHi; r.replayWindow = replayWindow
            r.bmpLen = (replayWindow + 31) / 32
            var b: [UInt8] = []
            r.encode(into: &b)
            w.raw(XFRMAttributeType.replayESNVal, b)
        } else {
            if seq != 0 || oseq != 0 {
                var r = XFRMReplayState()
                r.seq = seq; r.oseq = oseq
                var b: [UInt8] = []
                r.encode(into: &b)
                w.raw(XFRMAttributeType.replayVal, b)
            }
            info.replayWindow = UInt8(truncatingIfNeeded: replayWindow)
        }
        if extra != 0 { w.u32(XFRMAttributeType.saExtraFlags, extra) }
        if !id.given { throw UsageError("not enough information: the ID (src ADDR dst ADDR proto XFRM-PROTO [spi SPI]) is required") }
        if !id.protoGiven { throw UsageError("the ID needs \"proto\" (one of \(XFRMParse.protocolNames))") }
        if mark.mask != 0 { var b: [UInt8] = []; mark.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
        if let ifID { w.u32(XFRMAttributeType.ifID, ifID) }
        if tfcpad != 0 { w.u32(XFRMAttributeType.tfcPad, tfcpad) }
        let pname = XFRMParse.protocolName(proto)
        if XFRMParse.isIPsec(proto) {
            switch Int(info.mode) {
            case Int(XFRM_MODE_TRANSPORT), Int(XFRM_MODE_TUNNEL): break
            case Int(XFRM_MODE_BEET) where proto == UInt8(IPPROTO_ESP): break
            default: throw UsageError("mode \"\(XFRMPrint.modeName(info.mode))\" is invalid with XFRM-PROTO value \"\(pname)\"")
            }
            switch Int(proto) {
            case Int(IPPROTO_ESP):
                if comp { throw UsageError("ALGO-TYPE value \"comp\" is invalid with XFRM-PROTO value \"esp\"") }
                if !enc && !aead { throw UsageError("ALGO-TYPE value \"enc\" or \"aead\" is required with XFRM-PROTO value \"esp\"") }
            case Int(IPPROTO_AH):
                if enc || aead || comp { throw UsageError("ALGO-TYPE values \"enc\", \"aead\", and \"comp\" are invalid with XFRM-PROTO value \"ah\"") }
                if !auth { throw UsageError("ALGO-TYPE value \"auth\" or \"auth-trunc\" is required with XFRM-PROTO value \"ah\"") }
            default:
                if enc || auth || aead { throw UsageError("ALGO-TYPE values \"enc\", \"auth\", \"auth-trunc\", and \"aead\" are invalid with XFRM-PROTO value \"comp\"") }
                if !comp { throw UsageError("ALGO-TYPE value \"comp\" is required with XFRM-PROTO value \"comp\"") }
            }
        } else if enc || auth || aead || comp {
            throw UsageError("ALGO is invalid with XFRM-PROTO value \"\(pname)\"")
        }
        if XFRMParse.isRouteOptimization(proto) {
            switch Int(info.mode) {
            case Int(XFRM_MODE_ROUTEOPTIMIZATION), Int(XFRM_MODE_IN_TRIGGER): break
            case 0: throw UsageError("\"mode\" is required with XFRM-PROTO value \"\(pname)\"")
            default: throw UsageError("mode \"\(XFRMPrint.modeName(info.mode))\" is invalid with XFRM-PROTO value \"\(pname)\"")
            }
            if !coa { throw UsageError("\"coa\" is required with XFRM-PROTO value \"\(pname)\"") }
        } else if coa {
            throw UsageError("\"coa\" is invalid with XFRM-PROTO value \"\(pname)\"")
        }
        if outputMark != 0 { w.u32(XFRMAttributeType.setMark, outputMark) }
        if outputMask != 0 { w.u32(XFRMAttributeType.setMarkMask, outputMask) }
        if info.family == 0 { info.family = UInt16(AF_INET) }
        var h: [UInt8] = []
        info.encode(into: &h)
        let m = try XFRMMessage.make(type, flags: [.request], header: h, attributes: w)
        try XFRMParse.send(m, session, operation: "xfrm state \(verb)")
    }

    // MARK: get / delete

    static func getOrDelete(_ args: inout Arguments, _ session: Session, delete: Bool) throws {
        let verb = delete ? "delete" : "get"
        var sid = XFRMUserSAID()
        sid.family = UInt16(session.options.family)
        var w = AttributeWriter()
        var id = XFRMParse.ID()
        var mark = XFRMMark(value: 0, mask: 0)
        while let word = args.peek {
            if word == "mark" { _ = args.next(); mark = try XFRMParse.mark(&args); continue }
            guard XFRMParse.idWords.contains(word) else {
                _ = args.next()
                throw UsageError.unknown(word, in: "xfrm state \(verb)", validChoices: XFRMParse.idWords + ["mark"])
            }
            if id.given { throw UsageError("\"\(word)\": the ID (src, dst, proto, spi) must be given together, once") }
            try XFRMParse.id(&args, into: &id, family: UInt8(truncatingIfNeeded: sid.family))
            if id.family != 0 { sid.family = UInt16(id.family) }
            sid.daddr = id.id.daddr; sid.spi = id.id.spi; sid.proto = id.id.proto
            w.raw(XFRMAttributeType.srcAddr, id.saddr)
        }
        if !id.given { throw UsageError("\"xfrm state \(verb)\" needs an ID: src ADDR dst ADDR proto XFRM-PROTO spi SPI") }
        if !id.protoGiven { throw UsageError("the ID needs \"proto\" (one of \(XFRMParse.protocolNames))") }
        if mark.mask & mark.value != 0 { var b: [UInt8] = []; mark.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
        if sid.family == 0 { sid.family = UInt16(AF_INET) }
        var h: [UInt8] = []
        sid.encode(into: &h)
        try XFRMParse.getOrDelete(delete ? XFRMMessageType.delSA : XFRMMessageType.getSA, header: h, attributes: w,
                                  session, operation: "xfrm state \(verb)", delete: delete) {
            if let s = try? XFRMStateMessage($0) { output(s, session, nokeys: false) }
        }
    }

    // MARK: list / deleteall

    struct Filter {
        var use = false
        var family: UInt16 = 0
        var id = XFRMParse.ID()
        var mode: UInt8?
        var reqid: UInt32?
        var flags: UInt8?

        func matches(_ s: XFRMUserSAInfo) -> Bool {
            guard use else { return true }
            if family != 0 && family != s.family { return false }
            if id.srcBits > 0 && !XFRMParse.addressMatch(s.saddr, id.saddr, bits: id.srcBits) { return false }
            if id.dstBits > 0 && !XFRMParse.addressMatch(s.id.daddr, id.id.daddr, bits: id.dstBits) { return false }
            if id.protoGiven && s.id.proto != id.id.proto { return false }
            if id.spiGiven && s.id.spi != id.id.spi { return false }
            if let mode, s.mode != mode { return false }
            if let reqid, s.reqid != reqid { return false }
            if let flags, s.flags & flags == 0 { return false }
            return true
        }
    }

    static func listOrDeleteAll(_ args: inout Arguments, _ session: Session, deleteAll: Bool) throws {
        var f = Filter()
        f.use = !args.isEmpty || session.options.family != 0
        f.family = UInt16(session.options.family)
        var nokeys = false
        let verb = deleteAll ? "deleteall" : "list"
        while let word = args.peek {
            if XFRMParse.idWords.contains(word) {
                if f.id.given { throw UsageError("\"\(word)\": the ID (src, dst, proto, spi) must be given together, once") }
                try XFRMParse.id(&args, into: &f.id, family: UInt8(truncatingIfNeeded: f.family))
                if f.id.family != 0 { f.family = UInt16(f.id.family) }
                continue
            }
            _ = args.next()
            switch word {
            case "nokeys" where !deleteAll: nokeys = true
            case "mode": f.mode = try XFRMParse.mode(&args)
            case "reqid": f.reqid = try XFRMParse.number(&args, for: "reqid", UInt32.self)
            case "flag": f.flags = try XFRMParse.flags(&args, for: "flag", flagNames).0
            default:
                throw UsageError.unknown(word, in: "xfrm state \(verb)", validChoices: (deleteAll ? [] : ["nokeys"]) + XFRMParse.idWords + ["mode", "reqid", "flag"])
            }
        }
        let sock = try session.xfrm()
        if deleteAll {
            // Rounds of dump-then-delete until nothing matches, as ip does (states may come back while deleting).
            for _ in 0..<64 {
                let states = try sock.dump(try XFRMMessage.make(XFRMMessageType.getSA, flags: [.request, .dump], header: []), operation: "xfrm state dump")
                    .compactMap { try? XFRMStateMessage($0) }
                    .filter { f.matches($0.info) && $0.info.id.proto != UInt8(IPPROTO_IPIP) && $0.info.id.proto != UInt8(IPPROTO_IPV6) }
                if states.isEmpty { return }
                for s in states {
                    var sid = XFRMUserSAID()
                    sid.family = s.info.family; sid.daddr = s.info.id.daddr; sid.spi = s.info.id.spi; sid.proto = s.info.id.proto
                    var h: [UInt8] = []
                    sid.encode(into: &h)
                    var w = AttributeWriter()
                    w.raw(XFRMAttributeType.srcAddr, s.info.saddr)
                    if let m = s.attributes.mark { var b: [UInt8] = []; m.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
                    try sock.request(try XFRMMessage.make(XFRMMessageType.delSA, flags: [.request], header: h, attributes: w), operation: "xfrm state deleteall")
                }
            }
            throw UsageError("xfrm state deleteall: states kept reappearing after 64 rounds of deleting")
        }
        var w = AttributeWriter()
        if f.id.id.proto != 0 { w.u8(XFRMAttributeType.proto, f.id.id.proto) }
        var af = XFRMAddressFilter()
        af.saddr = f.id.saddr; af.daddr = f.id.id.daddr; af.family = f.family
        af.splen = UInt8(truncatingIfNeeded: f.id.srcBits); af.dplen = UInt8(truncatingIfNeeded: f.id.dstBits)
        w.raw(XFRMAttributeType.addressFilter, af.encoded)
        let replies = try sock.dump(try XFRMMessage.make(XFRMMessageType.getSA, flags: [.request, .dump], header: [], attributes: w), operation: "xfrm state dump")
        for r in replies {
            guard let s = try? XFRMStateMessage(r), f.matches(s.info) else { continue }
            output(s, session, nokeys: nokeys)
        }
    }

    /// One state, as __do_xfrm_state_print() prints it (or its JSON).
    static func output(_ s: XFRMStateMessage, _ session: Session, nokeys: Bool) {
        if session.options.json { session.emit(json(s, session, nokeys: nokeys)); return }
        XFRMPrint.emit(s, session, deleted: XFRMMessageType.delSA, updated: XFRMMessageType.updSA,
                       expired: XFRMMessageType.expire) { info(s.info, s.attributes, into: &$0, nokeys: nokeys) }
    }

    /// xfrm_state_info_print().
    static func info(_ x: XFRMUserSAInfo, _ a: XFRMAttributes, into p: inout XFRMPrint, nokeys: Bool) {
        p.idInfo(saddr: x.saddr, id: x.id, mode: x.mode, reqid: x.reqid, family: x.family, forceSPI: XFRMParse.isIPsec(x.id.proto), prefix: "", title: nil)
        let buf = "\t"
        p.text += buf + "replay-window \(x.replayWindow) "
        if p.stats > 0 {
            // ip prints seq with "0x%08u" (sic): a decimal number behind "0x".
            let d = String(x.seq)
            p.text += "seq 0x\(String(repeating: "0", count: max(0, 8 - d.count)) + d) "
        }
        if p.stats > 0 || x.flags != 0 { p.text += XFRMPrint.flags("flag", x.flags, flagNames) }
        if p.stats > 0, let extra = a.extraFlags { p.text += XFRMPrint.flags("extra_flag", extra, extraFlagNames) }
        if p.stats > 0 { p.text += XFRMPrint.flagBits(x.flags) }
        p.sl()
        p.attributes(a, family: x.family, prefix: buf, nokeys: nokeys)
        if !x.selector.isZero { p.selector(x.selector, family: x.family, prefix: buf + "sel ") }
        if p.stats > 0 {
            p.lifetime(x.lifetime, x.current, prefix: buf)
            p.text += buf + "stats:"; p.sl()
            p.text += buf + "  replay-window \(x.stats.replayWindow) replay \(x.stats.replay) failed \(x.stats.integrityFailed)"; p.sl()
        }
        if let c = a.securityContext { p.securityContext(c) }
    }

    static func json(_ s: XFRMStateMessage, _ session: Session, nokeys: Bool) -> JSON {
        let x = s.info
        var kv: [(String, JSON)] = []
        if s.type == XFRMMessageType.delSA { kv.append(("deleted", true)) }
        kv += [("src", XFRMJSON.address(x.saddr, family: x.family)), ("dst", XFRMJSON.address(x.id.daddr, family: x.family)),
               ("proto", .string(XFRMParse.protocolName(x.id.proto))), ("spi", JSON(x.id.spi)), ("reqid", JSON(x.reqid)),
               ("mode", .string(XFRMPrint.modeName(x.mode))), ("replay_window", JSON(x.replayWindow)),
               ("flags", .array(flagNames.filter { x.flags & $0.1 != 0 }.map { .string($0.0) }))]
        XFRMJSON.attributes(s.attributes, family: x.family, nokeys: nokeys, into: &kv, session: session)
        if !x.selector.isZero { kv.append(("sel", XFRMJSON.selector(x.selector, family: x.family, session: session))) }
        if session.options.statistics > 0 {
            kv.append(("lifetime", XFRMJSON.lifetime(x.lifetime, x.current)))
            kv.append(("stats", .object([("replay_window", JSON(x.stats.replayWindow)), ("replay", JSON(x.stats.replay)), ("failed", JSON(x.stats.integrityFailed))])))
        }
        return .object(kv)
    }

    // MARK: flush / count

    static func flush(_ args: inout Arguments, _ session: Session) throws {
        var proto: UInt8 = 0
        var given = false
        while let word = args.next() {
            guard word == "proto" else { throw UsageError.unknown(word, in: "xfrm state flush", validChoices: ["proto"]) }
            if given { throw UsageError("\"proto\" is given twice") }
            given = true
            proto = try XFRMParse.xfrmProtocol(&args)
        }
        let m = try XFRMMessage.make(XFRMMessageType.flushSA, flags: [.request], header: [proto])
        try XFRMParse.send(m, session, operation: "xfrm state flush")
    }

    static func count(_ args: inout Arguments, _ session: Session) throws {
        if let word = args.next() { throw UsageError.unknown(word, in: "xfrm state count", validChoices: []) }
        var h: [UInt8] = []
        Bytes.append(UInt32.max, to: &h)
        let replies = try session.xfrm().request(try XFRMMessage.make(XFRMMessageType.getSADInfo, flags: [.request], header: h), operation: "xfrm state count")
        guard let r = replies.first, let info = try? XFRMSADInfo(r), let n = info.count else {
            throw UsageError("xfrm state count: the kernel's answer holds no SAD count")
        }
        if session.options.json {
            var kv: [(String, JSON)] = [("count", JSON(n))]
            if let b = info.buckets, let m = info.maxBuckets { kv += [("buckets", JSON(b)), ("max_buckets", JSON(m))] }
            session.emit(.object(kv))
            return
        }
        var line = "\t SAD count \(n)"
        if session.options.statistics > 0, let b = info.buckets, let m = info.maxBuckets {
            line += " (buckets count \(Int32(bitPattern: b)) Max \(Int32(bitPattern: m)))"
        }
        session.print(line)
    }
}
