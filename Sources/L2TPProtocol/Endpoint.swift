import L2TPWire

/// An address an `L2TPEndpoint` talks to: an IP address and a UDP port, with `host`, the IP address alone (the
/// simultaneous-open tie break matches peers by address only: a peer may open from another port than it listens on).
public protocol L2TPEndpointAddress: Hashable, Sendable, CustomStringConvertible {
    associatedtype Host: Hashable, Sendable, CustomStringConvertible
    var host: Host { get }
}

/// Why a datagram (or a message the agent meant to send) went nowhere: counted per reason, by these names, in the
/// status (`dropped`) and the metric `isthmus_l2tp_dropped_messages_total`. Messages a connection took and dropped
/// are its own counters (`ControlConnection.Counters.dropped`).
public enum L2TPDropReason: Int, CaseIterable, Sendable {
    /// Shorter than the control header.
    case tooShort
    /// For a connection id no connection here has.
    case unknownConnectionID
    /// For connection 0, in the version this agent does not speak.
    case wrongVersion
    /// For connection 0, without a source address to answer.
    case noSourceAddress
    /// For connection 0, and not an SCCRQ.
    case notSCCRQ
    /// An SCCRQ whose Message Digest does not verify.
    case badDigest
    /// An SCCRQ without a Message Digest, a secret being configured here.
    case missingDigest
    /// An SCCRQ whose hidden AVPs do not decode.
    case badHiddenLength
    /// An SCCRQ with hidden AVPs, and no secret here.
    case hiddenWithoutSecret
    /// An SCCRQ while the agent stops.
    case sccrqWhileStopping
    /// An SCCRQ, and the agent does not listen (it only initiates).
    case sccrqNotListening
    /// An SCCRQ while too many answered connections are not yet established.
    case tooManyPendingSCCRQ
    /// The peer's SCCRQ lost the tie break to ours.
    case lostTieBreakSCCRQ
    /// The socket to answer an SCCRQ (or to dial) could not be opened.
    case socketFailed
    /// The socket refused a message.
    case sendFailed
    /// A data message and no data path (or no session) for it.
    case dataWithoutSession

    /// The name in the status and the metric's `reason` label.
    public var name: String {
        switch self {
        case .tooShort: "too_short"
        case .unknownConnectionID: "unknown_connection_id"
        case .wrongVersion: "wrong_version"
        case .noSourceAddress: "no_source_address"
        case .notSCCRQ: "not_sccrq"
        case .badDigest: L2TPWireError.Reason.badDigest.name
        case .missingDigest: L2TPWireError.Reason.missingDigest.name
        case .badHiddenLength: L2TPWireError.Reason.badHiddenLength.name
        case .hiddenWithoutSecret: L2TPWireError.Reason.hiddenWithoutSecret.name
        case .sccrqWhileStopping: "sccrq_while_stopping"
        case .sccrqNotListening: "sccrq_not_listening"
        case .tooManyPendingSCCRQ: "too_many_pending_sccrq"
        case .lostTieBreakSCCRQ: "lost_tie_break_sccrq"
        case .socketFailed: "socket_failed"
        case .sendFailed: "send_failed"
        case .dataWithoutSession: "data_without_session"
        }
    }

    public init(_ failure: ControlConnection.AuthenticationFailure) {
        switch failure {
        case .badDigest: self = .badDigest
        case .missingDigest: self = .missingDigest
        case .hiddenAVP: self = .badHiddenLength
        case .hiddenWithoutSecret: self = .hiddenWithoutSecret
        }
    }
}

