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
                if word == "help" { throw UsageError(usage) }
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
        guard let dev else { throw UsageError("not enough information: \"dev IFNAME\" is required; usage: \(usage)") }

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

    static let usage = "address {add|change|replace|del} IFADDR dev IFNAME [LIFETIME] [CONFFLAG-LIST]; address {show|flush} [dev IFNAME] [scope SCOPE] [to PREFIX] [label PATTERN] [up]"

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
            case "help": throw UsageError(usage)
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
                    var j = JSONObject()
                    j.set("local", l.description); t += l.description
                    if let p = a.peer { j.set("address", p.description); t += " peer \(p)" }
                    j.set("prefixlen", Int(a.header.prefixLength)); t += "/\(a.header.prefixLength) "
                    infos.append(j.json)
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
        var j = JSONObject()
        var t = "    "
        let fam = RTNames.familyName(a.header.family)
        if fam != "?" { j.set("family", fam); t += fam + " " } else { j.set("family_index", Int(a.header.family)); t += "family \(a.header.family) " }
        if let l = a.local {
            j.set("local", l.description); t += l.description
            if let p = a.peer { t += " peer "; t += p.description; j.set("address", p.description) }
            j.set("prefixlen", Int(a.header.prefixLength)); t += "/\(a.header.prefixLength) "
            if let m = a.metric { j.set("metric", m); t += "metric \(m) " }
        }
        if let b = a.broadcast { j.set("broadcast", b.description); t += "brd \(b) " }
        if let any = a.anycast { j.set("anycast", any.description); t += "any \(any) " }
        let scope = RTNames.scopeName(a.header.scope)
        j.set("scope", scope); t += "scope \(scope) "
        var flags = a.flags
        for f in flagTable {
            if f.mask == UInt32(IFA_F_PERMANENT) {
                if flags & f.mask == 0 { j.set("dynamic", true); t += "dynamic " }
            } else if flags & f.mask != 0 {
                if f.mask == UInt32(IFA_F_SECONDARY) && a.header.family == UInt8(AF_INET6) {
                    j.set("temporary", true); t += "temporary "
                } else {
                    j.set(f.name, true); t += f.name + " "
                }
            }
            flags &= ~f.mask
        }
        if flags != 0 {
            let hex = String(flags, radix: 16)
            let h2 = hex.count < 2 ? "0" + hex : hex
            j.set("ifa_flags", h2); t += "flags \(h2) "
        }
        if let label = a.label { j.set("label", label); t += label }
        var lines = [t]
        if let ci = a.cacheInfo {
            var l2 = "       valid_lft "
            if ci.valid == AddressCacheInfo.forever { j.set("valid_life_time", ci.valid); l2 += "forever" } else {
                j.set("valid_life_time", ci.valid); l2 += "\(ci.valid)sec"
            }
            l2 += " preferred_lft "
            if ci.preferred == AddressCacheInfo.forever { j.set("preferred_life_time", ci.preferred); l2 += "forever" } else if a.flags & UInt32(IFA_F_DEPRECATED) != 0 {
                j.set("preferred_life_time", Int32(bitPattern: ci.preferred)); l2 += "\(Int32(bitPattern: ci.preferred))sec"
            } else {
                j.set("preferred_life_time", ci.preferred); l2 += "\(ci.preferred)sec"
            }
            lines.append(l2)
        }
        return (lines, j)
    }
}

// MARK: - Shared by address, route, neighbour and fdb

/// One keyword of an iproute2 if-chain: compared with strcmp() (`exact`) or accepted as an abbreviation (`matches()`).
struct Keyword: Sendable {
    var name: String
    var abbreviable: Bool
    static func exact(_ n: String) -> Keyword { Keyword(name: n, abbreviable: false) }
    static func abbrev(_ n: String) -> Keyword { Keyword(name: n, abbreviable: true) }
}

