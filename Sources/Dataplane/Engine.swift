#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import DataplaneWire
import Netlink

/// What an engine runs: one underlay transport, any number of sessions (each a TAP or TUN device with its peers).
public struct EngineConfiguration: Sendable {
    /// The tunnel's name (status socket, thread names).
    public var name: String
    /// The kind the user asked for ("vxlan", "gretap", "l2tpv3", ...), for status output.
    public var kind: String
    public var transport: Transport
    /// Local underlay address to bind; nil: the wildcard address of `ipv6`'s family.
    public var local: PeerAddress?
    public var ipv6: Bool
    public var sessions: [SessionConfig]
    /// MTU of the devices; nil: the route MTU to the first peer minus the overhead (as the kernel does with `dev`).
    public var mtu: Int?
    /// UDP source ports for flow entropy (VXLAN, GRE-in-UDP); nil: send from the local port (L2TPv3).
    public var sourcePorts: ClosedRange<UInt16>?
    /// IP TTL / hop limit of outer packets; nil: the system default.
    public var ttl: Int?
    /// Underlay device to bind the sockets to (`dev`), like the kernel tunnels' IFLA_*_LINK.
    public var device: String?
    /// Extra facts to show in `tunnel show` (ids, ports, cookies as the user gave them), in order.
    public var details: [(String, String)]
    /// The words that configured it, from `type KIND` on (`tunnel run`), reported so a site reconciler can tell
    /// whether a running tunnel still matches its config.
    public var arguments: [String] = []

    public init(name: String, kind: String, transport: Transport, local: PeerAddress?, ipv6: Bool, sessions: [SessionConfig],
                mtu: Int? = nil, sourcePorts: ClosedRange<UInt16>? = nil, ttl: Int? = nil, details: [(String, String)] = []) {
        self.name = name; self.kind = kind; self.transport = transport; self.local = local; self.ipv6 = ipv6
        self.sessions = sessions; self.mtu = mtu; self.sourcePorts = sourcePorts; self.ttl = ttl; self.details = details
    }

    /// The MTU the devices get for an underlay of `underlayMTU`.
    public func deviceMTU(underlayMTU: Int, session: SessionConfig) -> Int {
        underlayMTU - session.overhead(transport: transport, ipv6: ipv6) - (session.ethernet ? 14 : 0)
    }
}

/// The userspace data plane: moves frames between TAP/TUN devices and the underlay. `init` opens everything (and
/// closes what it opened if any step fails); `start` runs one transmit thread per device and one receive thread
/// per socket; `stop` ends them and closes the devices, which removes them unless they existed before.
public final class Engine: @unchecked Sendable {
    public let configuration: EngineConfiguration
    /// Per-session counters, in `configuration.sessions` order.
    public let counters: [Counters]
    /// Drops that belong to no session (unknown session or peer, malformed).
    public let engineCounters = Counters()
    /// The MTU each device got.
    public private(set) var deviceMTUs: [Int] = []
    /// The local UDP port actually bound (VXLAN/L2TP/GRE-in-UDP), if any.
    public private(set) var boundPort: UInt16?

    let devices: [DataplaneDevice]
    /// Receive sockets (UDP: one; IP: one per protocol), each with whether IPv4 headers precede the payload.
    let receiveSockets: [(fd: Int32, ipHeader: Bool, proto: UInt8)]
    /// Sockets to send on: UDP: the source-port pool (or the receive socket); IP: by protocol.
    let sendSockets: [Int32]
    let stopFD: Int32
    let stopFlag = Counters()
    /// MAC learning for Ethernet sessions with more than one peer.
    let macTables: [MACTable?]
    var threads: [WorkerThread] = []

