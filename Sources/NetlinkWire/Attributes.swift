import CLinuxUAPI

/// Thrown by decoders on malformed input: what was wrong and at which byte offset.
public struct WireError: Error, Equatable, CustomStringConvertible, Sendable {
    public var what: String
    public var offset: Int
    public init(_ what: String, offset: Int = 0) { self.what = what; self.offset = offset }
    public var description: String { "malformed netlink data at byte \(offset): \(what)" }
}

/// One netlink attribute (struct nlattr + payload). `type` has the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits stripped.
public struct Attribute: Equatable, Sendable {
    public var type: UInt16
    public var nested: Bool
    public var netByteOrder: Bool
    public var data: ArraySlice<UInt8>

    public init(type: UInt16, nested: Bool = false, netByteOrder: Bool = false, data: ArraySlice<UInt8>) {
        self.type = type; self.nested = nested; self.netByteOrder = netByteOrder; self.data = data
    }

    public var u8: UInt8? { data.count >= 1 ? data[data.startIndex] : nil }
    public var u16: UInt16? { Bytes.load(UInt16.self, from: data) }
    public var u32: UInt32? { Bytes.load(UInt32.self, from: data) }
    public var u64: UInt64? { Bytes.load(UInt64.self, from: data) }
    public var i32: Int32? { u32.map { Int32(bitPattern: $0) } }
    /// Big-endian u16 (ports, GRE flags are carried in network order by some kinds).
    public var be16: UInt16? { Bytes.loadBE(UInt16.self, from: data) }
    public var be32: UInt32? { Bytes.loadBE(UInt32.self, from: data) }
    /// NUL-terminated string payload.
    public var string: String? {
        let bytes = data.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
    public var bytes: [UInt8] { Array(data) }
    /// Parses the payload as a nested attribute list.
    public func children() throws -> [Attribute] { try Attribute.parse(data) }

    /// Parses a whole attribute stream. Throws on any length that does not fit; never traps.
    public static func parse(_ s: ArraySlice<UInt8>) throws -> [Attribute] {
        var out: [Attribute] = []
        var off = s.startIndex
        while off < s.endIndex {
            let remaining = s.endIndex - off
            if remaining < 4 {
                // Trailing padding shorter than a header is tolerated only if it is zeros.
                if s[off..<s.endIndex].allSatisfy({ $0 == 0 }) { break }
                throw WireError("truncated attribute header", offset: off - s.startIndex)
            }
            guard let len = Bytes.load(UInt16.self, from: s, at: off - s.startIndex),
                  let rawType = Bytes.load(UInt16.self, from: s, at: off - s.startIndex + 2) else {
                throw WireError("truncated attribute header", offset: off - s.startIndex)
            }
            let l = Int(len)
            guard l >= 4, l <= remaining else {
                throw WireError("attribute type \(rawType & 0x3fff) has length \(l) but \(remaining) bytes remain", offset: off - s.startIndex)
            }
            out.append(Attribute(
                type: rawType & ISTHMUS_NLA_TYPE_MASK,
                nested: rawType & UInt16(NLA_F_NESTED) != 0,
                netByteOrder: rawType & UInt16(NLA_F_NET_BYTEORDER) != 0,
                data: s[(off + 4)..<(off + l)]))
            off += min(Bytes.align4(l), remaining)
        }
        return out
    }
}

extension Array where Element == Attribute {
    /// The first attribute of a type, if any.
    public func first(_ type: UInt16) -> Attribute? { first { $0.type == type } }
    public func first<T: BinaryInteger>(_ type: T) -> Attribute? { first(UInt16(type)) }
}

/// A request that cannot be encoded because a length does not fit its field: struct nlattr's nla_len is a u16
/// (header included, so at most 65,531 payload bytes) and struct nlmsghdr's nlmsg_len a u32. User input (a long
/// word on a command line or in a batch file) can reach these limits, so encoders throw this rather than trap.
public struct WireLengthError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The attribute type (flags stripped) that did not fit, or nil for the whole message.
    public var attributeType: UInt16?
    /// The payload length that was asked for.
    public var length: Int
    /// The largest payload length the field allows.
    public var limit: Int
    public init(attributeType: UInt16?, length: Int, limit: Int) {
        self.attributeType = attributeType; self.length = length; self.limit = limit
    }
    /// Largest attribute payload: nla_len (u16) counts the 4-byte header too.
    public static let attributeLimit = Int(UInt16.max) - 4
    /// Largest message payload: nlmsg_len (u32) counts the 16-byte header too.
    public static let messageLimit = Int(UInt32.max) - NetlinkMessage.headerLength
    public var description: String {
        let what = attributeType.map { "netlink attribute type \($0)" } ?? "netlink message"
        return "\(what) would carry \(length) bytes; it holds at most \(limit)"
    }
}

