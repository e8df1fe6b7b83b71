/// An AVP's identity: its Vendor ID (0 for the IETF) and Attribute Type (RFC 2661 §4.1, RFC 3931 §5.1).
public struct AVPType: Hashable, Sendable, CustomStringConvertible {
    /// The SMI Private Enterprise Code; 0 for every AVP of the RFCs.
    public var vendor: UInt16
    /// The Attribute Type within the vendor's space.
    public var type: UInt16

    /// The AVP `type` of `vendor`.
    public init(vendor: UInt16 = 0, _ type: UInt16) { self.vendor = vendor; self.type = type }

    /// The table's name, or `vendor V type T`.
    public var description: String { AVPTable.info(self)?.name ?? "vendor \(vendor) type \(type)" }

    // RFC 2661 §4.4 (and RFC 3931 §5.4 where it reuses a number).
    /// 0, Message Type.
    public static let messageType = AVPType(0)
    /// 1, Result Code.
    public static let resultCode = AVPType(1)
    /// 2, Protocol Version (v2).
    public static let protocolVersion = AVPType(2)
    /// 3, Framing Capabilities (v2).
    public static let framingCapabilities = AVPType(3)
    /// 4, Bearer Capabilities (v2).
    public static let bearerCapabilities = AVPType(4)
    /// 5, Tie Breaker (v2); Control Connection / Session Tie Breaker (v3).
    public static let tieBreaker = AVPType(5)
    /// 6, Firmware Revision (v2).
    public static let firmwareRevision = AVPType(6)
    /// 7, Host Name.
    public static let hostName = AVPType(7)
    /// 8, Vendor Name.
    public static let vendorName = AVPType(8)
    /// 9, Assigned Tunnel ID (v2).
    public static let assignedTunnelID = AVPType(9)
    /// 10, Receive Window Size.
    public static let receiveWindowSize = AVPType(10)
    /// 11, Challenge (v2).
    public static let challenge = AVPType(11)
    /// 12, Q.931 Cause Code (v2).
    public static let q931CauseCode = AVPType(12)
    /// 13, Challenge Response (v2).
    public static let challengeResponse = AVPType(13)
    /// 14, Assigned Session ID (v2).
    public static let assignedSessionID = AVPType(14)
    /// 15, Call Serial Number (v2); Serial Number (v3).
    public static let callSerialNumber = AVPType(15)
    /// 16, Minimum BPS (v2).
    public static let minimumBPS = AVPType(16)
    /// 17, Maximum BPS (v2).
    public static let maximumBPS = AVPType(17)
    /// 18, Bearer Type (v2).
    public static let bearerType = AVPType(18)
    /// 19, Framing Type (v2).
    public static let framingType = AVPType(19)
    /// 21, Called Number (v2).
    public static let calledNumber = AVPType(21)
    /// 22, Calling Number (v2).
    public static let callingNumber = AVPType(22)
    /// 23, Sub-Address (v2).
    public static let subAddress = AVPType(23)
    /// 24, (Tx) Connect Speed, 32 bits (v2).
    public static let txConnectSpeed = AVPType(24)
    /// 25, Physical Channel ID.
    public static let physicalChannelID = AVPType(25)
    /// 26, Initial Received LCP CONFREQ (v2).
    public static let initialReceivedLCPConfReq = AVPType(26)
    /// 27, Last Sent LCP CONFREQ (v2).
    public static let lastSentLCPConfReq = AVPType(27)
    /// 28, Last Received LCP CONFREQ (v2).
    public static let lastReceivedLCPConfReq = AVPType(28)
    /// 29, Proxy Authen Type (v2).
    public static let proxyAuthenType = AVPType(29)
    /// 30, Proxy Authen Name (v2).
    public static let proxyAuthenName = AVPType(30)
    /// 31, Proxy Authen Challenge (v2).
    public static let proxyAuthenChallenge = AVPType(31)
    /// 32, Proxy Authen ID (v2).
    public static let proxyAuthenID = AVPType(32)
    /// 33, Proxy Authen Response (v2).
    public static let proxyAuthenResponse = AVPType(33)
    /// 34, Call Errors (v2); Circuit Errors (v3).
    public static let callErrors = AVPType(34)
    /// 35, ACCM (v2).
    public static let accm = AVPType(35)
    /// 36, Random Vector.
    public static let randomVector = AVPType(36)
    /// 37, Private Group ID (v2).
    public static let privateGroupID = AVPType(37)
    /// 38, Rx Connect Speed, 32 bits (v2).
    public static let rxConnectSpeed = AVPType(38)
    /// 39, Sequencing Required (v2).
    public static let sequencingRequired = AVPType(39)
    // RFC 3931 §5.4 and §10.1.
    /// 58, Extended Vendor ID (v3).
    public static let extendedVendorID = AVPType(58)
    /// 59, Message Digest (v3).
    public static let messageDigest = AVPType(59)
    /// 60, Router ID (v3).
    public static let routerID = AVPType(60)
    /// 61, Assigned Control Connection ID (v3).
    public static let assignedControlConnectionID = AVPType(61)
    /// 62, Pseudowire Capabilities List (v3).
    public static let pseudowireCapabilities = AVPType(62)
    /// 63, Local Session ID (v3).
    public static let localSessionID = AVPType(63)
    /// 64, Remote Session ID (v3).
    public static let remoteSessionID = AVPType(64)
    /// 65, Assigned Cookie (v3).
    public static let assignedCookie = AVPType(65)
    /// 66, Remote End ID (v3).
    public static let remoteEndID = AVPType(66)
    /// 68, Pseudowire Type (v3).
    public static let pseudowireType = AVPType(68)
    /// 69, L2-Specific Sublayer (v3).
    public static let l2SpecificSublayer = AVPType(69)
    /// 70, Data Sequencing (v3).
    public static let dataSequencing = AVPType(70)
    /// 71, Circuit Status (v3).
    public static let circuitStatus = AVPType(71)
    /// 72, Preferred Language (v3).
    public static let preferredLanguage = AVPType(72)
    /// 73, Control Message Authentication Nonce (v3).
    public static let nonce = AVPType(73)
    /// 74, Tx Connect Speed, 64 bits (v3).
    public static let txConnectSpeedV3 = AVPType(74)
    /// 75, Rx Connect Speed, 64 bits (v3).
    public static let rxConnectSpeedV3 = AVPType(75)
}

