/// The packet layer (README: "Packet layer"): a 4-byte big-endian length of what follows, a type byte, for named
/// types a 1-byte name length and the name, then (for requests, responses and events) a message.
public enum VICIPacket: Equatable, Sendable {
    case request(command: String, message: VICIMessage)
    case response(VICIMessage)
    /// charon does not know the command.
    case unknownCommand
    case registerEvent(String)
    case unregisterEvent(String)
    case eventConfirm
    /// charon does not know the event (a registration failed).
    case unknownEvent
    case event(name: String, message: VICIMessage)

    public enum PacketType: UInt8, Sendable {
        case cmdRequest = 0, cmdResponse, cmdUnknown, eventRegister, eventUnregister, eventConfirm, eventUnknown, event
    }

    public var type: PacketType {
        switch self {
        case .request: .cmdRequest
        case .response: .cmdResponse
        case .unknownCommand: .cmdUnknown
        case .registerEvent: .eventRegister
        case .unregisterEvent: .eventUnregister
        case .eventConfirm: .eventConfirm
        case .unknownEvent: .eventUnknown
        case .event: .event
        }
    }

    /// The packet with its 4-byte length prefix, ready to write.
    public func encoded(limits: VICILimits = .default) throws(VICIEncodingError) -> [UInt8] {
        var body: [UInt8] = [type.rawValue]
        switch self {
        case .request(let name, let m), .event(let name, let m):
            try VICIMessage.putName(name, &body)
            try m.encode(into: &body)
        case .response(let m):
            try m.encode(into: &body)
        case .registerEvent(let name), .unregisterEvent(let name):
            try VICIMessage.putName(name, &body)
        case .unknownCommand, .eventConfirm, .unknownEvent:
            break
        }
        guard body.count <= limits.maxPacket else { throw VICIEncodingError(reason: .packetTooLarge(bytes: body.count)) }
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body
    }

    /// Decodes one packet's payload (the bytes after the length prefix); offsets in errors count from its type
    /// byte plus `base` (4 when decoding a whole framed packet).
    public init(payload: some Collection<UInt8>, limits: VICILimits = .default, base: Int = 0) throws(VICIWireError) {
        let b = Array(payload)
        guard b.count <= limits.maxPacket else { throw VICIWireError(.packetTooLarge, at: base) }
        var r = Reader(bytes: b, base: base)
        let raw = try r.byte()
        guard let type = PacketType(rawValue: raw) else { throw VICIWireError(.unknownPacketType, at: base) }
        func rest(_ r: Reader) -> ArraySlice<UInt8> { b[r.index...] }
        func noMore(_ r: Reader) throws(VICIWireError) { if r.remaining > 0 { throw VICIWireError(.trailingBytes, at: r.offset) } }
        switch type {
        case .cmdRequest:
            let name = try r.name()
            self = .request(command: name, message: try VICIMessage(decoding: rest(r), limits: limits, base: r.offset))
        case .event:
            let name = try r.name()
            self = .event(name: name, message: try VICIMessage(decoding: rest(r), limits: limits, base: r.offset))
        case .cmdResponse:
            self = .response(try VICIMessage(decoding: rest(r), limits: limits, base: r.offset))
        case .eventRegister:
            let name = try r.name(); try noMore(r); self = .registerEvent(name)
        case .eventUnregister:
            let name = try r.name(); try noMore(r); self = .unregisterEvent(name)
        case .cmdUnknown: try noMore(r); self = .unknownCommand
        case .eventConfirm: try noMore(r); self = .eventConfirm
        case .eventUnknown: try noMore(r); self = .unknownEvent
        }
    }

    /// Decodes one whole framed packet (length prefix included); the length must match the bytes given.
    public init(framed bytes: some Collection<UInt8>, limits: VICILimits = .default) throws(VICIWireError) {
        var framer = VICIFramer(limits: limits)
        framer.append(bytes)
        guard let payload = try framer.next() else { throw VICIWireError(.truncated, at: Array(bytes).count) }
        if framer.buffered > 0 { throw VICIWireError(.trailingBytes, at: 4 + payload.count) }
        try self.init(payload: payload, limits: limits, base: 4)
    }
}

/// Splits a byte stream into packet payloads. A length over the limit is an error at once (before its bytes
/// arrive), so a hostile peer cannot make the reader buffer more than `maxPacket` + 4 bytes.
public struct VICIFramer: Sendable {
    public let limits: VICILimits
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of the stream consumed so far (for error offsets across packets).
    public private(set) var consumed = 0

    public init(limits: VICILimits = .default) { self.limits = limits }

    public var buffered: Int { buffer.count - start }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0, start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete payload, nil if more bytes are needed.
    public mutating func next() throws(VICIWireError) -> [UInt8]? {
        guard buffered >= 4 else { return nil }
        let n = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        guard n <= limits.maxPacket else { throw VICIWireError(.packetTooLarge, at: consumed) }
        guard buffered >= 4 + n else { return nil }
        let payload = Array(buffer[(start + 4)..<(start + 4 + n)])
        start += 4 + n
        consumed += 4 + n
        if start > 65536, start * 2 > buffer.count { buffer.removeFirst(start); start = 0 }
        return payload
    }
}
