import Sites
import Testing
import TestSupport

// MARK: - Fixtures

private func segment(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> SegmentConfig {
    switch SiteConfig.load(text: text, file: "seg.toml") {
    case .success(let c): return c
    case .failure(let e):
        Issue.record("unexpected config errors:\n\(e)", sourceLocation: sourceLocation)
        throw e
    }
}

private func desired(_ text: String, site: String = "east", dataplane: ResolvedDataplane? = nil) throws -> DesiredState {
    let c = try segment(text)
    return try DesiredState(side: try c.side(for: site), dataplane: dataplane)
}

/// Ethernet kinds: east (192.0.2.1, lan eth1) and west.
private func ethernet(_ seg: [String], east: [String] = ["lan = [\"eth1\"]"]) -> String {
    (["[segment]", "name = \"lab\""] + seg + ["", "[sites.east]", "address = \"192.0.2.1\""] + east
        + ["", "[sites.west]", "address = \"198.51.100.7\"", "lan = [\"eth1\"]"]).joined(separator: "\n") + "\n"
}

/// L3 kinds: east and west with one network each (IPv6 for sit), IPv4 or (`v6`) IPv6 underlay addresses.
private func l3(_ kind: String, _ seg: [String], v6: Bool = false) -> String {
    let a = v6 ? ["2001:db8::1", "2001:db8::7"] : ["192.0.2.1", "198.51.100.7"]
    let n = kind == "sit" ? ["2001:db8:1::/48", "2001:db8:2::/48"] : ["10.1.0.0/16", "10.2.0.0/16"]
    return (["[segment]", "name = \"lab\"", "tunnel = \"\(kind)\""] + seg
        + ["", "[sites.east]", "address = \"\(a[0])\"", "networks = [\"\(n[0])\"]"]
        + ["", "[sites.west]", "address = \"\(a[1])\"", "networks = [\"\(n[1])\"]"]).joined(separator: "\n") + "\n"
}

private let vxlan = ethernet(["tunnel = \"vxlan\"", "vni = 42"])
private let vxlan3 = ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\", \"eth2\"]"])
    + "\n[sites.north]\naddress = \"203.0.113.9\"\nlan = [\"eth1\"]\n"
private let l2tp = ethernet(["tunnel = \"l2tpv3\"", "cookies = false"])
private let l2tpCookies = ethernet(["tunnel = \"l2tpv3\"", "encap = \"ip\""])
private let l2tpControl = ethernet(["tunnel = \"l2tpv3\"", "control = \"l2tpv3\"", "secret = \"k\""])
private let gretap = ethernet(["tunnel = \"gretap\"", "key = 77"])
private let greInUDP = ethernet(["tunnel = \"gre-in-udp\""])
private let userspace = ethernet(["tunnel = \"vxlan\"", "vni = 42", "dataplane = \"userspace\""])
private let ipip = """
    [segment]
    name = "lab"
    tunnel = "ipip"

    [sites.east]
    address = "192.0.2.1"
    tunnel_address = "10.255.0.1/30"
    networks = ["10.1.0.0/16"]

    [sites.west]
    address = "198.51.100.7"
    tunnel_address = "10.255.0.2/30"
    networks = ["10.2.0.0/16", "10.3.0.0/16"]
    """
/// `fragment = false`: the devices get what crosses the underlay unfragmented.
private let vxlanUnfragmented = ethernet(["tunnel = \"vxlan\"", "vni = 42", "fragment = false"])
private let gretapUnfragmented = ethernet(["tunnel = \"gretap\"", "key = 77", "fragment = false"])
/// Ethernet over an IPv6 underlay (ip6gretap: no DF words).
private let gretap6 = """
    [segment]
    name = "lab"
    tunnel = "gretap"

    [sites.east]
    address = "2001:db8::1"
    lan = ["eth1"]

    [sites.west]
    address = "2001:db8::7"
    lan = ["eth1"]
    """
/// GRE over IPv6 carrying both families (ip6gre: no DF words); the IPv4 network has no gateway of its family.
private let gre6 = """
    [segment]
    name = "lab"
    tunnel = "gre"

    [sites.east]
    address = "2001:db8::1"
    tunnel_address = "fd00::1/64"
    networks = ["2001:db8:1::/48"]

    [sites.west]
    address = "2001:db8::7"
    tunnel_address = "fd00::2/64"
    networks = ["2001:db8:2::/48", "10.2.0.0/16"]
    """
/// IPv6 networks over an IPv4 underlay.
private let sit = """
    [segment]
    name = "lab"
    tunnel = "sit"

    [sites.east]
    address = "192.0.2.1"
    tunnel_address = "fd00::1/64"
    networks = ["2001:db8:1::/48"]

    [sites.west]
    address = "198.51.100.7"
    tunnel_address = "fd00::2/64"
    networks = ["2001:db8:2::/48"]
    """

/// Every fixture, named for failure messages.
private let fixtures: [(name: String, config: String)] = [
    ("vxlan", vxlan), ("vxlan3", vxlan3), ("l2tp", l2tp), ("l2tpCookies", l2tpCookies), ("gretap", gretap),
    ("greInUDP", greInUDP), ("userspace", userspace), ("vxlanUnfragmented", vxlanUnfragmented),
    ("gretapUnfragmented", gretapUnfragmented), ("gretap6", gretap6), ("ipip", ipip), ("gre6", gre6), ("sit", sit),
    ("l2tpControl", l2tpControl),
]

/// A host before Isthmus: its uplink, its LAN ports (up, not enslaved), and things Isthmus must never touch.
private func freshHost() -> ObservedState {
    ObservedState(interfaces: [
        ObservedInterface(name: "lo", kind: "", mtu: 65536, up: true),
        ObservedInterface(name: "eth0", kind: "", mtu: 1500, up: true, addresses: ["192.0.2.1/24"]),
        ObservedInterface(name: "eth1", kind: "", mtu: 1500, up: true),
        ObservedInterface(name: "eth2", kind: "", mtu: 1500, up: false),
        // The user's own bridge, and another segment's tunnel: never touched.
        ObservedInterface(name: "br0", kind: "bridge", alias: "my bridge", mtu: 1500, up: true),
        ObservedInterface(name: "eth3", kind: "", master: "br0", mtu: 1500, up: true),
        ObservedInterface(name: "isth-other", kind: "gretap", alias: "isthmus:other", mtu: 1462, up: true,
                          parameters: ["local": "192.0.2.1", "remote": "203.0.113.1"]),
    ])
}

private func plan(_ d: DesiredState?, _ o: ObservedState) throws -> [Change] {
    try Planner.plan(desired: d, observed: o, segment: "lab")
}

private func lines(_ changes: [Change]) -> [String] { changes.map(\.description) }

/// The host after `d` was applied to a fresh host.
private func applied(_ d: DesiredState, to o: ObservedState = freshHost()) throws -> ObservedState {
    Planner.apply(try plan(d, o), to: o)
}

// MARK: - Tests