/// The Message Digest AVP's Digest Type (RFC 3931 §5.4.1).
public enum DigestAlgorithm: UInt8, CaseIterable, Sendable {
    /// 0, HMAC-MD5: 16-byte digest (MUST be supported).
    case hmacMD5 = 0
    /// 1, HMAC-SHA-1: 20-byte digest.
    case hmacSHA1 = 1

    /// The digest's length in bytes.
    public var digestLength: Int { self == .hmacMD5 ? 16 : 20 }
}

/// The counters of the Call Errors AVP (RFC 2661 §4.4.6) / Circuit Errors AVP (RFC 3931 §5.4.5), after its two
/// reserved bytes.
public struct CallErrors: Hashable, Sendable {
    /// PPP frames received with CRC errors.
    public var crcErrors: UInt32
    /// Improperly framed PPP packets.
    public var framingErrors: UInt32
    /// Receive buffer overruns.
    public var hardwareOverruns: UInt32
    /// Buffer overruns.
    public var bufferOverruns: UInt32
    /// Time-outs.
    public var timeoutErrors: UInt32
    /// Alignment errors.
    public var alignmentErrors: UInt32

    /// Counters as given (all zero by default).
    public init(crcErrors: UInt32 = 0, framingErrors: UInt32 = 0, hardwareOverruns: UInt32 = 0,
                bufferOverruns: UInt32 = 0, timeoutErrors: UInt32 = 0, alignmentErrors: UInt32 = 0) {
        self.crcErrors = crcErrors; self.framingErrors = framingErrors; self.hardwareOverruns = hardwareOverruns
        self.bufferOverruns = bufferOverruns; self.timeoutErrors = timeoutErrors; self.alignmentErrors = alignmentErrors
    }
}

/// The bits of the Circuit Status AVP's 16-bit value (RFC 3931 §5.4.5, §10.7).
public struct CircuitStatus: OptionSet, Hashable, Sendable {
    /// The AVP's 16-bit value.
    public let rawValue: UInt16
    /// The bits of a received value (reserved bits kept, RFC 3931 §5.4.5 has them ignored).
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// A: the circuit is up/active/ready.
    public static let active = CircuitStatus(rawValue: 0x0001)
    /// N: the status is for a new circuit.
    public static let new = CircuitStatus(rawValue: 0x0002)
}

