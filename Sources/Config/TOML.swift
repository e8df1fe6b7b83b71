/// A TOML 1.0 parser that keeps the source position of every table, key and value, so the site-config validator can
/// report `FILE:LINE:COLUMN: message` for anything it rejects. Pure Swift, no Foundation.
///
/// Values keep TOML's types; date-times (offset and local date-times, local dates, local times) are validated for
/// shape (field ranges, days per month, leap years) and kept as their source text. Parsing never traps: every
/// malformed input ends in a `TOMLError` carrying the position of the problem, and nesting deeper than
/// `TOML.maxDepth` levels is rejected.

// MARK: - Public model

/// A place in the source text: 1-based line and 1-based column, counted in Unicode scalars.
public struct TOMLPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line; self.column = column
    }

    public var description: String { "\(line):\(column)" }

    public static func < (a: TOMLPosition, b: TOMLPosition) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// A TOML value. Arrays and tables hold nodes, so every nested value keeps its position too.
public indirect enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// An offset date-time, local date-time, local date or local time, kept as written (shape already validated).
    case datetime(String)
    case array([TOMLNode])
    case table(TOMLTable)

    /// The type name with "a" or "an": "an integer", "a string".
    public var typeNameWithArticle: String {
        switch self {
        case .integer, .array: "an " + typeName
        default: "a " + typeName
        }
    }

    /// The TOML name of the value's type, for messages ("expected a string, found an integer").
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .datetime: "date-time"
        case .array: "array"
        case .table: "table"
        }
    }
}

/// A value and where it starts in the source (for tables: where the table was defined).
public struct TOMLNode: Equatable, Sendable {
    public var value: TOMLValue
    public var position: TOMLPosition

    public init(value: TOMLValue, position: TOMLPosition) {
        self.value = value; self.position = position
    }

    public var string: String? { if case .string(let v) = value { v } else { nil } }
    public var integer: Int64? { if case .integer(let v) = value { v } else { nil } }
    public var float: Double? { if case .float(let v) = value { v } else { nil } }
    public var boolean: Bool? { if case .boolean(let v) = value { v } else { nil } }
    public var datetime: String? { if case .datetime(let v) = value { v } else { nil } }
    public var array: [TOMLNode]? { if case .array(let v) = value { v } else { nil } }
    public var table: TOMLTable? { if case .table(let v) = value { v } else { nil } }
}

/// A table: its entries in document order, each with the position of its key.
public struct TOMLTable: Equatable, Sendable {
    /// How a table came to exist.
    public enum Origin: Equatable, Sendable {
        /// The document itself.
        case root
        /// A `[header]`.
        case header
        /// One `[[header]]` element of an array of tables.
        case arrayElement
        /// Only implied by a longer header (`[a.b]` implies `a`); its position is that key in the first such header.
        case implicit
        /// Created by a dotted key (`a.b = 1` creates table `a`); its position is that key.
        case dotted
        /// An inline table `{ ... }`.
        case inline
    }

    public struct Entry: Equatable, Sendable {
        public var key: String
        public var keyPosition: TOMLPosition
        public var node: TOMLNode

        public init(key: String, keyPosition: TOMLPosition, node: TOMLNode) {
            self.key = key; self.keyPosition = keyPosition; self.node = node
        }
    }

    /// The entries, in the order their keys first appear in the document.
    public private(set) var entries: [Entry]
    /// Where the table was defined: the `[` of its header, the `{` of an inline table, or the key that implied it.
    public var position: TOMLPosition
    public var origin: Origin
    private var index: [String: Int]

    public init(entries: [Entry] = [], position: TOMLPosition = TOMLPosition(line: 1, column: 1), origin: Origin = .root) {
        self.entries = []
        self.position = position
        self.origin = origin
        self.index = [:]
        for e in entries { self[entry: e.key] = e }
    }

    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The value under `key`, if any.
    public subscript(key: String) -> TOMLNode? {
        if let i = index[key] { entries[i].node } else { nil }
    }

    /// The entry (key, key position, value) under `key`; setting replaces it in place or appends it.
    public subscript(entry key: String) -> Entry? {
        get { if let i = index[key] { entries[i] } else { nil } }
        set {
            if let i = index[key] {
                if let newValue {
                    entries[i] = newValue
                } else {
                    entries.remove(at: i)
                    index = [:]
                    for (j, e) in entries.enumerated() { index[e.key] = j }
                }
            } else if let newValue {
                index[key] = entries.count
                entries.append(newValue)
            }
        }
    }

    /// The node at a path of keys through nested tables (not through arrays).
    public subscript(path path: [String]) -> TOMLNode? {
        guard let first = path.first, let node = self[first] else { return nil }
        if path.count == 1 { return node }
        guard case .table(let t) = node.value else { return nil }
        return t[path: Array(path.dropFirst())]
    }

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        a.entries == b.entries && a.position == b.position && a.origin == b.origin
    }
}

/// A parse error: where, and what is wrong. `description` is `FILE:LINE:COLUMN: message`.
public struct TOMLError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var position: TOMLPosition
    public var message: String

    public init(file: String, position: TOMLPosition, message: String) {
        self.file = file; self.position = position; self.message = message
    }

    public var description: String { "\(file):\(position.line):\(position.column): \(message)" }
}

