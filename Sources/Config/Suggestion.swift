/// "Did you mean" for the config readers and their messages: the closest known word to a mistyped one.
public enum Suggestion {
    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = prev
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    /// The closest candidate within a small edit distance (at most 2, or a third of the word), the first on a tie.
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let limit = max(2, word.count / 3)
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(word.lowercased(), c)
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// How a suggestion is quoted: a value as `"x"`, a key as `` `x` ``.
    public enum Quote: Sendable { case value, key }

    /// `; did you mean "X"?` (or `` `X` `` for a key) to append to a message, or "" when nothing is close.
    public static func didYouMean(_ word: String, among candidates: [String], quote: Quote = .value) -> String {
        guard let s = closest(to: word, among: candidates) else { return "" }
        return quote == .key ? "; did you mean `\(s)`?" : "; did you mean \"\(s)\"?"
    }
}
