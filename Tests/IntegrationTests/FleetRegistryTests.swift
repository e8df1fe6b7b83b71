import Foundation
import Testing
import Sites
#if canImport(Glibc)
import Glibc
#endif

/// Sites of a fleet file on a real 3-member etcd cluster (the etcd helper's `EtcdCluster`, namespaces of its own):
/// every site a gateway namespace on the cluster's bridge (its underlay and its way to the registry) with a LAN host
/// namespace behind it, each gateway running `isthmus up --foreground` under `ip netns exec` (the agent's gRPC
/// connections are made inside the namespace, as under the systemd unit). Kernel VXLAN.
final class Fleet: @unchecked Sendable {
    let cluster: EtcdCluster
    let tag: String
    let segment: String
    let file: String
    var sites: [Int] = []
    var agents: [Int: Process] = [:]
    var made: [String] = []
    let topology: String
    /// The [segment] table's tunnel lines.
    let tunnel: String

    init(test: String, topology: String = "topology = \"mesh\"", tunnel: String = "tunnel = \"vxlan\"\ndataplane = \"kernel\"") {
        cluster = EtcdCluster(test: test)
        tag = "\(test)-\(getpid())"
        segment = "fleet"
        self.topology = topology
        self.tunnel = tunnel
        file = "/tmp/isthmus-\(tag).toml"
    }

