/// A control message: the header and the AVPs in order (RFC 2661 §3.1, §4; RFC 3931 §3.2.1, §5). No AVPs is a
/// Zero-Length Body acknowledgement; otherwise the first AVP is the Message Type.
public struct ControlMessage: Hashable, Sendable {
    /// The control header.
    public var header: ControlHeader
    /// The AVPs, Message Type first.
    public var avps: [AVP]

    /// A message of `avps` under `header`.
    public init(header: ControlHeader, avps: [AVP]) { self.header = header; self.avps = avps }

    /// Whether this is a ZLB (no AVPs at all, RFC 2661 §5.8, RFC 3931 §6.15).
    public var isZLB: Bool { avps.isEmpty }

    /// The IETF message type; nil for a ZLB, a vendor-specific message type (RFC 3931 §5.4.1) or a malformed
    /// Message Type that was ignored.
    public var messageType: MessageType? {
        guard let first = avps.first, first.type == .messageType, case .messageType(let t) = first.value else { return nil }
        return t
    }

    /// The first AVP of `type`.
    public func first(_ type: AVPType) -> AVP? { avps.first { $0.type == type } }
    /// The value of the first AVP of `type`.
    public func value(_ type: AVPType) -> AVPValue? { first(type)?.value }
    /// The first AVP of `type` when it holds a 16-bit value.
    public func u16(_ type: AVPType) -> UInt16? { if case .u16(let v)? = value(type) { v } else { nil } }
    /// The first AVP of `type` when it holds a 32-bit value.
    public func u32(_ type: AVPType) -> UInt32? { if case .u32(let v)? = value(type) { v } else { nil } }
    /// The first AVP of `type` when it holds a 64-bit value.
    public func u64(_ type: AVPType) -> UInt64? { if case .u64(let v)? = value(type) { v } else { nil } }
    /// The first AVP of `type` when it holds text.
    public func string(_ type: AVPType) -> String? { if case .string(let v)? = value(type) { v } else { nil } }
    /// The first AVP of `type` when it holds octets.
    public func bytes(_ type: AVPType) -> [UInt8]? { if case .bytes(let v)? = value(type) { v } else { nil } }

    /// Parses a control message from `datagram` as it came over `transport` (over IP: the bytes after the IP
    /// header, zero session id first). `secret` reveals hidden AVPs. With `authentication`, the Message Digest is
    /// checked before anything else is interpreted (RFC 3931 §5.4.1). Never traps; everything hostile throws
    /// with a counted reason.
    public static func parse(_ datagram: [UInt8], transport: L2TPTransport, secret: [UInt8]? = nil,
                             authentication: MessageAuthentication? = nil) throws(L2TPWireError) -> ControlMessage {
        let d = datagram
        guard case .control(let header, let body) = try L2TPHeader.parse(d, transport: transport) else {
            throw L2TPWireError(.notControl, offset: 0)
        }
        let frames = try AVPFrame.split(d, body, header: header)
        if let authentication {
            try MessageDigest.verify(d, ControlHeader.prefixSize(transport), body.upperBound, frames, header,
                                     authentication)
        }
        var avps: [AVP] = []
        avps.reserveCapacity(frames.count)
        var randomVector: [UInt8]?
        var key: [UInt8]?
        var messageType: MessageType?
        for (i, f) in frames.enumerated() {
            let flags = d[f.start]
            let m = flags & 0x80 != 0, h = flags & 0x40 != 0
            let reserved = (flags >> 2) & 0x0f
            let type = f.type
            func fail(_ r: L2TPWireError.Reason) -> L2TPWireError {
                L2TPWireError(r, offset: f.start, avp: type, header: header, messageType: messageType)
            }
            // RFC 2661 §4.4.1, RFC 3931 §5.4.1: the Message Type (of vendor 0, or a vendor's own) comes first.
            if i == 0 && type.type != AVPType.messageType.type { throw fail(.firstAVPNotMessageType) }
            let info = AVP.recognized(type, mandatory: m, reservedFlags: reserved, version: header.version)
            if info == nil && m {
                throw fail(header.version == .v2 && reserved != 0 ? .reservedBits : .unknownMandatoryAVP)
            }

            var raw = d[f.start + AVP.headerSize..<f.end]
            var padding: [UInt8] = []
            if h {
                if let info, !info.hidable { throw fail(.notHidable) }
                guard let secret else { throw fail(.hiddenWithoutSecret) }
                guard let randomVector else { throw fail(.hiddenWithoutRandomVector) }
                let k = key ?? AVPHiding.key(secret: secret, version: header.version)
                key = k
                guard let revealed = AVPHiding.reveal(raw, attributeType: type.type, key: k, randomVector: randomVector)
                else { throw fail(.badHiddenLength) }
                raw = revealed.value[...]
                padding = revealed.padding
            }
            var value = AVPValue.unknown(Array(raw))
            if let info {
                // RFC 3931 §7.1: a malformed AVP is treated as unrecognized: fatal with M, else ignored.
                if info.length.allows(raw.count), let v = AVPValue.decode(info.kind, raw) {
                    value = v
                } else if m {
                    throw fail(.badAVPValue)
                }
                if type == .randomVector, case .bytes(let rv) = value { randomVector = rv }
                if i == 0, case .messageType(let t) = value {
                    messageType = t
                    // RFC 3931 §5.4.1, RFC 2661 §4.4.1: an unknown type with M set clears the connection.
                    if m && !t.isDefined(in: header.version) { throw fail(.unknownMessageType) }
                }
            }
            avps.append(AVP(type, value, mandatory: m, hidden: h, hiddenPadding: padding, reservedFlags: reserved))
        }
        return ControlMessage(header: header, avps: avps)
    }

