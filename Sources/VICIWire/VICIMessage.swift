/// strongSwan's VICI protocol (src/libcharon/plugins/vici/README.md), pure: the message tree and its codec, the
/// packet layer (request, response, event registration, event) and the stream framing. No I/O, no Foundation.
///
/// A message is an ordered list of named elements: a key with a value (bytes), a list of values, or a section (a
/// message of its own). Order matters to charon only in lists, but it is kept everywhere so that an encoded request
/// is the same bytes swanctl sends (the golden tests compare them).

/// One element's value.
public enum VICIValue: Equatable, Sendable {
    case bytes([UInt8])
    case list([[UInt8]])
    case section(VICIMessage)

    /// The value as text (charon's values are text; nil for a list or section, or bytes that are not UTF-8).
    public var string: String? {
        guard case .bytes(let b) = self else { return nil }
        return String(validating: b, as: UTF8.self)
    }

    /// The items of a list, as text (invalid UTF-8 repaired).
    public var strings: [String]? {
        guard case .list(let items) = self else { return nil }
        return items.map { String(decoding: $0, as: UTF8.self) }
    }

    public var section: VICIMessage? {
        guard case .section(let m) = self else { return nil }
        return m
    }
}

extension VICIValue: ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
    public init(stringLiteral value: String) { self = .bytes(Array(value.utf8)) }
    public init(arrayLiteral elements: String...) { self = .list(elements.map { Array($0.utf8) }) }
    public static func text(_ s: String) -> VICIValue { .bytes(Array(s.utf8)) }
    public static func texts(_ s: [String]) -> VICIValue { .list(s.map { Array($0.utf8) }) }
}

/// An ordered VICI message (or section body). Duplicate names are kept as sent.
public struct VICIMessage: Equatable, Sendable {
    public struct Element: Equatable, Sendable {
        public var name: String
        public var value: VICIValue
        public init(_ name: String, _ value: VICIValue) { self.name = name; self.value = value }
    }

    public var elements: [Element]

    public init(_ elements: [Element] = []) { self.elements = elements }

    /// The first element named `name`.
    public subscript(name: String) -> VICIValue? {
        elements.first { $0.name == name }?.value
    }

    /// Text of the key `name` (nil when absent, not a key, or not UTF-8).
    public func string(_ name: String) -> String? { self[name]?.string }

    /// The sections of this message, in order (the shape of list-sa/list-conn events: one section per name).
    public var sections: [(name: String, body: VICIMessage)] {
        elements.compactMap { e in e.value.section.map { (e.name, $0) } }
    }

    public mutating func append(_ name: String, _ value: VICIValue) { elements.append(Element(name, value)) }

    public var isEmpty: Bool { elements.isEmpty }
}

extension VICIMessage: ExpressibleByDictionaryLiteral {
    /// Keeps the literal's order (and its duplicates).
    public init(dictionaryLiteral elements: (String, VICIValue)...) {
        self.elements = elements.map { Element($0.0, $0.1) }
    }
}

/// The element types of a message (README: "Message format").
public enum VICIElementType: UInt8, Sendable {
    case sectionStart = 1, sectionEnd = 2, keyValue = 3, listStart = 4, listItem = 5, listEnd = 6
}

/// Why bytes are not a VICI message or packet; `offset` is where in the decoded bytes the problem starts.
public struct VICIWireError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        case truncated = "truncated"
        case unknownElement = "unknown element type"
        case unknownPacketType = "unknown packet type"
        case tooDeep = "sections nested too deep"
        case unbalancedSectionEnd = "section end without a section"
        case unterminatedSection = "section not ended"
        case unterminatedList = "list not ended"
        case elementInList = "element other than a list item inside a list"
        case listItemOutsideList = "list item outside a list"
        case packetTooLarge = "packet longer than the limit"
        case trailingBytes = "bytes after the packet"
        case tooManyElements = "too many elements"
        case nameNotUTF8 = "name not UTF-8"
    }
    public var reason: Reason
    public var offset: Int
    public init(_ reason: Reason, at offset: Int) { self.reason = reason; self.offset = offset }
    public var description: String { "VICI: \(reason.rawValue) at byte \(offset)" }
}

/// Why a message cannot be encoded (a name over 255 bytes, a value over 65,535: the wire's length fields).
public struct VICIEncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case nameTooLong(String, bytes: Int)
        case valueTooLong(name: String, bytes: Int)
        case packetTooLarge(bytes: Int)
    }
    public var reason: Reason
    public var description: String {
        switch reason {
        case .nameTooLong(let n, let b): "VICI: the name \"\(n.prefix(40))…\" is \(b) bytes; names are at most 255"
        case .valueTooLong(let n, let b): "VICI: the value of \"\(n)\" is \(b) bytes; values are at most 65,535"
        case .packetTooLarge(let b): "VICI: the packet would be \(b) bytes; the limit is \(VICILimits.default.maxPacket)"
        }
    }
}

/// Bounds the decoder keeps to (charon's own: packets at most 512 KiB, VICI_MESSAGE_SIZE_MAX in libvici).
public struct VICILimits: Sendable {
    public var maxPacket: Int
    public var maxDepth: Int
    public var maxElements: Int
    public init(maxPacket: Int = 512 * 1024, maxDepth: Int = 32, maxElements: Int = 100_000) {
        self.maxPacket = maxPacket; self.maxDepth = maxDepth; self.maxElements = maxElements
    }
    public static let `default` = VICILimits()
}

