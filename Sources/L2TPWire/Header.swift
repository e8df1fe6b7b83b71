/// The L2TP version in the header's Ver field (RFC 2661 §3.1, RFC 3931 §3.2.1).
public enum L2TPVersion: UInt8, CaseIterable, Sendable {
    /// L2TPv2, RFC 2661.
    case v2 = 2
    /// L2TPv3, RFC 3931.
    case v3 = 3
}

/// What carries the L2TP datagram: UDP (port 1701, v2 and v3) or IP protocol 115 (v3 only, RFC 3931 §4.1.1).
public enum L2TPTransport: Hashable, Sendable {
    /// UDP: the datagram starts with the flags word.
    case udp
    /// IP: the datagram (after the IP header) starts with a 32-bit session id, zero for control messages.
    case ip
}

/// The header of a control message: RFC 2661 §3.1 with T, L and S set, or RFC 3931 §3.2.1.
///
///     v2:  |T|L|x|x|S|x|O|P|x|x|x|x| Ver=2 |     Length    |  Tunnel ID  |  Session ID  |   Ns   |   Nr   |
///     v3:  |T|L|x|x|S|x|x|x|x|x|x|x| Ver=3 |     Length    |  Control Connection ID     |   Ns   |   Nr   |
///
/// Over IP a v3 control header is preceded by 32 zero bits (RFC 3931 §4.1.1.2), which Length does not count.
public struct ControlHeader: Hashable, Sendable {
    /// v2 or v3.
    public var version: L2TPVersion
    /// The recipient's v2 Tunnel ID (16 bits) or v3 Control Connection ID.
    public var connectionID: UInt32
    /// The recipient's v2 Session ID; v3 has no such field and it stays 0.
    public var sessionID: UInt16
    /// This message's sequence number (RFC 2661 §5.8, RFC 3931 §4.2).
    public var ns: UInt16
    /// The next sequence number expected from the peer.
    public var nr: UInt16

    /// A header; `sessionID` only for v2.
    public init(version: L2TPVersion, connectionID: UInt32, sessionID: UInt16 = 0, ns: UInt16 = 0, nr: UInt16 = 0) {
        self.version = version; self.connectionID = connectionID; self.sessionID = sessionID; self.ns = ns; self.nr = nr
    }

    /// Bytes of the header proper (flags to Nr), the same for v2 and v3.
    public static let size = 12

    /// Bytes before the header: the zero session id over IP.
    public static func prefixSize(_ transport: L2TPTransport) -> Int { transport == .ip ? 4 : 0 }

    /// The header bytes (with the IP prefix) for a body of `bodyLength` bytes.
    public func encode(bodyLength: Int, transport: L2TPTransport) throws(L2TPWireError) -> [UInt8] {
        if version == .v2 && transport == .ip { throw L2TPWireError(.badVersion) }
        if version == .v2 && connectionID > 0xffff { throw L2TPWireError(.valueOutOfRange) }
        if version == .v3 && sessionID != 0 { throw L2TPWireError(.valueOutOfRange) }
        let length = Self.size + bodyLength
        guard bodyLength >= 0, length <= 0xffff else { throw L2TPWireError(.valueOutOfRange) }
        var out: [UInt8] = []
        out.reserveCapacity(Self.prefixSize(transport) + length)
        if transport == .ip { out.appendBE32(0) }
        out.append(0xc8)                // T, L, S
        out.append(version.rawValue)    // reserved bits, Ver
        out.appendBE16(UInt16(length))
        if version == .v2 {
            out.appendBE16(UInt16(connectionID))
            out.appendBE16(sessionID)
        } else {
            out.appendBE32(connectionID)
        }
        out.appendBE16(ns)
        out.appendBE16(nr)
        return out
    }
}

/// An L2TPv2 data message header (RFC 2661 §3.1): T clear, L, S, O and P as chosen.
public struct V2DataHeader: Hashable, Sendable {
    /// The recipient's Tunnel ID.
    public var tunnelID: UInt16
    /// The recipient's Session ID.
    public var sessionID: UInt16
    /// Ns when S is set.
    public var ns: UInt16?
    /// Nr when S is set (reserved in data messages, ignored on receipt).
    public var nr: UInt16?
    /// The L bit: a Length field is present.
    public var hasLength: Bool
    /// The P bit: the message should get preferential queuing.
    public var priority: Bool
    /// The offset padding when O is set; its count is the Offset Size.
    public var offsetPad: [UInt8]?