/// Every control connection of an L2TP agent, after quinn-proto's `Endpoint`: the table of connections by local
/// connection id, routing of datagrams to them, answering SCCRQs (authenticated first, bounded, with the
/// simultaneous-open tie break and the adoption of the losing tunnel's sessions), dialling and redialling with
/// back-off, the sessions to (re)open, and the policy for sessions the peer asks for. Pure like `ControlConnection`:
/// no I/O and no clock (time is a parameter); what is to be done comes back as `Action`s, in order, for the
/// caller (`L2TPDaemon`) to carry out with sockets, data paths and pppd.
public struct L2TPEndpoint<Address: L2TPEndpointAddress>: Sendable {
    /// A tunnel this side opens (a config `[[l2tp.tunnel]]`).
    public struct TunnelSpec: Equatable, Sendable {
        public var name: String
        /// nil: the address did not parse (`peerText`); the tunnel is never dialled.
        public var peer: Address?
        public var peerText: String
        /// The local address to bind (nil: it did not parse, `localText`; dialling fails and is retried).
        public var local: Address?
        public var localText: String
        public var redial: Bool = true
        public var redialMax: Double = 60
        public init(name: String, peer: Address?, peerText: String, local: Address?, localText: String,
                    redial: Bool = true, redialMax: Double = 60) {
            self.name = name; self.peer = peer; self.peerText = peerText; self.local = local; self.localText = localText
            self.redial = redial; self.redialMax = redialMax
        }
    }

    /// An L2TPv3 pseudowire, by name (its Remote End ID), opened by the side whose tunnel it names.
    public struct PseudowireSpec: Equatable, Sendable {
        public var name: String
        public var tunnel: String?
        public var ppp: Bool = false
        public var cookie: Int = 0
        public var sublayer: Bool = false
        public var sequencing: Bool = false
        public init(name: String, tunnel: String?, ppp: Bool = false, cookie: Int = 0, sublayer: Bool = false,
                    sequencing: Bool = false) {
            self.name = name; self.tunnel = tunnel; self.ppp = ppp; self.cookie = cookie; self.sublayer = sublayer
            self.sequencing = sequencing
        }
        var type: UInt16 { ppp ? PseudowireType.ppp : PseudowireType.ethernet }
    }

    /// An L2TPv2 call this side places over a tunnel.
    public struct CallSpec: Equatable, Sendable {
        public var tunnel: String
        public var number: String = ""
        public var outgoing: Bool = false
        public init(tunnel: String, number: String = "", outgoing: Bool = false) {
            self.tunnel = tunnel; self.number = number; self.outgoing = outgoing
        }
    }

    public struct Configuration: Sendable {
        /// Every connection's settings; `localID`, `sessionIDInUse` and `acceptSession` are the endpoint's to set,
        /// and `tieBreaker` too unless one is given here (then every SCCRQ carries it: for tests).
        public var connection: ControlConnection.Configuration
        /// Whether SCCRQs are answered (the agent has listeners).
        public var listening: Bool
        public var tunnels: [TunnelSpec] = []
        public var pseudowires: [PseudowireSpec] = []
        public var calls: [CallSpec] = []
        /// At most this many answered connections not yet established, in all and from one address.
        public var maxPendingResponders = 256, maxPendingPerAddress = 16
        /// How long after our SCCRQ to an address was answered an SCCRQ from there that loses the tie break to ours
        /// is taken for one the peer sent before it yielded, and dropped (see `isStaleLoser`).
        public var staleSCCRQWindow: Double = 10
        public init(connection: ControlConnection.Configuration, listening: Bool) {
            self.connection = connection; self.listening = listening
        }
        public var version: L2TPVersion { connection.version }
    }

    /// What the caller is to do, in this order.
    public enum Action: Equatable, Sendable {
        /// Open connection `id`'s socket: bound to `local`, connected to `peer` (before any `send` for it). If it
        /// cannot be opened, tell `socketFailed`.
        case openSocket(UInt32, local: Address, peer: Address)
        /// Send a datagram over connection `id`'s socket (if it refuses, count `.sendFailed`).
        case send(UInt32, [UInt8])
        /// A log line, and one about something that failed.
        case log(String)
        case warn(String)
        /// A peer's message dropped unanswered (authentication): a line to log, rate-limited per host.
        case unauthenticated(host: Address.Host, line: String, about: String)
        /// Connection `id` is established: give it its data path (PPP or pseudowires), if the agent has one.
        case attachTunnel(UInt32, peerTunnelID: UInt32)
        /// Connection `id` is closed: its data path goes now (a redial may take over the 4-tuple).
        case detachTunnel(UInt32)
        /// v2: we answered an incoming call on `id` (an LNS may start pppd now, silent until the LAC's LCP).
        case callAnswered(UInt32, SessionInfo)
        /// A session is up, named `name` (a pseudowire's, or "call N"): give it its data path or pppd.
        case sessionUp(UInt32, SessionInfo, name: String)
        /// A session is down: its data path or pppd goes.
        case sessionDown(UInt32, localID: UInt32)
        /// Connection `id` is gone: close its socket; whatever data path it still had goes.
        case removed(UInt32)
    }