extension VICIMessage {
    /// The message's bytes (no packet header).
    public func encoded() throws(VICIEncodingError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(into: &out)
        return out
    }

    func encode(into out: inout [UInt8]) throws(VICIEncodingError) {
        for e in elements {
            switch e.value {
            case .bytes(let v):
                out.append(VICIElementType.keyValue.rawValue)
                try Self.putName(e.name, &out)
                try Self.putValue(v, name: e.name, &out)
            case .list(let items):
                out.append(VICIElementType.listStart.rawValue)
                try Self.putName(e.name, &out)
                for item in items {
                    out.append(VICIElementType.listItem.rawValue)
                    try Self.putValue(item, name: e.name, &out)
                }
                out.append(VICIElementType.listEnd.rawValue)
            case .section(let m):
                out.append(VICIElementType.sectionStart.rawValue)
                try Self.putName(e.name, &out)
                try m.encode(into: &out)
                out.append(VICIElementType.sectionEnd.rawValue)
            }
        }
    }

    static func putName(_ name: String, _ out: inout [UInt8]) throws(VICIEncodingError) {
        let b = Array(name.utf8)
        guard b.count <= 255 else { throw VICIEncodingError(reason: .nameTooLong(name, bytes: b.count)) }
        out.append(UInt8(b.count))
        out += b
    }

    static func putValue(_ v: [UInt8], name: String, _ out: inout [UInt8]) throws(VICIEncodingError) {
        guard v.count <= 0xFFFF else { throw VICIEncodingError(reason: .valueTooLong(name: name, bytes: v.count)) }
        out.append(UInt8(v.count >> 8))
        out.append(UInt8(v.count & 0xFF))
        out += v
    }

    /// Decodes a whole message. Never traps: every length is checked against what is left, nesting and element
    /// counts are bounded, and an error names the reason and the byte offset (plus `base`, for a message inside a
    /// packet).
    public init(decoding bytes: some Collection<UInt8>, limits: VICILimits = .default, base: Int = 0) throws(VICIWireError) {
        let b = Array(bytes)
        var reader = Reader(bytes: b, base: base)
        var stack: [(name: String, body: VICIMessage, at: Int)] = []
        var current = VICIMessage()
        var list: (name: String, items: [[UInt8]], at: Int)?
        var count = 0
        while reader.remaining > 0 {
            let at = reader.offset
            count += 1
            guard count <= limits.maxElements else { throw VICIWireError(.tooManyElements, at: at) }
            let raw = try reader.byte()
            guard let type = VICIElementType(rawValue: raw) else { throw VICIWireError(.unknownElement, at: at) }
            if list != nil, type != .listItem, type != .listEnd { throw VICIWireError(.elementInList, at: at) }
            switch type {
            case .sectionStart:
                let name = try reader.name()
                guard stack.count < limits.maxDepth else { throw VICIWireError(.tooDeep, at: at) }
                stack.append((name, current, at))
                current = VICIMessage()
            case .sectionEnd:
                guard let top = stack.popLast() else { throw VICIWireError(.unbalancedSectionEnd, at: at) }
                var parent = top.body
                parent.append(top.name, .section(current))
                current = parent
            case .keyValue:
                let name = try reader.name()
                current.append(name, .bytes(try reader.value()))
            case .listStart:
                list = (try reader.name(), [], at)
            case .listItem:
                guard list != nil else { throw VICIWireError(.listItemOutsideList, at: at) }
                list!.items.append(try reader.value())
            case .listEnd:
                guard let l = list else { throw VICIWireError(.listItemOutsideList, at: at) }
                current.append(l.name, .list(l.items))
                list = nil
            }
        }
        if let l = list { throw VICIWireError(.unterminatedList, at: l.at) }
        if let top = stack.last { throw VICIWireError(.unterminatedSection, at: top.at) }
        self = current
    }
}

/// A bounds-checked cursor; offsets it reports include `base`.
struct Reader {
    let bytes: [UInt8]
    let base: Int
    var index = 0
    init(bytes: [UInt8], base: Int) { self.bytes = bytes; self.base = base }
    var remaining: Int { bytes.count - index }
    var offset: Int { base + index }

    mutating func byte() throws(VICIWireError) -> UInt8 {
        guard index < bytes.count else { throw VICIWireError(.truncated, at: offset) }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func take(_ n: Int) throws(VICIWireError) -> [UInt8] {
        guard n <= remaining else { throw VICIWireError(.truncated, at: offset) }
        defer { index += n }
        return Array(bytes[index..<index + n])
    }

    /// A 1-byte length and that many bytes, as text. Names charon sends are ASCII; one that is not UTF-8 is refused
    /// rather than repaired (each bad byte would become a 3-byte U+FFFD, and a 255-byte name would no longer fit its
    /// length field when encoded again: found by Fuzz/vici.swift).
    mutating func name() throws(VICIWireError) -> String {
        let at = offset
        let n = Int(try byte())
        guard let s = String(validating: try take(n), as: UTF8.self) else { throw VICIWireError(.nameNotUTF8, at: at) }
        return s
    }

    /// A 2-byte big-endian length and that many bytes.
    mutating func value() throws(VICIWireError) -> [UInt8] {
        let hi = Int(try byte()), lo = Int(try byte())
        return try take(hi << 8 | lo)
    }
}
