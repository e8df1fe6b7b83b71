#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import NetlinkWire

/// One request in a batch: the message (its seq is assigned by the socket) and a name for errors.
public struct NetlinkRequest: Sendable {
    public var message: NetlinkMessage
    public var operation: String
    public init(_ message: NetlinkMessage, operation: String) { self.message = message; self.operation = operation }
}

/// A netlink socket bound to one protocol (NETLINK_ROUTE, NETLINK_GENERIC) in one network namespace.
///
/// Requests are sent with NLM_F_ACK and matched to replies by sequence number; dumps are read until NLMSG_DONE;
/// many requests can go out in one `sendmsg` (`execute(_:stopOnError:)`), which is what `-batch` uses.
public final class NetlinkSocket {
    public let fd: Int32
    public let netlinkProtocol: Int32
    private var seq: UInt32
    private var buffer: [UInt8]
    /// Most request bytes sent per sendmsg before the socket waits for their ACKs.
    public var batchWindowBytes = 128 * 1024
    /// Counters for benchmarks and diagnostics.
    public private(set) var sendCalls = 0
    public private(set) var receiveCalls = 0

    /// Opens a socket; with `netns`, the socket is created inside that named namespace (like `ip -n NAME`).
    public init(protocol proto: Int32 = NETLINK_ROUTE, netns: String? = nil) throws {
        let fd = try NetworkNamespace.with(netns) { () throws -> Int32 in
            let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
            guard fd >= 0 else {
                if errno == EPROTONOSUPPORT { throw SystemError("netlink protocol \(proto) is not supported by this kernel", errno: errno) }
                throw SystemError("socket(AF_NETLINK)")
            }
            return fd
        }
        self.fd = fd
        self.netlinkProtocol = proto
        self.seq = UInt32(truncatingIfNeeded: time(nil))
        self.buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var one: Int32 = 1
        // Extended ACK text, capped ACKs (we never need our request echoed back), strict dump checking.
        _ = setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        var big: Int32 = 4 * 1024 * 1024
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, socklen_t(MemoryLayout<Int32>.size))
        }
        var sbig: Int32 = 1024 * 1024
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sbig, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_nl()
        addr.nl_family = sa_family_t(AF_NETLINK)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        if rc != 0 { let e = SystemError("bind(AF_NETLINK)"); close(fd); throw e }
    }

    deinit { close(fd) }

    public func nextSeq() -> UInt32 { seq &+= 1; return seq }

    // MARK: raw I/O

    public func send(_ bytes: [UInt8]) throws {
        var addr = sockaddr_nl()
        addr.nl_family = sa_family_t(AF_NETLINK)
        let n = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &addr) { ap in
                ap.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        sendCalls += 1
        if n < 0 { throw SystemError("sendto(netlink)") }
    }

    /// Receives one datagram (which may hold several messages).
    public func receive() throws -> [NetlinkMessage] {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            receiveCalls += 1
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOBUFS { throw SystemError("recv(netlink): the kernel dropped replies (socket buffer overrun)") }
                throw SystemError("recv(netlink)")
            }
            if n > buffer.count { throw SystemError("recv(netlink): reply of \(n) bytes truncated", errno: EMSGSIZE) }
            return try NetlinkMessage.parse(buffer[0..<n])
        }
    }

    /// Joins a multicast group (an RTNLGRP_* number, not a bit mask): the kernel then sends this socket the
    /// group's notifications, read with `receive()` (what `monitor` does). Groups above 32 need this setsockopt,
    /// which is why it is used rather than bind()'s nl_groups mask.
    public func join(group: UInt32) throws {
        var g = group
        if setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
            throw SystemError("setsockopt(NETLINK_ADD_MEMBERSHIP, \(group))")
        }
    }

    // MARK: request / ack / dump

    /// Sends one request with NLM_F_ACK and returns the non-ACK replies (e.g. the object for a GET, or echoes).
    @discardableResult
    public func request(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage] {
        let r = try execute([NetlinkRequest(message, operation: operation)], stopOnError: true)
        return try r[0].get()
    }

    /// Dumps: sends the request with NLM_F_DUMP and collects every message up to NLMSG_DONE.
    /// A dump the kernel marks interrupted (NLM_F_DUMP_INTR) is retried a few times.
    public func dump(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage] {
        var attempt = 0
        while true {
            attempt += 1
            var m = message
            m.seq = nextSeq()
            m.flags |= NetlinkFlags([.request, .dump]).rawValue
            try send(m.encoded())
            var out: [NetlinkMessage] = []
            var interrupted = false
            reading: while true {
                for reply in try receive() where reply.seq == m.seq {
                    if reply.flags & NetlinkFlags.dumpIntr.rawValue != 0 { interrupted = true }
                    switch reply.type {
                    case NetlinkControl.done:
                        if let err = Bytes.load(Int32.self, from: reply.payload[...]), err < 0 {
                            // NLMSG_DONE carries an error and, with ext-ack, TLVs after it.
                            var ext: String?
                            if reply.flags & NetlinkFlags.ackTLVs.rawValue != 0, reply.payload.count > 4 {
                                ext = (try? Attribute.parse(reply.payload[4...]))?.first(NLMSGERR_ATTR_MSG.rawValue)?.string
                            }
                            throw NetlinkError(operation: operation, errno: -err, extAck: ext)
                        }
                        break reading
                    case NetlinkControl.error:
                        let e = try NetlinkErrorPayload(message: reply)
                        if e.errno != 0 { throw NetlinkError(operation: operation, errno: e.errno, extAck: e.extAckMessage, offset: e.extAckOffset) }
                        break reading
                    case NetlinkControl.noop, NetlinkControl.overrun:
                        continue
                    default:
                        out.append(reply)
                    }
                }
            }
            if !interrupted || attempt >= 5 { return out }
        }
    }

    /// Sends many requests, packing as many as fit in `batchWindowBytes` into each sendmsg, and waits for every ACK.
    /// Returns one result per request that was sent. With `stopOnError`, no further window is sent after a failure
    /// (requests already in the failing window were processed by the kernel and their results are reported).
    public func execute(_ requests: [NetlinkRequest], stopOnError: Bool) throws -> [Result<[NetlinkMessage], NetlinkError>] {
        var results: [Result<[NetlinkMessage], NetlinkError>] = []
        results.reserveCapacity(requests.count)
        var i = 0
        var out: [UInt8] = []
        out.reserveCapacity(batchWindowBytes + 4096)
        while i < requests.count {
            out.removeAll(keepingCapacity: true)
            let first = i
            var seqs: [UInt32] = []
            while i < requests.count && (out.isEmpty || out.count + requests[i].message.payload.count + 16 <= batchWindowBytes) {
                var m = requests[i].message
                m.seq = nextSeq()
                m.flags |= NetlinkFlags([.request, .ack]).rawValue
                seqs.append(m.seq)
                m.encode(into: &out)
                i += 1
            }
            try send(out)
            // Collect replies for this window; each request ends with exactly one NLMSG_ERROR (ACK or error).
            let base = seqs[0]
            var replies = [[NetlinkMessage]](repeating: [], count: seqs.count)
            var outcome = [NetlinkError?](repeating: nil, count: seqs.count)
            var pending = seqs.count
            var finished = [Bool](repeating: false, count: seqs.count)
            while pending > 0 {
                for reply in try receive() {
                    let idx = Int(reply.seq &- base)
                    guard idx >= 0, idx < seqs.count, !finished[idx] else { continue }
                    if reply.type == NetlinkControl.error {
                        let e = try NetlinkErrorPayload(message: reply)
                        if e.errno != 0 {
                            outcome[idx] = NetlinkError(operation: requests[first + idx].operation, errno: e.errno,
                                                        extAck: e.extAckMessage, offset: e.extAckOffset)
                        }
                        finished[idx] = true
                        pending -= 1
                    } else if reply.type != NetlinkControl.noop {
                        replies[idx].append(reply)
                    }
                }
            }
            var failed = false
            for k in 0..<seqs.count {
                if let e = outcome[k] { results.append(.failure(e)); failed = true } else { results.append(.success(replies[k])) }
            }
            if failed && stopOnError { break }
        }
        return results
    }
}
