import CLinuxUAPI
import Netlink
import NetlinkWire

/// `link show [dev] NAME | type KIND | master DEV | group N | up` — text like `ip link show`, JSON like `ip -j link show`.
enum LinkShow {
    static let keywords = ["dev", "type", "master", "group", "up"]

    static func show(_ args: inout Arguments, _ session: Session) throws {
        var dev: String?, kind: String?, master: String?, group: UInt32?, upOnly = false
        while let w = args.next() {
            switch w {
            case "dev": dev = try args.value(for: "dev", expected: "an interface name")
            case "type": kind = try args.value(for: "type", expected: "a link kind")
            case "master": master = try args.value(for: "master", expected: "an interface name")
            case "group": group = try args.integer(for: "group", UInt32.self)
            case "up": upOnly = true
            default:
                if dev == nil && !w.hasPrefix("-") && Arguments.match(w, keywords) == nil { dev = w }
                else { throw args.unknown(w, validChoices: keywords) }
            }
        }
        try session.flush()
        let links = try dumpLinks(session, dev: dev)
        let masterIndex = try master.map { try session.ifindex($0) }
        for l in links {
            if let kind, l.linkInfo?.kind != kind { continue }
            if let masterIndex, l.master != masterIndex { continue }
            if let group, l.group != group { continue }
            if upOnly, l.header.flags & UInt32(IFF_UP.rawValue) == 0 { continue }
            let stats = session.options.statistics > 0 && !session.options.brief ? LinkStatistics(l) : nil
            if session.options.brief {
                let b = brief(l, links, session, withAddress: true)
                if session.options.json { session.emit(b.json.json) } else { session.print(b.text) }
            } else if session.options.json {
                var o = json(l, links, session)
                if let stats { o.set(stats.key, stats.json(level: session.options.statistics)) }
                session.emit(o.json)
            } else {
                var lines = text(l, links, session)
                if let stats { lines += stats.lines(level: session.options.statistics, human: session.options.human) }
                session.print(record: lines)
            }
        }
    }

