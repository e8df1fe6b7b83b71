#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Dataplane
import DataplaneWire
import Netlink
import NetlinkWire

/// The kernel's PPP-over-L2TP (l2tp_ppp, Documentation/networking/l2tp.rst "PPPoL2TP Session Socket API"):
/// the tunnel is made in the kernel from the agent's UDP socket, over genetlink (L2TP_CMD_TUNNEL_CREATE with
/// L2TP_ATTR_FD) or, for L2TPv2 without netlink, by the old API (a PPPoL2TP socket connected with session 0, the
/// tunnel management socket). Each session is a PPPoL2TP socket connected to the tunnel and session ids, which the
/// kernel makes the session of and which pppd's pppol2tp plugin turns into a PPP channel.
public final class KernelPPPoL2TP: @unchecked Sendable {
    /// How tunnels are made: chosen once (`detect`), never assumed.
    public enum API: String, Sendable { case netlink, socket }
    public let api: API
    let client: L2TPClient?
    /// Tunnel management sockets (the socket API), by tunnel id.
    private var managementSockets: [UInt32: Int32] = [:]
    private var netlinkTunnels: Set<UInt32> = []

    public init(api: API) throws {
        self.api = api
        client = api == .netlink ? try L2TPClient(transport: try NetlinkSocket(protocol: NETLINK_GENERIC)) : nil
    }

