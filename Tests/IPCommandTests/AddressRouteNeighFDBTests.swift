#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// `address`, `route`, `neighbour` and `fdb` against a message-level fake kernel: keyword errors, request encodings
/// (beyond the golden fixtures), show output shaped like iproute2 6.1's, and decoders that never trap.
@Suite("address, route, neighbour and fdb commands")
struct AddressRouteNeighFDBTests {
    // MARK: a small fake kernel

    /// Interfaces the fake knows: lo=1, eth0=2 (veth peer of eth1=3), vx0=4, br0=5.
    static let linkNames: [String: Int32] = ["lo": 1, "eth0": 2, "eth1": 3, "vx0": 4, "br0": 5]

    static func linkMessage(_ name: String, _ index: Int32) -> NetlinkMessage {
        let up = CLinuxUAPI.IFF_UP.rawValue | CLinuxUAPI.IFF_LOWER_UP.rawValue | CLinuxUAPI.IFF_RUNNING.rawValue
        var flags = up
        var type = UInt16(ARPHRD_ETHER)
        if name == "lo" { flags |= CLinuxUAPI.IFF_LOOPBACK.rawValue; type = UInt16(ARPHRD_LOOPBACK) }
        else { flags |= CLinuxUAPI.IFF_BROADCAST.rawValue | CLinuxUAPI.IFF_MULTICAST.rawValue }
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, name)
        w.u32(IFLA_TXQLEN, 1000)
        w.u8(IFLA_OPERSTATE, UInt8(name == "lo" || name == "vx0" ? IF_OPER_UNKNOWN : IF_OPER_UP))
        w.u32(IFLA_MTU, name == "lo" ? 65536 : 1500)
        w.u32(IFLA_GROUP, 0)
        if name == "eth0" { w.u32(IFLA_LINK, 3) }
        if name == "eth1" { w.u32(IFLA_LINK, 2); w.u32(IFLA_MASTER, 5) }
        w.string(IFLA_QDISC, "noqueue")
        w.raw(IFLA_ADDRESS, name == "lo" ? [0, 0, 0, 0, 0, 0] : [0x02, 0, 0, 0, 0, UInt8(index)])
        w.raw(IFLA_BROADCAST, name == "lo" ? [0, 0, 0, 0, 0, 0] : [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        return try! RTMessage.link(RTM_NEWLINK, flags: [.multi], header: IfInfoHeader(type: type, index: index, flags: flags), attributes: w)
    }

    static func addressMessage(family: Int32, _ local: String, _ plen: UInt8, index: UInt32, scope: rt_scope_t = RT_SCOPE_UNIVERSE,
                               peer: String? = nil, broadcast: String? = nil, label: String? = nil, flags: UInt32 = UInt32(IFA_F_PERMANENT)) -> NetlinkMessage {
        var w = AttributeWriter()
        let l = IPAddress(local)!
        w.raw(IFA_ADDRESS, (peer.flatMap(IPAddress.init) ?? l).bytes)
        if family == AF_INET { w.raw(IFA_LOCAL, l.bytes) }
        if let broadcast { w.raw(IFA_BROADCAST, IPAddress(broadcast)!.bytes) }
        if let label { w.string(IFA_LABEL, label) }
        w.u32(IFA_FLAGS, flags)
        w.raw(IFA_CACHEINFO, AddressCacheInfo(preferred: AddressCacheInfo.forever, valid: AddressCacheInfo.forever, created: 100, updated: 100).bytes)
        let h = IfAddrHeader(family: UInt8(family), prefixLength: plen, flags: UInt8(truncatingIfNeeded: flags), scope: UInt8(scope.rawValue), index: index)
        return try! RTMessage.address(RTM_NEWADDR, flags: [.multi], header: h, attributes: w)
    }

    static let addresses: [NetlinkMessage] = [
        addressMessage(family: AF_INET, "127.0.0.1", 8, index: 1, scope: RT_SCOPE_HOST, label: "lo"),
        addressMessage(family: AF_INET, "10.0.0.1", 24, index: 2, peer: "10.0.0.2", label: "eth0"),
        addressMessage(family: AF_INET, "10.1.0.1", 16, index: 2, broadcast: "10.1.255.255", label: "eth0:1"),
        addressMessage(family: AF_INET6, "::1", 128, index: 1, scope: RT_SCOPE_HOST),
        addressMessage(family: AF_INET6, "2001:db8::1", 64, index: 2, flags: UInt32(IFA_F_PERMANENT | IFA_F_NODAD)),
    ]

    static func routeMessage(_ dst: String?, _ len: UInt8, gateway: String? = nil, oif: UInt32? = nil, table: UInt32 = RT_TABLE_MAIN.rawValue,
                             proto: Int32 = RTPROT_BOOT, scope: rt_scope_t = RT_SCOPE_UNIVERSE, metric: UInt32? = nil, prefsrc: String? = nil) -> NetlinkMessage {
        var w = AttributeWriter()
        w.u32(RTA_TABLE.rawValue, table)
        if let dst { w.raw(RTA_DST.rawValue, IPAddress(dst)!.bytes) }
        if let metric { w.u32(RTA_PRIORITY.rawValue, metric) }
        if let prefsrc { w.raw(RTA_PREFSRC.rawValue, IPAddress(prefsrc)!.bytes) }
        if let gateway { w.raw(RTA_GATEWAY.rawValue, IPAddress(gateway)!.bytes) }
        if let oif { w.u32(RTA_OIF.rawValue, oif) }
        let h = RouteHeader(family: UInt8(AF_INET), dstLength: len, table: UInt8(table < 256 ? table : 0),
                            proto: UInt8(proto), scope: UInt8(scope.rawValue), type: UInt8(RTN_UNICAST))
        return try! RTMessage.route(RTM_NEWROUTE, flags: [.multi], header: h, attributes: w)
    }

    static let routes: [NetlinkMessage] = [
        routeMessage(nil, 0, gateway: "10.0.0.2", oif: 2),
        routeMessage("10.0.0.0", 24, oif: 2, proto: RTPROT_KERNEL, scope: RT_SCOPE_LINK, prefsrc: "10.0.0.1"),
        routeMessage("192.168.5.0", 24, gateway: "10.0.0.2", oif: 2, proto: RTPROT_STATIC, metric: 7),
        routeMessage("172.16.0.0", 12, oif: 2, table: 100, scope: RT_SCOPE_LINK),
    ]

    static func fdbMessage(_ mac: [UInt8], index: Int32, state: Int32, flags: Int32, dst: String? = nil, vni: UInt32? = nil, port: UInt16? = nil, master: UInt32? = nil) -> NetlinkMessage {
        var w = AttributeWriter()
        w.raw(NDA_LLADDR, mac)
        if let dst { w.raw(NDA_DST, IPAddress(dst)!.bytes) }
        if let port { w.be16(NDA_PORT, port) }
        if let vni { w.u32(NDA_VNI, vni) }
        if let master { w.u32(NDA_MASTER, master) }
        let h = NeighbourHeader(family: UInt8(AF_BRIDGE), ifindex: index, state: UInt16(state), flags: UInt8(flags))
        return try! RTMessage.neighbour(RTM_NEWNEIGH, flags: [.multi], header: h, attributes: w)
    }

    static let fdb: [NetlinkMessage] = [
        fdbMessage([0x02, 0x11, 0x22, 0x33, 0x44, 0x55], index: 3, state: NUD_NOARP, flags: 0, master: 5),
        fdbMessage([0, 0, 0, 0, 0, 0], index: 4, state: NUD_PERMANENT | NUD_NOARP, flags: NTF_SELF, dst: "10.0.0.2"),
        fdbMessage([0, 0, 0, 0, 0, 0], index: 4, state: NUD_PERMANENT | NUD_NOARP, flags: NTF_SELF, dst: "10.0.0.3", vni: 7, port: 4790),
        fdbMessage([0x33, 0x33, 0, 0, 0, 1], index: 5, state: NUD_PERMANENT, flags: NTF_SELF),
    ]

    static let neighbours: [NetlinkMessage] = {
        var w = AttributeWriter()
        w.raw(NDA_DST, IPAddress("10.0.0.5")!.bytes)
        w.raw(NDA_LLADDR, [0x02, 0, 0, 0, 0, 0x0a])
        let a = try! RTMessage.neighbour(RTM_NEWNEIGH, flags: [.multi], header: NeighbourHeader(family: UInt8(AF_INET), ifindex: 2, state: UInt16(NUD_STALE), flags: UInt8(NTF_ROUTER)), attributes: w)
        var w2 = AttributeWriter()
        w2.raw(NDA_DST, IPAddress("10.0.0.3")!.bytes)
        let b = try! RTMessage.neighbour(RTM_NEWNEIGH, flags: [.multi], header: NeighbourHeader(family: UInt8(AF_INET), ifindex: 2, state: UInt16(NUD_INCOMPLETE)), attributes: w2)
        var w3 = AttributeWriter()
        w3.raw(NDA_DST, IPAddress("10.0.0.9")!.bytes)
        w3.raw(NDA_LLADDR, [0x02, 0, 0, 0, 0, 0x09])
        let c = try! RTMessage.neighbour(RTM_NEWNEIGH, flags: [.multi], header: NeighbourHeader(family: UInt8(AF_INET), ifindex: 2, state: UInt16(NUD_NOARP)), attributes: w3)
        return [a, b, c]
    }()

    /// A fake NETLINK_ROUTE kernel: name lookups, and dumps of the tables above (optionally mangled by `mangle`).
    static func kernel(mangle: @escaping ([NetlinkMessage]) -> [NetlinkMessage] = { $0 }) -> FakeNetlink {
        FakeNetlink { m in
            let dump = m.flags & NetlinkFlags.dump.rawValue == NetlinkFlags.dump.rawValue
            switch Int(m.type) {
            case RTM_GETLINK where dump:
                return mangle(linkNames.sorted { $0.value < $1.value }.map { linkMessage($0.key, $0.value) })
            case RTM_GETLINK:
                let req = try LinkMessage(m)
                if let n = req.name {
                    guard let i = linkNames[n] else { throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
                    return [linkMessage(n, i)]
                }
                guard let n = linkNames.first(where: { $0.value == req.header.index })?.key else { throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
                return [linkMessage(n, req.header.index)]
            case RTM_GETADDR: return mangle(addresses)
            case RTM_GETROUTE: return mangle(routes)
            case RTM_GETNEIGH:
                return mangle(m.payload.first == UInt8(AF_BRIDGE) ? fdb : neighbours)
            default: return []
            }
        }
    }

    static func run(_ line: String, json: Bool = false, family: Int32 = AF_UNSPEC, kernel k: FakeNetlink = kernel()) throws -> (Session, FakeNetlink) {
        var o = Options()
        o.json = json
        o.family = UInt8(family)
        let s = Session(options: o) { _, _ in k }
        try IPCommandRunner.run(try splitCommandLine(line), session: s)
        try s.flush()
        return (s, k)
    }

    /// The mutating messages a command line sent (GET requests left out).
    static func sent(_ line: String, family: Int32 = AF_UNSPEC) throws -> [NetlinkMessage] {
        let (_, k) = try run(line, family: family)
        return k.sent.filter { (Int($0.type) - 16) % 4 != 2 }
    }

    static func error(_ line: String) -> String? {
        do { _ = try run(line); return nil } catch { return "\(error)" }
    }

    static func attrs(_ m: NetlinkMessage, header: Int) throws -> [Attribute] { try Attribute.parse(m.payload.dropFirst(header)[...]) }

    // MARK: keyword errors

    @Test("unknown keywords are named with the valid ones", arguments: [
        ("address add 10.0.0.1/24 dev eth0 bogus", ["\"bogus\"", "peer", "broadcast", "valid_lft", "noprefixroute"]),
        ("route add 10.0.0.0/8 via 10.0.0.2 frobnicate", ["\"frobnicate\"", "via", "table", "metric", "onlink"]),
        ("neighbour add 10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 shiny", ["\"shiny\"", "lladdr", "nud", "router"]),
        ("fdb add 00:11:22:33:44:55 dev vx0 bogus", ["\"bogus\"", "dst", "vni", "port", "self", "master"]),
        ("fdb show frob", ["\"frob\"", "br", "brport", "vlan"]),
        ("route frob", ["\"frob\"", "add", "replace", "show", "get"]),
        ("address frob", ["\"frob\"", "add", "delete", "flush"]),
        ("neighbour frob", ["\"frob\"", "add", "change", "show"]),
        ("fdb frob", ["\"frob\"", "add", "append", "replace", "delete", "show"]),
        ("route show 10.0.0.0/8 frob", ["\"frob\"", "table", "proto"]),
        ("route add 10.0.0.0/8 nexthop via 10.0.0.2 bogus", ["\"bogus\"", "weight", "dev"]),
    ])
    func unknownKeywords(_ line: String, _ fragments: [String]) throws {
        let e = try #require(Self.error(line), "\(line) should fail")
        for f in fragments { #expect(e.contains(f), "\(line): \(e)") }
    }

    @Test("bad values name the keyword and the expected form", arguments: [
        ("address add 10.0.0.1/33 dev eth0", ["\"10.0.0.1/33\""]),
        ("address add 10.0.0.1/24 dev eth0 scope galaxy", ["\"galaxy\"", "\"scope\"", "global, host, link"]),
        ("address add 10.0.0.1/24 dev eth0 valid_lft soon", ["\"soon\"", "\"valid_lft\"", "forever"]),
        ("address add 10.0.0.1/24 dev eth0 peer fe80::1", ["\"fe80::1\"", "\"peer\"", "IPv4"]),
        ("address add 10.0.0.1/24 dev eth0 brd + valid_lft 0", ["\"valid_lft\""]),
        ("address add 10.0.0.1/24", ["dev"]),
        ("address add 10.0.0.1/24 dev nosuch0", ["nosuch0"]),
        ("route add 10.0.0.0/8 via 10.0.0.300", ["\"10.0.0.300\"", "\"via\""]),
        ("route add 10.0.0.0/8 dev eth0 table neverland", ["\"neverland\"", "\"table\"", "main"]),
        ("route add 10.0.0.0/8 dev eth0 proto martian", ["\"martian\"", "\"proto\"", "static"]),
        ("route add 10.0.0.0/8 dev eth0 hoplimit 300", ["\"300\"", "\"hoplimit\""]),
        ("route add via 10.0.0.2", ["destination"]),
        ("route get", ["destination"]),
        ("neighbour add 10.0.0.1 dev eth0 nud sleepy", ["\"sleepy\"", "\"nud\"", "permanent", "stale"]),
        ("neighbour add 10.0.0.1 dev eth0 lladdr 02:zz:00:00:00:01", ["\"02:zz:00:00:00:01\"", "\"lladdr\""]),
        ("neighbour add 10.0.0.1 lladdr 02:00:00:00:00:01", ["device and destination"]),
        ("fdb add 00:11:22:33:44:55 dev vx0 vni 16777216", ["\"16777216\"", "\"vni\""]),
        ("fdb add 00:11:22:33:44:55 dev vx0 port 70000", ["\"70000\"", "\"port\""]),
        ("fdb add 00:11:22:33:44:55 dev vx0 dst 10.0.0.2 nhid 5", ["nhid"]),
        ("fdb add dev vx0 dst 10.0.0.2", ["device and address"]),
        ("fdb add 00:11:22:33:44:55 dev vx0 vlan 5000", ["\"5000\"", "\"vlan\""]),
    ])
    func badValues(_ line: String, _ fragments: [String]) throws {
        let e = try #require(Self.error(line), "\(line) should fail")
        for f in fragments { #expect(e.contains(f), "\(line): \(e)") }
    }

    @Test("parse errors leave the kernel alone")
    func errorsSendNothing() throws {
        let k = Self.kernel()
        let s = Session(options: Options()) { _, _ in k }
        #expect(throws: UsageError.self) { try IPCommandRunner.run(["route", "add", "10.0.0.0/8", "bogus"], session: s) }
        #expect(k.sent.isEmpty)
    }

    // MARK: encodings

    @Test("address add: header, IFA_LOCAL then the implied IFA_ADDRESS, CREATE|EXCL")
    func addressAdd() throws {
        let m = try #require(try Self.sent("address add 10.0.0.1/24 dev eth0").first)
        #expect(m.type == UInt16(RTM_NEWADDR))
        #expect(NetlinkFlags(rawValue: m.flags).isSuperset(of: [.create, .excl, .request, .ack]))
        let h = try IfAddrHeader(decoding: m.payload[...])
        #expect(h == IfAddrHeader(family: UInt8(AF_INET), prefixLength: 24, flags: 0, scope: 0, index: 2))
        let a = try Self.attrs(m, header: IfAddrHeader.size)
        #expect(a.map(\.type) == [UInt16(IFA_LOCAL), UInt16(IFA_ADDRESS)])
        #expect(a.allSatisfy { $0.bytes == [10, 0, 0, 1] })
    }

    @Test("address add: brd + computes the broadcast, 127/8 gets host scope, short IPv4 forms and netmasks parse")
    func addressDetails() throws {
        let m = try #require(try Self.sent("address add 10.1.0.1/255.255.0.0 brd + dev eth0").first)
        let a = try AddressMessage(m)
        #expect(a.header.prefixLength == 16)
        #expect(a.broadcast == IPAddress("10.1.255.255"))
        let lo = try #require(try Self.sent("address add 127.2/8 dev lo").first)
        let l = try AddressMessage(lo)
        #expect(l.local == IPAddress("127.2.0.0"))
        #expect(l.header.scope == UInt8(RT_SCOPE_HOST.rawValue))
        // Flags above 0xff go in IFA_FLAGS; lifetimes in IFA_CACHEINFO.
        let v6 = try #require(try Self.sent("address replace 2001:db8::1/64 dev eth0 nodad noprefixroute valid_lft 300 preferred_lft 300").first)
        let v = try AddressMessage(v6)
        #expect(NetlinkFlags(rawValue: v6.flags).isSuperset(of: [.create, .replace]))
        #expect(v.flags == UInt32(IFA_F_NODAD | IFA_F_NOPREFIXROUTE))
        #expect(v.header.flags == 0)
        // preferred forever > valid 300 is refused, as iproute2 does.
        #expect(Self.error("address add 2001:db8::1/64 dev eth0 valid_lft 300 preferred_lft forever")?.contains("preferred_lft") == true)
        let ok = try #require(try Self.sent("address add 2001:db8::1/64 dev eth0 valid_lft 300 preferred_lft 100").first)
        #expect(try AddressMessage(ok).cacheInfo == AddressCacheInfo(preferred: 100, valid: 300))
    }

    @Test("address del without a prefix length is iproute2's wildcard delete (no IFA_ADDRESS)")
    func addressWildcardDelete() throws {
        let m = try #require(try Self.sent("address del 10.0.0.1 dev eth0").first)
        #expect(m.type == UInt16(RTM_DELADDR))
        #expect(try Self.attrs(m, header: IfAddrHeader.size).map(\.type) == [UInt16(IFA_LOCAL)])
    }

    @Test("route add default: no RTA_DST without -4/-6, an all-zeros RTA_DST with -6")
    func routeDefault() throws {
        let m = try #require(try Self.sent("route add default via 10.0.0.2").first)
        let r = try RouteMessage(m)
        #expect(r.header.family == UInt8(AF_INET) && r.header.dstLength == 0 && r.destination == nil)
        #expect(r.gateway == IPAddress("10.0.0.2"))
        #expect(r.header.scope == UInt8(RT_SCOPE_UNIVERSE.rawValue) && r.header.proto == UInt8(RTPROT_BOOT))
        let m6 = try #require(try Self.sent("route add default via fe80::1 dev eth0", family: AF_INET6).first)
        let r6 = try RouteMessage(m6)
        #expect(r6.destination == IPAddress("::"))
        #expect(r6.outputInterface == 2)
    }

    @Test("route: big table ids go in RTA_TABLE, dev-only routes get link scope, metrics nest in RTA_METRICS")
    func routeTableScopeMetrics() throws {
        let m = try #require(try Self.sent("route append 10.0.0.0/8 dev eth0 table 1000 mtu lock 1400 congctl cubic").first)
        #expect(NetlinkFlags(rawValue: m.flags).isSuperset(of: [.create, .append]))
        let r = try RouteMessage(m)
        #expect(r.header.table == UInt8(RT_TABLE_UNSPEC.rawValue) && r.table == 1000)
        #expect(r.header.scope == UInt8(RT_SCOPE_LINK.rawValue))
        #expect(r.metrics.contains { $0.type == UInt16(RTAX_MTU) && $0.value == 1400 })
        #expect(r.metrics.contains { $0.type == UInt16(RTAX_LOCK) && $0.value == 1 << UInt32(RTAX_MTU) })
        #expect(r.congestionControl == "cubic")
        let attrOrder = r.attributes.map(\.type)
        #expect(attrOrder == [UInt16(RTA_DST.rawValue), UInt16(RTA_TABLE.rawValue), UInt16(RTA_OIF.rawValue), UInt16(RTA_METRICS.rawValue)])
        // Types, local table and host scope.
        let l = try RouteMessage(try #require(try Self.sent("route add local 10.9.9.9 dev eth0").first))
        #expect(l.header.type == UInt8(RTN_LOCAL) && l.header.table == UInt8(RT_TABLE_LOCAL.rawValue) && l.header.scope == UInt8(RT_SCOPE_HOST.rawValue))
        // Deletes are scope nowhere, protocol unspec.
        let d = try RouteMessage(try #require(try Self.sent("route del 10.0.0.0/8").first))
        #expect(d.header.scope == UInt8(RT_SCOPE_NOWHERE.rawValue) && d.header.proto == 0 && d.header.type == 0)
    }

    @Test("route: a gateway of another family goes in RTA_VIA; multipath hops decode back")
    func routeViaAndMultipath() throws {
        let v = try RouteMessage(try #require(try Self.sent("route add 10.0.0.0/8 via inet6 fe80::1 dev eth0").first))
        #expect(v.gateway == nil && v.via == IPAddress("fe80::1"))
        let m = try RouteMessage(try #require(try Self.sent("route add 10.50.0.0/16 nexthop via 10.0.0.2 dev eth0 weight 3 nexthop via 10.0.0.3 dev eth1 onlink").first))
        let hops = m.nextHops
        #expect(hops.count == 2)
        #expect(hops.first?.gateway == IPAddress("10.0.0.2") && hops.first?.hops == 2 && hops.first?.ifindex == 2)
        #expect(hops.last?.ifindex == 3 && hops.last?.flags == UInt8(RTNH_F_ONLINK))
        #expect(m.header.scope == UInt8(RT_SCOPE_UNIVERSE.rawValue))
    }

    @Test("neighbour add: ndmsg from the address family, NDA_DST then NDA_LLADDR, state and flags")
    func neighbourAdd() throws {
        let m = try #require(try Self.sent("neighbour replace 10.0.0.5 lladdr 02:00:00:00:00:0a dev eth0 nud reachable router").first)
        #expect(NetlinkFlags(rawValue: m.flags).isSuperset(of: [.create, .replace]))
        let n = try NeighbourMessage(m)
        #expect(n.header == NeighbourHeader(family: UInt8(AF_INET), ifindex: 2, state: UInt16(NUD_REACHABLE), flags: UInt8(NTF_ROUTER)))
        #expect(n.attributes.map(\.type) == [UInt16(NDA_DST), UInt16(NDA_LLADDR)])
        #expect(n.linkLayerAddress == [2, 0, 0, 0, 0, 0x0a])
        // Default state is permanent; "lladdr null" sends none.
        let p = try NeighbourMessage(try #require(try Self.sent("neigh add 2001:db8::9 lladdr null dev eth0").first))
        #expect(p.header.state == UInt16(NUD_PERMANENT) && p.header.family == UInt8(AF_INET6) && p.linkLayerAddress == nil)
        let proxy = try NeighbourMessage(try #require(try Self.sent("neigh add proxy 10.0.0.77 dev eth0").first))
        #expect(proxy.header.flags == UInt8(NTF_PROXY) && proxy.destination == IPAddress("10.0.0.77"))
    }

    @Test("fdb append 00:00:00:00:00:00 dev vx0 dst: the head-end replication entry")
    func fdbFloodEntry() throws {
        let m = try #require(try Self.sent("fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.2 vni 100 port 4789 src_vni 7 via eth0").first)
        #expect(m.type == UInt16(RTM_NEWNEIGH))
        #expect(NetlinkFlags(rawValue: m.flags).isSuperset(of: [.create, .append]))
        let n = try NeighbourMessage(m)
        #expect(n.header == NeighbourHeader(family: UInt8(AF_BRIDGE), ifindex: 4, state: UInt16(NUD_NOARP | NUD_PERMANENT), flags: UInt8(NTF_SELF)))
        #expect(n.attributes.map(\.type) == [UInt16(NDA_LLADDR), UInt16(NDA_DST), UInt16(NDA_PORT), UInt16(NDA_VNI), UInt16(NDA_SRC_VNI), UInt16(NDA_IFINDEX)])
        #expect(n.linkLayerAddress == MACAddress.zero.bytes)
        #expect(n.destination == IPAddress("10.0.0.2"))
        #expect(n.port == 4789 && n.attributes.first(NDA_PORT)?.bytes == [0x12, 0xb5])  // network byte order
        #expect(n.vni == 100 && n.sourceVNI == 7 && n.viaIndex == 2)
        // master + static: NTF_MASTER instead of NTF_SELF, NUD_NOARP|NUD_REACHABLE.
        let s = try NeighbourMessage(try #require(try Self.sent("fdb add 02:11:22:33:44:55 dev eth1 master static vlan 10").first))
        #expect(s.header.flags == UInt8(NTF_MASTER) && s.header.state == UInt16(NUD_NOARP | NUD_REACHABLE) && s.vlan == 10)
        let d = try NeighbourMessage(try #require(try Self.sent("fdb add 02:11:22:33:44:56 dev vx0 dynamic").first))
        #expect(d.header.state == UInt16(NUD_REACHABLE))
        let del = try #require(try Self.sent("fdb del 00:00:00:00:00:00 dev vx0 dst 10.0.0.2").first)
        #expect(del.type == UInt16(RTM_DELNEIGH))
    }

    @Test("batch mode queues the requests until flush")
    func batchQueues() throws {
        let k = Self.kernel()
        let s = Session(options: Options()) { _, _ in k }
        let n = IPCommandRunner.runBatch("address add 10.0.0.1/24 dev eth0\nroute add default via 10.0.0.2\nfdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.2\n",
                                         file: "t", session: s) { Issue.record("\($0)") }
        #expect(n == 0)
        #expect(k.sent.filter { (Int($0.type) - 16) % 4 != 2 }.map(\.type) == [UInt16(RTM_NEWADDR), UInt16(RTM_NEWROUTE), UInt16(RTM_NEWNEIGH)])
    }

    // MARK: show output

    @Test("address show prints links and their addresses like ip addr show")
    func addressShowText() throws {
        let (s, _) = try Self.run("address show")
        let lines = s.output.lines
        #expect(lines.prefix(6) == [
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000",
            "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
            "    inet 127.0.0.1/8 scope host lo",
            "       valid_lft forever preferred_lft forever",
            "    inet6 ::1/128 scope host ",
            "       valid_lft forever preferred_lft forever",
        ])
        #expect(lines.contains("2: eth0@eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000"))
        #expect(lines.contains("    inet 10.0.0.1 peer 10.0.0.2/24 scope global eth0"))
        #expect(lines.contains("    inet 10.1.0.1/16 brd 10.1.255.255 scope global eth0:1"))
        #expect(lines.contains("    inet6 2001:db8::1/64 scope global nodad "))
        #expect(lines.contains("3: eth1@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br0 state UP group default qlen 1000"))
        // -4 drops the link/ line and links without IPv4 addresses.
        let (s4, _) = try Self.run("address show dev eth0", family: AF_INET)
        #expect(s4.output.lines == [
            "2: eth0@eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000",
            "    inet 10.0.0.1 peer 10.0.0.2/24 scope global eth0",
            "       valid_lft forever preferred_lft forever",
            "    inet 10.1.0.1/16 brd 10.1.255.255 scope global eth0:1",
            "       valid_lft forever preferred_lft forever",
        ])
    }

    @Test("address show -j has ip -j's keys and order")
    func addressShowJSON() throws {
        let (s, _) = try Self.run("address show dev eth0", json: true)
        #expect(s.output.json.count == 1)
        let j = try #require(s.output.json.first)
        #expect(j["ifindex"] == JSON(2) && j["ifname"] == "eth0" && j["link"] == "eth1")
        guard case .array(let infos)? = j["addr_info"] else { Issue.record("no addr_info"); return }
        #expect(infos.count == 3)
        #expect(infos[0].serialized() == #"{"family":"inet","local":"10.0.0.1","address":"10.0.0.2","prefixlen":24,"scope":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295}"#)
        #expect(infos[1]["broadcast"] == "10.1.255.255" && infos[1]["label"] == "eth0:1")
        #expect(infos[2]["family"] == "inet6" && infos[2]["nodad"] == JSON.bool(true))
        guard case .object(let fields) = j else { return }
        #expect(fields.map(\.0) == ["ifindex", "link", "ifname", "flags", "mtu", "qdisc", "operstate", "group", "txqlen", "link_type", "address", "broadcast", "addr_info"])
    }

    @Test("address flush deletes what show would list, secondaries first")
    func addressFlush() throws {
        let (_, k) = try Self.run("address flush dev eth0 scope global")
        let dels = k.sent.filter { $0.type == UInt16(RTM_DELADDR) }
        #expect(dels.count == 3)
        #expect(Self.error("address flush")?.contains("requires arguments") == true)
    }

    @Test("route show prints like ip route show: main table, boot protocol and universe scope implied")
    func routeShow() throws {
        let (s, _) = try Self.run("route show")
        #expect(s.output.lines == [
            "default via 10.0.0.2 dev eth0 ",
            "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1 ",
            "192.168.5.0/24 via 10.0.0.2 dev eth0 proto static metric 7 ",
        ])
        let (all, _) = try Self.run("route show table all")
        #expect(all.output.lines.last == "172.16.0.0/12 dev eth0 table 100 scope link ")
        let (t, _) = try Self.run("route show table 100 dev eth0")
        #expect(t.output.lines == ["172.16.0.0/12 scope link "])
        let (j, _) = try Self.run("route show", json: true)
        #expect(j.output.json.first?.serialized() == #"{"dst":"default","gateway":"10.0.0.2","dev":"eth0","flags":[]}"#)
        #expect(j.output.json.last?.serialized() == #"{"dst":"192.168.5.0/24","gateway":"10.0.0.2","dev":"eth0","protocol":"static","metric":7,"flags":[]}"#)
        let (m, _) = try Self.run("route show match 192.168.5.9")
        #expect(m.output.lines == ["default via 10.0.0.2 dev eth0 ", "192.168.5.0/24 via 10.0.0.2 dev eth0 proto static metric 7 "])
    }

    @Test("neighbour show hides NOARP entries and prints states like ip neigh")
    func neighbourShow() throws {
        let (s, _) = try Self.run("neighbour show")
        #expect(s.output.lines == ["10.0.0.5 dev eth0 lladdr 02:00:00:00:00:0a router STALE ", "10.0.0.3 dev eth0 INCOMPLETE "])
        let (j, _) = try Self.run("neigh show dev eth0 nud all", json: true)
        #expect(j.output.json.map { $0.serialized() } == [
            #"{"dst":"10.0.0.5","lladdr":"02:00:00:00:00:0a","router":null,"state":["STALE"]}"#,
            #"{"dst":"10.0.0.3","state":["INCOMPLETE"]}"#,
            #"{"dst":"10.0.0.9","lladdr":"02:00:00:00:00:09","state":["NOARP"]}"#,
        ])
    }

    @Test("fdb show prints like bridge fdb show, with dev and br filters")
    func fdbShow() throws {
        let (s, _) = try Self.run("fdb show")
        #expect(s.output.lines == [
            "02:11:22:33:44:55 dev eth1 master br0 static",
            "00:00:00:00:00:00 dev vx0 dst 10.0.0.2 self permanent",
            "00:00:00:00:00:00 dev vx0 dst 10.0.0.3 port 4790 vni 7 self permanent",
            "33:33:00:00:00:01 dev br0 self permanent",
        ])
        let (d, _) = try Self.run("fdb show dev vx0")
        #expect(d.output.lines == ["00:00:00:00:00:00 dst 10.0.0.2 self permanent", "00:00:00:00:00:00 dst 10.0.0.3 port 4790 vni 7 self permanent"])
        let (b, _) = try Self.run("fdb show br br0")
        #expect(b.output.lines == ["02:11:22:33:44:55 dev eth1 master br0 static", "33:33:00:00:00:01 dev br0 self permanent"])
        let (j, _) = try Self.run("fdb show", json: true)
        #expect(j.output.json[2].serialized() == #"{"mac":"00:00:00:00:00:00","ifname":"vx0","dst":"10.0.0.3","port":4790,"vni":7,"flags":["self"],"state":"permanent"}"#)
        #expect(j.output.json[0].serialized() == #"{"mac":"02:11:22:33:44:55","ifname":"eth1","flags":[],"master":"br0","state":"static"}"#)
    }

    // MARK: hostile kernel replies

    static func truncations(_ m: NetlinkMessage) -> [NetlinkMessage] {
        (0..<m.payload.count).map { n in var t = m; t.payload = Array(m.payload.prefix(n)); return t }
    }

    @Test("decoders throw or skip on every truncation and on garbage, never trap")
    func decodersNeverTrap() throws {
        var rng = SeededRandom(seed: 0x15_7a_b5)
        for m in Self.addresses + Self.routes + Self.fdb + Self.neighbours {
            for t in Self.truncations(m) {
                if let a = try? AddressMessage(t) { _ = (a.local, a.peer, a.broadcast, a.label, a.flags, a.cacheInfo, a.metric) }
                if let r = try? RouteMessage(t) { _ = (r.destination, r.gateway, r.via, r.table, r.metrics, r.nextHops, r.cacheExpiresAndError, r.pref) }
                if let n = try? NeighbourMessage(t) { _ = (n.destination, n.linkLayerAddress, n.port, n.vni, n.cacheInfo, n.master) }
            }
            for _ in 0..<200 {
                var g = m
                for _ in 0..<3 { g.payload[Int(rng.next() % UInt64(g.payload.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                if let r = try? RouteMessage(g) { _ = (r.metrics, r.nextHops, r.destination, r.via, r.cacheExpiresAndError) }
                if let a = try? AddressMessage(g) { _ = (a.local, a.cacheInfo, a.peer) }
                if let n = try? NeighbourMessage(g) { _ = (n.destination, n.cacheInfo, n.port, n.vlan) }
            }
        }
        // Attribute payloads of the wrong size decode as nil rather than trapping.
        var w = AttributeWriter()
        w.raw(RTA_DST.rawValue, [10, 0])
        w.raw(RTA_OIF.rawValue, [1])
        w.raw(RTA_METRICS.rawValue, [0xff, 0xff, 0x02, 0x00])
        w.raw(RTA_MULTIPATH.rawValue, [0x40, 0x00, 0, 0, 1, 0, 0, 0])
        w.raw(RTA_CACHEINFO.rawValue, [1, 2, 3])
        w.raw(RTA_VIA.rawValue, [2])
        let r = try RouteMessage(RTMessage.route(RTM_NEWROUTE, flags: [], header: RouteHeader(family: UInt8(AF_INET)), attributes: w))
        #expect(r.destination == nil && r.outputInterface == nil && r.metrics.isEmpty && r.nextHops.isEmpty && r.cacheExpiresAndError == nil && r.via == nil)
        #expect(throws: WireError.self) { try RouteNextHop.parse([0x40, 0x00, 0, 0, 1, 0, 0, 0][...]) }
        #expect(throws: WireError.self) { try IfAddrHeader(decoding: [1, 2, 3][...]) }
        #expect(throws: WireError.self) { try RouteHeader(decoding: [UInt8](repeating: 0, count: 11)[...]) }
        #expect(throws: WireError.self) { try NeighbourHeader(decoding: [UInt8](repeating: 0, count: 11)[...]) }
    }

    @Test("show commands skip truncated replies instead of trapping", arguments: ["address show", "route show table all", "neigh show nud all", "fdb show"])
    func showsSurviveTruncation(_ line: String) throws {
        for cut in [0, 3, 8, 11, 12, 15, 17, 20, 27] {
            let k = Self.kernel { msgs in msgs.map { var m = $0; m.payload = Array(m.payload.prefix(cut)); return m } }
            for json in [false, true] {
                // Links without names still print (as ifN); nothing may trap.
                _ = try? Self.run(line, json: json, kernel: k)
            }
        }
    }

    @Test("header encodings round-trip")
    func headerRoundTrip() throws {
        let a = IfAddrHeader(family: 10, prefixLength: 64, flags: 0x80, scope: 253, index: 0xdead_beef)
        var b: [UInt8] = []; a.encode(into: &b)
        #expect(b.count == IfAddrHeader.size)
        #expect(try IfAddrHeader(decoding: b[...]) == a)
        let r = RouteHeader(family: 2, dstLength: 24, srcLength: 8, tos: 0x10, table: 254, proto: 4, scope: 253, type: 1, flags: 0x1004)
        var rb: [UInt8] = []; r.encode(into: &rb)
        #expect(rb.count == RouteHeader.size)
        #expect(try RouteHeader(decoding: rb[...]) == r)
        let n = NeighbourHeader(family: 7, ifindex: -3, state: 0x80, flags: 0x82, type: 1)
        var nb: [UInt8] = []; n.encode(into: &nb)
        #expect(nb.count == NeighbourHeader.size)
        #expect(try NeighbourHeader(decoding: nb[...]) == n)
    }
}