public enum TOML {
    /// Arrays, inline tables and tables may nest at most this deep.
    public static let maxDepth = 128

    /// Parses a TOML 1.0 document. `file` is only used to label errors.
    public static func parse(_ text: String, file: String) throws(TOMLError) -> TOMLTable {
        var p = TOMLParser(bytes: Array(text.utf8), file: file)
        return try p.parseDocument()
    }

    /// `key` as TOML would write it: bare if it can be, otherwise quoted.
    public static func formatKey(_ key: String) -> String {
        if !key.isEmpty, key.utf8.allSatisfy(isBareKeyByte) { return key }
        return quoted(key)
    }

    /// A dotted key path as TOML would write it.
    public static func formatPath(_ path: [String]) -> String {
        path.map(formatKey).joined(separator: ".")
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F { out += "\\u" + hex4(u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func hex4(_ v: UInt32) -> String {
        let digits = Array("0123456789ABCDEF")
        var s = ""
        for shift in stride(from: 12, through: 0, by: -4) { s.append(digits[Int((v >> UInt32(shift)) & 0xF)]) }
        return s
    }
}

@inline(__always) func isBareKeyByte(_ c: UInt8) -> Bool {
    (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
}

// MARK: - Mutable document model used while parsing

private final class MTable {
    enum Kind: Equatable {
        case root, implicit, header, arrayElement, inline
        /// Created by dotted keys in the given section; only that section may add to it with dotted keys.
        case dotted(Int)
    }

    var kind: Kind
    var position: TOMLPosition
    let depth: Int
    /// Full key path from the document root (from the inline table itself for tables inside inline tables).
    var path: [String] = []
    var entries: [MEntry] = []
    var index: [String: Int] = [:]

    init(kind: Kind, position: TOMLPosition, depth: Int) {
        self.kind = kind; self.position = position; self.depth = depth
    }

    func lookup(_ key: String) -> MEntry? {
        if let i = index[key], i < entries.count { entries[i] } else { nil }
    }

    func child(_ key: String, kind: Kind, position: TOMLPosition) -> MTable {
        let t = MTable(kind: kind, position: position, depth: depth + 1)
        t.path = path + [key]
        return t
    }

    func insert(_ key: String, _ pos: TOMLPosition, _ item: MItem) {
        index[key] = entries.count
        entries.append(MEntry(key: key, keyPosition: pos, item: item))
    }

    func freeze() -> TOMLTable {
        let origin: TOMLTable.Origin = switch kind {
        case .root: .root
        case .implicit: .implicit
        case .header: .header
        case .arrayElement: .arrayElement
        case .inline: .inline
        case .dotted: .dotted
        }
        let list = entries.map { e -> TOMLTable.Entry in
            let node: TOMLNode = switch e.item {
            case .value(let n): n
            case .table(let t): TOMLNode(value: .table(t.freeze()), position: t.position)
            case .tables(let a):
                TOMLNode(value: .array(a.elements.map { TOMLNode(value: .table($0.freeze()), position: $0.position) }),
                         position: a.position)
            }
            return TOMLTable.Entry(key: e.key, keyPosition: e.keyPosition, node: node)
        }
        return TOMLTable(entries: list, position: position, origin: origin)
    }
}

private final class MArrayOfTables {
    var position: TOMLPosition
    var elements: [MTable] = []
    init(position: TOMLPosition) { self.position = position }
}

private enum MItem {
    /// A finished value: scalar, static array or inline table. Never extended afterwards.
    case value(TOMLNode)
    case table(MTable)
    case tables(MArrayOfTables)
}

private struct MEntry {
    var key: String
    var keyPosition: TOMLPosition
    var item: MItem
}

// MARK: - Parser

private typealias Key = [(name: String, position: TOMLPosition)]

private struct TOMLParser {
    let bytes: [UInt8]
    let file: String
    var i = 0
    var lineStarts: [Int] = [0]
    var nextSection = 1
    let cache = PositionCache()

    final class PositionCache {
        var line = -1, index = 0, column = 1
    }

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            i = 3
            lineStarts = [3]
        }
        for (k, b) in bytes.enumerated() where b == 0x0A { lineStarts.append(k + 1) }
    }

    // MARK: Positions and errors

    func position(_ at: Int) -> TOMLPosition {
        let idx = max(0, min(at, bytes.count))
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= idx { lo = mid } else { hi = mid - 1 }
        }
        var column = 1
        var k = lineStarts[lo]
        // Positions are mostly asked for left to right: continue from the last one on the same line.
        if cache.line == lo, cache.index >= k, cache.index <= idx {
            k = cache.index; column = cache.column
        }
        while k < idx {
            if bytes[k] & 0xC0 != 0x80 { column += 1 }
            k += 1
        }
        cache.line = lo; cache.index = idx; cache.column = column
        return TOMLPosition(line: lo + 1, column: column)
    }

    func error(_ message: String, at: Int) -> TOMLError {
        TOMLError(file: file, position: position(at), message: message)
    }

    func error(_ message: String, at: TOMLPosition) -> TOMLError {
        TOMLError(file: file, position: at, message: message)
    }

    /// What is at `at`, for "found ..." in messages.
    func describe(_ at: Int) -> String {
        guard at < bytes.count else { return "end of file" }
        let c = bytes[at]
        if c == 0x0A || (c == 0x0D && at + 1 < bytes.count && bytes[at + 1] == 0x0A) { return "end of line" }
        if c < 0x20 || c == 0x7F { return "control character U+" + TOML.hex4(UInt32(c)) }
        var len = 1
        if c >= 0xF0 { len = 4 } else if c >= 0xE0 { len = 3 } else if c >= 0xC0 { len = 2 }
        let end = min(bytes.count, at + len)
        return "\"" + String(decoding: bytes[at..<end], as: UTF8.self) + "\""
    }

    func peek(_ offset: Int = 0) -> UInt8? {
        let j = i + offset
        return j < bytes.count ? bytes[j] : nil
    }

    static func isControl(_ c: UInt8) -> Bool { (c < 0x20 && c != 0x09) || c == 0x7F }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    // MARK: Whitespace, newlines, comments

    mutating func skipWhitespace() {
        while let c = peek(), c == 0x20 || c == 0x09 { i += 1 }
    }

    var atNewline: Bool {
        peek() == 0x0A || (peek() == 0x0D && peek(1) == 0x0A)
    }

    mutating func skipComment() throws(TOMLError) {
        guard peek() == 0x23 else { return }
        i += 1
        while let c = peek(), c != 0x0A {
            if c == 0x0D {
                if peek(1) == 0x0A { return }
                throw error("carriage return not followed by a newline", at: i)
            }
            if Self.isControl(c) {
                throw error("control character U+\(TOML.hex4(UInt32(c))) is not allowed in a comment", at: i)
            }
            i += 1
        }
    }

    /// Skips whitespace, newlines and comments (inside arrays).
    mutating func skipBlank() throws(TOMLError) {
        while true {
            skipWhitespace()
            guard let c = peek() else { return }
            if c == 0x0A { i += 1 } else if c == 0x0D {
                guard peek(1) == 0x0A else { throw error("carriage return not followed by a newline", at: i) }
                i += 2
            } else if c == 0x23 { try skipComment() } else { return }
        }
    }

    /// After a key/value pair or a header: optional whitespace and comment, then a newline or the end.
    mutating func expectEndOfLine(after what: String) throws(TOMLError) {
        skipWhitespace()
        try skipComment()
        guard let c = peek() else { return }
        if c == 0x0A { i += 1; return }
        if c == 0x0D, peek(1) == 0x0A { i += 2; return }
        if c == 0x0D { throw error("carriage return not followed by a newline", at: i) }
        throw error("unexpected \(describe(i)) after \(what) (expected a newline)", at: i)
    }

    // MARK: Document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        let root = MTable(kind: .root, position: position(i), depth: 0)
        var current = root
        var section = 0
        while true {
            skipWhitespace()
            guard let c = peek() else { break }
            switch c {
            case 0x0A:
                i += 1
            case 0x0D:
                guard peek(1) == 0x0A else { throw error("carriage return not followed by a newline", at: i) }
                i += 2
            case 0x23:
                try skipComment()
            case 0x5B:
                section = nextSection; nextSection += 1
                current = try parseHeader(root: root, section: section)
                try expectEndOfLine(after: "table header")
            default:
                try parseKeyValue(into: current, section: section)
                try expectEndOfLine(after: "value")
            }
        }
        return root.freeze()
    }