extension Array where Element == Keyword {
    /// The first keyword in chain order that `word` selects, as iproute2's if/else-if chains resolve it.
    func resolve(_ word: String) -> String? {
        for k in self {
            if k.abbreviable ? (!word.isEmpty && k.name.hasPrefix(word)) : (k.name == word) { return k.name }
        }
        return nil
    }
    /// Every keyword name, for error messages.
    var names: [String] { map(\.name) }
}

/// strtoul(s, &end, 0) with the whole string consumed: decimal, 0x hex or 0 octal, as iproute2's get_u32/get_unsigned.
enum CNumber {
    static func parse<T: FixedWidthInteger>(_ s: some StringProtocol, _: T.Type) -> T? {
        guard !s.isEmpty else { return nil }
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return s.count > 2 ? T(s.dropFirst(2), radix: 16) : nil }
        if s.hasPrefix("0") && s.count > 1 { return T(s.dropFirst(), radix: 8) }
        return T(s, radix: 10)
    }
}

/// An address or prefix as iproute2's inet_prefix: family, bytes (none for "any"), bit length.
struct InetPrefix: Equatable, Sendable {
    var family: UInt8
    var bytes: [UInt8]
    var bitlen: Int
    var prefixSpecified: Bool
    /// "default", "all" or "any".
    var isAny: Bool
    var ipAddress: IPAddress? { IPAddress(bytes: bytes) }
}

/// iproute2's get_addr()/get_prefix() (lib/utils.c) rules for address arguments.
enum Inet {
    static let inet = UInt8(AF_INET), inet6 = UInt8(AF_INET6)

    static func byteLength(_ family: UInt8) -> Int { family == inet ? 4 : family == inet6 ? 16 : 0 }

    /// What an address of `family` looks like, for error messages.
    static func expected(_ family: UInt8, prefix: Bool) -> String {
        let what = prefix ? "prefix" : "address"
        switch family {
        case inet: return "an IPv4 \(what)"
        case inet6: return "an IPv6 \(what)"
        default: return "an IPv4 or IPv6 \(what)"
        }
    }

    /// get_addr_1(): "default", "all", "any", IPv6 (contains ':') or IPv4 dotted numbers (1-4 parts, C number syntax).
    static func parseAddress(_ s: String, family: UInt8) -> InetPrefix? {
        if s == "default" {
            return InetPrefix(family: family, bytes: [UInt8](repeating: 0, count: byteLength(family)), bitlen: -2, prefixSpecified: true, isAny: true)
        }
        if s == "all" || s == "any" {
            return InetPrefix(family: family, bytes: [], bitlen: -2, prefixSpecified: false, isAny: true)
        }
        if s.contains(":") {
            guard family == 0 || family == inet6, let a = IPAddress(s), a.isV6 else { return nil }
            return InetPrefix(family: inet6, bytes: a.bytes, bitlen: -1, prefixSpecified: false, isAny: false)
        }
        guard family == 0 || family == inet else { return nil }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var b = [UInt8](repeating: 0, count: 4)
        for (i, p) in parts.enumerated() {
            guard let n = CNumber.parse(p, UInt32.self), n <= 255 else { return nil }
            b[i] = UInt8(n)
        }
        return InetPrefix(family: inet, bytes: b, bitlen: -1, prefixSpecified: false, isAny: false)
    }

    /// get_prefix_1(): an address with an optional "/LEN" (or dotted netmask); a bare address has the full length.
    static func parsePrefix(_ s: String, family: UInt8) -> InetPrefix? {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard var p = parseAddress(String(parts[0]), family: family) else { return nil }
        let full = p.family == inet ? 32 : p.family == inet6 ? 128 : 0
        if parts.count == 2 {
            if p.bitlen == -2 { return nil }
            let m = parts[1]
            var plen: Int
            if let n = CNumber.parse(m, UInt32.self) { plen = Int(n) } else {
                guard let mask = parseAddress(String(m), family: inet), mask.family == inet, let bits = maskBits(mask.bytes) else { return nil }
                plen = bits
            }
            guard plen <= full else { return nil }
            p.bitlen = plen
            p.prefixSpecified = true
        } else {
            p.bitlen = p.bitlen == -2 ? 0 : full
        }
        return p
    }