    /// A control connection and what the endpoint knows about it.
    public struct Connection: Sendable {
        public internal(set) var name: String
        public internal(set) var connection: ControlConnection
        public let peer: Address
        public let local: Address
        /// The config tunnel this side opened it for (index into `Configuration.tunnels`).
        public let spec: Int?
        /// The config tunnel whose SCCRQ lost the tie break to the peer's, answered by this connection: its calls and
        /// pseudowires are opened over this one, and it is dialled again if this one fails.
        public internal(set) var adopted: Int?
        /// The config tunnel whose sessions this side opens over the connection.
        public var opens: Int? { spec ?? adopted }
        /// Local session id → pseudowire name (or "call N").
        public internal(set) var sessionNames: [UInt32: String] = [:]
        public internal(set) var established: Double?
        /// When each session came up (a call that stayed up 30 s resets its redial back-off).
        var sessionUp: [UInt32: Double] = [:]
    }

    /// The session ids and pseudowires in use, read by the connections' policy closures. The closures run only
    /// inside this endpoint's own calls, on the caller's one thread: no lock.
    final class Claims: @unchecked Sendable {
        var sessionIDs: Set<UInt32> = []
        var pseudowires: Set<String> = []
        var random: any RandomNumberGenerator & Sendable
        init(random: any RandomNumberGenerator & Sendable) { self.random = random }
        func claim(_ name: String) -> Bool { pseudowires.insert(name).inserted }
    }

    public let configuration: Configuration
    public private(set) var connections: [UInt32: Connection] = [:]
    /// Datagrams dropped before a connection took them, by reason.
    public private(set) var dropped: [L2TPDropReason: Int] = [:]
    public private(set) var stopping = false
    public private(set) var stopDeadline: Double?
    /// Tunnels to (re)open: config index → when; and the back-off in force.
    public private(set) var dialAt: [Int: Double] = [:]
    public private(set) var backoff: [Int: Double] = [:]
    /// Calls (v2) to place again: the back-off in force, by call index.
    public private(set) var callBackoff: [Int: Double] = [:]
    /// Sessions to (re)open over a connection once it is up: (connection, pseudowire or call index, when).
    public private(set) var reopen: [(connection: UInt32, item: Int, at: Double)] = []
    var random: any RandomNumberGenerator & Sendable
    let claims: Claims
    /// The configured pseudowires by name (the first of a name): the accept-session policy looks each ICRQ's Remote
    /// End ID up here rather than walking the list (with 1,000 pseudowires, a walk per ICRQ was a quarter of a
    /// responder's CPU).
    let pseudowireIndex: [String: Int]
    /// A session closed since the claims were last recomputed (see `settleClaims`).
    var claimsStale = false

    /// An endpoint that dials each configured tunnel at `now`.
    public init(_ configuration: Configuration, now: Double,
                random: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
        self.configuration = configuration
        var index: [String: Int] = [:]
        for (i, pw) in configuration.pseudowires.enumerated() where index[pw.name] == nil { index[pw.name] = i }
        pseudowireIndex = index
        var r = random
        claims = Claims(random: Self.fork(&r))
        self.random = r
        for i in configuration.tunnels.indices { dialAt[i] = now }
    }

    /// A generator for a connection or the claims, drawn from `random` (the system's stays the system's).
    static func fork(_ random: inout any RandomNumberGenerator & Sendable) -> any RandomNumberGenerator & Sendable {
        random is SystemRandomNumberGenerator ? random : SplitMix(state: random.next())
    }

    var version: L2TPVersion { configuration.version }

    /// When `timeout` next has something to do.
    public var nextDeadline: Double? {
        var d = stopDeadline
        for c in connections.values { d = earliest(d, c.connection.nextDeadline) }
        if !stopping { for at in dialAt.values { d = earliest(d, at) } }
        for r in reopen { d = earliest(d, r.at) }
        return d
    }

