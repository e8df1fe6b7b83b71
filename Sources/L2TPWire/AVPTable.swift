// The AVPs of RFC 2661 §4.4 and RFC 3931 §5.4 as data (systemd's policy tables, go-l2tp's AVP info table): one
// table drives decoding, validation of what is sent, hiding rules, names and the fuzz dictionary.

/// How an AVP's value is laid out.
public enum AVPValueKind: Hashable, Sendable {
    /// No value.
    case empty
    /// 16-bit unsigned.
    case u16
    /// 32-bit unsigned or bit mask.
    case u32
    /// 64-bit unsigned.
    case u64
    /// UTF-8 (US-ASCII in the RFCs) text.
    case string
    /// Octets.
    case bytes
    /// The Message Type AVP.
    case messageType
    /// Result Code, optional Error Code and Error Message.
    case resultCode
    /// Version and revision octets.
    case protocolVersion
    /// Q.931 cause code, message code, advisory text.
    case q931Cause
    /// 2 reserved bytes and six 32-bit counters.
    case callErrors
    /// 2 reserved bytes, send and receive ACCM.
    case accm
    /// A list of 16-bit pseudowire types.
    case pseudowireCapabilities
    /// Digest Type and digest.
    case messageDigest
    /// 32-bit vendor, attribute type, value.
    case extendedVendor
}

/// The value lengths (the AVP's Length minus its 6-byte header) an AVP may have.
public enum ValueLength: Hashable, Sendable {
    /// Exactly this many bytes.
    case fixed(Int)
    /// At least this many bytes (up to 1017, the 10-bit Length's limit).
    case atLeast(Int)
    /// One of these.
    case oneOf([Int])
    /// A multiple of `of`, at least `min`.
    case multiple(of: Int, min: Int)

    /// Whether `n` value bytes are allowed.
    public func allows(_ n: Int) -> Bool {
        guard n >= 0, n <= AVP.maxLength - AVP.headerSize else { return false }
        switch self {
        case .fixed(let f): return n == f
        case .atLeast(let m): return n >= m
        case .oneOf(let set): return set.contains(n)
        case .multiple(let of, let min): return n >= min && n % of == 0
        }
    }
}

/// What the RFCs say about one AVP.
public struct AVPInfo: Hashable, Sendable {
    /// Vendor and type.
    public let type: AVPType
    /// The RFC's name (v2's where the versions differ, v3's after a slash).
    public let name: String
    /// The value's layout.
    public let kind: AVPValueKind
    /// The lengths the value may have.
    public let length: ValueLength
    /// Whether the H bit may be set.
    public let hidable: Bool
    /// The M bit to send: what RFC 2661 requires for its AVPs (RFC 3931 §5.2 lets senders vary it), RFC 3931's
    /// SHOULD for the others.
    public let mandatory: Bool
    /// The versions that define it.
    public let versions: Set<L2TPVersion>
    /// Where it is defined.
    public let section: String
}

/// The table of every IETF AVP of RFC 2661 and RFC 3931.
public enum AVPTable {
    static let both: Set<L2TPVersion> = [.v2, .v3]
    static let v2: Set<L2TPVersion> = [.v2]
    static let v3: Set<L2TPVersion> = [.v3]

    private static func e(_ type: UInt16, _ name: String, _ kind: AVPValueKind, _ length: ValueLength, hide: Bool,
                          m: Bool, _ versions: Set<L2TPVersion>, _ section: String) -> AVPInfo {
        AVPInfo(type: AVPType(type), name: name, kind: kind, length: length, hidable: hide, mandatory: m,
                versions: versions, section: section)
    }

