/// Values the etcd client hands out: keys are strings (UTF-8 on the wire), values bytes, revisions and lease ids
/// etcd's int64s.

/// One key as etcd stores it (`mvccpb.KeyValue`).
public struct EtcdKeyValue: Sendable, Equatable {
    /// The key as text. A key that is not valid UTF-8 (written by something else) is decoded with U+FFFD
    /// replacements; `rawKey` has its bytes.
    public var key: String
    public var rawKey: [UInt8]
    public var value: [UInt8]
    /// The revision of the write that created the key (since its last deletion).
    public var createRevision: Int64
    /// The revision of the key's last write.
    public var modRevision: Int64
    /// How many times the key was written since its creation (1 after the create).
    public var version: Int64
    /// The lease the key is attached to; 0 for none.
    public var lease: Int64

    public init(key: String, value: [UInt8], createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0, lease: Int64 = 0) {
        self.key = key; self.rawKey = Array(key.utf8); self.value = value
        self.createRevision = createRevision; self.modRevision = modRevision; self.version = version; self.lease = lease
    }
}

/// What a range read returned, at the store's revision `revision` (the header's): watch from `revision + 1` to see
/// every change after this read.
public struct EtcdRangeResult: Sendable, Equatable {
    public var revision: Int64
    public var kvs: [EtcdKeyValue]
    /// More keys matched than the limit let through.
    public var more: Bool
    /// How many keys matched (etcd's `count`).
    public var count: Int64
}

/// The outcome of `createIfAbsent`.
public struct EtcdCreateResult: Sendable, Equatable {
    /// This call created the key (its create_revision was 0). A retry of our own create that etcd had already
    /// applied (same value, same non-zero lease) also counts as won.
    public var won: Bool
    /// The store revision after the transaction.
    public var revision: Int64
    /// When lost: the key as it is, held by someone else.
    public var existing: EtcdKeyValue?
}

/// A lease granted by etcd.
public struct EtcdLease: Sendable, Equatable {
    public var id: Int64
    /// The TTL etcd chose, in seconds (normally the one asked for; never below the server's minimum).
    public var ttl: Int64
}

/// A lease's remaining time (`LeaseTimeToLive`).
public struct EtcdLeaseInfo: Sendable, Equatable {
    public var id: Int64
    /// Seconds left.
    public var ttl: Int64
    /// The TTL it was granted with.
    public var grantedTTL: Int64
    /// The keys attached to it (when asked for).
    public var keys: [String]
}

/// One change seen by a watch.
public struct EtcdEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case put, delete }
    public var kind: Kind
    /// The key after the change. For a delete: key, and `modRevision` the deletion's revision (value empty).
    public var kv: EtcdKeyValue
    /// The key before the change, when the watch asked for it and etcd still had it.
    public var prevKV: EtcdKeyValue?
    /// The revision of the change.
    public var revision: Int64 { kv.modRevision }
}

/// What a watch yields: events in revision order, and its connection's changes of state.
public enum EtcdWatchUpdate: Sendable, Equatable {
    /// Events of one response (one or more whole revisions, in order). `revision` is the response header's.
    case events([EtcdEvent], revision: Int64)
    /// The watch is (again) established on `endpoint`, from `fromRevision` on: nothing between the last event
    /// yielded and this revision was missed.
    case connected(endpoint: String, fromRevision: Int64)
    /// The watch lost its stream and every endpoint failed; it keeps retrying (nothing is missed: it resumes from
    /// the last revision seen + 1). `error` says why, for a status line.
    case disconnected(EtcdError)
}

/// What a lease keep-alive reports.
public enum EtcdKeepAliveState: Sendable, Equatable {
    /// etcd renewed the lease; `ttl` seconds from now.
    case renewed(ttl: Int64)
    /// A renewal failed on every endpoint (kept trying while the lease may still be alive).
    case interrupted(EtcdError)
    /// The lease is gone (etcd said so, or no renewal succeeded within its TTL). Final: keys attached to it are
    /// deleted by etcd; grant a new lease to register again.
    case lost(EtcdError)
}
