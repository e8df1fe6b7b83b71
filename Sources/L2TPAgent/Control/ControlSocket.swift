#if canImport(Glibc)
import Glibc
#endif
import Dataplane
import DataplaneWire
import Addresses

/// A UDP address: IP and port.
public struct UDPAddress: Hashable, Sendable, CustomStringConvertible {
    public var ip: PeerAddress
    public var port: UInt16
    public init(ip: PeerAddress, port: UInt16) { self.ip = ip; self.port = port }

    /// Parses "10.0.0.1" / "fd00::1" (empty: the wildcard of `ipv6`).
    public init?(_ address: String, port: UInt16, ipv6: Bool = false) {
        if address.isEmpty { self.init(ip: PeerAddress(high: 0, low: 0, isV6: ipv6), port: port); return }
        guard let a = IPAddress(address) else { return nil }
        self.init(ip: PeerAddress(a), port: port)
    }

    public var description: String { ip.isV6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var ss = sockaddr_storage()
        let len = ip.sockaddr(port: port, into: &ss)
        return withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, len) } }
    }

    /// A received sockaddr_in/sockaddr_in6 (IPv4-mapped IPv6 as IPv4); nil for other families.
    static func from(_ ss: sockaddr_storage) -> UDPAddress? {
        var s = ss
        return withUnsafeBytes(of: &s) { raw in
            PeerAddress.from(raw.baseAddress!).map {
                UDPAddress(ip: $0, port: UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            }
        }
    }
}

/// Why a socket operation failed: the call, the address, errno's text.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}

/// A non-blocking UDP socket for L2TP control (and, on the userspace data plane, data): bound with SO_REUSEADDR so
/// that a listener and the connected socket of each tunnel share port 1701 (the kernel prefers the connected one
/// for its peer's datagrams, and the kernel data plane needs one connected socket per tunnel).
final class ControlSocket {
    let fd: Int32
    let local: UDPAddress
    private(set) var peer: UDPAddress?

    init(local: UDPAddress) throws {
        let family = local.ip.isV6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket(UDP)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if local.ip.isV6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        // The kernel tunnels' default: let the underlay fragment.
        var pmtu = local.ip.isV6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT
        setsockopt(fd, local.ip.isV6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP), local.ip.isV6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
                   &pmtu, socklen_t(MemoryLayout<Int32>.size))
        let rc = local.withSockaddr { bind(fd, $0, $1) }
        guard rc == 0 else {
            let e = SocketError("bind UDP \(local)")
            close(fd)
            throw e
        }
        var ss = sockaddr_storage()
        var l = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &l) } }
        self.fd = fd
        self.local = UDPAddress.from(ss) ?? local
    }

    deinit { close(fd) }

    func connect(to peer: UDPAddress) throws {
        let rc = peer.withSockaddr { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else { throw SocketError("connect UDP \(local) to \(peer)") }
        self.peer = peer
    }

    /// Sends to the connected peer, or to `to`.
    @discardableResult
    func send(_ bytes: [UInt8], to: UDPAddress? = nil) -> Bool {
        let n: Int = bytes.withUnsafeBytes { b in
            if let to, peer == nil {
                return to.withSockaddr { sendto(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT), $0, $1) }
            }
            return Glibc.send(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT))
        }
        return n == bytes.count
    }

    /// One datagram and its sender, nil when none is waiting.
    func receive(into buffer: inout [UInt8]) -> (Int, UDPAddress?)? {
        var ss = sockaddr_storage()
        var l = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = buffer.withUnsafeMutableBytes { b in
            withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT), $0, &l) }
            }
        }
        guard n >= 0 else { return nil }
        return (n, UDPAddress.from(ss))
    }
}
