#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Dataplane
import DataplaneWire
import Netlink
import Synchronization

/// The userspace data path: one TAP per session, frames carried as L2TPv3-over-UDP data messages on the tunnel's
/// own (connected) socket — byte for byte what the kernel's l2tp_eth sends: 0x0003 and 16 reserved bits, the
/// peer's session id, the cookie, the default L2-specific sublayer (zero unless the peer sends sequence numbers),
/// the Ethernet frame. For a kernel without l2tp modules.
///
/// - Transmit: one thread per session reads the TAP (opened by `DataplaneDevice`, with a virtio-net header and
///   TSO/checksum offload), splits 64 KB TCP frames into MSS segments and completes partial checksums
///   (DataplaneWire's `Offload`), writes the header (DataplaneWire's `Encoder`) and `send`s each datagram.
/// - Receive: `deliver`, on the runtime's thread, decodes with DataplaneWire's `Decoder` (unknown session, bad
///   cookie, short or malformed headers are dropped and counted) and writes the frame to the session's TAP.
///
/// Removing a session stops its thread and closes the TAP, which removes it (a persistent TAP the user made is
/// kept). Everything is undone on deinit as well.
public final class UserspaceL2TPDataPath: L2TPDataPath, @unchecked Sendable {
    /// One tunnel: its socket, sessions in decoder order, and the decoder over them.
    final class Tunnel {
        let id: UInt32
        let peerID: UInt32
        let socket: Int32
        let ipv6: Bool
        var sessions: [Session] = []
        var decoder: Decoder
        /// Drops that belong to no session of the tunnel (unknown session, malformed header, control).
        let counters = Counters()

        init(id: UInt32, peerID: UInt32, socket: Int32, ipv6: Bool) {
            self.id = id; self.peerID = peerID; self.socket = socket; self.ipv6 = ipv6
            decoder = Decoder(sessions: [], transport: UserspaceL2TPDataPath.transport)
        }

        /// A new decoder after the session list changed.
        func rebuildDecoder() {
            decoder = Decoder(sessions: sessions.map { $0.sessionConfig }, transport: UserspaceL2TPDataPath.transport)
        }
    }

    /// The socket is connected, so every datagram comes from the peer: the decoder's peer check is given one
    /// placeholder address on both sides.
    static let peer = PeerAddress(high: 0, low: 0, isV6: false)
    static let transport = Transport.udp(localPort: 1701, remotePort: 1701)

    private let lock = Lock()
    private var tunnels: [UInt32: Tunnel] = [:]
    /// Receive scratch: a zero virtio-net header, then the frame (checksums may be completed in place). Used
    /// under the lock.
    private let rxBuffer = UnsafeMutableRawPointer.allocate(byteCount: VirtioNetHeader.size + 65536, alignment: 64)