    static func maskBits(_ b: [UInt8]) -> Int? {
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let ones = v.leadingZeroBitCount == 0 ? (~v).leadingZeroBitCount : 0
        let canonical: UInt32 = ones == 0 ? 0 : ~UInt32(0) << (32 - UInt32(ones))
        return canonical == v ? ones : nil
    }

    /// get_addr() that throws a UsageError naming the keyword.
    static func address(_ word: String, for keyword: String, family: UInt8) throws -> InetPrefix {
        guard let a = parseAddress(word, family: family) else {
            throw UsageError.invalid(word, for: keyword, expected: expected(family, prefix: false))
        }
        return a
    }

    /// get_prefix() that throws a UsageError naming the keyword.
    static func prefix(_ word: String, for keyword: String, family: UInt8) throws -> InetPrefix {
        guard let p = parsePrefix(word, family: family) else {
            throw UsageError.invalid(word, for: keyword, expected: expected(family, prefix: true))
        }
        return p
    }

    /// inet_addr_match(): do the first `bits` bits agree?
    static func match(_ a: [UInt8], _ b: [UInt8], bits: Int) -> Bool {
        var remaining = bits
        var i = 0
        while remaining > 0 {
            guard i < a.count, i < b.count else { return false }
            let n = min(8, remaining)
            let mask: UInt8 = n == 8 ? 0xff : ~(UInt8(0xff) >> UInt8(n))
            if (a[i] ^ b[i]) & mask != 0 { return false }
            remaining -= n; i += 1
        }
        return true
    }

    /// iproute2's default_scope(): host for 127.0.0.0/8, global otherwise.
    static func defaultScope(_ local: InetPrefix?) -> UInt8 {
        if let l = local, l.family == inet, let first = l.bytes.first, first == 127 { return UInt8(RT_SCOPE_HOST.rawValue) }
        return 0
    }
}

/// Names of rtnetlink numbers, as iproute2's lib/rt_names.c built-in tables and /etc/iproute2 defaults.
enum RTNames {
    static let scopes: [(String, UInt8)] = [
        ("global", UInt8(RT_SCOPE_UNIVERSE.rawValue)), ("nowhere", UInt8(RT_SCOPE_NOWHERE.rawValue)),
        ("host", UInt8(RT_SCOPE_HOST.rawValue)), ("link", UInt8(RT_SCOPE_LINK.rawValue)), ("site", UInt8(RT_SCOPE_SITE.rawValue)),
    ]
    static let scopeExpected = "global, host, link, site, nowhere or a number 0-255"