    /// Whether a stopping endpoint is done: every connection gone, or its deadline passed.
    public func isDone(now: Double) -> Bool { stopping && (connections.isEmpty || now >= (stopDeadline ?? now)) }

    /// Counts a datagram dropped by the caller before it got here (e.g. `.dataWithoutSession`, `.sendFailed`).
    public mutating func count(_ reason: L2TPDropReason) { dropped[reason, default: 0] += 1 }

    // MARK: Events

    /// The timers: tunnels to dial, sessions to reopen, every connection's retransmissions and hellos.
    public mutating func timeout(now: Double) -> [Action] {
        var out: [Action] = []
        if !stopping {
            for (i, at) in dialAt.sorted(by: { $0.key < $1.key }) where at <= now {
                dialAt[i] = nil
                dial(i, now: now, into: &out)
            }
        }
        let due = reopen.filter { $0.at <= now }
        reopen.removeAll { $0.at <= now }
        for r in due { open(item: r.item, on: r.connection, now: now, into: &out) }
        for id in connections.keys.sorted() where (connections[id]?.connection.nextDeadline ?? .infinity) <= now {
            // In place: through a copy, the first change to its sessions copied all of them (CoW).
            guard let a = connections[id]?.connection.timeout(now: now) else { continue }
            handle(a, on: id, now: now, into: &out)
        }
        return out
    }

    /// A control datagram (or anything too short to be data) from `from`, received on a socket bound to `local`:
    /// to the connection its header names or, for an SCCRQ, to a new responder connection. Data messages are the
    /// data path's: the caller sends them there (see `L2TPPeek`).
    public mutating func receive(_ d: [UInt8], from: Address?, local: Address, now: Double) -> [Action] {
        var out: [Action] = []
        guard let peek = L2TPPeek.udp(d), d.count >= ControlHeader.size else { count(.tooShort); return out }
        guard peek.isControl, let id = peek.connectionID else { count(.dataWithoutSession); return out }
        if id != 0 {
            guard connections[id] != nil else { count(.unknownConnectionID); return out }
            guard let a = connections[id]?.connection.receive(d, now: now) else { return out }
            handle(a, on: id, now: now, into: &out)
            return out
        }
        answer(d, version: peek.version, from: from, local: local, now: now, into: &out)
        return out
    }

    /// The socket for connection `id` could not be opened (`why`): the connection goes, a dial is retried.
    public mutating func socketFailed(_ id: UInt32, _ why: String, now: Double) -> [Action] {
        guard let c = connections.removeValue(forKey: id) else { return [] }
        reopen.removeAll { $0.connection == id }
        var out: [Action] = [.removed(id)]
        if let i = c.spec {
            out.append(.warn("tunnel \(c.name): \(why); retrying"))
            scheduleRedial(i, now: now, into: &out)
        } else {
            count(.socketFailed)
            out.append(.warn("cannot answer SCCRQ from \(c.peer): \(why)"))
        }
        return out
    }

    /// Clears session `sid` of connection `id` with `result` (pppd ended, the data path could not be made).
    public mutating func closeSession(_ sid: UInt32, on id: UInt32, _ result: ResultCode, now: Double) -> [Action] {
        var out: [Action] = []
        guard let a = connections[id]?.connection.closeSession(sid, result, now: now) else { return out }
        handle(a, on: id, now: now, into: &out)
        return out
    }

    /// Sends StopCCN on every connection; `isDone` gives the acknowledgements up to 3 seconds.
    public mutating func shutdown(now: Double) -> [Action] {
        guard !stopping else { return [] }
        stopping = true
        stopDeadline = now + 3
        var out: [Action] = []
        for id in connections.keys.sorted() {
            guard let a = connections[id]?.connection.stop(.shuttingDown, now: now) else { continue }
            handle(a, on: id, now: now, into: &out)
        }
        return out
    }

    /// Forgets every connection (the agent stops).
    public mutating func removeAll() -> [Action] {
        var out: [Action] = []
        for id in connections.keys.sorted() { remove(id, into: &out) }
        return out
    }

    // MARK: Answering

