/// The operations a site agent needs from its registry, and nothing else: etcd's v3 API has them all (an adapter
/// maps them onto its client), and `MemoryRegistryStore` has them for tests.
public protocol RegistryStore: Sendable {
    /// Every key under `prefix`, and the store's revision at that moment.
    func range(prefix: String) async throws -> RegistrySnapshot
    /// A lease of `ttl` seconds; its id.
    func grantLease(ttl: Int) async throws -> Int64
    /// Keeps a lease alive until the stream is dropped: each renewal, each interruption (no member answered; the
    /// lease may still live), and finally `.lost` (etcd said it is gone, or no renewal succeeded within its TTL).
    func keepLeaseAlive(_ lease: Int64, ttl: Int) -> AsyncStream<LeaseState>
    func revoke(lease: Int64) async throws
    /// Creates `key` with `value` under `lease` if no such key exists (an etcd txn on create_revision == 0); nil if it
    /// was created, else the key as it is (someone else holds it).
    func createIfAbsent(key: String, value: [UInt8], lease: Int64) async throws -> StoredKeyValue?
    /// Writes `key` (under `lease`, 0: none); the store's revision after the write.
    @discardableResult
    func put(key: String, value: [UInt8], lease: Int64) async throws -> Int64
    /// Deletes `key`; the revision after.
    @discardableResult
    func delete(key: String) async throws -> Int64
    /// Every change under `prefix` from `revision` on, in order, batch by batch; the stream ends with an error when the
    /// store becomes unreachable (`.unavailable`) or the revision was compacted away (`.compacted`).
    func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<WatchBatch, Error>
    /// Drops the store's connections and makes new ones, its lease keep-alives and watches going on over them: this
    /// host's own address changed, and a connection made from the old one is dead without knowing it.
    func reconnect()
}

extension RegistryStore {
    /// A store without connections (in memory) has nothing to renew.
    public func reconnect() {}
}

public struct StoredKeyValue: Equatable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var lease: Int64
    public init(key: [UInt8], value: [UInt8], createRevision: Int64, modRevision: Int64, lease: Int64) {
        self.key = key; self.value = value; self.createRevision = createRevision; self.modRevision = modRevision; self.lease = lease
    }
}

public struct RegistrySnapshot: Equatable, Sendable {
    public var items: [StoredKeyValue]
    public var revision: Int64
    public init(items: [StoredKeyValue], revision: Int64) { self.items = items; self.revision = revision }
}

public enum WatchEvent: Equatable, Sendable {
    case put(StoredKeyValue)
    case delete(key: [UInt8], modRevision: Int64)

    public var key: [UInt8] { switch self { case let .put(kv): kv.key; case let .delete(k, _): k } }
    public var modRevision: Int64 { switch self { case let .put(kv): kv.modRevision; case let .delete(_, r): r } }
}

public struct WatchBatch: Equatable, Sendable {
    public var events: [WatchEvent]
    /// The store's revision when the batch was sent (at least every event's).
    public var revision: Int64
    public init(events: [WatchEvent], revision: Int64) { self.events = events; self.revision = revision }
}

public enum LeaseState: Equatable, Sendable {
    case renewed
    case interrupted(String)
    case lost(String)
}

public enum RegistryStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No endpoint answered (the agent keeps what it applied and retries).
    case unavailable(String)
    /// The watch's start revision was compacted; the agent reads the range again.
    case compacted(Int64)
    case leaseNotFound(Int64)
    /// Anything else the store refused.
    case refused(String)

    public var description: String {
        switch self {
        case let .unavailable(why): "registry unreachable: \(why)"
        case let .compacted(r): "revision \(r) was compacted"
        case let .leaseNotFound(l): "lease \(l) not found (expired)"
        case let .refused(why): "registry refused: \(why)"
        }
    }
}

extension RegistryView {
    /// Applies one snapshot (a fresh view: keys gone since are gone); the refusals, by key.
    public mutating func load(_ s: RegistrySnapshot) -> [(String, RegistryEntry.DecodeError)] {
        let keep = keys
        self = RegistryView(keys: keep)
        var out: [(String, RegistryEntry.DecodeError)] = []
        for kv in s.items {
            if let e = apply(key: kv.key, value: kv.value, lease: kv.lease, revision: kv.modRevision) {
                out.append((String(decoding: kv.key, as: UTF8.self), e))
            }
        }
        revision = s.revision
        return out
    }

    /// Applies one watch batch; the refusals, by key.
    public mutating func apply(_ b: WatchBatch) -> [(String, RegistryEntry.DecodeError)] {
        var out: [(String, RegistryEntry.DecodeError)] = []
        for ev in b.events {
            let refusal: RegistryEntry.DecodeError?
            switch ev {
            case let .put(kv): refusal = apply(key: kv.key, value: kv.value, lease: kv.lease, revision: kv.modRevision)
            case let .delete(k, r): refusal = apply(key: k, value: nil, revision: r)
            }
            if let refusal { out.append((String(decoding: ev.key, as: UTF8.self), refusal)) }
        }
        if b.revision > revision { revision = b.revision }
        return out
    }
}