    // MARK: Keys

    mutating func parseKey() throws(TOMLError) -> Key {
        var parts: Key = []
        while true {
            skipWhitespace()
            let start = i
            guard let c = peek() else {
                throw error(parts.isEmpty ? "expected a key, found end of file" : "expected a key after \".\", found end of file", at: i)
            }
            let name: String
            if isBareKeyByte(c) {
                while let d = peek(), isBareKeyByte(d) { i += 1 }
                name = String(decoding: bytes[start..<i], as: UTF8.self)
            } else if c == 0x22 || c == 0x27 {
                if peek(1) == c, peek(2) == c {
                    throw error("multi-line strings cannot be used as keys", at: i)
                }
                name = c == 0x22 ? try parseBasicString() : try parseLiteralString()
            } else {
                let what = parts.isEmpty ? "expected a key" : "expected a key after \".\""
                throw error("\(what), found \(describe(i))", at: i)
            }
            parts.append((name, position(start)))
            if parts.count > TOML.maxDepth {
                throw error("key has more than \(TOML.maxDepth) dotted parts", at: start)
            }
            skipWhitespace()
            guard peek() == 0x2E else { return parts }
            i += 1
        }
    }

    // MARK: Key/value pairs

    mutating func parseKeyValue(into base: MTable, section: Int) throws(TOMLError) {
        let keys = try parseKey()
        let shown = TOML.formatPath(keys.map(\.name))
        guard peek() == 0x3D else {
            throw error("expected \"=\" after key \"\(shown)\", found \(describe(i))", at: i)
        }
        i += 1
        skipWhitespace()
        let parent = try tableForDottedKey(base: base, keys: keys, section: section)
        guard let last = keys.last else { throw error("expected a key", at: i) }
        if let existing = parent.lookup(last.name) {
            throw error("duplicate key \"\(shown)\" (first defined at line \(existing.keyPosition.line))", at: last.position)
        }
        let depth = base.depth + keys.count
        let node = try parseValue(depth: depth, afterKey: shown)
        parent.insert(last.name, last.position, .value(node))
    }

