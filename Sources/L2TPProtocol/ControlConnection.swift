import L2TPWire

/// One L2TP control connection (a v2 tunnel or a v3 control connection) and its sessions, as a value: datagrams
/// and time go in, datagrams to send and events come out (RFC 2661 §5, §7; RFC 3931 §3.3, §7).
///
///     initiator:  idle ──start: SCCRQ──▶ waitReply ──SCCRP: SCCCN──▶ established
///     responder:  idle ──SCCRQ: SCCRP──▶ waitConnect ──SCCCN──▶ established
///     any:        ──stop: StopCCN──▶ closing ──acked──▶ closed      ──peer StopCCN──▶ closing (hold) ──▶ closed
///                 ──retransmissions exhausted (HELLO included)──▶ closed
///
///     session, requester:  ICRQ ─▶ waitReply ──ICRP: ICCN──▶ established     (v2 LNS: OCRQ ─▶ OCRP ─▶ OCCN)
///     session, responder:  ICRQ: ICRP ─▶ waitConnect ──ICCN──▶ established   (v2 LAC: OCRQ: OCRP, OCCN)
///
/// Reliable delivery is `ReliableDelivery`; authentication is v3's Message Digest (every message but ZLBs, which
/// only acknowledge; an ACK message carries the digest when one is due) or v2's Challenge/Challenge Response.
/// Hostile datagrams are dropped and counted by reason (`counters.dropped`); messages that are well framed but
/// carry an unknown mandatory AVP end their session (CDN) or the connection (StopCCN), as RFC 3931 §5.2 says.
public struct ControlConnection: Sendable {
    public enum Role: Sendable, Equatable {
        /// Sends SCCRQ.
        case initiator
        /// Answers an SCCRQ.
        case responder
    }

    public enum State: Sendable, Equatable {
        case idle, waitReply, waitConnect, established, closing, closed

        public var name: String {
            switch self {
            case .idle: "idle"
            case .waitReply: "wait-ctl-reply"
            case .waitConnect: "wait-ctl-conn"
            case .established: "established"
            case .closing: "closing"
            case .closed: "closed"
            }
        }
    }

    public struct Configuration: Sendable {
        public var version: L2TPVersion
        public var transport: L2TPTransport = .udp
        /// Our v2 Assigned Tunnel ID (16 bits) or v3 Assigned Control Connection ID; non-zero.
        public var localID: UInt32
        public var hostName: String
        public var vendorName: String = "Isthmus"
        /// v3 Router ID (RFC 3931 §5.4.3).
        public var routerID: UInt32 = 0
        /// The shared secret: v3 Message Digest on every message, v2 Challenge/Response and AVP hiding.
        public var secret: [UInt8]?
        /// A second secret also accepted while both ends switch (v3).
        public var previousSecret: [UInt8]?
        /// v3 digest algorithm to send.
        public var digest: DigestAlgorithm = .hmacMD5
        /// v2 with a secret: challenge the peer (it must prove the secret in SCCRP/SCCCN).
        public var challenge: Bool = true
        /// v2 with a secret: hide the Assigned Tunnel/Session IDs and Call Serial Numbers (RFC 2661 §4.3).
        public var hideAVPs: Bool = false
        /// Send HELLO after this long without a message from the peer (RFC 2661 §6.5: 60 s is typical).
        public var helloInterval: Double = 60
        /// Retransmission settings; `receiveWindow` is the window we announce.
        public var reliability = ReliableDelivery<Carried>.Configuration()
        /// v3 Pseudowire Capabilities List: the types we accept.
        public var pseudowires: [UInt16] = [PseudowireType.ethernet]
        /// v2 Framing and Bearer Capabilities.
        public var framingCapabilities: UInt32 = 3
        public var bearerCapabilities: UInt32 = 0
        /// v2/v3 Control Connection Tie Breaker sent in SCCRQ (RFC 2661 §4.4.3, RFC 3931 §5.4.3).
        public var tieBreaker: UInt64?
        /// How long state is kept after the peer's StopCCN, to acknowledge its retransmissions (RFC 2661 §5.7).
        public var closeHold: Double = 31
        /// A session not established within this long is cleared (CDN result 10).
        public var sessionSetupTimeout: Double = 60
        /// Most sessions at once; more get CDN result 4.
        public var maxSessions: Int = 65535
        /// Whether a local session id is already used elsewhere on the host (v3 ids share one kernel space).
        public var sessionIDInUse: @Sendable (UInt32) -> Bool = { _ in false }
        /// The responder's policy for session requests.
        public var acceptSession: @Sendable (SessionRequest) -> SessionDecision = { _ in .accept(cookie: []) }