    public init(_ c: EngineConfiguration) throws {
        configuration = c
        counters = c.sessions.map { _ in Counters() }
        macTables = c.sessions.map { $0.ethernet && $0.peers.count > 1 ? MACTable() : nil }
        var opened: [Int32] = []
        var devs: [DataplaneDevice] = []
        var ok = false
        defer {
            if !ok {
                for d in devs { close(d.fd) }
                for fd in opened { close(fd) }
            }
        }
        guard !c.sessions.isEmpty else { throw WorkerError("\(c.name): no sessions") }
        var rx: [(Int32, Bool, UInt8)] = []
        var tx: [Int32] = []
        switch c.transport {
        case .udp(let localPort, _):
            let r = try UnderlaySocket.udp(local: c.local, ipv6: c.ipv6, port: localPort, checksum: true, what: c.name)
            opened.append(r)
            rx.append((r, false, WireNumbers.ipprotoUDP))
            boundPort = UnderlaySocket.boundPort(r)
            if let range = c.sourcePorts {
                // Flow entropy: a few sockets on distinct source ports; each inner flow hashes to one.
                var candidates = Array(range)
                if candidates.count > 4 {
                    var rng = SystemRandomNumberGenerator()
                    candidates.shuffle(using: &rng)
                }
                for port in candidates where tx.count < 4 {
                    if port == localPort { continue }
                    if let s = try? UnderlaySocket.udp(local: c.local, ipv6: c.ipv6, port: port, checksum: true, what: c.name) {
                        opened.append(s); tx.append(s)
                    }
                }
                if tx.isEmpty { tx.append(r) }
            } else {
                tx.append(r)
            }
        case .ip(let proto):
            var protos = [proto]
            if proto == WireNumbers.ipprotoIPIP || proto == WireNumbers.ipprotoIPv6 {
                protos = []
                for s in c.sessions {
                    if case .ipInIP(let v4, let v6) = s.encapsulation {
                        if v4 && !protos.contains(WireNumbers.ipprotoIPIP) { protos.append(WireNumbers.ipprotoIPIP) }
                        if v6 && !protos.contains(WireNumbers.ipprotoIPv6) { protos.append(WireNumbers.ipprotoIPv6) }
                    }
                }
            }
            // One peer: the raw socket filters on it (`onlyFrom`), so the kernel hands it only that peer's datagrams. Several
            // tunnels of one protocol on a host (a registry's point-to-point segment: one process per peer) then do
            // not each receive, parse and drop every other peer's traffic.
            let allPeers = c.sessions.flatMap(\.peers)
            let onlyPeer = allPeers.first.flatMap { f in allPeers.allSatisfy { $0 == f } ? f : nil }
            for p in protos {
                let s = try UnderlaySocket.raw(local: c.local, ipv6: c.ipv6, proto: p, what: c.name)
                opened.append(s)
                if let peer = onlyPeer { try UnderlaySocket.onlyFrom(s, peer: peer, what: c.name) }
                rx.append((s, !c.ipv6, p))
                tx.append(s)
            }
        }
        if let dev = c.device {
            for fd in opened {
                let rc = dev.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(dev.utf8.count + 1)) }
                guard rc == 0 else { throw SystemError("bind sockets to device \(dev) (SO_BINDTODEVICE)") }
            }
        }
        if let ttl = c.ttl {
            for fd in opened {
                _ = UnderlaySocket.setInt(fd, c.ipv6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP), c.ipv6 ? IPV6_UNICAST_HOPS : IP_TTL, Int32(ttl))
            }
        }
        let efd = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard efd >= 0 else { throw SystemError("eventfd") }
        opened.append(efd)
        for s in c.sessions {
            devs.append(try DataplaneDevice.open(name: s.name, ethernet: s.ethernet))
        }
        var mtus: [Int] = []
        for (i, s) in c.sessions.enumerated() {
            let mtu: Int?
            if let m = c.mtu { mtu = m }
            else if let peer = s.peers.first, let u = UnderlaySocket.pathMTU(to: peer) { mtu = c.deviceMTU(underlayMTU: u, session: s) }
            else { mtu = nil }
            if let mtu, mtu < 68 { throw WorkerError("\(s.name): MTU \(mtu) is too small (the underlay cannot carry the \(s.overhead(transport: c.transport, ipv6: c.ipv6)) bytes of overhead)") }
            // Keep a coalesced/segmented 64 KB frame plus headers inside one UDP GSO send.
            try devs[i].configure(mtu: mtu, gsoMaxSize: c.transport.isUDP ? 60000 : nil)
            mtus.append(mtu ?? 1500)
        }
        deviceMTUs = mtus
        devices = devs
        receiveSockets = rx.map { (fd: $0.0, ipHeader: $0.1, proto: $0.2) }
        sendSockets = tx
        stopFD = efd
        ok = true
    }

    deinit {
        for d in devices { close(d.fd) }
        for fd in Set(receiveSockets.map(\.fd) + sendSockets) { close(fd) }
        close(stopFD)
    }

    /// Starts the worker threads.
    public func start() throws {
        for (i, s) in configuration.sessions.enumerated() {
            let w = TxWorker(engine: self, session: i, config: s)
            threads.append(try WorkerThread(name: "tx \(s.name)") { w.run() })
        }
        for r in receiveSockets {
            let w = RxWorker(engine: self, socket: r.fd, ipHeader: r.ipHeader, proto: r.proto)
            threads.append(try WorkerThread(name: "rx \(configuration.name)") { w.run() })
        }
    }

    /// Stops the workers and waits for them.
    public func stop() {
        stopFlag.set(.rxPackets, 1)
        var one: UInt64 = 1
        _ = write(stopFD, &one, 8)
        for t in threads { t.join() }
        threads = []
    }

    var stopping: Bool { stopFlag.get(.rxPackets) != 0 }

    /// Waits until `fd` is ready for `events` or the engine stops; false when stopping.
    func wait(_ fd: Int32, events: Int16 = Int16(POLLIN)) -> Bool {
        var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
        while !stopping {
            let r = poll(&fds, 2, 1000)
            if r < 0 && errno != EINTR { return false }
            if fds[1].revents != 0 { return false }
            if r > 0 { return true }
        }
        return false
    }
}

