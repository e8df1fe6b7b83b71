/// The Result Code AVP's meaning (RFC 2661 §4.4.2, RFC 3931 §5.4.2): why a control connection or session ended.
public struct ResultCode: Hashable, Sendable, CustomStringConvertible {
    /// The result (StopCCN or CDN numbering, by `forSession`).
    public var result: UInt16
    /// The error code, when the result is 2 (general error) or the peer sent one.
    public var error: UInt16?
    /// The optional text.
    public var message: String?
    /// Whether the numbering is the CDN one.
    public var forSession: Bool

    /// A result code; StopCCN numbering unless `forSession`.
    public init(_ result: UInt16, error: UInt16? = nil, message: String? = nil, forSession: Bool = false) {
        self.result = result; self.error = error; self.message = message; self.forSession = forSession
    }

    // StopCCN (RFC 2661 §4.4.2, RFC 3931 §5.4.2).
    /// 1: General request to clear the control connection.
    public static let clear = ResultCode(1)
    /// 3: Control connection already exists.
    public static let alreadyExists = ResultCode(3)
    /// 4: Requester is not authorized to establish a control connection.
    public static func notAuthorized(_ why: String) -> ResultCode { ResultCode(4, message: why) }
    /// 5: The protocol version of the requester is not supported.
    public static let versionNotSupported = ResultCode(5)
    /// 6: Requester is being shut down.
    public static let shuttingDown = ResultCode(6)
    /// 7: Finite state machine error.
    public static func stateMachineError(_ why: String) -> ResultCode { ResultCode(7, message: why) }
    /// 2 (general error) with an error code and text.
    public static func general(_ error: UInt16, _ why: String, forSession: Bool = false) -> ResultCode {
        ResultCode(2, error: error, message: why, forSession: forSession)
    }

    // CDN (RFC 2661 §4.4.2, RFC 3931 §5.4.2).
    /// 3: Session disconnected for administrative reasons.
    public static let administrative = ResultCode(3, forSession: true)
    /// 4: Temporary lack of facilities (too many sessions).
    public static let temporaryLackOfFacilities = ResultCode(4, forSession: true)
    /// 5: Permanent lack of facilities.
    public static func permanentLackOfFacilities(_ why: String) -> ResultCode { ResultCode(5, message: why, forSession: true) }
    /// 6: Invalid destination.
    public static func invalidDestination(_ why: String) -> ResultCode { ResultCode(6, message: why, forSession: true) }
    /// 10: Call was not established within the time allotted by the LAC.
    public static let timeout = ResultCode(10, forSession: true)
    /// 13 (v3): Session not established due to losing tie breaker.
    public static let lostTieBreaker = ResultCode(13, forSession: true)
    /// 14 (v3): Session not established due to unsupported PW type.
    public static let unsupportedPseudowire = ResultCode(14, forSession: true)
    /// 15 (v3): Session not established, sequencing required without valid L2-Specific Sublayer.
    public static let sequencingWithoutSublayer = ResultCode(15, forSession: true)
    /// 16 (v3): Finite state machine error or timeout.
    public static func sessionStateMachineError(_ why: String) -> ResultCode { ResultCode(16, message: why, forSession: true) }

    // Error codes (RFC 2661 §4.4.2, RFC 3931 §5.4.2).
    /// 1: No control connection exists yet for this pair of LCCEs.
    public static let errorNoControlConnection: UInt16 = 1
    /// 2: Length is wrong.
    public static let errorLength: UInt16 = 2
    /// 3: One of the field values was out of range.
    public static let errorOutOfRange: UInt16 = 3
    /// 4: Insufficient resources to handle this operation now.
    public static let errorInsufficientResources: UInt16 = 4
    /// 5: Invalid Session ID.
    public static let errorInvalidSession: UInt16 = 5
    /// 6: A generic vendor-specific error occurred.
    public static let errorVendor: UInt16 = 6
    /// 8: Unknown mandatory AVP received.
    public static let errorUnknownMandatoryAVP: UInt16 = 8

    /// The RFC's words for the result (and error) code.
    public var meaning: String {
        let r: String
        if forSession {
            r = switch result {
            case 1: "lost carrier"
            case 2: "general error"
            case 3: "administrative"
            case 4: "temporary lack of facilities"
            case 5: "permanent lack of facilities"
            case 6: "invalid destination"
            case 7: "no carrier"
            case 8: "busy"
            case 9: "no dial tone"
            case 10: "not established in time"
            case 11: "no appropriate framing"
            case 13: "lost tie breaker"
            case 14: "unsupported pseudowire type"
            case 15: "sequencing required without a valid L2-specific sublayer"
            case 16: "state machine error or timeout"
            default: "result \(result)"
            }
        } else {
            r = switch result {
            case 1: "general request to clear"
            case 2: "general error"
            case 3: "control connection already exists"
            case 4: "requester is not authorized"
            case 5: "protocol version not supported"
            case 6: "requester is being shut down"
            case 7: "state machine error"
            default: "result \(result)"
            }
        }
        guard let error, error != 0 else { return r }
        let e = switch error {
        case 1: "no control connection yet"
        case 2: "length is wrong"
        case 3: "field value out of range"
        case 4: "insufficient resources"
        case 5: "invalid session id"
        case 6: "vendor-specific error"
        case 7: "try another LNS"
        case 8: "unknown mandatory AVP"
        default: "error \(error)"
        }
        return "\(r), \(e)"
    }

    /// `4 (requester is not authorized): bad challenge response`.
    public var description: String {
        var s = "\(result) (\(meaning))"
        if let message, !message.isEmpty { s += ": \(message)" }
        return s
    }
}
