#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import DataplaneWire
import Netlink

/// sockaddr conversions for underlay addresses.
extension PeerAddress {
    /// Fills a sockaddr_in/sockaddr_in6 for this address and `port`; returns its length.
    public func sockaddr(port: UInt16, into ss: inout sockaddr_storage) -> UInt32 {
        ss = sockaddr_storage()
        let b = bytes
        if isV6 {
            return withUnsafeMutableBytes(of: &ss) { raw in
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &a.sin6_addr) { for i in 0..<16 { $0[i] = b[i] } }
                raw.storeBytes(of: a, as: sockaddr_in6.self)
                return UInt32(MemoryLayout<sockaddr_in6>.size)
            }
        }
        return withUnsafeMutableBytes(of: &ss) { raw in
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &a.sin_addr) { for i in 0..<4 { $0[i] = b[i] } }
            raw.storeBytes(of: a, as: sockaddr_in.self)
            return UInt32(MemoryLayout<sockaddr_in>.size)
        }
    }

    /// The address in a received sockaddr (nil for other families). IPv4-mapped IPv6 addresses become IPv4.
    public static func from(_ p: UnsafeRawPointer) -> PeerAddress? {
        let family = Int32(p.load(as: sa_family_t.self))
        if family == AF_INET {
            // sin_addr at offset 4, network order.
            let v = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            return PeerAddress(high: UInt64(v) << 32, low: 0, isV6: false)
        }
        if family == AF_INET6 {
            let h = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            let l = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            if h == 0 && l >> 32 == 0xffff { return PeerAddress(high: (l & 0xffff_ffff) << 32, low: 0, isV6: false) }
            return PeerAddress(high: h, low: l, isV6: true)
        }
        return nil
    }
}

/// Underlay sockets for the engine.
enum UnderlaySocket {
    static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// A UDP socket bound to `local` (or the wildcard of `family`) and `port` (0: any), non-blocking, with large
    /// buffers, UDP GRO on receive, fragmentation allowed (the kernel tunnels' default), and, for IPv4 with
    /// `checksum` false, zero UDP checksums (the kernel's default for VXLAN and L2TP over IPv4).
    static func udp(local: PeerAddress?, ipv6: Bool, port: UInt16, checksum: Bool, what: String) throws -> Int32 {
        let family = ipv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(UDP) for \(what)") }
        do {
            try configure(fd, ipv6: ipv6)
            if !ipv6 && !checksum { _ = setInt(fd, SOL_SOCKET, SO_NO_CHECK, 1) }
            _ = setInt(fd, Int32(IPPROTO_UDP), UDP_GRO, 1)
            var ss = sockaddr_storage()
            let addr = local ?? PeerAddress(high: 0, low: 0, isV6: ipv6)
            let len = addr.sockaddr(port: port, into: &ss)
            let rc = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            guard rc == 0 else {
                throw SystemError(errno == EADDRINUSE ? "bind UDP \(addr):\(port) for \(what) (the port is in use; is a kernel tunnel or another isthmus using it?)"
                                                      : "bind UDP \(addr):\(port) for \(what)")
            }
            return fd
        } catch { close(fd); throw error }
    }

    /// A raw IP socket of `proto` bound to `local`: receives every datagram of that protocol (IPv4: with its IP
    /// header) and sends with the kernel adding the IP header.
    static func raw(local: PeerAddress?, ipv6: Bool, proto: UInt8, what: String) throws -> Int32 {
        let family = ipv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(proto))
        guard fd >= 0 else { throw SystemError("socket(raw, protocol \(proto)) for \(what)") }
        do {
            try configure(fd, ipv6: ipv6)
            if let local {
                var ss = sockaddr_storage()
                let len = local.sockaddr(port: 0, into: &ss)
                let rc = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
                guard rc == 0 else { throw SystemError("bind raw socket to \(local) for \(what) (is it an address of this host?)") }
            }
            return fd
        } catch { close(fd); throw error }
    }

    /// Lets the kernel queue on a raw socket only the datagrams whose IP source is `peer`: a classic BPF filter
    /// comparing the source address (at the network header, SKF_NET_OFF: an IPv4 raw socket's data starts with the IP
    /// header, an IPv6 one's after it). Not `connect()`: a connected raw socket also gets the ICMP errors its peer's
    /// host sends (protocol unreachable while the peer's tunnel is not up yet), as errors of the next receive.
    static func onlyFrom(_ fd: Int32, peer: PeerAddress, what: String) throws {
        let words: [UInt32] = peer.isV6
            ? [UInt32(peer.high >> 32), UInt32(peer.high & 0xffff_ffff), UInt32(peer.low >> 32), UInt32(peer.low & 0xffff_ffff)]
            : [UInt32(peer.high >> 32)]
        let sourceOffset: Int32 = peer.isV6 ? 8 : 12
        let ldAbsWord: UInt16 = 0x20, jeqK: UInt16 = 0x15, retK: UInt16 = 0x06   // BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
        var program: [sock_filter] = []
        for (i, w) in words.enumerated() {
            program.append(sock_filter(code: ldAbsWord, jt: 0, jf: 0, k: UInt32(bitPattern: ISTHMUS_SKF_NET_OFF + sourceOffset + Int32(4 * i))))
            // Equal: on to the next word (or accept); else over the rest and the accept, to the drop.
            program.append(sock_filter(code: jeqK, jt: 0, jf: UInt8(2 * (words.count - i - 1) + 1), k: w))
        }
        program.append(sock_filter(code: retK, jt: 0, jf: 0, k: 0xffff_ffff))
        program.append(sock_filter(code: retK, jt: 0, jf: 0, k: 0))
        let rc = program.withUnsafeMutableBufferPointer { p -> Int32 in
            var prog = sock_fprog(len: UInt16(p.count), filter: p.baseAddress)
            return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, socklen_t(MemoryLayout<sock_fprog>.size))
        }
        guard rc == 0 else { throw SystemError("attach the source filter (\(peer)) to the raw socket for \(what)") }
    }

    static func configure(_ fd: Int32, ipv6: Bool) throws {
        for opt in [SO_RCVBUFFORCE, SO_SNDBUFFORCE] {
            if !setInt(fd, SOL_SOCKET, opt, 4 << 20) { _ = setInt(fd, SOL_SOCKET, opt == SO_RCVBUFFORCE ? SO_RCVBUF : SO_SNDBUF, 4 << 20) }
        }
        if ipv6 {
            _ = setInt(fd, Int32(IPPROTO_IPV6), IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DONT)
            _ = setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
        } else {
            _ = setInt(fd, Int32(IPPROTO_IP), IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        }
    }

    /// The MTU of the route to `peer` (IP_MTU / IPV6_MTU of a connected probe socket), or nil.
    static func pathMTU(to peer: PeerAddress) -> Int? {
        let fd = socket(peer.isV6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var ss = sockaddr_storage()
        let len = peer.sockaddr(port: 9, into: &ss)
        let rc = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        guard rc == 0 else { return nil }
        var mtu: Int32 = 0
        var l = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, peer.isV6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP), peer.isV6 ? IPV6_MTU : IP_MTU, &mtu, &l) == 0 else { return nil }
        return Int(mtu)
    }

    /// The local port a socket is bound to.
    static func boundPort(_ fd: Int32) -> UInt16 {
        var ss = sockaddr_storage()
        var l = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &l) } }
        return withUnsafeBytes(of: &ss) { UInt16(bigEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) }
    }
}
