import Testing
@testable import Fleet

func fleetFile(topology: String = "topology = \"mesh\"", site: String = "lan = [\"eth1\"]") -> String {
    """
    [segment]
    name = "branches"
    tunnel = "vxlan"
    underlay_mtu = 1400

    [registry]
    etcd = ["http://10.9.0.1:2379", "http://10.9.0.2", "http://[2001:db8::3]:2380"]
    ttl = 6
    \(topology)

    [site]
    \(site)
    """
}

func loadFleet(_ text: String) throws -> FleetConfig {
    switch SiteConfig.loadFleet(text: text, file: "fleet.toml") {
    case let .success(c): return c
    case let .failure(e): throw e
    }
}

func view(_ sites: [(String, String)], drained: [String] = []) -> RegistryView {
    var v = RegistryView(keys: RegistryKeys(prefix: "/isthmus/", segment: "branches"))
    var rev: Int64 = 1
    for (name, addr) in sites {
        rev += 1
        v.apply(key: Array(v.keys.site(name).utf8), value: RegistryEntry(name: name, addresses: [IPAddress(addr)!]).bytes, lease: 7, revision: rev)
    }
    for d in drained { rev += 1; v.apply(key: Array(v.keys.drain(d).utf8), value: [], revision: rev) }
    return v
}