    /// Whether this kernel has PPPoL2TP sockets: opening one loads l2tp_ppp (and pppox, ppp_generic) when they
    /// exist. Nil when it does; else the reason, naming the modules.
    public static func unavailableReason() -> String? {
        let s = socket(ISTHMUS_AF_PPPOX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), ISTHMUS_PX_PROTO_OL2TP)
        if s >= 0 { close(s); return nil }
        let e = errno
        switch e {
        case EAFNOSUPPORT: return "the kernel has no PPPoX sockets (modules pppox, ppp_generic, l2tp_ppp: modprobe l2tp_ppp)"
        case EPROTONOSUPPORT: return "the kernel has no PPP over L2TP (module l2tp_ppp, which needs l2tp_core and ppp_generic: modprobe l2tp_ppp)"
        default: return "socket(AF_PPPOX, PX_PROTO_OL2TP): \(String(cString: strerror(e)))"
        }
    }

    /// Netlink when the "l2tp" generic-netlink family resolves, else the socket API (L2TPv2 only).
    public static func detect(_ preference: PPPConfig.KernelAPI) -> API {
        switch preference {
        case .netlink: return .netlink
        case .socket: return .socket
        case .auto: return KernelL2TPDataPath.available() ? .netlink : .socket
        }
    }

    deinit {
        for fd in managementSockets.values { close(fd) }
        for id in netlinkTunnels { try? client?.deleteTunnel(id) }
    }

    /// Makes the kernel's tunnel `tunnelID` on `socket` (connected to `peer`). v3 needs netlink.
    public func addTunnel(version: UInt8, tunnelID: UInt32, peerTunnelID: UInt32, socket: Int32, peer: UDPAddress) throws {
        switch api {
        case .netlink:
            let c = L2TPTunnelConfig(tunnelID: tunnelID, peerTunnelID: peerTunnelID, protocolVersion: version,
                                     encapsulation: .udp, fd: socket)
            do { try client!.createTunnel(c) } catch let e as NetlinkError {
                throw KernelL2TPDataPath.explain(e, tunnelID: tunnelID, socket: socket, ipv6: peer.ip.isV6)
            }
            netlinkTunnels.insert(tunnelID)
        case .socket:
            guard version == 2 else {
                throw DataPathError("L2TPv3 PPP pseudowires need the l2tp generic netlink family (modprobe l2tp_netlink)")
            }
            let fd = try Self.connectSocket(version: 2, tunnelSocket: socket, peer: peer, tunnelID: tunnelID, sessionID: 0,
                                            peerTunnelID: peerTunnelID, peerSessionID: 0, what: "tunnel management socket")
            managementSockets[tunnelID] = fd
        }
    }

    public func removeTunnel(_ tunnelID: UInt32) {
        if let fd = managementSockets.removeValue(forKey: tunnelID) { close(fd) }
        if netlinkTunnels.remove(tunnelID) != nil { try? client?.deleteTunnel(tunnelID) }
    }

    /// Deletes a session in the kernel at once (netlink only; with the socket API it goes when its last socket is
    /// closed). pppd's channel is then gone under it, so it hangs up and exits without its LCP Terminate-Request
    /// round (up to 6 s towards a peer that already left).
    public func deleteSession(tunnelID: UInt32, sessionID: UInt32) {
        guard api == .netlink else { return }
        try? client?.deleteSession(tunnelID: tunnelID, sessionID: sessionID)
    }

    /// Whether `addTunnel` made `tunnelID`.
    public func hasTunnel(_ tunnelID: UInt32) -> Bool { managementSockets[tunnelID] != nil || netlinkTunnels.contains(tunnelID) }

    /// The session's PPPoL2TP socket (owned by the caller; closing it, in every process that has it, deletes the
    /// kernel session), with the data options set.
    public func openSession(version: UInt8, tunnelSocket: Int32, peer: UDPAddress, tunnelID: UInt32, sessionID: UInt32,
                            peerTunnelID: UInt32, peerSessionID: UInt32, lnsMode: Bool, sequencing: Bool,
                            reorderTimeout: Int) throws -> Int32 {
        let fd = try Self.connectSocket(version: version, tunnelSocket: tunnelSocket, peer: peer, tunnelID: tunnelID,
                                        sessionID: sessionID, peerTunnelID: peerTunnelID, peerSessionID: peerSessionID,
                                        what: "session \(sessionID)")
        do {
            try Self.setOption(fd, Int32(PPPOL2TP_SO_LNSMODE), lnsMode ? 1 : 0, "PPPOL2TP_SO_LNSMODE")
            if sequencing {
                try Self.setOption(fd, Int32(PPPOL2TP_SO_SENDSEQ), 1, "PPPOL2TP_SO_SENDSEQ")
                try Self.setOption(fd, Int32(PPPOL2TP_SO_RECVSEQ), 1, "PPPOL2TP_SO_RECVSEQ")
            }
            if reorderTimeout > 0 {
                try Self.setOption(fd, Int32(PPPOL2TP_SO_REORDERTO), Int32(reorderTimeout), "PPPOL2TP_SO_REORDERTO")
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    static func setOption(_ fd: Int32, _ name: Int32, _ value: Int32, _ what: String) throws {
        var v = value
        if setsockopt(fd, SOL_PPPOL2TP, name, &v, socklen_t(MemoryLayout<Int32>.size)) < 0 {
            throw DataPathError("setsockopt(\(what)): \(String(cString: strerror(errno)))")
        }
    }

    static func connectSocket(version: UInt8, tunnelSocket: Int32, peer: UDPAddress, tunnelID: UInt32, sessionID: UInt32,
                              peerTunnelID: UInt32, peerSessionID: UInt32, what: String) throws -> Int32 {
        let fd = socket(ISTHMUS_AF_PPPOX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), ISTHMUS_PX_PROTO_OL2TP)
        guard fd >= 0 else {
            throw DataPathError("PPPoL2TP socket for \(what): " + (unavailableReason() ?? String(cString: strerror(errno))))
        }
        let r = peer.withSockaddr {
            isthmus_pppol2tp_connect(fd, Int32(version), tunnelSocket, $0, $1, tunnelID, sessionID, peerTunnelID, peerSessionID)
        }
        if r < 0 {
            let e = errno
            close(fd)
            let hint: String
            switch e {
            case ENOENT: hint = " (the kernel has no tunnel \(tunnelID))"
            case EEXIST: hint = " (the kernel session already has a socket)"
            case EBADF, ENOTSOCK: hint = " (fd \(tunnelSocket) is not the tunnel's UDP socket)"
            case EPROTOTYPE: hint = " (the kernel session is not a PPP pseudowire)"
            default: hint = ""
            }
            throw DataPathError("connect PPPoL2TP \(what) of tunnel \(tunnelID): \(String(cString: strerror(e)))\(hint)")
        }
        return fd
    }

    /// PPPIOCGL2TPSTATS on a session socket: its packet and byte counters and drops.
    public static func stats(_ fd: Int32) -> SessionCounters? {
        var s = isthmus_pppol2tp_stats()
        guard isthmus_pppol2tp_get_stats(fd, &s) == 0 else { return nil }
        var drops: [DropReason: UInt64] = [:]
        drops[.outOfSequence] = s.rx_seq_discards
        drops[.malformed] = s.rx_errors >= s.rx_seq_discards ? s.rx_errors - s.rx_seq_discards : 0
        drops[.ioError] = s.tx_errors
        return SessionCounters(rxPackets: s.rx_packets, rxBytes: s.rx_bytes, txPackets: s.tx_packets, txBytes: s.tx_bytes, drops: drops)
    }
}