    static let protocols: [(String, UInt8)] = [
        ("unspec", UInt8(RTPROT_UNSPEC)), ("redirect", UInt8(RTPROT_REDIRECT)), ("kernel", UInt8(RTPROT_KERNEL)),
        ("boot", UInt8(RTPROT_BOOT)), ("static", UInt8(RTPROT_STATIC)), ("gated", UInt8(RTPROT_GATED)), ("ra", UInt8(RTPROT_RA)),
        ("mrt", UInt8(RTPROT_MRT)), ("zebra", UInt8(RTPROT_ZEBRA)), ("bird", UInt8(RTPROT_BIRD)), ("dnrouted", UInt8(RTPROT_DNROUTED)),
        ("xorp", UInt8(RTPROT_XORP)), ("ntk", UInt8(RTPROT_NTK)), ("dhcp", UInt8(RTPROT_DHCP)), ("keepalived", UInt8(RTPROT_KEEPALIVED)),
        ("babel", UInt8(RTPROT_BABEL)), ("openr", UInt8(RTPROT_OPENR)), ("bgp", UInt8(RTPROT_BGP)), ("isis", UInt8(RTPROT_ISIS)),
        ("ospf", UInt8(RTPROT_OSPF)), ("rip", UInt8(RTPROT_RIP)), ("eigrp", UInt8(RTPROT_EIGRP)),
    ]
    static let tables: [(String, UInt32)] = [
        ("unspec", RT_TABLE_UNSPEC.rawValue), ("default", RT_TABLE_DEFAULT.rawValue),
        ("main", RT_TABLE_MAIN.rawValue), ("local", RT_TABLE_LOCAL.rawValue),
    ]
    /// Route types in rtnl_rtntype_a2n() order; `true` marks names matched as abbreviations.
    static let routeTypes: [(String, UInt8, Bool)] = [
        ("local", UInt8(RTN_LOCAL), false), ("nat", UInt8(RTN_NAT), false), ("broadcast", UInt8(RTN_BROADCAST), true),
        ("brd", UInt8(RTN_BROADCAST), false), ("anycast", UInt8(RTN_ANYCAST), true), ("multicast", UInt8(RTN_MULTICAST), true),
        ("prohibit", UInt8(RTN_PROHIBIT), true), ("unreachable", UInt8(RTN_UNREACHABLE), true),
        ("blackhole", UInt8(RTN_BLACKHOLE), true), ("xresolve", UInt8(RTN_XRESOLVE), true),
        ("unicast", UInt8(RTN_UNICAST), true), ("throw", UInt8(RTN_THROW), false),
    ]
    static let routeTypeNames: [(UInt8, String)] = [
        (UInt8(RTN_UNSPEC), "none"), (UInt8(RTN_UNICAST), "unicast"), (UInt8(RTN_LOCAL), "local"), (UInt8(RTN_BROADCAST), "broadcast"),
        (UInt8(RTN_ANYCAST), "anycast"), (UInt8(RTN_MULTICAST), "multicast"), (UInt8(RTN_BLACKHOLE), "blackhole"),
        (UInt8(RTN_UNREACHABLE), "unreachable"), (UInt8(RTN_PROHIBIT), "prohibit"), (UInt8(RTN_THROW), "throw"),
        (UInt8(RTN_NAT), "nat"), (UInt8(RTN_XRESOLVE), "xresolve"),
    ]

    static func scope(_ word: String, for keyword: String) throws -> UInt8 {
        if let s = scopes.first(where: { $0.0 == word }) { return s.1 }
        guard let n = CNumber.parse(word, UInt8.self) else { throw UsageError.invalid(word, for: keyword, expected: scopeExpected) }
        return n
    }
    static func scopeName(_ v: UInt8) -> String { scopes.first { $0.1 == v }?.0 ?? String(v) }

    static func proto(_ word: String, for keyword: String) throws -> UInt8 {
        if let s = protocols.first(where: { $0.0 == word }) { return s.1 }
        guard let n = CNumber.parse(word, UInt8.self) else {
            throw UsageError.invalid(word, for: keyword, expected: "one of \(protocols.map(\.0).joined(separator: ", ")) or a number 0-255")
        }
        return n
    }
    static func protoName(_ v: UInt8) -> String { protocols.first { $0.1 == v }?.0 ?? String(v) }

    /// A table id: main, local, default, unspec or a number.
    static func table(_ word: String) -> UInt32? {
        if let t = tables.first(where: { $0.0 == word }) { return t.1 }
        return CNumber.parse(word, UInt32.self)
    }
    static func tableName(_ v: UInt32) -> String { tables.first { $0.1 == v }?.0 ?? String(v) }

    static func routeType(_ word: String) -> UInt8? {
        for (name, v, abbrev) in routeTypes where abbrev ? (!word.isEmpty && name.hasPrefix(word)) : (name == word) { return v }
        return CNumber.parse(word, UInt8.self)
    }
    static func routeTypeName(_ v: UInt8) -> String { routeTypeNames.first { $0.0 == v }?.1 ?? String(v) }