@Suite("Site planner")
struct PlannerTests {
    @Test("fresh host: the full create list, in order", arguments: [
        (vxlan, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (vxlan3, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 dstport 4789 df unset",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set eth2 master br-lab",
            "~ link set eth2 up",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
            "+ fdb append 00:00:00:00:00:00 dev isth-lab dst 203.0.113.9",
            "+ fdb append 00:00:00:00:00:00 dev isth-lab dst 198.51.100.7",
        ]),
        (l2tp, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ l2tp add tunnel+session name isth-lab tunnel_id 1 peer_tunnel_id 2 session_id 1 peer_session_id 2 encap udp local 192.0.2.1 remote 198.51.100.7 udp_sport 1701 udp_dport 1701 (alias isthmus:lab)",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (gretap, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type gretap local 192.0.2.1 remote 198.51.100.7 key 77 nopmtudisc ignore-df",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (greInUDP, [
            "+ fou add port 4754 ipproto 47",
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type gretap local 192.0.2.1 remote 198.51.100.7 encap fou encap-sport auto encap-dport 4754 nopmtudisc ignore-df",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (ipip, [
            "+ link add isth-lab alias isthmus:lab type ipip local 192.0.2.1 remote 198.51.100.7 pmtudisc",
            "~ link set isth-lab mtu 1480",
            "~ link set isth-lab up",
            "+ addr add 10.255.0.1/30 dev isth-lab",
            "+ route add 10.2.0.0/16 via 10.255.0.2 dev isth-lab",
            "+ route add 10.3.0.0/16 via 10.255.0.2 dev isth-lab",
        ]),
        (userspace, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ run isthmus tunnel run isth-lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 (alias isthmus:lab)",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (gretap6, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type ip6gretap local 2001:db8::1 remote 2001:db8::7",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (gre6, [
            "+ link add isth-lab alias isthmus:lab type ip6gre local 2001:db8::1 remote 2001:db8::7",
            "~ link set isth-lab mtu 1456",
            "~ link set isth-lab up",
            "+ addr add fd00::1/64 dev isth-lab",
            "+ route add 2001:db8:2::/48 via fd00::2 dev isth-lab",
            "+ route add 10.2.0.0/16 dev isth-lab",
        ]),
        (sit, [
            "+ link add isth-lab alias isthmus:lab type sit local 192.0.2.1 remote 198.51.100.7 pmtudisc",
            "~ link set isth-lab mtu 1480",
            "~ link set isth-lab up",
            "+ addr add fd00::1/64 dev isth-lab",
            "+ route add 2001:db8:2::/48 via fd00::2 dev isth-lab",
        ]),
    ])
    func fresh(_ config: String, _ expected: [String]) throws {
        let d = try desired(config)
        let changes = try plan(d, freshHost())
        #expect(lines(changes) == expected, "\(Planner.render(changes))")
        // Applied: no changes left, and nothing foreign touched.
        let after = Planner.apply(changes, to: freshHost())
        #expect(try plan(d, after).isEmpty)
        for name in ["lo", "eth0", "br0", "eth3", "isth-other"] { #expect(after[name] == freshHost()[name]) }
    }

    @Test("the fake OS after a fresh vxlan apply, as an iproute2-style dump")
    func dump() throws {
        let after = try applied(try desired(vxlan))
        #expect(after.dump.filter { $0.contains("lab") || $0.hasPrefix("link eth1") } == [
            "link br-lab type bridge alias isthmus:lab mtu 1500 up",
            "link eth1 mtu 1500 master br-lab up",
            "link isth-lab type vxlan alias isthmus:lab mtu 1500 master br-lab up df unset dstport 4789 id 42 local 192.0.2.1 remote 198.51.100.7",
        ])
    }

    @Test("L2TPv3 with cookies over IP: the derived cookies, hex, as `ip l2tp` takes them")
    func l2tpCookieWords() throws {
        let d = try desired(l2tpCookies)
        let east = SiteConfig.cookie(segment: "lab", site: "east").map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let west = SiteConfig.cookie(segment: "lab", site: "west").map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(d.tunnel.kind == "l2tpeth")
        #expect(d.tunnel.parameterWords == "tunnel_id 1 peer_tunnel_id 2 session_id 1 peer_session_id 2 encap ip local 192.0.2.1 remote 198.51.100.7 cookie \(east) peer_cookie \(west)")
        // The device carries the LAN's 1500 (fragment, the Ethernet default); what crosses unfragmented is
        // 1500 - 20 IP - 4 session - 8 cookie - 4 L2-specific - 14 Ethernet.
        #expect(d.tunnel.mtu == 1500)
        #expect(try segment(l2tpCookies).mtuPlan.tunnelMTU == 1500 - 20 - 4 - 8 - 4 - 14)
    }

    @Test("already applied: no changes")
    func alreadyApplied() throws {
        for config in [vxlan, vxlan3, l2tp, gretap, greInUDP, ipip, userspace] {
            let d = try desired(config)
            let changes = try plan(d, try applied(d))
            #expect(changes.isEmpty)
            #expect(Planner.render(changes) == "no changes")
        }
    }

    /// Each drift, made by hand on an applied vxlan host, and its one repair.
    @Test("drift is repaired, one change each", arguments: [
        ("tunnel deleted by hand", [
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset (missing: deleted by hand)",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        ("MTU changed by hand", [
            "~ link set isth-lab mtu 1500 (was 1400: changed by hand)",
        ]),
        ("bridge MTU changed by hand", [
            "~ link set br-lab mtu 1500 (was 9000: changed by hand)",
        ]),
        ("parameter changed", [
            "- link del isth-lab (parameters changed: remote 198.51.100.99 → 198.51.100.7)",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset (parameters changed: remote 198.51.100.99 → 198.51.100.7)",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        ("LAN port unenslaved", [
            "~ link set eth1 master br-lab (not enslaved: changed by hand)",
        ]),
        ("tunnel set down", [
            "~ link set isth-lab up (was down: changed by hand)",
        ]),
    ])
    func drift(_ what: String, _ expected: [String]) throws {
        let d = try desired(vxlan)
        var o = try applied(d)
        switch what {
        case "tunnel deleted by hand": o["isth-lab"] = nil
        case "MTU changed by hand": o["isth-lab"]!.mtu = 1400
        case "bridge MTU changed by hand": o["br-lab"]!.mtu = 9000
        case "parameter changed": o["isth-lab"]!.parameters["remote"] = "198.51.100.99"
        case "LAN port unenslaved": o["eth1"]!.master = nil
        default: o["isth-lab"]!.up = false
        }
        let changes = try plan(d, o)
        #expect(lines(changes) == expected, "\(what):\n\(Planner.render(changes))")
        #expect(try plan(d, Planner.apply(changes, to: o)).isEmpty, "\(what)")
    }

    @Test("userspace: a process with other words is restarted; a dead one started again")
    func userspaceDrift() throws {
        let d = try desired(userspace)
        var o = try applied(d)
        o.userspaceTunnels["isth-lab"] = "type vxlan id 43 local 192.0.2.1 remote 198.51.100.7 dstport 4789"
        let changes = try plan(d, o)
        #expect(lines(changes).prefix(2) == [
            "- stop isthmus tunnel run isth-lab (parameters changed: was \"type vxlan id 43 local 192.0.2.1 remote 198.51.100.7 dstport 4789\")",
            "+ run isthmus tunnel run isth-lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 (alias isthmus:lab) (parameters changed: was \"type vxlan id 43 local 192.0.2.1 remote 198.51.100.7 dstport 4789\")",
        ])
        #expect(try plan(d, Planner.apply(changes, to: o)).isEmpty)
    }

    @Test("L3: a route deleted by hand is added back; one added by hand on our device is the user's, left alone")
    func l3Drift() throws {
        let d = try desired(ipip)
        var o = try applied(d)
        o["isth-lab"]!.routes = ["10.2.0.0/16 via 10.255.0.2", "192.168.0.0/24"]
        o["isth-lab"]!.addresses.append("10.254.0.1/30")
        let changes = try plan(d, o)
        #expect(lines(changes) == ["+ route add 10.3.0.0/16 via 10.255.0.2 dev isth-lab"])
        #expect(try plan(d, Planner.apply(changes, to: o)).isEmpty)
    }

    @Test("down: removes only what this segment owns; LAN ports released, not deleted; twice is empty")
    func down() throws {
        for config in [vxlan, vxlan3, gretap, greInUDP, ipip, userspace, l2tp] {
            let d = try desired(config)
            let up = try applied(d)
            let changes = try plan(nil, up)
            let after = Planner.apply(changes, to: up)
            // Back to the fresh host exactly: foreign things untouched, LAN ports still there (released).
            var expectedHost = freshHost()
            if d.ports.contains(where: { $0.name == "eth2" }) { expectedHost["eth2"]!.up = true }
            #expect(after.dump == expectedHost.dump, "\(config)\n\(Planner.render(changes))")
            #expect(try plan(nil, after).isEmpty)
            #expect(!changes.contains { if case .delete(let n, _, _) = $0 { n.hasPrefix("eth") || n == "br0" || n == "isth-other" } else { false } })
            // Each change once (a userspace tunnel's stop was listed twice: for its device and for its process).
            #expect(Set(lines(changes)).count == changes.count, "\(config): a change listed twice:\n\(Planner.render(changes))")
        }
        // The userspace tunnel's process alone (its device already gone) is still stopped, once.
        var gone = try applied(try desired(userspace))
        gone["isth-lab"] = nil
        #expect(lines(try plan(nil, gone)).filter { $0.hasPrefix("- stop isthmus tunnel run") }.count == 1)
        let changes = try plan(nil, try applied(try desired(vxlan)))
        #expect(lines(changes) == [
            "~ link set eth1 nomaster (releasing from br-lab)",
            "- link del isth-lab (segment down)",
            "- link del br-lab (segment down)",
        ])
        #expect(lines(try plan(nil, try applied(try desired(greInUDP)))) == [
            "~ link set eth1 nomaster (releasing from br-lab)",
            "- link del isth-lab (segment down)",
            "- link del br-lab (segment down)",
            "- fou del port 4754",
        ])
    }

    @Test("an owned interface no longer desired is deleted (bridge renamed in the config)")
    func renamedBridge() throws {
        let old = try desired(vxlan)
        let new = try desired(ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\"]", "bridge = \"br-new\""]))
        let o = try applied(old)
        let changes = try plan(new, o)
        #expect(lines(changes) == [
            "~ link set eth1 nomaster (releasing from br-lab)",
            "- link del br-lab (no longer in the config)",
            "+ link add br-new alias isthmus:lab type bridge (new in the config)",
            "~ link set br-new mtu 1500",
            "~ link set br-new up",
            "~ link set eth1 master br-new",
            "~ link set isth-lab master br-new",
        ])
        #expect(try plan(new, Planner.apply(changes, to: o)).isEmpty)
    }

    @Test("conflict: a foreign interface with our name is an error naming it and the fix", arguments: [
        ("br-lab", nil as String?, "no alias"),
        ("isth-lab", "isthmus:other", "alias \"isthmus:other\""),
    ])
    func conflict(_ name: String, _ alias: String?, _ owner: String) throws {
        var o = freshHost()
        o[name] = ObservedInterface(name: name, kind: "bridge", alias: alias, up: true)
        let d = try desired(vxlan)
        let e = #expect(throws: PlanError.self) { try plan(d, o) }
        #expect(e?.message.contains("interface \(name) exists but is not Isthmus's for segment lab (\(owner))") == true, "\(String(describing: e))")
        #expect(e?.hint.contains("ip link del \(name)") == true)
        #expect(e?.hint.contains("ip link set \(name) alias isthmus:lab") == true)
        // Never touched by down either.
        let downChanges = try plan(nil, o)
        #expect(downChanges.isEmpty)
    }

    @Test("a missing LAN port, or one in someone else's bridge, is an error")
    func badPorts() throws {
        var o = freshHost()
        o["eth1"] = nil
        let d = try desired(vxlan)
        let missing = #expect(throws: PlanError.self) { try plan(d, o) }
        #expect(missing?.message == "LAN port eth1 does not exist")
        o = freshHost()
        o["eth1"]!.master = "br0"
        let taken = #expect(throws: PlanError.self) { try plan(d, o) }
        #expect(taken?.message.contains("eth1 is enslaved to br0, not to br-lab") == true)
    }

    @Test("tunnel_device names the tunnel (kernel and userspace); renaming it replaces the device; down removes it")
    func namedTunnelDevice() throws {
        let named = ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\"]", "tunnel_device = \"vx-home\""])
        let d = try desired(named)
        #expect(d.tunnel.name == "vx-home")
        let fresh = lines(try plan(d, freshHost()))
        #expect(fresh.contains { $0.hasPrefix("+ link add vx-home alias isthmus:lab type vxlan") }, "\(fresh)")
        #expect(!fresh.contains { $0.contains("isth-lab") }, "\(fresh)")
        #expect(fresh.contains("~ link set vx-home master br-lab"))
        // From the default name to the configured one: the old device goes, the new one comes.
        let o = try applied(try desired(vxlan))
        let renamed = lines(try plan(d, o))
        #expect(renamed.contains { $0.hasPrefix("- link del isth-lab") }, "\(renamed)")
        #expect(renamed.contains { $0.hasPrefix("+ link add vx-home alias isthmus:lab type vxlan") }, "\(renamed)")
        let after = try Planner.apply(try plan(d, o), to: o)
        #expect(try plan(d, after).isEmpty)
        #expect(lines(try plan(nil, after)).contains { $0.hasPrefix("- link del vx-home") })
        // Userspace: the process is named for the device too.
        let u = try desired(named, dataplane: .userspace)
        #expect(lines(try plan(u, freshHost())).contains { $0.hasPrefix("+ run isthmus tunnel run vx-home type vxlan") })
    }

    @Test("tunnel names are cut to 15 bytes")
    func names() {
        #expect(DesiredState.tunnelName(segment: "lab") == "isth-lab")
        #expect(DesiredState.tunnelName(segment: "a-very-long-segment") == "isth-a-very-lon")
    }

    @Test("idempotence: random drift, plan, apply, plan again is empty")
    func idempotence() throws {
        var rng = PlannerRNG(seed: 0x15_7E_4D)
        let configs = [vxlan, vxlan3, l2tp, l2tpCookies, gretap, greInUDP, ipip, userspace]
        let foreign = ["lo", "eth0", "br0", "eth3", "isth-other"]
        for round in 0..<400 {
            let d = try desired(configs[round % configs.count])
            let wantDown = rng.next() % 8 == 0
            var o = try applied(d)
            for _ in 0..<Int(rng.next() % 4) + 1 { perturb(&o, d, &rng) }
            let first = try plan(wantDown ? nil : d, o)
            let after = Planner.apply(first, to: o)
            let again = try plan(wantDown ? nil : d, after)
            #expect(again.isEmpty, "round \(round): after\n\(Planner.render(first))\nstill:\n\(Planner.render(again))")
            for name in foreign { #expect(after[name] == o[name], "round \(round): \(name) touched") }
            for p in ["eth1", "eth2"] { #expect(after[p] != nil, "round \(round): LAN port \(p) deleted") }
            if wantDown {
                #expect(!after.interfaces.values.contains { $0.alias == "isthmus:lab" }, "round \(round)")
            } else {
                // Converged, not just stable: what the config names looks exactly as on a freshly applied host.
                let reference = try applied(d)
                for name in d.owned.map(\.name) + d.ports.map(\.name) {
                    // A route the user added (perturbation 7) is theirs: it stays.
                    var got = normalized(after[name])
                    got?.routes.removeAll { $0 == "192.168.9.0/24" }
                    #expect(got == normalized(reference[name]), "round \(round): \(name) not repaired")
                }
                #expect(after.userspaceTunnels == reference.userspaceTunnels, "round \(round)")
                #expect(reference.fouPorts.isSubset(of: after.fouPorts), "round \(round)")
                #expect(!after.interfaces.values.contains { $0.alias == "isthmus:lab" && reference[$0.name] == nil }, "round \(round): stale left")
            }
        }
    }

    // MARK: - outer DF handling, stated for every kernel kind

    @Test("the outer-DF words of each kind: always stated on the kernel data plane, never on the userspace one", arguments: [
        (vxlan, nil, "id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset"),
        (vxlanUnfragmented, nil, "id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset"),
        (vxlan, ResolvedDataplane.userspace, "type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789"),
        (gretap, nil, "local 192.0.2.1 remote 198.51.100.7 key 77 nopmtudisc ignore-df"),
        (gretap, .userspace, "type gretap local 192.0.2.1 remote 198.51.100.7 key 77"),
        (greInUDP, nil, "local 192.0.2.1 remote 198.51.100.7 encap fou encap-sport auto encap-dport 4754 nopmtudisc ignore-df"),
        (gretap6, nil, "local 2001:db8::1 remote 2001:db8::7"),
        (l2tp, nil, "tunnel_id 1 peer_tunnel_id 2 session_id 1 peer_session_id 2 encap udp local 192.0.2.1 remote 198.51.100.7 udp_sport 1701 udp_dport 1701"),
        (ipip, nil, "local 192.0.2.1 remote 198.51.100.7 pmtudisc"),
        (ipip, .userspace, "type ipip local 192.0.2.1 remote 198.51.100.7"),
        (l3("ipip", ["underlay_mtu = 1280", "mtu = 1400", "fragment = true"]), nil, "local 192.0.2.1 remote 198.51.100.7 nopmtudisc"),
        (l3("ipip", [], v6: true), nil, "local 2001:db8::1 remote 2001:db8::7 mode ipip6"),
        (l3("ipip", ["underlay_mtu = 1280", "mtu = 1400", "fragment = true"], v6: true), nil, "local 2001:db8::1 remote 2001:db8::7 mode ipip6"),
        (l3("gre", []), nil, "local 192.0.2.1 remote 198.51.100.7 pmtudisc"),
        (l3("gre", ["key = 5", "underlay_mtu = 1280", "mtu = 1400", "fragment = true"]), nil,
         "local 192.0.2.1 remote 198.51.100.7 key 5 nopmtudisc ignore-df"),
        (gre6, nil, "local 2001:db8::1 remote 2001:db8::7"),
        (sit, nil, "local 192.0.2.1 remote 198.51.100.7 pmtudisc"),
        (sit.replacing("name = \"lab\"\n", with: "name = \"lab\"\nunderlay_mtu = 1280\nmtu = 1400\nfragment = true\n"), nil,
         "local 192.0.2.1 remote 198.51.100.7 nopmtudisc"),
        (sit, .userspace, "type sit local 192.0.2.1 remote 198.51.100.7"),
    ] as [(String, ResolvedDataplane?, String)])
    func dfWords(_ config: String, _ plane: ResolvedDataplane?, _ words: String) throws {
        let d = try desired(config, dataplane: plane)
        #expect(d.tunnel.parameterWords == words)
        // A hand-made change of the DF handling is drift: the tunnel is replaced with the stated words.
        guard plane != .userspace, let last = d.tunnel.parameters.last, ["df", "pmtudisc", "nopmtudisc", "ignore-df"].contains(last.key) else { return }
        var o = try applied(d)
        let reason: String
        switch last.key {
        case "df": o["isth-lab"]!.parameters["df"] = "set"; reason = "df set → unset"
        case "pmtudisc":
            o["isth-lab"]!.parameters["pmtudisc"] = nil; o["isth-lab"]!.parameters["nopmtudisc"] = ""
            reason = "nopmtudisc set → unset, pmtudisc unset → set"
        case "nopmtudisc":
            o["isth-lab"]!.parameters["nopmtudisc"] = nil; o["isth-lab"]!.parameters["pmtudisc"] = ""
            reason = "nopmtudisc unset → set, pmtudisc set → unset"
        default: o["isth-lab"]!.parameters["ignore-df"] = nil; reason = "ignore-df unset → set"
        }
        let changes = try plan(d, o)
        #expect(lines(changes).first == "- link del isth-lab (parameters changed: \(reason))", "\(Planner.render(changes))")
        #expect(try plan(d, Planner.apply(changes, to: o)).isEmpty)
    }

    @Test("fragment = false: an Ethernet segment gets the unfragmented MTU, end to end")
    func ethernetUnfragmented() throws {
        let d = try desired(vxlanUnfragmented)
        let changes = try plan(d, freshHost())
        #expect(lines(changes) == [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset",
            "~ link set br-lab mtu 1450",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1450",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ])
        var o = Planner.apply(changes, to: freshHost())
        #expect(try plan(d, o).isEmpty)
        // The old default is now a drift, and so is the new one.
        o["isth-lab"]!.mtu = 1500
        #expect(lines(try plan(d, o)) == ["~ link set isth-lab mtu 1450 (was 1500: changed by hand)"])
        let side = try segment(vxlanUnfragmented).side(for: "east")
        #expect(side.tunnelMTU == 1450 && side.mtuPlan.tunnelMTU == 1450 && side.mssIPv4 == 1410 && side.mssIPv6 == 1390)
        let g = try desired(gretapUnfragmented)
        #expect(g.tunnel.mtu == 1500 - 20 - 8 - 14 && g.bridge?.mtu == g.tunnel.mtu)
    }

    /// The outer packets are fragmented exactly when the tunnel MTU exceeds what the underlay carries: with
    /// `fragment = false` they are not, so IPv4 GRE keeps `pmtudisc` and a kernel VXLAN gets no DF-clearing rule.
    @Test("fragment = false: no outer fragmentation, so IPv4 GRE keeps path MTU discovery")
    func ethernetUnfragmentedDF() throws {
        let side = try segment(gretapUnfragmented).side(for: "east")
        let g = try desired(gretapUnfragmented)
        #expect(side.tunnelMTU == 1458 && side.tunnelMTU == side.mtuPlan.tunnelMTU)
        let v = try segment(vxlanUnfragmented).side(for: "east")
        #expect(!side.outerFragmentation)
        #expect(!v.outerFragmentation, "the agent would clear DF for an unfragmented kernel VXLAN")
        #expect(g.tunnel.parameterWords == "local 192.0.2.1 remote 198.51.100.7 key 77 pmtudisc")
    }

    // MARK: - rollback (Planner.restore)

    @Test("restore after a fresh apply: ports released, then tunnel, then bridge deleted")
    func restoreGolden() throws {
        let d = try desired(vxlan)
        let after = try applied(d)
        let back = Planner.restore(to: freshHost(), from: after, segment: "lab")
        #expect(lines(back) == [
            "~ link set eth1 nomaster (rollback)",
            "- link del isth-lab (rollback)",
            "- link del br-lab (rollback)",
        ])
        #expect(Planner.apply(back, to: after).dump == freshHost().dump)
    }

    @Test("restore after a replace that failed right after the create: the snapshot's device comes back as it was")
    func restoreReplaceGolden() throws {
        let d = try desired(vxlan)
        var before = try applied(d)
        before["isth-lab"]!.parameters["remote"] = "198.51.100.99"
        before["isth-lab"]!.mtu = 1400
        let changes = try plan(d, before)
        #expect(lines(changes) == [
            "- link del isth-lab (parameters changed: remote 198.51.100.99 → 198.51.100.7)",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset (parameters changed: remote 198.51.100.99 → 198.51.100.7)",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ])
        let partial = Planner.apply(Array(changes.prefix(2)), to: before)
        let back = Planner.restore(to: before, from: partial, segment: "lab")
        #expect(lines(back) == [
            "- link del isth-lab (rollback)",
            "+ link add isth-lab alias isthmus:lab type vxlan df unset dstport 4789 id 42 local 192.0.2.1 remote 198.51.100.99 (rollback)",
            "~ link set isth-lab mtu 1400",
            "~ link set isth-lab master br-lab (rollback)",
            "~ link set isth-lab up",
        ])
        #expect(Planner.apply(back, to: partial).dump == before.dump)
    }

    @Test("restore puts an interface that was down back down, and a port that was free back out of the bridge")
    func restoreSetDown() throws {
        let d = try desired(vxlan)
        var before = try applied(d)
        before["isth-lab"]!.up = false
        before["eth1"]!.master = nil
        let changes = try plan(d, before)
        #expect(lines(changes) == [
            "~ link set eth1 master br-lab (not enslaved: changed by hand)",
            "~ link set isth-lab up (was down: changed by hand)",
        ])
        let partial = Planner.apply(changes, to: before)
        let back = Planner.restore(to: before, from: partial, segment: "lab")
        #expect(lines(back) == [
            "~ link set eth1 nomaster (rollback)",
            "~ link set isth-lab down",
        ])
        #expect(Planner.apply(back, to: partial).dump == before.dump)
    }

    @Test("restore restarts a replaced userspace process with its old words")
    func restoreUserspace() throws {
        let d = try desired(userspace)
        var before = try applied(d)
        before["isth-lab"]!.up = false
        before.userspaceTunnels["isth-lab"] = "type vxlan id 43 local 192.0.2.1 remote 198.51.100.7 dstport 4789"
        let changes = try plan(d, before)
        // Failed after the restart and every attribute: the process with the old words, its device down again.
        let partial = Planner.apply(changes, to: before)
        let back = Planner.restore(to: before, from: partial, segment: "lab")
        #expect(lines(back) == [
            "- stop isthmus tunnel run isth-lab (rollback)",
            "+ run isthmus tunnel run isth-lab type vxlan id 43 local 192.0.2.1 remote 198.51.100.7 dstport 4789 (alias isthmus:lab) (rollback)",
            "~ link set isth-lab master br-lab (rollback)",
        ])
        #expect(Planner.apply(back, to: partial).dump == before.dump)
    }

    @Test("restore, from a fresh host: every fixture, both data planes, after every prefix of the plan")
    func restoreFresh() throws {
        for (label, d) in try everyFixture() {
            expectRestores(freshHost(), try plan(d, freshHost()), label + ", fresh host")
            // And a `down` that failed part-way.
            let up = try applied(d)
            expectRestores(up, try plan(nil, up), label + ", down")
        }
    }

    @Test("restore, from a drifted host: every fixture, both data planes, each drift, after every prefix of the plan")
    func restoreDrifted() throws {
        for (label, d) in try everyFixture() {
            var seen = 0
            for drift in Drift.allCases {
                var o = try applied(d)
                guard drift.apply(&o, d) else { continue }
                seen += 1
                #expect(o != (try applied(d)), "\(label): \(drift) changed nothing")
                let changes = try plan(d, o)
                #expect(!changes.isEmpty, "\(label): \(drift) is no drift")
                expectRestores(o, changes, "\(label), drift \(drift)")
                expectRestores(o, try plan(nil, o), "\(label), drift \(drift), down")
            }
            #expect(seen >= 6, "\(label): only \(seen) drifts apply")
        }
    }

    @Test("restore, from 400 randomly drifted hosts (the idempotence test's drifts), up or down")
    func restoreRandom() throws {
        var rng = PlannerRNG(seed: 0x2E_57_0E)
        let all = try everyFixture()
        var skipped = 0
        for round in 0..<400 {
            let (label, d) = all[round % all.count]
            var o = try applied(d)
            for _ in 0..<Int(rng.next() % 4) + 1 { perturb(&o, d, &rng) }
            let wantDown = rng.next() % 8 == 0
            // A userspace process always comes with its own TAP/TUN device: a host where it runs without one (deleted by
            // hand) or beside another kind of device (recreated by hand) cannot be put back by (re)starting processes.
            if o.userspaceTunnels[d.tunnel.name] != nil && o[d.tunnel.name]?.kind != "tun" { skipped += 1; continue }
            expectRestores(o, try plan(wantDown ? nil : d, o), "round \(round), \(label)\(wantDown ? ", down" : "")")
        }
        #expect(skipped < 60, "\(skipped) of 400 rounds skipped")
    }
}

