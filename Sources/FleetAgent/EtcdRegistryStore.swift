import Etcd
import Fleet
import Synchronization

/// The fleet's `RegistryStore` on etcd, through the etcd helper's `EtcdClient` (issue 18): each operation is the one
/// etcd call it names; the lease is kept by the client's LeaseKeepAlive stream and the watch resumes across member
/// failures by itself. etcd's errors become the store's (`compacted`, `leaseNotFound`, `unavailable`).
public final class EtcdRegistryStore: RegistryStore {
    let client: EtcdClient
    /// Leases this store granted (the keep-alive needs etcd's TTL with the id).
    let leases = Mutex<[Int64: EtcdLease]>([:])

    public init(_ c: RegistryConfig) throws {
        let tls = c.caFile != nil || c.certFile != nil
            ? EtcdClient.TLSFiles(caFile: c.caFile, certificateFile: c.certFile, keyFile: c.keyFile) : nil
        do { client = try EtcdClient(.init(endpoints: c.endpoints.map(\.description), tls: tls)) } catch { throw Self.map(error) }
    }

    public init(client: EtcdClient) { self.client = client }

    static func map(_ e: Error) -> Error {
        guard let e = e as? EtcdError else { return e is RegistryStoreError ? e : RegistryStoreError.unavailable("\(e)") }
        switch e {
        case let .compacted(r): return RegistryStoreError.compacted(r)
        case let .leaseNotFound(l): return RegistryStoreError.leaseNotFound(l)
        case .unreachable, .noLeader, .closed: return RegistryStoreError.unavailable(e.description)
        case .rejected, .badEndpoint: return RegistryStoreError.refused(e.description)
        }
    }

    static func stored(_ kv: EtcdKeyValue) -> StoredKeyValue {
        StoredKeyValue(key: kv.rawKey, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, lease: kv.lease)
    }

    public func reconnect() { client.reconnect() }

    public func range(prefix: String) async throws -> RegistrySnapshot {
        do {
            let r = try await client.get(prefix: prefix)
            return RegistrySnapshot(items: r.kvs.map(Self.stored), revision: r.revision)
        } catch { throw Self.map(error) }
    }

    public func grantLease(ttl: Int) async throws -> Int64 {
        do {
            let l = try await client.grantLease(ttl: Int64(ttl))
            leases.withLock { $0[l.id] = l }
            return l.id
        } catch { throw Self.map(error) }
    }

    public func keepLeaseAlive(_ lease: Int64, ttl: Int) -> AsyncStream<LeaseState> {
        let (stream, continuation) = AsyncStream<LeaseState>.makeStream()
        guard let l = leases.withLock({ $0[lease] }) else {
            continuation.yield(.lost("lease \(EtcdError.hex(lease)) was not granted by this client"))
            continuation.finish()
            return stream
        }
        let keeper = client.keepAlive(l)
        let task = Task {
            for await state in keeper.states {
                switch state {
                case .renewed: continuation.yield(.renewed)
                case let .interrupted(e): continuation.yield(.interrupted(e.description))
                case let .lost(e): continuation.yield(.lost(e.description))
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in keeper.stop(); task.cancel() }
        return stream
    }

    public func revoke(lease: Int64) async throws {
        do { try await client.revokeLease(lease) } catch { throw Self.map(error) }
        leases.withLock { _ = $0.removeValue(forKey: lease) }
    }

    public func createIfAbsent(key: String, value: [UInt8], lease: Int64) async throws -> StoredKeyValue? {
        let r: EtcdCreateResult
        do { r = try await client.createIfAbsent(key, value: value, lease: lease) } catch { throw Self.map(error) }
        if r.won { return nil }
        // Lost: the holder's key (gone again in the same instant: still not ours, an empty holder).
        return r.existing.map(Self.stored) ?? StoredKeyValue(key: Array(key.utf8), value: [], createRevision: 0, modRevision: r.revision, lease: 0)
    }

    @discardableResult
    public func put(key: String, value: [UInt8], lease: Int64) async throws -> Int64 {
        do { return try await client.put(key, value: value, lease: lease) } catch { throw Self.map(error) }
    }

    @discardableResult
    public func delete(key: String) async throws -> Int64 {
        do { return try await client.delete(key).revision } catch { throw Self.map(error) }
    }

    /// etcd's watch rides out member failures by itself; when no member answers it says `.disconnected`, which ends
    /// this stream as `.unavailable` — the agent says so and watches again from the revision after its last.
    public func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<WatchBatch, Error> {
        let (stream, continuation) = AsyncThrowingStream<WatchBatch, Error>.makeStream()
        let updates = client.watch(prefix: prefix, fromRevision: revision, prevKV: false)
        let task = Task {
            do {
                for try await u in updates {
                    switch u {
                    case let .events(events, rev):
                        continuation.yield(WatchBatch(events: events.map { e in
                            e.kind == .put ? .put(Self.stored(e.kv)) : .delete(key: e.kv.rawKey, modRevision: e.kv.modRevision)
                        }, revision: rev))
                    case .connected: break
                    case let .disconnected(e):
                        continuation.finish(throwing: RegistryStoreError.unavailable(e.description))
                        return
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: Self.map(error))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