/// Reads one device and sends its frames to the peers.
final class TxWorker: @unchecked Sendable {
    let engine: Engine
    let session: Int
    let config: SessionConfig
    let fd: Int32
    @exclusivity(unchecked) var encoder: Encoder   // owned by the worker thread: no runtime exclusivity check per call
    let counters: Counters
    let mac: MACTable?
    let headroom: Int
    let udp: Bool
    let maxPayload: Int
    var gso: Bool
    var peerAddrs: [sockaddr_storage] = []
    var peerLens: [UInt32] = []

    static let readSize = 65536 + VirtioNetHeader.size
    static let arenaSize = 512 * 1024
    let readBuf = UnsafeMutableRawPointer.allocate(byteCount: readSize, alignment: 64)
    let arena = UnsafeMutableRawPointer.allocate(byteCount: arenaSize, alignment: 64)
    let dgrams = UnsafeMutablePointer<isthmus_dgram>.allocate(capacity: 64)
    var nd = 0
    var pos = 0
    var batchFD: Int32 = -1

    init(engine: Engine, session: Int, config: SessionConfig) {
        self.engine = engine; self.session = session; self.config = config
        fd = engine.devices[session].fd
        encoder = Encoder(config, transport: engine.configuration.transport)
        counters = engine.counters[session]
        mac = engine.macTables[session]
        headroom = encoder.headerLength
        udp = engine.configuration.transport.isUDP
        gso = udp
        maxPayload = engine.configuration.ipv6 ? 65527 : 65507
        dgrams.initialize(repeating: isthmus_dgram(), count: 64)
        let port: UInt16 = { if case .udp(_, let r) = engine.configuration.transport { return r }; return 0 }()
        for p in config.peers {
            var ss = sockaddr_storage()
            peerLens.append(p.sockaddr(port: port, into: &ss))
            peerAddrs.append(ss)
        }
    }

    deinit { readBuf.deallocate(); arena.deallocate(); dgrams.deallocate() }

