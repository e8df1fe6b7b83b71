import Synchronization

/// An in-memory `RegistryStore` with etcd's semantics where the agent depends on them — one revision counter over
/// every write, leases that expire (by `advance(seconds:)`, a manual clock), create-if-absent, watches that replay
/// from a revision, compaction, and an outage switch — for unit tests of the agent without etcd.
public final class MemoryRegistryStore: RegistryStore {
    struct Lease { var ttl: Int; var expires: Double }
    struct Watcher { var prefix: [UInt8]; var continuation: AsyncThrowingStream<WatchBatch, Error>.Continuation }
    struct State {
        var now: Double = 0
        var revision: Int64 = 1
        var compacted: Int64 = 0
        var data: [[UInt8]: StoredKeyValue] = [:]
        var history: [WatchEvent] = []
        var leases: [Int64: Lease] = [:]
        var nextLease: Int64 = 0x1000
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var down = false
    }
    let state = Mutex(State())
    /// Real seconds between the renewals of `keepLeaseAlive` (the leases' clock is the manual one).
    let renewInterval: Double

    public init(renewInterval: Double = 0.05) { self.renewInterval = renewInterval }

    public var revision: Int64 { state.withLock { $0.revision } }

    /// Moves the clock; leases not kept alive since expire, deleting their keys (watchers see the deletes).
    public func advance(seconds: Double) {
        let batches: [(Watcher, WatchBatch)] = state.withLock { s in
            s.now += seconds
            let dead = s.leases.filter { $0.value.expires <= s.now }.map(\.key)
            var events: [WatchEvent] = []
            for l in dead.sorted() {
                s.leases[l] = nil
                events += Self.deleteKeys(&s, where: { $0.lease == l })
            }
            return Self.fanOut(&s, events)
        }
        for (w, b) in batches { w.continuation.yield(b) }
    }

    /// Makes every call fail with `.unavailable` and ends every watch (as when no member answers), or ends that.
    public func setUnavailable(_ down: Bool) {
        let ended: [Watcher] = state.withLock { s in
            s.down = down
            guard down else { return [] }
            let w = Array(s.watchers.values)
            s.watchers = [:]
            return w
        }
        for w in ended { w.continuation.finish(throwing: RegistryStoreError.unavailable("no member answered")) }
    }

    /// Forgets history before `revision`: a watch from an earlier one fails with `.compacted`.
    public func compact(_ revision: Int64) {
        state.withLock { s in
            s.compacted = revision
            s.history.removeAll { $0.modRevision < revision }
        }
    }