    /// A new table named `part` inside `t` (on the way to a dotted key or a header), within the nesting limit.
    func newTable(_ part: (name: String, position: TOMLPosition), in t: MTable, kind: MTable.Kind) throws(TOMLError) -> MTable {
        if t.depth + 1 > TOML.maxDepth { throw error("nesting is deeper than \(TOML.maxDepth) levels", at: part.position) }
        let child = t.child(part.name, kind: kind, position: part.position)
        t.insert(part.name, part.position, .table(child))
        return child
    }

    /// Walks (creating as needed) the tables named by all but the last part of a dotted key.
    mutating func tableForDottedKey(base: MTable, keys: Key, section: Int) throws(TOMLError) -> MTable {
        var t = base
        for (n, part) in keys.dropLast().enumerated() {
            var path: String { TOML.formatPath(base.path + keys.prefix(n + 1).map(\.name)) }
            if let e = t.lookup(part.name) {
                switch e.item {
                case .table(let child):
                    switch child.kind {
                    case .dotted(let s) where s == section:
                        t = child
                    case .implicit:
                        child.kind = .dotted(section)
                        t = child
                    case .header, .arrayElement, .root:
                        throw error("cannot add keys to table [\(path)] with dotted keys: it is defined by a header at line \(child.position.line)", at: part.position)
                    case .dotted, .inline:
                        throw error("cannot add keys to table \"\(path)\" here: it was completed at line \(child.position.line)", at: part.position)
                    }
                case .tables(let arr):
                    throw error("cannot add keys to array of tables [[\(path)]] with dotted keys (defined at line \(arr.position.line))", at: part.position)
                case .value(let node):
                    if case .table = node.value {
                        throw error("cannot extend inline table \"\(path)\" (defined at line \(node.position.line)); inline tables are complete once written", at: part.position)
                    }
                    throw error("key \"\(path)\" is already \(node.value.typeNameWithArticle) (defined at line \(node.position.line)), not a table", at: part.position)
                }
            } else {
                t = try newTable(part, in: t, kind: .dotted(section))
            }
        }
        return t
    }

    // MARK: Headers

    mutating func parseHeader(root: MTable, section: Int) throws(TOMLError) -> MTable {
        let start = i
        i += 1
        let isArray = peek() == 0x5B
        if isArray { i += 1 }
        let keys = try parseKey()
        let path = TOML.formatPath(keys.map(\.name))
        if isArray {
            guard peek() == 0x5D, peek(1) == 0x5D else {
                let at = peek() == 0x5D ? i + 1 : i
                throw error("expected \"]]\" to close array-of-tables header [[\(path)]], found \(describe(at))", at: at)
            }
            i += 2
        } else {
            guard peek() == 0x5D else {
                throw error("expected \"]\" to close table header [\(path)], found \(describe(i))", at: i)
            }
            i += 1
        }
        let headerPos = position(start)
        let shown = isArray ? "[[\(path)]]" : "[\(path)]"

        var t = root
        for (n, part) in keys.dropLast().enumerated() {
            var prefix: String { TOML.formatPath(keys.prefix(n + 1).map(\.name)) }
            if let e = t.lookup(part.name) {
                switch e.item {
                case .table(let child): t = child
                case .tables(let arr):
                    guard let lastElement = arr.elements.last else { throw error("empty array of tables \"\(prefix)\"", at: part.position) }
                    t = lastElement
                case .value(let node):
                    if case .table = node.value {
                        throw error("cannot define \(shown): \"\(prefix)\" is an inline table (defined at line \(node.position.line)), which cannot be extended", at: part.position)
                    }
                    throw error("cannot define \(shown): \"\(prefix)\" is already \(node.value.typeNameWithArticle) (defined at line \(node.position.line)), not a table", at: part.position)
                }
            } else {
                t = try newTable(part, in: t, kind: .implicit)
            }
        }
        guard let last = keys.last else { throw error("expected a key", at: i) }
        let depth = t.depth + 1
        if depth > TOML.maxDepth { throw error("nesting is deeper than \(TOML.maxDepth) levels", at: last.position) }

        if let e = t.lookup(last.name) {
            switch e.item {
            case .table(let existing):
                if isArray {
                    throw error("cannot define array of tables \(shown): \"\(path)\" is already a table (defined at line \(existing.position.line))", at: last.position)
                }
                switch existing.kind {
                case .implicit:
                    existing.kind = .header
                    existing.position = headerPos
                    return existing
                case .dotted:
                    throw error("cannot define table \(shown): it was already created by dotted keys at line \(existing.position.line)", at: start)
                default:
                    throw error("table \(shown) is defined more than once (first defined at line \(existing.position.line))", at: start)
                }
            case .tables(let arr):
                if isArray {
                    let element = t.child(last.name, kind: .arrayElement, position: headerPos)
                    arr.elements.append(element)
                    return element
                }
                throw error("cannot define table \(shown): \"\(path)\" is an array of tables (defined at line \(arr.position.line))", at: start)
            case .value(let node):
                if isArray, case .array = node.value {
                    throw error("cannot append to static array \"\(path)\" (defined at line \(node.position.line)) with \(shown)", at: start)
                }
                if case .table = node.value {
                    throw error("cannot define \(shown): \"\(path)\" is an inline table (defined at line \(node.position.line)), which cannot be extended", at: start)
                }
                throw error("cannot define \(shown): key \"\(path)\" is already \(node.value.typeNameWithArticle) (defined at line \(node.position.line))", at: start)
            }
        }
        if isArray {
            let arr = MArrayOfTables(position: headerPos)
            let element = t.child(last.name, kind: .arrayElement, position: headerPos)
            arr.elements.append(element)
            t.insert(last.name, last.position, .tables(arr))
            return element
        }
        let table = t.child(last.name, kind: .header, position: headerPos)
        t.insert(last.name, last.position, .table(table))
        return table
    }