/// An AVP's value, decoded according to its kind in `AVPTable`.
public enum AVPValue: Hashable, Sendable {
    /// No value (Sequencing Required).
    case empty
    /// A 16-bit unsigned integer.
    case u16(UInt16)
    /// A 32-bit unsigned integer (also bit masks: framing, bearer).
    case u32(UInt32)
    /// A 64-bit unsigned integer (tie breakers, v3 connect speeds).
    case u64(UInt64)
    /// Text; only valid UTF-8 decodes to this, so it re-encodes to the same bytes.
    case string(String)
    /// Octets (challenges, nonces, cookies, LCP copies).
    case bytes([UInt8])
    /// The Message Type AVP's value.
    case messageType(MessageType)
    /// Result Code, optional Error Code, optional Error Message (RFC 2661 §4.4.2, RFC 3931 §5.4.2); a message
    /// needs an error code.
    case resultCode(result: UInt16, error: UInt16?, message: String?)
    /// Protocol Version: version 1, revision 0 for RFC 2661 (§4.4.3).
    case protocolVersion(version: UInt8, revision: UInt8)
    /// Q.931 Cause Code, Cause Msg and optional advisory text (RFC 2661 §4.4.4).
    case q931Cause(code: UInt16, message: UInt8, advisory: String?)
    /// Call Errors / Circuit Errors counters.
    case callErrors(CallErrors)
    /// ACCM: send and receive maps (RFC 2661 §4.4.6).
    case accm(send: UInt32, receive: UInt32)
    /// The pseudowire types of the PW Capabilities List (RFC 3931 §5.4.3; Ethernet 5, Ethernet VLAN 4, RFC 4719).
    case pseudowireCapabilities([UInt16])
    /// Message Digest: Digest Type and digest (RFC 3931 §5.4.1).
    case messageDigest(DigestAlgorithm, [UInt8])
    /// An Extended Vendor ID AVP's 32-bit vendor, attribute type and value (RFC 3931 §5.1).
    case extendedVendor(vendor: UInt32, type: UInt16, value: [UInt8])
    /// The raw value of an AVP that is not recognized (or, with M clear, is malformed and so ignored, RFC 3931
    /// §7.1); it re-encodes unchanged.
    case unknown([UInt8])
}

/// Pseudowire types of RFC 4719 §4 (IANA's L2TPv3 Pseudowire Types registry).
public enum PseudowireType {
    /// 0x0004, Ethernet VLAN (tagged mode).
    public static let ethernetVLAN: UInt16 = 0x0004
    /// 0x0005, Ethernet (port mode).
    public static let ethernet: UInt16 = 0x0005
}

/// One Attribute-Value Pair.
public struct AVP: Hashable, Sendable {
    /// Vendor and attribute type.
    public var type: AVPType
    /// The M bit: an unrecognized AVP with it set ends the session or connection (RFC 2661 §4.1).
    public var mandatory: Bool
    /// The H bit: the value is hidden on the wire (RFC 2661 §4.3, RFC 3931 §5.3).
    public var hidden: Bool
    /// The value (revealed, when it was hidden).
    public var value: AVPValue
    /// Padding of the hidden subformat after the value, kept so a parsed AVP re-encodes to the same bytes.
    public var hiddenPadding: [UInt8]
    /// The four reserved flag bits; zero when sending (RFC 3931 §5.1), kept so an ignored AVP re-encodes as it
    /// came.
    public var reservedFlags: UInt8

    /// An AVP; M defaults to `AVPTable`'s bit for the type (false for types it does not know).
    public init(_ type: AVPType, _ value: AVPValue, mandatory: Bool? = nil, hidden: Bool = false,
                hiddenPadding: [UInt8] = [], reservedFlags: UInt8 = 0) {
        self.type = type
        self.mandatory = mandatory ?? AVPTable.info(type)?.mandatory ?? false
        self.hidden = hidden
        self.value = value
        self.hiddenPadding = hiddenPadding
        self.reservedFlags = reservedFlags
    }

    /// The size of the AVP header: flags and length, vendor, attribute type.
    public static let headerSize = 6
    /// The largest AVP length (a 10-bit field).
    public static let maxLength = 1023
}

extension AVPValue {
    /// The kind this value is of (`unknown` has none).
    var kind: AVPValueKind? {
        switch self {
        case .empty: .empty
        case .u16: .u16
        case .u32: .u32
        case .u64: .u64
        case .string: .string
        case .bytes: .bytes
        case .messageType: .messageType
        case .resultCode: .resultCode
        case .protocolVersion: .protocolVersion
        case .q931Cause: .q931Cause
        case .callErrors: .callErrors
        case .accm: .accm
        case .pseudowireCapabilities: .pseudowireCapabilities
        case .messageDigest: .messageDigest
        case .extendedVendor: .extendedVendor
        case .unknown: nil
        }
    }

