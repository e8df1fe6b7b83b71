import EtcdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization

/// A client of an etcd v3 cluster (etcd 3.4 or later) over gRPC, with failover between endpoints.
///
/// Each endpoint has its own HTTP/2 connection (h2c for `http://`, TLS for `https://`). A request goes to the
/// endpoint that answered last; when that one is unreachable (refused, reset, no answer within the request timeout)
/// or has no leader, the next one is tried, and only when every endpoint failed does the call throw — `EtcdError`
/// names each endpoint's reason. Watches and lease keep-alives are streams that move to another endpoint the same
/// way and resume where they were.
///
///     let etcd = try EtcdClient(.init(endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]))
///     defer { etcd.close() }
///     let lease = try await etcd.grantLease(ttl: 10)
///     let keepAlive = etcd.keepAlive(lease)                        // renews every TTL/3; .lost when it is gone
///     let r = try await etcd.createIfAbsent("/fleet/home/sites/a", value: bytes, lease: lease.id)   // r.won
///     let now = try await etcd.get(prefix: "/fleet/home/")          // kvs + revision
///     for try await update in etcd.watch(prefix: "/fleet/home/", fromRevision: now.revision + 1) { ... }
///
/// Never sends the `hasleader` metadata (etcdctl's WithRequireLeader): a watch rides out an election or an outage
/// instead of being cancelled by the server.
public final class EtcdClient: Sendable {
    public struct TLSFiles: Sendable, Equatable {
        /// PEM file of the CA(s) to verify etcd's certificate with; nil: the system's trust roots.
        public var caFile: String?
        /// PEM client certificate (chain) and its private key, for etcd's `--client-cert-auth`.
        public var certificateFile: String?
        public var keyFile: String?
        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile; self.certificateFile = certificateFile; self.keyFile = keyFile
        }
    }

    public struct Configuration: Sendable {
        /// Client URLs of the members (`http://IP:2379`, `https://name:2379`, ...), tried in this order first.
        public var endpoints: [String]
        /// For `https://` endpoints (ignored for `http://`).
        public var tls: TLSFiles?
        /// How long a unary request may take on one endpoint before the next is tried. A write without quorum is
        /// only noticed this late (etcd itself gives up after ~7 s with "request timed out").
        public var requestTimeout: Duration
        /// Where the connections' tasks run. nil: the global concurrent executor. The connections' sockets are
        /// created on its threads, so an executor whose thread entered a network namespace connects inside that
        /// namespace (the tests' clusters live in namespaces; `EtcdCluster` in the integration tests).
        public var connectionExecutor: (any TaskExecutor)?

        public init(endpoints: [String], tls: TLSFiles? = nil, requestTimeout: Duration = .seconds(5),
                    connectionExecutor: (any TaskExecutor)? = nil) {
            self.endpoints = endpoints; self.tls = tls; self.requestTimeout = requestTimeout
            self.connectionExecutor = connectionExecutor
        }
    }

    /// One endpoint: its connection and the service stubs over it.
    final class Member: Sendable {
        let endpoint: EtcdEndpoint
        let grpc: GRPCClient<HTTP2ClientTransport.Posix>
        let kv: Etcdserverpb_KV.Client<HTTP2ClientTransport.Posix>
        let watch: Etcdserverpb_Watch.Client<HTTP2ClientTransport.Posix>
        let lease: Etcdserverpb_Lease.Client<HTTP2ClientTransport.Posix>
        let runner: Task<Void, Never>

        init(endpoint: EtcdEndpoint, configuration: Configuration) throws {
            self.endpoint = endpoint
            let security: HTTP2ClientTransport.Posix.TransportSecurity
            if endpoint.secure {
                let files = configuration.tls ?? TLSFiles()
                security = .tls { tls in
                    if let ca = files.caFile { tls.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                    if let cert = files.certificateFile, let key = files.keyFile {
                        tls.certificateChain = [.file(path: cert, format: .pem)]
                        tls.privateKey = .file(path: key, format: .pem)
                    }
                }
            } else {
                security = .plaintext
            }
            let config = HTTP2ClientTransport.Posix.Config.defaults { c in
                // Reconnect soon after a member comes back (the default backs off up to 120 s).
                c.backoff = .init(initial: .milliseconds(200), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
                // Notice a member that vanished without a FIN or RST (etcd's own minimum ping interval is 5 s).
                c.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5), allowWithoutCalls: true)
            }
            let transport: HTTP2ClientTransport.Posix
            do {
                transport = try HTTP2ClientTransport.Posix(target: endpoint.target, transportSecurity: security, config: config)
            } catch {
                throw EtcdError.badEndpoint(endpoint.description, reason: "\(error)")
            }
            let grpc = GRPCClient(transport: transport)
            self.grpc = grpc
            kv = .init(wrapping: grpc)
            watch = .init(wrapping: grpc)
            lease = .init(wrapping: grpc)
            runner = Task(executorPreference: configuration.connectionExecutor) { try? await grpc.runConnections() }
        }
    }

    /// The connections, one a member; `reconnect()` replaces them.
    let memberList: Mutex<[Member]>
    var members: [Member] { memberList.withLock { $0 } }
    let configuration: Configuration
    /// The member that answered last: requests start there.
    let preferred = Mutex(0)
    let closed = Mutex(false)

    /// Checks every endpoint's syntax (nothing is connected yet: connections are made on first use).
    public init(_ configuration: Configuration) throws {
        guard !configuration.endpoints.isEmpty else { throw EtcdError.badEndpoint("", reason: "no etcd endpoints configured") }
        let endpoints = try configuration.endpoints.map(EtcdEndpoint.init)
        self.configuration = configuration
        memberList = Mutex(try endpoints.map { try Member(endpoint: $0, configuration: configuration) })
    }

    /// Replaces every connection with a new one and ends the old ones at once, their calls and streams failing over
    /// to the new. For a host whose own address changed: a TCP connection keeps the source address it was made from,
    /// so one made from an address that is gone hangs until a timeout (a request's, or the keep-alive's TTL) instead
    /// of failing. Streams (watches, lease keep-alives) resume on the new connections as after a member's failure.
    public func reconnect() {
        if closed.withLock({ $0 }) { return }
        let fresh = members.map { old in (try? Member(endpoint: old.endpoint, configuration: configuration)) ?? old }
        let old = memberList.withLock { list in defer { list = fresh }; return list }
        for (o, n) in zip(old, fresh) where o !== n {
            o.grpc.beginGracefulShutdown()
            o.runner.cancel()
        }
    }

    /// The endpoints, as configured.
    public var endpoints: [String] { members.map(\.endpoint.description) }

    /// Closes every connection; streams end, later calls throw `EtcdError.closed`.
    public func close() {
        closed.withLock { $0 = true }
        for m in members { m.grpc.beginGracefulShutdown() }
    }

    deinit { for m in members { m.grpc.beginGracefulShutdown() } }

    // MARK: - KV

    /// Every key under `prefix` (byte-wise: "/a/" matches "/a/b", not "/ab"), sorted by key, with the store revision.
    /// `serializable`: answered from the member's own copy, without the leader (works without quorum; may be stale).
    public func get(prefix: String, limit: Int64 = 0, serializable: Bool = false) async throws -> EtcdRangeResult {
        var req = Etcdserverpb_RangeRequest()
        let key = Array(prefix.utf8)
        req.key = Data(key.isEmpty ? [0] : key)
        req.rangeEnd = Data(Self.prefixEnd(key))
        req.limit = limit
        req.serializable = serializable
        req.sortOrder = .ascend
        req.sortTarget = .key
        return try await range(req)
    }

    /// One key, or nil, with the store revision.
    public func get(_ key: String, serializable: Bool = false) async throws -> (kv: EtcdKeyValue?, revision: Int64) {
        var req = Etcdserverpb_RangeRequest()
        req.key = Data(key.utf8)
        req.serializable = serializable
        let r = try await range(req)
        return (r.kvs.first, r.revision)
    }

    func range(_ req: Etcdserverpb_RangeRequest) async throws -> EtcdRangeResult {
        let resp = try await unary { m, options in try await m.kv.range(req, options: options) }
        return EtcdRangeResult(revision: resp.header.revision, kvs: resp.kvs.map(Self.keyValue), more: resp.more, count: resp.count)
    }

    /// Writes `key` (attached to `lease` unless 0); returns the store revision of the write. Throws
    /// `leaseNotFound` when the lease is gone.
    @discardableResult
    public func put(_ key: String, value: [UInt8], lease: Int64 = 0) async throws -> Int64 {
        var req = Etcdserverpb_PutRequest()
        req.key = Data(key.utf8)
        req.value = Data(value)
        req.lease = lease
        do {
            let resp = try await unary { m, options in try await m.kv.put(req, options: options) }
            return resp.header.revision
        } catch EtcdError.leaseNotFound {
            throw EtcdError.leaseNotFound(lease)
        }
    }

    /// Deletes `key`; returns how many keys were deleted (0 or 1) and the store revision.
    @discardableResult
    public func delete(_ key: String) async throws -> (deleted: Int64, revision: Int64) {
        var req = Etcdserverpb_DeleteRangeRequest()
        req.key = Data(key.utf8)
        return try await deleteRange(req)
    }

    /// Deletes every key under `prefix` (non-empty).
    @discardableResult
    public func delete(prefix: String) async throws -> (deleted: Int64, revision: Int64) {
        guard !prefix.isEmpty else { throw EtcdError.rejected(endpoint: "-", code: "invalidArgument", message: "refusing to delete with an empty prefix (every key)") }
        var req = Etcdserverpb_DeleteRangeRequest()
        req.key = Data(prefix.utf8)
        req.rangeEnd = Data(Self.prefixEnd(Array(prefix.utf8)))
        return try await deleteRange(req)
    }

    func deleteRange(_ req: Etcdserverpb_DeleteRangeRequest) async throws -> (deleted: Int64, revision: Int64) {
        let resp = try await unary { m, options in try await m.kv.deleteRange(req, options: options) }
        return (resp.deleted, resp.header.revision)
    }

    /// Creates `key` only if it does not exist (a transaction comparing its create_revision with 0), attached to
    /// `lease` unless 0. Exactly one of several racing callers wins; the others get the existing key.
    public func createIfAbsent(_ key: String, value: [UInt8], lease: Int64 = 0) async throws -> EtcdCreateResult {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        compare.target = .create
        compare.result = .equal
        compare.targetUnion = .createRevision(0)
        var put = Etcdserverpb_PutRequest()
        put.key = Data(key.utf8)
        put.value = Data(value)
        put.lease = lease
        var get = Etcdserverpb_RangeRequest()
        get.key = Data(key.utf8)
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        var success = Etcdserverpb_RequestOp(); success.request = .requestPut(put)
        var failure = Etcdserverpb_RequestOp(); failure.request = .requestRange(get)
        txn.success = [success]
        txn.failure = [failure]
        let resp: Etcdserverpb_TxnResponse
        do {
            resp = try await unary { m, options in try await m.kv.txn(txn, options: options) }
        } catch EtcdError.leaseNotFound {
            throw EtcdError.leaseNotFound(lease)
        }
        if resp.succeeded { return EtcdCreateResult(won: true, revision: resp.header.revision, existing: nil) }
        var existing: EtcdKeyValue?
        if case .responseRange(let r)? = resp.responses.first?.response, let kv = r.kvs.first { existing = Self.keyValue(kv) }
        // A failover may have sent the same transaction twice (the first applied, its answer lost): the key is
        // then ours — same lease, same value.
        if let e = existing, lease != 0, e.lease == lease, e.value == value {
            return EtcdCreateResult(won: true, revision: resp.header.revision, existing: nil)
        }
        return EtcdCreateResult(won: false, revision: resp.header.revision, existing: existing)
    }

    // MARK: - Leases

    /// Grants a lease of `ttl` seconds.
    public func grantLease(ttl: Int64) async throws -> EtcdLease {
        var req = Etcdserverpb_LeaseGrantRequest()
        req.ttl = ttl
        let resp = try await unary { m, options in try await m.lease.leaseGrant(req, options: options) }
        if !resp.error.isEmpty { throw EtcdError.rejected(endpoint: "-", code: "leaseGrant", message: resp.error) }
        return EtcdLease(id: resp.id, ttl: resp.ttl)
    }

    /// Revokes a lease: etcd deletes every key attached to it at once. Throws `leaseNotFound` when it is gone.
    public func revokeLease(_ id: Int64) async throws {
        var req = Etcdserverpb_LeaseRevokeRequest()
        req.id = id
        do {
            _ = try await unary { m, options in try await m.lease.leaseRevoke(req, options: options) }
        } catch EtcdError.leaseNotFound {
            throw EtcdError.leaseNotFound(id)
        }
    }

    /// A lease's remaining time, or nil when it no longer exists. `keys`: also list the keys attached to it.
    public func timeToLive(_ id: Int64, keys: Bool = false) async throws -> EtcdLeaseInfo? {
        var req = Etcdserverpb_LeaseTimeToLiveRequest()
        req.id = id
        req.keys = keys
        let resp: Etcdserverpb_LeaseTimeToLiveResponse
        do {
            resp = try await unary { m, options in try await m.lease.leaseTimeToLive(req, options: options) }
        } catch EtcdError.leaseNotFound {
            return nil
        }
        if resp.ttl < 0 { return nil }
        return EtcdLeaseInfo(id: resp.id, ttl: resp.ttl, grantedTTL: resp.grantedTtl,
                             keys: resp.keys.map { String(decoding: $0, as: UTF8.self) })
    }

    // MARK: - Failover

    /// Runs one unary call on the preferred member, then on each other member while the failure is one another
    /// member may not have (unreachable, no leader, timed out).
    func unary<R: Sendable>(_ call: (Member, CallOptions) async throws -> R) async throws -> R {
        if closed.withLock({ $0 }) { throw EtcdError.closed }
        var options = CallOptions.defaults
        options.timeout = configuration.requestTimeout
        options.waitForReady = false
        let start = preferred.withLock { $0 }
        var failures: [EtcdError.EndpointFailure] = []
        var answered = false
        for i in 0..<members.count {
            let index = (start + i) % members.count
            let m = members[index]
            do {
                let r = try await call(m, options)
                preferred.withLock { $0 = index }
                return r
            } catch let e as RPCError {
                switch Self.classify(e, endpoint: m.endpoint.description) {
                case .final(let error): throw error
                case .unreachable(let reason):
                    failures.append(.init(endpoint: m.endpoint.description, reason: reason))
                case .noLeader(let reason):
                    answered = true
                    failures.append(.init(endpoint: m.endpoint.description, reason: reason))
                }
            }
            try Task.checkCancellation()
        }
        throw answered ? EtcdError.noLeader(failures) : EtcdError.unreachable(failures)
    }

    enum Failure { case final(EtcdError), unreachable(String), noLeader(String) }

    /// What an RPC error means for the caller: try another member (the member's connection failed, or the member
    /// has no leader / timed out inside etcd), or give up (etcd said no).
    static func classify(_ e: RPCError, endpoint: String) -> Failure {
        let message = e.message.hasPrefix("etcdserver: ") ? String(e.message.dropFirst(12)) : e.message
        if message.contains("required revision has been compacted") { return .final(.compacted(revision: 0)) }
        if message.contains("requested lease not found") { return .final(.leaseNotFound(0)) }
        if message.contains("no leader") || message.contains("leader changed") || message.contains("request timed out")
            || message.contains("not capable") || message.contains("too many requests") {
            return .noLeader(message)
        }
        switch e.code {
        case .unavailable, .deadlineExceeded, .cancelled, .unknown, .internalError:
            // gRPC wraps a failed connect in two RPCErrors ("transient failure", "Could not establish a
            // connection"); the innermost cause (the socket's error) is the readable part.
            var inner: any Error = e
            while let next = (inner as? RPCError)?.cause { inner = next }
            let reason: String
            if e.code == .deadlineExceeded {
                reason = "no answer in time"
            } else if inner is RPCError {
                reason = message.isEmpty ? "\(e.code)" : message
            } else {
                reason = "could not connect: \(inner)"
            }
            return .unreachable(reason)
        default:
            return .final(.rejected(endpoint: endpoint, code: "\(e.code)", message: message))
        }
    }

    // MARK: - Conversions

    /// The range end that makes `[prefix, end)` every key starting with `prefix`: the prefix with its last byte
    /// below 0xff incremented and what follows dropped; "\0" (every key) when there is no such byte.
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff { end[end.count - 1] = last + 1; return end }
            end.removeLast()
        }
        return [0]
    }

    static func keyValue(_ kv: Mvccpb_KeyValue) -> EtcdKeyValue {
        let raw = [UInt8](kv.key)
        var out = EtcdKeyValue(key: String(decoding: raw, as: UTF8.self), value: [UInt8](kv.value), createRevision: kv.createRevision,
                               modRevision: kv.modRevision, version: kv.version, lease: kv.lease)
        out.rawKey = raw
        return out
    }
}
