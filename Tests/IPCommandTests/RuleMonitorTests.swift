#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
@testable import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// `rule` and `monitor` against a message-level fake kernel: keyword errors that name the word and send nothing,
/// show/flush of a dumped rule table (hostile messages dropped), and monitor's rendering of notifications.
@Suite("rule and monitor commands")
struct RuleMonitorTests {
    static func rule(pref: UInt32?, family: Int32 = AF_INET, srcLength: UInt8 = 0, table: UInt8 = UInt8(RT_TABLE_MAIN.rawValue),
                     action: Int = FR_ACT_TO_TBL, flags: UInt32 = 0, type: Int = RTM_NEWRULE,
                     _ attrs: (inout AttributeWriter) -> Void = { _ in }) -> NetlinkMessage {
        // Small test messages always fit a netlink message.
        var w = AttributeWriter()
        if let pref { w.u32(FRA_PRIORITY, pref) }
        attrs(&w)
        return try! RTMessage.rule(type, flags: [.multi], header: RuleHeader(family: UInt8(family), srcLength: srcLength, table: table, action: UInt8(action), flags: flags), attributes: w)
    }

    /// The default IPv4 rules, one with every selector, and two a decoder must drop.
    static let table: [NetlinkMessage] = [
        rule(pref: nil, table: UInt8(RT_TABLE_LOCAL.rawValue)),
        rule(pref: 200, srcLength: 16, flags: UInt32(FIB_RULE_INVERT)) { w in
            w.raw(FRA_SRC, [10, 1, 0, 0]); w.u32(FRA_FWMARK, 0x10); w.u32(FRA_FWMASK, 0xff); w.string(FRA_IIFNAME, "eth0")
            w.raw(FRA_UID_RANGE, [100, 0, 0, 0, 200, 0, 0, 0]); w.u8(FRA_IP_PROTO, 6); w.raw(FRA_DPORT_RANGE, [80, 0, 80, 0])
            w.u8(FRA_PROTOCOL, UInt8(RTPROT_STATIC))
        },
        rule(pref: 300, table: 0, action: FR_ACT_BLACKHOLE),
        rule(pref: 400, table: 0) { w in w.u32(FRA_TABLE, 1000); w.u32(FRA_SUPPRESS_PREFIXLEN, 0) },
        // A header cut short, and an attribute longer than the message: dropped, not a trap.
        NetlinkMessage(type: UInt16(RTM_NEWRULE), flags: 0, seq: 0, pid: 0, payload: [2, 0, 0]),
        NetlinkMessage(type: UInt16(RTM_NEWRULE), flags: 0, seq: 0, pid: 0, payload: [2, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0, 40, 0, 6, 0, 1]),
        rule(pref: 32766),
    ]

    static func kernel() -> FakeNetlink {
        FakeNetlink { m in
            guard Int(m.type) == RTM_GETRULE else { return [] }
            return m.payload.first == UInt8(AF_INET) ? table : []
        }
    }

    static func run(_ line: String, json: Bool = false, family: Int32 = AF_UNSPEC) throws -> (Session, FakeNetlink) {
        var o = Options()
        o.json = json; o.family = UInt8(family)
        let k = kernel()
        let s = Session(options: o) { _, _ in k }
        try IPCommandRunner.run(try splitCommandLine(line), session: s)
        try s.flush()
        return (s, k)
    }