    mutating func answer(_ d: [UInt8], version: UInt8, from: Address?, local: Address, now: Double, into out: inout [Action]) {
        guard version == self.version.rawValue else { return count(.wrongVersion) }
        guard let from else { return count(.noSourceAddress) }
        // Authenticated before anything exists for it: an SCCRQ whose digest does not verify (or whose hidden AVPs
        // do not decode) is dropped here, counted and logged (rate-limited), and leaves no connection or socket.
        let ident: (peerID: UInt32, tieBreaker: UInt64?)
        switch ControlConnection.screenSCCRQ(d, secret: configuration.connection.secret) {
        case .notSCCRQ: return count(.notSCCRQ)
        case .unauthenticated(let why):
            count(L2TPDropReason(why))
            out.append(.unauthenticated(host: from.host, line: "SCCRQ from \(from) dropped: \(why)", about: "SCCRQs dropped: \(why)"))
            return
        case .sccrq(_, let peerID, let tieBreaker): ident = (peerID, tieBreaker)
        }
        // A retransmitted SCCRQ: the connection already answering it takes it.
        if let (tid, _) = connections.first(where: { $0.value.peer == from && $0.value.spec == nil
                                                     && $0.value.connection.peer.connectionID == ident.peerID }) {
            guard let a = connections[tid]?.connection.receive(d, now: now) else { return }
            return handle(a, on: tid, now: now, into: &out)
        }
        if stopping { return count(.sccrqWhileStopping) }
        guard configuration.listening else { return count(.sccrqNotListening) }
        // Connections being set up are not authenticated yet (v2 proves the secret only in SCCCN; without a secret
        // nothing is proved): they time out, but a flood of SCCRQs must not hold a socket each meanwhile.
        let pending = connections.values.filter {
            $0.spec == nil && ($0.connection.state == .idle || $0.connection.state == .waitConnect)
        }
        let (most, perAddress) = (configuration.maxPendingResponders, configuration.maxPendingPerAddress)
        if pending.count >= most || pending.filter({ $0.peer.host == from.host }).count >= perAddress {
            count(.tooManyPendingSCCRQ)
            out.append(.unauthenticated(host: from.host, line: "SCCRQ from \(from) dropped: \(pending.count) connections are being set up "
                                        + "(at most \(perAddress) per address, \(most) in all)",
                                        about: "SCCRQs dropped: too many connections being set up"))
            return
        }
        // Both ends opening at once: the tie breaker picks one (RFC 2661 §4.4.3, RFC 3931 §5.4.3). Peers are
        // matched by address only: a peer may open from another port than the one it listens on.
        if isStaleLoser(ident.tieBreaker, from: from, now: now) { return count(.lostTieBreakSCCRQ) }
        var adopt: Int?
        if let (tid, t) = connections.first(where: { $0.value.peer.host == from.host && $0.value.connection.pendingTieBreaker != nil }) {
            switch ControlConnection.tieBreak(ours: t.connection.pendingTieBreaker, theirs: ident.tieBreaker) {
            case .keepOurs:
                return count(.lostTieBreakSCCRQ)
            case .yieldToPeer, .bothDiscard:
                out.append(.log("tunnel \(t.name): the peer's SCCRQ wins the tie break; answering it instead, and opening this tunnel's sessions over it"))
                adopt = t.spec
                if let a = connections[tid]?.connection.yield(now: now) { handle(a, on: tid, now: now, into: &out) }
            }
        }
        // A connection from the same address and port still held after its StopCCN (to acknowledge retransmissions)
        // is over: the peer has moved on. Its connected socket must go now, or the kernel could deliver the new
        // tunnel's datagrams to it (two connected sockets with one 4-tuple), and the new tunnel's data would be lost.
        for (tid, old) in connections.sorted(by: { $0.key < $1.key })
        where old.peer == from && (old.connection.state == .closing || old.connection.state == .closed) {
            remove(tid, into: &out)
        }
        let localID = allocateID()
        var c = Connection(name: "\(from)", connection: makeConnection(localID, role: .responder), peer: from,
                           local: local, spec: nil)
        c.adopted = adopt
        connections[localID] = c
        out.append(.openSocket(localID, local: local, peer: from))
        guard let a = connections[localID]?.connection.receive(d, now: now) else { return }
        handle(a, on: localID, now: now, into: &out)
        // An SCCRQ the connection did not take (nothing answered it) leaves nothing behind.
        if connections[localID]?.connection.state == .idle { remove(localID, into: &out) }
    }

