import Foundation
import Dataplane
import DataplaneWire
import IsthmusMetrics
import L2TPProtocol
import L2TPWire
import Netlink

/// The L2TP agent: runs every control connection of a config over UDP sockets in one poll loop, gives established
/// Ethernet pseudowires their data path, redials, writes status, and on SIGTERM/SIGINT sends StopCCN and waits
/// (briefly) for the acknowledgements. The protocol itself is `ControlConnection`; this is only I/O and policy.
public final class L2TPDaemon {
    public let config: L2TPAgentConfig
    /// Log lines (to stderr by default).
    /// Log lines (`ProcessLog`: stderr with time and level, or journald priorities under systemd).
    public var log: (String) -> Void = { ProcessLog.info("l2tp: " + $0) }
    /// Lines about something that failed (an error logged, the agent going on).
    public var warn: (String) -> Void = { ProcessLog.warning("l2tp: " + $0) }
    /// Where to serve Prometheus metrics (`l2tp run --metrics ADDR:PORT`), if anywhere.
    public var metrics: MetricsAddress?
    /// The metrics server, once running (its bound address: `metricsServer?.bound`).
    public private(set) var metricsServer: MetricsServer?
    /// The data plane chosen for pseudowires (nil: control only).
    public private(set) var dataPlaneName: String = "none"

    final class Tunnel {
        var name: String
        var connection: ControlConnection
        let socket: ControlSocket
        let peer: UDPAddress
        /// The config entry when we initiated it.
        let spec: L2TPAgentConfig.Tunnel?
        /// The config entry whose tunnel lost a tie break to this one (answered, not opened, by us): its calls and
        /// pseudowires are opened over this connection instead, and it is dialled again if this one fails.
        var adopted: L2TPAgentConfig.Tunnel?
        /// The config entry whose sessions this side opens over the tunnel.
        var opens: L2TPAgentConfig.Tunnel? { spec ?? adopted }
        var dataPathAttached = false
        /// Local session id → pseudowire name (or "call N").
        var sessionNames: [UInt32: String] = [:]
        var interfaces: [UInt32: String] = [:]
        var established: Double?
        /// When each session came up (a call that stayed up 30 s resets its redial back-off).
        var sessionUp: [UInt32: Double] = [:]
        init(name: String, connection: ControlConnection, socket: ControlSocket, peer: UDPAddress, spec: L2TPAgentConfig.Tunnel?) {
            self.name = name; self.connection = connection; self.socket = socket; self.peer = peer; self.spec = spec
        }
    }

