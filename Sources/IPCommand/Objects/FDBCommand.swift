import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// `fdb` (bridge-fdb(8)): add, append, replace, delete and show forwarding database entries of bridges and
/// VXLAN devices — including the all-zeros MAC entries (`00:00:00:00:00:00 dev vx0 dst 10.0.0.2`) that VXLAN
/// head-end replication floods to.
///
/// Requests are AF_BRIDGE RTM_NEWNEIGH / RTM_DELNEIGH messages built like iproute2 6.1's fdb_modify():
/// state NUD_NOARP plus PERMANENT unless told otherwise, NTF_SELF unless `master`, then NDA_LLADDR, NDA_DST,
/// NDA_VLAN, NDA_NH_ID, NDA_PORT, NDA_VNI, NDA_SRC_VNI and NDA_IFINDEX.
public enum FDBCommand {
    /// Verbs in iproute2's do_fdb() order (abbreviations resolve to the first match).
    static let verbs = ["add", "append", "replace", "delete", "show", "lst", "list"]

    /// Runs `fdb VERB ...`.
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try modify(&args, session, type: RTM_NEWNEIGH, flags: [.create, .excl])
        case "append": try modify(&args, session, type: RTM_NEWNEIGH, flags: [.create, .append])
        case "replace": try modify(&args, session, type: RTM_NEWNEIGH, flags: [.create, .replace])
        case "delete": try modify(&args, session, type: RTM_DELNEIGH, flags: [])
        default: try show(&args, session)
        }
    }


    /// The if-chain of fdb_modify(), in its order.
    static let modifyKeywords: [Keyword] = [
        .exact("dev"), .exact("dst"), .exact("nhid"), .exact("port"), .exact("vni"), .exact("src_vni"), .exact("via"),
        .exact("self"), .abbrev("master"), .abbrev("router"), .abbrev("local"), .abbrev("permanent"), .abbrev("temp"),
        .abbrev("static"), .abbrev("dynamic"), .abbrev("vlan"), .abbrev("use"), .abbrev("extern_learn"), .abbrev("sticky"),
        .exact("to"),
    ]

    // MARK: add / append / replace / delete

    static func modify(_ args: inout Arguments, _ session: Session, type: Int, flags: NetlinkFlags) throws {
        let command = args.words.joined(separator: " ")   // the words as typed, object word included
        var h = NeighbourHeader(family: UInt8(AF_BRIDGE), state: UInt16(NUD_NOARP))
        var dev: String?
        var mac: String?
        var dst: InetPrefix?
        var port: UInt16 = 0
        var vni: UInt32?
        var srcVNI: UInt32?
        var via: Int32 = 0
        var vid: Int32 = -1
        var nhid: UInt32 = 0
        while let word = args.next() {
            let key = modifyKeywords.resolve(word)
            switch key {
            case "dev": dev = try args.interfaceName(for: word)
            case "dst":
                let v = try args.value(for: word, expected: "a remote IP address")
                if dst != nil { throw UsageError("duplicate \"dst\": \(v)") }
                dst = try Inet.address(v, for: word, family: session.options.family)
            case "nhid": nhid = try args.integer(for: word, UInt32.self)
            case "port":
                let v = try args.value(for: word, expected: "a UDP port number or service name")
                if let n = CNumber.parse(v, UInt64.self) {
                    guard n <= 0xffff else { throw UsageError.invalid(v, for: "port", expected: "a UDP port 0-65535") }
                    port = UInt16(n)
                } else if let s = getservbyname(v, "udp") {
                    port = UInt16(bigEndian: UInt16(truncatingIfNeeded: s.pointee.s_port))
                } else {
                    throw UsageError.invalid(v, for: "port", expected: "a UDP port number or service name")
                }
            case "vni", "src_vni":
                let k = key!
                let v = try args.value(for: k, expected: "a VNI 0-16777215")
                guard let n = CNumber.parse(v, UInt32.self), n >> 24 == 0 else { throw UsageError.invalid(v, for: k, expected: "a VNI 0-16777215") }
                if k == "vni" { vni = n } else { srcVNI = n }
            case "via": via = try session.ifindex(try args.interfaceName(for: word))
            case "self": h.flags |= UInt8(NTF_SELF)
            case "master": h.flags |= UInt8(NTF_MASTER)
            case "router": h.flags |= UInt8(NTF_ROUTER)
            case "local", "permanent": h.state |= UInt16(NUD_PERMANENT)
            case "temp", "static": h.state |= UInt16(NUD_REACHABLE)
            case "dynamic": h.state |= UInt16(NUD_REACHABLE); h.state &= ~UInt16(NUD_NOARP)
            case "vlan":
                if vid >= 0 { throw UsageError("duplicate \"vlan\"") }
                let v = try args.value(for: "vlan", expected: "a VLAN id 0-4095")
                guard let n = Int32(v), (0...4095).contains(n) else { throw UsageError.invalid(v, for: "vlan", expected: "a VLAN id 0-4095") }
                vid = n
            case "use": h.flags |= UInt8(NTF_USE)
            case "extern_learn": h.flags |= UInt8(NTF_EXT_LEARNED)
            case "sticky": h.flags |= UInt8(NTF_STICKY)
            default:
                if word == "help" { throw UsageError(Usage.fdb) }
                var v = word
                if key == "to" { v = try args.value(for: "to", expected: "a MAC address") }
                guard MACAddress(v) != nil else {
                    if key == "to" { throw UsageError.invalid(v, for: "to", expected: "a MAC address such as 00:00:00:00:00:00") }
                    throw args.unknown(word, validChoices: modifyKeywords.names + ["LLADDR"])
                }
                if mac != nil { throw UsageError("duplicate MAC address \"\(v)\"") }
                mac = v
            }
        }
        guard let dev, let mac else { throw UsageError("device and address are required: \"fdb add LLADDR dev DEV ...\"") }
        if nhid != 0 && (dst != nil || port != 0 || vni != nil) { throw UsageError("dst, port and vni are mutually exclusive with nhid") }
        if h.flags & UInt8(NTF_SELF | NTF_MASTER) == 0 { h.flags |= UInt8(NTF_SELF) }
        if h.state & UInt16(NUD_PERMANENT | NUD_REACHABLE) == 0 { h.state |= UInt16(NUD_PERMANENT) }
        guard let lladdr = MACAddress(mac) else { throw UsageError.invalid(mac, for: "fdb", expected: "a MAC address") }

        var w = AttributeWriter()
        w.raw(NDA_LLADDR, lladdr.bytes)
        if let dst { w.raw(NDA_DST, dst.bytes) }
        if vid >= 0 { w.u16(NDA_VLAN, UInt16(vid)) }
        if nhid > 0 { w.u32(NDA_NH_ID, nhid) }
        if port != 0 { w.be16(NDA_PORT, port) }
        if let vni { w.u32(NDA_VNI, vni) }
        if let srcVNI { w.u32(NDA_SRC_VNI, srcVNI) }
        if via != 0 { w.u32(NDA_IFINDEX, UInt32(bitPattern: via)) }
        h.ifindex = try session.ifindex(dev)
        let msg = try RTMessage.neighbour(type, flags: flags, header: h, attributes: w)
        try session.submit(NetlinkRequest(msg, operation: command))
    }

    // MARK: show

    static let showKeywords = ["brport", "dev", "br", "vlan", "state", "dynamic"]

    /// bridge's state_a2n() for `fdb show state STATE`.
    static func stateFilter(_ v: String) -> UInt32? {
        func m(_ n: String) -> Bool { !v.isEmpty && n.hasPrefix(v) }
        if m("permanent") { return UInt32(NUD_PERMANENT) }
        if m("static") || m("temp") { return UInt32(NUD_NOARP) }
        if m("stale") { return UInt32(NUD_STALE) }
        if m("reachable") || m("dynamic") { return UInt32(NUD_REACHABLE) }
        if v == "all" { return ~0 }
        return CNumber.parse(v, UInt32.self)
    }

    static func show(_ args: inout Arguments, _ session: Session) throws {
        var port: String?, bridge: String?
        var vlan: UInt16 = 0
        var state: UInt32 = 0
        var dynamicOnly = false
        while let word = args.next() {
            switch word {
            case "brport", "dev": port = try args.interfaceName(for: word, expected: "a bridge port or device name")
            case "br": bridge = try args.interfaceName(for: word, expected: "a bridge name")
            case "vlan":
                if vlan != 0 { throw UsageError("duplicate \"vlan\"") }
                let v = try args.value(for: word, expected: "a VLAN id")
                guard let n = UInt16(v) else { throw UsageError.invalid(v, for: "vlan", expected: "a VLAN id 0-4095") }
                vlan = n
            case "state":
                let v = try args.value(for: word, expected: "permanent, static, stale, reachable, dynamic, all or a number")
                guard let s = stateFilter(v) else { throw UsageError.invalid(v, for: "state", expected: "permanent, static, stale, reachable, dynamic, all or a number") }
                state |= s
            case "dynamic": dynamicOnly = true
            case "help": throw UsageError(Usage.fdb)
            default: throw args.unknown(word, validChoices: showKeywords)
            }
        }
        let brIndex = try bridge.map { name -> Int32 in
            do { return try session.ifindex(name) } catch { throw UsageError("cannot find bridge device \"\(name)\"") }
        }
        let portIndex = try port.map { try session.ifindex($0) }

        try session.flush()
        let (names, masters, types) = try RTDump.linkTables(session)
        let req = try RTMessage.neighbour(RTM_GETNEIGH, flags: [], header: NeighbourHeader(family: UInt8(AF_BRIDGE)))
        for m in try session.rtnl().dump(req, operation: "dump fdb") {
            guard m.type == UInt16(RTM_NEWNEIGH), let n = try? NeighbourMessage(m) else { continue }
            let h = n.header
            if h.family != UInt8(AF_BRIDGE) { continue }
            if let portIndex, h.ifindex != portIndex { continue }
            if let brIndex, h.ifindex != brIndex && masters[h.ifindex] != brIndex { continue }
            if state != 0 && UInt32(h.state) & state == 0 { continue }
            if vlan != 0 && (n.vlan ?? 0) != vlan { continue }
            if dynamicOnly && h.state & UInt16(NUD_PERMANENT) != 0 { continue }
            let (t, j) = describe(n, names: names, types: types, filterIndex: portIndex, session: session)
            if session.options.json { session.emit(j.json) } else { session.print(t) }
        }
    }

    /// state_n2a() of bridge/fdb.c.
    static func stateName(_ s: UInt16, json: Bool) -> String {
        if s & UInt16(NUD_PERMANENT) != 0 { return "permanent" }
        if s & UInt16(NUD_NOARP) != 0 { return "static" }
        if s & UInt16(NUD_STALE) != 0 { return "stale" }
        if s & UInt16(NUD_REACHABLE) != 0 { return "" }
        let hex = s == 0 ? "0" : "0x" + String(s, radix: 16)
        return json ? hex : "state=" + hex
    }

    static let flagNames: [(UInt8, String)] = [
        (UInt8(NTF_SELF), "self"), (UInt8(NTF_ROUTER), "router"), (UInt8(NTF_EXT_LEARNED), "extern_learn"),
        (UInt8(NTF_OFFLOADED), "offload"), (UInt8(NTF_MASTER), "master"), (UInt8(NTF_STICKY), "sticky"),
    ]

    /// Text and JSON of one entry, as bridge's print_fdb().
    static func describe(_ n: NeighbourMessage, names: [Int32: String], types: [Int32: UInt16], filterIndex: Int32?, session: Session) -> (String, JSONObject) {
        let h = n.header
        var p = FieldPrinter()
        p.string("mac", nil, n.linkLayerAddress.map { LinkSummary.hardwareAddress($0, type: types[h.ifindex] ?? UInt16(ARPHRD_ETHER)) })
        if filterIndex == nil && h.ifindex != 0 { p.string("ifname", "dev", RTDump.name(h.ifindex, names, session)) }
        p.string("dst", "dst", n.destination?.description)
        if let v = n.vlan, v != 0 { p.number("vlan", "vlan", v) }
        p.number("port", "port", n.port)
        p.number("vni", "vni", n.vni)
        p.number("src_vni", "src_vni", n.sourceVNI)
        if let via = n.viaIndex {
            if n.linkNetnsID != nil { p.number("viaIfIndex", "via ifindex", via) } else {
                p.string("viaIf", "via", RTDump.name(Int32(bitPattern: via), names, session))
            }
        }
        p.number("nhid", "nhid", n.nextHopID)
        p.field("linkNetNsId", n.linkNetnsID.map { JSON(Int($0)) }, text: "link-netnsid \(n.linkNetnsID ?? 0) ")
        if session.options.statistics > 0, let ci = n.cacheInfo {
            let hz = UInt32(max(1, sysconf(Int32(_SC_CLK_TCK))))
            p.field("used", JSON(ci.used / hz), text: "used \(ci.used / hz)/\(ci.updated / hz) ")
            p.jsonOnly("updated", JSON(ci.updated / hz))
        }
        RouteCommand.flags(flagNames.filter { h.flags & $0.0 != 0 }.map(\.1), into: &p)
        if let m = n.master { p.string("master", "master", RTDump.name(Int32(bitPattern: m), names, session)) }
        // The state ends the line: no space after it.
        let s = stateName(h.state, json: session.options.json)
        p.field("state", .string(s), text: s)
        return (p.text, p.json)
    }
}
