/// A small ordered JSON value, enough for `-j` output shaped like iproute2's.
public indirect enum JSON: Equatable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case int(Int64)
    case uint(UInt64)
    /// A number written as it is ("264.37": ip's timers, printed with two decimals).
    case number(String)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    public init(stringLiteral s: String) { self = .string(s) }
    public init(integerLiteral i: Int) { self = .int(Int64(i)) }
    public init(booleanLiteral b: Bool) { self = .bool(b) }
    public init<T: BinaryInteger>(_ v: T) { self = v < 0 ? .int(Int64(v)) : .uint(UInt64(v)) }

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.uint(x), .uint(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.int(x), .uint(y)), let (.uint(y), .int(x)): return x >= 0 && UInt64(x) == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let kv) = self { return kv.first { $0.0 == key }?.1 }
        return nil
    }

    public func serialized() -> String {
        var s = ""
        write(to: &s)
        return s
    }

    func write(to s: inout String) {
        switch self {
        case .string(let v): JSON.quote(v, into: &s)
        case .int(let v): s += String(v)
        case .uint(let v): s += String(v)
        case .number(let v): s += v
        case .bool(let v): s += v ? "true" : "false"
        case .null: s += "null"
        case .array(let a):
            s += "["
            for (i, v) in a.enumerated() { if i > 0 { s += "," }; v.write(to: &s) }
            s += "]"
        case .object(let kv):
            s += "{"
            for (i, (k, v)) in kv.enumerated() {
                if i > 0 { s += "," }
                JSON.quote(k, into: &s); s += ":"; v.write(to: &s)
            }
            s += "}"
        }
    }

    static func quote(_ v: String, into s: inout String) {
        s += "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else { s.unicodeScalars.append(u) }
            }
        }
        s += "\""
    }
}

/// Builds an ordered JSON object; nil values are skipped, as iproute2 omits absent attributes.
public struct JSONObject {
    public private(set) var fields: [(String, JSON)] = []
    public init() {}
    public init(_ fields: [(String, JSON)]) { self.fields = fields }
    public mutating func set(_ key: String, _ value: JSON?) { if let value { fields.append((key, value)) } }
    public mutating func set<T: BinaryInteger>(_ key: String, _ value: T?) { if let value { fields.append((key, JSON(value))) } }
    public mutating func set(_ key: String, _ value: String?) { if let value { fields.append((key, .string(value))) } }
    public mutating func set(_ key: String, _ value: Bool?) { if let value { fields.append((key, .bool(value))) } }
    public var json: JSON { .object(fields) }
}
