/// What a receiver needs to route a datagram over UDP, read from the first bytes of its header without decoding
/// it (no length, sequence or AVP checks: the connection or the data path that takes it does those).
public struct L2TPPeek: Equatable, Sendable {
    /// The version field (2 or 3 for L2TP; anything else as it came).
    public var version: UInt8
    /// The T bit: a control message (L2TPv3 data and L2TPv2 data have it clear).
    public var isControl: Bool
    /// The tunnel id (v2) or control connection id (v3 control) the message is for; nil for v3 data, which names
    /// only its session.
    public var connectionID: UInt32?
    /// The session id: v2's (0 on tunnel messages), v3 data's; nil for v3 control messages (their session, if any,
    /// is in an AVP).
    public var sessionID: UInt32?

    public init(version: UInt8, isControl: Bool, connectionID: UInt32?, sessionID: UInt32?) {
        self.version = version; self.isControl = isControl; self.connectionID = connectionID; self.sessionID = sessionID
    }

    /// Reads `bytes` as they came over UDP; nil when they are too short for the header fields their first bytes
    /// announce (a control message: shorter than the 12-byte control header). Never traps.
    public static func udp(_ bytes: UnsafeRawBufferPointer) -> L2TPPeek? { peek(bytes) }

    /// `udp` on an array.
    public static func udp(_ bytes: [UInt8]) -> L2TPPeek? { peek(bytes) }

    static func peek<D: RandomAccessCollection<UInt8>>(_ d: D) -> L2TPPeek? where D.Index == Int {
        guard d.count >= 2 else { return nil }
        let base = d.startIndex
        let isControl = d[base] & 0x80 != 0
        let version = d[base + 1] & 0x0f
        func be16(_ at: Int) -> UInt32 { UInt32(d[base + at]) << 8 | UInt32(d[base + at + 1]) }
        if isControl {
            guard d.count >= ControlHeader.size else { return nil }
            // Control messages carry Length (L = 1, RFC 2661 §3.1, RFC 3931 §3.2.1): the id follows it.
            if version == L2TPVersion.v2.rawValue {
                return L2TPPeek(version: version, isControl: true, connectionID: be16(4), sessionID: be16(6))
            }
            return L2TPPeek(version: version, isControl: true, connectionID: be16(4) << 16 | be16(6), sessionID: nil)
        }
        if version == L2TPVersion.v2.rawValue {
            // RFC 2661 §3.1: the Length field is there only when L is set.
            let at = d[base] & 0x40 != 0 ? 4 : 2
            guard d.count >= at + 4 else { return nil }
            return L2TPPeek(version: version, isControl: false, connectionID: be16(at), sessionID: be16(at + 2))
        }
        // v3 data over UDP (RFC 3931 §4.1.2.1): flags and version, reserved, then the session id.
        guard d.count >= 8 else { return nil }
        return L2TPPeek(version: version, isControl: false, connectionID: nil, sessionID: be16(4) << 16 | be16(6))
    }
}