    // MARK: Values

    mutating func parseValue(depth: Int, afterKey: String? = nil) throws(TOMLError) -> TOMLNode {
        let start = i
        let pos = position(start)
        guard let c = peek() else {
            throw error(afterKey.map { "expected a value after \"\($0) =\", found end of file" } ?? "expected a value, found end of file", at: i)
        }
        switch c {
        case 0x22:
            let s = (peek(1) == 0x22 && peek(2) == 0x22) ? try parseMultilineString(quote: 0x22) : try parseBasicString()
            return TOMLNode(value: .string(s), position: pos)
        case 0x27:
            let s = (peek(1) == 0x27 && peek(2) == 0x27) ? try parseMultilineString(quote: 0x27) : try parseLiteralString()
            return TOMLNode(value: .string(s), position: pos)
        case 0x5B:
            return try parseArray(depth: depth)
        case 0x7B:
            return try parseInlineTable(depth: depth)
        default:
            return try parseBareValue(afterKey: afterKey)
        }
    }

    static func isBareValueByte(_ c: UInt8) -> Bool {
        isBareKeyByte(c) || c == 0x2B || c == 0x2E || c == 0x3A
    }

    mutating func parseBareValue(afterKey: String?) throws(TOMLError) -> TOMLNode {
        let start = i
        while let c = peek(), Self.isBareValueByte(c) { i += 1 }
        if i == start {
            let found = describe(i)
            throw error(afterKey.map { "expected a value after \"\($0) =\", found \(found)" } ?? "expected a value, found \(found)", at: i)
        }
        // A date and a time separated by a space: `1979-05-27 07:32:00`.
        if i - start == 10, Self.looksLikeDate(bytes[start..<i]), peek() == 0x20,
           let a = peek(1), let b = peek(2), Self.isDigit(a), Self.isDigit(b), peek(3) == 0x3A {
            i += 1
            while let c = peek(), Self.isBareValueByte(c) { i += 1 }
        }
        let token = Array(bytes[start..<i])
        let text = String(decoding: token, as: UTF8.self)
        let pos = position(start)
        if text == "true" { return TOMLNode(value: .boolean(true), position: pos) }
        if text == "false" { return TOMLNode(value: .boolean(false), position: pos) }
        if Self.looksLikeDateTime(token) {
            if let problem = Self.dateTimeProblem(token) {
                throw error("invalid date-time \(text): \(problem)", at: start)
            }
            return TOMLNode(value: .datetime(text), position: pos)
        }
        guard let first = token.first, Self.isDigit(first) || first == 0x2B || first == 0x2D || text == "inf" || text == "nan" else {
            throw error("invalid value \(text) (text must be quoted: \(TOML.quoted(text)); booleans are true or false)", at: start)
        }
        do throws(NumberError) {
            return TOMLNode(value: try Self.number(token), position: pos)
        } catch {
            switch error {
            case .problem(let message): throw self.error(message, at: start)
            }
        }
    }

    // MARK: Numbers

    enum NumberError: Error { case problem(String) }

