import CLinuxUAPI
import LinkValues
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `link add|delete|set|change|show` — iproute2's `ip link`, over rtnetlink.
///
/// Attribute order follows iproute2's iplink_parse: generic attributes in the order given, then IFLA_IFNAME,
/// then IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA }, so golden bytes match `ip` exactly.
public enum LinkCommand {
    static let verbs = ["add", "delete", "set", "change", "show", "list", "lst", "help"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try add(&args, session, flags: [.create, .excl])
        case "delete": try delete(&args, session)
        case "set", "change": try set(&args, session)
        case "show", "list", "lst": try LinkShow.show(&args, session)
        default: throw UsageError(Usage.link)
        }
    }

    /// What the generic part of a link command line produced.
    struct Generic {
        var header = IfInfoHeader()
        var attributes = AttributeWriter()
        var name: String?
        var dev: String?
        var kind: String?
        var group: UInt32?
    }

    static let genericKeywords = ["up", "down", "name", "dev", "mtu", "address", "broadcast", "brd", "txqueuelen", "qlen",
                                  "txqlen", "master", "nomaster", "netns", "link", "group", "promisc", "multicast",
                                  "allmulticast", "arp", "alias", "numtxqueues", "numrxqueues", "index", "type"]

    /// Parses iproute2's generic link keywords up to `type KIND` (which is consumed, kind returned).
    /// `isAdd`: a bare word is the new link's name; for set, the device.
    static func parseGeneric(_ args: inout Arguments, _ session: Session, isAdd: Bool, stopAtType: Bool = true) throws -> Generic {
        var g = Generic()
        func setFlag(_ flag: Int32, _ on: Bool) {
            g.header.change |= UInt32(flag)
            if on { g.header.flags |= UInt32(flag) } else { g.header.flags &= ~UInt32(flag) }
        }
        func onOff(_ kw: String) throws -> Bool { try args.choice(for: kw, ["on", "off"]) == "on" }
        while let w = args.next() {
            switch w {
            case "up": setFlag(Int32(IFF_UP.rawValue), true)
            case "down": setFlag(Int32(IFF_UP.rawValue), false)
            case "name":
                g.name = try args.interfaceName(for: "name")
            case "dev":
                g.dev = try args.interfaceName(for: "dev")
            case "mtu": g.attributes.u32(IFLA_MTU, try args.integer(for: "mtu", UInt32.self))
            case "address":
                let v = try args.value(for: "address", expected: "a link-layer address")
                guard let mac = parseHardwareAddress(v) else { throw UsageError.invalid(v, for: "address", expected: "a link-layer address like 02:00:00:00:00:01") }
                g.attributes.raw(IFLA_ADDRESS, mac)
            case "broadcast", "brd":
                let v = try args.value(for: w, expected: "a link-layer address")
                guard let mac = parseHardwareAddress(v) else { throw UsageError.invalid(v, for: w, expected: "a link-layer address") }
                g.attributes.raw(IFLA_BROADCAST, mac)
            case "txqueuelen", "qlen", "txqlen": g.attributes.u32(IFLA_TXQLEN, try args.integer(for: w, UInt32.self))
            case "master":
                let m = try args.interfaceName(for: "master", expected: "a bridge or bond name")
                g.attributes.u32(IFLA_MASTER, UInt32(bitPattern: try session.ifindex(m)))
            case "nomaster": g.attributes.u32(IFLA_MASTER, 0)
            case "netns":
                let ns = try args.value(for: "netns", expected: "a namespace name or pid")
                if let pid = UInt32(ns) { g.attributes.u32(IFLA_NET_NS_PID, pid) }
                else { g.attributes.u32(IFLA_NET_NS_FD, UInt32(bitPattern: try session.namespaceFD(ns))) }
                if !isAdd { session.invalidateNames() }
            case "link":
                let l = try args.interfaceName(for: "link", expected: "the parent interface name")
                g.attributes.u32(IFLA_LINK, UInt32(bitPattern: try session.ifindex(l)))
            case "group":
                let v = try args.value(for: "group", expected: "a group number or \"default\"")
                guard let n = v == "default" ? 0 : Arguments.parseInteger(v, UInt32.self) else {
                    throw UsageError.invalid(v, for: "group", expected: "a group number or \"default\"")
                }
                g.group = n
                g.attributes.u32(IFLA_GROUP, n)
            case "promisc": setFlag(Int32(IFF_PROMISC.rawValue), try onOff(w))
            case "multicast": setFlag(Int32(IFF_MULTICAST.rawValue), try onOff(w))
            case "allmulticast": setFlag(Int32(IFF_ALLMULTI.rawValue), try onOff(w))
            case "arp": setFlag(Int32(IFF_NOARP.rawValue), !(try onOff(w)))
            case "alias":
                let a = try args.value(for: "alias", expected: "a text")
                // The kernel keeps at most IFALIASZ - 1 bytes; iproute2 refuses longer ones with this wording.
                guard a.utf8.count < aliasSize else {
                    throw UsageError.wrong(a, "alias too long (\(a.utf8.count) bytes; at most \(aliasSize - 1))")
                }
                g.attributes.string(IFLA_IFALIAS, a)
            case "numtxqueues": g.attributes.u32(IFLA_NUM_TX_QUEUES, try args.integer(for: w, UInt32.self))
            case "numrxqueues": g.attributes.u32(IFLA_NUM_RX_QUEUES, try args.integer(for: w, UInt32.self))
            case "index": g.header.index = try args.integer(for: "index", Int32.self, range: 1...Int32.max)
            case "type" where stopAtType:
                g.kind = try args.value(for: "type", expected: "a link type (\(LinkKinds.all.map { $0.kind }.joined(separator: ", ")))")
                return g
            default:
                if w.hasPrefix("-") || (g.name != nil && isAdd) || (g.dev != nil && !isAdd) {
                    throw args.unknown(w, validChoices: genericKeywords)
                }
                try Arguments.checkInterfaceName(w, for: "dev")  // iproute2 calls a bare name "dev", in add too
                if isAdd { g.name = w } else { g.dev = w }
            }
        }
        return g
    }

    /// IFALIASZ (linux/if.h): an alias and its NUL.
    static let aliasSize = Int(IFALIASZ)

    static func add(_ args: inout Arguments, _ session: Session, flags: NetlinkFlags) throws {
        var g = try parseGeneric(&args, session, isAdd: true)
        // Without a name the kernel picks one from the kind (bridge0, veth0 ...), as with ip.
        let name = g.name ?? g.dev
        guard let kind = g.kind else {
            throw UsageError("\"link add \(name ?? "")\" needs \"type KIND\"; valid kinds: \(LinkKinds.all.map { $0.kind }.joined(separator: ", "))")
        }
        if kind == "tun" || kind == "tap" {
            throw UsageError("tun/tap devices are made with \"isthmus tuntap add dev \(name ?? "NAME") mode \(kind)\" (as with ip tuntap)")
        }
        if let name { g.attributes.string(IFLA_IFNAME, name) }
        var data = AttributeWriter()
        if let k = LinkKinds.find(kind) {
            try k.parse(&args, session: session, isAdd: true, into: &data)
        } else if let extra = args.next() {
            throw UsageError("link kind \"\(kind)\" takes no options here (got \"\(extra)\"); kinds with options: \(LinkKinds.all.map { $0.kind }.joined(separator: ", "))")
        }
        g.attributes.nested(IFLA_LINKINFO) { li in
            li.raw(IFLA_INFO_KIND, Array(kind.utf8))  // iproute2 sends the kind without a NUL
            if !data.bytes.isEmpty || data.overflow != nil { li.nested(IFLA_INFO_DATA, data) }
        }
        let msg = try RTMessage.link(RTM_NEWLINK, flags: flags, header: g.header, attributes: g.attributes)
        try session.submit(NetlinkRequest(msg, operation: "link add \(name.map { $0 + " " } ?? "")type \(Arguments.shortened(kind))"))
        if let name { session.forget(name: name) } else { session.invalidateNames() }
    }

    /// `link add NAME type KIND WORDS` from the kind's value: the same request as the words give (the value encodes
    /// IFLA_INFO_DATA as the kind's parser does), without words in between.
    public static func add(name: String, link: some RTLinkValue, _ session: Session) throws {
        try Session.checkDeviceName(name)
        var attributes = AttributeWriter()
        attributes.string(IFLA_IFNAME, name)
        var data = AttributeWriter()
        link.encode(into: &data)
        attributes.nested(IFLA_LINKINFO) { li in
            li.raw(IFLA_INFO_KIND, Array(link.kind.utf8))  // iproute2 sends the kind without a NUL
            if !data.bytes.isEmpty || data.overflow != nil { li.nested(IFLA_INFO_DATA, data) }
        }
        let msg = try RTMessage.link(RTM_NEWLINK, flags: [.create, .excl], header: IfInfoHeader(), attributes: attributes)
        try session.submit(NetlinkRequest(msg, operation: "link add \(name) type \(link.kind)"))
        try session.flush()
        session.forget(name: name)
    }

    static func delete(_ args: inout Arguments, _ session: Session) throws {
        let g = try parseGeneric(&args, session, isAdd: false)
        var header = IfInfoHeader()
        var w = AttributeWriter()
        let what: String
        if let dev = g.dev ?? g.name {
            header.index = try session.ifindex(dev)
            what = dev
        } else if let group = g.group {
            // One request deletes the whole group (the kernel walks it); IFLA_GROUP alone with index 0.
            w.u32(IFLA_GROUP, group)
            what = "group \(group)"
        } else {
            throw UsageError("\"link delete\" needs a device name or \"group N\"")
        }
        if let kind = g.kind {
            w.nested(IFLA_LINKINFO) { $0.raw(IFLA_INFO_KIND, Array(kind.utf8)) }
        }
        let msg = try RTMessage.link(RTM_DELLINK, flags: [], header: header, attributes: w)
        try session.submit(NetlinkRequest(msg, operation: "link delete \(what)"))
        session.invalidateNames()
    }

    static func set(_ args: inout Arguments, _ session: Session) throws {
        let g = try parseGeneric(&args, session, isAdd: false)
        guard let dev = g.dev else { throw UsageError("\"link set\" needs a device: isthmus link set DEV ...") }
        var header = g.header
        var attrs = AttributeWriter()
        if session.pipelining, !session.knows(dev), g.name == nil {
            // In a batch the device may come from a queued request: name it rather than resolve it, so the
            // pipeline need not drain (the kernel accepts ifi_index 0 with IFLA_IFNAME).
            header.index = 0
            attrs.string(IFLA_IFNAME, dev)
        } else {
            header.index = try session.ifindex(dev)
        }
        attrs.append(g.attributes)
        if let newName = g.name {
            attrs.string(IFLA_IFNAME, newName)
            session.invalidateNames()
        }
        if g.kind == "bridge_slave" {
            // A port's settings under its bridge (iproute2's iplink_bridge_slave.c), as ip 6.1 sends them: the kind
            // "bridge_slave" (no NUL) and the IFLA_BRPORT_* attributes in IFLA_INFO_SLAVE_DATA, which the kernel hands
            // to the master's port ops whatever the kind says.
            let data = try BridgeSlave.parse(&args)
            attrs.nested(IFLA_LINKINFO) { li in
                li.raw(IFLA_INFO_KIND, Array("bridge_slave".utf8))
                li.nested(IFLA_INFO_SLAVE_DATA, data)
            }
        } else if let kind = g.kind {
            var data = AttributeWriter()
            if let k = LinkKinds.find(kind) { try k.parse(&args, session: session, isAdd: false, into: &data) }
            attrs.nested(IFLA_LINKINFO) { li in
                li.raw(IFLA_INFO_KIND, Array(kind.utf8))  // iproute2 sends the kind without a NUL
                if !data.bytes.isEmpty || data.overflow != nil { li.nested(IFLA_INFO_DATA, data) }
            }
        }
        let msg = try RTMessage.link(RTM_NEWLINK, flags: [], header: header, attributes: attrs)
        try session.submit(NetlinkRequest(msg, operation: "link set \(dev)"))
    }
}