    @Test("bad words are named and nothing is sent", arguments: [
        ("rule add", "requires arguments"),
        ("rule del", "requires arguments"),
        ("rule add pref x", "\"x\" for \"pref\""),
        ("rule add priority 4294967296", "\"4294967296\" for \"priority\""),
        ("rule add fwmark 0x10/zz", "\"zz\" for \"fwmask\""),
        ("rule add fwmark abc", "\"abc\" for \"fwmark\""),
        ("rule add uidrange 100", "\"100\" for \"uidrange\""),
        ("rule add sport 70000", "\"70000\" for \"sport\""),
        ("rule add dport 1-", "\"1-\" for \"dport\""),
        ("rule add ipproto nosuchproto", "\"nosuchproto\" for \"ipproto\""),
        ("rule add table nosuchtable", "\"nosuchtable\" for \"table\""),
        ("rule add from 10.0.0.0/33", "\"10.0.0.0/33\" for \"from\""),
        ("rule add iif a/b", "\"iif\" not a valid ifname"),
        ("rule add suppress_prefixlength -1", "\"-1\" for \"suppress_prefixlength\""),
        ("rule add type sideways", "\"sideways\" for \"type\""),
        ("rule add frobnicate", "unknown keyword \"frobnicate\""),
        ("rule add l3mdev table 5", "l3mdev"),
        ("rule add pref", "\"pref\" needs a value"),
        ("rule add nat 10.0.0.1", "NAT"),
        ("rule show pref x", "\"x\" for \"pref\""),
        ("rule show uidrange 1", "\"1\" for \"uidrange\""),
        ("rule show bogus", "unknown keyword \"bogus\""),
        ("rule save", "not supported"),
        ("monitor bogus", "\"bogus\" is unknown"),
        ("monitor file x", "\"file\" is not supported"),
        ("monitor nsid", "\"nsid\" is not supported"),
    ])
    func errors(_ c: (String, String)) throws {
        let k = Self.kernel()
        let s = Session(options: Options()) { _, _ in k }
        var message = ""
        do { try IPCommandRunner.run(try splitCommandLine(c.0), session: s); try s.flush() } catch { message = "\(error)" }
        #expect(message.contains(c.1), "\(c.0): \(message)")
        #expect(k.sent.allSatisfy { Int($0.type) == RTM_GETRULE }, "\(c.0) sent a change")
    }

    @Test("abbreviations resolve in iprule_modify()'s order; the family is -6's or IPv4, not the address's")
    func encodings() throws {
        let (_, k) = try Self.run("rule add p 5 t 9 lookup 7")
        let m = try #require(k.sent.first)
        let r = try RuleMessage(m)
        // "p" is preference, "t" is tun_id (before table in ip's chain), lookup 7 the table.
        #expect(r.attribute(FRA_PRIORITY)?.u32 == 5 && r.attribute(FRA_TUN_ID)?.u64 == UInt64(9).bigEndian && r.header.table == 7)
        #expect(r.header.family == UInt8(AF_INET) && r.header.action == UInt8(FR_ACT_TO_TBL))
        #expect(m.flags & NetlinkFlags([.create, .excl]).rawValue == NetlinkFlags([.create, .excl]).rawValue)
        let (_, k6) = try Self.run("rule add from 2001:db8::/32 blackhole", family: AF_INET6)
        let r6 = try RuleMessage(try #require(k6.sent.first))
        #expect(r6.header.family == UInt8(AF_INET6) && r6.header.srcLength == 32 && r6.header.table == 0 && r6.header.action == UInt8(FR_ACT_BLACKHOLE))
        // ip rule del sends no table and FR_ACT_UNSPEC unless given.
        let (_, kd) = try Self.run("rule del pref 9")
        let rd = try RuleMessage(try #require(kd.sent.first))
        #expect(Int(try #require(kd.sent.first).type) == RTM_DELRULE && rd.header.table == 0 && rd.header.action == 0)
    }

    @Test("show prints as ip rule: text, JSON, selectors; hostile messages are dropped")
    func show() throws {
        let (s, _) = try Self.run("rule show")
        #expect(s.output.lines == [
            "0:\tfrom all lookup local",
            "200:\tnot from 10.1.0.0/16 fwmark 0x10/0xff iif eth0 uidrange 100-200 ipproto tcp dport 80 lookup main proto static",
            "300:\tfrom all blackhole",
            "400:\tfrom all lookup 1000 suppress_prefixlength 0",
            "32766:\tfrom all lookup main",
        ])
        let (j, _) = try Self.run("rule list pref 200", json: true)
        #expect(JSON.array(j.output.json).serialized() == #"[{"priority":200,"not":null,"src":"10.1.0.0","srclen":16,"fwmark":"0x10","fwmask":"0xff","iif":"eth0","uid_start":100,"uid_end":200,"ipproto":"tcp","dport":80,"table":"main","protocol":"static"}]"#)
        #expect(try Self.run("rule show table 1000").0.output.lines == ["400:\tfrom all lookup 1000 suppress_prefixlength 0"])
        #expect(try Self.run("rule show iif eth0 not").0.output.lines.count == 1)
        #expect(try Self.run("rule show", family: AF_INET6).0.output.lines.isEmpty)
    }

