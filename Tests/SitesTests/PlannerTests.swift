import Sites
import Testing

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

private let vxlan = ethernet(["tunnel = \"vxlan\"", "vni = 42"])
private let vxlan3 = ethernet(["tunnel = \"vxlan\"", "vni = 42"], east: ["lan = [\"eth1\", \"eth2\"]"])
    + "\n[sites.north]\naddress = \"203.0.113.9\"\nlan = [\"eth1\"]\n"
private let l2tp = ethernet(["tunnel = \"l2tpv3\"", "cookies = false"])
private let l2tpCookies = ethernet(["tunnel = \"l2tpv3\"", "encap = \"ip\""])
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
            "~ link set br-lab mtu 1450",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1450",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (vxlan3, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 dstport 4789 df unset",
            "~ link set br-lab mtu 1450",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set eth2 master br-lab",
            "~ link set eth2 up",
            "~ link set isth-lab mtu 1450",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
            "+ fdb append 00:00:00:00:00:00 dev isth-lab dst 203.0.113.9",
            "+ fdb append 00:00:00:00:00:00 dev isth-lab dst 198.51.100.7",
        ]),
        (l2tp, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ l2tp add tunnel+session name isth-lab tunnel_id 1 peer_tunnel_id 2 session_id 1 peer_session_id 2 encap udp local 192.0.2.1 remote 198.51.100.7 udp_sport 1701 udp_dport 1701 (alias isthmus:lab)",
            "~ link set br-lab mtu 1446",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1446",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (gretap, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type gretap local 192.0.2.1 remote 198.51.100.7 key 77 nopmtudisc",
            "~ link set br-lab mtu 1458",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1458",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (greInUDP, [
            "+ fou add port 4754 ipproto 47",
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ link add isth-lab alias isthmus:lab type gretap local 192.0.2.1 remote 198.51.100.7 encap fou encap-sport auto encap-dport 4754 nopmtudisc",
            "~ link set br-lab mtu 1454",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1454",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        (ipip, [
            "+ link add isth-lab alias isthmus:lab type ipip local 192.0.2.1 remote 198.51.100.7",
            "~ link set isth-lab mtu 1480",
            "~ link set isth-lab up",
            "+ addr add 10.255.0.1/30 dev isth-lab",
            "+ route add 10.2.0.0/16 via 10.255.0.2 dev isth-lab",
            "+ route add 10.3.0.0/16 via 10.255.0.2 dev isth-lab",
        ]),
        (userspace, [
            "+ link add br-lab alias isthmus:lab type bridge",
            "+ run isthmus tunnel run isth-lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 (alias isthmus:lab)",
            "~ link set br-lab mtu 1450",
            "~ link set br-lab up",
            "~ link set eth1 master br-lab",
            "~ link set isth-lab mtu 1450",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
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
            "link br-lab type bridge alias isthmus:lab mtu 1450 up",
            "link eth1 mtu 1500 master br-lab up",
            "link isth-lab type vxlan alias isthmus:lab mtu 1450 master br-lab up df unset dstport 4789 id 42 local 192.0.2.1 remote 198.51.100.7",
        ])
    }

    @Test("L2TPv3 with cookies over IP: the derived cookies, hex, as `ip l2tp` takes them")
    func l2tpCookieWords() throws {
        let d = try desired(l2tpCookies)
        let east = SiteConfig.cookie(segment: "lab", site: "east").map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let west = SiteConfig.cookie(segment: "lab", site: "west").map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(d.tunnel.kind == "l2tpeth")
        #expect(d.tunnel.parameterWords == "tunnel_id 1 peer_tunnel_id 2 session_id 1 peer_session_id 2 encap ip local 192.0.2.1 remote 198.51.100.7 cookie \(east) peer_cookie \(west)")
        #expect(d.tunnel.mtu == 1500 - 20 - 4 - 8 - 4 - 14)
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
            "~ link set isth-lab mtu 1450",
            "~ link set isth-lab master br-lab",
            "~ link set isth-lab up",
        ]),
        ("MTU changed by hand", [
            "~ link set isth-lab mtu 1450 (was 1500: changed by hand)",
        ]),
        ("bridge MTU changed by hand", [
            "~ link set br-lab mtu 1450 (was 9000: changed by hand)",
        ]),
        ("parameter changed", [
            "- link del isth-lab (parameters changed: remote 198.51.100.99 → 198.51.100.7)",
            "+ link add isth-lab alias isthmus:lab type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 df unset (parameters changed: remote 198.51.100.99 → 198.51.100.7)",
            "~ link set isth-lab mtu 1450",
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
        case "MTU changed by hand": o["isth-lab"]!.mtu = 1500
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

    @Test("L3: a route deleted by hand is added back, one added by hand on our device removed")
    func l3Drift() throws {
        let d = try desired(ipip)
        var o = try applied(d)
        o["isth-lab"]!.routes = ["10.2.0.0/16 via 10.255.0.2", "192.168.0.0/24"]
        #expect(lines(try plan(d, o)) == [
            "+ route add 10.3.0.0/16 via 10.255.0.2 dev isth-lab",
            "- route del 192.168.0.0/24 dev isth-lab (not in the config)",
        ])
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
        }
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
            "~ link set br-new mtu 1450",
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
                    #expect(normalized(after[name]) == normalized(reference[name]), "round \(round): \(name) not repaired")
                }
                #expect(after.userspaceTunnels == reference.userspaceTunnels, "round \(round)")
                #expect(reference.fouPorts.isSubset(of: after.fouPorts), "round \(round)")
                #expect(!after.interfaces.values.contains { $0.alias == "isthmus:lab" && reference[$0.name] == nil }, "round \(round): stale left")
            }
        }
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
    case 7: o[d.tunnel.name]?.routes.append("192.168.9.0/24"); o[d.tunnel.name]?.fdb.removeAll()
    case 8: o.fouPorts.removeAll()
    case 9:                                                           // a leftover of an older config
        o["br-old"] = ObservedInterface(name: "br-old", kind: "bridge", alias: "isthmus:lab", up: true)
        if !d.ports.contains(where: { $0.name == "eth2" }) { o["eth2"]?.master = "br-old" }
    default: o[target]?.kind = "dummy"                                // recreated by hand as something else
    }
}

/// A small seeded generator (PlannerRNG64), so failures reproduce.
private struct PlannerRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
