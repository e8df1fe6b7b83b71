/// The value of the Message Type AVP: RFC 2661 §3.2 and RFC 3931 §3.1 (which adds only ACK, 20). Values other
/// RFCs register (17 MDMST, 18/19 SRRQ/SRRP, 21/22 FSQ/FSR, 23–27 multicast, 28/29 CSUN/CSURQ) arrive as `other`.
public enum MessageType: Hashable, Sendable, CustomStringConvertible {
    /// 1, Start-Control-Connection-Request.
    case sccrq
    /// 2, Start-Control-Connection-Reply.
    case sccrp
    /// 3, Start-Control-Connection-Connected.
    case scccn
    /// 4, Stop-Control-Connection-Notification.
    case stopCCN
    /// 6, Hello (keepalive).
    case hello
    /// 7, Outgoing-Call-Request.
    case ocrq
    /// 8, Outgoing-Call-Reply.
    case ocrp
    /// 9, Outgoing-Call-Connected.
    case occn
    /// 10, Incoming-Call-Request.
    case icrq
    /// 11, Incoming-Call-Reply.
    case icrp
    /// 12, Incoming-Call-Connected.
    case iccn
    /// 14, Call-Disconnect-Notify.
    case cdn
    /// 15, WAN-Error-Notify.
    case wen
    /// 16, Set-Link-Info.
    case sli
    /// 20, Explicit-Acknowledgement (v3 only, RFC 3931 §6.15).
    case ack
    /// Any other value, reserved ones (0, 5, 13) included.
    case other(UInt16)

    /// Every type RFC 2661 and RFC 3931 define.
    public static let defined: [MessageType] = [
        .sccrq, .sccrp, .scccn, .stopCCN, .hello, .ocrq, .ocrp, .occn, .icrq, .icrp, .iccn, .cdn, .wen, .sli, .ack,
    ]

    /// The type for a wire value.
    public init(rawValue: UInt16) {
        switch rawValue {
        case 1: self = .sccrq
        case 2: self = .sccrp
        case 3: self = .scccn
        case 4: self = .stopCCN
        case 6: self = .hello
        case 7: self = .ocrq
        case 8: self = .ocrp
        case 9: self = .occn
        case 10: self = .icrq
        case 11: self = .icrp
        case 12: self = .iccn
        case 14: self = .cdn
        case 15: self = .wen
        case 16: self = .sli
        case 20: self = .ack
        default: self = .other(rawValue)
        }
    }

    /// The wire value.
    public var rawValue: UInt16 {
        switch self {
        case .sccrq: 1
        case .sccrp: 2
        case .scccn: 3
        case .stopCCN: 4
        case .hello: 6
        case .ocrq: 7
        case .ocrp: 8
        case .occn: 9
        case .icrq: 10
        case .icrp: 11
        case .iccn: 12
        case .cdn: 14
        case .wen: 15
        case .sli: 16
        case .ack: 20
        case .other(let v): v
        }
    }

    /// Whether `version` defines this type (ACK is v3 only; `other` is defined by neither).
    public func isDefined(in version: L2TPVersion) -> Bool {
        switch self {
        case .other: false
        case .ack: version == .v3
        default: true
        }
    }

    /// Whether the message concerns a session rather than the control connection (an unrecognized mandatory AVP
    /// in it calls for a CDN, not a StopCCN: RFC 3931 §5.2).
    public var isSessionMessage: Bool {
        switch self {
        case .ocrq, .ocrp, .occn, .icrq, .icrp, .iccn, .cdn, .wen, .sli: true
        default: false
        }
    }

    /// The RFCs' abbreviation (`SCCRQ`, `StopCCN`, ...) or the number.
    public var description: String {
        switch self {
        case .sccrq: "SCCRQ"
        case .sccrp: "SCCRP"
        case .scccn: "SCCCN"
        case .stopCCN: "StopCCN"
        case .hello: "HELLO"
        case .ocrq: "OCRQ"
        case .ocrp: "OCRP"
        case .occn: "OCCN"
        case .icrq: "ICRQ"
        case .icrp: "ICRP"
        case .iccn: "ICCN"
        case .cdn: "CDN"
        case .wen: "WEN"
        case .sli: "SLI"
        case .ack: "ACK"
        case .other(let v): "message type \(v)"
        }
    }
}
