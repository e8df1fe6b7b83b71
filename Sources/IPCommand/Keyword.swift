/// One keyword of an iproute2 if-chain: compared with strcmp() (`exact`) or accepted as an abbreviation (`matches()`).
struct Keyword: Sendable {
    var name: String
    var abbreviable: Bool
    static func exact(_ n: String) -> Keyword { Keyword(name: n, abbreviable: false) }
    static func abbrev(_ n: String) -> Keyword { Keyword(name: n, abbreviable: true) }
}

extension Array where Element == Keyword {
    /// The first keyword in chain order that `word` selects, as iproute2's if/else-if chains resolve it.
    func resolve(_ word: String) -> String? {
        for k in self {
            if k.abbreviable ? (!word.isEmpty && k.name.hasPrefix(word)) : (k.name == word) { return k.name }
        }
        return nil
    }
    /// Every keyword name, for error messages.
    var names: [String] { map(\.name) }
}