    /// Shared with the connections' policy closures (which must be Sendable).
    final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var sessionIDs: Set<UInt32> = []
        var activePseudowires: Set<String> = []
        func inUse(_ id: UInt32) -> Bool { lock.lock(); defer { lock.unlock() }; return sessionIDs.contains(id) }
        func claim(_ name: String) -> Bool {
            lock.lock(); defer { lock.unlock() }
            return activePseudowires.insert(name).inserted
        }
        func release(_ name: String) { lock.lock(); activePseudowires.remove(name); lock.unlock() }
        func add(_ id: UInt32) { lock.lock(); sessionIDs.insert(id); lock.unlock() }
        func setPseudowires(_ names: Set<String>) { lock.lock(); activePseudowires = names; lock.unlock() }
        func remove(_ id: UInt32) { lock.lock(); sessionIDs.remove(id); lock.unlock() }
    }

    var listeners: [ControlSocket] = []
    var tunnels: [UInt32: Tunnel] = [:]
    var dataPath: L2TPDataPath?
    /// v2 with [l2tp.ppp]: pppd over the kernel's PPPoL2TP socket for every call.
    public private(set) var ppp: PPPCalls?
    /// Calls (v2) to place again: the back-off in force, by call index.
    var callBackoff: [Int: Double] = [:]
    let registry = Registry()
    var random = SystemRandomNumberGenerator()
    /// Tunnels to (re)open: config index → when, and the back-off in force.
    var dialAt: [Int: Double] = [:]
    var backoff: [Int: Double] = [:]
    /// Sessions to (re)open over a tunnel once it is up: (tunnel local id, pseudowire or call index, when).
    var reopen: [(tunnel: UInt32, item: Int, at: Double)] = []
    var stopping = false
    var stopDeadline: Double?
    public private(set) var dropped: [String: Int] = [:]
    /// Why peers' messages were dropped unanswered (authentication), one line per address per 10 s at most.
    var authLog = RateLimitedLog()
    var statusDirty = true
    /// The last status write failed (logged once until one succeeds again).
    var statusWriteFailed = false
    /// Whether the status file is this agent's to remove when it stops: in Isthmus's directory, or a `status` path
    /// where nothing existed when the agent started (never a file, device or link the user had there).
    var statusFileIsOurs = true
    /// Answers `l2tp show` with the status of the moment (see `run`).
    var statusServer: StatusServer?
    var lastStatus = 0.0
    /// How long the last status write took. Writes are at least 10 times that apart (and 0.1 s): with 1,000
    /// sessions one takes ~50 ms of JSONSerialization, and rewriting it every 0.1 s starved the protocol.
    var statusCost = 0.0
    var statusInterval: Double { max(0.1, 10 * statusCost) }
    var buffer = [UInt8](repeating: 0, count: 65536)

    /// More file descriptors for the loop to watch, each with what to do when it is readable (e.g. a status socket).
    public var extraFDs: [(fd: Int32, readable: () -> Void)] = []

    public init(config: L2TPAgentConfig, dataPath: L2TPDataPath? = nil) {
        self.config = config
        self.dataPath = dataPath
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    // MARK: Setup

    /// Opens the listeners and the data path. Throws (changing nothing) when a socket cannot be bound or the
    /// data plane asked for is missing.
    public func prepare() throws {
        if dataPath == nil, config.version == .v3, !config.pseudowires.isEmpty {
            switch config.dataPlane {
            case .none: break
            case .kernel:
                guard KernelL2TPDataPath.available() else {
                    throw DataPathError("data_plane = \"kernel\": this kernel has no L2TP generic netlink family (modprobe l2tp_eth l2tp_netlink), or use data_plane = \"userspace\"")
                }
                dataPath = try KernelL2TPDataPath()
                dataPlaneName = "kernel"
            case .userspace:
                dataPath = UserspaceL2TPDataPath()
                dataPlaneName = "userspace"
            case .auto:
                if KernelL2TPDataPath.available(), let k = try? KernelL2TPDataPath() {
                    dataPath = k; dataPlaneName = "kernel"
                } else {
                    dataPath = UserspaceL2TPDataPath(); dataPlaneName = "userspace"
                }
            }
        } else if dataPath != nil {
            dataPlaneName = dataPath is KernelL2TPDataPath ? "kernel" : "userspace"
        }
        let pppPseudowires = config.version == .v3 && config.pseudowires.contains { $0.type == .ppp }
        if pppPseudowires, config.dataPlane != .none, ppp == nil {
            // L2TPv3 PPP pseudowires: the kernel's tunnel (made by the Ethernet data path, over netlink) and a
            // PPPoL2TP socket per session; there is no userspace PPP data plane for v3.
            guard dataPath is KernelL2TPDataPath else {
                throw DataPathError("pseudowires with type = \"ppp\" need the kernel's data plane (modules l2tp_ppp and l2tp_netlink); data plane here: \(dataPlaneName)")
            }
            let dir = L2TPAgentConfig.runDirectory   // Isthmus's own, wherever `status` points
            var pc = config.ppp ?? PPPConfig()
            pc.kernelAPI = .netlink
            ppp = try PPPCalls(config: pc, agentName: config.name, hostName: config.hostName, version: 3,
                               secretsDirectory: dir, userspace: false, log: { [weak self] in self?.log($0) })
        }
        if config.version == .v2, let pc = config.ppp, ppp == nil {
            if config.dataPlane != .none {
                // auto: the kernel's PPPoL2TP when l2tp_ppp is there, else pppd over HDLC in userspace.
                let userspace = config.dataPlane == .userspace || (config.dataPlane == .auto && !PPPCalls.kernelAvailable)
                let dir = L2TPAgentConfig.runDirectory
                let p = try PPPCalls(config: pc, agentName: config.name, hostName: config.hostName, version: 2,
                                     secretsDirectory: dir, userspace: userspace, log: { [weak self] in self?.log($0) })
                ppp = p
                dataPlaneName = p.apiName
            }
        }
        for l in config.listen {
            guard let a = UDPAddress(l.address, port: l.port, ipv6: l.ipv6) else { throw DataPathError("listen: bad address \(l)") }
            listeners.append(try ControlSocket(local: a))
        }
        let now = Self.now()
        for i in config.tunnels.indices { dialAt[i] = now }
    }

    // MARK: Connection settings

    func connectionConfig(localID: UInt32) -> ControlConnection.Configuration {
        var c = ControlConnection.Configuration(version: config.version, localID: localID, hostName: config.hostName)
        c.routerID = config.routerID ?? defaultRouterID()
        c.secret = config.secret.map { Array($0.utf8) }
        c.digest = config.digest
        c.challenge = config.challenge
        c.hideAVPs = config.hideAVPs
        c.helloInterval = config.helloInterval
        c.reliability.initialTimeout = config.retransmitInitial
        c.reliability.maxTimeout = config.retransmitMax
        c.reliability.maxRetransmits = config.retransmitCount
        c.reliability.receiveWindow = config.window
        c.tieBreaker = random.next()
        // An initiator redials after a peer's StopCCN: it keeps the old connection only briefly to acknowledge
        // retransmissions of that StopCCN (a responder keeps it for a full retransmission cycle, RFC 2661 §5.7).
        if !config.tunnels.isEmpty && config.listen.isEmpty { c.closeHold = 3 }
        let registry = registry
        c.sessionIDInUse = { registry.inUse($0) }
        if config.pseudowires.contains(where: { $0.type == .ppp }) { c.pseudowires = [L2TPProtocol.PseudowireType.ethernet, L2TPProtocol.PseudowireType.ppp] }
        let version = config.version
        let pseudowires = config.pseudowires
        c.acceptSession = { request in
            if version == .v2 { return .accept(cookie: []) }
            let name = String(decoding: request.remoteEndID, as: UTF8.self)
            guard let pw = pseudowires.first(where: { $0.name == name }) else {
                return .reject(.invalidDestination("no pseudowire \"\(name)\" is configured here"))
            }
            guard request.pseudowireType == (pw.type == .ppp ? L2TPProtocol.PseudowireType.ppp : L2TPProtocol.PseudowireType.ethernet) else {
                return .reject(ResultCode(14, message: "pseudowire \"\(name)\" is configured with type = \"\(pw.type.rawValue)\" here",
                                          forSession: true))
            }
            guard request.l2SpecificSublayer == (pw.sublayer ? 1 : 0) else {
                return .reject(.general(ResultCode.errorOutOfRange,
                                        "pseudowire \"\(name)\" is configured with sublayer = \"\(pw.sublayer ? "default" : "none")\" here",
                                        forSession: true))
            }
            guard registry.claim(name) else { return .reject(.permanentLackOfFacilities("pseudowire \"\(name)\" is already up")) }
            var g = SystemRandomNumberGenerator()
            return .accept(cookie: (0..<pw.cookie).map { _ in UInt8.random(in: 0...255, using: &g) })
        }
        return c
    }

    func defaultRouterID() -> UInt32 {
        for a in config.tunnels.compactMap({ $0.local?.address }) + config.listen.map(\.address) {
            if let u = UDPAddress(a, port: 0), !u.ip.isV6, u.ip.high != 0 { return UInt32(truncatingIfNeeded: u.ip.high >> 32) }
        }
        return 0
    }

    func allocateTunnelID() -> UInt32 {
        while true {
            let v = UInt32(truncatingIfNeeded: random.next())
            let id = config.version == .v2 ? v & 0xffff : v
            if id != 0, tunnels[id] == nil { return id }
        }
    }

    // MARK: The loop

    /// Runs until SIGTERM/SIGINT, then shuts down cleanly. While it runs, `l2tp show` asks it for its status over the
    /// status socket (answered at once, with what is true now); the status file is also written, at most every
    /// `statusInterval`. Both are removed when it returns.
    public func run() throws {
        // Metrics: the HTTP side runs on its own thread; a scrape asks this loop for samples through a pipe, so the
        // agent's state is read only here and a slow client never holds the loop. Opened first: an address that
        // cannot be used stops the agent before it opens or writes anything else.
        var sampled: [(fd: Int32, readable: () -> Void)] = []
        if let address = metrics {
            let sampler = try LoopSampler()
            let exporter = MetricsExporter()
            metricsServer = try MetricsServer(address: address) { exporter.render(sampler.request() ?? []) }
            sampled.append((fd: sampler.fd, readable: { [unowned self] in sampler.answer { self.metricSamples() } }))
        }
        defer { metricsServer?.stop(); metricsServer = nil }
        var st = stat()
        statusFileIsOurs = OwnedFiles.isInside(config.resolvedStatusPath) || lstat(config.resolvedStatusPath, &st) != 0
        try openStatusServer()
        defer { removeStatus() }
        try prepare()
        let signals = try StopSignals()
        defer { signals.close() }
        let served = (statusServer.map { s in [(fd: s.fd, readable: { s.serve() })] } ?? []) + sampled
        if let server = metricsServer {
            server.start()
            log("\(config.name): metrics on http://\(server.bound)/metrics")
        }
        log("\(config.name): L2TPv\(config.version.rawValue), data plane \(dataPlaneName)"
            + (listeners.isEmpty ? "" : ", listening on " + listeners.map { "\($0.local)" }.joined(separator: ", ")))
        while true {
            let now = Self.now()
            if !stopping { dialDue(now) }
            reopenDue(now)
            if stopping && (tunnels.isEmpty || now >= (stopDeadline ?? now)) { break }
            let socks = listeners + tunnels.values.map(\.socket)
            var fds = socks.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0))
            let extraBase = fds.count
            let extras = extraFDs + served
            for e in extras { fds.append(pollfd(fd: e.fd, events: Int16(POLLIN), revents: 0)) }
            let streamBase = fds.count
            let streams = ppp?.streams ?? []
            for f in streams {
                let out = ppp?.wantsWrite(f) == true ? Int16(POLLOUT) : 0
                fds.append(pollfd(fd: f, events: Int16(POLLIN) | out, revents: 0))
            }
            let wait = nextWake(now).map { max(0, min(1, $0 - now)) } ?? 1
            let n = poll(&fds, nfds_t(fds.count), Int32((wait * 1000).rounded(.up)))
            if n < 0 && errno != EINTR { throw DataPathError("poll failed: \(String(cString: strerror(errno)))") }
            let t = Self.now()
            if n > 0 {
                for (k, e) in extras.enumerated() where fds[extraBase + k].revents != 0 { e.readable() }
                for (k, f) in streams.enumerated() where fds[streamBase + k].revents != 0 {
                    let r = fds[streamBase + k].revents
                    if r & Int16(POLLOUT) != 0 { ppp?.writable(f) }
                    if r & ~Int16(POLLOUT) != 0 { ppp?.readable(f) }
                }
                if fds[socks.count].revents != 0 {
                    signals.drain()
                    shutdown(now: t)
                }
                for (i, s) in socks.enumerated() where fds[i].revents != 0 { drain(s, now: t) }
            }
            for (id, tunnel) in tunnels where (tunnel.connection.nextDeadline ?? .infinity) <= t {
                let actions = tunnel.connection.timeout(now: t)   // in place: a copy would copy its sessions (CoW)
                perform(actions, on: id, now: t)
            }
            pollPPP(t)
            for line in authLog.summaries(now: t) { log(line) }
            writeStatusIfDue(t)
        }
        for id in tunnels.keys.sorted() { teardown(id) }
        // The pppds were told to stop with their calls; give them the time pollPPP allows, then SIGKILL.
        if let ppp {
            ppp.stopAll()
            let until = Self.now() + 4
            while ppp.running && Self.now() < until { _ = ppp.poll(now: Self.now()); usleep(50_000) }
        }
        log("\(config.name): stopped")
    }

    func nextWake(_ now: Double) -> Double? {
        var d = tunnels.values.compactMap { $0.connection.nextDeadline }
        d += dialAt.values
        d += reopen.map(\.at)
        if let s = stopDeadline { d.append(s) }
        if statusDirty { d.append(lastStatus + statusInterval) }
        // pppd's exit and the link coming up are noticed by polling (waitpid, getifaddrs).
        if let ppp, ppp.running { d.append(now + (ppp.negotiating ? 0.2 : 0.5)) }
        return d.min()
    }

    /// Sends StopCCN on every tunnel and gives the acknowledgements up to 3 seconds.
    public func shutdown(now: Double) {
        guard !stopping else { return }
        stopping = true
        stopDeadline = now + 3
        log("\(config.name): shutting down, StopCCN to \(tunnels.count) peer\(tunnels.count == 1 ? "" : "s")")
        for id in tunnels.keys.sorted() {
            guard let t = tunnels[id] else { continue }
            let a = t.connection.stop(.shuttingDown, now: now)
            perform(a, on: id, now: now)
        }
    }

    func drain(_ socket: ControlSocket, now: Double) {
        // The userspace PPP plane's frames for pppd go in one write per call per drain.
        defer { if let ppp, !ppp.inKernel { ppp.flush() } }
        // The tunnel whose socket this is, for data messages (the userspace data plane's hot path: found once, and
        // the datagram handed over from the buffer without a copy).
        let owner = tunnels.first(where: { $0.value.socket === socket })?.key ?? tunnels.keys.first
        for _ in 0..<256 {
            guard let (n, from) = socket.receive(into: &buffer) else { return }
            if n >= 2 && buffer[0] & 0x80 == 0 {
                if buffer[1] & 0x0f == 2, let owner, let ppp, !ppp.inKernel {
                    let ok = buffer.withUnsafeBytes { ppp.deliver(tunnelID: owner, datagram: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    if !ok { count("data_without_session") }
                    continue
                }
                guard buffer[1] & 0x0f == 3, let owner, let dataPath else { count("data_without_session"); continue }
                buffer.withUnsafeBytes { dataPath.deliver(tunnelID: owner, datagram: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                continue
            }
            route(Array(buffer[0..<n]), from: from, socket: socket, now: now)
        }
    }

    func count(_ reason: String) {
        dropped[reason, default: 0] += 1
        statusDirty = true
    }

    /// Sends a control message (or anything too short to be data) to the tunnel its header names, or, for an SCCRQ,
    /// to a new responder connection. Data messages went to the data path in `drain`.
    func route(_ d: [UInt8], from: UDPAddress?, socket: ControlSocket, now: Double) {
        guard d.count >= 12 else { return count("too_short") }
        let version = d[1] & 0x0f
        let id: UInt32 = version == 2 ? UInt32(d[4]) << 8 | UInt32(d[5])
                                      : UInt32(d[4]) << 24 | UInt32(d[5]) << 16 | UInt32(d[6]) << 8 | UInt32(d[7])
        if id != 0 {
            guard let t = tunnels[id] else { return count("unknown_connection_id") }
            // In place: through a copy, the first change to its sessions copied all of them, for every message.
            let a = t.connection.receive(d, now: now)
            perform(a, on: id, now: now)
            return
        }
        guard version == config.version.rawValue else { return count("wrong_version") }
        guard let from else { return count("no_source_address") }
        // Authenticated before anything exists for it: an SCCRQ whose digest does not verify (or whose hidden AVPs
        // do not decode) is dropped here, counted and logged (rate-limited), and leaves no connection or socket.
        let ident: (peerID: UInt32, tieBreaker: UInt64?)
        switch ControlConnection.screenSCCRQ(d, secret: config.secret.map { Array($0.utf8) }) {
        case .notSCCRQ: return count("not_sccrq")
        case .unauthenticated(let why):
            count(why.counter)
            return noteUnauthenticated(from, "SCCRQ from \(from) dropped: \(why)", about: "SCCRQs dropped: \(why)", now: now)
        case .sccrq(_, let peerID, let tieBreaker): ident = (peerID, tieBreaker)
        }
        // A retransmitted SCCRQ: the connection already answering it takes it.
        if let (tid, t) = tunnels.first(where: { $0.value.peer == from && $0.value.spec == nil
                                                 && $0.value.connection.peer.connectionID == ident.peerID }) {
            let a = t.connection.receive(d, now: now)
            perform(a, on: tid, now: now)
            return
        }
        if stopping { return count("sccrq_while_stopping") }
        guard !listeners.isEmpty else { return count("sccrq_not_listening") }
        // Connections being set up are not authenticated yet (v2 proves the secret only in SCCCN; without a secret
        // nothing is proved): they time out, but a flood of SCCRQs must not hold a socket each meanwhile.
        let pending = tunnels.values.filter { $0.spec == nil && ($0.connection.state == .idle || $0.connection.state == .waitConnect) }
        if pending.count >= Self.maxPendingResponders || pending.filter({ $0.peer.ip == from.ip }).count >= Self.maxPendingPerAddress {
            count("too_many_pending_sccrq")
            return noteUnauthenticated(from, "SCCRQ from \(from) dropped: \(pending.count) connections are being set up "
                                       + "(at most \(Self.maxPendingPerAddress) per address, \(Self.maxPendingResponders) in all)",
                                       about: "SCCRQs dropped: too many connections being set up", now: now)
        }
        // Both ends opening at once: the tie breaker picks one (RFC 2661 §4.4.3, RFC 3931 §5.4.3).
        var adopt: L2TPAgentConfig.Tunnel?
        if let (tid, t) = tunnels.first(where: { $0.value.peer.ip == from.ip && $0.value.connection.pendingTieBreaker != nil }) {
            switch ControlConnection.tieBreak(ours: t.connection.pendingTieBreaker, theirs: ident.tieBreaker) {
            case .keepOurs:
                return count("lost_tie_break_sccrq")
            case .yieldToPeer, .bothDiscard:
                log("tunnel \(t.name): the peer's SCCRQ wins the tie break; answering it instead, and opening this tunnel's sessions over it")
                adopt = t.spec
                let a = t.connection.yield(now: now)
                perform(a, on: tid, now: now)
            }
        }
        // A connection from the same address and port still held after its StopCCN (to acknowledge retransmissions)
        // is over: the peer has moved on. Its connected socket must go now, or the kernel could deliver the new
        // tunnel's datagrams to it (two connected sockets with one 4-tuple), and the new tunnel's data would be lost.
        for (tid, old) in tunnels where old.peer == from && (old.connection.state == .closing || old.connection.state == .closed) {
            teardown(tid)
        }
        let local = UDPAddress(ip: socket.local.ip, port: socket.local.port)
        let s: ControlSocket
        do {
            s = try ControlSocket(local: local)
            try s.connect(to: from)
        } catch {
            warn("cannot answer SCCRQ from \(from): \(error)")
            return count("socket_failed")
        }
        let localID = allocateTunnelID()
        let t = Tunnel(name: "\(from)", connection: ControlConnection(connectionConfig(localID: localID), role: .responder),
                       socket: s, peer: from, spec: nil)
        t.adopted = adopt
        tunnels[localID] = t
        let a = t.connection.receive(d, now: now)
        perform(a, on: localID, now: now)
        // An SCCRQ the connection did not take (nothing answered it) leaves nothing behind.
        if let t = tunnels[localID], t.connection.state == .idle { teardown(localID) }
    }

    /// At most this many answered connections not yet established, in all and from one address.
    static let maxPendingResponders = 256, maxPendingPerAddress = 16

    /// Logs, rate-limited per peer address (see `RateLimitedLog`), why a peer's message was dropped unanswered.
    func noteUnauthenticated(_ from: UDPAddress, _ line: String, about: String, now: Double) {
        if let l = authLog.note("\(from.ip)", line, about: about, now: now) { log(l) }
    }

    // MARK: Initiating

    func dialDue(_ now: Double) {
        for (i, at) in dialAt where at <= now {
            dialAt[i] = nil
            dial(i, now: now)
        }
    }

    func dial(_ index: Int, now: Double) {
        let spec = config.tunnels[index]
        guard let peer = UDPAddress(spec.peer.address, port: spec.peer.port) else {
            warn("tunnel \(spec.name): bad peer address \(spec.peer)"); return
        }
        let localEndpoint = spec.local ?? L2TPAgentConfig.Endpoint(address: "", port: 1701)
        do {
            guard let local = UDPAddress(localEndpoint.address, port: localEndpoint.port, ipv6: peer.ip.isV6) else {
                throw DataPathError("bad local address \(localEndpoint)")
            }
            let s = try ControlSocket(local: local)
            try s.connect(to: peer)
            let id = allocateTunnelID()
            let t = Tunnel(name: spec.name, connection: ControlConnection(connectionConfig(localID: id), role: .initiator),
                           socket: s, peer: peer, spec: spec)
            tunnels[id] = t
            log("tunnel \(spec.name): SCCRQ to \(peer) (our id \(id))")
            let a = t.connection.start(now: now)
            perform(a, on: id, now: now)
        } catch {
            warn("tunnel \(spec.name): \(error); retrying")
            scheduleRedial(index, now: now)
        }
    }

    func scheduleRedial(_ index: Int, now: Double) {
        let spec = config.tunnels[index]
        guard spec.redial, !stopping else { return }
        let b = min(max((backoff[index] ?? 0.5) * 2, 1), spec.redialMax)
        backoff[index] = b
        dialAt[index] = now + b
        log("tunnel \(spec.name): redial in \(b.formatted()) s")
    }

    /// The pseudowires (v3) or calls (v2) this side opens over tunnel `spec`.
    func items(for spec: L2TPAgentConfig.Tunnel) -> [Int] {
        config.version == .v3 ? config.pseudowires.indices.filter { config.pseudowires[$0].tunnel == spec.name }
                              : config.calls.indices.filter { config.calls[$0].tunnel == spec.name }
    }

    func open(item: Int, on id: UInt32, now: Double) {
        guard let t = tunnels[id], t.connection.state == .established, !stopping else { return }
        var options = SessionOptions()
        let name: String
        if config.version == .v3 {
            let pw = config.pseudowires[item]
            guard registry.claim(pw.name) else { return }   // already up (the peer opened it)
            name = pw.name
            options.remoteEndID = Array(pw.name.utf8)
            options.pseudowireType = pw.type == .ppp ? L2TPProtocol.PseudowireType.ppp : L2TPProtocol.PseudowireType.ethernet
            options.cookie = (0..<pw.cookie).map { _ in UInt8.random(in: 0...255, using: &random) }
            options.l2SpecificSublayer = pw.sublayer ? 1 : 0
            options.dataSequencing = pw.sequencing ? 2 : 0
            options.tieBreaker = random.next()
        } else {
            name = "call \(item)"
            options.number = config.calls[item].number
            options.outgoing = config.calls[item].outgoing
        }
        guard let (sid, a) = t.connection.openSession(options, now: now) else {   // in place, as in route
            if config.version == .v3 { registry.release(name) }
            return
        }
        registry.add(sid)
        t.sessionNames[sid] = name
        perform(a, on: id, now: now)
    }

    func reopenDue(_ now: Double) {
        let due = reopen.filter { $0.at <= now }
        reopen.removeAll { $0.at <= now }
        for r in due { open(item: r.item, on: r.tunnel, now: now) }
    }

    // MARK: Actions

    func perform(_ actions: [ControlConnection.Action], on id: UInt32, now: Double) {
        guard let t = tunnels[id] else { return }
        for a in actions {
            statusDirty = true
            switch a {
            case .send(let bytes):
                if !t.socket.send(bytes) { count("send_failed") }
            case .established(let peer):
                t.established = now
                if t.spec == nil { t.name = "\(t.peer) \(peer.hostName)" }
                log("tunnel \(t.name): established, peer \"\(peer.hostName)\" id \(peer.connectionID), our id \(id)")
                if let spec = t.opens, let i = config.tunnels.firstIndex(of: spec) { backoff[i] = nil }
                if config.version == .v2, let ppp {
                    do {
                        try ppp.addTunnel(tunnelID: id, peerTunnelID: peer.connectionID, socket: t.socket.fd, peer: t.peer)
                        t.dataPathAttached = true
                    } catch {
                        warn("tunnel \(t.name): PPP data path: \(error)")
                    }
                }
                if config.version == .v3, let dataPath {
                    do {
                        try dataPath.addTunnel(tunnelID: id, peerTunnelID: peer.connectionID, socket: t.socket.fd,
                                               ipv6: t.peer.ip.isV6)
                        t.dataPathAttached = true
                        try ppp?.addTunnel(tunnelID: id, peerTunnelID: peer.connectionID, socket: t.socket.fd, peer: t.peer,
                                           inKernel: true)
                    } catch {
                        warn("tunnel \(t.name): data path: \(error)")
                    }
                }
                if let spec = t.opens { for item in items(for: spec) { open(item: item, on: id, now: now) } }
            case .sessionAnswered(let info):
                // An LNS answering a PPP call starts pppd now (silent until the LAC's LCP arrives): the LAC's
                // first Configure-Request follows its ICCN at once, and a kernel session made only on the ICCN
                // would lose it (the LAC would retransmit only after its 3 s restart timer).
                guard config.version == .v2, let ppp, t.dataPathAttached, !info.outgoing else { continue }
                do {
                    try ppp.addSession(tunnelID: id, sessionID: info.localID, peerSessionID: info.peerID, lnsMode: true,
                                       name: "\(t.name) call from peer", silent: true, now: now)
                } catch {
                    warn("session \(info.localID): \(error); trying again when the call is connected")
                }
            case .sessionEstablished(let info):
                registry.add(info.localID)
                if t.sessionNames[info.localID] == nil {
                    t.sessionNames[info.localID] = config.version == .v3 ? String(decoding: info.remoteEndID, as: UTF8.self)
                                                 : info.outgoing ? "outgoing call from peer" : "call from peer"
                }
                let name = t.sessionNames[info.localID] ?? "?"
                log("tunnel \(t.name): session \(name) up (ids \(info.localID)/\(info.peerID))")
                t.sessionUp[info.localID] = now
                if config.version == .v2, let ppp {
                    if ppp.call(tunnelID: id, sessionID: info.localID) != nil { continue }   // started when answered
                    guard t.dataPathAttached else {
                        clearForDataPath(info.localID, on: id, "no PPP data path for this tunnel", now: now)
                        continue
                    }
                    do {
                        // LNS mode: we answered an incoming call or asked for an outgoing one (RFC 2661 §5.1).
                        try ppp.addSession(tunnelID: id, sessionID: info.localID, peerSessionID: info.peerID,
                                           lnsMode: info.initiatedLocally == info.outgoing, name: "\(t.name) \(name)", now: now)
                    } catch {
                        warn("session \(name): \(error); clearing it")
                        clearForDataPath(info.localID, on: id, "\(error)", now: now)
                    }
                    continue
                }
                guard config.version == .v3, let dataPath, t.dataPathAttached,
                      let pw = config.pseudowires.first(where: { $0.name == name }) else { continue }
                if pw.type == .ppp, let ppp {
                    do {
                        // The side that accepted the pseudowire authenticates the other and gives it its address.
                        try ppp.addSession(tunnelID: id, sessionID: info.localID, peerSessionID: info.peerID,
                                           lnsMode: !info.initiatedLocally, name: pw.name, interface: pw.interface, now: now)
                        t.interfaces[info.localID] = pw.interface
                    } catch {
                        warn("session \(name): \(error); clearing it")
                        clearForDataPath(info.localID, on: id, "\(error)", now: now)
                    }
                    continue
                }
                let m = ManagedSession(tunnelID: id, peerTunnelID: t.connection.peer.connectionID, sessionID: info.localID,
                                       peerSessionID: info.peerID, cookie: info.peerCookie, peerCookie: info.cookie,
                                       l2SpecificSublayer: info.l2SpecificSublayer == 1, interfaceName: pw.interface,
                                       mtu: pw.mtu, sequencing: info.dataSequencing != 0)
                do {
                    try dataPath.addSession(m)
                    t.interfaces[info.localID] = pw.interface
                    try Bridging.attach(pw.interface, to: pw.bridge, alias: pw.alias)
                } catch {
                    warn("session \(name): data path: \(error); clearing it")
                    clearForDataPath(info.localID, on: id, "\(error)", now: now)
                }
            case .sessionClosed(let sid, let result, let byPeer):
                let name = t.sessionNames.removeValue(forKey: sid) ?? "\(sid)"
                log("tunnel \(t.name): session \(name) down: \(byPeer ? "peer sent CDN" : "cleared here:") \(result)")
                registry.remove(sid)
                ppp?.removeSession(tunnelID: id, sessionID: sid)
                let lasted = t.sessionUp.removeValue(forKey: sid).map { now - $0 } ?? 0
                if config.version == .v3 { reconcileClaims() }
                if t.interfaces.removeValue(forKey: sid) != nil { dataPath?.removeSession(tunnelID: id, sessionID: sid) }
                if let spec = t.opens, !stopping, t.connection.state == .established {
                    if config.version == .v3 {
                        if let item = config.pseudowires.firstIndex(where: { $0.name == name && $0.tunnel == spec.name }) {
                            reopen.append((id, item, now + 1))
                        }
                    } else if let item = Int(name.dropFirst(5)) {
                        // Calls back off (1 s doubling to the tunnel's redial_max) unless the last one stayed up 30 s.
                        let b = lasted >= 30 ? 1 : min(max((callBackoff[item] ?? 0.5) * 2, 1), spec.redialMax)
                        callBackoff[item] = b
                        reopen.append((id, item, now + b))
                        if b > 1 { log("tunnel \(t.name): \(name) again in \(b.formatted()) s") }
                    }
                }
            case .linkInfo, .wanError, .circuitStatus:
                log("tunnel \(t.name): \(a)")
            case .closed(let reason):
                // Every session's sessionClosed came first (names, claims, interfaces are gone with them).
                // (A tunnel this side opened is named by its config entry: the line names the peer too.)
                log("tunnel \(t.spec == nil ? t.name : "\(t.name) (peer \(t.peer))"): down: \(reason)"
                    + (t.connection.likelyCause.map { "; " + $0 } ?? ""))
                // The data path goes now, not after the close hold: a redial's new tunnel may take over the 4-tuple.
                if t.dataPathAttached { detachDataPath(id); t.dataPathAttached = false }
                // (After a lost tie break the peer's control connection, which we answer, is the one.)
                if reason != .lostTieBreak, let spec = t.opens, let i = config.tunnels.firstIndex(of: spec) {
                    scheduleRedial(i, now: now)
                }
            case .finished:
                teardown(id)
            case .authenticationFailed(let why):
                noteUnauthenticated(t.peer, "tunnel \(t.name): message from \(t.peer) dropped: \(why)",
                                    about: "messages dropped: \(why)", now: now)
            }
        }
    }

    /// Clears an established session whose data path could not be made: CDN 2 (general error), error 4
    /// (insufficient resources), with why.
    func clearForDataPath(_ sid: UInt32, on id: UInt32, _ why: String, now: Double) {
        guard let t = tunnels[id] else { return }
        let a = t.connection.closeSession(sid, .general(ResultCode.errorInsufficientResources, why, forSession: true), now: now)
        perform(a, on: id, now: now)
    }

    func detachDataPath(_ id: UInt32) {
        ppp?.removeTunnel(id)
        if config.version == .v3 { dataPath?.removeTunnel(tunnelID: id) }
    }

    /// Reaps pppds; a call whose pppd ended gets its CDN, with pppd's reason.
    func pollPPP(_ now: Double) {
        guard let ppp else { return }
        for e in ppp.poll(now: now) {
            statusDirty = true
            guard let t = tunnels[e.tunnelID] else { continue }
            let lost = e.reason.contains("LCP echo") || e.reason.contains("hung up")
            let result = ResultCode(lost ? 1 : 3, message: e.reason, forSession: true)
            let a = t.connection.closeSession(e.sessionID, result, now: now)
            perform(a, on: e.tunnelID, now: now)
        }
        if ppp.changed { statusDirty = true }
    }

    /// The pseudowires in use are those of every session in any state (a responder's claim in `acceptSession` has
    /// no name in `sessionNames` until the session is up, so the set is recomputed, not released by name).
    func reconcileClaims() {
        var names = Set<String>()
        for t in tunnels.values {
            for sid in t.connection.sessionIDs {
                if let info = t.connection.anySession(sid) { names.insert(String(decoding: info.remoteEndID, as: UTF8.self)) }
            }
        }
        registry.setPseudowires(names)
    }

    func teardown(_ id: UInt32) {
        guard let t = tunnels.removeValue(forKey: id) else { return }
        for sid in t.interfaces.keys { dataPath?.removeSession(tunnelID: id, sessionID: sid) }
        if t.dataPathAttached { detachDataPath(id) }
        reopen.removeAll { $0.tunnel == id }
        statusDirty = true
    }

    // MARK: Status

    /// Opens the status socket (`l2tp show` asks it); refuses to start when another agent answers there. A socket
    /// that cannot be made (a path too long for one) leaves `show` with the status file, and is said.
    func openStatusServer() throws {
        let path = config.resolvedStatusSocketPath
        if let other = Self.liveStatus(statusPath: config.resolvedStatusPath) {
            throw DataPathError("another L2TP agent (pid \(other["pid"] ?? "?")) answers on \(path): give this one another `name` or `status`")
        }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            statusServer = try StatusServer(path: path) { [weak self] in self?.statusJSON() ?? "" }
        } catch {
            warn("status socket: \(error); `l2tp show` reads the status file (written at most every \(statusInterval) s)")
        }
    }

    /// The status a running agent answers on the socket that goes with the status file `statusPath`; nil when no
    /// agent answers there.
    public static func liveStatus(statusPath: String) -> [String: Any]? {
        guard case .success(let r) = TunnelStatus.query(path: L2TPAgentConfig.statusSocketPath(forStatus: statusPath)) else {
            return nil
        }
        return try? JSONSerialization.jsonObject(with: Data(r.utf8)) as? [String: Any]
    }

    /// The status now, as `l2tp show` gets it from the socket.
    func statusJSON() -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: status(), options: [.sortedKeys]) else { return "" }
        return String(decoding: d, as: UTF8.self)
    }

    /// An agent that stops leaves no status behind: neither its socket nor its file.
    func removeStatus() {
        statusServer?.shutdown()
        statusServer = nil
        // Only a status file this agent made is removed; a `status` path that held something before it started (a
        // user's file, /dev/null, a link) is left as it is.
        let path = config.resolvedStatusPath
        var st = stat()
        if statusFileIsOurs, lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG { unlink(path) }
    }

    func writeStatusIfDue(_ now: Double) {
        guard statusDirty || now - lastStatus > 5, now - lastStatus >= statusInterval else { return }
        writeStatus(now)
    }

    /// The status as a JSON-ready value.
    public func status(now: Double = L2TPDaemon.now()) -> [String: Any] {
        var list: [[String: Any]] = []
        for (id, t) in tunnels.sorted(by: { $0.key < $1.key }) {
            let c = t.connection
            var sessions: [[String: Any]] = []
            for sid in c.sessionIDs {
                var s: [String: Any] = ["local_id": Int(sid), "state": c.sessionState(sid) ?? "?",
                                        "name": t.sessionNames[sid] ?? ""]
                if let info = c.session(sid) {
                    s["peer_id"] = Int(info.peerID)
                    s["cookie_bytes"] = info.cookie.count
                    s["peer_cookie_bytes"] = info.peerCookie.count
                    s["sublayer"] = info.l2SpecificSublayer == 1 ? "default" : "none"
                    s["sequencing"] = info.dataSequencing != 0
                }
                if let i = t.interfaces[sid] { s["interface"] = i }
                if let p = ppp?.status(tunnelID: id, sessionID: sid) { s.merge(p) { $1 } }
                if let k = dataPath?.counters(tunnelID: id, sessionID: sid) {
                    s["rx_packets"] = Int(k.rxPackets); s["rx_bytes"] = Int(k.rxBytes)
                    s["tx_packets"] = Int(k.txPackets); s["tx_bytes"] = Int(k.txBytes)
                    if !k.drops.isEmpty {
                        s["drops"] = Dictionary(k.drops.map { ($0.key.name, Int($0.value)) }, uniquingKeysWith: +)
                    }
                }
                sessions.append(s)
            }
            var e: [String: Any] = [
                "name": t.name, "local_id": Int(id), "peer_id": Int(c.peer.connectionID), "peer": "\(t.peer)",
                "local": "\(t.socket.local)", "peer_host": c.peer.hostName, "role": c.role == .initiator ? "initiator" : "responder",
                "state": c.state.name, "retransmits": c.reliable.counters.retransmits, "hellos": c.counters.hellos,
                "sent": c.counters.sent, "received": c.counters.received, "dropped": c.counters.dropped,
                "sessions": sessions, "data_plane": t.dataPathAttached ? dataPlaneName : "none",
            ]
            if let r = c.reliable.smoothedRTT { e["rtt_ms"] = (r * 1e5).rounded() / 100 }
            if let r = c.counters.helloRTT { e["hello_rtt_ms"] = (r * 1e5).rounded() / 100 }
            if let at = t.established { e["up_seconds"] = Int(now - at) }
            if let v = c.peer.vendorName { e["peer_vendor"] = v }
            list.append(e)
        }
        var extra: [String: Any] = [:]
        if let ppp, let pool = ppp.pool { extra["ppp_pool"] = ["range": "\(pool)", "free": pool.available] }
        return extra.merging(["name": config.name, "version": Int(config.version.rawValue), "data_plane": dataPlaneName,
                "pid": Int(getpid()), "listen": listeners.map { "\($0.local)" }, "tunnels": list, "dropped": dropped,
                "stopping": stopping]) { $1 }
    }

    /// The agent's counters as metric samples (on the loop's thread): per tunnel, per session, PPP calls, drops.
    func metricSamples() -> [MetricSample] {
        let agent = config.name
        var out: [MetricSample] = []
        var calls: [String: Int] = ["negotiating": 0, "up": 0]
        for (id, t) in tunnels.sorted(by: { $0.key < $1.key }) {
            let c = t.connection
            let tn = "\(t.name) \(id)"
            out.append(Families.l2tpTunnelUp.sample([agent, tn], c.state == .established ? 1 : 0))
            out.append(Families.l2tpSessionsUp.sample([agent, tn], c.sessionIDs.filter { c.sessionState($0) == "established" }.count))
            for (type, n) in c.counters.sent { out.append(Families.l2tpSent.sample([agent, tn, type], n)) }
            for (type, n) in c.counters.received { out.append(Families.l2tpReceived.sample([agent, tn, type], n)) }
            for (why, n) in c.counters.dropped { out.append(Families.l2tpDropped.sample([agent, tn, why], n)) }
            out.append(Families.l2tpRetransmits.sample([agent, tn], c.reliable.counters.retransmits))
            out.append(Families.l2tpHellos.sample([agent, tn], c.counters.hellos))
            for sid in c.sessionIDs {
                let sn = t.sessionNames[sid].map { $0.isEmpty ? "\(sid)" : "\($0) \(sid)" } ?? "\(sid)"
                var k = dataPath?.counters(tunnelID: id, sessionID: sid)
                if let call = ppp?.call(tunnelID: id, sessionID: sid) {
                    calls[call.up == nil ? "negotiating" : "up", default: 0] += 1
                    if k == nil, let p = ppp?.counters(of: call) { k = p }
                }
                guard let k else { continue }
                out.append(Families.l2tpSessionPackets.sample([agent, tn, sn, "rx"], k.rxPackets))
                out.append(Families.l2tpSessionPackets.sample([agent, tn, sn, "tx"], k.txPackets))
                out.append(Families.l2tpSessionBytes.sample([agent, tn, sn, "rx"], k.rxBytes))
                out.append(Families.l2tpSessionBytes.sample([agent, tn, sn, "tx"], k.txBytes))
                for r in DropReason.allCases { out.append(Families.l2tpSessionDrops.sample([agent, tn, sn, r.name], k.drops[r] ?? 0)) }
            }
        }
        if ppp != nil { for (state, n) in calls { out.append(Families.pppCalls.sample([agent, state], n)) } }
        for (why, n) in dropped { out.append(Families.l2tpUnattached.sample([agent, why], n)) }
        return out
    }

    func writeStatus(_ now: Double) {
        lastStatus = now
        statusDirty = false
        let started = Self.now()
        defer { statusCost = Self.now() - started }
        let path = config.resolvedStatusPath
        let value = status(now: now)
        // data(withJSONObject:) checks the value itself (and throws); isValidJSONObject first doubled the cost.
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted]) else {
            warn("status: cannot encode \(value)")
            return
        }
        // In Isthmus's own directory the file is replaced whole (a reader never sees half of it); a `status` path
        // elsewhere is the user's: written in place, never replaced (it may be /dev/null or a link).
        do {
            if OwnedFiles.isInside(path) { try OwnedFiles.replace(path, with: Array(data)) }
            else { try OwnedFiles.overwrite(path, with: Array(data), create: true) }
        } catch {
            if !statusWriteFailed { warn("status: \(error)") }
            statusWriteFailed = true
            return
        }
        statusWriteFailed = false
    }
}
