import Fleet
import FleetAgent
import Foundation
import SiteAgent
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The registry agent's real apply path without etcd: agents in this process on one in-memory registry, each
/// applying its side in its own gateway namespace through SiteAgent's reconciler (kernel VXLAN, peers as FDB
/// entries). What etcd adds — the store itself — is the fleet tests' on a real cluster.
@Suite("Fleet agents on the kernel (in-memory registry)", .serialized, .enabled(if: Host.isRoot, "\(Host.notRootReason)"),
       .timeLimit(.minutes(5)))
struct FleetKernelTests {
    final class Lab: @unchecked Sendable {
        let tag = "isth-fk-\(getpid())"
        var made: [String] = []
        let fleet: FleetConfig
        init() throws {
            let text = """
                [segment]
                name = "fk"
                tunnel = "vxlan"
                dataplane = "kernel"
                [registry]
                etcd = ["http://127.0.0.1:2379"]
                ttl = 3
                [site]
                address = "route"
                lan = ["eth1"]
                """
            fleet = try SiteConfig.loadFleet(text: text, file: "fk.toml").get()
        }
        var br: String { "\(tag)-br" }
        func gw(_ i: Int) -> String { "\(tag)-g\(i)" }
        func host(_ i: Int) -> String { "\(tag)-h\(i)" }
        func underlay(_ i: Int) -> String { "10.71.0.\(i)" }

        func build(_ count: Int) throws {
            try Host.sh("ip netns add \(br)"); made.append(br)
            try Host.sh("ip -n \(br) link add br0 type bridge; ip -n \(br) link set br0 up")
            for i in 1...count {
                try Host.sh("ip netns add \(gw(i))"); made.append(gw(i))
                try Host.sh("ip netns add \(host(i))"); made.append(host(i))
                try Host.sh("""
                    ip -n \(gw(i)) link set lo up
                    ip -n \(br) link add u\(i) type veth peer name wan netns \(gw(i))
                    ip -n \(br) link set u\(i) master br0 up
                    ip -n \(gw(i)) addr add \(underlay(i))/24 dev wan; ip -n \(gw(i)) link set wan up
                    ip -n \(gw(i)) link add eth1 type veth peer name eth0 netns \(host(i))
                    ip -n \(gw(i)) link set eth1 up
                    ip -n \(host(i)) addr add 192.168.78.\(i)/24 dev eth0; ip -n \(host(i)) link set eth0 up
                    """)
            }
        }

        func remove() { for ns in made.reversed() { _ = try? Host.run(["ip", "netns", "del", ns]) } }

        func fdb(_ i: Int) -> Set<String> {
            let out = (try? Host.run(["ip", "netns", "exec", gw(i), "bridge", "fdb", "show", "dev", "isth-fk"]).output) ?? ""
            return Set(out.split(separator: "\n").compactMap { l in
                let w = l.split(separator: " ")
                guard w.first == "00:00:00:00:00:00", let d = w.firstIndex(of: "dst") else { return nil }
                return String(w[d + 1])
            })
        }

        func vxlanIndex(_ i: Int) -> String {
            (try? Host.run(["ip", "netns", "exec", gw(i), "cat", "/sys/class/net/isth-fk/ifindex"]).output) ?? "none"
        }

