import Foundation
import Dataplane
import DataplaneWire
import IsthmusMetrics
import L2TPProtocol
import L2TPWire
import Netlink

/// The L2TP agent: runs every control connection of a config over UDP sockets in one poll loop, gives established
/// Ethernet pseudowires their data path, and on SIGTERM/SIGINT sends StopCCN and waits (briefly) for the
/// acknowledgements. What to do with each datagram and timer (routing, tie break, redial, the sessions to open) is
/// `L2TPEndpoint`'s, and the protocol `ControlConnection`'s: this is the poll loop and the executor of their actions
/// (sockets, data paths, pppd, status in DaemonStatus.swift, setup in DaemonSetup.swift).
public final class L2TPDaemon {
    public let config: L2TPAgentConfig
    /// Log lines (`ProcessLog`: stderr with time and level, or journald priorities under systemd).
    public var log: (String) -> Void = { ProcessLog.info("l2tp: " + $0) }
    /// Lines about something that failed (an error logged, the agent going on).
    public var warn: (String) -> Void = { ProcessLog.warning("l2tp: " + $0) }
    /// Where to serve Prometheus metrics (`l2tp run --metrics ADDR:PORT`), if anywhere.
    public var metrics: MetricsAddress?
    /// The metrics server, once running (its bound address: `metricsServer?.bound`).
    public internal(set) var metricsServer: MetricsServer?
    /// The data plane chosen for pseudowires (nil: control only).
    public internal(set) var dataPlaneName: String = "none"

    /// What the executor holds for a connection: its socket and what it gave the data path.
    final class Wire {
        let socket: ControlSocket
        var dataPathAttached = false
        /// Local session id → the interface its data path made.
        var interfaces: [UInt32: String] = [:]
        init(socket: ControlSocket) { self.socket = socket }
    }