    /// An SCCRQ that loses the tie break to the SCCRQ with which we opened a connection to the same address, arriving
    /// within `staleSCCRQWindow` of the peer's answer to ours: the peer sent it before it saw ours, and has yielded
    /// since (it answered ours), but the copy (a retransmission) was already on its way. Answering it would make a
    /// second tunnel whose answer goes to a connection the peer no longer has: it would retransmit into nothing and
    /// fail as unreachable half a minute later. (An SCCRQ without a tie breaker is from a peer that does not break
    /// ties: never stale.)
    func isStaleLoser(_ theirs: UInt64?, from: Address, now: Double) -> Bool {
        guard theirs != nil else { return false }
        return connections.values.contains { c in
            guard c.spec != nil, c.peer.host == from.host, c.connection.state == .established, let up = c.established,
                  now - up <= configuration.staleSCCRQWindow else { return false }
            return ControlConnection.tieBreak(ours: c.connection.configuration.tieBreaker, theirs: theirs) == .keepOurs
        }
    }

    // MARK: Initiating

    mutating func dial(_ index: Int, now: Double, into out: inout [Action]) {
        let spec = configuration.tunnels[index]
        guard let peer = spec.peer else { return out.append(.warn("tunnel \(spec.name): bad peer address \(spec.peerText)")) }
        guard let local = spec.local else {
            out.append(.warn("tunnel \(spec.name): bad local address \(spec.localText); retrying"))
            return scheduleRedial(index, now: now, into: &out)
        }
        let id = allocateID()
        connections[id] = Connection(name: spec.name, connection: makeConnection(id, role: .initiator), peer: peer,
                                     local: local, spec: index)
        out.append(.log("tunnel \(spec.name): SCCRQ to \(peer) (our id \(id))"))
        out.append(.openSocket(id, local: local, peer: peer))
        guard let a = connections[id]?.connection.start(now: now) else { return }
        handle(a, on: id, now: now, into: &out)
    }

    /// Dials tunnel `index` again after the back-off: 1 s, doubling up to its `redialMax`; reset when it comes up.
    mutating func scheduleRedial(_ index: Int, now: Double, into out: inout [Action]) {
        let spec = configuration.tunnels[index]
        guard spec.redial, !stopping else { return }
        let b = min(max((backoff[index] ?? 0.5) * 2, 1), spec.redialMax)
        backoff[index] = b
        dialAt[index] = now + b
        out.append(.log("tunnel \(spec.name): redial in \(Self.seconds(b)) s"))
    }

    /// The pseudowires (v3) or calls (v2) this side opens over config tunnel `index`.
    func items(for index: Int) -> [Int] {
        let name = configuration.tunnels[index].name
        return version == .v3 ? configuration.pseudowires.indices.filter { configuration.pseudowires[$0].tunnel == name }
                              : configuration.calls.indices.filter { configuration.calls[$0].tunnel == name }
    }

    mutating func open(item: Int, on id: UInt32, now: Double, into out: inout [Action]) {
        guard connections[id]?.connection.state == .established, !stopping else { return }
        settleClaims()
        var options = SessionOptions()
        let name: String
        if version == .v3 {
            let pw = configuration.pseudowires[item]
            guard claims.claim(pw.name) else { return }   // already up (the peer opened it)
            name = pw.name
            options.remoteEndID = Array(pw.name.utf8)
            options.pseudowireType = pw.type
            options.cookie = (0..<pw.cookie).map { _ in UInt8.random(in: 0...255, using: &random) }
            options.l2SpecificSublayer = pw.sublayer ? 1 : 0
            options.dataSequencing = pw.sequencing ? 2 : 0
            options.tieBreaker = random.next()
        } else {
            name = "call \(item)"
            options.number = configuration.calls[item].number
            options.outgoing = configuration.calls[item].outgoing
        }
        guard let (sid, a) = connections[id]?.connection.openSession(options, now: now) else {   // in place
            if version == .v3 { claims.pseudowires.remove(name) }
            return
        }
        claims.sessionIDs.insert(sid)
        connections[id]?.sessionNames[sid] = name
        handle(a, on: id, now: now, into: &out)
    }

    // MARK: What a connection did

