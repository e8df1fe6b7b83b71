import Foundation
import Synchronization
import Testing
@testable import Fleet
@testable import FleetAgent

/// A host as the planner sees it (Planner.apply is the fake OS): the agent's applies change it, and the tests read
/// what the kernel would hold — FDB entries, devices.
final class FakeHost: Sendable {
    let state: Mutex<ObservedState>
    let lines = Mutex<[String]>([])
    init() { state = Mutex(ObservedState(interfaces: [ObservedInterface(name: "eth1", kind: "")])) }

    func apply(_ segment: SegmentConfig, site: String) throws -> [String] {
        let side = try segment.side(for: site)
        let desired = try DesiredState(side: side, dataplane: .kernel, peersAsFDB: true)
        return try state.withLock { s in
            let changes = try Planner.plan(desired: desired, observed: s, segment: segment.name)
            s = Planner.apply(changes, to: s)
            let l = changes.map(\.description)
            lines.withLock { $0 += l }
            return l
        }
    }

    var fdb: [String] { state.withLock { $0["isth-branches"]?.fdb.sorted() ?? [] } }
    func take() -> [String] { lines.withLock { l in defer { l = [] }; return l } }
}

/// A store one agent reaches through, cut and restored on its own (the registry unreachable for this agent only).
final class CuttableStore: RegistryStore {
    let inner: MemoryRegistryStore
    let cut = Mutex(false)
    let streams = Mutex<[AsyncThrowingStream<WatchBatch, Error>.Continuation]>([])
    init(_ inner: MemoryRegistryStore) { self.inner = inner }

    func setCut(_ c: Bool) {
        cut.withLock { $0 = c }
        if c { for s in streams.withLock({ s in defer { s = [] }; return s }) { s.finish(throwing: RegistryStoreError.unavailable("cut")) } }
    }
    func check() throws { if cut.withLock({ $0 }) { throw RegistryStoreError.unavailable("cut") } }
    func range(prefix: String) async throws -> RegistrySnapshot { try check(); return try await inner.range(prefix: prefix) }
    func grantLease(ttl: Int) async throws -> Int64 { try check(); return try await inner.grantLease(ttl: ttl) }
    func keepLeaseAlive(_ lease: Int64, ttl: Int) -> AsyncStream<LeaseState> {
        MemoryRegistryStore.renewing(every: 0.05) { try self.check(); return try await self.inner.keepAlive(lease: lease) }
    }
    func revoke(lease: Int64) async throws { try check(); try await inner.revoke(lease: lease) }
    func createIfAbsent(key: String, value: [UInt8], lease: Int64) async throws -> StoredKeyValue? {
        try check(); return try await inner.createIfAbsent(key: key, value: value, lease: lease)
    }
    func put(key: String, value: [UInt8], lease: Int64) async throws -> Int64 { try check(); return try await inner.put(key: key, value: value, lease: lease) }
    func delete(key: String) async throws -> Int64 { try check(); return try await inner.delete(key: key) }
    func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<WatchBatch, Error> {
        let (out, c) = AsyncThrowingStream<WatchBatch, Error>.makeStream()
        if cut.withLock({ $0 }) { c.finish(throwing: RegistryStoreError.unavailable("cut")); return out }
        streams.withLock { $0.append(c) }
        let task = Task {
            do { for try await b in inner.watch(prefix: prefix, fromRevision: revision) { c.yield(b) }; c.finish() } catch { c.finish(throwing: error) }
        }
        c.onTermination = { _ in task.cancel() }
        return out
    }
}

final class Locked<T: Sendable>: Sendable {
    let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    var value: T { m.withLock { $0 } }
    func set(_ v: T) { m.withLock { $0 = v } }
}

/// One running agent, its host and the knobs a test turns.
final class Node: Sendable {
    let name: String
    let host = FakeHost()
    let address: Locked<IPAddress>
    let agent: FleetAgent
    let store: CuttableStore
    let task = Locked<Task<Void, Error>?>(nil)

    init(_ name: String, _ address: String, store: MemoryRegistryStore, agentID: String? = nil,
         addressChanges: (@Sendable () throws -> AsyncStream<Void>)? = nil, keepAlive: Double = 0.05) throws {
        self.name = name
        self.address = Locked(IPAddress(address)!)
        self.store = CuttableStore(store)
        var c = FleetAgent.Configuration(fleet: try loadFleet(fleetFile().replacingOccurrences(of: "ttl = 6", with: "ttl = 3")),
                                         site: name, agentID: agentID ?? "test:\(name)")
        c.keepAliveInterval = keepAlive
        c.retryInterval = 0.05
        c.driftInterval = nil
        let host = self.host, addr = self.address
        agent = FleetAgent(configuration: c, store: self.store, apply: { try host.apply($0, site: name) },
                           resolveAddress: { addr.value }, addressChanges: addressChanges)
    }

