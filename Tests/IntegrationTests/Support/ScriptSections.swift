/// One section of a test script's output: the lines between an "=== NAME" line and the "=== rc N" line that closes it
/// (status N), or, for scripts that print no status, the next "=== NAME" line or the end (status nil).
struct ScriptSection: Sendable, Equatable {
    var status: Int32?
    var text: String
    /// The step ran to its end and failed (a non-zero status; not a section that never finished).
    var failed: Bool { status.map { $0 != 0 } ?? false }
}

/// The "=== NAME" ... ["=== rc N"] sections of a script's output, by name. Lines outside every section are ignored;
/// a later section of the same name replaces an earlier one. A marker counts only at the start of a line, so the
/// output must be the script's own stdout: `runInVM` keeps the harness's stderr apart for this reason.
func scriptSections(_ output: String) -> [String: ScriptSection] {
    var out: [String: ScriptSection] = [:]
    var name: String?
    var lines: [Substring] = []
    for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("=== rc "), let n = name {
            // The scripts add one newline after a command's output, so the joined lines are that output exactly.
            out[n] = ScriptSection(status: Int32(line.dropFirst(7)) ?? -1, text: lines.joined(separator: "\n"))
            name = nil
        } else if line.hasPrefix("=== ") {
            if let n = name { out[n] = ScriptSection(status: nil, text: lines.joined(separator: "\n")) }
            name = String(line.dropFirst(4)); lines = []
        } else if name != nil {
            lines.append(line)
        }
    }
    if let n = name { out[n] = ScriptSection(status: nil, text: lines.joined(separator: "\n")) }
    return out
}