    func run() {
        while !engine.stopping {
            let r = read(fd, readBuf, Self.readSize)
            if r < 0 {
                if errno == EAGAIN { flush(); if !engine.wait(fd) { break }; continue }
                if errno == EINTR { continue }
                counters.drop(.ioError); flush(); if !engine.wait(fd) { break }; continue
            }
            guard r > VirtioNetHeader.size else { continue }
            let h = VirtioNetHeader(readBuf)
            let frame = readBuf + VirtioNetHeader.size
            let len = r - VirtioNetHeader.size
            handle(frame, len, h)
        }
        flush()
    }

    /// Which socket carries a frame: a flow hash picks a source port; IP-in-IP picks the protocol by version.
    func socket(for frame: UnsafeRawPointer, _ len: Int) -> Int32 {
        let socks = engine.sendSockets
        if socks.count == 1 { return socks[0] }
        if case .ipInIP = config.encapsulation {
            let v = len > 0 ? frame.load(as: UInt8.self) >> 4 : 4
            let want = v == 6 ? WireNumbers.ipprotoIPv6 : WireNumbers.ipprotoIPIP
            return engine.receiveSockets.first { $0.proto == want }?.fd ?? socks[0]
        }
        return socks[Int(FrameLayout.flowHash(frame, count: len, ethernet: config.ethernet) % UInt32(socks.count))]
    }

    func handle(_ frame: UnsafeMutableRawPointer, _ len: Int, _ h: VirtioNetHeader) {
        let ipVersion = config.ethernet ? 0 : Int(frame.load(as: UInt8.self) >> 4)
        if case .ipInIP(let v4, let v6) = config.encapsulation, !(ipVersion == 4 ? v4 : ipVersion == 6 ? v6 : false) {
            counters.drop(.unsupported); return
        }
        let sock = socket(for: frame, len)
        if nd > 0 && sock != batchFD { flush() }
        batchFD = sock
        let peerSeq = counters.get(.peerSequencing) != 0
        // Peers: a learned unicast destination goes to one, anything else to all.
        var target = -1
        if let mac, let p = mac.lookup(frame) { target = p }
        let peerCount = target >= 0 ? 1 : config.peers.count

        if h.gsoType != VirtioNetHeader.gsoNone {
            if Self.arenaSize - pos < 70000 || nd + 2 * peerCount > 64 { flush() }
            guard let segs = Offload.segment(frame, count: len, header: h, ethernet: config.ethernet,
                                             into: arena + pos, capacity: Self.arenaSize - pos, headroom: headroom) else {
                counters.drop(.unsupported); return
            }
            var bytes = 0
            for k in 0..<segs.count {
                let p = arena + pos + k * segs.stride
                let l = k == segs.count - 1 ? segs.lastLength : segs.stride
                encoder.writeHeader(p, ipVersion: ipVersion, peerSequencing: peerSeq)
                if encoder.needsFinish { encoder.finish(p, length: l) }
                bytes += l - headroom
            }
            let total = (segs.count - 1) * segs.stride + segs.lastLength
            if udp && gso {
                // As few sends as UDP GSO allows: ≤ 64 segments and ≤ 64 KB of UDP payload each.
                let perSend = max(1, min(64, maxPayload / segs.stride))
                var k = 0
                while k < segs.count {
                    let m = min(perSend, segs.count - k)
                    let last = k + m == segs.count
                    let length = last ? (m - 1) * segs.stride + segs.lastLength : m * segs.stride
                    queue(arena + pos + k * segs.stride, length, segment: m > 1 ? segs.stride : 0, target: target)
                    k += m
                }
            } else {
                for k in 0..<segs.count {
                    if nd + peerCount > 64 { flushKeepingArena() }
                    queue(arena + pos + k * segs.stride, k == segs.count - 1 ? segs.lastLength : segs.stride, segment: 0, target: target)
                }
            }
            pos += (total + 63) & ~63
            counters.add(.txPackets, segs.count * peerCount)
            counters.add(.txBytes, bytes * peerCount)
            return
        }
        if h.flags & VirtioNetHeader.needsChecksum != 0 {
            Offload.completeChecksum(frame, count: len, start: Int(h.checksumStart), offset: Int(h.checksumOffset))
        }
        guard len + headroom <= maxPayload else { counters.drop(.tooBig); return }
        if Self.arenaSize - pos < len + headroom + 64 || nd + peerCount > 64 { flush() }
        let p = arena + pos
        (p + headroom).copyMemory(from: frame, byteCount: len)
        encoder.writeHeader(p, ipVersion: ipVersion, peerSequencing: peerSeq)
        if encoder.needsFinish { encoder.finish(p, length: len + headroom) }
        queue(p, len + headroom, segment: 0, target: target)
        pos += (len + headroom + 63) & ~63
        counters.add(.txPackets, peerCount)
        counters.add(.txBytes, len * peerCount)
    }