    func start() { let a = agent; task.set(Task { try await a.run() }) }
    /// As SIGKILL: the agent stops, nothing is revoked.
    func kill() async { let t = task.value; t?.cancel(); _ = await t?.result }
    var status: FleetAgent.Status { get async { await agent.status } }
}

func eventually(_ what: String, timeout: Double = 20, _ condition: () async -> Bool) async {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if await condition() { return }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    Issue.record("timed out waiting for: \(what)")
}

@Suite(.serialized) struct FleetAgentTests {
    /// Moves the registry's clock by `seconds`, one second at a time, giving live agents time to keep their leases.
    func age(_ store: MemoryRegistryStore, _ seconds: Int) async {
        for _ in 0..<seconds {
            try? await Task.sleep(nanoseconds: 200_000_000)
            store.advance(seconds: 1)
        }
    }

    @Test func joinMoveLeaveApplyOnlyTheDifference() async throws {
        let store = MemoryRegistryStore()
        let nodes = try [("a", "192.0.2.1"), ("b", "192.0.2.2"), ("c", "192.0.2.3")].map { try Node($0.0, $0.1, store: store) }
        for n in nodes { n.start() }
        for n in nodes {
            await eventually("\(n.name) sees two peers") { await n.status.peers.count == 2 }
        }
        #expect(nodes[0].host.fdb == ["192.0.2.2", "192.0.2.3"])
        #expect(nodes[2].host.fdb == ["192.0.2.1", "192.0.2.2"])
        for n in nodes { _ = n.host.take() }

        // A new site: one FDB entry appended on each peer, nothing else.
        let d = try Node("d", "192.0.2.4", store: store)
        d.start()
        for n in nodes {
            await eventually("\(n.name) adds d") { n.host.fdb.contains("192.0.2.4") }
            #expect(n.host.take() == ["+ fdb append 00:00:00:00:00:00 dev isth-branches dst 192.0.2.4"])
        }
        await eventually("d sees three peers") { await d.status.peers.count == 3 }

        // d's underlay address changes: every peer's entry follows, in place (the device is not replaced).
        d.address.set(IPAddress("192.0.2.44")!)
        for n in nodes {
            await eventually("\(n.name) follows d") { n.host.fdb.contains("192.0.2.44") }
            #expect(n.host.take() == ["+ fdb append 00:00:00:00:00:00 dev isth-branches dst 192.0.2.44",
                                      "- fdb del 00:00:00:00:00:00 dev isth-branches dst 192.0.2.4 (not in the config)"])
            #expect(await n.status.peers["d"] == IPAddress("192.0.2.44"))
        }

        // d killed (no revoke): gone from every peer once its lease runs out, and back when it restarts.
        await d.kill()
        await age(store, 4)
        for n in nodes {
            await eventually("\(n.name) drops d") { !n.host.fdb.contains("192.0.2.44") }
            #expect(n.host.take() == ["- fdb del 00:00:00:00:00:00 dev isth-branches dst 192.0.2.44 (not in the config)"])
        }
        let d2 = try Node("d", "192.0.2.44", store: store)
        d2.start()
        for n in nodes { await eventually("\(n.name) adds d again") { n.host.fdb.contains("192.0.2.44") } }
        for n in nodes + [d2] { await n.kill() }
    }

    /// With the kernel's notifications (`addressChanges`), the agent looks at its address when told, not on a timer:
    /// a changed address stays unseen until an event, and is registered (and followed by the peers) right after one.
    @Test func addressLookedAtWhenTheKernelSaysSo() async throws {
        let store = MemoryRegistryStore()
        let (events, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let a = try Node("a", "192.0.2.1", store: store)
        let b = try Node("b", "192.0.2.2", store: store, addressChanges: { events }, keepAlive: 3600)
        a.start(); b.start()
        await eventually("a sees b") { a.host.fdb == ["192.0.2.2"] }
        b.address.set(IPAddress("192.0.2.22")!)
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(a.host.fdb == ["192.0.2.2"], "no event, no look (keep-alive interval 3,600 s)")
        wake.yield()
        await eventually("a follows b after the event") { a.host.fdb == ["192.0.2.22"] }
        #expect(await b.status.address == IPAddress("192.0.2.22"))
        await a.kill(); await b.kill()
    }

    @Test func restartBeforeTheLeaseExpiresTakesTheSiteBack() async throws {
        let store = MemoryRegistryStore()
        let a = try Node("a", "192.0.2.1", store: store), b = try Node("b", "192.0.2.2", store: store)
        a.start(); b.start()
        await eventually("a sees b") { await a.status.peers.count == 1 }
        await b.kill()
        let again = try Node("b", "192.0.2.2", store: store)
        again.start()
        await eventually("the restarted b is registered") { await again.status.registered }
        #expect(a.host.fdb == ["192.0.2.2"])
        await a.kill(); await again.kill()
    }

    @Test func twoAgentsRacingForOneNameOneWins() async throws {
        let store = MemoryRegistryStore()
        let x = try Node("same", "192.0.2.1", store: store, agentID: "host-x:1")
        let y = try Node("same", "192.0.2.2", store: store, agentID: "host-y:1")
        async let rx: Error? = { do { try await x.agent.register(); return nil } catch { return error } }()
        async let ry: Error? = { do { try await y.agent.register(); return nil } catch { return error } }()
        let results = await [rx, ry]
        let refused = results.compactMap { $0 as? FleetAgent.Failure }
        #expect(results.filter { $0 == nil }.count == 1)
        #expect(refused.count == 1)
        #expect(refused.first?.description.hasPrefix("site \"same\" is already registered by another agent (host-") == true)
        // The loser holds nothing: its lease was revoked, only the winner's keys exist.
        let keys = try await store.range(prefix: "/isthmus/").items.map { String(decoding: $0.key, as: UTF8.self) }
        #expect(keys == ["/isthmus/segments/branches/agents/same", "/isthmus/segments/branches/sites/same"])
    }

    @Test func unreachableKeepsStateAndCatchesUpFromItsRevision() async throws {
        let store = MemoryRegistryStore()
        let nodes = try [("a", "192.0.2.1"), ("b", "192.0.2.2"), ("c", "192.0.2.3")].map { try Node($0.0, $0.1, store: store) }
        for n in nodes { n.start() }
        for n in nodes { await eventually("\(n.name) sees two peers") { await n.status.peers.count == 2 } }
        let a = nodes[0]
        _ = a.host.take()
        let before = await a.status
        a.store.setCut(true)
        await eventually("a says the registry is unreachable") { await !a.status.reachable }
        // Meanwhile: c leaves, e joins. a keeps what it applied.
        await nodes[2].kill()
        try await nodes[2].store.inner.revoke(lease: await nodes[2].status.lease)
        let e = try Node("e", "192.0.2.5", store: store)
        e.start()
        await eventually("b sees e") { nodes[1].host.fdb == ["192.0.2.1", "192.0.2.5"] }
        #expect(a.host.fdb == ["192.0.2.2", "192.0.2.3"])
        #expect(a.host.take().isEmpty)
        #expect(await a.status.unreachableReason?.contains("cut") == true)
        // Back: a resumes its watch from its revision — no second full read — and applies exactly the difference.
        a.store.setCut(false)
        await eventually("a catches up") { a.host.fdb == ["192.0.2.2", "192.0.2.5"] }
        let after = await a.status
        #expect(after.reachable && after.rangeReads == before.rangeReads)
        #expect(Set(a.host.take()) == ["+ fdb append 00:00:00:00:00:00 dev isth-branches dst 192.0.2.5",
                                       "- fdb del 00:00:00:00:00:00 dev isth-branches dst 192.0.2.3 (not in the config)"])
        #expect(after.changesApplied == before.changesApplied + 2)
        for n in nodes + [e] { await n.kill() }
    }

    /// A registry that does not answer when the agent starts is waited for (status: unreachable, nothing applied),
    /// and the agent registers once it answers — it used to end at its first failed call (the guest's fleet scenario
    /// had to start agents again, as systemd would).
    @Test func registryDownAtStartIsWaitedFor() async throws {
        let store = MemoryRegistryStore()
        let b = try Node("b", "192.0.2.2", store: store)
        b.start()
        await eventually("b registered") { await b.status.registered }
        let a = try Node("a", "192.0.2.1", store: store)
        a.store.setCut(true)
        a.start()
        await eventually("a says the registry is unreachable") { let st = await a.status; return !st.reachable && st.unreachableReason != nil }
        #expect(await !a.status.registered && a.host.take().isEmpty)
        #expect(a.task.value.map { !$0.isCancelled } == true)
        a.store.setCut(false)
        await eventually("a registers and joins b") { await a.status.registered && a.host.fdb == ["192.0.2.2"] }
        #expect(await a.status.reachable)
        for n in [a, b] { await n.kill() }
    }

    @Test func badEntriesAreCountedNeverApplied() async throws {
        let store = MemoryRegistryStore()
        let a = try Node("a", "192.0.2.1", store: store)
        a.start()
        await eventually("a registered") { await a.status.registered }
        let keys = RegistryKeys(prefix: "/isthmus/", segment: "branches")
        try await store.put(key: keys.site("m"), value: Array(#"{"version":1,"name":"m","addresses":["192.0.2.300"],"lan_mtu":1500}"#.utf8), lease: 0)
        try await store.put(key: keys.site("t"), value: Array(#"{"version":1,"name":"t","addresses":["192.0.2.9"],"lan_mtu":100000}"#.utf8), lease: 0)
        try await store.put(key: keys.site("h"), value: [0x7b] + [UInt8](repeating: 0xff, count: 100_000), lease: 0)
        try await store.put(key: keys.site("ok"), value: RegistryEntry(name: "ok", addresses: [IPAddress("192.0.2.7")!]).bytes, lease: 0)
        await eventually("a adds ok") { a.host.fdb == ["192.0.2.7"] }
        #expect(await a.status.refused == ["bad_address": 1, "bad_mtu": 1, "too_large": 1])
        await a.kill()
    }

    @Test func drainLeavesTheSiteOutEverywhere() async throws {
        let store = MemoryRegistryStore()
        let nodes = try [("a", "192.0.2.1"), ("b", "192.0.2.2"), ("c", "192.0.2.3")].map { try Node($0.0, $0.1, store: store) }
        for n in nodes { n.start() }
        for n in nodes { await eventually("\(n.name) sees two peers") { await n.status.peers.count == 2 } }
        let keys = RegistryKeys(prefix: "/isthmus/", segment: "branches")
        try await store.put(key: keys.drain("c"), value: [], lease: 0)
        await eventually("a and b drop c; c drops both") {
            nodes[0].host.fdb == ["192.0.2.2"] && nodes[1].host.fdb == ["192.0.2.1"] && nodes[2].host.fdb.isEmpty
        }
        #expect(await nodes[0].status.omitted == ["c: drained"])
        try await store.delete(key: keys.drain("c"))
        await eventually("c is back") { nodes[0].host.fdb.count == 2 && nodes[2].host.fdb.count == 2 }
        for n in nodes { await n.kill() }
    }

    @Test func compactedRevisionReadsTheSegmentAgain() async throws {
        let store = MemoryRegistryStore()
        let a = try Node("a", "192.0.2.1", store: store)
        a.start()
        await eventually("a registered") { await a.status.registered }
        a.store.setCut(true)
        await eventually("a unreachable") { await !a.status.reachable }
        let keys = RegistryKeys(prefix: "/isthmus/", segment: "branches")
        try await store.put(key: keys.site("b"), value: RegistryEntry(name: "b", addresses: [IPAddress("192.0.2.2")!]).bytes, lease: 0)
        try await store.put(key: "/isthmus/elsewhere", value: [], lease: 0)
        store.compact(store.revision)
        a.store.setCut(false)
        await eventually("a adds b") { a.host.fdb == ["192.0.2.2"] }
        #expect(await a.status.rangeReads == 2)
        await a.kill()
    }
}

@Suite struct FleetHostIdentityTests {
    /// `isthmus -n NS up` and `ip netns exec NS isthmus up` are one agent: the identity is read in the namespace the
    /// process is in (its inode), whatever named it — it was "netns NAME" for `-n` and the inode otherwise, so a
    /// restart the other way found its site held by "another agent" until the old lease expired.
    @Test func sameNamespaceSameAgent() throws {
        let fleet = try loadFleet(fleetFile())
        let named = FleetHost(file: "f", fleet: fleet, site: "east", netns: "isth-somewhere").agentID
        let unnamed = FleetHost(file: "f", fleet: fleet, site: "east", netns: nil).agentID
        #expect(named == unnamed && named.contains(":net "), "\(named) / \(unnamed)")
    }
}