        public init(version: L2TPVersion, localID: UInt32, hostName: String) {
            self.version = version; self.localID = localID; self.hostName = hostName
        }

        /// The longest a dead peer can go unnoticed: the HELLO interval and every retransmission of the HELLO.
        public var deadPeerTimeout: Double {
            var t = helloInterval, rto = reliability.initialTimeout
            for _ in 0...reliability.maxRetransmits {
                t += rto
                rto = min(rto * 2, reliability.maxTimeout)
            }
            return t
        }
    }

    /// What the peer told us in its SCCRQ/SCCRP.
    public struct Peer: Equatable, Sendable {
        public var connectionID: UInt32 = 0
        public var hostName: String = ""
        public var vendorName: String?
        public var routerID: UInt32?
        public var firmware: UInt16?
        public var receiveWindow: UInt16 = 4
        public var pseudowires: [UInt16] = []
        public var framingCapabilities: UInt32?
        public var bearerCapabilities: UInt32?
        public var tieBreaker: UInt64?
    }

    /// Why the connection went down.
    public enum CloseReason: Equatable, Sendable, CustomStringConvertible {
        /// We sent StopCCN with this result.
        case local(ResultCode)
        /// The peer sent StopCCN.
        case peer(ResultCode)
        /// Retransmissions were exhausted (a HELLO included: the peer is dead).
        case unreachable(retransmits: Int)
        /// The peer's SCCRQ won the tie break; this initiator gave way.
        case lostTieBreak

        public var description: String {
            switch self {
            case .local(let r): "we sent StopCCN \(r)"
            case .peer(let r): "peer sent StopCCN \(r)"
            case .unreachable(let n): "peer unreachable (\(n) retransmissions unacknowledged)"
            case .lostTieBreak: "lost the tie break to the peer's SCCRQ"
            }
        }
    }

    public enum Action: Equatable, Sendable {
        /// Send this datagram to the peer.
        case send([UInt8])
        /// The control connection is up.
        case established(Peer)
        /// An incoming call was answered (ICRP queued), before its ICCN: the answering side may prepare the data
        /// path now, since the caller's first data messages can follow its ICCN at once (a PPP LAC's first LCP
        /// Configure-Request does). `sessionEstablished` or `sessionClosed` follows.
        case sessionAnswered(SessionInfo)
        /// A session is up.
        case sessionEstablished(SessionInfo)
        /// A session went down (its data path must go), by the peer's CDN or ours.
        case sessionClosed(localID: UInt32, ResultCode, byPeer: Bool)
        /// v2 Set-Link-Info from the LNS: the PPP ACCM.
        case linkInfo(localID: UInt32, send: UInt32, receive: UInt32)
        /// WAN-Error-Notify from the LAC.
        case wanError(localID: UInt32, CallErrors)
        /// v3 Set-Link-Info: the peer's circuit went (in)active.
        case circuitStatus(localID: UInt32, active: Bool)
        /// The connection is down; every session is closed (their `sessionClosed` came first).
        case closed(CloseReason)
        /// Nothing more will happen: the connection can be forgotten.
        case finished
        /// A message failed authentication and was dropped unanswered (RFC 3931 §5.4.1; counted in
        /// `counters.dropped` too). The caller says so, rate-limited: it is the only trace of a secret mismatch.
        case authenticationFailed(AuthenticationFailure)
    }

    /// Why a message was dropped as unauthenticated: a v3 Message Digest that does not verify or is missing, or a
    /// hidden AVP that does not decode (v2 or v3). Such a message is dropped, never answered, and creates nothing.
    public enum AuthenticationFailure: Equatable, Sendable, CustomStringConvertible {
        case badDigest
        case missingDigest
        case hiddenAVP
        case hiddenWithoutSecret

        /// The failure a parse error means, nil when it is no authentication failure.
        public init?(_ reason: L2TPWireError.Reason) {
            switch reason {
            case .badDigest: self = .badDigest
            case .missingDigest: self = .missingDigest
            case .badHiddenLength: self = .hiddenAVP
            case .hiddenWithoutSecret: self = .hiddenWithoutSecret
            default: return nil
            }
        }