    static func number(_ token: [UInt8]) throws(NumberError) -> TOMLValue {
        let text = String(decoding: token, as: UTF8.self)
        var body = token[...]
        var negative = false, signed = false
        if let f = body.first, f == 0x2B || f == 0x2D {
            negative = f == 0x2D; signed = true
            body = body.dropFirst()
        }
        let bodyText = String(decoding: body, as: UTF8.self)
        if bodyText == "inf" { return .float(negative ? -.infinity : .infinity) }
        if bodyText == "nan" { return .float(negative ? -Double.nan : .nan) }
        guard !body.isEmpty else { throw .problem("invalid number \(text): no digits") }

        // Anything that cannot be a number at all is probably unquoted text (an address, a name).
        let plausible = body.allSatisfy { isDigit($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || isHexLetter($0) || $0 == 0x78 || $0 == 0x6F }
        let dots = body.filter { $0 == 0x2E }.count
        if !plausible || dots > 1 {
            throw .problem("invalid value \(text) (text must be quoted: \(TOML.quoted(text)))")
        }

        if body.count >= 2, body[body.startIndex] == 0x30, let p = body.dropFirst().first, p == 0x78 || p == 0x6F || p == 0x62 {
            let (radix, name): (UInt64, String) = p == 0x78 ? (16, "hexadecimal") : p == 0x6F ? (8, "octal") : (2, "binary")
            if signed { throw .problem("invalid integer \(text): a sign is not allowed on \(name) integers") }
            let digits = body.dropFirst(2)
            if let problem = underscoreProblem(digits, isDigit: { digitValue($0).map { UInt64($0) < radix } ?? false }) {
                throw .problem("invalid \(name) integer \(text): \(problem)")
            }
            var v: UInt64 = 0
            for d in digits where d != 0x5F {
                guard let dv = digitValue(d) else { throw .problem("invalid \(name) integer \(text)") }
                let (m, o1) = v.multipliedReportingOverflow(by: radix)
                let (s, o2) = m.addingReportingOverflow(UInt64(dv))
                if o1 || o2 || s > UInt64(Int64.max) { throw .problem("integer \(text) does not fit in 64 bits") }
                v = s
            }
            return .integer(Int64(v))
        }

        let isFloat = body.contains { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 }
        if !isFloat {
            if let problem = underscoreProblem(body, isDigit: isDigit) { throw .problem("invalid integer \(text): \(problem)") }
            if body.count > 1, body.first == 0x30 { throw .problem("invalid integer \(text): leading zeros are not allowed") }
            var magnitude: UInt64 = 0
            for d in body where d != 0x5F {
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(d - 0x30))
                if o1 || o2 { throw .problem("integer \(text) does not fit in 64 bits") }
                magnitude = s
            }
            if negative {
                if magnitude == UInt64(Int64.max) + 1 { return .integer(Int64.min) }
                guard magnitude <= UInt64(Int64.max) else { throw .problem("integer \(text) does not fit in 64 bits") }
                return .integer(-Int64(magnitude))
            }
            guard magnitude <= UInt64(Int64.max) else { throw .problem("integer \(text) does not fit in 64 bits") }
            return .integer(Int64(magnitude))
        }

        // Float: integer part, optional fraction, optional exponent; at least one of the latter two.
        let expIndex = body.firstIndex { $0 == 0x65 || $0 == 0x45 }
        let mantissa = body[body.startIndex..<(expIndex ?? body.endIndex)]
        let dotIndex = mantissa.firstIndex(of: 0x2E)
        let intPart = mantissa[mantissa.startIndex..<(dotIndex ?? mantissa.endIndex)]
        if intPart.isEmpty { throw .problem("invalid float \(text): a digit must come before the decimal point") }
        if let problem = underscoreProblem(intPart, isDigit: isDigit) { throw .problem("invalid float \(text): \(problem)") }
        if intPart.count > 1, intPart.first == 0x30 { throw .problem("invalid float \(text): leading zeros are not allowed") }
        if let dotIndex {
            let frac = mantissa[(dotIndex + 1)...]
            if frac.isEmpty { throw .problem("invalid float \(text): a digit must follow the decimal point") }
            if let problem = underscoreProblem(frac, isDigit: isDigit) { throw .problem("invalid float \(text): \(problem)") }
        }
        if let expIndex {
            var exp = body[(expIndex + 1)...]
            if let f = exp.first, f == 0x2B || f == 0x2D { exp = exp.dropFirst() }
            if exp.isEmpty { throw .problem("invalid float \(text): the exponent has no digits") }
            if let problem = underscoreProblem(exp, isDigit: isDigit) { throw .problem("invalid float \(text): \(problem)") }
        }
        let cleaned = String(decoding: token.filter { $0 != 0x5F }, as: UTF8.self)
        guard let v = Double(cleaned) else { throw .problem("invalid float \(text)") }
        if !v.isFinite { throw .problem("float \(text) is out of range") }
        return .float(v)
    }

