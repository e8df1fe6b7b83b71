/// Why a datagram or message was refused, or could not be built: a counted reason, where in the datagram it was
/// found, the AVP concerned and, once known, the header and message type (so a state machine can answer with a
/// StopCCN or CDN carrying Result Code 2 / Error Code 8, RFC 2661 §4.2, RFC 3931 §5.2).
public struct L2TPWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The counted reason.
    public var reason: Reason
    /// Byte offset in the datagram (nil when encoding).
    public var offset: Int?
    /// The AVP concerned, if any.
    public var avp: AVPType?
    /// The control header, once it was parsed.
    public var header: ControlHeader?
    /// The message type, once the first AVP was read.
    public var messageType: MessageType?

    /// An error for `reason` at `offset` about `avp`.
    public init(_ reason: Reason, offset: Int? = nil, avp: AVPType? = nil, header: ControlHeader? = nil,
                messageType: MessageType? = nil) {
        self.reason = reason; self.offset = offset; self.avp = avp; self.header = header; self.messageType = messageType
    }

    /// The reason's name, the AVP and the offset.
    public var description: String {
        var s = reason.name
        if let avp { s += " (\(avp))" }
        if let offset { s += " at byte \(offset)" }
        return s
    }

    /// The reasons, each with a stable name for counters and JSON.
    public enum Reason: Int, CaseIterable, Sendable {
        /// Fewer bytes than the header's fixed fields need.
        case tooShort
        /// A version other than 2 or 3 (1 is L2F, RFC 2661 §3.1), or 2 over IP.
        case badVersion
        /// A bit that must be zero is set: O or P on a v2 control message (RFC 2661 §3.1), or a reserved AVP
        /// flag on a v2 AVP with M set (RFC 2661 §4.1: treated as an unrecognized mandatory AVP).
        case reservedBits
        /// The Length field is larger than the datagram or smaller than the header.
        case lengthMismatch
        /// The v2 offset padding runs past the message (RFC 2661 §3.1).
        case offsetBeyondLength
        /// A control message without the L or S bit (RFC 2661 §3.1, RFC 3931 §3.2.1), or a zero session id over IP
        /// that is not followed by a control header (RFC 3931 §4.1.1.2).
        case missingLengthOrSequence
        /// A data message given to the control message parser.
        case notControl
        /// An AVP length below 6 or past the end of the message (RFC 2661 §4.1, RFC 3931 §5.1).
        case badAVPLength
        /// The first AVP is not the Message Type (RFC 2661 §4.4.1, RFC 3931 §5.4.1).
        case firstAVPNotMessageType
        /// An unrecognized AVP with M set (RFC 2661 §4.1, RFC 3931 §5.2).
        case unknownMandatoryAVP
        /// A Message Type AVP with M set naming a type this version does not define (RFC 3931 §5.4.1, §7.1).
        case unknownMessageType
        /// A known AVP with M set whose value is malformed (RFC 3931 §7.1), or, encoding, a value that does not fit
        /// its AVP.
        case badAVPValue
        /// A hidden AVP and no shared secret to reveal it with.
        case hiddenWithoutSecret
        /// A hidden AVP with no Random Vector AVP before it (RFC 2661 §4.3, RFC 3931 §5.3).
        case hiddenWithoutRandomVector
        /// A revealed hidden value shorter than 2 bytes, or whose original length exceeds what it carries.
        case badHiddenLength
        /// The H bit on an AVP that must not be hidden (nested or repeated hiding is no such thing).
        case notHidable
        /// Authentication is on and the message has no Message Digest AVP (RFC 3931 §4.3, §5.4.1).
        case missingDigest
        /// No Message Digest AVP in the message matches (RFC 3931 §5.4.1).
        case badDigest
        /// Encoding: a field too large for its place (a v2 tunnel id over 16 bits, an AVP over 1023 bytes, a
        /// message over 65535 bytes).
        case valueOutOfRange

        /// The name in counters and JSON (`bad_avp_length`, ...).
        public var name: String {
            switch self {
            case .tooShort: "too_short"
            case .badVersion: "bad_version"
            case .reservedBits: "reserved_bits"
            case .lengthMismatch: "length_mismatch"
            case .offsetBeyondLength: "offset_beyond_length"
            case .missingLengthOrSequence: "missing_length_or_sequence"
            case .notControl: "not_control"
            case .badAVPLength: "bad_avp_length"
            case .firstAVPNotMessageType: "first_avp_not_message_type"
            case .unknownMandatoryAVP: "unknown_mandatory_avp"
            case .unknownMessageType: "unknown_message_type"
            case .badAVPValue: "bad_avp_value"
            case .hiddenWithoutSecret: "hidden_without_secret"
            case .hiddenWithoutRandomVector: "hidden_without_random_vector"
            case .badHiddenLength: "bad_hidden_length"
            case .notHidable: "not_hidable"
            case .missingDigest: "missing_digest"
            case .badDigest: "bad_digest"
            case .valueOutOfRange: "value_out_of_range"
            }
        }
    }
}
