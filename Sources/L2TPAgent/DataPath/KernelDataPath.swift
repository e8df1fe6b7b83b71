#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import DataplaneWire
import Netlink
import NetlinkWire

/// The kernel's data path for managed tunnels (Documentation/networking/l2tp.rst): `addTunnel` hands the runtime's
/// UDP socket to the kernel (L2TP_CMD_TUNNEL_CREATE with L2TP_ATTR_FD, L2TPv3 over UDP); from then on the kernel
/// takes the data messages of its sessions off that socket before userspace sees them and still queues control
/// messages — and data for session ids it does not know — to the runtime's reads. `addSession` creates an Ethernet
/// pseudowire (L2TP_CMD_SESSION_CREATE, l2tp_eth makes the interface), then sets its MTU (if given) and brings it up
/// over rtnetlink.
///
/// The kernel tunnel lives as long as the socket: closing the fd destroys it (and its sessions) too. Both netlink
/// sockets must be in the namespace of the tunnel socket (the kernel refuses a socket of another namespace); the
/// interfaces appear there.
public final class KernelL2TPDataPath: L2TPDataPath, @unchecked Sendable {
    /// The l2tp generic-netlink client requests go through.
    public let client: L2TPClient
    /// NETLINK_ROUTE, for the interface's MTU and up flag.
    public let route: NetlinkTransport

    final class Tunnel {
        var sessions: [UInt32: ManagedSession] = [:]
        /// Data messages the kernel passed up to userspace (unknown session, malformed), seen by `deliver`.
        let counters = Counters()
    }

    /// Netlink sockets are not thread-safe: every request goes out under the lock.
    private let lock = Lock()
    private var tunnels: [UInt32: Tunnel] = [:]

    /// Uses the caller's transports (e.g. opened in another namespace with `NetlinkSocket(protocol:netns:)`, or fakes).
    public init(client: L2TPClient, route: NetlinkTransport) {
        self.client = client; self.route = route
    }

    /// Opens NETLINK_GENERIC and NETLINK_ROUTE sockets in namespace `netns` (nil: the calling thread's) and
    /// resolves the l2tp family. Throws `GenericFamilyUnavailable` (which names the modules to load) when the
    /// kernel has no l2tp netlink family.
    public convenience init(netns: String? = nil) throws {
        let generic = try NetlinkSocket(protocol: NETLINK_GENERIC, netns: netns)
        let client = try L2TPClient(transport: generic)
        self.init(client: client, route: try NetlinkSocket(protocol: NETLINK_ROUTE, netns: netns))
    }

    /// Whether the kernel can run managed L2TPv3 tunnels: the "l2tp" generic-netlink family resolves (the
    /// controller may autoload l2tp_netlink; nothing else is tried). l2tp_eth is only known to be missing when a
    /// session is created.
    public static func available(netns: String? = nil) -> Bool {
        guard let s = try? NetlinkSocket(protocol: NETLINK_GENERIC, netns: netns) else { return false }
        return (try? resolveFamily(L2TPNetlink.familyName, on: s)) != nil
    }

    deinit {
        // Sessions go with their tunnels.
        for id in tunnels.keys { try? client.deleteTunnel(id) }
    }

    public func addTunnel(tunnelID: UInt32, peerTunnelID: UInt32, socket: Int32, ipv6: Bool) throws {
        guard tunnelID != 0 else { throw DataPathError("tunnel id 0 is reserved (RFC 3931 §5.4.4)") }
        let config = L2TPTunnelConfig(tunnelID: tunnelID, peerTunnelID: peerTunnelID, protocolVersion: 3,
                                      encapsulation: .udp, fd: socket)
        try lock.withLock {
            if tunnels[tunnelID] != nil { throw DataPathError("tunnel \(tunnelID) already has a data path") }
            do {
                try client.createTunnel(config)
            } catch let e as NetlinkError {
                throw Self.explain(e, tunnelID: tunnelID, socket: socket, ipv6: ipv6)
            }
            tunnels[tunnelID] = Tunnel()
        }
    }

    public func removeTunnel(tunnelID: UInt32) {
        lock.withLock {
            guard tunnels.removeValue(forKey: tunnelID) != nil else { return }
            // ENODEV: the kernel already destroyed it (the socket was closed).
            try? client.deleteTunnel(tunnelID)
        }
    }

    public func addSession(_ s: ManagedSession) throws {
        let what = "session \(s.sessionID) of tunnel \(s.tunnelID)"
        if let p = s.problem() { throw DataPathError("\(what): \(p)") }
        let config = L2TPSessionConfig(
            tunnelID: s.tunnelID, peerTunnelID: s.peerTunnelID, sessionID: s.sessionID, peerSessionID: s.peerSessionID,
            pseudowireType: .eth, l2specType: s.l2SpecificSublayer ? .default : L2TPL2SpecType.none,
            l2specLength: s.l2SpecificSublayer ? 4 : 0,
            recvSeq: s.sequencing ? true : nil, sendSeq: s.sequencing ? true : nil,
            cookie: s.cookie.isEmpty ? nil : s.cookie, peerCookie: s.peerCookie.isEmpty ? nil : s.peerCookie,
            ifname: s.interfaceName)
        try lock.withLock {
            guard let t = tunnels[s.tunnelID] else { throw DataPathError("\(what): no tunnel \(s.tunnelID) (addTunnel first)") }
            if t.sessions[s.sessionID] != nil { throw DataPathError("\(what) already exists") }
            // L2TPClient adds the hints: EPROTONOSUPPORT = no l2tp_eth module, EEXIST, ENODEV.
            try client.createSession(config)
            do {
                try setUp(s)
            } catch {
                try? client.deleteSession(tunnelID: s.tunnelID, sessionID: s.sessionID)
                throw error
            }
            t.sessions[s.sessionID] = s
        }
    }