    /// iproute2's family_name().
    static func familyName(_ f: UInt8) -> String {
        switch Int32(f) {
        case AF_INET: return "inet"
        case AF_INET6: return "inet6"
        case AF_BRIDGE: return "bridge"
        case AF_PACKET: return "link"
        case AF_MPLS: return "mpls"
        default: return "?"
        }
    }
}

/// Dumps shared by the show commands. Each flushes queued (batch) requests first.
enum RTDump {
    /// Name, master and link type of every interface, by ifindex (what the neighbour and fdb shows print and filter on).
    static func linkTables(_ session: Session) throws -> (names: [Int32: String], masters: [Int32: Int32], types: [Int32: UInt16]) {
        var names: [Int32: String] = [:], masters: [Int32: Int32] = [:], types: [Int32: UInt16] = [:]
        for l in try links(session) {
            if let n = l.name { names[l.header.index] = n }
            if let m = l.master { masters[l.header.index] = m }
            types[l.header.index] = l.header.type
        }
        return (names, masters, types)
    }

    /// RTM_GETLINK dump; also teaches the session every name.
    static func links(_ session: Session) throws -> [LinkMessage] {
        try session.flush()
        var w = AttributeWriter()
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_SKIP_STATS))
        let msg = try RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
        var out: [LinkMessage] = []
        for r in try session.rtnl().dump(msg, operation: "dump links") where r.type == UInt16(RTM_NEWLINK) {
            guard let l = try? LinkMessage(r) else { continue }
            if let n = l.name { session.learn(name: n, index: l.header.index) }
            out.append(l)
        }
        return out
    }

    /// RTM_GETADDR dump of one family (0 = all); undecodable messages are skipped.
    static func addresses(_ session: Session, family: UInt8) throws -> [AddressMessage] {
        try session.flush()
        let msg = try RTMessage.address(RTM_GETADDR, flags: [], header: IfAddrHeader(family: family))
        return try session.rtnl().dump(msg, operation: "dump addresses").compactMap { r in
            r.type == UInt16(RTM_NEWADDR) ? try? AddressMessage(r) : nil
        }
    }

    /// An interface name for display: from `names`, the session, or "if<N>" as iproute2's ll_index_to_name.
    static func name(_ index: Int32, _ names: [Int32: String], _ session: Session) -> String {
        if let n = names[index] { return n }
        return session.ifname(index) ?? "if\(index)"
    }
}

/// The link part of `ip addr show`: iproute2's print_linkinfo() header for one interface.
enum LinkSummary {
    static let flagNames: [(String, UInt32)] = [
        ("LOOPBACK", CLinuxUAPI.IFF_LOOPBACK.rawValue), ("BROADCAST", CLinuxUAPI.IFF_BROADCAST.rawValue),
        ("POINTOPOINT", CLinuxUAPI.IFF_POINTOPOINT.rawValue), ("MULTICAST", CLinuxUAPI.IFF_MULTICAST.rawValue),
        ("NOARP", CLinuxUAPI.IFF_NOARP.rawValue), ("ALLMULTI", CLinuxUAPI.IFF_ALLMULTI.rawValue),
        ("PROMISC", CLinuxUAPI.IFF_PROMISC.rawValue), ("MASTER", CLinuxUAPI.IFF_MASTER.rawValue),
        ("SLAVE", CLinuxUAPI.IFF_SLAVE.rawValue), ("DEBUG", CLinuxUAPI.IFF_DEBUG.rawValue),
        ("DYNAMIC", CLinuxUAPI.IFF_DYNAMIC.rawValue), ("AUTOMEDIA", CLinuxUAPI.IFF_AUTOMEDIA.rawValue),
        ("PORTSEL", CLinuxUAPI.IFF_PORTSEL.rawValue), ("NOTRAILERS", CLinuxUAPI.IFF_NOTRAILERS.rawValue),
        ("UP", CLinuxUAPI.IFF_UP.rawValue), ("LOWER_UP", CLinuxUAPI.IFF_LOWER_UP.rawValue),
        ("DORMANT", CLinuxUAPI.IFF_DORMANT.rawValue), ("ECHO", CLinuxUAPI.IFF_ECHO.rawValue),
    ]
    static let operStates: [(UInt32, String)] = [
        (UInt32(IF_OPER_UNKNOWN), "UNKNOWN"), (UInt32(IF_OPER_NOTPRESENT), "NOTPRESENT"), (UInt32(IF_OPER_DOWN), "DOWN"),
        (UInt32(IF_OPER_LOWERLAYERDOWN), "LOWERLAYERDOWN"), (UInt32(IF_OPER_TESTING), "TESTING"),
        (UInt32(IF_OPER_DORMANT), "DORMANT"), (UInt32(IF_OPER_UP), "UP"),
    ]
    static let linkTypes: [(Int32, String)] = [
        (ARPHRD_ETHER, "ether"), (ARPHRD_LOOPBACK, "loopback"), (ARPHRD_TUNNEL, "ipip"), (ARPHRD_TUNNEL6, "tunnel6"),
        (ARPHRD_SIT, "sit"), (ARPHRD_IPGRE, "gre"), (ARPHRD_IP6GRE, "gre6"), (ARPHRD_NONE, "none"), (ARPHRD_VOID, "void"),
        (ARPHRD_PPP, "ppp"), (ARPHRD_INFINIBAND, "infiniband"), (ARPHRD_IEEE80211, "ieee802.11"),
        (ARPHRD_IEEE80211_RADIOTAP, "ieee802.11/radiotap"), (ARPHRD_NETLINK, "netlink"), (ARPHRD_CAN, "can"),
        (ARPHRD_IEEE802, "ieee802"), (ARPHRD_6LOWPAN, "6lowpan"),
    ]