        /// The `dropped` counter it is counted in (the wire error's name).
        public var counter: String {
            switch self {
            case .badDigest: L2TPWireError.Reason.badDigest.name
            case .missingDigest: L2TPWireError.Reason.missingDigest.name
            case .hiddenAVP: L2TPWireError.Reason.badHiddenLength.name
            case .hiddenWithoutSecret: L2TPWireError.Reason.hiddenWithoutSecret.name
            }
        }

        public var description: String {
            switch self {
            case .badDigest: "Message Digest does not verify: the shared secrets differ or the message was altered"
            case .missingDigest: "no Message Digest, and a secret is configured here: the peer has no secret"
            case .hiddenAVP: "a hidden AVP does not decode: the shared secrets differ or the message was altered"
            case .hiddenWithoutSecret: "a hidden AVP, and no secret is configured here to reveal it"
            }
        }
    }

    /// Counters for status: messages by type, drops by reason, plus the reliable layer's.
    public struct Counters: Equatable, Sendable {
        public var sent: [String: Int] = [:]
        public var received: [String: Int] = [:]
        public var dropped: [String: Int] = [:]
        /// Round-trip time of the last HELLO, seconds.
        public var helloRTT: Double?
        public var hellos = 0
    }

    /// What rides in the reliable layer: our messages, the peer's, and the peer's that we must refuse.
    public enum Carried: Equatable, Sendable {
        case outgoing(Outgoing)
        case incoming(ControlMessage)
        /// A well-framed message we cannot accept (unknown mandatory AVP, malformed mandatory value).
        case rejected(MessageType?, Scope, L2TPWireError.Reason)
    }

    /// Who a refused message came from, read from its raw AVPs: our session, the peer's session, the peer's
    /// Assigned Tunnel / Control Connection ID.
    public struct Scope: Equatable, Sendable {
        public var session: UInt32?
        public var peerSession: UInt32?
        public var peerConnection: UInt32?
    }

    /// One of our messages before its header's Ns/Nr are known.
    public struct Outgoing: Equatable, Sendable {
        public var type: MessageType
        public var avps: [AVP]
        public var connectionID: UInt32
        /// v2 header Session ID (the peer's).
        public var sessionID: UInt16
    }

    public let configuration: Configuration
    public let role: Role
    public internal(set) var state: State = .idle
    public internal(set) var peer = Peer()
    public internal(set) var counters = Counters()
    public internal(set) var closeReason: CloseReason?
    public internal(set) var reliable: ReliableDelivery<Carried>
    public var random: any RandomNumberGenerator & Sendable

    var sessions = SessionTable()
    /// v2: the Session ID the next ZLB carries: the peer's id of the call whose CDN was just delivered, else 0.
    /// xl2tpd releases a call it cleared only when the ZLB acknowledging its CDN names that call. But a ZLB naming a
    /// call xl2tpd no longer has goes to its handle_special, which counts it as a message (its expected Ns goes one
    /// up) without the undo its ZLB path does: from then on it refuses every message and ZLB of ours as out of order,
    /// and so never sees another acknowledgement from us. So only the CDN's first ZLB names the call (not the
    /// acknowledgements of ICRQ or ICCN, which can arrive after the call is gone, nor the repeat for a retransmitted
    /// CDN, which can arrive after our first ZLB released it).
    var ackSessionID: UInt16 = 0
    var localNonce: [UInt8]?
    var peerNonce: [UInt8]?
    /// v2: the Challenge we sent, whose response we expect.
    var sentChallenge: [UInt8]?
    /// v2: the peer's Challenge, to answer in our next connection message.
    var lastReceived: Double = 0
    var helloSentAt: Double?
    var holdUntil: Double?
    var nextSerial: UInt32 = 1

    public init(_ configuration: Configuration, role: Role,
                random: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
        self.configuration = configuration
        self.role = role
        self.random = random
        var r = configuration.reliability
        r.peerWindow = 4
        reliable = ReliableDelivery(r)
    }

    // MARK: Queries

