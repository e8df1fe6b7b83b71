import Fleet
import Foundation
import IsthmusMetrics

/// A site agent on a registry (`isthmus up --foreground` with a fleet file): registers its site under a lease
/// (create-if-absent: a name another agent holds is refused), keeps the lease alive, watches the segment's keys and,
/// on each change of a site or a drain, derives its side again (`FleetShape`) and applies only the difference
/// (`apply`: SiteAgent's reconciler — a new peer is an FDB entry appended, a moved one an entry replaced, a gone one
/// an entry removed; the device is never replaced for it). While the registry is unreachable it keeps what it applied
/// and says so; it resumes its watch from the revision after the last it saw, so it misses nothing and rebuilds
/// nothing.
///
/// An actor: the watch, the lease keeper and the drift check run as tasks, and every apply happens here, one at a time.
public actor FleetAgent {
    public struct Configuration: Sendable {
        public var fleet: FleetConfig
        public var site: String
        /// Identifies this agent's host and namespace (`RegistryEntry.agent`).
        public var agentID: String
        public var lanMTU: Int = 1500
        public var modules: [String] = []
        public var dataplanes: [String] = ["kernel"]
        /// Seconds between looks at the underlay address (default: a third of the lease's TTL), and between retries
        /// while unreachable (the lease's renewals are the store's: `keepLeaseAlive`).
        public var keepAliveInterval: Double
        public var retryInterval: Double = 1
        /// Seconds between drift checks (an interface deleted by hand); nil: none.
        public var driftInterval: Double? = 30

        public init(fleet: FleetConfig, site: String, agentID: String) {
            self.fleet = fleet; self.site = site; self.agentID = agentID
            keepAliveInterval = max(0.5, Double(fleet.registry.ttl) / 3)
        }
    }

    /// What `status` shows and the status file holds.
    public struct Status: Equatable, Sendable {
        public var site: String
        public var segment: String
        public var address: IPAddress?
        public var lease: Int64 = 0
        public var registered = false
        public var reachable = false
        /// Why the registry was last unreachable (while it is).
        public var unreachableReason: String?
        public var revision: Int64 = 0
        /// Applies that changed something, and the changes they made (FDB entries, devices, ...).
        public var applies = 0
        public var changesApplied = 0
        /// Full reads of the segment (the first, and after a compaction); a resumed watch is not one.
        public var rangeReads = 0
        public var peers: [String: IPAddress] = [:]
        public var omitted: [String] = []
        /// Registry values refused, by reason.
        public var refused: [String: Int] = [:]
        public var lastError: String?
    }

    /// The status as Prometheus samples (`up --foreground --metrics` on a fleet file).
    public static func samples(_ s: Status) -> [MetricSample] {
        let site = [s.site]
        var out = [Families.registryRegistered.sample(site, s.registered ? 1 : 0), Families.registryReachable.sample(site, s.reachable ? 1 : 0),
                   Families.registryRevision.sample(site, Int(s.revision)), Families.registryPeers.sample(site, s.peers.count),
                   Families.registryApplies.sample(site, s.applies), Families.registryChanges.sample(site, s.changesApplied),
                   Families.registryRangeReads.sample(site, s.rangeReads),
                   Families.registryApplyFailing.sample(site, s.lastError == nil ? 0 : 1)]
        for (reason, n) in s.refused.sorted(by: { $0.key < $1.key }) { out.append(Families.registryRefused.sample([s.site, reason], n)) }
        return out
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case nameTaken(site: String, key: String, holder: String?)
        case noAddress(String)
        public var description: String {
            switch self {
            case let .nameTaken(site, key, holder):
                "site \"\(site)\" is already registered by another agent\(holder.map { " (\($0))" } ?? "") at \(key); "
                    + "refusing to take its name\n  hint: pick another --site, or stop the other agent (its lease then expires) — or `isthmus registry drain \(site)`"
            case let .noAddress(why): "no underlay address for this site: \(why)"
            }
        }
    }

    public let configuration: Configuration
    let store: RegistryStore
    let keys: RegistryKeys
    /// Applies this site's segment (derived at a revision); the change lines applied. The I/O: SiteAgent's reconciler.
    let applySegment: @Sendable (SegmentConfig) throws -> [String]
    /// The site's underlay address now (resolved again when `addressChanges` says something changed, else at every
    /// keep-alive: an address that changed is re-registered).
    let resolveAddress: @Sendable () throws -> IPAddress
    /// Wakes when the kernel's addresses or routes may have changed (`FleetHost.addressChanges`: netlink
    /// notifications, with a slow timer behind them); nil: look every `keepAliveInterval`.
    let addressChanges: (@Sendable () throws -> AsyncStream<Void>)?
    let log: @Sendable (ProcessLog.Level, String) -> Void
    /// Called after every status change (the CLI writes the status file).
    let publish: @Sendable (Status) -> Void
    let now: @Sendable () -> Int64

    var view: RegistryView
    public private(set) var status: Status
    var since: Int64 = 0
    var lastApplied: SegmentConfig?
    var dirty = false
    /// The underlay address changed and writing it to the registry failed: to be tried again.
    var unwritten = false
    /// What the last sync record said (it is written again only when that changes).
    var recorded: (revision: Int64, changes: Int)?

    public init(configuration: Configuration, store: RegistryStore,
                apply: @escaping @Sendable (SegmentConfig) throws -> [String],
                resolveAddress: @escaping @Sendable () throws -> IPAddress,
                addressChanges: (@Sendable () throws -> AsyncStream<Void>)? = nil,
                log: @escaping @Sendable (ProcessLog.Level, String) -> Void = { _, _ in },
                publish: @escaping @Sendable (Status) -> Void = { _ in },
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.configuration = configuration
        self.store = store
        keys = RegistryKeys(prefix: configuration.fleet.registry.prefix, segment: configuration.fleet.segment.name)
        applySegment = apply
        self.resolveAddress = resolveAddress
        self.addressChanges = addressChanges
        self.log = log
        self.publish = publish
        self.now = now
        view = RegistryView(keys: keys)
        status = Status(site: configuration.site, segment: configuration.fleet.segment.name)
    }

    var site: String { configuration.site }

    func entry(_ address: IPAddress) -> RegistryEntry {
        var e = RegistryEntry(name: site, addresses: [address], lanMTU: configuration.lanMTU, modules: configuration.modules,
                              dataplanes: configuration.dataplanes)
        e.agent = configuration.agentID
        return e
    }

    /// Registers the site under a fresh lease. A key held by another agent is refused (`Failure.nameTaken`); one this
    /// agent's host and namespace wrote (a previous run killed before its lease expired) is taken over.
    public func register() async throws {
        let address: IPAddress
        do { address = try resolveAddress() } catch { throw Failure.noAddress("\(error)") }
        let lease = try await store.grantLease(ttl: configuration.fleet.registry.ttl)
        let key = keys.site(site)
        let value = entry(address).bytes
        if let held = try await store.createIfAbsent(key: key, value: value, lease: lease) {
            let holder = try? RegistryEntry.decode(held.value).get().agent
            guard holder == configuration.agentID else {
                try? await store.revoke(lease: lease)
                throw Failure.nameTaken(site: site, key: key, holder: holder)
            }
            log(.info, "site \(site): taking over the registration of this host's previous agent (lease \(held.lease))")
            try await store.put(key: key, value: value, lease: lease)
        }
        since = now()
        status.address = address
        status.lease = lease
        status.registered = true
        status.reachable = true
        status.unreachableReason = nil
        log(.info, "site \(site) registered at \(address) (lease \(lease), ttl \(configuration.fleet.registry.ttl) s)")
        try await writeRecord()
        publish(status)
    }

    func writeRecord() async throws {
        let r = AgentSyncRecord(revision: view.revision, changesApplied: Int64(status.changesApplied), since: since)
        try await store.put(key: keys.agent(site), value: Array(r.json.utf8), lease: status.lease)
        recorded = (view.revision, status.changesApplied)
    }

    /// Registers, then watches, keeps the lease and checks drift until the task is cancelled; then revokes the lease
    /// (peers drop this site at once) — taking the segment down is the caller's.
    public func run() async throws {
        // A registry that does not answer at start (etcd still starting, the network not up yet) is waited for, as
        // later outages are: `status` says it is unreachable and nothing here changes until it answers. A name held
        // by another agent, or no underlay address, ends the agent (the config or another host must change).
        var wait = configuration.retryInterval
        while true {
            do {
                try await register()
                break
            } catch let e as RegistryStoreError {
                guard case .unavailable = e else { throw e }
                setUnreachable(e)
                if !(await Self.sleep(wait)) { throw CancellationError() }
                wait = min(wait * 2, 10)
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchLoop() }
            group.addTask { await self.leaseLoop() }
            group.addTask { await self.addressLoop() }
            if let d = configuration.driftInterval {
                group.addTask { await self.driftLoop(every: d) }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// On the way out: the lease revoked, so the site's keys go now rather than at the TTL.
    public func deregister() async {
        guard status.lease != 0 else { return }
        do { try await store.revoke(lease: status.lease) } catch { log(.warning, "could not revoke lease \(status.lease): \(error)") }
        status.registered = false
        publish(status)
    }

    static func sleep(_ seconds: Double) async -> Bool {
        do { try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9)) } catch { return false }
        return true
    }

    func setUnreachable(_ error: Error) {
        if status.reachable || status.unreachableReason == nil {
            log(.warning, "registry unreachable (\(error)); keeping the applied state (\(status.peers.count) peers) and retrying")
        }
        status.reachable = false
        status.unreachableReason = "\(error)"
        publish(status)
    }

    func setReachable() {
        if !status.reachable {
            status.reachable = true
            status.unreachableReason = nil
            log(.info, "registry reachable again at revision \(view.revision)")
            publish(status)
        }
    }

    /// The watch: a full read once (and after a compaction), then a watch from the revision after the last seen,
    /// resumed from there after every outage.
    func watchLoop() async {
        var needRange = true
        while !Task.isCancelled {
            do {
                if needRange {
                    let s = try await store.range(prefix: keys.segmentPrefix)
                    status.rangeReads += 1
                    note(view.load(s))
                    setReachable()
                    needRange = false
                    await reconcile(reason: "registry read at revision \(s.revision)")
                }
                let stream = store.watch(prefix: keys.segmentPrefix, fromRevision: view.revision + 1)
                for try await batch in stream {
                    setReachable()
                    await handle(batch)
                }
                throw RegistryStoreError.unavailable("the watch ended")
            } catch let e as RegistryStoreError {
                if case .compacted = e {
                    log(.warning, "\(e): reading the segment again")
                    needRange = true
                    continue
                }
                setUnreachable(e)
            } catch {
                setUnreachable(error)
            }
            if !(await Self.sleep(configuration.retryInterval)) { return }
        }
    }

    func note(_ refusals: [(String, RegistryEntry.DecodeError)]) {
        for (key, why) in refusals {
            status.refused[why.reason.rawValue, default: 0] += 1
            log(.warning, "registry value at \(key) ignored: \(why)")
        }
    }

    /// One watch batch: the view updated; re-planned only when a site or a drain changed.
    func handle(_ batch: WatchBatch) async {
        let before = view
        note(view.apply(batch))
        if view.entries[site] == nil && before.entries[site] != nil && status.registered {
            log(.warning, "this site's registration is gone (its lease expired while the registry was out of reach?); registering again")
            status.registered = false
        }
        guard view.entries != before.entries || view.drained != before.drained || dirty else { return }
        await reconcile(reason: "revision \(view.revision)")
    }

    /// Derives the side at the view's revision and applies what differs from the host.
    func reconcile(reason: String) async {
        guard let address = status.address else { return }
        let (segment, omitted) = FleetShape.segment(configuration.fleet, site: site, address: address, view: view)
        let omittedText = omitted.map(\.description)
        if omittedText != status.omitted {
            for o in omittedText where !status.omitted.contains(o) { log(.warning, "left out: \(o)") }
            status.omitted = omittedText
        }
        do {
            let lines = try applySegment(segment)
            lastApplied = segment
            dirty = false
            status.lastError = nil
            status.peers = Dictionary(uniqueKeysWithValues: segment.sites.filter { $0.name != site }.map { ($0.name, $0.address) })
            if !lines.isEmpty {
                status.applies += 1
                status.changesApplied += lines.count
                log(.info, "\(reason): \(lines.count) change\(lines.count == 1 ? "" : "s"): " + lines.joined(separator: "; "))
            }
        } catch {
            dirty = true
            status.lastError = "\(error)"
            log(.error, "\(reason): apply failed (kept the state before it; retrying at the next change or drift check): \(error)")
        }
        status.revision = view.revision
        publish(status)
        if status.registered, recorded.map({ $0.revision != view.revision || $0.changes != status.changesApplied }) ?? true {
            do { try await writeRecord() } catch { setUnreachable(error) }
        }
    }

    /// Keeps the lease alive; after it is lost (an outage longer than the TTL), registers again.
    func leaseLoop() async {
        while !Task.isCancelled {
            if !status.registered {
                do {
                    try await register()
                    await reconcile(reason: "registered again")
                } catch let e as Failure {
                    status.lastError = e.description
                    log(.error, e.description)
                    publish(status)
                    if !(await Self.sleep(configuration.retryInterval)) { return }
                    continue
                } catch {
                    setUnreachable(error)
                    if !(await Self.sleep(configuration.retryInterval)) { return }
                    continue
                }
            }
            for await state in store.keepLeaseAlive(status.lease, ttl: configuration.fleet.registry.ttl) {
                switch state {
                case .renewed: break
                case let .interrupted(why): setUnreachable(RegistryStoreError.unavailable(why))
                case let .lost(why):
                    log(.warning, "\(why); registering again")
                    status.registered = false
                }
                if !status.registered { break }
            }
            if Task.isCancelled { return }
        }
    }

    /// Re-registers a changed underlay address: looked up when the kernel says an address or route changed
    /// (`addressChanges`), else every `keepAliveInterval`.
    func addressLoop() async {
        var events: AsyncStream<Void>?
        if let make = addressChanges {
            do { events = try make() } catch {
                log(.warning, "cannot watch the kernel's address changes (\(error)); looking every \(configuration.keepAliveInterval) s instead")
            }
        }
        if let events {
            for await _ in events {
                // A write that failed is tried again until it goes (or the lease loop registers anew).
                while await checkAddress(), await Self.sleep(configuration.retryInterval) {}
            }
        } else {
            while await Self.sleep(configuration.keepAliveInterval) { _ = await checkAddress() }
        }
    }

    /// Looks at the underlay address; writes a changed one (or one whose write failed) to the registry and applies the
    /// segment again. Returns whether a write is still owed.
    func checkAddress() async -> Bool {
        guard status.registered, let now = try? resolveAddress(), now != status.address || unwritten else { return false }
        let changed = now != status.address
        if changed {
            log(.info, "underlay address changed: \(status.address.map { "\($0)" } ?? "none") → \(now); registering it")
            status.address = now
        }
        // The registry's connections were made from the old address: without new ones the write (and the lease's
        // renewals) would hang until a timeout, the lease expire and every peer drop this site meanwhile.
        store.reconnect()
        do {
            try await store.put(key: keys.site(site), value: entry(now).bytes, lease: status.lease)
            unwritten = false
        } catch {
            unwritten = true
            setUnreachable(error)
        }
        if changed { await reconcile(reason: "own address changed") }
        return unwritten
    }

    func driftLoop(every seconds: Double) async {
        while await Self.sleep(seconds) {
            guard lastApplied != nil || dirty else { continue }
            await reconcile(reason: "drift check")
        }
    }
}