    mutating func handle(_ actions: [ControlConnection.Action], on id: UInt32, now: Double, into out: inout [Action]) {
        let version = self.version
        defer { settleClaims() }
        for a in actions {
            // Only what the lines need, not the connection: a copy held while its sessions change copies them all.
            guard let t = connections[id].map(Summary.init) else { return }
            switch a {
            case .send(let bytes):
                out.append(.send(id, bytes))
            case .established(let peer):
                connections[id]?.established = now
                if t.spec == nil { connections[id]?.name = "\(t.peer) \(peer.hostName)" }
                let name = connections[id]?.name ?? t.name
                out.append(.log("tunnel \(name): established, peer \"\(peer.hostName)\" id \(peer.connectionID), our id \(id)"))
                if let i = t.opens { backoff[i] = nil }
                out.append(.attachTunnel(id, peerTunnelID: peer.connectionID))
                if let i = t.opens { for item in items(for: i) { open(item: item, on: id, now: now, into: &out) } }
            case .sessionAnswered(let info):
                if version == .v2, !info.outgoing { out.append(.callAnswered(id, info)) }
            case .sessionEstablished(let info):
                claims.sessionIDs.insert(info.localID)
                if connections[id]?.sessionNames[info.localID] == nil {
                    connections[id]?.sessionNames[info.localID] = version == .v3 ? String(decoding: info.remoteEndID, as: UTF8.self)
                                                     : info.outgoing ? "outgoing call from peer" : "call from peer"
                }
                let name = connections[id]?.sessionNames[info.localID] ?? "?"
                out.append(.log("tunnel \(t.name): session \(name) up (ids \(info.localID)/\(info.peerID))"))
                connections[id]?.sessionUp[info.localID] = now
                out.append(.sessionUp(id, info, name: name))
            case .sessionClosed(let sid, let result, let byPeer):
                let name = connections[id]?.sessionNames.removeValue(forKey: sid) ?? "\(sid)"
                out.append(.log("tunnel \(t.name): session \(name) down: \(byPeer ? "peer sent CDN" : "cleared here:") \(result)"))
                claims.sessionIDs.remove(sid)
                let lasted = connections[id]?.sessionUp.removeValue(forKey: sid).map { now - $0 } ?? 0
                if version == .v3 { claimsStale = true }
                out.append(.sessionDown(id, localID: sid))
                if let spec = t.opens, !stopping, connections[id]?.connection.state == .established {
                    if version == .v3 {
                        let tunnel = configuration.tunnels[spec].name
                        if let item = pseudowireIndex[name], configuration.pseudowires[item].tunnel == tunnel {
                            reopen.append((id, item, now + 1))
                        }
                    } else if name.hasPrefix("call "), let item = Int(name.dropFirst(5)) {
                        // Calls back off (1 s doubling to the tunnel's redial_max) unless the last one stayed up 30 s.
                        let b = lasted >= 30 ? 1 : min(max((callBackoff[item] ?? 0.5) * 2, 1), configuration.tunnels[spec].redialMax)
                        callBackoff[item] = b
                        reopen.append((id, item, now + b))
                        if b > 1 { out.append(.log("tunnel \(t.name): \(name) again in \(Self.seconds(b)) s")) }
                    }
                }
            case .linkInfo, .wanError, .circuitStatus:
                out.append(.log("tunnel \(t.name): \(a)"))
            case .closed(let reason):
                // Every session's sessionClosed came first (names, claims, data paths are gone with them).
                // (A tunnel this side opened is named by its config entry: the line names the peer too.)
                out.append(.log("tunnel \(t.spec == nil ? t.name : "\(t.name) (peer \(t.peer))"): down: \(reason)"
                                + (connections[id]?.connection.likelyCause.map { "; " + $0 } ?? "")))
                // The data path goes now, not after the close hold: a redial's new tunnel may take over the 4-tuple.
                out.append(.detachTunnel(id))
                // (After a lost tie break the peer's control connection, which we answer, is the one.)
                if reason != .lostTieBreak, let i = t.opens { scheduleRedial(i, now: now, into: &out) }
            case .finished:
                remove(id, into: &out)
            case .authenticationFailed(let why):
                out.append(.unauthenticated(host: t.peer.host, line: "tunnel \(t.name): message from \(t.peer) dropped: \(why)",
                                            about: "messages dropped: \(why)"))
            }
        }
    }