    /// MTU (if given) and IFF_UP on the session's interface, addressed by name (the route socket may be in another
    /// namespace than this thread, so no if_nametoindex).
    private func setUp(_ s: ManagedSession) throws {
        var a = AttributeWriter()
        a.string(IFLA_IFNAME, s.interfaceName)
        if let mtu = s.mtu { a.u32(IFLA_MTU, UInt32(mtu)) }
        let up = UInt32(IFF_UP.rawValue)
        try route.request(RTMessage.link(RTM_NEWLINK, flags: [.request, .ack], header: IfInfoHeader(flags: up, change: up), attributes: a),
                          operation: "set \(s.interfaceName) up" + (s.mtu.map { " mtu \($0)" } ?? ""))
    }

    public func removeSession(tunnelID: UInt32, sessionID: UInt32) {
        lock.withLock {
            guard tunnels[tunnelID]?.sessions.removeValue(forKey: sessionID) != nil else { return }
            try? client.deleteSession(tunnelID: tunnelID, sessionID: sessionID)
        }
    }

    /// The kernel consumes the data of its sessions; what reaches userspace is data it could not place (a session
    /// id it does not have, e.g. one not created yet) or a malformed header. Counted on the tunnel, then dropped.
    public func deliver(tunnelID: UInt32, datagram: UnsafeRawBufferPointer) {
        lock.withLock {
            guard let t = tunnels[tunnelID] else { return }
            let reason: DropReason
            if datagram.count < 8 || datagram[1] & 0x0f != 3 { reason = .malformed }
            else if datagram[0] & 0x80 != 0 { reason = .control }
            else { reason = .unknownSession }
            t.counters.drop(reason)
        }
    }

    /// From the kernel's L2TP_ATTR_STATS (session or tunnel), plus what `deliver` counted for the tunnel.
    /// rx_cookie_discards → bad_cookie, rx_seq_discards → out_of_sequence, rx_invalid and the rest of rx_errors
    /// (which also counts the cookie and sequence discards) → malformed, tx_errors → io_error.
    public func counters(tunnelID: UInt32, sessionID: UInt32?) -> SessionCounters? {
        lock.withLock { () -> SessionCounters? in
            guard let t = tunnels[tunnelID] else { return nil }
            if let sessionID {
                guard t.sessions[sessionID] != nil,
                      let stats = (try? client.session(tunnelID: tunnelID, sessionID: sessionID))??.stats else { return nil }
                return Self.snapshot(stats)
            }
            let kernel = ((try? client.tunnel(tunnelID))??.stats).map(Self.snapshot) ?? CounterSnapshot()
            return kernel.adding(t.counters.snapshot)
        }
    }

    static func snapshot(_ s: L2TPStats) -> SessionCounters {
        var drops: [DropReason: UInt64] = [:]
        for r in DropReason.allCases { drops[r] = 0 }
        let (rest, o1) = s.rxErrors.subtractingReportingOverflow(s.rxCookieDiscards)
        let (other, o2) = rest.subtractingReportingOverflow(s.rxSeqDiscards)
        drops[.badCookie] = s.rxCookieDiscards
        drops[.outOfSequence] = s.rxSeqDiscards
        drops[.malformed] = s.rxInvalid + (o1 || o2 ? 0 : other)
        drops[.ioError] = s.txErrors
        return SessionCounters(rxPackets: s.rxPackets, rxBytes: s.rxBytes, txPackets: s.txPackets, txBytes: s.txBytes, drops: drops)
    }

    /// Hints for TUNNEL_CREATE with a socket (l2tp_validate_socket, l2tp_tunnel_register) that L2TPClient's
    /// general ones do not cover.
    static func explain(_ e: NetlinkError, tunnelID: UInt32, socket: Int32, ipv6: Bool) -> Error {
        switch e.errno {
        case EBADF, ENOTSOCK:
            return L2TPError(underlying: e, hint: "fd \(socket) is not an open socket of this process")
        case EPROTONOSUPPORT:
            return L2TPError(underlying: e, hint: "fd \(socket) is not a UDP/\(ipv6 ? "IPv6" : "IPv4") datagram socket, or the kernel has no L2TP support for it (l2tp_core)")
        case EBUSY:
            return L2TPError(underlying: e, hint: "the socket already carries an L2TP tunnel or another UDP encapsulation")
        case EINVAL:
            return L2TPError(underlying: e, hint: "the tunnel socket must be in the same network namespace as the netlink socket")
        default:
            return e
        }
    }
}