    /// The sessions, established or not, by local id.
    public var sessionIDs: [UInt32] { sessions.keys.sorted() }
    /// An established session.
    public func session(_ localID: UInt32) -> SessionInfo? {
        guard let s = sessions[localID], s.state == .established else { return nil }
        return s.info
    }
    /// A session in any state (being set up or established).
    public func anySession(_ localID: UInt32) -> SessionInfo? { sessions[localID]?.info }
    /// Every established session.
    public var establishedSessions: [SessionInfo] {
        sessions.values.filter { $0.state == .established }.map(\.info).sorted { $0.localID < $1.localID }
    }
    /// A session's state name ("wait-reply", "wait-connect", "established"), nil if there is none.
    public func sessionState(_ localID: UInt32) -> String? {
        switch sessions[localID]?.state {
        case .waitReply: "wait-reply"
        case .waitConnect: "wait-connect"
        case .established: "established"
        case nil: nil
        }
    }
    /// Whether the peer's SCCRQ should win over ours (we are an initiator still waiting for SCCRP).
    public var pendingTieBreaker: UInt64? { role == .initiator && state == .waitReply ? configuration.tieBreaker : nil }
    public var isFinished: Bool { state == .closed }

    /// When `timeout(now:)` must run next.
    public var nextDeadline: Double? {
        var d = reliable.nextDeadline
        if state == .established && reliable.unacknowledged == 0 { d = earliest(d, lastReceived + configuration.helloInterval) }
        d = earliest(d, holdUntil)
        if state == .established { d = earliest(d, sessions.nextSetupDeadline) }
        return d
    }

    // MARK: Tie breaking

    public enum TieBreak: Equatable, Sendable {
        /// Ours stands; discard the peer's SCCRQ (or ICRQ).
        case keepOurs
        /// The peer's wins; discard ours and answer theirs.
        case yieldToPeer
        /// Equal values: both discard (RFC 2661 §4.4.3).
        case bothDiscard
    }

    /// RFC 2661 §4.4.3 / RFC 3931 §5.4.3: the lower tie breaker wins; a request without one loses to one with one.
    public static func tieBreak(ours: UInt64?, theirs: UInt64?) -> TieBreak {
        switch (ours, theirs) {
        case (nil, nil): .keepOurs
        case (nil, _?): .yieldToPeer
        case (_?, nil): .keepOurs
        case let (a?, b?): a < b ? .keepOurs : a > b ? .yieldToPeer : .bothDiscard
        }
    }

    /// Gives up our SCCRQ to the peer's (the caller answers theirs with a responder connection).
    public mutating func yield(now: Double) -> [Action] {
        guard state == .waitReply else { return [] }
        return finish(.lostTieBreak)
    }

    // MARK: Events

    /// Initiator: sends SCCRQ.
    public mutating func start(now: Double) -> [Action] {
        guard role == .initiator, state == .idle else { return [] }
        lastReceived = now
        var avps = [AVP(.messageType, .messageType(.sccrq))]
        avps += connectionAVPs()
        if let t = configuration.tieBreaker { avps.append(AVP(.tieBreaker, .u64(t))) }
        avps += authenticationAVPs()
        state = .waitReply
        return queue(.sccrq, avps, now: now)
    }

    /// A datagram from the peer (a control message: T bit set).
    public mutating func receive(_ datagram: [UInt8], now: Double) -> [Action] {
        guard state != .closed else { return drop("after_close") }
        let header: ControlHeader
        let bodyEmpty: Bool
        do {
            guard case .control(let h, let body) = try L2TPHeader.parse(datagram, transport: configuration.transport) else {
                return drop("not_control")
            }
            header = h
            bodyEmpty = body.isEmpty
        } catch {
            return drop(error.reason.name)
        }
        guard header.version == configuration.version else { return drop("wrong_version") }
        if header.connectionID != configuration.localID {
            // Only the SCCRQ that starts a responder, and retransmissions of it, may name connection 0.
            guard header.connectionID == 0, role == .responder, state == .idle || state == .waitConnect else {
                return drop("wrong_connection_id")
            }
        }
        var payload: Carried?
        if !bodyEmpty {
            do {
                let m = try ControlMessage.parse(datagram, transport: configuration.transport,
                                                 secret: configuration.secret, authentication: authentication())
                if m.messageType != .ack { payload = .incoming(m) }
                counters.received[m.messageType.map { "\($0)" } ?? "vendor", default: 0] += 1
            } catch {
                counters.dropped[error.reason.name, default: 0] += 1
                if let failure = AuthenticationFailure(error.reason) { return [.authenticationFailed(failure)] }
                switch error.reason {
                case .unknownMandatoryAVP, .badAVPValue, .unknownMessageType:
                    // Well framed and authentic, but unacceptable: it takes its sequence number and is refused.
                    payload = .rejected(error.messageType, sessionScope(datagram, header), error.reason)
                default:
                    return []
                }
            }
        } else {
            counters.received["ZLB", default: 0] += 1
        }
        lastReceived = now
        let hadUnacked = reliable.unacknowledged
        var out = run(reliable.receive(ns: header.ns, nr: header.nr, payload: payload, now: now), now: now)
        if let sent = helloSentAt, hadUnacked > 0, reliable.unacknowledged == 0 {
            counters.helloRTT = now - sent
            helloSentAt = nil
        }
        if state == .closing && holdUntil == nil && reliable.unacknowledged == 0 {
            // Our StopCCN was acknowledged.
            out += finishNow()
        }
        return out
    }