/// Every fixture on each data plane it has: the userspace data plane refuses a vxlan of more than two sites.
private func everyFixture(sourceLocation: SourceLocation = #_sourceLocation) throws -> [(label: String, d: DesiredState)] {
    var out: [(String, DesiredState)] = []
    for (name, config) in fixtures {
        for plane in [ResolvedDataplane.kernel, .userspace] {
            if name == "vxlan3" && plane == .userspace {
                let e = #expect(throws: PlanError.self, sourceLocation: sourceLocation) { try desired(config, dataplane: plane) }
                #expect(e?.message == "segment lab: the userspace data plane sends to one known peer, but vxlan here has 2",
                        sourceLocation: sourceLocation)
                continue
            }
            out.append(("\(name) (\(plane))", try desired(config, dataplane: plane)))
        }
    }
    return out
}

/// The user's interfaces on `freshHost()`: a rollback may re-enslave them or bring them up or down, never create or
/// delete them.
private let usersInterfaces: Set<String> = ["lo", "eth0", "eth1", "eth2", "br0", "eth3", "isth-other"]

/// An apply of `changes` to `start` that failed after each number of steps (0...count), then rolled back with
/// `Planner.restore`: the host is `start` again, exactly, and the rollback never creates or deletes the user's
/// interfaces. Restoring an unchanged host (nothing applied, or after the rollback) is no change at all.
private func expectRestores(_ start: ObservedState, _ changes: [Change], _ label: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    for k in 0...changes.count {
        let done = Array(changes.prefix(k))
        let partial = Planner.apply(done, to: start)
        let back = Planner.restore(to: start, from: partial, segment: "lab")
        let restored = Planner.apply(back, to: partial)
        let context = "\(label), failed after \(k) of \(changes.count):\n\(Planner.render(done))\nrollback:\n\(Planner.render(back))"
        // A TAP/TUN of the segment that no process holds (its process died) cannot be remade, and restore does not
        // try: once the partial plan deleted or replaced it, the state rolled back to is `start` without it.
        var want = start
        for (n, i) in start.interfaces where i.kind == "tun" && i.alias == "isthmus:lab" && start.userspaceTunnels[n] == nil {
            if partial[n] == nil || partial.userspaceTunnels[n] != nil || partial[n]!.kind != "tun" { want[n] = nil }
        }
        #expect(restored.dump == want.dump, "\(context)\ngot:\n\(restored.dump.joined(separator: "\n"))\nwant:\n\(want.dump.joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        if k == 0 { #expect(back.isEmpty, "\(context)", sourceLocation: sourceLocation) }
        #expect(Planner.restore(to: start, from: restored, segment: "lab").isEmpty, "\(context)", sourceLocation: sourceLocation)
        for c in back {
            switch c {
            case .create(let s, _, _): #expect(!usersInterfaces.contains(s.name), "\(context)", sourceLocation: sourceLocation)
            case .delete(let n, _, _): #expect(!usersInterfaces.contains(n), "\(context)", sourceLocation: sourceLocation)
            default: break
            }
        }
    }
}

