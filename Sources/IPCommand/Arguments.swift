/// An error in a command line: which word, where, and what would have been valid.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    /// Set by the batch runner: "FILE:LINE".
    public var location: String?
    public init(_ message: String, location: String? = nil) { self.message = message; self.location = location }
    public var description: String { location.map { "\($0): \(message)" } ?? message }

    public static func unknown(_ word: String, in context: String, validChoices: [String]) -> UsageError {
        UsageError("unknown keyword \"\(word)\" in \"\(context)\"; valid: \(validChoices.joined(separator: ", "))")
    }
    public static func invalid(_ word: String, for keyword: String, expected: String) -> UsageError {
        UsageError("invalid value \"\(word)\" for \"\(keyword)\": expected \(expected)")
    }
    public static func missing(_ keyword: String, expected: String) -> UsageError {
        UsageError("\"\(keyword)\" needs a value: \(expected)")
    }
}

/// A cursor over command words, iproute2 style: keywords followed by values, objects and verbs matched by prefix.
public struct Arguments: Sendable {
    public private(set) var words: [String]
    public private(set) var index = 0
    /// What has been consumed so far, for error context ("link add vx0 type vxlan").
    public var context: String { words[..<min(index, words.count)].joined(separator: " ") }

    public init(_ words: [String]) { self.words = words }

    /// Whether a word was meant as an address or prefix (a digit first, or a ':' or '/' in it) rather than a keyword.
    public static func looksLikeAddress(_ word: String) -> Bool {
        guard let first = word.first else { return false }
        return first.isNumber || word.contains(":") || word.contains("/")
    }

    public var isEmpty: Bool { index >= words.count }
    public var peek: String? { index < words.count ? words[index] : nil }
    public var remaining: [String] { Array(words[min(index, words.count)...]) }

    public mutating func next() -> String? {
        guard index < words.count else { return nil }
        defer { index += 1 }
        return words[index]
    }

    /// The value after `keyword`; an error naming the keyword when there is none.
    public mutating func value(for keyword: String, expected: String) throws -> String {
        guard let v = next() else { throw UsageError.missing(keyword, expected: expected) }
        return v
    }

    public mutating func integer<T: FixedWidthInteger>(for keyword: String, _: T.Type = T.self, range: ClosedRange<T>? = nil) throws -> T {
        let v = try value(for: keyword, expected: "a number")
        guard let n = Arguments.parseInteger(v, T.self), range.map({ $0.contains(n) }) ?? true else {
            let r = range.map { "a number in \($0.lowerBound)...\($0.upperBound)" } ?? "a number"
            throw UsageError.invalid(v, for: keyword, expected: r)
        }
        return n
    }

    /// Decimal, or hex with 0x, like iproute2's get_unsigned/get_u32 (base 0).
    public static func parseInteger<T: FixedWidthInteger>(_ s: String, _: T.Type) -> T? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return T(s.dropFirst(2), radix: 16) }
        return T(s, radix: 10)
    }

    /// Picks one of `choices` for the value after `keyword` (exact match, then unique prefix like iproute2's matches()).
    public mutating func choice(for keyword: String, _ choices: [String]) throws -> String {
        let v = try value(for: keyword, expected: "one of " + choices.joined(separator: ", "))
        guard let c = Arguments.match(v, choices) else {
            throw UsageError.invalid(v, for: keyword, expected: "one of " + choices.joined(separator: ", "))
        }
        return c
    }

    /// Exact match first, then the first choice that starts with `word` (iproute2 resolves abbreviations in table order).
    public static func match(_ word: String, _ choices: [String]) -> String? {
        if choices.contains(word) { return word }
        guard !word.isEmpty else { return nil }
        return choices.first { $0.hasPrefix(word) }
    }

    public mutating func unknown(_ word: String, validChoices: [String]) -> UsageError {
        UsageError.unknown(word, in: context, validChoices: validChoices)
    }
}

/// Splits a batch line into words like iproute2's makeargs: whitespace separated, "double" and 'single' quotes, # comments.
public func splitCommandLine(_ line: String) throws -> [String] {
    var words: [String] = []
    var cur = ""
    var inWord = false
    var quote: Character?
    for ch in line {
        if let q = quote {
            if ch == q { quote = nil } else { cur.append(ch) }
            continue
        }
        if ch == "#" && !inWord { break }
        if ch == "\"" || ch == "'" { quote = ch; inWord = true; continue }
        if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" {
            if inWord { words.append(cur); cur = ""; inWord = false }
            continue
        }
        cur.append(ch); inWord = true
    }
    if quote != nil { throw UsageError("unterminated quoted string") }
    if inWord { words.append(cur) }
    return words
}