    func queue(_ p: UnsafeMutableRawPointer, _ length: Int, segment: Int, target: Int) {
        for i in peerAddrs.indices where target < 0 || i == target {
            if nd == 64 { flushKeepingArena() }
            dgrams[nd].base = p
            dgrams[nd].length = UInt32(length)
            dgrams[nd].addr = peerAddrs[i]
            dgrams[nd].addrlen = peerLens[i]
            dgrams[nd].segment = UInt16(segment)
            nd += 1
        }
    }

    /// Sends the queued datagrams (the arena stays in use: only the datagram list is reset).
    func flushKeepingArena() {
        var start = 0
        while start < nd {
            let r = Int(isthmus_send_batch(batchFD, dgrams + start, UInt32(nd - start)))
            if r > 0 { start += r; continue }
            let e = errno
            if e == EAGAIN || e == ENOBUFS {
                if !engine.wait(batchFD, events: Int16(POLLOUT)) { break }
                continue
            }
            if (e == EIO || e == EINVAL) && dgrams[start].segment != 0 {
                // The route's device cannot do UDP segmentation offload: send this one segment by segment and
                // stop using GSO.
                gso = false
                sendSegments(dgrams[start])
            } else {
                counters.drop(e == EMSGSIZE ? .tooBig : .ioError)
            }
            start += 1
        }
        nd = 0
    }

    func flush() { flushKeepingArena(); pos = 0 }

    func sendSegments(_ d: isthmus_dgram) {
        var x = d
        x.segment = 0
        let seg = Int(d.segment), total = Int(d.length)
        var off = 0
        while off < total {
            x.base = d.base + off
            x.length = UInt32(min(seg, total - off))
            while isthmus_send_batch(batchFD, &x, 1) != 1 {
                if errno == EAGAIN || errno == ENOBUFS, engine.wait(batchFD, events: Int16(POLLOUT)) { continue }
                counters.drop(errno == EMSGSIZE ? .tooBig : .ioError)
                break
            }
            off += seg
        }
    }
}