/// A named change by hand to an applied host, for the rollback tests (`apply` is false when it does not apply to `d`).
private enum Drift: CaseIterable {
    case tunnelDeleted, bridgeDeleted, portReleased, portDown, mtuChanged, bridgeMTUChanged, parameterChanged,
         kindChanged, tunnelDown, processDied, routeReplaced, routeRemoved, addressRemoved, fdbRemoved, fouRemoved,
         staleBridge, staleTunnel

    func apply(_ o: inout ObservedState, _ d: DesiredState) -> Bool {
        let t = d.tunnel.name
        // A managed L2TPv3 tunnel has no device until its session is up (the fake OS has no peer).
        let deviceDrifts: [Drift] = [.mtuChanged, .kindChanged, .tunnelDown, .routeReplaced, .routeRemoved, .addressRemoved, .fdbRemoved]
        if o[t] == nil && deviceDrifts.contains(self) { return false }
        switch self {
        case .tunnelDeleted:                        // for the userspace data plane: the process with it
            o[t] = nil
            o.userspaceTunnels[t] = nil
        case .bridgeDeleted:
            guard let b = d.bridge?.name else { return false }
            o[b] = nil
            for (k, v) in o.interfaces where v.master == b { o.interfaces[k]!.master = nil }
        case .portReleased:
            guard let p = d.ports.first else { return false }
            o[p.name]!.master = nil
        case .portDown:
            guard let p = d.ports.last else { return false }
            o[p.name]!.up = false
        case .mtuChanged: o[t]!.mtu = 1400
        case .bridgeMTUChanged:
            guard let b = d.bridge?.name else { return false }
            o[b]!.mtu = 9000
        case .parameterChanged:                     // replaced: device or process
            if d.tunnel.isUserspace { o.userspaceTunnels[t]! += " tos 1" } else { o[t]!.parameters["local"] = "192.0.2.99" }
        case .kindChanged:
            guard !d.tunnel.isUserspace else { return false }
            o[t]!.kind = "dummy"
        case .tunnelDown: o[t]!.up = false
        case .processDied:                          // its device lingers (restore does not remake such a TAP)
            guard d.tunnel.isUserspace else { return false }
            o.userspaceTunnels[t] = nil
        case .routeReplaced:                        // a config route deleted, one of the user's added: only the first is drift
            guard !d.tunnel.routes.isEmpty else { return false }
            o[t]!.routes[0] = "192.168.9.0/24"
        case .routeRemoved:
            guard !d.tunnel.routes.isEmpty else { return false }
            o[t]!.routes.removeFirst()
        case .addressRemoved:
            guard !d.tunnel.addresses.isEmpty else { return false }
            o[t]!.addresses.removeAll()
        case .fdbRemoved:
            guard !d.tunnel.fdb.isEmpty else { return false }
            o[t]!.fdb.removeLast()
        case .fouRemoved:
            guard d.fouPort != nil else { return false }
            o.fouPorts.removeAll()
        case .staleBridge:                          // a bridge of an older config, with a LAN port in it
            o["br-old"] = ObservedInterface(name: "br-old", kind: "bridge", alias: "isthmus:lab", mtu: 1400, up: true)
            if !d.ports.contains(where: { $0.name == "eth2" }) { o["eth2"]!.master = "br-old" }
        case .staleTunnel:                          // a GRE-in-UDP tunnel of an older config, and its FOU port
            o["isth-lab-old"] = ObservedInterface(name: "isth-lab-old", kind: "gretap", alias: "isthmus:lab", mtu: 1462, up: true,
                                                  parameters: ["local": "192.0.2.1", "remote": "203.0.113.5", "encap": "fou",
                                                               "encap-sport": "auto", "encap-dport": "5555"])
            o.fouPorts.insert("5555 ipproto 47")
        }
        return true
    }
}