    /// A data header; sequence numbers, length and offset as given.
    public init(tunnelID: UInt16, sessionID: UInt16, ns: UInt16? = nil, nr: UInt16? = nil, hasLength: Bool = false,
                priority: Bool = false, offsetPad: [UInt8]? = nil) {
        self.tunnelID = tunnelID; self.sessionID = sessionID; self.ns = ns; self.nr = nr
        self.hasLength = hasLength; self.priority = priority; self.offsetPad = offsetPad
    }

    /// The header bytes for a payload of `payloadLength` bytes (Length, when present, counts both).
    public func encode(payloadLength: Int) throws(L2TPWireError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(payloadLength: payloadLength, into: &out)
        return out
    }

    /// Appends the header bytes to `out` (a send buffer the payload follows); on error `out` is as it was.
    public func encode(payloadLength: Int, into out: inout [UInt8]) throws(L2TPWireError) {
        let start = out.count
        let sequenced = ns != nil || nr != nil
        var flags: UInt8 = 0
        if hasLength { flags |= 0x40 }
        if sequenced { flags |= 0x08 }
        if offsetPad != nil { flags |= 0x02 }
        if priority { flags |= 0x01 }
        if let pad = offsetPad, pad.count > 0xffff { throw L2TPWireError(.valueOutOfRange) }
        let headerLength = 6 + (hasLength ? 2 : 0) + (sequenced ? 4 : 0) + (offsetPad.map { 2 + $0.count } ?? 0)
        if hasLength {
            guard payloadLength >= 0, headerLength + payloadLength <= 0xffff else { throw L2TPWireError(.valueOutOfRange) }
        }
        out.append(flags)
        out.append(L2TPVersion.v2.rawValue)
        if hasLength { out.appendBE16(UInt16(headerLength + payloadLength)) }
        out.appendBE16(tunnelID)
        out.appendBE16(sessionID)
        if sequenced { out.appendBE16(ns ?? 0); out.appendBE16(nr ?? 0) }
        if let pad = offsetPad {
            out.appendBE16(UInt16(pad.count))
            out += pad
        }
        assert(out.count - start == headerLength)
    }
}

/// An L2TPv3 data message header: over UDP the flags word (T clear, Ver 3, RFC 3931 §4.1.2.1) and the session
/// id, over IP the session id alone (§4.1.1.1). The cookie and L2-specific sublayer that follow depend on the
/// session's configuration and are left to the data plane.
public struct V3DataHeader: Hashable, Sendable {
    /// The recipient's session id (non-zero; zero over IP marks a control message).
    public var sessionID: UInt32

    /// A data header for `sessionID`.
    public init(sessionID: UInt32) { self.sessionID = sessionID }

    /// The header bytes.
    public func encode(transport: L2TPTransport) -> [UInt8] {
        var out: [UInt8] = transport == .udp ? [0x00, L2TPVersion.v3.rawValue, 0x00, 0x00] : []
        out.appendBE32(sessionID)
        return out
    }
}

/// A datagram classified by its header, with where the rest lies.
public enum L2TPHeader: Hashable, Sendable {
    /// A control message: its header, and the range of the datagram holding its AVPs (up to Length).
    case control(ControlHeader, body: Range<Int>)
    /// An L2TPv2 data message and the range of its payload (after any offset padding, up to Length if present).
    case v2Data(V2DataHeader, payload: Range<Int>)
    /// An L2TPv3 data message and the range after its session id (cookie, sublayer, payload).
    case v3Data(V3DataHeader, payload: Range<Int>)

    /// Reads the header of `datagram` as it came over `transport` (for IP: the bytes after the IP header).
    /// Never traps; anything malformed throws with its reason.
    public static func parse(_ d: [UInt8], transport: L2TPTransport) throws(L2TPWireError) -> L2TPHeader {
        try parse(bytes: d, transport: transport)
    }

    /// `parse` on bytes in place (a receive buffer), without copying them into an array first.
    public static func parse(_ d: UnsafeRawBufferPointer, transport: L2TPTransport) throws(L2TPWireError) -> L2TPHeader {
        try parse(bytes: d, transport: transport)
    }