    /// Time passed: retransmissions, delayed acks, HELLO, session setup timeouts, the end of the close hold.
    public mutating func timeout(now: Double) -> [Action] {
        guard state != .closed else { return [] }
        var out = run(reliable.timeout(now: now), now: now)
        guard state != .closed else { return out }
        if let h = holdUntil, now >= h { return out + finishNow() }
        if state == .established {
            if reliable.unacknowledged == 0 && reliable.queued == 0 && now >= lastReceived + configuration.helloInterval {
                helloSentAt = now
                counters.hellos += 1
                out += queue(.hello, [AVP(.messageType, .messageType(.hello))], now: now)
            }
            for id in sessions.takeExpiredSetups(now: now) {
                out += clearSession(id, .timeout, sendCDN: true, now: now)
            }
        }
        return out
    }

    /// Sends StopCCN and clears every session; the connection is finished when it is acknowledged.
    public mutating func stop(_ result: ResultCode = .clear, now: Double) -> [Action] {
        switch state {
        case .closed, .closing: return []
        case .idle: return finish(.local(result))
        case .waitReply where peer.connectionID == 0: return finish(.local(result))
        default: break
        }
        return stopWith(result, now: now)
    }

    /// Opens a session (ICRQ; v2 `outgoing`: OCRQ). Returns its local id, nil unless established or when full.
    public mutating func openSession(_ options: SessionOptions, now: Double) -> (localID: UInt32, actions: [Action])? {
        guard state == .established, sessions.count < configuration.maxSessions else { return nil }
        let id = allocateSessionID()
        let serial = nextSerial
        nextSerial &+= 1
        let v2 = configuration.version == .v2
        var info = SessionInfo(localID: id, peerID: 0, serial: serial,
                               pseudowireType: v2 ? PseudowireType.ppp : options.pseudowireType,
                               remoteEndID: options.remoteEndID, cookie: v2 ? [] : options.cookie, peerCookie: [],
                               l2SpecificSublayer: v2 ? 0 : options.l2SpecificSublayer,
                               dataSequencing: v2 ? 0 : options.dataSequencing, initiatedLocally: true,
                               outgoing: v2 && options.outgoing)
        var avps: [AVP]
        let type: MessageType = info.outgoing ? .ocrq : .icrq
        if v2 {
            avps = [AVP(.messageType, .messageType(type)), AVP(.assignedSessionID, .u16(UInt16(id))),
                    AVP(.callSerialNumber, .u32(serial))]
            if info.outgoing {
                avps += [AVP(.minimumBPS, .u32(0)), AVP(.maximumBPS, .u32(options.connectSpeed)),
                         AVP(.bearerType, .u32(options.bearerType)), AVP(.framingType, .u32(options.framingType)),
                         AVP(.calledNumber, .string(options.number))]
            } else {
                avps.append(AVP(.bearerType, .u32(options.bearerType)))
                if !options.number.isEmpty { avps.append(AVP(.callingNumber, .string(options.number))) }
            }
        } else {
            info.outgoing = false
            avps = [AVP(.messageType, .messageType(.icrq)), AVP(.localSessionID, .u32(id)),
                    AVP(.remoteSessionID, .u32(0)), AVP(.callSerialNumber, .u32(serial)),
                    AVP(.pseudowireType, .u16(options.pseudowireType)), AVP(.remoteEndID, .bytes(options.remoteEndID)),
                    AVP(.circuitStatus, .u16(3)),
                    AVP(.l2SpecificSublayer, .u16(options.l2SpecificSublayer)),
                    AVP(.dataSequencing, .u16(options.dataSequencing))]
            if !options.cookie.isEmpty { avps.append(AVP(.assignedCookie, .bytes(options.cookie))) }
            if let t = options.tieBreaker { avps.append(AVP(.tieBreaker, .u64(t))) }
        }
        sessions[id] = SessionRecord(info: info, state: .waitReply, tieBreaker: options.tieBreaker,
                                     setupDeadline: now + configuration.sessionSetupTimeout)
        return (id, queue(type, avps, now: now))
    }

