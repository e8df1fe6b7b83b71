import EtcdAPI
import Foundation
import GRPCCore
import Synchronization

extension EtcdClient {
    // MARK: - Watch

    /// Watches every key under `prefix` from `fromRevision` on (0: from now). Events of revisions before now are
    /// replayed first, then changes follow as they happen.
    ///
    /// The stream survives failures: when its endpoint's stream breaks or the server cancels it, the watch is made
    /// again on the next endpoint from the last revision it yielded + 1, so no event is missed or repeated; when every
    /// endpoint fails it yields `.disconnected` once and keeps retrying (every 0.2–2 s) until an endpoint answers,
    /// then `.connected` again. It ends by throwing `EtcdError.compacted(revision:)` when the revision to resume from
    /// has been compacted away — read the prefix again and start a new watch from that read's revision + 1 — or
    /// `EtcdError.closed`. Cancelling the consuming task (or dropping the iterator) cancels the watch.
    public func watch(prefix: String, fromRevision: Int64 = 0, prevKV: Bool = true) -> AsyncThrowingStream<EtcdWatchUpdate, any Error> {
        let key = Array(prefix.utf8)
        return watch(key: key.isEmpty ? [0] : key, rangeEnd: Self.prefixEnd(key), fromRevision: fromRevision, prevKV: prevKV)
    }

    /// Watches one key (see `watch(prefix:)`).
    public func watch(key: String, fromRevision: Int64 = 0, prevKV: Bool = true) -> AsyncThrowingStream<EtcdWatchUpdate, any Error> {
        watch(key: Array(key.utf8), rangeEnd: [], fromRevision: fromRevision, prevKV: prevKV)
    }