/// Receives datagrams on one socket, decodes them and writes the frames to the devices, coalescing TCP.
final class RxWorker: @unchecked Sendable {
    let engine: Engine
    let fd: Int32
    let ipHeader: Bool
    let protocolNumber: UInt8?
    @exclusivity(unchecked) var decoder: Decoder   // owned by the worker thread
    static let slots = 32
    static let slotSize = 65536 + 512
    let bufs = UnsafeMutableRawPointer.allocate(byteCount: slots * slotSize, alignment: 64)
    let dgrams = UnsafeMutablePointer<isthmus_dgram>.allocate(capacity: slots)
    @exclusivity(unchecked) var pending: [[Offload.Frame]]
    let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 70)
    let vnet = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
    let zeroHeader = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
    let ethernet: [Bool]
    let l2tpAutoSequencing: [Bool]

    init(engine: Engine, socket: Int32, ipHeader: Bool, proto: UInt8) {
        self.engine = engine; fd = socket; self.ipHeader = ipHeader
        protocolNumber = engine.configuration.transport.isUDP ? nil : proto
        decoder = Decoder(sessions: engine.configuration.sessions, transport: engine.configuration.transport)
        pending = engine.configuration.sessions.map { _ in
            var a: [Offload.Frame] = []; a.reserveCapacity(Self.slots * 64); return a
        }
        ethernet = engine.configuration.sessions.map(\.ethernet)
        l2tpAutoSequencing = engine.configuration.sessions.map {
            if case .l2tpv3(let o) = $0.encapsulation { return !o.sendSequence && o.defaultL2SpecificSublayer }
            return false
        }
        dgrams.initialize(repeating: isthmus_dgram(), count: Self.slots)
        for i in 0..<Self.slots {
            dgrams[i].base = bufs + i * Self.slotSize
            dgrams[i].length = UInt32(Self.slotSize)
        }
        zeroHeader.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
    }

    deinit { bufs.deallocate(); dgrams.deallocate(); iov.deallocate(); vnet.deallocate(); zeroHeader.deallocate() }

    func run() {
        while !engine.stopping {
            let n = Int(isthmus_recv_batch(fd, dgrams, UInt32(Self.slots), 0))
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { if errno == EAGAIN, !engine.wait(fd) { break }; continue }
                engine.engineCounters.drop(.ioError)
                if !engine.wait(fd) { break }
                continue
            }
            for i in 0..<n {
                let d = dgrams[i]
                guard let source = withUnsafeBytes(of: d.addr, { PeerAddress.from($0.baseAddress!) }) else { continue }
                if d.truncated != 0 { engine.engineCounters.drop(.tooBig); continue }
                let total = Int(d.received)
                let seg = d.segment > 0 ? Int(d.segment) : total
                var off = 0
                while off < total {
                    let l = min(seg, total - off)
                    handle(d.base + off, l, source)
                    off += seg
                }
            }
            deliver()
        }
    }

    func handle(_ p: UnsafeMutableRawPointer, _ count: Int, _ source: PeerAddress) {
        switch decoder.decode(p, count: count, source: source, ipHeader: ipHeader, protocolNumber: protocolNumber) {
        case .frame(let s, let peer, let offset, let length, let sequenced):
            let frame = p + offset
            let c = engine.counters[s]
            c.add(.rxPackets, 1)
            c.add(.rxBytes, length)
            if l2tpAutoSequencing[s] && (c.get(.peerSequencing) != 0) != sequenced { c.set(.peerSequencing, sequenced ? 1 : 0) }
            if let mac = engine.macTables[s] { mac.learn(frame + 6, peer: peer) }
            pending[s].append(Offload.Frame(base: frame, length: length))
        case .drop(let reason, let s):
            (s.map { engine.counters[$0] } ?? engine.engineCounters).drop(reason)
        }
    }

    func deliver() {
        for s in pending.indices where !pending[s].isEmpty {
            let dev = engine.devices[s].fd
            let c = engine.counters[s]
            pending[s].withUnsafeBufferPointer { frames in
                Offload.coalesce(frames, ethernet: ethernet[s]) { g in
                    var n = 1
                    if let h = g.header {
                        h.write(to: vnet)
                        iov[0] = iovec(iov_base: vnet, iov_len: VirtioNetHeader.size)
                    } else {
                        iov[0] = iovec(iov_base: zeroHeader, iov_len: VirtioNetHeader.size)
                    }
                    for k in g.range {
                        let sl = g.slice(of: frames[k], first: k == g.range.lowerBound)
                        iov[n] = iovec(iov_base: frames[k].base + sl.offset, iov_len: sl.length)
                        n += 1
                    }
                    while writev(dev, iov, Int32(n)) < 0 {
                        if errno == EINTR { continue }
                        if errno == EAGAIN, engine.wait(dev, events: Int16(POLLOUT)) { continue }
                        c.drop(.ioError, g.range.count)
                        break
                    }
                }
            }
            pending[s].removeAll(keepingCapacity: true)
        }
    }
}