/// Builds an attribute stream. Nested attributes are written with `nested(type) { ... }`.
///
/// Writing never traps: an attribute whose payload does not fit nla_len is left out and remembered in `overflow`
/// (the first one; a writer nested or appended into another passes it on), and `encoded()` — which every message
/// builder calls — throws it, so such a request is never sent.
public struct AttributeWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// The first attribute that did not fit, if any.
    public private(set) var overflow: WireLengthError?
    public init() {}

    /// The attribute stream, or the first attribute that did not fit.
    public func encoded() throws -> [UInt8] {
        if let overflow { throw overflow }
        return bytes
    }

    public mutating func raw(_ type: UInt16, _ payload: some Collection<UInt8>, flags: UInt16 = 0) {
        put(type, payload, flags: flags)
    }

    /// The one place attribute bytes are written: header, payload, padding to 4 bytes.
    private mutating func put(_ type: UInt16, _ payload: some Collection<UInt8>, flags: UInt16) {
        let count = payload.count
        guard count <= WireLengthError.attributeLimit else {
            if overflow == nil {
                overflow = WireLengthError(attributeType: type & ISTHMUS_NLA_TYPE_MASK, length: count, limit: WireLengthError.attributeLimit)
            }
            return
        }
        let len = 4 + count
        Bytes.append(UInt16(len), to: &bytes)
        Bytes.append(type | flags, to: &bytes)
        bytes.append(contentsOf: payload)
        let pad = Bytes.align4(len) - len
        if pad > 0 { bytes.append(contentsOf: repeatElement(0, count: pad)) }
    }
    /// A type given as any integer (the uapi constants' types); types are constants of the code, never user input.
    private mutating func put<T: BinaryInteger>(_ type: T, _ payload: some Collection<UInt8>) { put(UInt16(type), payload, flags: 0) }
    public mutating func raw<T: BinaryInteger>(_ type: T, _ payload: some Collection<UInt8>) { put(type, payload) }

    /// Appends another writer's attributes (and its overflow, if it had one).
    public mutating func append(_ other: AttributeWriter) {
        bytes.append(contentsOf: other.bytes)
        if overflow == nil { overflow = other.overflow }
    }

    public mutating func u8<T: BinaryInteger>(_ type: T, _ v: UInt8) { put(type, [v]) }
    public mutating func u16<T: BinaryInteger>(_ type: T, _ v: UInt16) { var b: [UInt8] = []; Bytes.append(v, to: &b); put(type, b) }
    public mutating func u32<T: BinaryInteger>(_ type: T, _ v: UInt32) { var b: [UInt8] = []; Bytes.append(v, to: &b); put(type, b) }
    public mutating func u64<T: BinaryInteger>(_ type: T, _ v: UInt64) { var b: [UInt8] = []; Bytes.append(v, to: &b); put(type, b) }
    public mutating func i32<T: BinaryInteger>(_ type: T, _ v: Int32) { u32(type, UInt32(bitPattern: v)) }
    /// Network-order u16 (e.g. IFLA_VXLAN_PORT, IFLA_GRE_IFLAGS).
    public mutating func be16<T: BinaryInteger>(_ type: T, _ v: UInt16) { var b: [UInt8] = []; Bytes.appendBE(v, to: &b); put(type, b) }
    public mutating func be32<T: BinaryInteger>(_ type: T, _ v: UInt32) { var b: [UInt8] = []; Bytes.appendBE(v, to: &b); put(type, b) }
    /// NUL-terminated string.
    public mutating func string<T: BinaryInteger>(_ type: T, _ s: String) { put(type, Array(s.utf8) + [0]) }
    public mutating func flag<T: BinaryInteger>(_ type: T) { put(type, [UInt8]()) }

    /// A nested attribute. `nestedFlag` sets NLA_F_NESTED (genetlink and newer rtnetlink policies want it; iproute2 sets it
    /// only for some, so it is a choice to keep golden bytes identical).
    public mutating func nested<T: BinaryInteger>(_ type: T, nestedFlag: Bool = false, _ body: (inout AttributeWriter) throws -> Void) rethrows {
        var inner = AttributeWriter()
        try body(&inner)
        nested(type, nestedFlag: nestedFlag, inner)
    }

    /// A nested attribute holding `inner`'s attributes (its overflow passed on).
    public mutating func nested<T: BinaryInteger>(_ type: T, nestedFlag: Bool = false, _ inner: AttributeWriter) {
        if overflow == nil { overflow = inner.overflow }
        put(UInt16(type), inner.bytes, flags: nestedFlag ? UInt16(NLA_F_NESTED) : 0)
    }
}
