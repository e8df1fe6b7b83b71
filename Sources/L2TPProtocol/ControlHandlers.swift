import L2TPWire

/// The message handlers of `ControlConnection`: what each message does in each state.
extension ControlConnection {
    /// The AVPs SCCRQ and SCCRP share (after the Message Type).
    func connectionAVPs() -> [AVP] {
        let c = configuration
        var avps: [AVP] = []
        if c.version == .v2 {
            avps.append(AVP(.protocolVersion, .protocolVersion(version: 1, revision: 0)))
            avps.append(AVP(.framingCapabilities, .u32(c.framingCapabilities)))
            avps.append(AVP(.bearerCapabilities, .u32(c.bearerCapabilities)))
            avps.append(AVP(.firmwareRevision, .u16(0x0100)))
            avps.append(AVP(.hostName, .string(c.hostName)))
            avps.append(AVP(.vendorName, .string(c.vendorName)))
            avps.append(AVP(.assignedTunnelID, .u16(UInt16(truncatingIfNeeded: c.localID))))
        } else {
            avps.append(AVP(.hostName, .string(c.hostName)))
            avps.append(AVP(.vendorName, .string(c.vendorName)))
            avps.append(AVP(.routerID, .u32(c.routerID)))
            avps.append(AVP(.assignedControlConnectionID, .u32(c.localID)))
            avps.append(AVP(.pseudowireCapabilities, .pseudowireCapabilities(c.pseudowires)))
        }
        avps.append(AVP(.receiveWindowSize, .u16(c.reliability.receiveWindow)))
        return avps
    }

    /// What SCCRQ and SCCRP carry to authenticate the connection, drawn fresh and remembered: with a secret, v2's
    /// Challenge (the peer must answer it) or v3's Nonce (every digest of the connection covers it).
    mutating func authenticationAVPs() -> [AVP] {
        guard configuration.secret != nil else { return [] }
        if configuration.version == .v2 {
            guard configuration.challenge else { return [] }
            let c = randomBytes(16)
            sentChallenge = c
            return [AVP(.challenge, .bytes(c))]
        }
        let n = randomBytes(16)
        localNonce = n
        return [AVP(.nonce, .bytes(n))]
    }

    mutating func handle(_ m: ControlMessage, now: Double) -> [Action] {
        guard let type = m.messageType else { return drop("vendor_message") }
        let missing = m.validate()
        let sessionMessage: Set<MessageType> = [.icrq, .icrp, .iccn, .ocrq, .ocrp, .occn, .cdn, .wen, .sli]
        if !missing.isEmpty {
            counters.dropped["missing_avp", default: 0] += 1
            let why = "\(type) without \(missing.map(\.description).joined(separator: ", "))"
            if sessionMessage.contains(type), state == .established {
                return refuseSession(m, .general(0, why, forSession: true), now: now)
            }
            if type == .stopCCN { return finishPeerStop(ResultCode(2, message: why), now: now) }
            return stopWith(.general(0, why), now: now)
        }
        switch type {
        case .sccrq: return handleSCCRQ(m, now: now)
        case .sccrp: return handleSCCRP(m, now: now)
        case .scccn: return handleSCCCN(m, now: now)
        case .stopCCN:
            guard case .resultCode(let r, let e, let text)? = m.value(.resultCode) else { return [] }
            return finishPeerStop(ResultCode(r, error: e, message: text), now: now) + run(reliable.acknowledgeNow(), now: now)
        case .hello:
            // Nothing will carry the acknowledgement: send it at once (and the peer's HELLO round trip is true).
            return run(reliable.acknowledgeNow(), now: now)
        case .ack: return []
        default:
            guard sessionMessage.contains(type) else { return drop("unexpected_\(type)") }
            guard state == .established else {
                if state == .closing { return [] }
                return stopWith(.stateMachineError("\(type) before the control connection was established"), now: now)
            }
            return handleSession(type, m, now: now)
        }
    }

    // MARK: Control connection