    /// Writes a scratch file of this test in place (open(2), never a rename over a path).
    static func write(_ path: String, _ text: String) throws -> FileHandle {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ShellError(command: "open \(path)", status: errno, output: String(cString: strerror(errno))) }
        let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        h.write(Data(text.utf8))
        return h
    }

    func gw(_ i: Int) -> String { "isth-\(tag)-g\(i)" }
    func host(_ i: Int) -> String { "isth-\(tag)-h\(i)" }
    func underlay(_ i: Int) -> String { "10.70.0.\(100 + i)" }
    func lan(_ i: Int) -> String { "192.168.77.\(i)" }
    var bridgeNamespace: String { "\(cluster.name)-br" }

    func up(sites count: Int, ttl: Int = 5) throws {
        try cluster.up()
        let fleet = """
            [segment]
            name = "\(segment)"
            \(tunnel)

            [registry]
            etcd = [\(cluster.endpoints.map { "\"\($0)\"" }.joined(separator: ", "))]
            prefix = "/isthmus-test/"
            ttl = \(ttl)
            \(topology)

            [site]
            address = "route"
            lan = ["eth1"]

            """
        _ = try Self.write(file, fleet)
        for i in 1...count { try addSite(i) }
    }

    /// A gateway on the cluster's bridge and a LAN host behind it.
    func addSite(_ i: Int) throws {
        let g = gw(i), h = host(i)
        try Host.sh("ip netns add \(g)"); made.append(g)
        try Host.sh("ip netns add \(h)"); made.append(h)
        try Host.sh("""
            ip -n \(g) link set lo up; ip -n \(h) link set lo up
            ip -n \(bridgeNamespace) link add fl\(i) type veth peer name wan netns \(g)
            ip -n \(bridgeNamespace) link set fl\(i) master br0 up
            ip -n \(g) addr add \(underlay(i))/24 dev wan; ip -n \(g) link set wan up
            ip -n \(g) link add eth1 type veth peer name eth0 netns \(h)
            ip -n \(g) link set eth1 up
            ip -n \(h) addr add \(lan(i))/24 dev eth0; ip -n \(h) link set eth0 up
            """)
        sites.append(i)
    }

    /// `dashN`: `isthmus -n GW up ...` (the process moves itself into the namespace) rather than `ip netns exec GW`.
    func start(_ i: Int, site: String? = nil, log: String? = nil, extra: [String] = [], dashN: Bool = false) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = (dashN ? [Host.isthmusBinary!, "-n", gw(i)] : ["ip", "netns", "exec", gw(i), Host.isthmusBinary!])
            + ["up", "--foreground", "--config", file, "--site", site ?? "s\(i)", "--interval", "3600"] + extra
        let path = log ?? "/tmp/isthmus-\(tag)-s\(i).log"
        let out = try Self.write(path, "")
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        if site == nil { agents[i] = p }
        return p
    }

    func logText(_ i: Int) -> String { (try? String(contentsOfFile: "/tmp/isthmus-\(tag)-s\(i).log", encoding: .utf8)) ?? "" }

    /// The peers' underlay addresses in site i's VXLAN FDB.
    func fdb(_ i: Int) -> Set<String> {
        let out = (try? Host.run(["ip", "netns", "exec", gw(i), "bridge", "fdb", "show", "dev", "isth-\(segment)"]).output) ?? ""
        return Set(out.split(separator: "\n").compactMap { l in
            let w = l.split(separator: " ")
            guard w.first == "00:00:00:00:00:00", let d = w.firstIndex(of: "dst") else { return nil }
            return String(w[d + 1])
        })
    }

    /// A point-to-point segment: site i's tunnel ports (the bridge's ports that are not its LAN port), by name,
    /// with their state words from `ip -d link` ("up", "isolated").
    func pairPorts(_ i: Int) -> [String: Set<String>] {
        let out = (try? Host.run(["ip", "netns", "exec", gw(i), "ip", "-d", "-o", "link", "show", "master", "br-\(segment)"]).output) ?? ""
        var ports: [String: Set<String>] = [:]
        for l in out.split(separator: "\n") {
            let w = l.split(separator: " ")
            guard w.count > 2, w[0].hasSuffix(":"), Int(w[0].dropLast()) != nil else { continue }   // (not an error line)
            let name = String(w[1].dropLast().split(separator: "@").first ?? "")
            if name == "eth1" { continue }
            var words: Set<String> = []
            if l.contains(",UP,") || l.contains(",UP>") || l.contains("<UP,") { words.insert("up") }
            if l.contains("isolated on") { words.insert("isolated") }
            ports[name] = words
        }
        return ports
    }

    /// `isthmus status -j`, all of it, for site i.
    func fullStatus(_ i: Int) -> [String: Any] {
        guard let r = try? Host.run(["ip", "netns", "exec", gw(i), Host.isthmusBinary!, "status", "-j", "--config", file, "--site", "s\(i)"]),
              let j = try? JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any] else { return [:] }
        return j
    }

    /// `isthmus status -j`'s registry member, for site i.
    func status(_ i: Int) -> [String: Any] { fullStatus(i)["registry"] as? [String: Any] ?? [:] }

    func ping(_ from: Int, _ to: Int, size: Int = 56) -> Bool {
        (try? Host.run(["ip", "netns", "exec", host(from), "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "\(size)", lan(to)]).status) == 0
    }

    /// Every host pings every other host (one sequential loop per source, the loops in parallel threads — not shell
    /// jobs: the test runner's signal mask makes a shell's `wait` hang); the pairs that failed.
    func failingPairs(size: Int = 56, among: [Int]? = nil) -> [String] {
        let list = among ?? sites
        let results = Locked<[String]>()
        DispatchQueue.concurrentPerform(iterations: list.count) { n in
            let a = list[n]
            let loop = "for b in \(list.filter { $0 != a }.map(String.init).joined(separator: " ")); do "
                + "ping -c 1 -W 3 -M do -s \(size) 192.168.77.$b >/dev/null 2>&1 || echo \(a)-$b; done"
            let out = (try? Host.run(["ip", "netns", "exec", host(a), "sh", "-c", loop]).output) ?? "\(a): failed to run"
            results.append(out.split(separator: "\n").map(String.init))
        }
        return results.value.sorted()
    }

    func waitFor(_ what: String, seconds: Double, _ condition: () -> Bool) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if condition() { return Date().timeIntervalSince(start) }
            usleep(100_000)
        }
        Issue.record("timed out after \(seconds) s waiting for: \(what)")
        return nil
    }

    func down() {
        for p in agents.values where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        // A killed agent leaves its userspace tunnels running (point-to-point segments): every process still in a
        // namespace this test made is one of them.
        for ns in made {
            let pids = ((try? Host.run(["ip", "netns", "pids", ns]).output) ?? "").split(separator: "\n").compactMap { Int32($0) }
            for pid in pids { kill(pid, SIGKILL) }
        }
        for ns in made.reversed() { _ = try? Host.run(["ip", "netns", "del", ns]) }
        cluster.down()
        unlink(file)
        for i in sites { unlink("/tmp/isthmus-\(tag)-s\(i).log") }
    }
}