    /// A connection's name, addresses and config tunnels.
    struct Summary {
        let name: String, peer: Address, spec: Int?, opens: Int?
        init(_ c: Connection) { name = c.name; peer = c.peer; spec = c.spec; opens = c.opens }
    }

    mutating func remove(_ id: UInt32, into out: inout [Action]) {
        guard connections.removeValue(forKey: id) != nil else { return }
        reopen.removeAll { $0.connection == id }
        out.append(.removed(id))
    }

    /// Recomputes the pseudowire claims if a session closed since they were last computed: once per batch of a
    /// connection's actions, not once per closed session (a StopCCN closes them all; recomputing walks every
    /// session, so per session it made tearing 1,000 down quadratic).
    mutating func settleClaims() {
        guard claimsStale else { return }
        claimsStale = false
        reconcileClaims()
    }

    /// The pseudowires in use are those of every session in any state (a responder's claim in `acceptSession` has
    /// no name in `sessionNames` until the session is up, so the set is recomputed, not released by name).
    func reconcileClaims() {
        var names = Set<String>()
        for t in connections.values {
            for sid in t.connection.sessionIDs {
                if let info = t.connection.anySession(sid) { names.insert(String(decoding: info.remoteEndID, as: UTF8.self)) }
            }
        }
        claims.pseudowires = names
    }

    // MARK: Connections

    mutating func allocateID() -> UInt32 {
        while true {
            let v = UInt32(truncatingIfNeeded: random.next())
            let id = version == .v2 ? v & 0xffff : v
            if id != 0, connections[id] == nil { return id }
        }
    }

    mutating func makeConnection(_ localID: UInt32, role: ControlConnection.Role) -> ControlConnection {
        var c = configuration.connection
        c.localID = localID
        c.tieBreaker = configuration.connection.tieBreaker ?? random.next()
        let claims = claims
        c.sessionIDInUse = { claims.sessionIDs.contains($0) }
        let (version, pseudowires, index) = (configuration.version, configuration.pseudowires, pseudowireIndex)
        c.acceptSession = { Self.decide($0, version: version, pseudowire: { index[$0].map { pseudowires[$0] } }, claims: claims) }
        return ControlConnection(c, role: role, random: Self.fork(&random))
    }

    /// The accept-session policy: v2 takes every call; v3 a pseudowire configured here by the Remote End ID's name,
    /// of the type and sublayer asked for, not already up (then claimed), with a random cookie of its length.
    static func decide(_ request: SessionRequest, version: L2TPVersion, pseudowire: (String) -> PseudowireSpec?,
                       claims: Claims) -> SessionDecision {
        if version == .v2 { return .accept(cookie: []) }
        let name = String(decoding: request.remoteEndID, as: UTF8.self)
        guard let pw = pseudowire(name) else {
            return .reject(.invalidDestination("no pseudowire \"\(name)\" is configured here"))
        }
        guard request.pseudowireType == pw.type else {
            return .reject(ResultCode(14, message: "pseudowire \"\(name)\" is configured with type = \"\(pw.ppp ? "ppp" : "ethernet")\" here",
                                      forSession: true))
        }
        guard request.l2SpecificSublayer == (pw.sublayer ? 1 : 0) else {
            return .reject(.general(ResultCode.errorOutOfRange,
                                    "pseudowire \"\(name)\" is configured with sublayer = \"\(pw.sublayer ? "default" : "none")\" here",
                                    forSession: true))
        }
        guard claims.claim(name) else { return .reject(.permanentLackOfFacilities("pseudowire \"\(name)\" is already up")) }
        return .accept(cookie: (0..<pw.cookie).map { _ in UInt8.random(in: 0...255, using: &claims.random) })
    }

    /// Seconds as the log says them ("1", "2.5"), without Foundation's formatting.
    static func seconds(_ s: Double) -> String {
        s == s.rounded() && abs(s) < 1e15 ? String(Int(s)) : String(s)
    }
}

/// SplitMix64: the generator a seeded endpoint hands each connection (its output stays reproducible).
struct SplitMix: RandomNumberGenerator, Sendable {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
