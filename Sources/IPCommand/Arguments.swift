/// An error in a command line: which word, where, and what would have been valid.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    /// Set by the batch runner: "FILE:LINE".
    public var location: String?
    public init(_ message: String, location: String? = nil) { self.message = message; self.location = location }
    public var description: String { location.map { "\($0): \(message)" } ?? message }

    public static func unknown(_ word: String, in context: String, validChoices: [String]) -> UsageError {
        UsageError("unknown keyword \(Arguments.quoted(word)) in \"\(context)\"; valid: \(validChoices.joined(separator: ", "))")
    }
    public static func invalid(_ word: String, for keyword: String, expected: String) -> UsageError {
        UsageError("invalid value \(Arguments.quoted(word)) for \(Arguments.quoted(keyword)): expected \(expected)")
    }
    public static func missing(_ keyword: String, expected: String) -> UsageError {
        UsageError("\"\(keyword)\" needs a value: \(expected)")
    }
    /// iproute2's invarg() wording: `argument "WORD" is wrong: MESSAGE`.
    public static func wrong(_ word: String, _ message: String) -> UsageError {
        UsageError("argument \(Arguments.quoted(word)) is wrong: \(message)")
    }
    /// A word given for an interface name (`dev`, `name`, `master`, ...) that cannot be one: iproute2's wording
    /// (`argument "X" is wrong: "dev" not a valid ifname`), then why.
    public static func invalidInterfaceName(_ word: String, for keyword: String) -> UsageError {
        wrong(word, "\"\(keyword)\" not a valid ifname (\(Arguments.whyNotInterfaceName(word)))")
    }
}

/// A cursor over command words, iproute2 style: keywords followed by values, objects and verbs matched by prefix.
public struct Arguments: Sendable {
    public private(set) var words: [String]
    public private(set) var index = 0
    /// What has been consumed so far, for error context ("link add vx0 type vxlan").
    public var context: String { words[..<min(index, words.count)].map(Arguments.shortened).joined(separator: " ") }

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

    /// The longest interface name: IFNAMSIZ (16) less its NUL.
    public static let interfaceNameLimit = 15

    /// Whether the kernel could have a device of this name (its dev_valid_name, which iproute2's check_ifname
    /// mimics): 1 to 15 bytes, not "." or "..", no '/', ':', whitespace, and no NUL (which would cut the name
    /// short on the way to the kernel).
    public static func isInterfaceName(_ s: String) -> Bool {
        let b = s.utf8
        guard !b.isEmpty, b.count <= interfaceNameLimit, s != ".", s != ".." else { return false }
        return !b.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 == 32 || (9...13).contains($0) || $0 == 0 }
    }

    /// Why `isInterfaceName` refuses a word, for error messages.
    public static func whyNotInterfaceName(_ word: String) -> String {
        let n = word.utf8.count
        return n == 0 ? "empty"
            : n > interfaceNameLimit ? "\(n) bytes; at most \(interfaceNameLimit)"
            : word == "." || word == ".." ? "\".\" and \"..\" are not names"
            : "no '/', ':', whitespace or NUL"
    }

    /// Refuses a word that cannot be an interface name, naming `keyword`, before any request is made.
    public static func checkInterfaceName(_ word: String, for keyword: String) throws {
        guard isInterfaceName(word) else { throw UsageError.invalidInterfaceName(word, for: keyword) }
    }

    /// The interface name after `keyword` (`dev`, `name`, `master`, `link`, ...), checked as `isInterfaceName`.
    public mutating func interfaceName(for keyword: String, expected: String = "an interface name") throws -> String {
        let v = try value(for: keyword, expected: expected)
        try Arguments.checkInterfaceName(v, for: keyword)
        return v
    }

    /// A word quoted for an error message (`shortened`).
    public static func quoted(_ word: String) -> String { "\"" + shortened(word) + "\"" }

    /// A word as error messages show it: control characters escaped (\x00), and a word longer than 64 characters
    /// cut to its first 32 followed by "…" (a 64 KiB word would otherwise fill the terminal).
    public static func shortened(_ word: String) -> String {
        var out = ""
        var shown = 0
        let cut = word.unicodeScalars.count > 64
        for ch in word.unicodeScalars {
            if cut && shown == 32 { out += "…"; break }
            switch ch.value {
            case 0..<0x20, 0x7f: out += "\\x" + String(ch.value, radix: 16).leftPad(2)
            default: out.unicodeScalars.append(ch)
            }
            shown += 1
        }
        return out
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
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
