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
            let stats = session.options.statistics > 0 && !session.options.brief ? LinkStatistics(l) : nil
            if session.options.brief {
                let b = brief(l, links, session, withAddress: true)
                if session.options.json { session.emit(b.json.json) } else { session.print(b.text) }
            } else {
                var (lines, o) = describe(l, links, session)
                if let stats {
                    lines += stats.lines(level: session.options.statistics, human: session.options.human)
                    o.set(stats.key, stats.json(level: session.options.statistics))
                }
                LinkSummary.appendAltNames(l, to: &lines)
                LinkSummary.appendAltNames(l, to: &o)
                if session.options.json { session.emit(o.json) } else { session.print(record: lines) }
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

    static func kindDetails(_ l: LinkMessage, _ session: Session) -> (kind: String?, text: String, json: JSONObject?) {
        guard let li = l.linkInfo, let kind = li.kind else { return (nil, "", nil) }
        if let k = LinkKinds.find(kind) {
            let d = k.describe(li.data, session: session)
            return (kind, d.text, d.json)
        }
        if kind == "tun" { let d = TunDetails.describe(li.data); return (kind, d.text, d.json) }
        return (kind, "", nil)
    }

    /// The port's details under its master (`bridge_slave ...`), when the master's kind has them.
    static func slaveDetails(_ l: LinkMessage, _ session: Session) -> (kind: String, text: String, json: JSONObject?)? {
        guard let li = l.linkInfo, let kind = li.slaveKind else { return nil }
        if kind == "bridge" { let d = BridgeDetails.port(li.slaveData, session: session); return (kind, d.text, d.json) }
        return (kind, "", nil)
    }

    /// `-d`'s fields of every link, in ip's order: before the kind (promiscuity ... maxmtu) and after it
    /// (addrgenmode, queues, GSO/TSO/GRO limits).
    static func genericDetails(_ l: LinkMessage, linkShow: Bool) -> (before: FieldPrinter, after: FieldPrinter) {
        var before = FieldPrinter(), after = FieldPrinter()
        func u(_ t: Int32) -> UInt64? { l.attributes.first(t)?.u32.map(UInt64.init) }
        // ip's formats: " promiscuity %u ", " allmulti %u ", "minmtu %u ", "maxmtu %u " (two with a space before).
        for (key, label, type) in [("promiscuity", " promiscuity", IFLA_PROMISCUITY), ("allmulti", " allmulti", IFLA_ALLMULTI),
                                   ("min_mtu", "minmtu", IFLA_MIN_MTU), ("max_mtu", "maxmtu", IFLA_MAX_MTU)] {
            before.number(key, label, u(Int32(type)))
        }
        if linkShow { after.string("inet6_addr_gen_mode", "addrgenmode", AddressGenerationMode.name(l)) }
        for (key, label, type) in [("num_tx_queues", "numtxqueues", IFLA_NUM_TX_QUEUES), ("num_rx_queues", "numrxqueues", IFLA_NUM_RX_QUEUES),
                                   ("gso_max_size", "gso_max_size", IFLA_GSO_MAX_SIZE), ("gso_max_segs", "gso_max_segs", IFLA_GSO_MAX_SEGS),
                                   ("tso_max_size", "tso_max_size", IFLA_TSO_MAX_SIZE), ("tso_max_segs", "tso_max_segs", IFLA_TSO_MAX_SEGS),
                                   ("gro_max_size", "gro_max_size", IFLA_GRO_MAX_SIZE)] {
            after.number(key, label, u(Int32(type)))
        }
        after.string("phys_port_name", "portname", l.attributes.first(IFLA_PHYS_PORT_NAME)?.string)
        after.string("parentbus", "parentbus", l.attributes.first(IFLA_PARENT_DEV_BUS_NAME)?.string)
        after.string("parentdev", "parentdev", l.attributes.first(IFLA_PARENT_DEV_NAME)?.string)
        return (before, after)
    }

    /// The text lines and JSON of one link, as ip's print_linkinfo() for `link show`: the first line's fields have
    /// their space before them (" mtu %u"), the JSON names the peer and master only when their names are known.
    static func describe(_ l: LinkMessage, _ links: [LinkMessage], _ session: Session) -> (lines: [String], json: JSONObject) {
        var p = FieldPrinter()
        p.field("ifindex", JSON(l.header.index), text: "\(l.header.index): \(l.name ?? "?")")
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { p.field("link_index", JSON(peer), text: "@if\(peer)") } else {
                p.text("@\(session.ifname(peer) ?? "if\(peer)")")
                p.jsonOnly("link", session.ifname(peer).map(JSON.string))
            }
        }
        p.jsonOnly("ifname", l.name.map(JSON.string))
        let f = flags(l, links)
        p.field("flags", .array(f.map { .string($0) }), text: ": <\(f.joined(separator: ","))>")
        if let mtu = l.mtu { p.field("mtu", JSON(mtu), text: " mtu \(mtu)") }
        if let q = l.attributes.first(IFLA_QDISC)?.string { p.field("qdisc", .string(q), text: " qdisc \(q)") }
        if let m = l.master, m != 0 {
            p.text(" master \(session.ifname(m) ?? "if\(m)")")
            p.jsonOnly("master", session.ifname(m).map(JSON.string))
        }
        if let s = l.operstate {
            let state = s < operStates.count ? operStates[Int(s)] : "\(s)"
            p.field("operstate", .string(state), text: " state \(state)")
        }
        let mode = l.attributes.first(IFLA_LINKMODE)?.u8 == 1 ? "DORMANT" : "DEFAULT"
        p.field("linkmode", .string(mode), text: " mode \(mode)")
        let group = l.group.map { $0 == 0 ? "default" : "\($0)" } ?? "default"
        p.field("group", .string(group), text: " group \(group)")
        if let q = l.txqlen { p.field("txqlen", JSON(q), text: " qlen \(q)") }
        var o = p.json
        var lines = [p.text, LinkSummary.linkLayer(l, json: &o, session: session)]
        if session.options.details {
            appendDetails(l, session, linkShow: true, to: &lines)
            appendDetails(l, session, linkShow: true, to: &o)
        }
        if let alias = l.attributes.first(IFLA_IFALIAS)?.string { lines.append("    alias \(alias)"); o.set("ifalias", alias) }
        return (lines, o)
    }

    /// `-d`'s text after a link's first two lines, as ip prints it: each part ends in a space, the kind and the port
    /// data begin lines of their own, the fields after them continue the last line. `linkShow`: addrgenmode is
    /// printed by `link show` only.
    static func appendDetails(_ l: LinkMessage, _ session: Session, linkShow: Bool, to lines: inout [String]) {
        let (before, after) = genericDetails(l, linkShow: linkShow)
        lines[lines.count - 1] += before.text
        let d = kindDetails(l, session)
        if let kind = d.kind { lines.append("    \(kind) " + (d.text.isEmpty ? "" : d.text + " ")) }
        if let s = slaveDetails(l, session) { lines.append("    \(s.kind)_slave " + (s.text.isEmpty ? "" : s.text + " ")) }
        if !after.text.isEmpty {
            if !lines[lines.count - 1].hasSuffix(" ") { lines[lines.count - 1] += " " }
            lines[lines.count - 1] += after.text
        }
    }

    /// `-d`'s JSON fields, in ip's order.
    static func appendDetails(_ l: LinkMessage, _ session: Session, linkShow: Bool, to o: inout JSONObject) {
        let g = genericDetails(l, linkShow: linkShow)
        for (k, v) in g.before.json.fields { o.set(k, v) }
        let d = kindDetails(l, session)
        let slave = slaveDetails(l, session)
        if d.kind != nil || slave != nil {
            var li = JSONObject()
            if let kind = d.kind {
                li.set("info_kind", kind)
                if let j = d.json, !j.fields.isEmpty { li.set("info_data", j.json) }
            }
            if let slave {
                li.set("info_slave_kind", slave.kind)
                if let j = slave.json { li.set("info_slave_data", j.json) }
            }
            o.set("linkinfo", li.json)
        }
        for (k, v) in g.after.json.fields { o.set(k, v) }
    }

    /// `-br`: name (with @peer), state, address and flags, padded like ip's print_linkinfo_brief(); the address and
    /// flags only for `link show` (`address show -br` lists addresses after the state instead).
    static func brief(_ l: LinkMessage, _ links: [LinkMessage], _ session: Session, withAddress: Bool) -> (text: String, json: JSONObject) {
        var p = FieldPrinter()
        let ifname = l.name ?? "if\(l.header.index)"
        var name = ifname
        if let peer = l.link, peer != 0 {
            if l.linkNetnsID != nil { p.jsonOnly("link_index", JSON(peer)); name += "@if\(peer)" } else {
                let peerName = session.ifname(peer) ?? "if\(peer)"
                p.jsonOnly("link", .string(peerName)); name += "@" + peerName
            }
        }
        p.field("ifname", .string(ifname), text: name.padding(16) + " ")
        if let st = l.operstate {
            let state = st < operStates.count ? operStates[Int(st)] : "\(st)"
            p.field("operstate", .string(state), text: state.padding(14) + " ")
        }
        if withAddress {
            p.string("address", nil, l.address.map { LinkSummary.hardwareAddress($0, type: l.header.type) })
            let f = flags(l, links)
            p.field("flags", .array(f.map { .string($0) }), text: "<" + f.joined(separator: ",") + "> ")
        }
        return (p.text, p.json)
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
