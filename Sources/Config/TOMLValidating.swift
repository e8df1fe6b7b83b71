/// Reading a parsed TOML document into a model while collecting every problem as `FILE:LINE:COL: message` + hint
/// (never stopping at the first): the typed accessors the site, lab and l2tp readers share.
public protocol TOMLValidating {
    var file: String { get }
    var errors: [ConfigError] { get set }
}

extension TOMLValidating {
    /// Parses `text` (read from `file`) and hands the root table to `validate`. On failure: a TOML syntax error alone
    /// (nothing else could be checked), or every problem `validate` recorded — this file's first, then those of other
    /// files it read (by name), each in position order, problems at one position in the order found.
    public mutating func load<Model>(_ text: String, _ validate: (inout Self, TOMLTable) -> Model?) -> Result<Model, ConfigErrors> {
        let root: TOMLTable
        do { root = try TOML.parse(text, file: file) } catch {
            return .failure(ConfigErrors([ConfigError(file: file, position: error.position, message: error.message,
                                                      hint: "fix the TOML syntax; nothing else was checked")]))
        }
        let model = validate(&self, root)
        guard errors.isEmpty, let model else {
            let file = self.file
            return .failure(ConfigErrors(errors.enumerated().sorted { a, b in
                let fa = a.element.file == file ? "" : a.element.file, fb = b.element.file == file ? "" : b.element.file
                if fa != fb { return fa < fb }
                return a.element.position != b.element.position ? a.element.position < b.element.position : a.offset < b.offset
            }.map(\.element)))
        }
        return .success(model)
    }

    public mutating func error(_ p: TOMLPosition, _ message: String, hint: String = "") {
        errors.append(ConfigError(file: file, position: p, message: message, hint: hint))
    }

    public mutating func checkKeys(_ t: TOMLTable, allowed: [String], table: String) {
        for e in t.entries where !allowed.contains(e.key) {
            let message = "unknown key `\(e.key)` in \(table)" + Suggestion.didYouMean(e.key, among: allowed, quote: .key)
            error(e.keyPosition, message, hint: "keys allowed in \(table): " + allowed.joined(separator: ", "))
        }
    }

    public mutating func typeError(_ e: TOMLTable.Entry, _ expected: String, example: String) {
        error(e.node.position, "`\(e.key)` must be \(expected), found \(e.node.value.typeNameWithArticle)",
              hint: "write it like \(example)")
    }

    public mutating func string(_ t: TOMLTable, _ key: String, example: String) -> (String, TOMLTable.Entry)? {
        guard let e = t[entry: key] else { return nil }
        guard let s = e.node.string else { typeError(e, "a string", example: example); return nil }
        return (s, e)
    }

    public mutating func integer(_ t: TOMLTable, _ key: String, _ range: ClosedRange<Int64>, example: String) -> (Int64, TOMLTable.Entry)? {
        guard let e = t[entry: key] else { return nil }
        let r = "\(range.lowerBound)..\(range.upperBound)"
        guard let n = e.node.integer else { typeError(e, "an integer (\(r))", example: example); return nil }
        guard range.contains(n) else {
            error(e.node.position, "`\(key)` \(n) is out of range \(r)", hint: "choose a value in \(r), e.g. \(example)")
            return nil
        }
        return (n, e)
    }

    public mutating func boolean(_ t: TOMLTable, _ key: String) -> (Bool, TOMLTable.Entry)? {
        guard let e = t[entry: key] else { return nil }
        guard let b = e.node.boolean else { typeError(e, "a boolean", example: "\(key) = true"); return nil }
        return (b, e)
    }

    public mutating func choice<E: RawRepresentable & CaseIterable>(_ t: TOMLTable, _ key: String, _: E.Type) -> (E, TOMLTable.Entry)?
    where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        let list = names.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let (s, e) = string(t, key, example: "\(key) = \"\(names[0])\"") else { return nil }
        if let v = E(rawValue: s) { return (v, e) }
        let message = "`\(key)` must be one of \(list); found \"\(s)\"" + Suggestion.didYouMean(s, among: names)
        error(e.node.position, message, hint: "write e.g. \(key) = \"\(names[0])\"")
        return nil
    }

    public mutating func stringArray(_ t: TOMLTable, _ key: String, example: String) -> ([(String, TOMLNode)], TOMLTable.Entry)? {
        guard let e = t[entry: key] else { return nil }
        guard let arr = e.node.array else { typeError(e, "an array of strings", example: example); return nil }
        var out: [(String, TOMLNode)] = []
        var ok = true
        for n in arr {
            if let s = n.string { out.append((s, n)) } else {
                ok = false
                error(n.position, "every element of `\(key)` must be a string, found \(n.value.typeNameWithArticle)",
                      hint: "write it like \(example)")
            }
        }
        return ok ? (out, e) : nil
    }

    /// Reject a key the tunnel kind does not use.
    public mutating func notApplicable(_ t: TOMLTable, _ key: String, _ why: String, table: String) {
        if let e = t[entry: key] {
            error(e.keyPosition, "`\(key)` \(why)", hint: "remove `\(key)` from \(table)")
        }
    }

    /// The table at `key`, or nil (an error when it is something else).
    public mutating func table(_ t: TOMLTable, _ key: String, example: String) -> (TOMLTable, TOMLTable.Entry)? {
        guard let e = t[entry: key] else { return nil }
        guard let x = e.node.table else { typeError(e, "a table", example: example); return nil }
        return (x, e)
    }

    /// The array of tables at `key` (`[[key]]`), empty when absent; elements that are not tables are errors.
    public mutating func tables(_ t: TOMLTable, _ key: String, example: String) -> [TOMLTable] {
        guard let e = t[entry: key] else { return [] }
        guard let arr = e.node.array else { typeError(e, "an array of tables", example: example); return [] }
        var out: [TOMLTable] = []
        for n in arr {
            if let x = n.table { out.append(x) } else {
                error(n.position, "every element of `\(key)` must be a table, found \(n.value.typeNameWithArticle)", hint: "write it like \(example)")
            }
        }
        return out
    }
}