    /// The value's bytes on the wire (before any hiding).
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .empty: break
        case .u16(let v): out.appendBE16(v)
        case .u32(let v): out.appendBE32(v)
        case .u64(let v): out.appendBE64(v)
        case .string(let s): out = Array(s.utf8)
        case .bytes(let b), .unknown(let b): out = b
        case .messageType(let t): out.appendBE16(t.rawValue)
        case .resultCode(let result, let error, let message):
            out.appendBE16(result)
            if error != nil || message != nil { out.appendBE16(error ?? 0) }
            if let message { out += Array(message.utf8) }
        case .protocolVersion(let version, let revision): out = [version, revision]
        case .q931Cause(let code, let message, let advisory):
            out.appendBE16(code)
            out.append(message)
            if let advisory { out += Array(advisory.utf8) }
        case .callErrors(let e):
            out.appendBE16(0)
            for v in [e.crcErrors, e.framingErrors, e.hardwareOverruns, e.bufferOverruns, e.timeoutErrors, e.alignmentErrors] {
                out.appendBE32(v)
            }
        case .accm(let send, let receive):
            out.appendBE16(0)
            out.appendBE32(send)
            out.appendBE32(receive)
        case .pseudowireCapabilities(let types): for t in types { out.appendBE16(t) }
        case .messageDigest(let algorithm, let digest): out = [algorithm.rawValue] + digest
        case .extendedVendor(let vendor, let type, let value):
            out.appendBE32(vendor)
            out.appendBE16(type)
            out += value
        }
        return out
    }

    /// Decodes `b` as a value of `kind`; nil when the bytes do not fit it (a malformed AVP). Reserved fields are
    /// ignored on receipt.
    static func decode(_ kind: AVPValueKind, _ b: ArraySlice<UInt8>) -> AVPValue? {
        let a = Array(b)
        let n = a.count
        switch kind {
        case .empty: return n == 0 ? .empty : nil
        case .u16: return n == 2 ? .u16(be16(a, 0)) : nil
        case .u32: return n == 4 ? .u32(be32(a, 0)) : nil
        case .u64: return n == 8 ? .u64(be64(a, 0)) : nil
        case .string: return utf8String(b).map { .string($0) }
        case .bytes: return .bytes(a)
        case .messageType: return n == 2 ? .messageType(MessageType(rawValue: be16(a, 0))) : nil
        case .resultCode:
            switch n {
            case 2: return .resultCode(result: be16(a, 0), error: nil, message: nil)
            case 3: return nil
            case 4: return .resultCode(result: be16(a, 0), error: be16(a, 2), message: nil)
            default:
                guard n > 4, let m = utf8String(a[4...]) else { return nil }
                return .resultCode(result: be16(a, 0), error: be16(a, 2), message: m)
            }
        case .protocolVersion: return n == 2 ? .protocolVersion(version: a[0], revision: a[1]) : nil
        case .q931Cause:
            guard n >= 3 else { return nil }
            if n == 3 { return .q931Cause(code: be16(a, 0), message: a[2], advisory: nil) }
            guard let text = utf8String(a[3...]) else { return nil }
            return .q931Cause(code: be16(a, 0), message: a[2], advisory: text)
        case .callErrors:
            guard n == 26 else { return nil }
            return .callErrors(CallErrors(crcErrors: be32(a, 2), framingErrors: be32(a, 6), hardwareOverruns: be32(a, 10),
                                          bufferOverruns: be32(a, 14), timeoutErrors: be32(a, 18),
                                          alignmentErrors: be32(a, 22)))
        case .accm: return n == 10 ? .accm(send: be32(a, 2), receive: be32(a, 6)) : nil
        case .pseudowireCapabilities:
            guard n >= 2, n % 2 == 0 else { return nil }
            return .pseudowireCapabilities(stride(from: 0, to: n, by: 2).map { be16(a, $0) })
        case .messageDigest:
            guard n >= 1, let algorithm = DigestAlgorithm(rawValue: a[0]), n == 1 + algorithm.digestLength else {
                return nil
            }
            return .messageDigest(algorithm, Array(a[1...]))
        case .extendedVendor:
            guard n >= 6 else { return nil }
            return .extendedVendor(vendor: be32(a, 0), type: be16(a, 4), value: Array(a[6...]))
        }
    }
}