    /// Clears a session with CDN.
    public mutating func closeSession(_ localID: UInt32, _ result: ResultCode = .administrative,
                                      now: Double) -> [Action] {
        guard sessions[localID] != nil, state == .established else { return [] }
        return clearSession(localID, result, sendCDN: true, now: now)
    }

    /// v2 LNS: Set-Link-Info with the PPP ACCM.
    public mutating func setLinkInfo(_ localID: UInt32, send: UInt32, receive: UInt32, now: Double) -> [Action] {
        guard configuration.version == .v2, let s = sessions[localID], s.state == .established else { return [] }
        return queue(.sli, [AVP(.messageType, .messageType(.sli)), AVP(.accm, .accm(send: send, receive: receive))],
                     session: s.info.peerID, now: now)
    }

    /// v3: Set-Link-Info with our circuit's status.
    public mutating func setCircuitStatus(_ localID: UInt32, active: Bool, now: Double) -> [Action] {
        guard configuration.version == .v3, let s = sessions[localID], s.state == .established else { return [] }
        return queue(.sli, [AVP(.messageType, .messageType(.sli)), AVP(.localSessionID, .u32(localID)),
                            AVP(.remoteSessionID, .u32(s.info.peerID)), AVP(.circuitStatus, .u16(active ? 1 : 0))],
                     now: now)
    }

    /// WAN-Error-Notify (v2 LAC, or v3 Circuit Errors).
    public mutating func wanError(_ localID: UInt32, _ errors: CallErrors, now: Double) -> [Action] {
        guard let s = sessions[localID], s.state == .established else { return [] }
        var avps = [AVP(.messageType, .messageType(.wen))]
        if configuration.version == .v3 {
            avps += [AVP(.localSessionID, .u32(localID)), AVP(.remoteSessionID, .u32(s.info.peerID))]
        }
        avps.append(AVP(.callErrors, .callErrors(errors)))
        return queue(.wen, avps, session: s.info.peerID, now: now)
    }

    // MARK: Identification before a connection exists

    /// What a listener makes of a datagram for connection 0, before any state exists for it.
    public enum SCCRQScreen: Equatable, Sendable {
        /// An SCCRQ (authentic, when a secret is configured): its version, the sender's connection id, tie breaker.
        case sccrq(version: L2TPVersion, peerID: UInt32, tieBreaker: UInt64?)
        /// An SCCRQ that fails authentication: to be dropped, unanswered, creating nothing.
        case unauthenticated(AuthenticationFailure)
        /// Anything else.
        case notSCCRQ
    }

    /// Screens a datagram for connection 0: with a `secret`, hidden values are revealed with it and a v3 SCCRQ's
    /// Message Digest must verify — computed without nonces (RFC 3931 §5.4.1: none has been exchanged yet; the
    /// Nonce the SCCRQ carries is for the digests that follow), so it is checked before anything is created.
    public static func screenSCCRQ(_ datagram: [UInt8], transport: L2TPTransport = .udp,
                                   secret: [UInt8]? = nil) -> SCCRQScreen {
        let m: ControlMessage
        do {
            m = try ControlMessage.parse(datagram, transport: transport, secret: secret)
        } catch {
            return AuthenticationFailure(error.reason).map(SCCRQScreen.unauthenticated) ?? .notSCCRQ
        }
        guard m.messageType == .sccrq, m.header.connectionID == 0 else { return .notSCCRQ }
        let id: UInt32? = m.header.version == .v2 ? m.u16(.assignedTunnelID).map(UInt32.init) : m.u32(.assignedControlConnectionID)
        guard let id, id != 0 else { return .notSCCRQ }
        if m.header.version == .v3, let secret {
            do {
                try MessageDigest.verify(datagram, transport: transport, MessageAuthentication(secret: secret))
            } catch {
                return .unauthenticated(AuthenticationFailure(error.reason) ?? .badDigest)
            }
        }
        return .sccrq(version: m.header.version, peerID: id, tieBreaker: m.u64(.tieBreaker))
    }