    static func isHexLetter(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) }

    static func digitValue(_ c: UInt8) -> Int? {
        if isDigit(c) { return Int(c - 0x30) }
        if c >= 0x61 && c <= 0x66 { return Int(c - 0x61 + 10) }
        if c >= 0x41 && c <= 0x46 { return Int(c - 0x41 + 10) }
        return nil
    }

    /// Checks a run of digits that may contain single underscores between digits.
    static func underscoreProblem(_ digits: ArraySlice<UInt8>, isDigit: (UInt8) -> Bool) -> String? {
        guard !digits.isEmpty else { return "no digits" }
        var previousUnderscore = true
        for d in digits {
            if d == 0x5F {
                if previousUnderscore { return "an underscore must be between digits" }
                previousUnderscore = true
            } else if isDigit(d) {
                previousUnderscore = false
            } else {
                return "unexpected \"\(String(decoding: [d], as: UTF8.self))\""
            }
        }
        return previousUnderscore ? "an underscore must be between digits" : nil
    }

    // MARK: Date-times

    static func looksLikeDate(_ t: ArraySlice<UInt8>) -> Bool {
        let a = Array(t)
        return a.count == 10 && a[0...3].allSatisfy(isDigit) && a[4] == 0x2D && a[5...6].allSatisfy(isDigit)
            && a[7] == 0x2D && a[8...9].allSatisfy(isDigit)
    }

    static func looksLikeDateTime(_ t: [UInt8]) -> Bool {
        if t.count >= 5, t[0...3].allSatisfy(isDigit), t[4] == 0x2D { return true }
        if t.count >= 3, t[0...1].allSatisfy(isDigit), t[2] == 0x3A { return true }
        return false
    }

    /// Why the token is not a valid TOML date-time, or nil if it is one.
    static func dateTimeProblem(_ t: [UInt8]) -> String? {
        var p = 0
        func digits(_ n: Int) -> Int? {
            guard p + n <= t.count else { return nil }
            var v = 0
            for k in p..<(p + n) {
                guard isDigit(t[k]) else { return nil }
                v = v * 10 + Int(t[k] - 0x30)
            }
            p += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard p < t.count, t[p] == c else { return false }
            p += 1
            return true
        }
        func time() -> String? {
            guard let h = digits(2), expect(0x3A), let m = digits(2) else { return "expected a time as HH:MM:SS" }
            guard expect(0x3A), let s = digits(2) else { return "seconds are required (HH:MM:SS)" }
            if h > 23 { return "hour \(h) is out of range" }
            if m > 59 { return "minute \(m) is out of range" }
            if s > 60 { return "second \(s) is out of range" }
            if p < t.count, t[p] == 0x2E {
                p += 1
                let fracStart = p
                while p < t.count, isDigit(t[p]) { p += 1 }
                if p == fracStart { return "expected digits after the decimal point in the seconds" }
            }
            return nil
        }

        if t.count >= 3, isDigit(t[0]), isDigit(t[1]), t[2] == 0x3A {
            if let problem = time() { return problem }
            return p == t.count ? nil : "unexpected text after the time (a local time has no offset)"
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2) else {
            return "expected a date as YYYY-MM-DD"
        }
        if month < 1 || month > 12 { return "month \(month) is out of range" }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        if day < 1 || day > days { return "day \(day) is out of range for month \(month)" }
        if p == t.count { return nil }
        guard t[p] == 0x54 || t[p] == 0x74 || t[p] == 0x20 else { return "expected \"T\" or a space between the date and the time" }
        p += 1
        if let problem = time() { return problem }
        if p == t.count { return nil }
        if t[p] == 0x5A || t[p] == 0x7A {
            p += 1
        } else if t[p] == 0x2B || t[p] == 0x2D {
            p += 1
            guard let oh = digits(2), expect(0x3A), let om = digits(2) else { return "expected an offset as Z or +HH:MM" }
            if oh > 23 || om > 59 { return "offset \(oh):\(om) is out of range" }
        } else {
            return "expected an offset as Z or +HH:MM"
        }
        return p == t.count ? nil : "unexpected text after the offset"
    }

    // MARK: Strings

    mutating func parseBasicString() throws(TOMLError) -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated string: missing closing \"", at: start) }
            switch c {
            case 0x22:
                i += 1
                return String(decoding: out, as: UTF8.self)
            case 0x5C:
                try parseEscape(into: &out)
            case 0x0A, 0x0D:
                throw error("unterminated string: missing closing \" before the end of the line (use \"\"\" for multi-line strings)", at: start)
            default:
                if Self.isControl(c) {
                    throw error("control character U+\(TOML.hex4(UInt32(c))) must be escaped in a string", at: i)
                }
                out.append(c)
                i += 1
            }
        }
    }

    mutating func parseEscape(into out: inout [UInt8]) throws(TOMLError) {
        let start = i
        i += 1
        guard let e = peek() else { throw error("unterminated string: it ends in a backslash", at: start) }
        i += 1
        switch e {
        case 0x62: out.append(0x08)
        case 0x74: out.append(0x09)
        case 0x6E: out.append(0x0A)
        case 0x66: out.append(0x0C)
        case 0x72: out.append(0x0D)
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x75, 0x55:
            let n = e == 0x75 ? 4 : 8
            var v: UInt32 = 0
            for _ in 0..<n {
                guard let d = peek(), let dv = Self.digitValue(d) else {
                    throw error("invalid escape: \\\(e == 0x75 ? "u" : "U") needs exactly \(n) hexadecimal digits", at: start)
                }
                v = v &* 16 &+ UInt32(dv)
                i += 1
            }
            guard let scalar = Unicode.Scalar(v) else {
                let text = String(decoding: bytes[start..<i], as: UTF8.self)
                throw error("invalid escape \(text): not a Unicode scalar value", at: start)
            }
            out.append(contentsOf: String(Character(scalar)).utf8)
        default:
            i -= 1
            let found = describe(i)
            let shown = found.hasPrefix("\"") ? "\"\\" + found.dropFirst() : "\"\\\" followed by " + found
            throw error("invalid escape \(shown) (allowed: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)", at: start)
        }
    }

    /// A multi-line string from its opening delimiter past its closing one: `quote` is " (a basic string, which
    /// also takes backslash escapes and line-ending backslashes) or ' (a literal string, taken as it stands).
    /// Both kinds close alike: up to two quotes right before the delimiter belong to the string.
    mutating func parseMultilineString(quote: UInt8) throws(TOMLError) -> String {
        let start = i
        let basic = quote == 0x22
        i += 3
        if peek() == 0x0A { i += 1 } else if peek() == 0x0D, peek(1) == 0x0A { i += 2 }
        var out: [UInt8] = []
        while true {
            guard let c = peek() else {
                throw error(basic ? "unterminated multi-line string: missing closing \"\"\""
                                  : "unterminated multi-line literal string: missing closing '''", at: start)
            }
            switch c {
            case quote:
                var n = 0
                while peek(n) == quote { n += 1 }
                if n >= 3 {
                    let extra = min(n - 3, 2)
                    out.append(contentsOf: repeatElement(quote, count: extra))
                    i += 3 + extra
                    return String(decoding: out, as: UTF8.self)
                }
                out.append(contentsOf: repeatElement(quote, count: n))
                i += n
            case 0x5C where basic:
                // Line-ending backslash: trims the newline and all whitespace/newlines that follow.
                var j = i + 1
                while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                if j < bytes.count, bytes[j] == 0x0A || (bytes[j] == 0x0D && j + 1 < bytes.count && bytes[j + 1] == 0x0A) {
                    i = j
                    while let d = peek() {
                        if d == 0x20 || d == 0x09 || d == 0x0A { i += 1 } else if d == 0x0D, peek(1) == 0x0A { i += 2 } else { break }
                    }
                } else {
                    try parseEscape(into: &out)
                }
            case 0x0D:
                guard peek(1) == 0x0A else { throw error("carriage return not followed by a newline", at: i) }
                out.append(0x0A)
                i += 2
            case 0x0A:
                out.append(0x0A)
                i += 1
            default:
                if Self.isControl(c) {
                    let rule = basic ? "must be escaped in a string" : "is not allowed in a literal string"
                    throw error("control character U+\(TOML.hex4(UInt32(c))) \(rule)", at: i)
                }
                out.append(c)
                i += 1
            }
        }
    }

    mutating func parseLiteralString() throws(TOMLError) -> String {
        let start = i
        i += 1
        let contentStart = i
        while true {
            guard let c = peek() else { throw error("unterminated literal string: missing closing '", at: start) }
            if c == 0x27 {
                let s = String(decoding: bytes[contentStart..<i], as: UTF8.self)
                i += 1
                return s
            }
            if c == 0x0A || c == 0x0D {
                throw error("unterminated literal string: missing closing ' before the end of the line (use ''' for multi-line strings)", at: start)
            }
            if Self.isControl(c) {
                throw error("control character U+\(TOML.hex4(UInt32(c))) is not allowed in a literal string", at: i)
            }
            i += 1
        }
    }

    // MARK: Arrays and inline tables

    mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLNode {
        let start = i
        if depth > TOML.maxDepth { throw error("nesting is deeper than \(TOML.maxDepth) levels", at: start) }
        i += 1
        var items: [TOMLNode] = []
        while true {
            try skipBlank()
            guard let c = peek() else { throw error("unterminated array: missing \"]\"", at: start) }
            if c == 0x5D { i += 1; break }
            if c == 0x2C {
                throw error(items.isEmpty ? "expected a value in array, found \",\"" : "expected a value in array, found a second \",\"", at: i)
            }
            items.append(try parseValue(depth: depth + 1))
            try skipBlank()
            guard let d = peek() else { throw error("unterminated array: missing \"]\"", at: start) }
            if d == 0x2C { i += 1; continue }
            if d == 0x5D { i += 1; break }
            throw error("expected \",\" or \"]\" in array, found \(describe(i))", at: i)
        }
        return TOMLNode(value: .array(items), position: position(start))
    }

    mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLNode {
        let start = i
        if depth > TOML.maxDepth { throw error("nesting is deeper than \(TOML.maxDepth) levels", at: start) }
        i += 1
        let table = MTable(kind: .inline, position: position(start), depth: depth)
        let section = nextSection
        nextSection += 1
        skipWhitespace()
        if peek() == 0x7D {
            i += 1
            return TOMLNode(value: .table(table.freeze()), position: table.position)
        }
        while true {
            skipWhitespace()
            if atNewline || peek() == 0x0D {
                throw error("newline in inline table: inline tables must be on one line (missing \"}\"?)", at: i)
            }
            if peek() == 0x7D { throw error("trailing comma in inline table is not allowed", at: i) }
            if peek() == nil { throw error("unterminated inline table: missing \"}\"", at: start) }
            try parseKeyValue(into: table, section: section)
            skipWhitespace()
            guard let c = peek() else { throw error("unterminated inline table: missing \"}\"", at: start) }
            if c == 0x2C { i += 1; continue }
            if c == 0x7D { i += 1; break }
            if atNewline || c == 0x0D || c == 0x23 {
                throw error("unterminated inline table: missing \"}\" before the end of the line (inline tables must be on one line)", at: i)
            }
            throw error("expected \",\" or \"}\" in inline table, found \(describe(i))", at: i)
        }
        return TOMLNode(value: .table(table.freeze()), position: table.position)
    }
}