    /// The one implementation of both (specialized for each; indices from 0).
    static func parse<D: RandomAccessCollection<UInt8>>(bytes d: D, transport: L2TPTransport) throws(L2TPWireError) -> L2TPHeader
    where D.Index == Int {
        if transport == .ip {
            // RFC 3931 §4.1.1.2: a zero session id marks a control message.
            guard d.count >= 4 else { throw L2TPWireError(.tooShort, offset: 0) }
            let sid = be32(d, 0)
            if sid != 0 { return .v3Data(V3DataHeader(sessionID: sid), payload: 4..<d.count) }
            guard d.count >= 6 else { throw L2TPWireError(.tooShort, offset: 4) }
            guard d[5] & 0x0f == L2TPVersion.v3.rawValue else { throw L2TPWireError(.badVersion, offset: 5) }
            guard d[4] & 0xc8 == 0xc8 else { throw L2TPWireError(.missingLengthOrSequence, offset: 4) }
            return try parseControl(d, at: 4, version: .v3)
        }
        guard d.count >= 2 else { throw L2TPWireError(.tooShort, offset: 0) }
        let isControl = d[0] & 0x80 != 0
        switch d[1] & 0x0f {
        case L2TPVersion.v2.rawValue:
            if !isControl { return try parseV2Data(d) }
            // RFC 2661 §3.1: L and S MUST be 1 and O and P MUST be 0 on control messages.
            guard d[0] & 0x48 == 0x48 else { throw L2TPWireError(.missingLengthOrSequence, offset: 0) }
            guard d[0] & 0x03 == 0 else { throw L2TPWireError(.reservedBits, offset: 0) }
            return try parseControl(d, at: 0, version: .v2)
        case L2TPVersion.v3.rawValue:
            if !isControl {
                guard d.count >= 8 else { throw L2TPWireError(.tooShort, offset: 0) }
                return .v3Data(V3DataHeader(sessionID: be32(d, 4)), payload: 8..<d.count)
            }
            // RFC 3931 §3.2.1: L and S MUST be 1; the other bits are reserved and ignored.
            guard d[0] & 0x48 == 0x48 else { throw L2TPWireError(.missingLengthOrSequence, offset: 0) }
            return try parseControl(d, at: 0, version: .v3)
        default:
            throw L2TPWireError(.badVersion, offset: 1)
        }
    }

    /// The 12-byte control header at `at` (T, L, S and the version already checked).
    static func parseControl<D: RandomAccessCollection<UInt8>>(_ d: D, at p: Int, version: L2TPVersion) throws(L2TPWireError) -> L2TPHeader
    where D.Index == Int {
        guard d.count - p >= ControlHeader.size else { throw L2TPWireError(.tooShort, offset: p) }
        let length = Int(be16(d, p + 2))
        guard length >= ControlHeader.size, length <= d.count - p else {
            throw L2TPWireError(.lengthMismatch, offset: p + 2)
        }
        let h: ControlHeader
        if version == .v2 {
            h = ControlHeader(version: .v2, connectionID: UInt32(be16(d, p + 4)), sessionID: be16(d, p + 6),
                              ns: be16(d, p + 8), nr: be16(d, p + 10))
        } else {
            h = ControlHeader(version: .v3, connectionID: be32(d, p + 4), ns: be16(d, p + 8), nr: be16(d, p + 10))
        }
        return .control(h, body: p + ControlHeader.size..<p + length)
    }

    /// An L2TPv2 data header (RFC 2661 §3.1).
    static func parseV2Data<D: RandomAccessCollection<UInt8>>(_ d: D) throws(L2TPWireError) -> L2TPHeader where D.Index == Int {
        let flags = d[0]
        let hasLength = flags & 0x40 != 0, sequenced = flags & 0x08 != 0, offset = flags & 0x02 != 0
        let fixed = 2 + (hasLength ? 2 : 0) + 4 + (sequenced ? 4 : 0) + (offset ? 2 : 0)
        guard d.count >= fixed else { throw L2TPWireError(.tooShort, offset: 0) }
        var end = d.count
        var p = 2
        if hasLength {
            let length = Int(be16(d, 2))
            guard length >= fixed, length <= d.count else { throw L2TPWireError(.lengthMismatch, offset: 2) }
            end = length
            p = 4
        }
        var h = V2DataHeader(tunnelID: be16(d, p), sessionID: be16(d, p + 2), hasLength: hasLength,
                             priority: flags & 0x01 != 0)
        p += 4
        if sequenced { h.ns = be16(d, p); h.nr = be16(d, p + 2); p += 4 }
        if offset {
            let size = Int(be16(d, p))
            p += 2
            guard size <= end - p else { throw L2TPWireError(.offsetBeyondLength, offset: p - 2) }
            h.offsetPad = Array(d[p..<p + size])
            p += size
        }
        return .v2Data(h, payload: p..<end)
    }
}