    /// What a listener needs from a datagram to route it: an SCCRQ's version, the sender's connection id and
    /// tie breaker; nil for anything else, or an SCCRQ that fails authentication (see `screenSCCRQ`).
    public static func sccrqIdentity(_ datagram: [UInt8], transport: L2TPTransport = .udp,
                                     secret: [UInt8]? = nil) -> (version: L2TPVersion, peerID: UInt32, tieBreaker: UInt64?)? {
        guard case .sccrq(let version, let id, let tieBreaker) = screenSCCRQ(datagram, transport: transport, secret: secret)
        else { return nil }
        return (version, id, tieBreaker)
    }

    /// Why an initiator's SCCRQ most likely went unanswered, when it did (closed as unreachable without an accepted
    /// SCCRP) and a mismatched secret would explain it: a peer drops, silently, every message whose digest does not
    /// verify (v3) or whose hidden AVPs do not decode (v2 with `hideAVPs`; v2's challenge is answered and fails
    /// out loud, with a StopCCN).
    public var likelyCause: String? {
        guard role == .initiator, case .unreachable? = closeReason, peer.connectionID == 0,
              configuration.secret != nil else { return nil }
        if configuration.version == .v3 {
            return "a secret is configured: if the peer is up, the shared secrets probably differ (the peer drops messages whose digest does not verify)"
        }
        guard configuration.hideAVPs else { return nil }
        return "a secret is configured and AVPs are hidden: if the peer is up, the shared secrets probably differ (the peer drops messages whose hidden AVPs do not decode)"
    }

    // MARK: Reliable layer plumbing

    mutating func run(_ actions: [ReliableDelivery<Carried>.Action], now: Double) -> [Action] {
        var out: [Action] = []
        for a in actions {
            switch a {
            case .transmit(let ns, let nr, let payload, _):
                guard case .outgoing(let o) = payload else { continue }
                if let bytes = encode(o, ns: ns, nr: nr) { out.append(.send(bytes)) }
            case .zlb(let ns, let nr):
                if let bytes = encodeAck(ns: ns, nr: nr) { out.append(.send(bytes)) }
            case .deliver(let payload):
                guard state != .closed else { continue }
                switch payload {
                case .incoming(let m):
                    if configuration.version == .v2 {
                        ackSessionID = m.messageType != .cdn || m.header.sessionID == 0 ? 0
                            : sessions[UInt32(m.header.sessionID)].map { UInt16(truncatingIfNeeded: $0.info.peerID) } ?? 0
                    }
                    out += handle(m, now: now)
                case .rejected(let type, let scope, let reason): out += refuse(type, scope, reason, now: now)
                case .outgoing: break
                }
            case .peerUnreachable(let n):
                if state == .closing { out += finishNow() } else { out += finish(.unreachable(retransmits: n)) }
            }
        }
        return out
    }

    mutating func queue(_ type: MessageType, _ avps: [AVP], session: UInt32 = 0, now: Double) -> [Action] {
        counters.sent["\(type)", default: 0] += 1
        var avps = avps
        if configuration.version == .v3, configuration.secret != nil {
            avps.insert(AVP(.messageDigest, .messageDigest(configuration.digest,
                                                           [UInt8](repeating: 0, count: configuration.digest.digestLength))),
                        at: 1)
        } else if configuration.version == .v2, configuration.secret != nil, configuration.hideAVPs {
            let hide: Set<AVPType> = [.assignedTunnelID, .assignedSessionID, .callSerialNumber]
            if avps.contains(where: { hide.contains($0.type) }) {
                for i in avps.indices where hide.contains(avps[i].type) { avps[i].hidden = true }
                avps.insert(AVP(.randomVector, .bytes(randomBytes(16))), at: 1)
            }
        }
        let o = Outgoing(type: type, avps: avps, connectionID: peer.connectionID, sessionID: UInt16(truncatingIfNeeded: session))
        return run(reliable.send(.outgoing(o), now: now), now: now)
    }

