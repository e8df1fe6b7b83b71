/// The AVPs each message MUST carry: RFC 2661 §6.1–§6.14 (v2) and RFC 3931 §6.1–§6.15 (v3).
public enum RequiredAVPs {
    /// The required AVPs of `type` in `version` (empty for types the version does not define).
    public static func of(_ type: MessageType, version: L2TPVersion) -> [AVPType] {
        version == .v2 ? v2(type) : v3(type)
    }

    static func v2(_ type: MessageType) -> [AVPType] {
        switch type {
        case .sccrq, .sccrp:  // §6.1, §6.2
            [.messageType, .protocolVersion, .hostName, .framingCapabilities, .assignedTunnelID]
        case .scccn, .hello: [.messageType]  // §6.3, §6.5
        case .stopCCN: [.messageType, .assignedTunnelID, .resultCode]  // §6.4
        case .icrq: [.messageType, .assignedSessionID, .callSerialNumber]  // §6.6
        case .icrp, .ocrp: [.messageType, .assignedSessionID]  // §6.7, §6.10
        case .iccn, .occn: [.messageType, .txConnectSpeed, .framingType]  // §6.8, §6.11
        case .ocrq:  // §6.9
            [.messageType, .assignedSessionID, .callSerialNumber, .minimumBPS, .maximumBPS, .bearerType,
             .framingType, .calledNumber]
        case .cdn: [.messageType, .resultCode, .assignedSessionID]  // §6.12
        case .wen: [.messageType, .callErrors]  // §6.13
        case .sli: [.messageType, .accm]  // §6.14
        case .ack, .other: []
        }
    }

    static func v3(_ type: MessageType) -> [AVPType] {
        switch type {
        case .sccrq, .sccrp:  // §6.1, §6.2
            [.messageType, .hostName, .routerID, .assignedControlConnectionID, .pseudowireCapabilities]
        case .scccn, .hello, .ack: [.messageType]  // §6.3, §6.5, §6.15 (an ACK with AVPs has its Message Type)
        case .stopCCN: [.messageType, .resultCode]  // §6.4
        case .icrq, .ocrq:  // §6.6, §6.9
            [.messageType, .localSessionID, .remoteSessionID, .callSerialNumber, .pseudowireType, .remoteEndID,
             .circuitStatus]
        case .icrp, .ocrp: [.messageType, .localSessionID, .remoteSessionID, .circuitStatus]  // §6.7, §6.10
        case .iccn, .occn, .sli: [.messageType, .localSessionID, .remoteSessionID]  // §6.8, §6.11, §6.14
        case .cdn: [.messageType, .resultCode, .localSessionID, .remoteSessionID]  // §6.12
        case .wen: [.messageType, .localSessionID, .remoteSessionID, .callErrors]  // §6.13
        case .other: []
        }
    }
}

extension ControlMessage {
    /// The required AVPs this message lacks for `version` (default: its header's), in the RFC's order; empty
    /// for a ZLB. An AVP kept as `.unknown` (malformed, M clear) does not count as present.
    public func validate(version: L2TPVersion? = nil) -> [AVPType] {
        guard let type = messageType else { return [] }
        let present = Set(avps.filter { if case .unknown = $0.value { false } else { true } }.map(\.type))
        return RequiredAVPs.of(type, version: version ?? header.version).filter { !present.contains($0) }
    }
}