        func ping(_ a: Int, _ b: Int, size: Int = 1472) -> Bool {
            (try? Host.run(["ip", "netns", "exec", host(a), "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "\(size)", "192.168.78.\(b)"]).status) == 0
        }
    }

    final class Box<T: Sendable>: @unchecked Sendable {
        let lock = NSLock(); var v: T
        init(_ v: T) { self.v = v }
        var value: T { get { lock.lock(); defer { lock.unlock() }; return v } set { lock.lock(); v = newValue; lock.unlock() } }
    }

    func agent(_ lab: Lab, _ i: Int, store: RegistryStore, address: Box<String>) -> FleetAgent {
        let host = FleetHost(file: "fk.toml", fleet: lab.fleet, site: "s\(i)", netns: lab.gw(i))
        var c = FleetAgent.Configuration(fleet: lab.fleet, site: "s\(i)", agentID: "test:\(i)")
        c.keepAliveInterval = 0.1
        c.retryInterval = 0.1
        c.driftInterval = nil
        return FleetAgent(configuration: c, store: store, apply: { try host.apply($0) }, resolveAddress: { IPAddress(address.value)! })
    }

    /// Waits without holding a thread of the cooperative pool (the agents do not run there, but other tests do).
    func waitFor(_ what: String, seconds: Double = 30, _ condition: () -> Bool) async {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if condition() { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for: \(what)")
    }

    /// Runs an agent on a thread of its own: on the cooperative pool it starved whenever the suite's blocking tests
    /// held the pool's threads (two on two cores), and "four sites meshed" timed out only in the full suite.
    func start(_ agent: FleetAgent, executors: inout [NamespaceExecutor]) throws -> Task<Void, Error> {
        let executor = try NamespaceExecutor(namespace: nil)
        executors.append(executor)
        return Task(executorPreference: executor) { try await agent.run() }
    }

    @Test("four sites join; a fifth joins, moves and leaves: FDB entries follow in place, 1472-byte DF pings cross")
    func joinMoveLeave() async throws {
        let lab = try Lab()
        defer { lab.remove() }
        try lab.build(5)
        let store = MemoryRegistryStore()
        var tasks: [Int: Task<Void, Error>] = [:]
        var agents: [Int: FleetAgent] = [:]
        let addresses = (1...5).map { Box(lab.underlay($0)) }
        var executors: [NamespaceExecutor] = []
        defer {
            for t in tasks.values { t.cancel() }
            for e in executors { e.stop() }
        }
        for i in 1...4 {
            let a = agent(lab, i, store: store, address: addresses[i - 1])
            agents[i] = a
            tasks[i] = try start(a, executors: &executors)
        }
        await waitFor("four sites meshed") { (1...4).allSatisfy { lab.fdb($0).count == 3 } }
        for a in 1...4 { for b in 1...4 where a != b { #expect(lab.ping(a, b), "h\(a) → h\(b)") } }
        let devices = (1...4).map { lab.vxlanIndex($0) }
        let applied = await (1...4).asyncMap { await agents[$0]!.status.changesApplied }

        let fifth = agent(lab, 5, store: store, address: addresses[4])
        tasks[5] = try start(fifth, executors: &executors)
        await waitFor("everyone has site 5") { (1...4).allSatisfy { lab.fdb($0).contains(lab.underlay(5)) } && lab.fdb(5).count == 4 }
        #expect(lab.ping(5, 1) && lab.ping(2, 5))
        #expect(await (1...4).asyncMap { await agents[$0]!.status.changesApplied } == applied.map { $0 + 1 }, "one FDB entry each")

        // Site 5 moves to another underlay address.
        // (Deleting a primary address deletes its secondaries: the old one goes first.)
        try Host.sh("ip -n \(lab.gw(5)) addr del \(lab.underlay(5))/24 dev wan; ip -n \(lab.gw(5)) addr add 10.71.0.55/24 dev wan")
        addresses[4].value = "10.71.0.55"
        await waitFor("every peer follows site 5") { (1...4).allSatisfy { lab.fdb($0).contains("10.71.0.55") && !lab.fdb($0).contains(lab.underlay(5)) } }
        await waitFor("h1 reaches h5 again") { lab.ping(1, 5) }
        #expect((1...4).map { lab.vxlanIndex($0) } == devices, "the VXLAN devices were changed in place, never replaced")

        // Site 5's agent stops without revoking (as SIGKILL): gone once its lease runs out on the registry's clock.
        tasks[5]!.cancel()
        _ = await tasks[5]!.result
        tasks[5] = nil
        for _ in 0..<5 { try await Task.sleep(nanoseconds: 300_000_000); store.advance(seconds: 1) }
        await waitFor("no peer has site 5") { (1...4).allSatisfy { !lab.fdb($0).contains("10.71.0.55") } }
        #expect((1...4).allSatisfy { lab.fdb($0).count == 3 })
        #expect(lab.ping(1, 4) && lab.ping(3, 2))
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ f: (Element) async -> T) async -> [T] {
        var out: [T] = []
        for e in self { out.append(await f(e)) }
        return out
    }
}