@Suite struct FleetShapeTests {
    /// The TOML file a human would write for the same sites; its side must be the registry's.
    func tomlSide(_ sites: [(String, String)], me: String) throws -> SiteSide {
        var text = "[segment]\nname = \"branches\"\ntunnel = \"vxlan\"\nunderlay_mtu = 1400\n"
        for (n, a) in sites {
            text += "\n[sites.\(n)]\naddress = \"\(a)\"\nlan = [\(n == me ? "\"eth1\"" : "")]\n"
            if n != me { text += "bridge = \"br-branches\"\n" }
        }
        let c = try SiteConfig.load(text: text, file: "same.toml").get()
        return try c.side(for: me)
    }

    @Test func meshSideIsTheFilesSide() throws {
        let fleet = try loadFleet(fleetFile())
        let sites = [("west", "192.0.2.3"), ("east", "192.0.2.1"), ("north", "192.0.2.2"), ("south", "192.0.2.4")]
        let v = view(sites.filter { $0.0 != "east" })
        let (side, omitted) = FleetShape.side(fleet, site: "east", address: IPAddress("192.0.2.1")!, view: v)
        #expect(omitted.isEmpty)
        #expect(side == (try tomlSide(sites, me: "east")))
        #expect(side.peers.map(\.name) == ["north", "south", "west"])
        // The mirror: west, seeing the same registry state, has east as a peer with the same VNI and port.
        let (west, _) = FleetShape.side(fleet, site: "west", address: IPAddress("192.0.2.3")!,
                                        view: view(sites.filter { $0.0 != "west" }))
        #expect(west.vni == side.vni && west.peerPort == side.localPort)
        #expect(west == (try tomlSide(sites, me: "west")))
        // Planned for the fleet, every peer is an FDB entry of one device (a peer coming or going changes entries only).
        let d = try DesiredState(side: side, dataplane: .kernel, peersAsFDB: true)
        #expect(d.tunnel.fdb == ["192.0.2.2", "192.0.2.4", "192.0.2.3"])
        let alone = try DesiredState(side: FleetShape.side(fleet, site: "east", address: IPAddress("192.0.2.1")!, view: view([])).0,
                                     dataplane: .kernel, peersAsFDB: true)
        #expect(alone.tunnel.fdb.isEmpty && alone.tunnel.parameterDictionary == d.tunnel.parameterDictionary)
    }

    @Test func hubSideIsTheFilesSide() throws {
        let fleet = try loadFleet(fleetFile(topology: "topology = \"hub\"\nhubs = [\"hq\"]"))
        let sites = [("hq", "192.0.2.10"), ("a", "192.0.2.1"), ("b", "192.0.2.2"), ("c", "192.0.2.3")]
        // A spoke joins only the hub: the file of the pair.
        let (a, _) = FleetShape.side(fleet, site: "a", address: IPAddress("192.0.2.1")!, view: view(sites.filter { $0.0 != "a" }))
        #expect(a == (try tomlSide([("a", "192.0.2.1"), ("hq", "192.0.2.10")], me: "a")))
        // The hub joins every spoke.
        let (hq, _) = FleetShape.side(fleet, site: "hq", address: IPAddress("192.0.2.10")!, view: view(sites.filter { $0.0 != "hq" }))
        #expect(hq == (try tomlSide(sites, me: "hq")))
    }

    /// Two hubs: a spoke floods to the first of `hubs` registered (the other is a standby, named in the omissions),
    /// and to the second when the first leaves; each hub joins every site and forwards between spokes (HubTransit).
    @Test func severalHubsASpokeJoinsTheFirst() throws {
        let fleet = try loadFleet(fleetFile(topology: "topology = \"hub\"\nhubs = [\"hq\", \"dc\"]"))
        let sites = [("hq", "192.0.2.10"), ("dc", "192.0.2.20"), ("a", "192.0.2.1"), ("b", "192.0.2.2")]
        let (a, omitted) = FleetShape.side(fleet, site: "a", address: IPAddress("192.0.2.1")!, view: view(sites.filter { $0.0 != "a" }))
        #expect(a.peers.map(\.name) == ["hq"])
        #expect(omitted == [FleetShape.Omission(site: "dc", reason: "a spoke joins one hub, the first of `hubs` registered: hq")])
        let (a2, _) = FleetShape.side(fleet, site: "a", address: IPAddress("192.0.2.1")!, view: view(sites.filter { $0.0 != "a" && $0.0 != "hq" }))
        #expect(a2.peers.map(\.name) == ["dc"], "the first hub gone: the next one")
        let (dc, _) = FleetShape.side(fleet, site: "dc", address: IPAddress("192.0.2.20")!, view: view(sites.filter { $0.0 != "dc" }))
        #expect(Set(dc.peers.map(\.name)) == ["hq", "a", "b"])
    }

    /// A hub's transit: spokes marked in name order, other hubs with the hub mark, both families; none on a spoke, in a
    /// mesh, or on a hub without spokes.
    @Test func hubTransit() throws {
        let fleet = try loadFleet(fleetFile(topology: "topology = \"hub\"\nhubs = [\"hq\", \"dc\"]"))
        let sites = [("dc", "192.0.2.20"), ("b", "2001:db8::2"), ("a", "192.0.2.1"), ("c", "192.0.2.3")]
        let (seg, _) = FleetShape.segment(fleet, site: "hq", address: IPAddress("192.0.2.10")!, view: view(sites))
        let t = try #require(HubTransit.of(fleet, site: "hq", segment: seg))
        // b is IPv6 and the hub IPv4: left out of the segment, so not a spoke here.
        #expect(t.spokes.map(\.name) == ["a", "c"] && t.spokes.map(\.mark) == [0x4953_0001, 0x4953_0002])
        #expect(t.hubs == [IPAddress("192.0.2.20")!] && t.port == 4789 && t.table == "isthmus-hub-branches")
        for line in [
            "table inet isthmus-hub-branches\ndelete table inet isthmus-hub-branches\ntable inet isthmus-hub-branches {",
            "type filter hook prerouting priority raw; policy accept;",
            "udp dport 4789 meta mark set ip saddr map { 192.0.2.1 : 0x49530001, 192.0.2.3 : 0x49530002, 192.0.2.20 : 0x4953ffff }",
            "udp dport 4789 meta mark 0x4953ffff counter name \"hub_dropped\" drop",
            "udp dport 4789 ip daddr . meta mark { 192.0.2.1 . 0x49530001, 192.0.2.3 . 0x49530002 } counter name \"echo_dropped\" drop",
        ] { #expect(t.script.contains(line), "\(line) in \(t.script)") }
        #expect(!t.script.contains("ip6"))
        let (a, _) = FleetShape.segment(fleet, site: "a", address: IPAddress("192.0.2.1")!, view: view(sites + [("hq", "192.0.2.10")]))
        #expect(HubTransit.of(fleet, site: "a", segment: a) == nil, "a spoke forwards nothing")
        let (hubsOnly, _) = FleetShape.segment(fleet, site: "hq", address: IPAddress("192.0.2.10")!, view: view([("dc", "192.0.2.20")]))
        let h = try #require(HubTransit.of(fleet, site: "hq", segment: hubsOnly), "hubs only: frames from the other hub are not sent back")
        #expect(h.spokes.isEmpty && h.script.contains("ip saddr map { 192.0.2.20 : 0x4953ffff }") && !h.script.contains("echo_dropped\" drop"))
        let (alone, _) = FleetShape.segment(fleet, site: "hq", address: IPAddress("192.0.2.10")!, view: view([]))
        #expect(HubTransit.of(fleet, site: "hq", segment: alone) == nil, "alone: no table")
        let mesh = try loadFleet(fleetFile())
        let (m, _) = FleetShape.segment(mesh, site: "hq", address: IPAddress("192.0.2.10")!, view: view(sites))
        #expect(HubTransit.of(mesh, site: "hq", segment: m) == nil)
        #expect(HubTransit.deleteScript(segment: "branches") == "table inet isthmus-hub-branches\ndelete table inet isthmus-hub-branches\n")
    }

    @Test func omissions() throws {
        let fleet = try loadFleet(fleetFile())
        let v = view([("b", "192.0.2.2"), ("c", "2001:db8::3"), ("d", "192.0.2.2"), ("e", "192.0.2.5")], drained: ["e"])
        let (side, omitted) = FleetShape.side(fleet, site: "a", address: IPAddress("192.0.2.1")!, view: v)
        #expect(side.peers.map(\.name) == ["b"])
        #expect(omitted.map(\.site) == ["c", "d", "e"])
        #expect(omitted[1].reason == "its address 192.0.2.2 is also site b's")
    }

    @Test func badValuesAreRefusedAndReplaceTheOldOne() throws {
        var v = view([("b", "192.0.2.2")])
        let key = Array(v.keys.site("b").utf8)
        let refusal = v.apply(key: key, value: Array(#"{"version":1,"name":"b","addresses":["192.0.2.2"],"lan_mtu":9}"#.utf8), revision: 50)
        #expect(refusal?.reason == .badMTU)
        #expect(v.entries["b"] == nil && v.refused["b"]?.reason == .badMTU && v.revision == 50)
        #expect(v.apply(key: key, value: nil, revision: 51) == nil)
        #expect(v.refused.isEmpty)
    }
}

@Suite struct FleetConfigTests {
    @Test func valid() throws {
        let c = try loadFleet(fleetFile(site: "name = \"east\"\naddress = \"auto\"\ninterface = \"eth0\"\nlan = [\"eth1\"]"))
        #expect(c.registry.endpoints.map(\.description) == ["http://10.9.0.1:2379", "http://10.9.0.2:2379", "http://[2001:db8::3]:2380"])
        #expect(c.registry.ttl == 6 && c.registry.prefix == "/isthmus/" && c.registry.topology == .mesh)
        #expect(c.address == .interface("eth0") && c.siteName == "east" && c.local.lan == ["eth1"])
        #expect(try loadFleet(fleetFile(site: "lan = [\"eth1\"]\naddress = \"192.0.2.9\"")).address == .fixed(IPAddress("192.0.2.9")!))
        #expect(try loadFleet(fleetFile()).address == .route)
        #expect(c.pickSite(explicit: nil, hostname: "x.example") == .success("east"))
        #expect(try loadFleet(fleetFile()).pickSite(explicit: nil, hostname: "gw7.example") == .success("gw7"))
    }

    func errors(_ text: String) -> [String] {
        switch SiteConfig.loadFleet(text: text, file: "fleet.toml") {
        case .success: return []
        case let .failure(e): return e.errors.map { "\($0.position): \($0.message)" }
        }
    }

    @Test func invalid() {
        #expect(errors(fleetFile(topology: "topology = \"star\"")) == ["9:12: `topology` must be one of \"mesh\", \"hub\"; found \"star\""])
        #expect(errors(fleetFile(topology: "topology = \"hub\"")) == ["9:12: topology = \"hub\" needs the hub sites named"])
        #expect(errors(fleetFile(site: "lan = [\"eth1\"]\naddress = \"auto\"")) == ["13:11: address = \"auto\" reads an interface's address, but no `interface` is given"])
        #expect(errors(fleetFile(site: "lan = [\"eth1\"]\naddress = \"10.0.0.1/8\"")) == ["13:11: `address` \"10.0.0.1/8\" is not \"route\", \"auto\" or a unicast IP address"])
        #expect(errors(fleetFile(site: "lan = [\"eth1\"]\nmtu = 3")) == ["13:1: unknown key `mtu` in [site]"])
        #expect(errors(fleetFile().replacingOccurrences(of: "http://10.9.0.2", with: "10.9.0.2")) == ["7:33: etcd endpoint \"10.9.0.2\" must begin with http:// or https://"])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"gretap\"")) == [])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"gre-in-udp\"")) == ["3:10: a registry's segment is built with tunnel = \"vxlan\", \"gretap\" or \"l2tpv3\" (encap = \"ip\"); found \"gre-in-udp\""])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"l2tpv3\"")) == ["3:10: a registry's l2tpv3 segment runs over IP: add encap = \"ip\" (the default, UDP, would need a port per peer)"])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"l2tpv3\"\nencap = \"udp\"")) == ["4:9: a registry's l2tpv3 segment runs over IP (encap = \"ip\"): over UDP each peer's tunnel would need a port of its own on both sites"])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"l2tpv3\"\nencap = \"ip\"")) == [])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"vxlan\"\ndataplane = \"userspace\"")) == ["4:13: dataplane = \"userspace\" sends to one known peer; a registry's vxlan segment has many"])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"gretap\"\ndataplane = \"userspace\"")) == [])
        #expect(errors(fleetFile().replacingOccurrences(of: "\"vxlan\"", with: "\"gretap\"\nencryption = \"ipsec\"\nsecret = \"0123456789abcdef0123456789abcdef\"")) == ["4:1: `encryption` is not supported in a registry's segment yet"])
        #expect(errors(fleetFile().replacingOccurrences(of: "ttl = 6", with: "ttl = 0")) == ["8:7: `ttl` 0 is out of range 2..3600"])
        #expect(errors(fleetFile().replacingOccurrences(of: "ttl = 6", with: "ttl = 6\ncert = \"/c.pem\"")) == [
            "7:8: TLS files are given, but an etcd endpoint is http://", "9:1: `cert` and `key` go together (the client certificate and its private key)"])
        #expect(errors("[segment]\nname = \"x\"\ntunnel = \"vxlan\"\n") == ["1:1: missing the [registry] table", "1:1: missing the [site] table (this host's LAN ports)"])
    }
}