    func watch(key: [UInt8], rangeEnd: [UInt8], fromRevision: Int64, prevKV: Bool) -> AsyncThrowingStream<EtcdWatchUpdate, any Error> {
        let (stream, continuation) = AsyncThrowingStream<EtcdWatchUpdate, any Error>.makeStream()
        let task = Task {
            do {
                try await self.runWatch(key: key, rangeEnd: rangeEnd, from: max(0, fromRevision), prevKV: prevKV, continuation)
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// A watch's state across attempts: the revision to resume from, and whether the current attempt got `created`.
    final class WatchProgress: Sendable {
        struct State { var next: Int64; var created = false; var disconnected = false }
        let state: Mutex<State>
        init(next: Int64) { state = Mutex(State(next: next)) }
    }

    struct StreamCanceled: Error, CustomStringConvertible {
        var description: String
    }

    func runWatch(key: [UInt8], rangeEnd: [UInt8], from: Int64, prevKV: Bool,
                  _ out: AsyncThrowingStream<EtcdWatchUpdate, any Error>.Continuation) async throws {
        let progress = WatchProgress(next: from)
        var start = preferred.withLock { $0 }
        var pause = Duration.milliseconds(200)
        while true {
            var failures: [EtcdError.EndpointFailure] = []
            var i = 0
            while i < members.count {
                try Task.checkCancellation()
                if closed.withLock({ $0 }) { throw EtcdError.closed }
                let index = (start + i) % members.count
                let m = members[index]
                progress.state.withLock { $0.created = false }
                var reason: String
                do {
                    try await watchOnce(m, key: key, rangeEnd: rangeEnd, prevKV: prevKV, progress: progress, out)
                    reason = "the watch stream ended"
                } catch let e as EtcdError {
                    throw e
                } catch let e as RPCError {
                    switch Self.classify(e, endpoint: m.endpoint.description) {
                    case .final(.compacted):
                        throw EtcdError.compacted(revision: progress.state.withLock { $0.next })
                    case .final(let error): reason = error.description
                    case .unreachable(let r), .noLeader(let r): reason = r
                    }
                } catch let e as StreamCanceled {
                    reason = e.description
                }
                try Task.checkCancellation()
                if progress.state.withLock({ $0.created }) {
                    // This endpoint served the watch and then failed: go on with the next one straight away,
                    // and report nothing unless a whole round fails.
                    failures = [.init(endpoint: m.endpoint.description, reason: reason)]
                    start = index + 1
                    i = 0
                    pause = .milliseconds(200)
                    continue
                }
                failures.append(.init(endpoint: m.endpoint.description, reason: reason))
                i += 1
            }
            let report = progress.state.withLock { s -> Bool in
                defer { s.disconnected = true }
                return !s.disconnected
            }
            if report { out.yield(.disconnected(.unreachable(failures))) }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(2))
        }
    }

    /// One Watch RPC on one member, until it fails or ends.
    func watchOnce(_ m: Member, key: [UInt8], rangeEnd: [UInt8], prevKV: Bool, progress: WatchProgress,
                   _ out: AsyncThrowingStream<EtcdWatchUpdate, any Error>.Continuation) async throws {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(key)
        create.rangeEnd = Data(rangeEnd)
        create.startRevision = progress.state.withLock { $0.next }
        create.prevKv = prevKV
        var watchRequest = Etcdserverpb_WatchRequest()
        watchRequest.requestUnion = .createRequest(create)
        let request = watchRequest
        let endpoint = m.endpoint.description
        var options = CallOptions.defaults
        options.waitForReady = false
        // No metadata: in particular not `hasleader`, with which etcd cancels the watch while there is no leader.
        try await m.watch.watch(metadata: [:], options: options, requestProducer: { writer in
            try await writer.write(request)
            // Keep the request side open: etcd ends the watch when the client half-closes.
            while true { try await Task.sleep(for: .seconds(3600)) }
        }, onResponse: { response in
            for try await message in response.messages {
                if message.compactRevision != 0 { throw EtcdError.compacted(revision: message.compactRevision) }
                if message.canceled {
                    throw StreamCanceled(description: "etcd cancelled the watch" + (message.cancelReason.isEmpty ? "" : ": \(message.cancelReason)"))
                }
                if message.created {
                    let from = progress.state.withLock { s -> Int64 in
                        if s.next == 0 { s.next = message.header.revision + 1 }
                        s.created = true
                        s.disconnected = false
                        return s.next
                    }
                    out.yield(.connected(endpoint: endpoint, fromRevision: from))
                }
                let events = message.events.compactMap(Self.event)
                if let last = events.last {
                    progress.state.withLock { $0.next = max($0.next, last.revision + 1) }
                    out.yield(.events(events, revision: message.header.revision))
                }
            }
        })
    }

    /// An event of the wire, or nil for a type this client does not know (dropped).
    static func event(_ e: Mvccpb_Event) -> EtcdEvent? {
        let kind: EtcdEvent.Kind
        switch e.type {
        case .put: kind = .put
        case .delete: kind = .delete
        case .UNRECOGNIZED: return nil
        }
        return EtcdEvent(kind: kind, kv: keyValue(e.kv), prevKV: e.hasPrevKv ? keyValue(e.prevKv) : nil)
    }

    // MARK: - Lease keep-alive

    /// Keeps `lease` alive until `stop()`: a LeaseKeepAlive stream that sends a renewal every TTL/3 (never more
    /// often than every 0.5 s), moving to the next endpoint when its stream fails. `states` reports each renewal,
    /// interruptions, and finally `.lost` when etcd says the lease is gone or no renewal was answered for a whole TTL.
    /// After `.lost` for want of answers the lease may still exist for up to its TTL (a new leader extends every
    /// lease once): a new registration under a new lease can find its own old key, held by the old lease.
    public func keepAlive(_ lease: EtcdLease) -> EtcdKeepAlive {
        let (stream, continuation) = AsyncStream<EtcdKeepAliveState>.makeStream()
        let task = Task {
            await self.runKeepAlive(lease, continuation)
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return EtcdKeepAlive(lease: lease, states: stream, task: task)
    }

    final class RenewalClock: Sendable {
        struct State { var last: ContinuousClock.Instant; var lost: EtcdError? }
        let state: Mutex<State>
        init() { state = Mutex(State(last: .now, lost: nil)) }
    }

    func runKeepAlive(_ lease: EtcdLease, _ out: AsyncStream<EtcdKeepAliveState>.Continuation) async {
        let ttl = Duration.seconds(max(1, lease.ttl))
        let interval = max(ttl / 3, .milliseconds(500))
        let clock = RenewalClock()
        var start = preferred.withLock { $0 }
        var failures: [EtcdError.EndpointFailure] = []
        while !Task.isCancelled {
            for i in 0..<members.count {
                if Task.isCancelled { return }
                if closed.withLock({ $0 }) { out.yield(.lost(.closed)); return }
                let index = (start + i) % members.count
                let m = members[index]
                var reason = "the keep-alive stream ended"
                do {
                    try await keepAliveOnce(m, lease: lease, interval: interval, ttl: ttl, clock: clock, out)
                } catch let e as RPCError {
                    switch Self.classify(e, endpoint: m.endpoint.description) {
                    case .final(.leaseNotFound): clock.state.withLock { $0.lost = .leaseNotFound(lease.id) }
                    case .final(let error): reason = error.description
                    case .unreachable(let r), .noLeader(let r): reason = r
                    }
                } catch {
                    if Task.isCancelled { return }
                    reason = "\(error)"
                }
                if let lost = clock.state.withLock({ $0.lost }) {
                    out.yield(.lost(lost)); return
                }
                failures.append(.init(endpoint: m.endpoint.description, reason: reason))
                if clock.state.withLock({ ContinuousClock.now - $0.last > ttl }) {
                    out.yield(.lost(.unreachable(failures))); return
                }
                start = index + 1
            }
            out.yield(.interrupted(.unreachable(failures)))
            failures = []
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    struct LeaseGone: Error {}

    func keepAliveOnce(_ m: Member, lease: EtcdLease, interval: Duration, ttl: Duration, clock: RenewalClock,
                       _ out: AsyncStream<EtcdKeepAliveState>.Continuation) async throws {
        var keepAliveRequest = Etcdserverpb_LeaseKeepAliveRequest()
        keepAliveRequest.id = lease.id
        let request = keepAliveRequest
        var options = CallOptions.defaults
        options.waitForReady = false
        let endpoint = m.endpoint.description
        try await m.lease.leaseKeepAlive(metadata: [:], options: options, requestProducer: { writer in
            while true {
                let overdue = clock.state.withLock { s -> Bool in
                    if ContinuousClock.now - s.last > ttl {
                        s.lost = .unreachable([.init(endpoint: endpoint, reason: "no renewal answered within the lease's TTL")])
                        return true
                    }
                    return false
                }
                if overdue { throw LeaseGone() }
                try await writer.write(request)
                try await Task.sleep(for: interval)
            }
        }, onResponse: { response in
            for try await message in response.messages {
                if message.ttl <= 0 {
                    clock.state.withLock { $0.lost = .leaseNotFound(lease.id) }
                    return
                }
                clock.state.withLock { $0.last = .now }
                out.yield(.renewed(ttl: message.ttl))
            }
        })
    }
}

/// A running lease keep-alive (`EtcdClient.keepAlive`). Stop it to let the lease expire (or revoke it).
public final class EtcdKeepAlive: Sendable {
    public let lease: EtcdLease
    /// Renewals, interruptions and the final loss; ends after `.lost` or `stop()`.
    public let states: AsyncStream<EtcdKeepAliveState>
    let task: Task<Void, Never>

    init(lease: EtcdLease, states: AsyncStream<EtcdKeepAliveState>, task: Task<Void, Never>) {
        self.lease = lease; self.states = states; self.task = task
    }

    /// Stops sending renewals (the lease then expires after its TTL unless revoked).
    public func stop() { task.cancel() }
}