/// An interface with its lists sorted (order of addresses, routes and FDB entries does not matter); LAN ports'
/// up state is the user's before Isthmus, so only their master is compared.
private func normalized(_ i: ObservedInterface?) -> ObservedInterface? {
    guard var i else { return nil }
    i.addresses.sort(); i.routes.sort(); i.fdb.sort()
    if i.alias == nil { i.up = true }
    return i
}

/// One random change by hand to an applied host (never a conflict: only this segment's things are touched).
private func perturb(_ o: inout ObservedState, _ d: DesiredState, _ rng: inout PlannerRNG) {
    let owned = d.owned.map(\.name)
    let target = owned[Int(rng.next() % UInt64(owned.count))]
    switch rng.next() % 11 {
    case 0: o[target] = nil                                           // deleted by hand (its ports fall out)
        for (k, v) in o.interfaces where v.master == target { o.interfaces[k]!.master = nil }
    case 1: o[target]?.mtu = [1280, 1400, 1500, 9000][Int(rng.next() % 4)]
    case 2: o[target]?.up = false
    case 3: if let k = o[target]?.parameters.keys.sorted().first { o[target]!.parameters[k] = "999" }
    case 4: for p in d.ports { o[p.name]?.master = nil }              // LAN ports unenslaved
    case 5: for p in d.ports { o[p.name]?.up = false }
    case 6: o.userspaceTunnels[d.tunnel.name] = nil                   // process died (its device may linger)
    case 7:                                                           // the user's route (the kernel has no duplicates); FDB lost
        if o[d.tunnel.name]?.routes.contains("192.168.9.0/24") == false { o[d.tunnel.name]?.routes.append("192.168.9.0/24") }
        o[d.tunnel.name]?.fdb.removeAll()
    case 8: o.fouPorts.removeAll()
    case 9:                                                           // a leftover of an older config
        o["br-old"] = ObservedInterface(name: "br-old", kind: "bridge", alias: "isthmus:lab", up: true)
        if !d.ports.contains(where: { $0.name == "eth2" }) { o["eth2"]?.master = "br-old" }
    default: o[target]?.kind = "dummy"                                // recreated by hand as something else
    }
}

