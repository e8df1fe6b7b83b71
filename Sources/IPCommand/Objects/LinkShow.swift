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
            case "dev": dev = try args.interfaceName(for: "dev")
            case "type": kind = try args.value(for: "type", expected: "a link kind")
            case "master": master = try args.interfaceName(for: "master")
            case "group": group = try args.integer(for: "group", UInt32.self)
            case "up": upOnly = true
            default:
                if dev == nil && !w.hasPrefix("-") && Arguments.match(w, keywords) == nil {
                    try Arguments.checkInterfaceName(w, for: "dev")
                    dev = w
                }
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
            if session.options.json { session.emit(json(l, session)) } else { for line in text(l, session) { session.print(line) } }
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
            let msg = try RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
            do {
                let r = try session.rtnl().request(msg, operation: "RTM_GETLINK \(dev)")
                return try r.map(LinkMessage.init)
            } catch let e as NetlinkError where e.errno == 19 {
                throw UsageError("device \"\(dev)\" does not exist")
            }
        }
        let msg = try RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
        let all = try session.rtnl().dump(msg, operation: "RTM_GETLINK dump").compactMap { try? LinkMessage($0) }
        for l in all { if let n = l.name { session.learn(name: n, index: l.header.index) } }
        return all
    }

    static let flagNames: [(Int32, String)] = [
        (Int32(IFF_LOOPBACK.rawValue), "LOOPBACK"), (Int32(IFF_BROADCAST.rawValue), "BROADCAST"),
        (Int32(IFF_POINTOPOINT.rawValue), "POINTOPOINT"), (Int32(IFF_MULTICAST.rawValue), "MULTICAST"),
        (Int32(IFF_NOARP.rawValue), "NOARP"), (Int32(IFF_ALLMULTI.rawValue), "ALLMULTI"),
        (Int32(IFF_PROMISC.rawValue), "PROMISC"), (Int32(IFF_MASTER.rawValue), "MASTER"),
        (Int32(IFF_SLAVE.rawValue), "SLAVE"), (Int32(IFF_DEBUG.rawValue), "DEBUG"),
        (Int32(IFF_DYNAMIC.rawValue), "DYNAMIC"), (Int32(IFF_AUTOMEDIA.rawValue), "AUTOMEDIA"),
        (Int32(IFF_PORTSEL.rawValue), "PORTSEL"), (Int32(IFF_NOTRAILERS.rawValue), "NOTRAILERS"),
        (Int32(IFF_UP.rawValue), "UP"), (Int32(IFF_LOWER_UP.rawValue), "LOWER_UP"), (Int32(IFF_DORMANT.rawValue), "DORMANT"),
        (Int32(IFF_ECHO.rawValue), "ECHO"),
    ]
    static let operStates = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"]

    static func flagList(_ flags: UInt32) -> [String] {
        var f = flags
        // iproute2 hides LOWER_UP when the link is not up... it prints it only when set; keep its order.
        var out: [String] = []
        for (bit, name) in flagNames where f & UInt32(bit) != 0 { out.append(name); f &= ~UInt32(bit) }
        return out
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

    static func text(_ l: LinkMessage, _ session: Session) -> [String] {
        var first = "\(l.header.index): \(l.name ?? "?")"
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { first += "@if\(peer)" } else { first += "@\(session.ifname(peer) ?? "if\(peer)")" }
        }
        first += ": <\(flagList(l.header.flags).joined(separator: ","))>"
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

    static func json(_ l: LinkMessage, _ session: Session) -> JSON {
        var o = JSONObject()
        o.set("ifindex", l.header.index)
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { o.set("link_index", peer) } else { o.set("link", session.ifname(peer)) }
        }
        o.set("ifname", l.name)
        o.set("flags", .array(flagList(l.header.flags).map { .string($0) }))
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
        return o.json
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
