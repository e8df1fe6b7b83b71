import Testing
@testable import Fleet
@testable import FleetAgent
import SiteAgent

/// A registry's point-to-point segment (gretap, l2tpv3 over IP): a tunnel per peer, mirrored ids, isolation.
@Suite struct PairSegmentTests {
    func fleet(_ kind: String, topology: String = "topology = \"mesh\"") throws -> FleetConfig {
        try loadFleet(fleetFile(topology: topology).replacingOccurrences(of: "\"vxlan\"", with: kind))
    }

    let sites = [("east", "192.0.2.1"), ("north", "192.0.2.2"), ("west", "192.0.2.3"), ("a-very-long-site-name", "192.0.2.4")]

    func pairs(_ f: FleetConfig, _ me: String) throws -> [SiteSide] {
        let addr = IPAddress(sites.first { $0.0 == me }!.1)!
        let (c, omitted) = FleetShape.segment(f, site: me, address: addr, view: view(sites.filter { $0.0 != me }))
        #expect(omitted.isEmpty)
        return try c.pairSides(for: me)
    }

    @Test func l2tpPairsMirrorEachOther() throws {
        let f = try fleet("\"l2tpv3\"\nencap = \"ip\"\ncookies = true")
        for (me, _) in sites {
            let mine = try pairs(f, me)
            #expect(mine.map { $0.peers[0].name }.sorted() == sites.map(\.0).filter { $0 != me }.sorted())
            // This site's ids (what it receives with) are distinct: its peers' ids.
            #expect(Set(mine.compactMap(\.sessionID)).count == mine.count)
            for side in mine {
                let peer = side.peers[0].name
                let theirs = try pairs(f, peer).first { $0.peers[0].name == me }!
                #expect(side.sessionID == theirs.peerSessionID && side.peerSessionID == theirs.sessionID)
                #expect(side.tunnelID == theirs.peerTunnelID && side.peerTunnelID == theirs.tunnelID)
                #expect(side.cookie == theirs.peerCookie && side.peerCookie == theirs.cookie && side.cookie != nil)
                #expect(side.localAddress == theirs.peers[0].address && theirs.localAddress == side.peers[0].address)
                #expect(side.sessionID == SegmentConfig.pairID(segment: "branches", site: peer))
                // The kernel's and the userspace data plane's words for the same pair agree on the ids.
                let k = try DesiredState(side: side, dataplane: .kernel).tunnel
                #expect(k.parameterDictionary["session_id"] == "\(side.sessionID!)" && k.parameterDictionary["peer_session_id"] == "\(side.peerSessionID!)")
                #expect(k.parameterDictionary["encap"] == "ip")
            }
        }
    }

    @Test func namesFitAndDiffer() throws {
        var names = Set<String>()
        for (peer, _) in sites {
            let n = DesiredState.pairTunnelName(segment: "branches", peer: peer)
            #expect(n.utf8.count <= 15 && n.hasPrefix(DesiredState.pairPrefix(segment: "branches")))
            names.insert(n)
        }
        #expect(names.count == sites.count)
        #expect(DesiredState.pairTunnelName(segment: "branches", peer: "east") == DesiredState.pairPrefix(segment: "branches") + "east")
        #expect(DesiredState.pairPrefix(segment: "branches") != DesiredState.pairPrefix(segment: "other"))
    }

