import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `address` (ip-address(8)): add, change, replace, delete, show and flush IPv4/IPv6 addresses.
///
/// Requests are built the way iproute2 6.1's ipaddr_modify() builds them, attribute for attribute:
/// IFA_LOCAL / IFA_ADDRESS / IFA_BROADCAST / IFA_LABEL ... in command-line order, then IFA_FLAGS,
/// the implied IFA_ADDRESS, the computed broadcast ("brd +") and IFA_CACHEINFO.
public enum AddressCommand {
    /// Verbs in iproute2's do_ipaddr() order (abbreviations resolve to the first match).
    static let verbs = ["add", "change", "chg", "replace", "delete", "list", "show", "lst", "flush"]

    /// Runs `address VERB ...`.
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try modify(&args, session, type: RTM_NEWADDR, flags: [.create, .excl], verb: verb)
        case "change", "chg": try modify(&args, session, type: RTM_NEWADDR, flags: [.replace], verb: verb)
        case "replace": try modify(&args, session, type: RTM_NEWADDR, flags: [.create, .replace], verb: verb)
        case "delete": try modify(&args, session, type: RTM_DELADDR, flags: [], verb: verb)
        case "flush": try list(&args, session, flush: true)
        default: try list(&args, session, flush: false)
        }
    }

    /// IFA_F_* flags by name, as iproute2's ifa_flag_data table (readonly ones are reported, never set).
    static let flagTable: [(name: String, mask: UInt32, readonly: Bool, v6only: Bool)] = [
        ("secondary", UInt32(IFA_F_SECONDARY), true, false),
        ("temporary", UInt32(IFA_F_SECONDARY), true, false),
        ("nodad", UInt32(IFA_F_NODAD), false, true),
        ("optimistic", UInt32(IFA_F_OPTIMISTIC), false, true),
        ("dadfailed", UInt32(IFA_F_DADFAILED), true, true),
        ("home", UInt32(IFA_F_HOMEADDRESS), false, true),
        ("deprecated", UInt32(IFA_F_DEPRECATED), true, true),
        ("tentative", UInt32(IFA_F_TENTATIVE), true, true),
        ("permanent", UInt32(IFA_F_PERMANENT), true, true),
        ("mngtmpaddr", UInt32(IFA_F_MANAGETEMPADDR), false, true),
        ("noprefixroute", UInt32(IFA_F_NOPREFIXROUTE), false, false),
        ("autojoin", UInt32(IFA_F_MCAUTOJOIN), false, false),
        ("stable-privacy", UInt32(IFA_F_STABLE_PRIVACY), true, true),
    ]

    static let modifyKeywords: [Keyword] = [
        .exact("peer"), .exact("remote"), .abbrev("broadcast"), .exact("brd"), .exact("anycast"), .exact("scope"),
        .exact("dev"), .exact("label"), .abbrev("metric"), .abbrev("priority"), .abbrev("preference"),
        .abbrev("valid_lft"), .abbrev("preferred_lft"),
    ] + flagTable.map { .exact($0.name) } + [.exact("local")]

    // MARK: add / change / replace / delete

    static func modify(_ args: inout Arguments, _ session: Session, type: Int, flags: NetlinkFlags, verb: String) throws {
        let command = args.words.joined(separator: " ")   // the words as typed, object word included
        var header = IfAddrHeader(family: session.options.family)
        var w = AttributeWriter()
        var dev: String?
        var local: InetPrefix?
        var peer: InetPrefix?
        var broadcastMode = 0          // -1 "+", -2 "-", >0 explicit
        var anycastSet = false
        var scoped = false
        var validLft: UInt32 = AddressCacheInfo.forever, preferredLft: UInt32 = AddressCacheInfo.forever
        var lifetimeGiven = (valid: false, preferred: false)
        var ifaFlags: UInt32 = 0

        while let word = args.next() {
            let key = modifyKeywords.resolve(word)
            switch key {
            case "peer", "remote":
                let v = try args.value(for: word, expected: "a peer address ADDR[/PLEN]")
                if peer != nil { throw UsageError("duplicate \"peer\": \(v)") }
                let p = try Inet.prefix(v, for: word, family: header.family)
                if header.family == 0 { header.family = p.family }
                w.raw(IFA_ADDRESS, p.bytes)
                header.prefixLength = UInt8(clamping: p.bitlen)
                peer = p
            case "broadcast", "brd":
                let v = try args.value(for: word, expected: "a broadcast address, + or -")
                if broadcastMode != 0 { throw UsageError("duplicate \"broadcast\": \(v)") }
                if v == "+" { broadcastMode = -1 } else if v == "-" { broadcastMode = -2 } else {
                    let a = try Inet.address(v, for: word, family: header.family)
                    if header.family == 0 { header.family = a.family }
                    w.raw(IFA_BROADCAST, a.bytes)
                    broadcastMode = max(1, a.bytes.count)
                }
            case "anycast":
                let v = try args.value(for: word, expected: "an anycast address")
                if anycastSet { throw UsageError("duplicate \"anycast\": \(v)") }
                let a = try Inet.address(v, for: word, family: header.family)
                if header.family == 0 { header.family = a.family }
                w.raw(IFA_ANYCAST, a.bytes)
                anycastSet = true
            case "scope":
                header.scope = try RTNames.scope(try args.value(for: word, expected: RTNames.scopeExpected), for: word)
                scoped = true
            case "dev":
                dev = try args.interfaceName(for: word)
            case "label":
                let l = try args.value(for: word, expected: "a label such as eth0:1")
                w.string(IFA_LABEL, l)
            case "metric", "priority", "preference":
                w.u32(IFA_RT_PRIORITY, try args.integer(for: word, UInt32.self))
            case "valid_lft":
                if lifetimeGiven.valid { throw UsageError("duplicate \"valid_lft\"") }
                validLft = try lifetime(&args, word); lifetimeGiven.valid = true
            case "preferred_lft":
                if lifetimeGiven.preferred { throw UsageError("duplicate \"preferred_lft\"") }
                preferredLft = try lifetime(&args, word); lifetimeGiven.preferred = true
            case let k? where k != "local":
                // An IFA_F_* flag word.
                guard let f = flagTable.first(where: { $0.name == k }) else { break }
                if f.readonly || (f.v6only && header.family != UInt8(AF_INET6)) {
                    // iproute2 warns and ignores these; so do we.
                    break
                }
                ifaFlags |= f.mask
            default:
                var addressWord = word
                if key == "local" { addressWord = try args.value(for: "local", expected: "an address ADDR[/PLEN]") }
                if word == "help" { throw UsageError(Usage.address) }
                guard let p = Inet.parsePrefix(addressWord, family: header.family) else {
                    if key == "local" { throw UsageError.invalid(addressWord, for: "local", expected: Inet.expected(header.family, prefix: true)) }
                    if Arguments.looksLikeAddress(word) {
                        throw UsageError("invalid prefix \"\(word)\": expected \(Inet.expected(header.family, prefix: true))")
                    }
                    throw args.unknown(word, validChoices: modifyKeywords.names + ["ADDR[/PLEN]"])
                }
                if local != nil { throw UsageError("duplicate local address \"\(addressWord)\"") }
                if header.family == 0 { header.family = p.family }
                w.raw(IFA_LOCAL, p.bytes)
                local = p
            }
        }

        if ifaFlags <= 0xff { header.flags = UInt8(ifaFlags) } else { w.u32(IFA_FLAGS, ifaFlags) }
        guard let dev else { throw UsageError("not enough information: \"dev IFNAME\" is required; \(Usage.seeHelp("address"))") }

        if peer == nil, let local, !local.bytes.isEmpty {
            if type == RTM_DELADDR && local.family == UInt8(AF_INET) && !local.prefixSpecified {
                // iproute2's wildcard deletion: no IFA_ADDRESS, so the kernel matches on IFA_LOCAL alone.
            } else {
                peer = local
                w.raw(IFA_ADDRESS, local.bytes)
            }
        }
        if header.prefixLength == 0 { header.prefixLength = UInt8(clamping: local?.bitlen ?? 0) }

        if broadcastMode < 0 && type != RTM_DELADDR {
            guard header.family == UInt8(AF_INET) else { throw UsageError("broadcast + or - can be set only for IPv4 addresses") }
            if var b = peer, b.bitlen <= 30, b.bytes.count == 4 {
                var v = UInt32(b.bytes[0]) << 24 | UInt32(b.bytes[1]) << 16 | UInt32(b.bytes[2]) << 8 | UInt32(b.bytes[3])
                let host: UInt32 = b.bitlen == 0 ? 0xffff_ffff : (UInt32(1) << (32 - UInt32(b.bitlen))) - 1
                v = broadcastMode == -1 ? (v | host) : (v & ~host)
                b.bytes = [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
                w.raw(IFA_BROADCAST, b.bytes)
            }
        }
        if !scoped && type != RTM_DELADDR { header.scope = Inet.defaultScope(local) }

        header.index = UInt32(bitPattern: try session.ifindex(dev))

        if lifetimeGiven.valid || lifetimeGiven.preferred {
            if validLft == 0 { throw UsageError.invalid("0", for: "valid_lft", expected: "a non-zero lifetime in seconds or forever") }
            if validLft < preferredLft { throw UsageError("preferred_lft (\(preferredLft)) is greater than valid_lft (\(validLft))") }
            w.raw(IFA_CACHEINFO, AddressCacheInfo(preferred: preferredLft, valid: validLft).bytes)
        }
        if ifaFlags & UInt32(IFA_F_MCAUTOJOIN) != 0 {
            guard let local, let a = local.ipAddress, a.isMulticast else { throw UsageError("autojoin needs a multicast address") }
        }
        let msg = try RTMessage.address(type, flags: flags, header: header, attributes: w)
        try session.submit(NetlinkRequest(msg, operation: command))
    }

    static func lifetime(_ args: inout Arguments, _ keyword: String) throws -> UInt32 {
        let v = try args.value(for: keyword, expected: "a lifetime in seconds or forever")
        if v == "forever" { return AddressCacheInfo.forever }
        guard let n = CNumber.parse(v, UInt32.self) else {
            throw UsageError.invalid(v, for: keyword, expected: "a lifetime in seconds or forever")
        }
        return n
    }


    // MARK: show / flush

    /// The filter of `address show|flush`, as iproute2's struct filter fields for addresses.
    struct Filter {
        var family: UInt8 = 0
        var ifindex: Int32 = 0
        var scope: UInt8 = 0, scopeMask: UInt8 = 0
        var flags: UInt32 = 0, flagMask: UInt32 = 0
        var label: String?
        var prefix: InetPrefix?
        var up = false
        var master: Int32?

        func matches(_ a: AddressMessage, session: Session, names: [Int32: String]) -> Bool {
            if ifindex != 0 && Int32(bitPattern: a.header.index) != ifindex { return false }
            if (scope ^ a.header.scope) & scopeMask != 0 { return false }
            if (flags ^ a.flags) & flagMask != 0 { return false }
            if family != 0 && family != a.header.family { return false }
            if let label {
                let l = a.label ?? names[Int32(bitPattern: a.header.index)] ?? ""
                if fnmatch(label, l, 0) != 0 { return false }
            }
            if let prefix, prefix.family != 0, prefix.bitlen > 0 {
                guard let l = a.local, l.family == prefix.family else { return false }
                if !Inet.match(l.bytes, prefix.bytes, bits: prefix.bitlen) { return false }
            }
            return true
        }
    }

    static let listKeywords = ["to", "scope", "up", "label", "master", "dev"]

    static func list(_ args: inout Arguments, _ session: Session, flush: Bool) throws {
        var filter = Filter()
        filter.family = session.options.family
        if flush && args.isEmpty { throw UsageError("address flush requires arguments, e.g. \"dev IFNAME\"; valid: \(listKeywords.joined(separator: ", "))") }
        var dev: String?
        while let word = args.next() {
            switch word {
            case "to":
                let v = try args.value(for: word, expected: "a prefix")
                let p = try Inet.prefix(v, for: word, family: filter.family)
                if filter.family == 0 { filter.family = p.family }
                filter.prefix = p
            case "scope":
                let v = try args.value(for: word, expected: RTNames.scopeExpected + " or all")
                if v == "all" { filter.scope = UInt8(RT_SCOPE_NOWHERE.rawValue); filter.scopeMask = 0 } else {
                    filter.scope = try RTNames.scope(v, for: word); filter.scopeMask = 0xff
                }
            case "up": filter.up = true
            case "label": filter.label = try args.value(for: word, expected: "a label pattern")
            case "master":
                let v = try args.interfaceName(for: word)
                filter.master = try session.ifindex(v)
            case "help": throw UsageError(Usage.address)
            default:
                if applyFlagFilter(word, &filter) { continue }
                var name = word
                if word == "dev" { name = try args.interfaceName(for: "dev") }
                if dev != nil {
                    throw args.unknown(word, validChoices: listKeywords + flagTable.map(\.name) + ["primary", "dynamic"])
                }
                dev = name
            }
        }
        if let dev { filter.ifindex = try session.ifindex(dev) }

        try session.flush()
        let links = try RTDump.links(session)
        var names: [Int32: String] = [:]
        for l in links { if let n = l.name { names[l.header.index] = n } }
        let addrs = try RTDump.addresses(session, family: filter.family)

        if flush {
            try flushAddresses(addrs.filter { filter.matches($0, session: session, names: names) }, session)
            return
        }

        for link in links {
            let idx = link.header.index
            if filter.ifindex != 0 && idx != filter.ifindex { continue }
            if filter.up && link.header.flags & CLinuxUAPI.IFF_UP.rawValue == 0 { continue }
            if let m = filter.master, link.master != m { continue }
            let mine = addrs.filter { Int32(bitPattern: $0.header.index) == idx }
            let selected = mine.filter { filter.matches($0, session: session, names: names) }
            // ipaddr_filter(): keep a link with a matching address, or one with no addresses when no family is asked for.
            if selected.isEmpty && !(mine.isEmpty && filter.family == 0) { continue }
            if session.options.brief {
                // ip -br address: the link's name and state, then each address as ADDR[ peer PEER]/LEN.
                var (t, obj) = LinkShow.brief(link, links, session, withAddress: false)
                var infos: [JSON] = []
                for a in selected {
                    guard let l = a.local else { continue }
                    var p = FieldPrinter()
                    addressAndLength(a, local: l, into: &p)
                    t += p.text
                    infos.append(p.json.json)
                }
                obj.set("addr_info", JSON.array(infos))
                if session.options.json { session.emit(obj.json) } else { session.print(t) }
                continue
            }
            var linkText: [String] = []
            var obj = JSONObject()
            // With -o, ip prints no link lines: each address on a line of its own that names its link.
            if filter.label == nil && !session.options.oneline {
                LinkSummary.describe(link, names: names, links: links, family: filter.family, details: session.options.details, session: session, text: &linkText, json: &obj)
                if session.options.details {
                    LinkShow.appendDetails(link, session, linkShow: false, to: &linkText)
                    LinkShow.appendDetails(link, session, linkShow: false, to: &obj)
                    if let alias = link.attributes.first(IFLA_IFALIAS)?.string {
                        linkText.append("    alias \(alias)"); obj.set("ifalias", alias)
                    }
                }
                if !linkText.isEmpty {
                    LinkSummary.appendAltNames(link, to: &linkText)
                    LinkSummary.appendAltNames(link, to: &obj)
                }
                if !linkText.isEmpty { session.print(record: linkText) }
            }
            var infos: [JSON] = []
            for a in selected {
                var (lines, j) = describe(a)
                if session.options.oneline {
                    let dev = names[idx] ?? "if\(idx)"
                    var k = JSONObject()
                    k.set("index", Int(idx)); k.set("dev", dev)
                    j = JSONObject(k.fields + j.fields)
                    lines[0] = "\(idx): \(dev)" + lines[0]
                }
                if !session.options.json { session.print(record: lines) }
                infos.append(j.json)
            }
            obj.set("addr_info", JSON.array(infos))
            let stats = session.options.statistics > 0 ? LinkStatistics(link) : nil
            if let stats {
                if session.options.json { obj.set(stats.key, stats.json(level: session.options.statistics)) }
                else { session.print(record: stats.lines(level: session.options.statistics, human: session.options.human)) }
            }
            if session.options.json { session.emit(obj.json) }
        }
    }

    /// iproute2's get_filter(): flag words (optionally negated with "-") select addresses by IFA_F_* bits.
    static func applyFlagFilter(_ word: String, _ filter: inout Filter) -> Bool {
        var w = Substring(word)
        var invert = false
        if w.hasPrefix("-") { invert = true; w = w.dropFirst() }
        if w == "dynamic" { invert.toggle(); w = "permanent" } else if w == "primary" { invert.toggle(); w = "secondary" }
        guard let f = flagTable.first(where: { $0.name == w }) else { return false }
        if invert { filter.flags &= ~f.mask } else { filter.flags |= f.mask }
        filter.flagMask |= f.mask
        return true
    }

    static func flushAddresses(_ addrs: [AddressMessage], _ session: Session) throws {
        guard !addrs.isEmpty else { return }
        // Secondaries first: deleting a primary IPv4 address also removes its secondaries.
        let ordered = addrs.filter { $0.flags & UInt32(IFA_F_SECONDARY) != 0 } + addrs.filter { $0.flags & UInt32(IFA_F_SECONDARY) == 0 }
        let requests = try ordered.map { a -> NetlinkRequest in
            var h: [UInt8] = []
            a.header.encode(into: &h)
            var w = AttributeWriter()
            for attr in a.attributes { w.raw(attr.type, attr.data, flags: attr.nested ? UInt16(NLA_F_NESTED) : 0) }
            let m = try RTMessage.make(RTM_DELADDR, flags: [], header: h, attributes: w)
            return NetlinkRequest(m, operation: "address flush \(a.local?.description ?? "?")")
        }
        let results = try session.rtnl().execute(requests, stopOnError: false)
        for r in results {
            if case .failure(let e) = r, e.errno != EADDRNOTAVAIL, e.errno != ENOENT { throw e }
        }
    }

    /// Text lines and JSON of one address, as iproute2's print_addrinfo().
    static func describe(_ a: AddressMessage) -> ([String], JSONObject) {
        var p = FieldPrinter()
        p.text("    ")
        let fam = RTNames.familyName(a.header.family)
        if fam != "?" { p.string("family", nil, fam) } else { p.field("family_index", JSON(Int(a.header.family)), text: "family \(a.header.family) ") }
        if let l = a.local {
            addressAndLength(a, local: l, into: &p)
            p.number("metric", "metric", a.metric)
        }
        p.string("broadcast", "brd", a.broadcast?.description)
        p.string("anycast", "any", a.anycast?.description)
        p.string("scope", "scope", RTNames.scopeName(a.header.scope))
        var flags = a.flags
        for f in flagTable {
            if f.mask == UInt32(IFA_F_PERMANENT) {
                p.flag("dynamic", "dynamic", flags & f.mask == 0)
            } else if flags & f.mask != 0 {
                if f.mask == UInt32(IFA_F_SECONDARY) && a.header.family == UInt8(AF_INET6) {
                    p.flag("temporary", "temporary", true)
                } else {
                    p.flag(f.name, f.name, true)
                }
            }
            flags &= ~f.mask
        }
        if flags != 0 {
            let hex = String(flags, radix: 16)
            p.string("ifa_flags", "flags", hex.count < 2 ? "0" + hex : hex)
        }
        // The label ends the line: no space after it.
        if let label = a.label { p.field("label", .string(label), text: label) }
        var second = FieldPrinter()
        if let ci = a.cacheInfo {
            second.text("       ")
            second.field("valid_life_time", JSON(ci.valid), text: "valid_lft " + (ci.valid == AddressCacheInfo.forever ? "forever" : "\(ci.valid)sec"))
            if ci.preferred == AddressCacheInfo.forever {
                second.field("preferred_life_time", JSON(ci.preferred), text: " preferred_lft forever")
            } else if a.flags & UInt32(IFA_F_DEPRECATED) != 0 {
                let v = Int32(bitPattern: ci.preferred)
                second.field("preferred_life_time", JSON(v), text: " preferred_lft \(v)sec")
            } else {
                second.field("preferred_life_time", JSON(ci.preferred), text: " preferred_lft \(ci.preferred)sec")
            }
        }
        let lines = a.cacheInfo == nil ? [p.text] : [p.text, second.text]
        return (lines, JSONObject(p.json.fields + second.json.fields))
    }

    /// `LOCAL[ peer PEER]/LEN ` and the `local`, `address`, `prefixlen` fields: the start of an address in `address
    /// show` and in its `-br` form.
    static func addressAndLength(_ a: AddressMessage, local l: IPAddress, into p: inout FieldPrinter) {
        p.field("local", .string(l.description), text: l.description)
        if let peer = a.peer { p.field("address", .string(peer.description), text: " peer \(peer)") }
        p.field("prefixlen", JSON(Int(a.header.prefixLength)), text: "/\(a.header.prefixLength) ")
    }
}