    /// All links (or one by name), names learned into the session cache.
    static func dumpLinks(_ session: Session, dev: String?) throws -> [LinkMessage] {
        var w = AttributeWriter()
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_VF))
        if let dev {
            w = AttributeWriter()
            w.string(IFLA_IFNAME, dev)
            w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_VF))
            let msg = RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
            do {
                let r = try session.rtnl().request(msg, operation: "RTM_GETLINK \(dev)")
                return try r.map(LinkMessage.init)
            } catch let e as NetlinkError where e.errno == 19 {
                throw UsageError("device \"\(dev)\" does not exist")
            }
        }
        let msg = RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
        let all = try session.rtnl().dump(msg, operation: "RTM_GETLINK dump").compactMap { try? LinkMessage($0) }
        for l in all { if let n = l.name { session.learn(name: n, index: l.header.index) } }
        return all
    }

    static let operStates = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"]

    /// The flags as ip prints them: NO-CARRIER for an up link without carrier, M-DOWN when the link it sits on (a veth
    /// peer, a macvlan's lower device) is down. A peer not among `links` counts as up, as ip's cache miss does.
    static func flags(_ l: LinkMessage, _ links: [LinkMessage]) -> [String] {
        var mdown = false
        if let peer = l.link, peer != 0, l.linkNetnsID == nil, let p = links.first(where: { $0.header.index == peer }) {
            mdown = p.header.flags & UInt32(IFF_UP.rawValue) == 0
        }
        return LinkSummary.flagList(l.header.flags, mdown: mdown)
    }

    static func linkType(_ t: UInt16) -> String {
        switch Int32(t) {
        case ARPHRD_ETHER: return "ether"
        case ARPHRD_LOOPBACK: return "loopback"
        case ARPHRD_NONE: return "none"
        case ARPHRD_TUNNEL: return "ipip"
        case ARPHRD_SIT: return "sit"
        case ARPHRD_IPGRE: return "gre"
        case ARPHRD_TUNNEL6: return "tunnel6"
        case ARPHRD_IP6GRE: return "gre6"
        case ARPHRD_PPP: return "ppp"
        case ARPHRD_VOID: return "void"
        default: return "[\(t)]"
        }
    }

    static func kindDetails(_ l: LinkMessage, _ session: Session) -> (kind: String?, text: String, json: JSONObject?) {
        guard let li = l.linkInfo, let kind = li.kind else { return (nil, "", nil) }
        if let k = LinkKinds.find(kind) {
            let d = k.describe(li.data, session: session)
            return (kind, d.text, d.json)
        }
        return (kind, "", nil)
    }

    static func text(_ l: LinkMessage, _ links: [LinkMessage], _ session: Session) -> [String] {
        var first = "\(l.header.index): \(l.name ?? "?")"
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { first += "@if\(peer)" } else { first += "@\(session.ifname(peer) ?? "if\(peer)")" }
        }
        first += ": <\(flags(l, links).joined(separator: ","))>"
        if let mtu = l.mtu { first += " mtu \(mtu)" }
        if let q = l.attributes.first(IFLA_QDISC)?.string { first += " qdisc \(q)" }
        if let m = l.master, m != 0 { first += " master \(session.ifname(m) ?? "if\(m)")" }
        if let s = l.operstate { first += " state \(s < operStates.count ? operStates[Int(s)] : "\(s)")" }
        first += " mode \(l.attributes.first(IFLA_LINKMODE)?.u8 == 1 ? "DORMANT" : "DEFAULT")"
        first += " group \(l.group.map { $0 == 0 ? "default" : "\($0)" } ?? "default")"
        if let q = l.txqlen { first += " qlen \(q)" }
        var second = "    link/\(linkType(l.header.type))"
        if let a = l.address { second += " \(formatHardwareAddress(a))" }
        if let b = l.broadcast { second += " brd \(formatHardwareAddress(b))" }
        if let nsid = l.linkNetnsID { second += " link-netnsid \(nsid)" }
        var lines = [first, second]
        if session.options.details {
            let d = kindDetails(l, session)
            if let kind = d.kind { lines.append("    \(kind) \(d.text)".trimmingTrailingSpaces()) }
        }
        if let alias = l.attributes.first(IFLA_IFALIAS)?.string { lines.append("    alias \(alias)") }
        return lines
    }

    /// `-br`: name (with @peer), state, address and flags, padded like ip's print_linkinfo_brief(); the address and
    /// flags only for `link show` (`address show -br` lists addresses after the state instead).
    static func brief(_ l: LinkMessage, _ links: [LinkMessage], _ session: Session, withAddress: Bool) -> (text: String, json: JSONObject) {
        var o = JSONObject()
        var name = l.name ?? "if\(l.header.index)"
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { o.set("link_index", peer); name += "@if\(peer)" } else {
                let peerName = session.ifname(peer) ?? "if\(peer)"
                o.set("link", peerName); name += "@" + peerName
            }
        }
        o.set("ifname", l.name ?? "if\(l.header.index)")
        var t = name.padding(16) + " "
        if let st = l.operstate {
            let state = st < operStates.count ? operStates[Int(st)] : "\(st)"
            o.set("operstate", state); t += state.padding(14) + " "
        }
        if withAddress {
            if let a = l.address { let s = LinkSummary.hardwareAddress(a, type: l.header.type); o.set("address", s); t += s + " " }
            let f = flags(l, links)
            o.set("flags", .array(f.map { .string($0) }))
            t += "<" + f.joined(separator: ",") + "> "
        }
        return (t, o)
    }

    static func json(_ l: LinkMessage, _ links: [LinkMessage], _ session: Session) -> JSONObject {
        var o = JSONObject()
        o.set("ifindex", l.header.index)
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { o.set("link_index", peer) } else { o.set("link", session.ifname(peer)) }
        }
        o.set("ifname", l.name)
        o.set("flags", .array(flags(l, links).map { .string($0) }))
        o.set("mtu", l.mtu)
        o.set("qdisc", l.attributes.first(IFLA_QDISC)?.string)
        if let m = l.master, m != 0 { o.set("master", session.ifname(m)) }
        if let s = l.operstate { o.set("operstate", s < operStates.count ? operStates[Int(s)] : "\(s)") }
        o.set("linkmode", l.attributes.first(IFLA_LINKMODE)?.u8 == 1 ? "DORMANT" : "DEFAULT")
        o.set("group", l.group.map { $0 == 0 ? "default" : "\($0)" } ?? "default")
        o.set("txqlen", l.txqlen)
        o.set("link_type", linkType(l.header.type))
        o.set("address", l.address.map(formatHardwareAddress))
        o.set("broadcast", l.broadcast.map(formatHardwareAddress))
        o.set("link_netnsid", l.linkNetnsID)
        if session.options.details {
            o.set("min_mtu", l.attributes.first(IFLA_MIN_MTU)?.u32)
            o.set("max_mtu", l.attributes.first(IFLA_MAX_MTU)?.u32)
            let d = kindDetails(l, session)
            if let kind = d.kind {
                var li = JSONObject()
                li.set("info_kind", kind)
                if let j = d.json, !j.fields.isEmpty { li.set("info_data", j.json) }
                if let sk = l.linkInfo?.slaveKind { li.set("info_slave_kind", sk) }
                o.set("linkinfo", li.json)
            }
        }
        return o
    }
}

extension String {
    /// Left-aligned in `width` columns, like printf's `%-*s` (never cut).
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }

    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
