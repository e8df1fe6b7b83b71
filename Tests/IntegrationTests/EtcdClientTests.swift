import Etcd
import Foundation
import Testing

/// The etcd client against a real 3-member etcd cluster the test starts in namespaces (Tools/etcd-cluster,
/// `EtcdCluster`): KV by prefix, create-if-absent races, lease expiry, watch replay, failover and an outage.
@Suite("etcd client on a real cluster", .serialized, .enabled(if: EtcdCluster.available, "\(EtcdCluster.unavailableReason)"))
struct EtcdClientTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Collects a watch's updates on a task of its own, for the test to wait on.
    final class WatchLog: @unchecked Sendable {
        private let lock = NSLock()
        private var updates: [EtcdWatchUpdate] = []
        private var failure: (any Error)?
        private var task: Task<Void, Never>?

        init(_ stream: AsyncThrowingStream<EtcdWatchUpdate, any Error>) {
            task = Task {
                do {
                    for try await u in stream { self.lock.withLock { self.updates.append(u) } }
                } catch {
                    self.lock.withLock { self.failure = error }
                }
            }
        }

        var all: [EtcdWatchUpdate] { lock.withLock { updates } }
        var error: (any Error)? { lock.withLock { failure } }
        var events: [EtcdEvent] {
            all.flatMap { u -> [EtcdEvent] in if case .events(let e, _) = u { return e } else { return [] } }
        }
        var disconnects: Int { all.filter { if case .disconnected = $0 { return true } else { return false } }.count }
        var connects: Int { all.filter { if case .connected = $0 { return true } else { return false } }.count }

        /// Polls (every 50 ms) until `predicate` holds or `timeout` seconds pass.
        @discardableResult
        func wait(_ timeout: Double, _ predicate: (WatchLog) -> Bool) async -> Bool {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end {
                if predicate(self) { return true }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return predicate(self)
        }

        func cancel() { task?.cancel() }
    }

    @Test("put, get by prefix (revisions, leases), delete; etcdctl sees the same")
    func putGetPrefix() async throws {
        let cluster = EtcdCluster(test: "etcd-kv")
        defer { cluster.down() }
        try cluster.up()
        let etcd = try cluster.client()

        let lease = try await etcd.grantLease(ttl: 30)
        let r1 = try await etcd.put("/kv/sites/a", value: Self.bytes("alpha"))
        let r2 = try await etcd.put("/kv/sites/b", value: [0, 0xff, 0x80], lease: lease.id)
        try await etcd.put("/kv/sitesx", value: Self.bytes("outside the prefix"))
        try await etcd.put("/kv/sites/a", value: Self.bytes("alpha2"))
        #expect(r2 > r1)

        let got = try await etcd.get(prefix: "/kv/sites/")
        #expect(got.kvs.map(\.key) == ["/kv/sites/a", "/kv/sites/b"])
        #expect(got.count == 2 && !got.more)
        let a = try #require(got.kvs.first), b = try #require(got.kvs.last)
        #expect(a.value == Self.bytes("alpha2") && a.createRevision == r1 && a.modRevision > r2 && a.version == 2 && a.lease == 0)
        #expect(b.value == [0, 0xff, 0x80] && b.createRevision == r2 && b.modRevision == r2 && b.lease == lease.id)
        #expect(got.revision >= a.modRevision)

        // The cluster's own client agrees (key and value of b are bytes the test chose).
        let ctl = try cluster.ctl("get", "--prefix", "/kv/sites/", "--keys-only")
        #expect(ctl.split(separator: "\n").filter { !$0.isEmpty } == ["/kv/sites/a", "/kv/sites/b"], "\(ctl)")

        let one = try await etcd.get("/kv/sites/a")
        #expect(one.kv?.value == Self.bytes("alpha2"))
        let deleted = try await etcd.delete("/kv/sites/a")
        #expect(deleted.deleted == 1)
        #expect(try await etcd.get("/kv/sites/a").kv == nil)
        #expect(try await etcd.get(prefix: "/kv/sites/").kvs.map(\.key) == ["/kv/sites/b"])

        // Revoking the lease deletes its key.
        try await etcd.revokeLease(lease.id)
        #expect(try await etcd.get(prefix: "/kv/sites/").kvs.isEmpty)
        #expect(try await etcd.timeToLive(lease.id) == nil)
        await #expect(throws: EtcdError.leaseNotFound(lease.id)) { try await etcd.put("/kv/x", value: [], lease: lease.id) }
    }

    @Test("two clients race create-if-absent on the same keys: exactly one wins each")
    func createRace() async throws {
        let cluster = EtcdCluster(test: "etcd-race")
        defer { cluster.down() }
        try cluster.up()
        // Through different members, each with a lease of its own, like two agents registering one site name.
        let one = try cluster.client(members: [1, 2, 3]), two = try cluster.client(members: [3, 2, 1])
        let leaseOne = try await one.grantLease(ttl: 30), leaseTwo = try await two.grantLease(ttl: 30)
        let keys = (0..<20).map { "/race/sites/s\($0)" }
        let results = try await withThrowingTaskGroup(of: (String, Int, EtcdCreateResult).self) { group in
            for key in keys {
                group.addTask { (key, 1, try await one.createIfAbsent(key, value: Self.bytes("one"), lease: leaseOne.id)) }
                group.addTask { (key, 2, try await two.createIfAbsent(key, value: Self.bytes("two"), lease: leaseTwo.id)) }
            }
            var out: [(String, Int, EtcdCreateResult)] = []
            for try await r in group { out.append(r) }
            return out
        }
        let stored = try await one.get(prefix: "/race/sites/")
        #expect(stored.kvs.count == keys.count)
        for key in keys {
            let mine = results.filter { $0.0 == key }
            let winners = mine.filter { $0.2.won }
            try #require(winners.count == 1, "\(key): \(mine)")
            let winner = winners[0].1
            let kv = try #require(stored.kvs.first { $0.key == key })
            #expect(kv.value == Self.bytes(winner == 1 ? "one" : "two") && kv.lease == (winner == 1 ? leaseOne.id : leaseTwo.id))
            let loser = try #require(mine.first { !$0.2.won })
            #expect(loser.2.existing == kv, "the loser is told who holds the key")
        }
        // A later attempt with another value loses whoever holds the key, and changes nothing.
        let holder = try #require(stored.kvs.first { $0.key == keys[0] })
        let again = try await two.createIfAbsent(keys[0], value: Self.bytes("late"), lease: leaseTwo.id)
        #expect(!again.won && again.existing == holder)
        #expect(try await one.get(keys[0]).kv == holder)
    }

    @Test("a lease kept alive outlives its TTL, and expires within TTL + 1 s after the keep-alive stops")
    func leaseExpiry() async throws {
        let cluster = EtcdCluster(test: "etcd-lease")
        defer { cluster.down() }
        try cluster.up()
        let etcd = try cluster.client()
        // 3 s: etcd's minimum with the cluster's 2 s election timeout (1.5 × election timeout).
        let lease = try await etcd.grantLease(ttl: 3)
        #expect(lease.ttl == 3)
        try await etcd.put("/lease/me", value: Self.bytes("here"), lease: lease.id)
        let keepAlive = etcd.keepAlive(lease)
        let renewals = RenewalLog(keepAlive.states)

        // Two TTLs with renewals: the key stays.
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(6) {
            #expect(try await etcd.get("/lease/me").kv != nil, "the key vanished while its lease was kept alive")
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(renewals.renewedCount >= 4, "renewals every TTL/3: \(renewals.states)")
        let left = try #require(try await etcd.timeToLive(lease.id, keys: true))
        #expect(left.grantedTTL == 3 && left.ttl > 0 && left.keys == ["/lease/me"])

        keepAlive.stop()
        try await Task.sleep(for: .milliseconds(100))
        let last = try #require(renewals.lastRenewal)
        // Gone no later than TTL + 1 s after the last renewal etcd answered (its expiry check runs every 500 ms).
        var goneAfter: Duration?
        while ContinuousClock.now - last < .seconds(3 + 1) + .milliseconds(500) {
            if try await etcd.get("/lease/me").kv == nil { goneAfter = ContinuousClock.now - last; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let gone = try #require(goneAfter, "the key outlived its lease by more than 1.5 s")
        print("lease of 3 s: key gone \(gone) after the last renewal")
        #expect(gone <= .seconds(4), "gone \(gone) after the last renewal")
        #expect(gone >= .milliseconds(2500), "gone \(gone) after the last renewal: earlier than its TTL")
        #expect(try await etcd.timeToLive(lease.id) == nil)
    }

    /// A keep-alive's states with the time of each renewal.
    final class RenewalLog: @unchecked Sendable {
        private let lock = NSLock()
        private var log: [(EtcdKeepAliveState, ContinuousClock.Instant)] = []
        init(_ stream: AsyncStream<EtcdKeepAliveState>) {
            Task { for await s in stream { self.lock.withLock { self.log.append((s, .now)) } } }
        }
        var states: [EtcdKeepAliveState] { lock.withLock { log.map(\.0) } }
        var renewedCount: Int { states.filter { if case .renewed = $0 { return true } else { return false } }.count }
        var lastRenewal: ContinuousClock.Instant? {
            lock.withLock { log.last { if case .renewed = $0.0 { return true } else { return false } }?.1 }
        }
    }

    @Test("a watch from an old revision replays put, put, delete in order, then follows")
    func watchReplay() async throws {
        let cluster = EtcdCluster(test: "etcd-replay")
        defer { cluster.down() }
        try cluster.up()
        let etcd = try cluster.client()
        let first = try await etcd.put("/replay/a", value: Self.bytes("1"))
        let second = try await etcd.put("/replay/b", value: Self.bytes("2"))
        let third = try await etcd.delete("/replay/a").revision
        try await etcd.put("/replayx", value: Self.bytes("not under the prefix"))

        let log = WatchLog(etcd.watch(prefix: "/replay/", fromRevision: first))
        defer { log.cancel() }
        #expect(await log.wait(10) { $0.events.count >= 3 }, "\(log.all)")
        guard case .connected(_, let from)? = log.all.first else { Issue.record("no .connected first: \(log.all)"); return }
        #expect(from == first)
        let e = log.events
        #expect(e.map(\.kind) == [.put, .put, .delete])
        #expect(e.map(\.kv.key) == ["/replay/a", "/replay/b", "/replay/a"])
        #expect(e.map(\.revision) == [first, second, third])
        #expect(e[1].kv.value == Self.bytes("2") && e[2].prevKV?.value == Self.bytes("1"), "prev_kv of the delete")

        let fourth = try await etcd.put("/replay/c", value: Self.bytes("3"))
        #expect(await log.wait(10) { $0.events.count >= 4 }, "\(log.all)")
        #expect(log.events.map(\.revision) == [first, second, third, fourth])
        #expect(log.disconnects == 0 && log.error == nil)
    }

    @Test("a watch from a compacted revision ends with EtcdError.compacted naming the compaction; a re-read and a new watch go on")
    func watchCompacted() async throws {
        let cluster = EtcdCluster(test: "etcd-compact")
        defer { cluster.down() }
        try cluster.up()
        let etcd = try cluster.client()
        let first = try await etcd.put("/compact/a", value: Self.bytes("1"))
        try await etcd.put("/compact/a", value: Self.bytes("2"))
        let third = try await etcd.put("/compact/b", value: Self.bytes("3"))
        _ = try cluster.ctl("compaction", "\(third)")

        let log = WatchLog(etcd.watch(prefix: "/compact/", fromRevision: first))
        #expect(await log.wait(10) { $0.error != nil }, "\(log.all)")
        #expect(log.error as? EtcdError == .compacted(revision: third), "\(String(describing: log.error))")
        #expect(log.events.isEmpty)

        // What the caller does then: read, and watch from the read's revision + 1.
        let now = try await etcd.get(prefix: "/compact/")
        #expect(now.kvs.map(\.value) == [Self.bytes("2"), Self.bytes("3")])
        let again = WatchLog(etcd.watch(prefix: "/compact/", fromRevision: now.revision + 1))
        defer { again.cancel() }
        let next = try await etcd.put("/compact/c", value: Self.bytes("4"))
        #expect(await again.wait(10) { $0.events.count == 1 }, "\(again.all)")
        #expect(again.events.map(\.revision) == [next] && again.error == nil)
    }

    @Test("the leader killed: puts, gets and a watch go on through the other members, no event lost or repeated")
    func leaderKilled() async throws {
        let cluster = EtcdCluster(test: "etcd-failover")
        defer { cluster.down() }
        try cluster.up()
        let leader = try #require(cluster.leader())
        // The leader first, so the client's connection and its watch are on the member that dies.
        let order = [leader] + [1, 2, 3].filter { $0 != leader }
        // 10 s per member: longer than etcd's own give-up for a proposal (5 s + 2 election timeouts), so a member
        // waiting out the election answers (success or "request timed out") before the client moves on.
        let etcd = try cluster.client(members: order, requestTimeout: .seconds(10))
        let log = WatchLog(etcd.watch(prefix: "/failover/"))
        defer { log.cancel() }
        #expect(await log.wait(10) { $0.connects == 1 }, "\(log.all)")
        guard case .connected(let on, _)? = log.all.first else { Issue.record("\(log.all)"); return }
        #expect(on == cluster.endpoints[leader - 1])

        var written: [Int64] = []
        for i in 0..<5 { written.append(try await etcd.put("/failover/k\(i)", value: Self.bytes("\(i)"))) }
        #expect(cluster.leader() == leader, "the leader is still e\(leader) when it is killed")
        try cluster.kill(leader)
        // Each call may wait out the election inside the client (it moves to the next member); none may fail.
        let t0 = ContinuousClock.now
        for i in 5..<15 {
            written.append(try await etcd.put("/failover/k\(i)", value: Self.bytes("\(i)")))
            print("put \(i) done \(ContinuousClock.now - t0) after killing the leader e\(leader)")
        }
        let all = try await etcd.get(prefix: "/failover/")
        #expect(all.kvs.count == 15)
        #expect(try cluster.leader().map { $0 != leader } == true)

        #expect(await log.wait(20) { $0.events.count >= 15 }, "\(log.all)")
        #expect(log.events.map(\.revision) == written, "every put seen once, in order")
        #expect(log.connects == 2, "the watch moved to another member: \(log.all)")
        #expect(log.error == nil)
    }

    @Test("all three members stopped: calls say unreachable, naming each endpoint; after the restart the watch resumes from its revision")
    func outageAndResume() async throws {
        let cluster = EtcdCluster(test: "etcd-outage")
        defer { cluster.down() }
        try cluster.up()
        let etcd = try cluster.client(requestTimeout: .seconds(3))
        let log = WatchLog(etcd.watch(prefix: "/outage/"))
        defer { log.cancel() }
        #expect(await log.wait(10) { $0.connects == 1 }, "\(log.all)")
        var written: [Int64] = []
        for i in 0..<5 { written.append(try await etcd.put("/outage/before\(i)", value: Self.bytes("\(i)"))) }
        #expect(await log.wait(10) { $0.events.count == 5 }, "\(log.all)")

        for m in [1, 2, 3] { try cluster.stop(m) }
        do {
            try await etcd.put("/outage/lost", value: [])
            Issue.record("a put succeeded with every member stopped")
        } catch let e as EtcdError {
            guard case .unreachable(let failures) = e else { Issue.record("expected unreachable, got \(e)"); return }
            #expect(failures.map(\.endpoint) == cluster.endpoints, "\(e)")
            #expect(e.description.hasPrefix("etcd unreachable at http://10.70.0.1:2379: "), "\(e)")
            print(e)
        }
        #expect(await log.wait(15) { $0.disconnects == 1 }, "the watch reports the outage: \(log.all)")

        // Written while the client's watch is down — by etcdctl, once the cluster is back.
        for m in [1, 2, 3] { try cluster.start(m) }
        try cluster.waitWritable()
        for i in 0..<5 {
            _ = try cluster.ctl("put", "/outage/after\(i)", "\(i)")
        }
        let after = try await etcd.get(prefix: "/outage/after")
        written += after.kvs.map(\.modRevision)
        #expect(await log.wait(30) { $0.events.count >= 10 }, "\(log.all)")
        #expect(log.events.map(\.revision) == written, "10 puts, each seen once, in order: \(log.events.map(\.kv.key))")
        // One outage reported; the watch came back after it from the revision after the last event it had yielded.
        #expect(log.disconnects == 1, "\(log.all)")
        let down = try #require(log.all.firstIndex { if case .disconnected = $0 { return true } else { return false } })
        let back = log.all[(down + 1)...].compactMap { u -> Int64? in if case .connected(_, let from) = u { return from } else { return nil } }
        #expect(back.first == written[4] + 1, "\(log.all)")
        #expect(log.error == nil)
    }
}
