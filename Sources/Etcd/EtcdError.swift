/// Why an etcd operation failed, in words a log or `status` line can show as is.
public enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One endpoint's failure, as part of `unreachable`/`noLeader`.
    public struct EndpointFailure: Sendable, Equatable {
        public var endpoint: String
        public var reason: String
        public init(endpoint: String, reason: String) { self.endpoint = endpoint; self.reason = reason }
    }

    /// An endpoint in the configuration is not a URL the client can use.
    case badEndpoint(String, reason: String)
    /// No endpoint could be reached (connection refused, reset, timed out): each endpoint's reason.
    case unreachable([EndpointFailure])
    /// Members answered but the cluster has no leader (no quorum), or every request timed out inside etcd.
    case noLeader([EndpointFailure])
    /// The revision asked for is older than etcd's compaction: read the keys again (a range) and watch from the
    /// read's revision + 1.
    case compacted(revision: Int64)
    /// The lease does not exist (it expired or was revoked).
    case leaseNotFound(Int64)
    /// etcd refused the request (an error that another endpoint would not change), with its gRPC status.
    case rejected(endpoint: String, code: String, message: String)
    /// The client was closed.
    case closed

    public var description: String {
        switch self {
        case .badEndpoint(let e, let reason): return "bad etcd endpoint \"\(e)\": \(reason)"
        case .unreachable(let f): return "etcd unreachable at " + Self.list(f)
        case .noLeader(let f): return "etcd has no leader (no quorum): " + Self.list(f)
        case .compacted(let r): return "etcd compacted at revision \(r): the history asked for is gone; read again and watch from the read's revision"
        case .leaseNotFound(let id): return "etcd lease \(Self.hex(id)) not found (expired or revoked)"
        case .rejected(let e, let code, let message): return "etcd at \(e) refused the request: \(message) (\(code))"
        case .closed: return "etcd client closed"
        }
    }

    static func list(_ f: [EndpointFailure]) -> String {
        f.isEmpty ? "(no endpoints)" : f.map { "\($0.endpoint): \($0.reason)" }.joined(separator: "; ")
    }

    /// Lease ids as etcdctl prints them.
    public static func hex(_ id: Int64) -> String { String(UInt64(bitPattern: id), radix: 16) }
}