    /// Reads the peer's SCCRQ/SCCRP facts; a StopCCN reason when they are unacceptable.
    mutating func learnPeer(_ m: ControlMessage) -> ResultCode? {
        let v2 = configuration.version == .v2
        if v2 {
            guard case .protocolVersion(1, 0)? = m.value(.protocolVersion) else { return .versionNotSupported }
        }
        let id: UInt32? = v2 ? m.u16(.assignedTunnelID).map(UInt32.init) : m.u32(.assignedControlConnectionID)
        guard let id, id != 0 else {
            return .general(ResultCode.errorOutOfRange, v2 ? "Assigned Tunnel ID 0" : "Assigned Control Connection ID 0")
        }
        peer.connectionID = id
        peer.hostName = m.string(.hostName) ?? ""
        peer.vendorName = m.string(.vendorName)
        peer.routerID = m.u32(.routerID)
        peer.firmware = m.u16(.firmwareRevision)
        peer.framingCapabilities = m.u32(.framingCapabilities)
        peer.bearerCapabilities = m.u32(.bearerCapabilities)
        peer.tieBreaker = m.u64(.tieBreaker)
        if case .pseudowireCapabilities(let list)? = m.value(.pseudowireCapabilities) { peer.pseudowires = list }
        if let w = m.u16(.receiveWindowSize) {
            guard w > 0 else { return .general(ResultCode.errorOutOfRange, "Receive Window Size 0") }
            peer.receiveWindow = w
        }
        reliable.setPeerWindow(peer.receiveWindow)
        if !v2 {
            peerNonce = m.bytes(.nonce)
            if configuration.secret != nil {
                guard let n = peerNonce, n.count >= 16 else {
                    return .notAuthorized("no Control Message Authentication Nonce of at least 16 bytes")
                }
            }
        }
        return nil
    }

    /// v2: checks the peer's Challenge Response to our challenge for `type` (SCCRP or SCCCN).
    func checkChallengeResponse(_ m: ControlMessage, as type: MessageType) -> ResultCode? {
        guard configuration.version == .v2, let sent = sentChallenge, let secret = configuration.secret else { return nil }
        guard let response = m.bytes(.challengeResponse) else {
            return .notAuthorized("\(type) has no Challenge Response and a secret is configured")
        }
        guard constantTimeEqual(response, ChallengeResponse.compute(messageType: type, secret: secret, challenge: sent)) else {
            return .notAuthorized("Challenge Response in \(type) does not match (the shared secrets differ)")
        }
        return nil
    }

    /// v2: answers the peer's Challenge in our message of `type`; nil when it challenged and we have no secret.
    func challengeResponse(_ m: ControlMessage, for type: MessageType) -> [AVP]? {
        guard configuration.version == .v2, let challenge = m.bytes(.challenge) else { return [] }
        guard let secret = configuration.secret else { return nil }
        return [AVP(.challengeResponse, .bytes(ChallengeResponse.compute(messageType: type, secret: secret,
                                                                          challenge: challenge)))]
    }

    mutating func handleSCCRQ(_ m: ControlMessage, now: Double) -> [Action] {
        guard role == .responder, state == .idle else { return drop("unexpected_SCCRQ") }
        lastReceived = now
        if let r = learnPeer(m) { return stopWith(r, now: now) }
        guard let answer = challengeResponse(m, for: .sccrp) else {
            return stopWith(.notAuthorized("the peer sent a Challenge and no secret is configured"), now: now)
        }
        let avps = [AVP(.messageType, .messageType(.sccrp))] + connectionAVPs() + answer + authenticationAVPs()
        state = .waitConnect
        return queue(.sccrp, avps, now: now)
    }

    mutating func handleSCCRP(_ m: ControlMessage, now: Double) -> [Action] {
        guard role == .initiator, state == .waitReply else {
            if state == .established || state == .closing { return drop("unexpected_SCCRP") }
            return stopWith(.stateMachineError("SCCRP while \(state.name)"), now: now)
        }
        if let r = learnPeer(m) { return stopWith(r, now: now) }
        if let r = checkChallengeResponse(m, as: .sccrp) { return stopWith(r, now: now) }
        guard let answer = challengeResponse(m, for: .scccn) else {
            return stopWith(.notAuthorized("the peer sent a Challenge and no secret is configured"), now: now)
        }
        var out = queue(.scccn, [AVP(.messageType, .messageType(.scccn))] + answer, now: now)
        state = .established
        out.append(.established(peer))
        return out
    }