    static func linkTypeName(_ t: UInt16) -> String { linkTypes.first { $0.0 == Int32(t) }?.1 ?? "[\(t)]" }

    /// ll_addr_n2a(): tunnel endpoints as IP addresses, everything else as colon-separated hex.
    static func hardwareAddress(_ b: [UInt8], type: UInt16) -> String {
        let t = Int32(type)
        if b.count == 4 && (t == ARPHRD_TUNNEL || t == ARPHRD_SIT || t == ARPHRD_IPGRE), let a = IPAddress(bytes: b) { return a.description }
        if b.count == 16 && (t == ARPHRD_TUNNEL6 || t == ARPHRD_IP6GRE), let a = IPAddress(bytes: b) { return a.description }
        return formatHardwareAddress(b)
    }

    static func flagList(_ flags: UInt32, mdown: Bool) -> [String] {
        var f = flags
        var out: [String] = []
        let up = CLinuxUAPI.IFF_UP.rawValue, running = CLinuxUAPI.IFF_RUNNING.rawValue
        if f & up != 0 && f & running == 0 { out.append("NO-CARRIER") }
        f &= ~running
        for (n, bit) in flagNames where f & bit != 0 { f &= ~bit; out.append(n) }
        if f != 0 { out.append(String(f, radix: 16)) }
        if mdown { out.append("M-DOWN") }
        return out
    }

    /// The `    link/TYPE ADDRESS brd|peer ADDRESS [permaddr ...] [link-netnsid N]` line and its JSON fields, as
    /// print_linkinfo() writes them for `link show` and `address show` alike.
    static func linkLayer(_ l: LinkMessage, json j: inout JSONObject, session: Session? = nil) -> String {
        let type = l.header.type
        let tn = linkTypeName(type)
        var t2 = "    link/\(tn) "
        j.set("link_type", tn)
        if let a = l.address { let s = hardwareAddress(a, type: type); j.set("address", s); t2 += s }
        if let b = l.broadcast {
            if l.header.flags & CLinuxUAPI.IFF_POINTOPOINT.rawValue != 0 { t2 += " peer "; j.set("link_pointtopoint", true) } else { t2 += " brd " }
            let s = hardwareAddress(b, type: type); j.set("broadcast", s); t2 += s
        }
        if let p = l.attributes.first(IFLA_PERM_ADDRESS)?.bytes, p != (l.address ?? []) {
            let s = hardwareAddress(p, type: type); j.set("permaddr", s); t2 += " permaddr \(s)"
        }
        if let id = l.linkNetnsID {
            // As ip: the text names the peer's namespace when a /run/netns name has that id here.
            j.set("link_netnsid", Int(id))
            if id < 0 { t2 += " link-netnsid unknown" }
            else if let name = session?.namespaceName(nsid: id) { t2 += " link-netns \(name)" }
            else { t2 += " link-netnsid \(id)" }
        }
        return t2
    }

