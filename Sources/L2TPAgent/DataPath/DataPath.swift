#if canImport(Glibc)
import Glibc
#endif
import DataplaneWire

/// One established L2TPv3 Ethernet pseudowire session (RFC 3931, RFC 4719), in the data plane's terms: what the
/// control connection negotiated, seen from this end.
public struct ManagedSession: Hashable, Sendable {
    /// Our control connection id (the tunnel the session belongs to).
    public var tunnelID: UInt32
    /// The peer's control connection id.
    public var peerTunnelID: UInt32
    /// Our (local) session id: data arriving for this session carries it.
    public var sessionID: UInt32
    /// The peer's session id: data we send carries it.
    public var peerSessionID: UInt32
    /// Sent in every data message (the peer's Assigned Cookie): 0, 4 or 8 bytes.
    public var cookie: [UInt8]
    /// Required in every data message received (our Assigned Cookie): 0, 4 or 8 bytes.
    public var peerCookie: [UInt8]
    /// The default L2-specific sublayer (RFC 4719 §3.2.2, 4 bytes) was negotiated; false: no sublayer.
    public var l2SpecificSublayer: Bool
    /// The pseudowire's interface (a TAP for the userspace path, the kernel's l2tp_eth device otherwise).
    public var interfaceName: String
    /// The interface's MTU; nil: the route MTU to the peer minus the encapsulation (as l2tp_eth computes it).
    public var mtu: Int?
    /// Send sequence numbers and require them (the Data Sequencing the session agreed on; needs the sublayer).
    public var sequencing: Bool = false

    public init(tunnelID: UInt32, peerTunnelID: UInt32, sessionID: UInt32, peerSessionID: UInt32,
                cookie: [UInt8] = [], peerCookie: [UInt8] = [], l2SpecificSublayer: Bool = true,
                interfaceName: String, mtu: Int? = nil, sequencing: Bool = false) {
        self.sequencing = sequencing
        self.tunnelID = tunnelID; self.peerTunnelID = peerTunnelID; self.sessionID = sessionID
        self.peerSessionID = peerSessionID; self.cookie = cookie; self.peerCookie = peerCookie
        self.l2SpecificSublayer = l2SpecificSublayer; self.interfaceName = interfaceName; self.mtu = mtu
    }

    /// Bytes of L2TPv3-over-UDP data header in front of each frame: flags/version word, session id, cookie, sublayer.
    public var headerLength: Int { 4 + 4 + cookie.count + (l2SpecificSublayer ? 4 : 0) }

    /// The data plane's options for this session (no sequencing configured: as the kernel does outside LNS
    /// mode, the userspace path sends sequence numbers once the peer does).
    var l2tpv3Options: L2TPv3Options {
        L2TPv3Options(sessionID: sessionID, peerSessionID: peerSessionID, cookie: cookie, peerCookie: peerCookie,
                      defaultL2SpecificSublayer: l2SpecificSublayer, sendSequence: sequencing, receiveSequence: sequencing)
    }

    /// Checks what the data plane relies on; nil when fine.
    func problem() -> String? {
        if ![0, 4, 8].contains(cookie.count) { return "cookie is \(cookie.count) bytes; L2TPv3 cookies are 0, 4 or 8" }
        if ![0, 4, 8].contains(peerCookie.count) { return "peer cookie is \(peerCookie.count) bytes; L2TPv3 cookies are 0, 4 or 8" }
        if sequencing && !l2SpecificSublayer { return "sequencing needs the default L2-specific sublayer" }
        if sessionID == 0 || peerSessionID == 0 { return "session ids must not be 0 (RFC 3931 §4.1)" }
        if interfaceName.isEmpty || interfaceName.utf8.count >= 16 || interfaceName.contains("/") || interfaceName.contains(" ") {
            return "invalid interface name \"\(interfaceName)\""
        }
        if let mtu, mtu < 68 || mtu > 65535 { return "MTU \(mtu) is out of range (68–65535)" }
        return nil
    }
}