    mutating func handleSCCCN(_ m: ControlMessage, now: Double) -> [Action] {
        guard role == .responder, state == .waitConnect else {
            if state == .established || state == .closing { return drop("unexpected_SCCCN") }
            return stopWith(.stateMachineError("SCCCN while \(state.name)"), now: now)
        }
        if let r = checkChallengeResponse(m, as: .scccn) { return stopWith(r, now: now) }
        state = .established
        return [.established(peer)]
    }

    /// Sends StopCCN with `result`, clears the sessions, and waits for the acknowledgement.
    mutating func stopWith(_ result: ResultCode, now: Double) -> [Action] {
        guard state != .closed, state != .closing else { return [] }
        var out = clearAllSessions(ResultCode(result.result == 6 ? 3 : 2, message: "control connection stopped",
                                              forSession: true), byPeer: false)
        var avps = [AVP(.messageType, .messageType(.stopCCN))]
        if configuration.version == .v2 {
            avps.append(AVP(.assignedTunnelID, .u16(UInt16(truncatingIfNeeded: configuration.localID))))
        } else {
            avps.append(AVP(.assignedControlConnectionID, .u32(configuration.localID)))
        }
        avps.append(AVP(.resultCode, .resultCode(result: result.result, error: result.error ?? (result.message == nil ? nil : 0),
                                                 message: result.message)))
        closeReason = .local(result)
        out.append(.closed(.local(result)))
        state = .closing
        out += queue(.stopCCN, avps, now: now)
        return out
    }

    /// The peer's StopCCN: clear everything, hold state to acknowledge its retransmissions.
    mutating func finishPeerStop(_ result: ResultCode, now: Double) -> [Action] {
        if state == .closing {
            // Both sent StopCCN: ours needs no more waiting once theirs arrived.
            if holdUntil == nil { holdUntil = now + configuration.closeHold }
            return []
        }
        var out = clearAllSessions(ResultCode(1, message: "control connection stopped by peer", forSession: true),
                                   byPeer: true)
        closeReason = .peer(result)
        out.append(.closed(.peer(result)))
        state = .closing
        holdUntil = now + configuration.closeHold
        return out
    }

    /// Down at once (no StopCCN can or need be sent).
    mutating func finish(_ reason: CloseReason) -> [Action] {
        guard state != .closed else { return [] }
        var out = clearAllSessions(ResultCode(2, message: "\(reason)", forSession: true), byPeer: false)
        closeReason = reason
        out.append(.closed(reason))
        out += finishNow()
        return out
    }

    mutating func finishNow() -> [Action] {
        guard state != .closed else { return [] }
        if closeReason == nil { closeReason = .local(.clear) }
        state = .closed
        holdUntil = nil
        return [.finished]
    }

    mutating func clearAllSessions(_ result: ResultCode, byPeer: Bool) -> [Action] {
        let ids = sessions.keys.sorted()
        sessions.removeAll()
        return ids.map { .sessionClosed(localID: $0, result, byPeer: byPeer) }
    }