    /// A mesh isolates every tunnel port (no frame from one peer goes to another: each site floods to all itself); a
    /// hub isolates only its ports to other hubs; the isolation is set before the port is up.
    @Test func isolationAndItsPlan() throws {
        let mesh = try fleet("\"gretap\"\ndataplane = \"userspace\"")
        let host = FleetHost(file: "fleet.toml", fleet: mesh, site: "east", netns: nil)
        let (segment, _) = FleetShape.segment(mesh, site: "east", address: IPAddress("192.0.2.1")!, view: view(sites.filter { $0.0 != "east" }))
        let site = try host.make(segment)
        #expect(site.desired.tunnels.count == 3 && site.desired.tunnels.allSatisfy { $0.isolated == true && $0.master == "br-branches" && $0.isUserspace })
        #expect(site.filters.tunnelPrefix && site.filters.script.contains("iifname \"\(DesiredState.pairPrefix(segment: "branches"))*\" jump tunnel"))
        var observed = ObservedState(interfaces: [ObservedInterface(name: "eth1", kind: "")])
        let changes = try Planner.plan(desired: site.desired, observed: observed, segment: "branches")
        let lines = changes.map(\.description)
        for t in site.desired.tunnels {
            let iso = try #require(lines.firstIndex { $0.hasPrefix("~ link set \(t.name) type bridge_slave isolated on") })
            let up = try #require(lines.firstIndex { $0 == "~ link set \(t.name) up" })
            let master = try #require(lines.firstIndex { $0.hasPrefix("~ link set \(t.name) master br-branches") })
            #expect(master < iso && iso < up)
        }
        observed = Planner.apply(changes, to: observed)
        #expect(try Planner.plan(desired: site.desired, observed: observed, segment: "branches").isEmpty)
        // Cleared by hand: set again.
        let first = site.desired.tunnels[0].name
        observed.interfaces[first]?.isolated = false
        #expect(try Planner.plan(desired: site.desired, observed: observed, segment: "branches").map(\.description)
                == ["~ link set \(first) type bridge_slave isolated on (changed by hand)"])
        // A peer leaves: its tunnel (and process) goes, the others stay.
        let (fewer, _) = FleetShape.segment(mesh, site: "east", address: IPAddress("192.0.2.1")!, view: view(sites.filter { $0.0 != "east" && $0.0 != "west" }))
        let left = try host.make(fewer)
        let gone = DesiredState.pairTunnelName(segment: "branches", peer: "west")
        observed.interfaces[first]?.isolated = true
        #expect(try Planner.plan(desired: left.desired, observed: observed, segment: "branches").map(\.description)
                == ["- stop isthmus tunnel run \(gone) (no longer in the config)"])

        // Hub topology: the hub isolates its port to the other hub only; a spoke has one tunnel, to the first hub.
        let hub = try fleet("\"gretap\"", topology: "topology = \"hub\"\nhubs = [\"east\", \"north\"]")
        let (hs, _) = FleetShape.segment(hub, site: "east", address: IPAddress("192.0.2.1")!, view: view(sites.filter { $0.0 != "east" }))
        let hd = try FleetHost(file: "f", fleet: hub, site: "east", netns: nil).make(hs).desired
        #expect(Dictionary(uniqueKeysWithValues: hd.tunnels.map { ($0.name, $0.isolated!) })
                == [DesiredState.pairTunnelName(segment: "branches", peer: "north"): true,
                    DesiredState.pairTunnelName(segment: "branches", peer: "west"): false,
                    DesiredState.pairTunnelName(segment: "branches", peer: "a-very-long-site-name"): false])
        #expect(HubTransit.of(hub, site: "east", segment: hs) == nil)
        let (ss, _) = FleetShape.segment(hub, site: "west", address: IPAddress("192.0.2.3")!, view: view(sites.filter { $0.0 != "west" }))
        let sd = try FleetHost(file: "f", fleet: hub, site: "west", netns: nil).make(ss).desired
        #expect(sd.tunnels.map(\.name) == [DesiredState.pairTunnelName(segment: "branches", peer: "east")])
        // Alone: a bridge and its LAN ports, no tunnel; down removes every tunnel of the segment.
        let (alone, _) = FleetShape.segment(mesh, site: "east", address: IPAddress("192.0.2.1")!, view: view([]))
        let a = try host.make(alone)
        #expect(a.desired.tunnels.isEmpty && a.desired.bridge != nil)
        let down = try Planner.plan(desired: nil, observed: observed, segment: "branches", config: a.desired).map(\.description)
        #expect(down.filter { $0.hasPrefix("- stop isthmus tunnel run") }.count == 3 && down.last == "- link del br-branches (segment down)")
    }

    /// Two registered sites whose l2tpv3 ids collide: the later by name is left out, at every site the same way.
    @Test func idCollisionIsAnOmission() throws {
        let f = try fleet("\"l2tpv3\"\nencap = \"ip\"")
        // Search names for a 32-bit collision would take long; a 16-bit tunnel-name collision among long names is quick.
        var seen: [String: String] = [:]
        var pair: (String, String)?
        for i in 0..<100_000 where pair == nil {
            let n = "longsite-\(i)"
            let d = DesiredState.pairTunnelName(segment: "branches", peer: n)
            if let o = seen[d], String(o.prefix(5)) == String(n.prefix(5)) { pair = (o, n) } else { seen[d] = n }
        }
        let (x, y) = try #require(pair)
        let (c, omitted) = FleetShape.segment(f, site: "east", address: IPAddress("192.0.2.1")!,
                                              view: view([(x, "192.0.2.7"), (y, "192.0.2.8")]))
        let later = max(x, y), earlier = min(x, y)
        #expect(c.sites.map(\.name).sorted() == ["east", earlier].sorted())
        #expect(omitted.map(\.site) == [later] && omitted[0].reason.contains("is also site \(earlier)'s"))
    }
}