    /// The link's alternative names (IFLA_PROP_LIST's IFLA_ALT_IFNAME), printed last of its lines by ip.
    static func altNames(_ l: LinkMessage) -> [String] {
        guard let list = try? l.attributes.first(IFLA_PROP_LIST)?.children() else { return [] }
        return list.filter { $0.type == UInt16(IFLA_ALT_IFNAME) }.compactMap(\.string)
    }
    static func appendAltNames(_ l: LinkMessage, to lines: inout [String]) { lines += altNames(l).map { "    altname \($0)" } }
    static func appendAltNames(_ l: LinkMessage, to o: inout JSONObject) {
        if l.attributes.first(IFLA_PROP_LIST) != nil { o.set("altnames", .array(altNames(l).map { .string($0) })) }
    }

    /// Appends the text lines and JSON fields iproute2 prints before addr_info. `queueLength`: ip's filter.showqueue,
    /// set by `address show` and not by `monitor`, which prints the same lines without "qlen N".
    static func describe(_ l: LinkMessage, names: [Int32: String], links: [LinkMessage], family: UInt8, details: Bool,
                         queueLength: Bool = true, session: Session? = nil, text: inout [String], json j: inout JSONObject) {
        let idx = l.header.index
        let name = l.name ?? "if\(idx)"
        j.set("ifindex", Int(idx))
        var shown = name
        var mdown = false
        if let link = l.link {
            if link != 0 {
                if l.linkNetnsID != nil {
                    j.set("link_index", Int(link)); shown = "\(name)@if\(link)"
                } else {
                    let peer = names[link] ?? "if\(link)"
                    j.set("link", peer); shown = "\(name)@\(peer)"
                    let peerFlags = links.first { $0.header.index == link }?.header.flags ?? 0
                    mdown = peerFlags & CLinuxUAPI.IFF_UP.rawValue == 0
                }
            } else {
                j.set("link", JSON.null); shown = "\(name)@NONE"
            }
        }
        j.set("ifname", name)
        var t = "\(idx): \(shown): "
        let flags = flagList(l.header.flags, mdown: mdown)
        j.set("flags", JSON.array(flags.map { .string($0) }))
        t += "<" + flags.joined(separator: ",") + "> "
        if let mtu = l.mtu { j.set("mtu", Int(mtu)); t += "mtu \(mtu) " }
        if let q = l.attributes.first(IFLA_QDISC)?.string { j.set("qdisc", q); t += "qdisc \(q) " }
        if let m = l.master { let mn = names[m] ?? "if\(m)"; j.set("master", mn); t += "master \(mn) " }
        if let os = l.operstate {
            if let n = operStates.first(where: { $0.0 == UInt32(os) })?.1 { j.set("operstate", n); t += "state \(n) " } else {
                j.set("operstate_index", Int(os)); t += "state 0x\(String(os, radix: 16)) "
            }
        }
        if let g = l.group { let gn = g == 0 ? "default" : String(g); j.set("group", gn); t += "group \(gn) " }
        if queueLength, let q = l.txqlen, q != 0 { j.set("txqlen", Int(q)); t += "qlen \(q)" }
        text.append(t)
        if family == 0 || family == UInt8(AF_PACKET) || details {
            text.append(linkLayer(l, json: &j, session: session))
        } else if let id = l.linkNetnsID {
            j.set("link_netnsid", Int(id))
        }
    }
}