    public init() {
        rxBuffer.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNetHeader.size + 65536)
    }

    deinit {
        for t in tunnels.values { for s in t.sessions { s.stop() } }
        rxBuffer.deallocate()
    }

    public func addTunnel(tunnelID: UInt32, peerTunnelID: UInt32, socket: Int32, ipv6: Bool) throws {
        guard tunnelID != 0 else { throw DataPathError("tunnel id 0 is reserved (RFC 3931 §5.4.4)") }
        var st = stat()
        guard fstat(socket, &st) == 0 else { throw DataPathError("tunnel \(tunnelID): fd \(socket) is not open") }
        try lock.withLock {
            if tunnels[tunnelID] != nil { throw DataPathError("tunnel \(tunnelID) already has a data path") }
            tunnels[tunnelID] = Tunnel(id: tunnelID, peerID: peerTunnelID, socket: socket, ipv6: ipv6)
        }
    }

    public func removeTunnel(tunnelID: UInt32) {
        let t = lock.withLock { tunnels.removeValue(forKey: tunnelID) }
        for s in t?.sessions ?? [] { s.stop() }
    }

    public func addSession(_ s: ManagedSession) throws {
        let what = "session \(s.sessionID) of tunnel \(s.tunnelID)"
        if let p = s.problem() { throw DataPathError("\(what): \(p)") }
        let (socket, ipv6) = try lock.withLock { () throws -> (Int32, Bool) in
            guard let t = tunnels[s.tunnelID] else { throw DataPathError("\(what): no tunnel \(s.tunnelID) (addTunnel first)") }
            if t.sessions.contains(where: { $0.config.sessionID == s.sessionID }) { throw DataPathError("\(what) already exists") }
            if t.sessions.contains(where: { $0.config.interfaceName == s.interfaceName }) {
                throw DataPathError("\(what): interface \(s.interfaceName) is already used by another session")
            }
            return (t.socket, t.ipv6)
        }
        let device: DataplaneDevice
        do { device = try DataplaneDevice.open(name: s.interfaceName, ethernet: true) }
        catch let e as SystemError { throw DataPathError("\(what): cannot open TAP \(s.interfaceName)", underlying: e) }
        var handedOver = false
        defer { if !handedOver { close(device.fd) } }
        let mtu = s.mtu ?? Self.defaultMTU(socket: socket, ipv6: ipv6, session: s)
        if let mtu, mtu < 68 {
            throw DataPathError("\(what): MTU \(mtu) is too small (the route to the peer cannot carry the \(s.headerLength + (ipv6 ? 48 : 28)) bytes of L2TP overhead)")
        }
        do { try device.configure(mtu: mtu, gsoMaxSize: nil) }
        catch let e as NetlinkError { throw DataPathError("\(what): cannot configure \(s.interfaceName)", underlying: e) }
        let session = try Session(config: s, device: device, socket: socket)
        handedOver = true
        do { try session.start() } catch { session.stop(); throw DataPathError("\(what): cannot start its thread: \(error)") }
        let added = lock.withLock { () -> Bool in
            guard let t = tunnels[s.tunnelID] else { return false }
            t.sessions.append(session)
            t.rebuildDecoder()
            return true
        }
        if !added { session.stop(); throw DataPathError("\(what): tunnel \(s.tunnelID) was removed meanwhile") }
    }

    public func removeSession(tunnelID: UInt32, sessionID: UInt32) {
        let s = lock.withLock { () -> Session? in
            guard let t = tunnels[tunnelID], let i = t.sessions.firstIndex(where: { $0.config.sessionID == sessionID }) else { return nil }
            let s = t.sessions.remove(at: i)
            t.rebuildDecoder()
            return s
        }
        s?.stop()
    }

    public func deliver(tunnelID: UInt32, datagram: UnsafeRawBufferPointer) {
        lock.withLock {
            guard let t = tunnels[tunnelID] else { return }
            guard let base = datagram.baseAddress, datagram.count > 0 else { t.counters.drop(.malformed); return }
            switch t.decoder.decode(base, count: datagram.count, source: Self.peer) {
            case .frame(let i, _, let offset, let length, let sequenced):
                let s = t.sessions[i]
                s.counters.add(.rxPackets, 1)
                s.counters.add(.rxBytes, length)
                // As the kernel outside LNS mode: send sequence numbers while the peer does.
                if s.config.l2SpecificSublayer && (s.counters.get(.peerSequencing) != 0) != sequenced {
                    s.counters.set(.peerSequencing, sequenced ? 1 : 0)
                }
                guard length <= 65536 else { s.counters.drop(.tooBig); return }
                let frame = rxBuffer + VirtioNetHeader.size
                frame.copyMemory(from: base + offset, byteCount: length)
                // A sender on this host (over veth) may leave the inner TCP/UDP checksum partial; a wrong one is
                // left for the kernel to drop.
                Offload.verifyOrCompleteChecksum(frame, count: length, ethernet: true)
                while write(s.device.fd, rxBuffer, VirtioNetHeader.size + length) < 0 {
                    if errno == EINTR { continue }
                    s.counters.drop(.ioError)
                    break
                }
            case .drop(let reason, let i):
                (i.map { t.sessions[$0].counters } ?? t.counters).drop(reason)
            }
        }
    }

    public func counters(tunnelID: UInt32, sessionID: UInt32?) -> SessionCounters? {
        lock.withLock {
            guard let t = tunnels[tunnelID] else { return nil }
            guard let sessionID else { return t.counters.snapshot }
            return t.sessions.first { $0.config.sessionID == sessionID }?.counters.snapshot
        }
    }

    /// The route MTU to the peer (IP_MTU of the connected socket) minus IP, UDP, the L2TP header and the inner
    /// Ethernet header — l2tp_eth_adjust_mtu's arithmetic. Nil when the socket cannot tell (the TAP keeps 1500).
    static func defaultMTU(socket: Int32, ipv6: Bool, session s: ManagedSession) -> Int? {
        var mtu: Int32 = 0
        var l = socklen_t(MemoryLayout<Int32>.size)
        let rc = ipv6 ? getsockopt(socket, Int32(IPPROTO_IPV6), IPV6_MTU, &mtu, &l)
                      : getsockopt(socket, Int32(IPPROTO_IP), IP_MTU, &mtu, &l)
        guard rc == 0, mtu > 0 else { return nil }
        return Int(mtu) - (ipv6 ? 40 : 20) - 8 - s.headerLength - 14
    }

    /// One session: its TAP, counters and transmit thread.
    final class Session: @unchecked Sendable {
        let config: ManagedSession
        let sessionConfig: SessionConfig
        let device: DataplaneDevice
        let socket: Int32
        let counters = Counters()
        let stopFD: Int32
        let stopping = Atomic<Bool>(false)
        private var thread: WorkerThread?
        private var stopped = false

        init(config: ManagedSession, device: DataplaneDevice, socket: Int32) throws {
            self.config = config; self.device = device; self.socket = socket
            sessionConfig = SessionConfig(name: config.interfaceName, encapsulation: .l2tpv3(config.l2tpv3Options),
                                          ethernet: true, peers: [UserspaceL2TPDataPath.peer])
            stopFD = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
            guard stopFD >= 0 else { throw DataPathError("eventfd", underlying: SystemError("eventfd")) }
        }

        func start() throws {
            thread = try WorkerThread(name: "l2tp tx \(config.interfaceName)") { [self] in run() }
        }

        /// Stops the thread, closes the TAP (removing it) and the eventfd. Idempotent; from the owner's thread.
        func stop() {
            guard !stopped else { return }
            stopped = true
            stopping.store(true, ordering: .releasing)
            var one: UInt64 = 1
            _ = write(stopFD, &one, 8)
            thread?.join()
            thread = nil
            close(device.fd)
            close(stopFD)
        }

        /// Waits until `fd` is ready for `events`; false when the session stops.
        func wait(_ fd: Int32, events: Int16) -> Bool {
            var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
            while !stopping.load(ordering: .acquiring) {
                let r = poll(&fds, 2, 1000)
                if r < 0 && errno != EINTR { return false }
                if fds[1].revents != 0 { return false }
                if r > 0 { return true }
            }
            return false
        }

        /// The transmit loop: TAP → header → socket. Buffers are allocated once; nothing allocates per frame.
        func run() {
            var encoder = Encoder(sessionConfig, transport: UserspaceL2TPDataPath.transport)
            let hl = encoder.headerLength
            // Room for the header in front of the frame, so a plain frame is sent where it was read.
            let headroom = 32
            let readSize = VirtioNetHeader.size + 65536
            let buf = UnsafeMutableRawPointer.allocate(byteCount: headroom + readSize, alignment: 64)
            let arenaSize = 256 * 1024
            let arena = UnsafeMutableRawPointer.allocate(byteCount: arenaSize, alignment: 64)
            defer { buf.deallocate(); arena.deallocate() }
            let fd = device.fd
            while !stopping.load(ordering: .relaxed) {
                let r = read(fd, buf + headroom, readSize)
                if r < 0 {
                    let e = errno
                    if e == EINTR { continue }
                    if e != EAGAIN { counters.drop(.ioError) }
                    if !wait(fd, events: Int16(POLLIN)) { break }
                    continue
                }
                guard r >= VirtioNetHeader.size + 14 else { continue }
                let h = VirtioNetHeader(buf + headroom)
                let frame = buf + headroom + VirtioNetHeader.size
                let len = r - VirtioNetHeader.size
                let peerSequencing = counters.get(.peerSequencing) != 0
                if h.gsoType != VirtioNetHeader.gsoNone {
                    // A TSO frame: MSS-sized segments with complete checksums, each with `hl` bytes in front.
                    guard let segs = Offload.segment(frame, count: len, header: h, ethernet: true, into: arena,
                                                     capacity: arenaSize, headroom: hl) else {
                        counters.drop(.unsupported); continue
                    }
                    for k in 0..<segs.count {
                        let p = arena + k * segs.stride
                        let l = k == segs.count - 1 ? segs.lastLength : segs.stride
                        encoder.writeHeader(p, ipVersion: 0, peerSequencing: peerSequencing)
                        if transmit(p, l) { counters.add(.txPackets, 1); counters.add(.txBytes, l - hl) }
                    }
                    continue
                }
                if h.flags & VirtioNetHeader.needsChecksum != 0 {
                    Offload.completeChecksum(frame, count: len, start: Int(h.checksumStart), offset: Int(h.checksumOffset))
                }
                let p = frame - hl
                encoder.writeHeader(p, ipVersion: 0, peerSequencing: peerSequencing)
                if transmit(p, len + hl) { counters.add(.txPackets, 1); counters.add(.txBytes, len) }
            }
        }

        /// Sends one datagram on the connected socket; false (and counted) when it could not.
        func transmit(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
            while true {
                if send(socket, p, n, Int32(MSG_DONTWAIT)) >= 0 { return true }
                switch errno {
                case EINTR: continue
                case EAGAIN, ENOBUFS:
                    if wait(socket, events: Int16(POLLOUT)) { continue }
                    return false
                case EMSGSIZE: counters.drop(.tooBig); return false
                default: counters.drop(.ioError); return false   // e.g. ECONNREFUSED after an ICMP from the peer
                }
            }
        }
    }
}