    /// Refuses a message the parser rejected (RFC 3931 §5.2): its session with CDN, else the connection.
    mutating func refuse(_ type: MessageType?, _ scope: Scope, _ reason: L2TPWireError.Reason,
                         now: Double) -> [Action] {
        let sessionID = scope.session, peerSessionID = scope.peerSession
        let what = reason == .unknownMandatoryAVP ? "unknown mandatory AVP" : "malformed mandatory AVP"
        let result = ResultCode.general(ResultCode.errorUnknownMandatoryAVP, "\(type.map { "\($0)" } ?? "message"): \(what)",
                                        forSession: true)
        if let sessionID, sessions[sessionID] != nil, state == .established {
            return clearSession(sessionID, result, sendCDN: true, now: now)
        }
        if state == .established, type == .icrq || type == .ocrq, let peerSessionID {
            counters.dropped["session_refused", default: 0] += 1
            return queue(.cdn, cdnAVPs(localID: 0, peerID: peerSessionID, result), session: peerSessionID, now: now)
        }
        if type == .stopCCN { return finishPeerStop(ResultCode(2, message: what), now: now) }
        if type == .sccrq, state == .idle {
            // The StopCCN must reach the requester: its id is read from the raw message.
            peer.connectionID = scope.peerConnection ?? 0
        }
        return stopWith(.general(ResultCode.errorUnknownMandatoryAVP, "\(type.map { "\($0)" } ?? "message"): \(what)"),
                        now: now)
    }

    // MARK: Sessions

    /// The local session a v2/v3 session message is for (0 / nil: none named).
    func addressedSession(_ m: ControlMessage) -> UInt32? {
        if configuration.version == .v2 {
            return m.header.sessionID == 0 ? nil : UInt32(m.header.sessionID)
        }
        guard let r = m.u32(.remoteSessionID), r != 0 else { return nil }
        return r
    }

    /// The peer's own session id in a session message.
    func peerSessionID(_ m: ControlMessage) -> UInt32? {
        configuration.version == .v2 ? m.u16(.assignedSessionID).map(UInt32.init) : m.u32(.localSessionID)
    }

    mutating func handleSession(_ type: MessageType, _ m: ControlMessage, now: Double) -> [Action] {
        switch type {
        case .icrq, .ocrq: return handleRequest(type, m, now: now)
        case .cdn: return handleCDN(m, now: now)
        default: break
        }
        guard let id = addressedSession(m), var s = sessions[id] else { return drop("unknown_session") }
        switch (type, s.state) {
        case (.icrp, .waitReply) where !s.info.outgoing, (.ocrp, .waitReply) where s.info.outgoing:
            guard let pid = peerSessionID(m), pid != 0 else {
                return clearSession(id, .general(ResultCode.errorInvalidSession, "\(type) without a session id",
                                                 forSession: true), sendCDN: true, now: now)
            }
            s.info.peerID = pid
            if configuration.version == .v3 {
                s.info.peerCookie = m.bytes(.assignedCookie) ?? []
                if let l = m.u16(.l2SpecificSublayer), l != s.info.l2SpecificSublayer {
                    sessions[id] = s
                    return clearSession(id, .general(ResultCode.errorOutOfRange,
                                                     "peer wants L2-Specific Sublayer \(l), we asked for \(s.info.l2SpecificSublayer)",
                                                     forSession: true), sendCDN: true, now: now)
                }
            }
            if type == .ocrp {
                // v2 outgoing call: OCCN follows from the LAC when the call connects.
                s.state = .waitConnect
                sessions[id] = s
                return []
            }
            s.state = .established
            s.setupDeadline = nil
            sessions[id] = s
            var avps = [AVP(.messageType, .messageType(.iccn))]
            if configuration.version == .v2 {
                avps += [AVP(.txConnectSpeed, .u32(100_000_000)), AVP(.framingType, .u32(1))]
            } else {
                avps += [AVP(.localSessionID, .u32(id)), AVP(.remoteSessionID, .u32(pid)),
                         AVP(.l2SpecificSublayer, .u16(s.info.l2SpecificSublayer)),
                         AVP(.dataSequencing, .u16(s.info.dataSequencing))]
            }
            return queue(.iccn, avps, session: pid, now: now) + [.sessionEstablished(s.info)]
        case (.iccn, .waitConnect) where !s.info.outgoing, (.occn, .waitConnect) where s.info.outgoing:
            s.state = .established
            s.setupDeadline = nil
            sessions[id] = s
            return [.sessionEstablished(s.info)]
        case (.sli, .established):
            if case .accm(let send, let receive)? = m.value(.accm) {
                return [.linkInfo(localID: id, send: send, receive: receive)]
            }
            if let status = m.u16(.circuitStatus) { return [.circuitStatus(localID: id, active: status & 1 != 0)] }
            return []
        case (.wen, .established):
            if case .callErrors(let e)? = m.value(.callErrors) { return [.wanError(localID: id, e)] }
            return []
        default:
            return clearSession(id, .sessionStateMachineError("\(type) while the session is \(sessionState(id) ?? "?")"),
                                sendCDN: true, now: now)
        }
    }