    static func deleteKeys(_ s: inout State, where match: (StoredKeyValue) -> Bool) -> [WatchEvent] {
        var events: [WatchEvent] = []
        for k in s.data.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) where match(s.data[k]!) {
            s.data[k] = nil
            s.revision += 1
            let ev = WatchEvent.delete(key: k, modRevision: s.revision)
            s.history.append(ev)
            events.append(ev)
        }
        return events
    }

    static func fanOut(_ s: inout State, _ events: [WatchEvent]) -> [(Watcher, WatchBatch)] {
        guard !events.isEmpty else { return [] }
        var out: [(Watcher, WatchBatch)] = []
        for w in s.watchers.values {
            let mine = events.filter { $0.key.starts(with: w.prefix) }
            if !mine.isEmpty { out.append((w, WatchBatch(events: mine, revision: s.revision))) }
        }
        return out
    }

    func write(_ f: (inout State) throws -> [WatchEvent]) throws -> Int64 {
        let result: Result<([(Watcher, WatchBatch)], Int64), Error> = state.withLock { s in
            guard !s.down else { return .failure(RegistryStoreError.unavailable("no member answered")) }
            do {
                let events = try f(&s)
                return .success((Self.fanOut(&s, events), s.revision))
            } catch { return .failure(error) }
        }
        switch result {
        case let .success((batches, rev)):
            for (w, b) in batches { w.continuation.yield(b) }
            return rev
        case let .failure(e): throw e
        }
    }

    func read<T>(_ f: (inout State) throws -> T) throws -> T {
        let r: Result<T, Error> = state.withLock { s in
            guard !s.down else { return .failure(RegistryStoreError.unavailable("no member answered")) }
            do { return .success(try f(&s)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    public func range(prefix: String) async throws -> RegistrySnapshot {
        let p = Array(prefix.utf8)
        return try read { s in
            RegistrySnapshot(items: s.data.keys.filter { $0.starts(with: p) }.sorted { $0.lexicographicallyPrecedes($1) }.map { s.data[$0]! },
                             revision: s.revision)
        }
    }

    public func grantLease(ttl: Int) async throws -> Int64 {
        try read { s in
            s.nextLease += 1
            s.leases[s.nextLease] = Lease(ttl: ttl, expires: s.now + Double(ttl))
            return s.nextLease
        }
    }

    /// Renews every `renewInterval` real seconds, through `keepAlive(lease:)`.
    public func keepLeaseAlive(_ lease: Int64, ttl: Int) -> AsyncStream<LeaseState> {
        Self.renewing(every: renewInterval) { try await self.keepAlive(lease: lease) }
    }

    /// A lease keeper over a one-shot renewal: `.renewed` each time it works, `.interrupted` while the store is
    /// unavailable, `.lost` (and the end) when the lease is gone.
    public static func renewing(every interval: Double, _ renew: @escaping @Sendable () async throws -> Int) -> AsyncStream<LeaseState> {
        let (stream, continuation) = AsyncStream<LeaseState>.makeStream()
        let task = Task {
            while !Task.isCancelled {
                do {
                    _ = try await renew()
                    continuation.yield(.renewed)
                } catch RegistryStoreError.leaseNotFound(let l) {
                    continuation.yield(.lost("lease \(l) not found (expired or revoked)"))
                    break
                } catch {
                    continuation.yield(.interrupted("\(error)"))
                }
                do { try await Task.sleep(nanoseconds: UInt64(interval * 1e9)) } catch { break }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Refreshes a lease once; its TTL.
    public func keepAlive(lease: Int64) async throws -> Int {
        try read { s in
            guard var l = s.leases[lease] else { throw RegistryStoreError.leaseNotFound(lease) }
            l.expires = s.now + Double(l.ttl)
            s.leases[lease] = l
            return l.ttl
        }
    }

    public func revoke(lease: Int64) async throws {
        _ = try write { s in
            guard s.leases.removeValue(forKey: lease) != nil else { throw RegistryStoreError.leaseNotFound(lease) }
            return Self.deleteKeys(&s, where: { $0.lease == lease })
        }
    }

    public func createIfAbsent(key: String, value: [UInt8], lease: Int64) async throws -> StoredKeyValue? {
        var existing: StoredKeyValue?
        _ = try write { s in
            let k = Array(key.utf8)
            if let e = s.data[k] { existing = e; return [] }
            guard lease == 0 || s.leases[lease] != nil else { throw RegistryStoreError.leaseNotFound(lease) }
            s.revision += 1
            let kv = StoredKeyValue(key: k, value: value, createRevision: s.revision, modRevision: s.revision, lease: lease)
            s.data[k] = kv
            s.history.append(.put(kv))
            return [.put(kv)]
        }
        return existing
    }

    @discardableResult
    public func put(key: String, value: [UInt8], lease: Int64) async throws -> Int64 {
        try write { s in
            let k = Array(key.utf8)
            guard lease == 0 || s.leases[lease] != nil else { throw RegistryStoreError.leaseNotFound(lease) }
            s.revision += 1
            let kv = StoredKeyValue(key: k, value: value, createRevision: s.data[k]?.createRevision ?? s.revision,
                                    modRevision: s.revision, lease: lease)
            s.data[k] = kv
            s.history.append(.put(kv))
            return [.put(kv)]
        }
    }

    @discardableResult
    public func delete(key: String) async throws -> Int64 {
        try write { s in Self.deleteKeys(&s, where: { $0.key == Array(key.utf8) }) }
    }

    public func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<WatchBatch, Error> {
        let (stream, continuation) = AsyncThrowingStream<WatchBatch, Error>.makeStream()
        let p = Array(prefix.utf8)
        let failure: RegistryStoreError? = state.withLock { s in
            if s.down { return .unavailable("no member answered") }
            if revision < s.compacted { return .compacted(revision) }
            let past = s.history.filter { $0.modRevision >= revision && $0.key.starts(with: p) }
            if !past.isEmpty { continuation.yield(WatchBatch(events: past, revision: s.revision)) }
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = Watcher(prefix: p, continuation: continuation)
            continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) } }
            return nil
        }
        if let failure { continuation.finish(throwing: failure) }
        return stream
    }
}