private typealias PlannerRNG = SeededRandom

/// `control = "l2tpv3"`: the tunnel is an `isthmus tunnel run NAME type l2tp-control` process whose device appears
/// only when its session is up (the agent then sets alias, bridge, MTU and up itself).
@Suite("Site planner: L2TPv3 with the control protocol")
struct ManagedL2TPPlannerTests {
    static let words = "type l2tp-control local 192.0.2.1 remote 198.51.100.7 role initiator udp_sport 1701 udp_dport 1701 "
        + "pseudowire lab cookie 8 dataplane kernel bridge br-lab mtu 1500 alias isthmus:lab host east secret-file /run/isthmus/sites/lab.secret"

    @Test("the process's words: role by name order, data plane, bridge, alias, secret file")
    func words() throws {
        let east = try desired(l2tpControl)
        #expect(east.tunnel.isManaged && east.tunnel.parameterWords == Self.words)
        let west = try desired(l2tpControl, site: "west", dataplane: .userspace)
        #expect(west.tunnel.parameterWords.contains("role responder") && west.tunnel.parameterWords.contains("dataplane userspace"))
        #expect(west.tunnel.parameterWords.contains("local 198.51.100.7 remote 192.0.2.1"))
        let open = try desired(ethernet(["tunnel = \"l2tpv3\"", "control = \"l2tpv3\"", "cookies = false"]))
        #expect(open.tunnel.parameterWords.contains("cookie 0") && !open.tunnel.parameterWords.contains("secret-file"))
    }

    @Test("fresh host: bridge and ports, then the agent; with no session yet the host is in sync")
    func fresh() throws {
        let d = try desired(l2tpControl)
        let changes = try plan(d, freshHost())
        #expect(lines(changes).contains("+ run isthmus tunnel run isth-lab \(Self.words) (alias isthmus:lab)"))
        // Nothing is planned for the device the agent has not made yet.
        #expect(!lines(changes).contains { $0.contains("isth-lab") && !$0.contains("tunnel run") })
        let o = Planner.apply(changes, to: freshHost())
        #expect(o["isth-lab"] == nil && o.userspaceTunnels["isth-lab"] == Self.words)
        #expect(try plan(d, o).isEmpty)
    }

    @Test("the session comes up: the agent's device, before and after its alias, kernel or TAP, is no drift")
    func sessionUp() throws {
        let d = try desired(l2tpControl)
        var o = try applied(d)
        for kind in ["l2tpeth", "tun"] {
            o["isth-lab"] = ObservedInterface(name: "isth-lab", kind: kind, alias: nil, master: "br-lab", mtu: 1500, up: true)
            #expect(try plan(d, o).isEmpty, "\(kind), alias not set yet")
            o["isth-lab"]!.alias = "isthmus:lab"
            #expect(try plan(d, o).isEmpty, "\(kind)")
        }
        // Taken out of the bridge by hand: put back, like any tunnel.
        o["isth-lab"]!.master = nil
        #expect(lines(try plan(d, o)) == ["~ link set isth-lab master br-lab (not enslaved: changed by hand)"])
    }