/// Parses "aa:bb:cc:dd:ee:ff" (any length of colon-separated hex bytes, as ll_addr_a2n).
func parseHardwareAddress(_ s: String) -> [UInt8]? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    guard !parts.isEmpty, parts.count <= 32 else { return nil }
    var out: [UInt8] = []
    for p in parts {
        guard (1...2).contains(p.count), let v = UInt8(p, radix: 16) else { return nil }
        out.append(v)
    }
    return out
}

/// `ip link set DEV type bridge_slave ...`: the port settings of iproute2's bridge_slave that are a switch or a number.
enum BridgeSlave {
    /// On/off settings and their IFLA_BRPORT_* attribute, in iproute2's order.
    static let flags: [(String, Int32)] = [
        ("guard", Int32(IFLA_BRPORT_GUARD)), ("hairpin", Int32(IFLA_BRPORT_MODE)), ("root_block", Int32(IFLA_BRPORT_PROTECT)),
        ("fastleave", Int32(IFLA_BRPORT_FAST_LEAVE)), ("learning", Int32(IFLA_BRPORT_LEARNING)),
        ("flood", Int32(IFLA_BRPORT_UNICAST_FLOOD)), ("mcast_flood", Int32(IFLA_BRPORT_MCAST_FLOOD)),
        ("bcast_flood", Int32(IFLA_BRPORT_BCAST_FLOOD)), ("mcast_to_unicast", Int32(IFLA_BRPORT_MCAST_TO_UCAST)),
        ("proxy_arp", Int32(IFLA_BRPORT_PROXYARP)), ("proxy_arp_wifi", Int32(IFLA_BRPORT_PROXYARP_WIFI)),
        ("neigh_suppress", Int32(IFLA_BRPORT_NEIGH_SUPPRESS)), ("vlan_tunnel", Int32(IFLA_BRPORT_VLAN_TUNNEL)),
        ("isolated", Int32(IFLA_BRPORT_ISOLATED)),
    ]
    static var keywords: [String] { ["state", "priority", "cost"] + flags.map(\.0) }

    static func parse(_ args: inout Arguments) throws -> AttributeWriter {
        var data = AttributeWriter()
        while let w = args.next() {
            if let (_, type) = flags.first(where: { $0.0 == w }) {
                data.u8(type, try args.choice(for: w, ["on", "off"]) == "on" ? 1 : 0)
                continue
            }
            switch w {
            case "state":
                let v = try args.value(for: "state", expected: "a port state (0-4 or \(BridgeDetails.portStates.joined(separator: ", ")))")
                guard let n = BridgeDetails.portStates.firstIndex(of: v) ?? Arguments.parseInteger(v, Int.self), (0...4).contains(n) else {
                    throw UsageError.invalid(v, for: "state", expected: "0-4 or one of \(BridgeDetails.portStates.joined(separator: ", "))")
                }
                data.u8(IFLA_BRPORT_STATE, UInt8(n))
            case "priority": data.u16(IFLA_BRPORT_PRIORITY, try args.integer(for: "priority", UInt16.self))
            case "cost": data.u32(IFLA_BRPORT_COST, try args.integer(for: "cost", UInt32.self))
            default: throw args.unknown(w, validChoices: keywords)
            }
        }
        return data
    }
}