final class Locked<T>: @unchecked Sendable where T: RangeReplaceableCollection {
    let lock = NSLock()
    var v = T()
    func append(_ items: [T.Element]) { lock.lock(); v.append(contentsOf: items); lock.unlock() }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
}

@Suite("Fleets on a real 3-member etcd cluster", .serialized,
       .enabled(if: EtcdCluster.available && Host.isthmusBinary != nil, "\(EtcdCluster.unavailableReason), and the isthmus binary (swift build)"),
       .timeLimit(.minutes(15)))
struct FleetRegistryTests {
    @Test("20 sites: full mesh, 1472-byte DF pings, an address change followed, SIGKILL and restart, etcd outages, a name race")
    func mesh() throws {
        let f = Fleet(test: "flm")
        defer { f.down() }
        try f.up(sites: 20)
        let all = Set(f.sites.map { f.underlay($0) })
        for i in f.sites { _ = try f.start(i) }
        let converged = f.waitFor("every site has the 19 others in its FDB", seconds: 240) {
            f.sites.allSatisfy { f.fdb($0) == all.subtracting([f.underlay($0)]) }
        }
        print("fleet mesh: 20 sites converged \(converged.map { String(format: "%.1f", $0) } ?? "-") s after the agents started")
        #expect(f.failingPairs().isEmpty)
        #expect(f.failingPairs(size: 1472).isEmpty, "1472-byte DF pings")
        for i in f.sites {
            let s = f.status(i)
            #expect(s["reachable"] as? Bool == true && s["range_reads"] as? Int == 1, "s\(i): \(s)")
        }

        // Site 5's underlay address changes; its agent registers the new one; every peer's FDB follows in place.
        // (Deleting a primary address deletes its secondaries: the old one goes first.)
        try Host.sh("ip -n \(f.gw(5)) addr del \(f.underlay(5))/24 dev wan; ip -n \(f.gw(5)) addr add 10.70.0.205/24 dev wan")
        let moved = f.waitFor("every peer has 10.70.0.205 instead of \(f.underlay(5))", seconds: 60) {
            f.sites.filter { $0 != 5 }.allSatisfy { let d = f.fdb($0); return d.contains("10.70.0.205") && !d.contains(f.underlay(5)) }
        }
        let resumed = f.waitFor("h1 pings h5 again", seconds: 30) { f.ping(1, 5) }
        print("fleet mesh: address change followed by every peer in \(moved.map { String(format: "%.2f", $0) } ?? "-") s; pings resumed \(resumed.map { String(format: "%.2f", $0) } ?? "-") s after that")
        #expect(f.failingPairs(among: [1, 5, 9, 14, 20]).isEmpty)
        #expect(f.logText(3).contains("1 change") || f.logText(3).contains("2 changes"), "\(f.logText(3))")
        // Site 5 wrote its new address over new connections: its registry was never unreachable, its lease never lost
        // (made from the old address, the connections hung until the TTL: every peer dropped site 5 meanwhile).
        let after = f.logText(5).components(separatedBy: "underlay address changed").dropFirst().joined()
        #expect(!after.isEmpty && !after.contains("unreachable") && !after.contains("registering again"), "\(f.logText(5))")
        // So every peer replaced site 5's entry in one apply, never without it in between.
        for i in f.sites where i != 5 {
            let lines = f.logText(i).split(separator: "\n")
            #expect(lines.contains { $0.contains("dst \(f.underlay(5)) (not in the config)") && $0.contains("dst 10.70.0.205") }, "s\(i): \(f.logText(i))")
        }

        // SIGKILL of site 7's agent: gone from every peer within its lease's TTL (5 s, + the watch), back on restart.
        kill(f.agents[7]!.processIdentifier, SIGKILL)
        f.agents[7]!.waitUntilExit()
        let gone = f.waitFor("no peer has site 7", seconds: 15) { f.sites.filter { $0 != 7 }.allSatisfy { !f.fdb($0).contains(f.underlay(7)) } }
        print("fleet mesh: killed site gone from every peer \(gone.map { String(format: "%.1f", $0) } ?? "-") s after SIGKILL (TTL 5 s)")
        #expect(gone.map { $0 <= 5 + 3 } ?? false, "within the TTL plus the watch's latency")
        _ = try f.start(7)
        _ = f.waitFor("every peer has site 7 again", seconds: 60) { f.sites.filter { $0 != 7 }.allSatisfy { f.fdb($0).contains(f.underlay(7)) } }
        _ = f.waitFor("h7 pings h1", seconds: 30) { f.ping(7, 1) }

        // One member killed: nothing changes for the sites.
        let before = f.sites.map { f.status($0)["changes_applied"] as? Int ?? -1 }
        let leader = f.cluster.leader() ?? 1
        try f.cluster.kill(leader)
        usleep(8_000_000)   // longer than the TTL: a lease that was not kept would have expired by now
        #expect(f.sites.allSatisfy { f.fdb($0).count == 19 })
        #expect(f.sites.map { f.status($0)["changes_applied"] as? Int ?? -1 } == before)
        #expect(f.failingPairs(among: [2, 7, 11, 19]).isEmpty)
        try f.cluster.start(leader)
        try f.cluster.waitWritable()

        // All three stopped: tunnels keep forwarding, status says the registry is unreachable. Site 9's agent is
        // killed meanwhile; on restart every agent resumes from its revision: one change each (9's entry removed),
        // no second full read.
        for m in 1...3 { try f.cluster.stop(m) }
        _ = f.waitFor("every agent says the registry is unreachable", seconds: 30) { f.sites.allSatisfy { f.status($0)["reachable"] as? Bool == false } }
        #expect(f.failingPairs(among: [1, 6, 12, 18]).isEmpty, "forwarding without the registry")
        kill(f.agents[9]!.processIdentifier, SIGKILL)
        f.agents[9]!.waitUntilExit()
        let applied = f.sites.filter { $0 != 9 }.map { f.status($0)["changes_applied"] as? Int ?? -1 }
        usleep(6_000_000)
        #expect(f.sites.filter { $0 != 9 }.allSatisfy { f.fdb($0).count == 19 }, "no flapping while unreachable")
        for m in 1...3 { try f.cluster.start(m) }
        try f.cluster.waitWritable(seconds: 60)
        _ = f.waitFor("every peer dropped site 9", seconds: 60) { f.sites.filter { $0 != 9 }.allSatisfy { !f.fdb($0).contains(f.underlay(9)) } }
        _ = f.waitFor("every agent reachable again", seconds: 30) { f.sites.filter { $0 != 9 }.allSatisfy { f.status($0)["reachable"] as? Bool == true } }
        for (n, i) in f.sites.filter({ $0 != 9 }).enumerated() {
            let s = f.status(i)
            #expect(s["range_reads"] as? Int == 1, "s\(i) read the segment again: \(s)")
            // Site 9's default entry and the MACs learned behind it (3 when measured: its host's, its gateway's bridge
            // and tunnel device): nothing else — a rebuild would be 20 changes or more.
            let now = s["changes_applied"] as? Int ?? -1
            #expect((1...6).contains(now - applied[n]), "s\(i): \(applied[n]) → \(s)")
        }

        // Two agents racing for one name: one wins, the other refuses and exits 1.
        try f.addSite(21)
        try f.addSite(22)
        let a = try f.start(21, site: "race", log: "/tmp/isthmus-\(f.tag)-s21.log")
        let b = try f.start(22, site: "race", log: "/tmp/isthmus-\(f.tag)-s22.log")
        defer { for p in [a, b] where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        _ = f.waitFor("one of the racers exits", seconds: 60) { !a.isRunning || !b.isRunning }
        let (loser, winner, loserLog) = a.isRunning ? (b, a, f.logText(22)) : (a, b, f.logText(21))
        usleep(1_000_000)
        #expect(winner.isRunning && loser.terminationStatus == 1, "winner running \(winner.isRunning), loser exit \(loser.terminationStatus)")
        #expect(loserLog.contains("site \"race\" is already registered by another agent"), "\(loserLog)")
    }

    /// Hub topology with 20 sites: each spoke's VXLAN floods to the hub only, the hub's to every spoke; the hub
    /// forwards between spokes (its tunnel port in hairpin mode, its transit table dropping the copy of a flooded frame
    /// that would go back to the spoke it came from), so every host reaches every other through the hub, 1472-byte DF
    /// pings too, and no spoke learns its own hosts behind the tunnel. The hub's agent stopping takes the table away.
    @Test("hub: 20 sites, every host reaches every other through the hub, no echo of a spoke's own frames, 1472-byte DF pings")
    func hub() throws {
        let f = Fleet(test: "flh", topology: "topology = \"hub\"\nhubs = [\"s1\"]")
        defer { f.down() }
        try f.up(sites: 20)
        // The hub's agent serves Prometheus metrics (in its namespace); spoke 2's agent is started with `-n` (the
        // registry is reachable only from inside the namespaces).
        for i in f.sites { _ = try f.start(i, extra: i == 1 ? ["--metrics", "127.0.0.1:9561"] : [], dashN: i == 2) }
        let table = "isthmus-hub-\(f.segment)"
        func transit() -> String { (try? Host.run(["ip", "netns", "exec", f.gw(1), "nft", "list", "table", "inet", table]).output) ?? "" }
        let converged = f.waitFor("the hub has every spoke, each spoke only the hub, the hub's transit has all 19", seconds: 180) {
            f.fdb(1) == Set((2...20).map { f.underlay($0) }) && (2...20).allSatisfy { f.fdb($0) == [f.underlay(1)] }
                && transit().components(separatedBy: " . 0x4953").count == 20
        }
        try #require(converged != nil, "hub fdb \(f.fdb(1).count), transit:\n\(transit())\n\(f.logText(1).suffix(2000))")
        let hairpin = try Host.run(["ip", "netns", "exec", f.gw(1), "ip", "-d", "link", "show", "dev", "isth-\(f.segment)"]).output
        #expect(hairpin.contains("hairpin on"), "\(hairpin)")
        #expect(f.failingPairs().isEmpty, "every host to every other, through the hub")
        #expect(f.failingPairs(size: 1472, among: [1, 2, 9, 15, 20]).isEmpty, "1472-byte DF pings, spoke to spoke through the hub")
        // The hub dropped the copies of flooded frames (ARP) that would have gone back to their spoke, and a spoke's
        // own host is still learned on its LAN port, not behind the tunnel.
        #expect(transit().range(of: "counter echo_dropped \\{\\s*packets [1-9]", options: .regularExpression) != nil, "\(transit())")
        for i in [2, 11, 20] {
            let mac = (try? Host.run(["ip", "netns", "exec", f.host(i), "cat", "/sys/class/net/eth0/address"]).output)?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            let fdb = (try? Host.run(["ip", "netns", "exec", f.gw(i), "bridge", "fdb", "show", "br", "br-\(f.segment)"]).output) ?? ""
            let lines = fdb.split(separator: "\n").filter { $0.hasPrefix(mac) }
            #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("dev eth1") }, "s\(i)'s host \(mac): \(lines)")
        }
        let m = try MetricsTests.scrape(f.gw(1), "127.0.0.1:9561")
        #expect(MetricsTests.value(m, "isthmus_registry_registered", ["site": "s1"]) == 1)
        #expect(MetricsTests.value(m, "isthmus_registry_reachable", ["site": "s1"]) == 1)
        #expect(MetricsTests.value(m, "isthmus_registry_peers", ["site": "s1"]) == 19)
        #expect((MetricsTests.value(m, "isthmus_registry_changes_applied_total", ["site": "s1"]) ?? 0) >= 19, "19 FDB entries at least")
        #expect((MetricsTests.value(m, "isthmus_registry_revision", ["site": "s1"]) ?? 0) > 0)
        #expect(MetricsTests.value(m, "isthmus_registry_apply_failing", ["site": "s1"]) == 0)
        // The hub's agent stops: its segment goes down, the transit table with it.
        if let hub = f.agents[1] { kill(hub.processIdentifier, SIGTERM); hub.waitUntilExit() }
        #expect(!((try? Host.run(["ip", "netns", "exec", f.gw(1), "nft", "list", "tables"]).output) ?? "").contains(table))
    }

    /// A point-to-point kind on the userspace data plane, hub topology: a tunnel per spoke on the hub, one on each
    /// spoke, the hub's bridge forwarding between them (no transit table, no hairpin).
    @Test("hub of 20 over userspace gretap: a tunnel per spoke, every host reaches every other through the hub's bridge, 1472-byte DF pings")
    func pointToPointHub() throws {
        let f = Fleet(test: "flg", topology: "topology = \"hub\"\nhubs = [\"s1\"]", tunnel: "tunnel = \"gretap\"\ndataplane = \"userspace\"")
        defer { f.down() }
        try f.up(sites: 20)
        for i in f.sites { _ = try f.start(i) }
        let converged = f.waitFor("the hub has a tunnel up to each of 19 spokes, each spoke one to the hub", seconds: 240) {
            let hub = f.pairPorts(1)
            return hub.count == 19 && hub.values.allSatisfy { $0 == ["up"] }
                && (2...20).allSatisfy { let p = f.pairPorts($0); return p.count == 1 && p.values.first == ["up"] }
        }
        try #require(converged != nil, "hub ports \(f.pairPorts(1))\n\(f.logText(1).suffix(3000))")
        print("fleet hub (userspace gretap): 20 sites converged \(String(format: "%.1f", converged!)) s after the agents started")
        #expect(f.failingPairs().isEmpty, "every host to every other, through the hub's bridge")
        #expect(f.failingPairs(size: 1472, among: [1, 2, 9, 15, 20]).isEmpty, "1472-byte DF pings")
        #expect(!((try? Host.run(["ip", "netns", "exec", f.gw(1), "nft", "list", "tables"]).output) ?? "").contains("isthmus-hub-"))
        let st = f.fullStatus(1)
        let tunnels = st["tunnels"] as? [[String: Any]] ?? []
        #expect(tunnels.count == 19 && tunnels.allSatisfy { $0["up"] as? Bool == true && $0["isolated"] as? Bool == false }, "\(st)")
        #expect(st["health"] as? String == "healthy", "\(st["health"] ?? "-"): \(st["pending"] ?? "-")")
    }

    /// A point-to-point kind on the userspace data plane, full mesh: a tunnel per peer, each bridge port isolated
    /// (a frame from one peer never goes to another: without it a broadcast would circle the mesh for ever); a site
    /// that moves gets its tunnels' remote changed at every peer; a killed site's tunnels go within its TTL.
    @Test("mesh of 6 over userspace L2TPv3/IP: isolated tunnel per peer, every pair, 1472-byte DF pings, a move followed, SIGKILL and restart")
    func pointToPointMesh() throws {
        let f = Fleet(test: "fll", tunnel: "tunnel = \"l2tpv3\"\nencap = \"ip\"\ncookies = true\ndataplane = \"userspace\"")
        defer { f.down() }
        try f.up(sites: 6)
        for i in f.sites { _ = try f.start(i) }
        func meshed(_ sites: [Int]) -> Bool {
            sites.allSatisfy { let p = f.pairPorts($0); return p.count == sites.count - 1 && p.values.allSatisfy { $0 == ["up", "isolated"] } }
        }
        let converged = f.waitFor("each site has an isolated tunnel up to each of the 5 others", seconds: 180) { meshed(f.sites) }
        try #require(converged != nil, "s1 ports \(f.pairPorts(1))\n\(f.logText(1).suffix(3000))")
        #expect(f.failingPairs().isEmpty)
        #expect(f.failingPairs(size: 1472).isEmpty, "1472-byte DF pings")
        // No loop: a broadcast reaches each site once. Every site's tunnel ports together received at most a few
        // frames per ARP request of the pings above (a loop would be thousands per second).
        func tunnelsRx() -> Int {
            (f.fullStatus(1)["tunnels"] as? [[String: Any]] ?? []).map { (($0["counters"] as? [String: Any])?["rx_packets"] as? Int) ?? 0 }.reduce(0, +)
        }
        let rx1 = tunnelsRx()
        usleep(2_000_000)
        let rx2 = tunnelsRx()
        #expect(rx2 - rx1 < 50, "quiet mesh: \(rx1) → \(rx2) frames in 2 s")
        #expect(f.fullStatus(3)["health"] as? String == "healthy", "\(f.fullStatus(3))")
        let text = (try? Host.run(["ip", "netns", "exec", f.gw(3), Host.isthmusBinary!, "status", "--config", f.file, "--site", "s3"]).output) ?? ""
        #expect(text.contains("5 tunnels (one per peer)") && text.contains("health: healthy"), "\(text)")
        for peer in [1, 2, 4, 5, 6] {
            let row = text.split(separator: "\n").first { $0.contains("tunnel to s\(peer)") } ?? ""
            #expect(row.hasPrefix(DesiredState.pairTunnelName(segment: f.segment, peer: "s\(peer)")) && row.contains(" up ")
                    && row.contains("userspace l2tpv3; isolated; rx "), "\(text)")
        }

        // Site 4 moves: every peer's tunnel to it is restarted with the new remote.
        try Host.sh("ip -n \(f.gw(4)) addr del \(f.underlay(4))/24 dev wan; ip -n \(f.gw(4)) addr add 10.70.0.204/24 dev wan")
        let moved = f.waitFor("h1, h2 and h6 ping h4 again", seconds: 60) { f.ping(1, 4) && f.ping(2, 4) && f.ping(6, 4) }
        print("fleet mesh (userspace l2tpv3): pings to a moved site resumed \(moved.map { String(format: "%.2f", $0) } ?? "-") s after the change")
        #expect(f.failingPairs(among: [3, 4, 5]).isEmpty)

        // SIGKILL of site 5's agent: every peer removes its tunnel to site 5 within the TTL (5 s) + the watch.
        kill(f.agents[5]!.processIdentifier, SIGKILL)
        f.agents[5]!.waitUntilExit()
        let five = DesiredState.pairTunnelName(segment: f.segment, peer: "s5")
        let gone = f.waitFor("no peer has a tunnel to site 5", seconds: 15) { f.sites.filter { $0 != 5 }.allSatisfy { f.pairPorts($0)[five] == nil } }
        #expect(gone.map { $0 <= 5 + 3 } ?? false, "within the TTL plus the watch's latency")
        #expect(meshed([1, 2, 3, 4, 6]))
        _ = try f.start(5)
        _ = f.waitFor("site 5 is meshed again", seconds: 60) { meshed(f.sites) }
        _ = f.waitFor("h5 pings h1", seconds: 30) { f.ping(5, 1) }
        #expect(f.failingPairs(among: [1, 5, 6]).isEmpty)
        // The agent's SIGTERM takes its segment down: every tunnel process of site 6 stops with it.
        if let a = f.agents[6] { kill(a.processIdentifier, SIGTERM); a.waitUntilExit() }
        let left = ((try? Host.run(["ip", "netns", "pids", f.gw(6)]).output) ?? "").split(separator: "\n")
        #expect(left.isEmpty, "processes left in s6's namespace: \(left)")
        #expect(f.pairPorts(6).isEmpty)
    }
}