    @Test("other words restart the agent; a dead agent is started again; down stops it, session or not")
    func restartAndDown() throws {
        let d = try desired(l2tpControl)
        var o = try applied(d)
        o.userspaceTunnels["isth-lab"] = Self.words.split(separator: " ").map { $0 == "1500" ? "1400" : String($0) }.joined(separator: " ")
        #expect(lines(try plan(d, o)).map { String($0.prefix(40)) } == [
            "- stop isthmus tunnel run isth-lab (para", "+ run isthmus tunnel run isth-lab type l",
        ])
        o.userspaceTunnels["isth-lab"] = nil
        #expect(lines(try plan(d, o)) == ["+ run isthmus tunnel run isth-lab \(Self.words) (alias isthmus:lab) (missing: deleted by hand)"])
        let up = try applied(d)
        #expect(lines(try plan(nil, up)).contains("- stop isthmus tunnel run isth-lab (segment down)"))
        var withDevice = up
        withDevice["isth-lab"] = ObservedInterface(name: "isth-lab", kind: "l2tpeth", alias: "isthmus:lab", master: "br-lab", mtu: 1500, up: true)
        let down = try plan(nil, withDevice)
        #expect(lines(down).contains("- stop isthmus tunnel run isth-lab (segment down)"))
        #expect(Planner.apply(down, to: withDevice)["isth-lab"] == nil)
    }

    @Test("restore starts an agent that a failed apply stopped, though it had no device")
    func restoreWithoutDevice() throws {
        let d = try desired(l2tpControl)
        let before = try applied(d)
        let stopped = Planner.apply([.delete(name: "isth-lab", userspace: true, reason: "test")], to: before)
        let back = Planner.restore(to: before, from: stopped, segment: "lab")
        #expect(lines(back) == ["+ run isthmus tunnel run isth-lab \(Self.words) (alias isthmus:lab) (rollback)"])
        #expect(Planner.apply(back, to: stopped).dump == before.dump)
    }
}

/// A gateway's bridge is a host on its LAN (issue 14): what the kernel and the LAN's routers give it is theirs, what
/// the user puts on it is the user's, and the host's own configuration on a LAN port moves with it to the bridge.
@Suite("Site planner: the host's own addresses and routes")
struct HostAddressPlannerTests {
    /// A host whose LAN port carries the gateway's own configuration (the `ip link set eth1 master br0` set-up):
    /// an IPv4 primary and secondary, a static IPv6 address, a default route of each family through the LAN.
    static func configuredPort() -> ObservedState {
        var o = freshHost()
        o["eth1"]!.addresses = ["192.168.1.2/24", "192.168.1.3/24", "fd00:1::2/64"]
        o["eth1"]!.routes = ["0.0.0.0/0 via 192.168.1.1", "::/0 via fd00:1::1 metric 100"]
        return o
    }