/// Receive/transmit counters of a session (or of a tunnel: drops that belong to no session), and drops by reason.
/// Packet and byte counts are of the Ethernet frames, without the encapsulation.
public typealias SessionCounters = CounterSnapshot

/// A data path refused a request: an unknown tunnel or session, bad parameters, or a failing system call or
/// netlink request (its error, with a hint, is the `underlying` one).
public struct DataPathError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var underlying: (any Error & Sendable)?
    public init(_ message: String, underlying: (any Error & Sendable)? = nil) { self.message = message; self.underlying = underlying }
    public var description: String { underlying.map { "\(message): \($0)" } ?? message }
}

/// Where established sessions' data goes. The control-protocol runtime owns one UDP socket per tunnel (bound to
/// the local address and port, connected to the peer), reads every datagram from it, handles control messages
/// (T bit set) itself, and gives L2TPv3 data messages (T bit clear) to `deliver`.
///
/// Two implementations: `KernelL2TPDataPath` hands the socket to the kernel (L2TP_ATTR_FD; the kernel then
/// consumes the data messages of its sessions before userspace sees them, and l2tp_eth makes the interfaces), and
/// `UserspaceL2TPDataPath` moves frames between a TAP per session and the same socket.
///
/// Threading: `addTunnel`/`removeTunnel`/`addSession`/`removeSession`/`deliver` are called from the runtime's
/// thread; `counters` from any thread. A tunnel's socket must stay open until `removeTunnel` has returned.
/// Interfaces are created in the network namespace of the thread that calls `addSession` (userspace) or of the
/// netlink socket (kernel), and come up with their MTU set.
public protocol L2TPDataPath: AnyObject, Sendable {
    /// A tunnel's socket is ready (bound, connected to the peer). The fd stays owned by the caller.
    func addTunnel(tunnelID: UInt32, peerTunnelID: UInt32, socket: Int32, ipv6: Bool) throws
    /// Removes the tunnel and every session still in it. Unknown ids are ignored.
    func removeTunnel(tunnelID: UInt32)
    /// Starts forwarding for an established session of a tunnel added before; creates its interface.
    func addSession(_ s: ManagedSession) throws
    /// Stops forwarding and removes the session's interface. Unknown ids are ignored.
    func removeSession(tunnelID: UInt32, sessionID: UInt32)
    /// One L2TPv3 data datagram (UDP payload) read from the tunnel's socket. Never throws or traps: what cannot be
    /// delivered is dropped and counted (on its session when it names one, else on the tunnel).
    func deliver(tunnelID: UInt32, datagram: UnsafeRawBufferPointer)
    /// A session's counters; with `sessionID` nil, the tunnel's own (drops that belong to no session). Nil when
    /// unknown.
    func counters(tunnelID: UInt32, sessionID: UInt32?) -> SessionCounters?
}

extension L2TPDataPath {
    /// `deliver` for a datagram in an array.
    public func deliver(tunnelID: UInt32, datagram: [UInt8]) {
        datagram.withUnsafeBytes { deliver(tunnelID: tunnelID, datagram: $0) }
    }
}

extension L2TPAgent {
    /// True when a UDP payload starts like an L2TPv3 data message (T bit clear, version 3): what the runtime passes
    /// to `L2TPDataPath.deliver`. Control messages (T bit set) are not.
    public static func isDataMessage(_ datagram: UnsafeRawBufferPointer) -> Bool {
        datagram.count >= 2 && datagram[0] & 0x80 == 0 && datagram[1] & 0x0f == 3
    }
}

extension CounterSnapshot {
    /// The sum of two snapshots (kernel counters plus what userspace dropped itself).
    func adding(_ other: CounterSnapshot) -> CounterSnapshot {
        var s = self
        s.rxPackets += other.rxPackets; s.rxBytes += other.rxBytes
        s.txPackets += other.txPackets; s.txBytes += other.txBytes
        for (r, n) in other.drops { s.drops[r, default: 0] += n }
        return s
    }
}

/// A pthread mutex (the session tables are touched by the runtime's thread and read from others).
final class Lock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() { m = .allocate(capacity: 1); m.initialize(to: pthread_mutex_t()); pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}