    @Test("flush deletes the selected rules that have a priority (not the local rule at 0)")
    func flush() throws {
        let (_, k) = try Self.run("rule flush")
        let deleted = try k.sent.filter { Int($0.type) == RTM_DELRULE }.map { try RuleMessage($0).attribute(FRA_PRIORITY)?.u32 }
        #expect(deleted == [200, 300, 400, 32766])
        let (_, k2) = try Self.run("rule flush protocol static")
        #expect(k2.sent.filter { Int($0.type) == RTM_DELRULE }.count == 4, "rules without FRA_PROTOCOL pass ip's protocol filter")
        let (_, k3) = try Self.run("rule flush table 1000")
        #expect(try k3.sent.filter { Int($0.type) == RTM_DELRULE }.map { try RuleMessage($0).attribute(FRA_PRIORITY)?.u32 } == [400])
    }

    // MARK: monitor

    @Test("monitor's words: objects by abbreviation, all and label for banners, groups per family")
    func monitorWords() throws {
        var a = Arguments(["li", "ad", "label"])
        let s = try MonitorCommand.parse(&a)
        #expect(s == MonitorCommand.Selection(link: true, address: true, route: false, neigh: false, rule: false, banner: true))
        var all = Arguments(["all"])
        let everything = try MonitorCommand.parse(&all)
        #expect(everything.link && everything.address && everything.route && everything.neigh && everything.rule && everything.banner)
        let g6 = MonitorCommand.groups(everything, family: UInt8(AF_INET6))
        #expect(g6.contains(RTNLGRP_IPV6_RULE.rawValue) && !g6.contains(RTNLGRP_IPV4_RULE.rawValue) && !g6.contains(RTNLGRP_IPV4_IFADDR.rawValue))
        #expect(MonitorCommand.groups(everything, family: 0).count == 9, "link, 2 address, 3 route (with MPLS), neigh, 2 rule")
    }

    @Test("monitor renders events with Deleted and banners, JSON one line each; cloned routes and hostile bytes are skipped")
    func monitorRendering() throws {
        let k = FakeNetlink { _ in throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
        var printer = MonitorCommand.Printer(session: Session(options: Options()) { _, _ in k }, banner: true, links: [])
        let del = Self.rule(pref: 100, srcLength: 16, type: RTM_DELRULE) { w in w.raw(FRA_SRC, [10, 1, 0, 0]) }
        #expect(printer.render(del) == "[RULE]Deleted 100:\tfrom 10.1.0.0/16 lookup main\n")
        // A link: no qlen (ip monitor's print_linkinfo), remembered for the names that follow.
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, "mA"); w.u32(IFLA_MTU, 1500); w.u32(IFLA_TXQLEN, 1000); w.string(IFLA_QDISC, "noop")
        w.u8(IFLA_OPERSTATE, UInt8(IF_OPER_DOWN)); w.u32(IFLA_GROUP, 0); w.raw(IFLA_ADDRESS, [2, 0, 0, 0, 0, 7])
        let link = try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(type: UInt16(ARPHRD_ETHER), index: 7, flags: CLinuxUAPI.IFF_BROADCAST.rawValue), attributes: w)
        #expect(printer.render(link) == "[LINK]7: mA: <BROADCAST> mtu 1500 qdisc noop state DOWN group default \n    link/ether 02:00:00:00:00:07\n")
        var n = AttributeWriter()
        n.raw(NDA_DST, [10, 0, 0, 5])
        let neigh = try RTMessage.neighbour(RTM_DELNEIGH, flags: [], header: NeighbourHeader(family: UInt8(AF_INET), ifindex: 7, state: UInt16(NUD_FAILED)), attributes: n)
        #expect(printer.render(neigh) == "[NEIGH]Deleted 10.0.0.5 dev mA FAILED \n")
        var r = AttributeWriter()
        r.raw(RTA_DST.rawValue, [10, 9, 0, 0]); r.u32(RTA_OIF.rawValue, 7)
        let cloned = try RTMessage.route(RTM_NEWROUTE, flags: [], header: RouteHeader(family: UInt8(AF_INET), dstLength: 16, table: 254, flags: UInt32(RTM_F_CLONED)), attributes: r)
        #expect(printer.render(cloned) == nil)
        for hostile in [[UInt8](), [2, 0], [2] + [UInt8](repeating: 0, count: 15) + [200, 0, 1, 0]] {
            for type in [RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH, RTM_DELRULE] {
                #expect(printer.render(NetlinkMessage(type: UInt16(type), flags: 0, seq: 0, pid: 0, payload: hostile)) == nil)
            }
        }
        var o = Options(); o.json = true
        var json = MonitorCommand.Printer(session: Session(options: o) { _, _ in k }, banner: true, links: [])
        #expect(json.render(del) == #"{"deleted":true,"priority":100,"src":"10.1.0.0","srclen":16,"table":"main"}"# + "\n")
    }
}