    /// The connections, their routing and policy.
    var endpoint: L2TPEndpoint<UDPAddress>
    var wires: [UInt32: Wire] = [:]
    var listeners: [ControlSocket] = []
    var dataPath: L2TPDataPath?
    /// v2 with [l2tp.ppp]: pppd over the kernel's PPPoL2TP socket for every call.
    public internal(set) var ppp: PPPCalls?
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
        endpoint = L2TPEndpoint(Self.endpointConfiguration(config), now: Self.now())
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The connections by local id (the endpoint's).
    var tunnels: [UInt32: L2TPEndpoint<UDPAddress>.Connection] { endpoint.connections }
    /// Datagrams dropped before a connection took them, by reason name.
    public var dropped: [String: Int] { Dictionary(uniqueKeysWithValues: endpoint.dropped.map { ($0.key.name, $0.value) }) }
    var stopping: Bool { endpoint.stopping }

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
        // L2TP/IPsec: the IKE connections into charon (and require's filter) before the first datagram is read;
        // taken out again however the loop ends.
        let ipsec = try config.ipsec.map { try L2TPIPsecLoader(config: $0, agent: config, log: { [weak self] in self?.log($0) }) }
        defer { ipsec?.unload() }
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
            // (Timers run once a pass, after poll: a deadline already due makes poll return at once. Each look at the
            // deadlines costs O(sessions) per connection — ControlConnection.nextDeadline — so no pass looks twice.)
            if endpoint.isDone(now: Self.now()) { break }
            // Each socket with the connection it belongs to (a listener's data goes to the first, as it always did).
            let socks = listeners.map { ($0, UInt32?.none) } + wires.map { ($0.value.socket, Optional($0.key)) }
            var fds = socks.map { pollfd(fd: $0.0.fd, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0))
            let extras = extraFDs + served, extraBase = fds.count
            for e in extras { fds.append(pollfd(fd: e.fd, events: Int16(POLLIN), revents: 0)) }
            let streamBase = fds.count, streams = ppp?.streams ?? []
            for f in streams { fds.append(pollfd(fd: f, events: Int16(POLLIN) | (ppp?.wantsWrite(f) == true ? Int16(POLLOUT) : 0), revents: 0)) }
            let now = Self.now()
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
                for (i, s) in socks.enumerated() where fds[i].revents != 0 { drain(s.0, owner: s.1, now: t) }
            }
            timers(t)
            pollPPP(t)
            for line in authLog.summaries(now: t) { log(line) }
            writeStatusIfDue(t)
        }
        execute(endpoint.removeAll(), now: Self.now())
        // The pppds were told to stop with their calls; give them the time pollPPP allows, then SIGKILL.
        if let ppp {
            ppp.stopAll()
            let until = Self.now() + 4
            while ppp.running && Self.now() < until { _ = ppp.poll(now: Self.now()); usleep(50_000) }
        }
        log("\(config.name): stopped")
    }

    /// The endpoint's timers: dials, reopens, retransmissions and hellos.
    func timers(_ now: Double) {
        let due = endpoint.timeout(now: now)
        if !due.isEmpty { execute(due, now: now) }
    }

    func nextWake(_ now: Double) -> Double? {
        var d = endpoint.nextDeadline.map { [$0] } ?? []
        if statusDirty { d.append(lastStatus + statusInterval) }
        // pppd's exit and the link coming up are noticed by polling (waitpid, getifaddrs).
        if let ppp, ppp.running { d.append(now + (ppp.negotiating ? 0.2 : 0.5)) }
        return d.min()
    }

    /// Sends StopCCN on every tunnel and gives the acknowledgements up to 3 seconds.
    public func shutdown(now: Double) {
        guard !stopping else { return }
        log("\(config.name): shutting down, StopCCN to \(tunnels.count) peer\(tunnels.count == 1 ? "" : "s")")
        execute(endpoint.shutdown(now: now), now: now)
    }

    func drain(_ socket: ControlSocket, owner: UInt32?, now: Double) {
        // The userspace PPP plane's frames for pppd go in one write per call per drain.
        defer { if let ppp, !ppp.inKernel { ppp.flush() } }
        // The tunnel whose socket this is, for data messages (the userspace data plane's hot path: found once, and
        // the datagram handed over from the buffer without a copy).
        let owner = owner ?? tunnels.keys.first
        for _ in 0..<256 {
            guard let (n, from) = socket.receive(into: &buffer) else { return }
            let peek = buffer.withUnsafeBytes { L2TPPeek.udp(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            if let peek, !peek.isControl {
                let delivered: Bool? = buffer.withUnsafeBytes { b in
                    let d = UnsafeRawBufferPointer(rebasing: b[0..<n])
                    guard let owner else { return nil }
                    if peek.version == 2, let ppp, !ppp.inKernel { return ppp.deliver(tunnelID: owner, datagram: d) }
                    guard peek.version == 3, let dataPath else { return nil }
                    dataPath.deliver(tunnelID: owner, datagram: d)
                    return true
                }
                if delivered != true { endpoint.count(.dataWithoutSession); statusDirty = true }
                continue
            }
            route(Array(buffer[0..<n]), from: from, socket: socket, now: now)
        }
    }

    /// A control message (or anything too short to be data), from `from` on `socket`, to the endpoint.
    func route(_ d: [UInt8], from: UDPAddress?, socket: ControlSocket, now: Double) {
        statusDirty = true
        execute(endpoint.receive(d, from: from, local: UDPAddress(ip: socket.local.ip, port: socket.local.port), now: now), now: now)
    }

    // MARK: Actions

    /// Carries out the endpoint's actions in order (and what it answers to a socket or data path that failed).
    func execute(_ actions: [L2TPEndpoint<UDPAddress>.Action], now: Double) {
        var queue = actions[...]
        while let a = queue.popFirst() {
            statusDirty = true
            switch a {
            case .openSocket(let id, let local, let peer):
                do {
                    let s = try ControlSocket(local: local)
                    try s.connect(to: peer)
                    wires[id] = Wire(socket: s)
                } catch {
                    queue = endpoint.socketFailed(id, "\(error)", now: now)[...] + queue
                }
            case .send(let id, let bytes):
                if let w = wires[id], !w.socket.send(bytes) { endpoint.count(.sendFailed) }
            case .log(let line): log(line)
            case .warn(let line): warn(line)
            case .unauthenticated(let host, let line, let about):
                if let l = authLog.note("\(host)", line, about: about, now: now) { log(l) }
            case .attachTunnel(let id, let peerTunnelID):
                attachTunnel(id, peerTunnelID: peerTunnelID)
            case .detachTunnel(let id):
                if let w = wires[id], w.dataPathAttached { detachDataPath(id); w.dataPathAttached = false }
            case .callAnswered(let id, let info):
                // An LNS answering a PPP call starts pppd now (silent until the LAC's LCP arrives): the LAC's
                // first Configure-Request follows its ICCN at once, and a kernel session made only on the ICCN
                // would lose it (the LAC would retransmit only after its 3 s restart timer).
                guard let ppp, wires[id]?.dataPathAttached == true, let t = tunnels[id] else { continue }
                do {
                    try ppp.addSession(tunnelID: id, sessionID: info.localID, peerSessionID: info.peerID, lnsMode: true,
                                       name: "\(t.name) call from peer", silent: true, now: now)
                } catch {
                    warn("session \(info.localID): \(error); trying again when the call is connected")
                }
            case .sessionUp(let id, let info, let name):
                if let why = sessionUp(id, info, name: name, now: now) {
                    queue = endpoint.closeSession(info.localID, on: id, .general(ResultCode.errorInsufficientResources, why, forSession: true),
                                                  now: now)[...] + queue
                }
            case .sessionDown(let id, let sid):
                ppp?.removeSession(tunnelID: id, sessionID: sid)
                if wires[id]?.interfaces.removeValue(forKey: sid) != nil { dataPath?.removeSession(tunnelID: id, sessionID: sid) }
            case .removed(let id):
                guard let w = wires.removeValue(forKey: id) else { continue }
                for sid in w.interfaces.keys { dataPath?.removeSession(tunnelID: id, sessionID: sid) }
                if w.dataPathAttached { detachDataPath(id) }
            }
        }
    }

    /// Reaps pppds; a call whose pppd ended gets its CDN, with pppd's reason.
    func pollPPP(_ now: Double) {
        guard let ppp else { return }
        for e in ppp.poll(now: now) {
            statusDirty = true
            let lost = e.reason.contains("LCP echo") || e.reason.contains("hung up")
            execute(endpoint.closeSession(e.sessionID, on: e.tunnelID, ResultCode(lost ? 1 : 3, message: e.reason, forSession: true),
                                          now: now), now: now)
        }
        if ppp.changed { statusDirty = true }
    }
}