    @Test("what the kernel and router advertisements make is not configuration; what ip address/route add make is")
    func classification() {
        typealias H = HostConfiguration
        // Addresses: (IFA_F_* flags, scope).
        #expect(H.isConfigured(addressFlags: 0x80, scope: 0))                 // ip address add 192.168.1.2/24 (permanent)
        #expect(H.isConfigured(addressFlags: 0x80 | 0x02, scope: 0))          // ... nodad
        #expect(!H.isConfigured(addressFlags: 0x100, scope: 0))               // SLAAC: mngtmpaddr, with lifetimes
        #expect(!H.isConfigured(addressFlags: 0x01, scope: 0))                // a privacy (temporary) address
        #expect(!H.isConfigured(addressFlags: 0x00, scope: 0))                // a DHCP lease (dynamic: valid_lft N)
        #expect(!H.isConfigured(addressFlags: 0x80, scope: 253))              // fe80::/64, the kernel's own
        // Routes: (protocol, table, type, expires).
        #expect(H.isConfigured(routeProtocol: 3, table: 254, type: 1, expires: false))   // ip route add (boot)
        #expect(H.isConfigured(routeProtocol: 4, table: 254, type: 1, expires: false))   // proto static
        #expect(!H.isConfigured(routeProtocol: 9, table: 254, type: 1, expires: true))   // RA default route
        #expect(!H.isConfigured(routeProtocol: 2, table: 254, type: 1, expires: false))  // prefix routes, fe80::/64
        #expect(!H.isConfigured(routeProtocol: 16, table: 254, type: 1, expires: false)) // a DHCP client's
        #expect(!H.isConfigured(routeProtocol: 12, table: 254, type: 1, expires: false)) // a routing daemon's (bird)
        #expect(!H.isConfigured(routeProtocol: 1, table: 254, type: 1, expires: false))  // an ICMP redirect
        #expect(!H.isConfigured(routeProtocol: 3, table: 255, type: 2, expires: false))  // the local table
        #expect(!H.isConfigured(routeProtocol: 3, table: 254, type: 5, expires: false))  // multicast
        #expect(!H.isConfigured(routeProtocol: 3, table: 254, type: 1, expires: true))   // ip route add ... expires 300
        #expect(H.routeWords(destination: "0.0.0.0/0", gateway: "192.168.1.1", metric: nil, ipv6: false) == "0.0.0.0/0 via 192.168.1.1")
        #expect(H.routeWords(destination: "::/0", gateway: "fe80::1", metric: 1024, ipv6: true) == "::/0 via fe80::1")
        #expect(H.routeWords(destination: "10.0.0.0/8", gateway: nil, metric: 100, ipv6: false) == "10.0.0.0/8 metric 100")
        #expect(H.routeWords(destination: "0.0.0.0/0", gateway: "192.168.1.1", source: "192.168.1.2", metric: 0, ipv6: false)
                == "0.0.0.0/0 via 192.168.1.1 src 192.168.1.2")
    }

    @Test("addresses and routes on the bridge that the config does not name are left alone: no drift, up and down")
    func foreignLeftAlone() throws {
        for config in [vxlan, userspace, l2tp] {
            let d = try desired(config)
            var o = try applied(d)
            // The user's LAN address and a route on the bridge; the config names none.
            o["br-lab"]!.addresses = ["192.168.1.2/24", "fd00:1::2/64"]
            o["br-lab"]!.routes = ["10.9.0.0/16 via 192.168.1.1"]
            let changes = try plan(d, o)
            #expect(changes.isEmpty, "\(Planner.render(changes))")
        }
        // With bridge_address: the config's address is added, the user's stays.
        let d = try desired(ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\"]", "bridge_address = [\"192.168.1.9/24\"]"]))
        var o = try applied(try desired(vxlan))
        o["br-lab"]!.addresses = ["192.168.1.2/24"]
        let changes = try plan(d, o)
        #expect(lines(changes) == ["+ addr add 192.168.1.9/24 dev br-lab"])
        #expect(try plan(d, Planner.apply(changes, to: o)).isEmpty)
    }

    @Test("bridge_address: added on a fresh host after the bridge is up; down takes it away with the bridge")
    func bridgeAddress() throws {
        let config = ethernet(["tunnel = \"vxlan\"", "vni = 42"],
                              east: ["lan = [\"eth1\"]", "bridge_address = [\"192.168.1.9/24\", \"fd00:1::9/64\"]"])
        let d = try desired(config)
        #expect(d.bridge?.addresses == ["192.168.1.9/24", "fd00:1::9/64"])
        let changes = try plan(d, freshHost())
        #expect(Array(lines(changes)[2...5]) == [
            "~ link set br-lab mtu 1500", "~ link set br-lab up",
            "+ addr add 192.168.1.9/24 dev br-lab", "+ addr add fd00:1::9/64 dev br-lab",
        ])
        let up = Planner.apply(changes, to: freshHost())
        #expect(try plan(d, up).isEmpty)
        let down = try Planner.plan(desired: nil, observed: up, segment: "lab", config: d)
        #expect(!lines(down).contains { $0.contains("addr add") }, "\(Planner.render(down))")
        #expect(Planner.apply(down, to: up).dump == freshHost().dump)
    }

    @Test("up moves a LAN port's addresses and routes to the bridge, in an order that keeps the host reachable")
    func migrationUp() throws {
        let d = try desired(vxlan)
        let start = Self.configuredPort()
        let changes = try plan(d, start)
        #expect(lines(changes) == [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset",
            "~ link set br-lab mtu 1500",
            "~ link set br-lab up",
            "+ addr add 192.168.1.2/24 dev br-lab (moving from eth1)",
            "+ addr add 192.168.1.3/24 dev br-lab (moving from eth1)",
            "+ addr add fd00:1::2/64 dev br-lab (moving from eth1)",
            "~ link set eth1 master br-lab",
            "- route del 0.0.0.0/0 via 192.168.1.1 dev eth1 (moving to br-lab)",
            "+ route add 0.0.0.0/0 via 192.168.1.1 dev br-lab",
            "- route del ::/0 via fd00:1::1 metric 100 dev eth1 (moving to br-lab)",
            "+ route add ::/0 via fd00:1::1 metric 100 dev br-lab",
            "- addr del fd00:1::2/64 dev eth1 (moved to br-lab)",
            "- addr del 192.168.1.3/24 dev eth1 (moved to br-lab)",
            "- addr del 192.168.1.2/24 dev eth1 (moved to br-lab)",
            "~ link set isth-lab mtu 1500",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ])
        let up = Planner.apply(changes, to: start)
        #expect(up["eth1"]!.addresses.isEmpty && up["eth1"]!.routes.isEmpty)
        #expect(up["br-lab"]!.addresses == start["eth1"]!.addresses && up["br-lab"]!.routes == start["eth1"]!.routes)
        // In sync from then on: the moved configuration is not drift.
        #expect(try plan(d, up).isEmpty)
        // A failure at any step is rolled back to the port's configuration exactly.
        expectRestores(start, changes, "migration up")
        // An address the user puts on the enslaved port later is moved too.
        var later = up
        later["eth1"]!.addresses = ["192.168.1.4/24"]
        #expect(lines(try plan(d, later)) == [
            "+ addr add 192.168.1.4/24 dev br-lab (moving from eth1)", "- addr del 192.168.1.4/24 dev eth1 (moved to br-lab)",
        ])
    }

    @Test("down moves them back to the LAN port before releasing it; the host is as before up; rollback at any step")
    func migrationDown() throws {
        let config = ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\"]", "bridge_address = [\"192.168.1.9/24\"]"])
        let d = try desired(config)
        let start = Self.configuredPort()
        let up = Planner.apply(try plan(d, start), to: start)
        #expect(up["br-lab"]!.addresses.contains("192.168.1.9/24"))
        let down = try Planner.plan(desired: nil, observed: up, segment: "lab", config: d)
        #expect(lines(down) == [
            "+ addr add 192.168.1.2/24 dev eth1 (moving from br-lab)",
            "+ addr add 192.168.1.3/24 dev eth1 (moving from br-lab)",
            "+ addr add fd00:1::2/64 dev eth1 (moving from br-lab)",
            "~ link set eth1 nomaster (releasing from br-lab)",
            "- route del 0.0.0.0/0 via 192.168.1.1 dev br-lab (moving to eth1)",
            "+ route add 0.0.0.0/0 via 192.168.1.1 dev eth1",
            "- route del ::/0 via fd00:1::1 metric 100 dev br-lab (moving to eth1)",
            "+ route add ::/0 via fd00:1::1 metric 100 dev eth1",
            "- link del isth-lab (segment down)",
            "- link del br-lab (segment down)",
        ])
        // The config's own address went with the bridge; the host's came back.
        #expect(Planner.apply(down, to: up).dump == start.dump)
        #expect(try Planner.plan(desired: nil, observed: Planner.apply(down, to: up), segment: "lab", config: d).isEmpty)
        expectRestores(up, down, "migration down")
        // Without the config (a segment whose file is gone), everything on the bridge goes back to its port.
        let blind = try plan(nil, up)
        #expect(Planner.apply(blind, to: up)["eth1"]!.addresses.sorted() == (start["eth1"]!.addresses + ["192.168.1.9/24"]).sorted())
        // The bridge renamed in the config: the configuration moves on to the new bridge, through the port.
        let renamed = try desired(ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\"]", "bridge = \"br-new\""]))
        let plain = Planner.apply(try plan(try desired(vxlan), start), to: start)
        let moved = Planner.apply(try plan(renamed, plain), to: plain)
        #expect(moved["br-new"]!.addresses.sorted() == start["eth1"]!.addresses.sorted(), "\(moved.dump)")
        #expect(moved["br-new"]!.routes == start["eth1"]!.routes && moved["eth1"]!.addresses.isEmpty)
        #expect(try plan(renamed, moved).isEmpty)
    }

    @Test("a route whose gateway is reached only through a DHCP lease stays with the lease, up and down")
    func leasedRoutesStay() throws {
        typealias H = HostConfiguration
        #expect(H.gatewayReachable("0.0.0.0/0 via 192.168.1.1", through: ["192.168.1.2/24"]))
        #expect(!H.gatewayReachable("0.0.0.0/0 via 10.9.9.1", through: ["192.168.1.2/24"]))
        #expect(H.gatewayReachable("::/0 via fe80::1 metric 100", through: []))
        #expect(H.gatewayReachable("10.0.0.0/8", through: []))
        #expect(!H.gatewayReachable("::/0 via fd00:2::1", through: ["fd00:1::2/64", "192.168.1.2/24"]))
        let d = try desired(vxlan)
        // dhclient on the port: its lease (10.9.9.2/24, with a lifetime) is not configuration, its default route is.
        var o = freshHost()
        o["eth1"]!.routes = ["0.0.0.0/0 via 10.9.9.1"]
        let up = try plan(d, o)
        #expect(!lines(up).contains { $0.contains("route") }, "\(Planner.render(up))")
        let after = Planner.apply(up, to: o)
        #expect(after["eth1"]!.routes == ["0.0.0.0/0 via 10.9.9.1"])
        #expect(try plan(d, after).isEmpty)
        // dhclient on the bridge: down leaves its route to go with the bridge, and moves the rest.
        var bridged = try applied(d)
        bridged["br-lab"]!.addresses = ["192.168.1.2/24"]
        bridged["br-lab"]!.routes = ["0.0.0.0/0 via 10.9.9.1", "10.7.0.0/16 via 192.168.1.1"]
        let down = try plan(nil, bridged)
        #expect(lines(down).filter { $0.contains("route") } == [
            "- route del 10.7.0.0/16 via 192.168.1.1 dev br-lab (moving to eth1)", "+ route add 10.7.0.0/16 via 192.168.1.1 dev eth1",
        ])
        expectRestores(bridged, down, "leased route, down")
    }

    @Test("the random drifts of the idempotence test, on a host whose LAN port carried its configuration")
    func migrationRandom() throws {
        var rng = PlannerRNG(seed: 0x14_1A_2B)
        for round in 0..<200 {
            let d = try desired([vxlan, gretap, userspace, vxlan3][round % 4])
            var o = Planner.apply(try plan(d, Self.configuredPort()), to: Self.configuredPort())
            for _ in 0..<Int(rng.next() % 3) + 1 { perturb(&o, d, &rng) }
            let first = try plan(d, o)
            let after = Planner.apply(first, to: o)
            #expect(try plan(d, after).isEmpty, "round \(round):\n\(Planner.render(first))")
            // As in restoreRandom: a userspace process beside a device that is not its TAP cannot be restored.
            if o.userspaceTunnels[d.tunnel.name] != nil && o[d.tunnel.name]?.kind != "tun" { continue }
            // Nothing of the host's configuration is left on the enslaved port, and none of it was lost: it is on the
            // bridge (unless the bridge itself was deleted by hand, and with it what it had).
            #expect(after["eth1"]!.addresses.isEmpty && after["eth1"]!.routes.isEmpty, "round \(round)\n\(after.dump)")
            if o["br-lab"] != nil {
                let port = Self.configuredPort()["eth1"]!
                #expect(Set(after["br-lab"]!.addresses) == Set(port.addresses) && Set(after["br-lab"]!.routes) == Set(port.routes),
                        "round \(round)\n\(after.dump)")
            }
            expectRestores(o, first, "round \(round)")
        }
    }
}