    func encode(_ o: Outgoing, ns: UInt16, nr: UInt16) -> [UInt8]? {
        let header = ControlHeader(version: configuration.version, connectionID: o.connectionID,
                                   sessionID: configuration.version == .v2 ? o.sessionID : 0, ns: ns, nr: nr)
        return try? ControlMessage(header: header, avps: o.avps)
            .encode(transport: configuration.transport, secret: configuration.secret, authentication: authentication())
    }

    /// A ZLB; with v3 authentication an ACK message, so that the acknowledgement is authenticated too.
    mutating func encodeAck(ns: UInt16, nr: UInt16) -> [UInt8]? {
        let header = ControlHeader(version: configuration.version, connectionID: peer.connectionID,
                                   sessionID: configuration.version == .v2 ? ackSessionID : 0, ns: ns, nr: nr)
        ackSessionID = 0   // named once (see ackSessionID)
        if configuration.version == .v3, configuration.secret != nil {
            counters.sent["ACK", default: 0] += 1
            let avps = [AVP(.messageType, .messageType(.ack)),
                        AVP(.messageDigest, .messageDigest(configuration.digest,
                                                           [UInt8](repeating: 0, count: configuration.digest.digestLength)))]
            return try? ControlMessage(header: header, avps: avps)
                .encode(transport: configuration.transport, authentication: authentication())
        }
        counters.sent["ZLB", default: 0] += 1
        return try? ControlMessage(header: header, avps: []).encode(transport: configuration.transport)
    }

    func authentication() -> MessageAuthentication? {
        guard configuration.version == .v3, let secret = configuration.secret else { return nil }
        var secrets = [secret]
        if let p = configuration.previousSecret { secrets.append(p) }
        return MessageAuthentication(secrets: secrets, localNonce: localNonce, remoteNonce: peerNonce)
    }

    mutating func drop(_ reason: String) -> [Action] {
        counters.dropped[reason, default: 0] += 1
        return []
    }

    mutating func randomBytes(_ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(n)
        while out.count < n {
            var v = random.next()
            for _ in 0..<8 where out.count < n { out.append(UInt8(truncatingIfNeeded: v)); v >>= 8 }
        }
        return out
    }

    mutating func allocateSessionID() -> UInt32 {
        while true {
            let v = UInt32(truncatingIfNeeded: random.next())
            let id = configuration.version == .v2 ? v & 0xffff : v
            if id != 0, sessions[id] == nil, !configuration.sessionIDInUse(id) { return id }
        }
    }

    /// The session a refused message belongs to: ours (v2 header, v3 Remote Session ID) and the peer's (v2 Assigned
    /// Session ID, v3 Local Session ID), read from the raw AVPs since the message did not parse.
    func sessionScope(_ d: [UInt8], _ h: ControlHeader) -> Scope {
        func nonzero(_ v: UInt32?) -> UInt32? { v == 0 ? nil : v }
        if h.version == .v2 {
            return Scope(session: nonzero(UInt32(h.sessionID)), peerSession: nonzero(rawAVP(d, type: 14, length: 2)),
                         peerConnection: nonzero(rawAVP(d, type: 9, length: 2)))
        }
        return Scope(session: nonzero(rawAVP(d, type: 64, length: 4)), peerSession: nonzero(rawAVP(d, type: 63, length: 4)),
                     peerConnection: nonzero(rawAVP(d, type: 61, length: 4)))
    }

    /// The value of the first unhidden IETF AVP `type` with a `length`-byte value, read without parsing.
    func rawAVP(_ d: [UInt8], type: UInt8, length n: Int) -> UInt32? {
        var p = ControlHeader.prefixSize(configuration.transport) + ControlHeader.size
        while p + 6 <= d.count {
            let length = Int(d[p] & 0x03) << 8 | Int(d[p + 1])
            guard length >= 6, p + length <= d.count else { return nil }
            if d[p] & 0x40 == 0, d[p + 2] == 0, d[p + 3] == 0, d[p + 4] == 0, d[p + 5] == type, length == 6 + n {
                return d[p + 6..<p + 6 + n].reduce(0) { $0 << 8 | UInt32($1) }
            }
            p += length
        }
        return nil
    }
}

/// The earlier of two optional times (nil: none), without building an array on the per-pass deadline paths.
func earliest(_ a: Double?, _ b: Double?) -> Double? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
}