    /// ICRQ (or v2 OCRQ) from the peer.
    mutating func handleRequest(_ type: MessageType, _ m: ControlMessage, now: Double) -> [Action] {
        let v2 = configuration.version == .v2
        guard let pid = peerSessionID(m), pid != 0 else {
            return refuseSession(m, .general(ResultCode.errorInvalidSession, "\(type) without a session id",
                                             forSession: true), now: now)
        }
        if sessions.hasPeerInitiated(pid) {
            return drop("duplicate_request")
        }
        var request = SessionRequest(peerSessionID: pid, serial: m.u32(.callSerialNumber) ?? 0,
                                     pseudowireType: v2 ? nil : m.u16(.pseudowireType),
                                     remoteEndID: m.bytes(.remoteEndID) ?? [], peerCookie: m.bytes(.assignedCookie) ?? [],
                                     l2SpecificSublayer: m.u16(.l2SpecificSublayer) ?? 0,
                                     dataSequencing: m.u16(.dataSequencing) ?? 0, outgoing: type == .ocrq,
                                     number: m.string(type == .ocrq ? .calledNumber : .callingNumber))
        var out: [Action] = []
        if !v2 {
            // Outgoing calls are v2's (the LAC dials out); over v3 they would need v3's session AVPs in OCRP/OCCN.
            guard type == .icrq else {
                return refuseSession(m, .permanentLackOfFacilities("\(type) is not supported over L2TPv3; send ICRQ"), now: now)
            }
            guard let pw = request.pseudowireType, configuration.pseudowires.contains(pw) else {
                return refuseSession(m, .unsupportedPseudowire, now: now)
            }
            guard request.l2SpecificSublayer <= 1 else {
                return refuseSession(m, .general(ResultCode.errorOutOfRange,
                                                 "L2-Specific Sublayer \(request.l2SpecificSublayer) is not supported",
                                                 forSession: true), now: now)
            }
            guard request.dataSequencing == 0 || request.l2SpecificSublayer == 1 else {
                return refuseSession(m, .sequencingWithoutSublayer, now: now)
            }
            // Session tie breaker (RFC 3931 §5.4.4): both sides asked for the same pseudowire at once.
            if !request.remoteEndID.isEmpty, let (ourID, ours) = sessions.awaitingReply(remoteEndID: request.remoteEndID) {
                switch Self.tieBreak(ours: ours.tieBreaker, theirs: m.u64(.tieBreaker)) {
                case .keepOurs: return refuseSession(m, .lostTieBreaker, now: now)
                case .yieldToPeer: out += clearSession(ourID, .lostTieBreaker, sendCDN: true, now: now)
                case .bothDiscard:
                    out += clearSession(ourID, .lostTieBreaker, sendCDN: true, now: now)
                    return out + refuseSession(m, .lostTieBreaker, now: now)
                }
            }
            request.pseudowireType = m.u16(.pseudowireType)
        }
        guard sessions.count < configuration.maxSessions else {
            return out + refuseSession(m, .temporaryLackOfFacilities, now: now)
        }
        let cookie: [UInt8]
        switch configuration.acceptSession(request) {
        case .reject(let r): return out + refuseSession(m, r, now: now)
        case .accept(let c): cookie = v2 ? [] : c
        }
        let id = allocateSessionID()
        var info = SessionInfo(localID: id, peerID: pid, serial: request.serial,
                               pseudowireType: v2 ? PseudowireType.ppp : request.pseudowireType ?? PseudowireType.ethernet,
                               remoteEndID: request.remoteEndID, cookie: cookie, peerCookie: v2 ? [] : request.peerCookie,
                               l2SpecificSublayer: v2 ? 0 : request.l2SpecificSublayer,
                               dataSequencing: v2 ? 0 : request.dataSequencing, initiatedLocally: false,
                               outgoing: type == .ocrq)
        if type == .ocrq {
            // v2 LAC answering an outgoing call: OCRP, then OCCN once "dialled" (at once: there is no real line).
            info.outgoing = true
            sessions[id] = SessionRecord(info: info, state: .established, tieBreaker: nil, setupDeadline: nil)
            out += queue(.ocrp, [AVP(.messageType, .messageType(.ocrp)), AVP(.assignedSessionID, .u16(UInt16(id)))],
                         session: pid, now: now)
            out += queue(.occn, [AVP(.messageType, .messageType(.occn)), AVP(.txConnectSpeed, .u32(100_000_000)),
                                 AVP(.framingType, .u32(1))], session: pid, now: now)
            return out + [.sessionEstablished(info)]
        }
        sessions[id] = SessionRecord(info: info, state: .waitConnect, tieBreaker: nil,
                                     setupDeadline: now + configuration.sessionSetupTimeout)
        var avps = [AVP(.messageType, .messageType(.icrp))]
        if v2 {
            avps.append(AVP(.assignedSessionID, .u16(UInt16(id))))
        } else {
            avps += [AVP(.localSessionID, .u32(id)), AVP(.remoteSessionID, .u32(pid)), AVP(.circuitStatus, .u16(3)),
                     AVP(.l2SpecificSublayer, .u16(info.l2SpecificSublayer)),
                     AVP(.dataSequencing, .u16(info.dataSequencing))]
            if !cookie.isEmpty { avps.append(AVP(.assignedCookie, .bytes(cookie))) }
        }
        return out + queue(.icrp, avps, session: pid, now: now) + [.sessionAnswered(info)]
    }