    /// Every entry, by attribute type.
    public static let all: [AVPInfo] = [
        e(0, "Message Type", .messageType, .fixed(2), hide: false, m: true, both, "RFC 2661 §4.4.1, RFC 3931 §5.4.1"),
        e(1, "Result Code", .resultCode, .atLeast(2), hide: false, m: true, both, "RFC 2661 §4.4.2, RFC 3931 §5.4.2"),
        e(2, "Protocol Version", .protocolVersion, .fixed(2), hide: false, m: true, v2, "RFC 2661 §4.4.3"),
        e(3, "Framing Capabilities", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.3"),
        e(4, "Bearer Capabilities", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.3"),
        e(5, "Tie Breaker", .u64, .fixed(8), hide: false, m: false, both, "RFC 2661 §4.4.3, RFC 3931 §5.4.3/§5.4.4"),
        e(6, "Firmware Revision", .u16, .fixed(2), hide: true, m: false, v2, "RFC 2661 §4.4.3"),
        e(7, "Host Name", .string, .atLeast(1), hide: false, m: true, both, "RFC 2661 §4.4.3, RFC 3931 §5.4.3"),
        e(8, "Vendor Name", .string, .atLeast(0), hide: true, m: false, both, "RFC 2661 §4.4.3, RFC 3931 §5.4.3"),
        e(9, "Assigned Tunnel ID", .u16, .fixed(2), hide: true, m: true, v2, "RFC 2661 §4.4.3"),
        e(10, "Receive Window Size", .u16, .fixed(2), hide: false, m: true, both, "RFC 2661 §4.4.3, RFC 3931 §5.4.3"),
        e(11, "Challenge", .bytes, .atLeast(1), hide: true, m: true, v2, "RFC 2661 §4.4.3"),
        e(12, "Q.931 Cause Code", .q931Cause, .atLeast(3), hide: false, m: true, v2, "RFC 2661 §4.4.4"),
        e(13, "Challenge Response", .bytes, .fixed(16), hide: true, m: true, v2, "RFC 2661 §4.4.3"),
        e(14, "Assigned Session ID", .u16, .fixed(2), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(15, "Call Serial Number", .u32, .fixed(4), hide: true, m: true, both, "RFC 2661 §4.4.4, RFC 3931 §5.4.4"),
        e(16, "Minimum BPS", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(17, "Maximum BPS", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(18, "Bearer Type", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(19, "Framing Type", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(21, "Called Number", .string, .atLeast(0), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(22, "Calling Number", .string, .atLeast(0), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(23, "Sub-Address", .string, .atLeast(0), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(24, "(Tx) Connect Speed", .u32, .fixed(4), hide: true, m: true, v2, "RFC 2661 §4.4.4"),
        e(25, "Physical Channel ID", .u32, .fixed(4), hide: true, m: false, both, "RFC 2661 §4.4.4, RFC 3931 §5.4.4"),
        e(26, "Initial Received LCP CONFREQ", .bytes, .atLeast(0), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(27, "Last Sent LCP CONFREQ", .bytes, .atLeast(0), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(28, "Last Received LCP CONFREQ", .bytes, .atLeast(0), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(29, "Proxy Authen Type", .u16, .fixed(2), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(30, "Proxy Authen Name", .bytes, .atLeast(0), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(31, "Proxy Authen Challenge", .bytes, .atLeast(1), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(32, "Proxy Authen ID", .u16, .fixed(2), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(33, "Proxy Authen Response", .bytes, .atLeast(0), hide: true, m: false, v2, "RFC 2661 §4.4.5"),
        e(34, "Call Errors / Circuit Errors", .callErrors, .fixed(26), hide: true, m: true, both,
          "RFC 2661 §4.4.6, RFC 3931 §5.4.5"),
        e(35, "ACCM", .accm, .fixed(10), hide: true, m: true, v2, "RFC 2661 §4.4.6"),
        e(36, "Random Vector", .bytes, .atLeast(0), hide: false, m: true, both, "RFC 2661 §4.4.1, RFC 3931 §5.4.1"),
        e(37, "Private Group ID", .bytes, .atLeast(0), hide: true, m: false, v2, "RFC 2661 §4.4.4"),
        e(38, "Rx Connect Speed", .u32, .fixed(4), hide: true, m: false, v2, "RFC 2661 §4.4.4"),
        e(39, "Sequencing Required", .empty, .fixed(0), hide: false, m: true, v2, "RFC 2661 §4.4.4"),
        e(58, "Extended Vendor ID", .extendedVendor, .atLeast(6), hide: true, m: false, v3, "RFC 3931 §5.1"),
        e(59, "Message Digest", .messageDigest, .oneOf([17, 21]), hide: false, m: true, v3, "RFC 3931 §5.4.1"),
        e(60, "Router ID", .u32, .fixed(4), hide: false, m: true, v3, "RFC 3931 §5.4.3"),
        e(61, "Assigned Control Connection ID", .u32, .fixed(4), hide: true, m: true, v3, "RFC 3931 §5.4.3"),
        e(62, "Pseudowire Capabilities List", .pseudowireCapabilities, .multiple(of: 2, min: 2), hide: true, m: true,
          v3, "RFC 3931 §5.4.3"),
        e(63, "Local Session ID", .u32, .fixed(4), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(64, "Remote Session ID", .u32, .fixed(4), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(65, "Assigned Cookie", .bytes, .oneOf([0, 4, 8]), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(66, "Remote End ID", .bytes, .atLeast(0), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(68, "Pseudowire Type", .u16, .fixed(2), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(69, "L2-Specific Sublayer", .u16, .fixed(2), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(70, "Data Sequencing", .u16, .fixed(2), hide: true, m: true, v3, "RFC 3931 §5.4.4"),
        e(71, "Circuit Status", .u16, .fixed(2), hide: true, m: true, v3, "RFC 3931 §5.4.5"),
        e(72, "Preferred Language", .string, .atLeast(0), hide: true, m: false, v3, "RFC 3931 §5.4.3"),
        e(73, "Control Message Authentication Nonce", .bytes, .atLeast(0), hide: false, m: true, v3,
          "RFC 3931 §5.4.1"),
        e(74, "Tx Connect Speed", .u64, .fixed(8), hide: true, m: false, v3, "RFC 3931 §5.4.4"),
        e(75, "Rx Connect Speed", .u64, .fixed(8), hide: true, m: false, v3, "RFC 3931 §5.4.4"),
    ]

    /// Vendor 0's entries indexed by attribute type (nil: undefined).
    static let byType: [AVPInfo?] = {
        var t = [AVPInfo?](repeating: nil, count: 76)
        for info in all { t[Int(info.type.type)] = info }
        return t
    }()

    /// The entry for `type`, nil for types the RFCs do not define (all non-zero vendors included).
    public static func info(_ type: AVPType) -> AVPInfo? {
        guard type.vendor == 0, Int(type.type) < byType.count else { return nil }
        return byType[Int(type.type)]
    }
}
