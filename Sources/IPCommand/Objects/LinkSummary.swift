import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

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
        var p = FieldPrinter()
        p.field("link_type", .string(tn), text: "    link/\(tn) ")
        if let a = l.address { let s = hardwareAddress(a, type: type); p.field("address", .string(s), text: s) }
        if let b = l.broadcast {
            if l.header.flags & CLinuxUAPI.IFF_POINTOPOINT.rawValue != 0 { p.field("link_pointtopoint", .bool(true), text: " peer ") } else { p.text(" brd ") }
            let s = hardwareAddress(b, type: type); p.field("broadcast", .string(s), text: s)
        }
        if let perm = l.attributes.first(IFLA_PERM_ADDRESS)?.bytes, perm != (l.address ?? []) {
            let s = hardwareAddress(perm, type: type); p.field("permaddr", .string(s), text: " permaddr \(s)")
        }
        if let id = l.linkNetnsID {
            // As ip: the text names the peer's namespace when a /run/netns name has that id here.
            let text = id < 0 ? " link-netnsid unknown"
                : session?.namespaceName(nsid: id).map { " link-netns \($0)" } ?? " link-netnsid \(id)"
            p.field("link_netnsid", JSON(Int(id)), text: text)
        }
        for (k, v) in p.json.fields { j.set(k, v) }
        return p.text
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
        var p = FieldPrinter()
        p.field("ifindex", JSON(Int(idx)), text: "\(idx): \(name)")
        var mdown = false
        if let link = l.link {
            if link != 0 {
                if l.linkNetnsID != nil {
                    p.field("link_index", JSON(Int(link)), text: "@if\(link)")
                } else {
                    let peer = names[link] ?? "if\(link)"
                    p.field("link", .string(peer), text: "@\(peer)")
                    let peerFlags = links.first { $0.header.index == link }?.header.flags ?? 0
                    mdown = peerFlags & CLinuxUAPI.IFF_UP.rawValue == 0
                }
            } else {
                p.field("link", .null, text: "@NONE")
            }
        }
        p.jsonOnly("ifname", .string(name))
        let flags = flagList(l.header.flags, mdown: mdown)
        p.field("flags", .array(flags.map { .string($0) }), text: ": <" + flags.joined(separator: ",") + "> ")
        p.number("mtu", "mtu", l.mtu.map(Int.init))
        p.string("qdisc", "qdisc", l.attributes.first(IFLA_QDISC)?.string)
        p.string("master", "master", l.master.map { names[$0] ?? "if\($0)" })
        if let os = l.operstate {
            if let n = operStates.first(where: { $0.0 == UInt32(os) })?.1 { p.string("operstate", "state", n) } else {
                p.field("operstate_index", JSON(Int(os)), text: "state 0x\(String(os, radix: 16)) ")
            }
        }
        p.string("group", "group", l.group.map { $0 == 0 ? "default" : String($0) })
        // The queue length ends the line: no space after it.
        if queueLength, let q = l.txqlen, q != 0 { p.field("txqlen", JSON(Int(q)), text: "qlen \(q)") }
        for (k, v) in p.json.fields { j.set(k, v) }
        let t = p.text
        text.append(t)
        if family == 0 || family == UInt8(AF_PACKET) || details {
            text.append(linkLayer(l, json: &j, session: session))
        } else if let id = l.linkNetnsID {
            j.set("link_netnsid", Int(id))
        }
    }
}