    /// Answers a session request (or message) we will not take with a CDN; no session is kept.
    mutating func refuseSession(_ m: ControlMessage, _ result: ResultCode, now: Double) -> [Action] {
        counters.dropped["session_refused", default: 0] += 1
        let pid = peerSessionID(m) ?? 0
        return queue(.cdn, cdnAVPs(localID: 0, peerID: pid, result), session: pid, now: now)
    }

    func cdnAVPs(localID: UInt32, peerID: UInt32, _ result: ResultCode) -> [AVP] {
        var avps = [AVP(.messageType, .messageType(.cdn)),
                    AVP(.resultCode, .resultCode(result: result.result, error: result.error ?? (result.message == nil ? nil : 0),
                                                 message: result.message))]
        if configuration.version == .v2 {
            avps.append(AVP(.assignedSessionID, .u16(UInt16(truncatingIfNeeded: localID))))
        } else {
            avps += [AVP(.localSessionID, .u32(localID)), AVP(.remoteSessionID, .u32(peerID))]
        }
        return avps
    }

    mutating func handleCDN(_ m: ControlMessage, now: Double) -> [Action] {
        var id = addressedSession(m)
        if id == nil, let pid = peerSessionID(m), pid != 0 {
            id = sessions.records.first(where: { $0.value.info.peerID == pid })?.key
        }
        guard let id, sessions[id] != nil else { return drop("unknown_session") }
        var result = ResultCode(2, forSession: true)
        if case .resultCode(let r, let e, let text)? = m.value(.resultCode) {
            result = ResultCode(r, error: e, message: text, forSession: true)
        }
        return clearSession(id, result, sendCDN: false, byPeer: true, now: now)
    }

    mutating func clearSession(_ id: UInt32, _ result: ResultCode, sendCDN: Bool, byPeer: Bool = false,
                               now: Double) -> [Action] {
        guard let s = sessions.removeValue(forKey: id) else { return [] }
        var out: [Action] = []
        if sendCDN {
            out += queue(.cdn, cdnAVPs(localID: id, peerID: s.info.peerID, result), session: s.info.peerID, now: now)
        }
        out.append(.sessionClosed(localID: id, result, byPeer: byPeer))
        return out
    }
}