    /// The message's bytes for `transport`. Hidden AVPs are hidden with `secret` and the Random Vector AVP before
    /// them; with `authentication`, every Message Digest AVP is filled in (RFC 3931 §5.4.1). Values are checked
    /// against `AVPTable` (kind, length, and that they parse back to themselves).
    public func encode(transport: L2TPTransport, secret: [UInt8]? = nil,
                       authentication: MessageAuthentication? = nil) throws(L2TPWireError) -> [UInt8] {
        var body: [UInt8] = []
        var randomVector: [UInt8]?
        var key: [UInt8]?
        for (i, avp) in avps.enumerated() {
            func fail(_ r: L2TPWireError.Reason) -> L2TPWireError {
                L2TPWireError(r, avp: avp.type, header: header, messageType: messageType)
            }
            if i == 0 && avp.type.type != AVPType.messageType.type { throw fail(.firstAVPNotMessageType) }
            var v = avp.value.encoded
            if let info = AVP.recognized(avp.type, mandatory: avp.mandatory, reservedFlags: avp.reservedFlags,
                                         version: header.version) {
                if avp.hidden && !info.hidable { throw fail(.notHidable) }
                if case .unknown = avp.value {} else {
                    guard avp.value.kind == info.kind, info.length.allows(v.count),
                          AVPValue.decode(info.kind, v[...]) == avp.value else { throw fail(.badAVPValue) }
                }
                if avp.type == .randomVector { randomVector = v }
            }
            if avp.hidden {
                guard let secret else { throw fail(.hiddenWithoutSecret) }
                guard let randomVector else { throw fail(.hiddenWithoutRandomVector) }
                let k = key ?? AVPHiding.key(secret: secret, version: header.version)
                key = k
                v = AVPHiding.hide(v, padding: avp.hiddenPadding, attributeType: avp.type.type, key: k,
                                   randomVector: randomVector)
            }
            let length = AVP.headerSize + v.count
            guard length <= AVP.maxLength, avp.reservedFlags <= 0x0f else { throw fail(.valueOutOfRange) }
            body.append((avp.mandatory ? 0x80 : 0) | (avp.hidden ? 0x40 : 0) | avp.reservedFlags << 2 | UInt8(length >> 8))
            body.append(UInt8(truncatingIfNeeded: length))
            body.appendBE16(avp.type.vendor)
            body.appendBE16(avp.type.type)
            body += v
        }
        var out = try header.encode(bodyLength: body.count, transport: transport)
        out += body
        if let authentication { try MessageDigest.sign(&out, transport: transport, authentication) }
        return out
    }
}

extension AVP {
    /// The table entry of an AVP as received, or nil when it counts as unrecognized: not in the table, a v2 AVP
    /// with a reserved flag set (RFC 2661 §4.1; RFC 3931 §5.1 has v3 ignore them), or a mandatory Extended
    /// Vendor ID AVP (no 32-bit vendor attribute is known).
    static func recognized(_ type: AVPType, mandatory: Bool, reservedFlags: UInt8, version: L2TPVersion) -> AVPInfo? {
        if version == .v2 && reservedFlags != 0 { return nil }
        if type == .extendedVendorID && mandatory { return nil }
        return AVPTable.info(type)
    }
}

/// Where one AVP lies in a datagram, its framing checked.
struct AVPFrame {
    let start: Int
    let end: Int
    let type: AVPType

    /// Splits `body` into AVPs: each at least 6 bytes and inside the body (RFC 2661 §4.1, RFC 3931 §5.1).
    static func split(_ d: [UInt8], _ body: Range<Int>, header: ControlHeader) throws(L2TPWireError) -> [AVPFrame] {
        var frames: [AVPFrame] = []
        var p = body.lowerBound
        while p < body.upperBound {
            guard body.upperBound - p >= AVP.headerSize else {
                throw L2TPWireError(.badAVPLength, offset: p, header: header)
            }
            let length = Int(d[p] & 0x03) << 8 | Int(d[p + 1])
            let type = AVPType(vendor: be16(d, p + 2), be16(d, p + 4))
            guard length >= AVP.headerSize, length <= body.upperBound - p else {
                throw L2TPWireError(.badAVPLength, offset: p, avp: type, header: header)
            }
            frames.append(AVPFrame(start: p, end: p + length, type: type))
            p += length
        }
        return frames
    }
}
