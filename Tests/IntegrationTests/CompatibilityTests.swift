import Foundation
import Testing

/// docs/COMPATIBILITY.md's table, run: change rows leave the same kernel state as iproute2, show rows print the same
/// text and JSON. The document is the test's data, so it cannot drift from what the test proves.
@Suite("iproute2 compatibility table (docs/COMPATIBILITY.md)", .serialized,
       .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct CompatibilityTests {
    struct Row: CustomStringConvertible {
        var number: Int
        var phase: String
        var command: String
        var same: Bool
        var description: String { "#\(number) \(phase) `\(command)`" }
    }

    static func rows() throws -> [Row] {
        let text = try String(contentsOf: Host.repoRoot.appendingPathComponent("docs/COMPATIBILITY.md"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> Row? in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 6, let n = Int(cells[1]), ["change", "show"].contains(cells[2]) else { return nil }
            let command = cells[3].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            return Row(number: n, phase: cells[2], command: command, same: cells[4] == "same")
        }
    }

    /// `ip ...` or, for fdb, `bridge ...` — the iproute2 tool a row's words belong to.
    static func reference(_ words: [String]) -> [String] {
        var options: [String] = []
        var rest = words[...]
        while let w = rest.first, w.hasPrefix("-") { options.append(w); rest = rest.dropFirst() }
        if rest.first == "fdb" { return ["bridge"] + options + rest }
        return ["ip"] + options + rest
    }

    static func run(_ tool: [String], netns: String) throws -> (status: Int32, output: String) {
        if tool[0] == "isthmus" { return try Host.run([Host.isthmusBinary!, "-n", netns] + tool.dropFirst()) }
        return try Host.run([tool[0], "-n", netns] + tool.dropFirst())
    }

    /// The kernel state two namespaces built the same way share.
    static func state(_ ns: String) throws -> String {
        func json(_ line: String) throws -> Any {
            let out = try Host.sh(line)
            return try JSONSerialization.jsonObject(with: Data((out.isEmpty ? "[]" : out).utf8))
        }
        var parts: [String] = [try KernelState.links(ns)]
        let addrs = (try json("ip -n \(ns) -j address show") as? [[String: Any]] ?? []).map { link -> [String: Any] in
            var l = link
            l["addr_info"] = (link["addr_info"] as? [[String: Any]] ?? []).filter { ($0["scope"] as? String) != "link" }
            return l
        }
        parts.append(KernelState.canonical(KernelState.normalize(addrs)))
        for family in ["-4", "-6"] {
            let routes = (try json("ip -n \(ns) \(family) -j route show table all") as? [[String: Any]] ?? [])
                .filter { !(($0["dst"] as? String)?.hasPrefix("fe80") ?? false) && !(($0["dst"] as? String)?.hasPrefix("ff00") ?? false) }
            parts.append(KernelState.canonical(KernelState.normalize(routes)))
            parts.append(KernelState.canonical(KernelState.normalize(try json("ip -n \(ns) \(family) -j rule show"))))
        }
        let neigh = (try json("ip -n \(ns) -j neigh show") as? [[String: Any]] ?? [])
            .filter { ["10.0.0.9", "fd00::9"].contains($0["dst"] as? String ?? "") }
        parts.append(KernelState.canonical(KernelState.normalize(neigh)))
        let fdb = (try json("bridge -n \(ns) -j fdb show") as? [[String: Any]] ?? [])
            .filter { ($0["mac"] as? String ?? "").hasPrefix("02:00:00:00:00") || ($0["mac"] as? String) == "00:00:00:00:00:00" }
        parts.append(KernelState.canonical(KernelState.normalize(fdb)))
        return parts.joined(separator: "\n---\n")
    }

    /// Bridge and port timers (`gc_timer  297.88`, `"hold_timer":0.00`) count down between two runs: their values
    /// are replaced, the fields themselves still compared.
    static func withoutTimers(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: "_timer") {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let separator = rest.prefix { $0 == " " || $0 == "\"" || $0 == ":" }
            let number = rest.dropFirst(separator.count).prefix { $0.isNumber || $0 == "." }
            if !number.isEmpty {
                out += separator.filter { $0 != " " } + "T"
                rest = rest.dropFirst(separator.count + number.count)
            }
        }
        return out + rest
    }

    @Test("every row of docs/COMPATIBILITY.md")
    func table() throws {
        let rows = try Self.rows()
        #expect(rows.count >= 60, "the table has \(rows.count) rows")
        #expect(rows.map(\.number) == Array(1...rows.count), "rows are numbered 1...\(rows.count) in order")
        let spaces = Namespaces("compat")
        defer { spaces.removeAll() }
        let byIP = try spaces.make("ip"), byUs = try spaces.make("isthmus")
        // No router solicitations or DAD probes that would make the two namespaces' counters and neighbours differ.
        for ns in [byIP, byUs] {
            try Host.sh("ip netns exec \(ns) sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.dad_transmits=0")
        }
        for row in rows where row.phase == "change" {
            let words = row.command.split(separator: " ").map(String.init)
            let ip = try Self.run(Self.reference(words), netns: byIP)
            let us = try Self.run(["isthmus"] + words, netns: byUs)
            #expect(ip.status == 0, "\(row): ip failed: \(ip.output)")
            #expect(us.status == 0, "\(row): isthmus failed: \(us.output)")
            let a = try Self.state(byIP), b = try Self.state(byUs)
            if row.same {
                #expect(a == b, "\(row): kernel state differs\nip:\n\(a)\nisthmus:\n\(b)")
            } else {
                #expect(a != b, "\(row) is marked differs but the state is now the same: mark it same")
            }
        }
        for row in rows where row.phase == "show" {
            let words = row.command.split(separator: " ").map(String.init)
            let before = try Self.run(Self.reference(words), netns: byUs)
            let us = try Self.run(["isthmus"] + words, netns: byUs)
            let after = try Self.run(Self.reference(words), netns: byUs)
            let mine = Self.withoutTimers(us.output)
            let same = mine == Self.withoutTimers(before.output) || mine == Self.withoutTimers(after.output)
            if row.same {
                #expect(same && us.status == before.status, "\(row)\nip:\n\(before.output)\nisthmus:\n\(us.output)")
            } else {
                #expect(!same, "\(row) is marked differs but prints the same: mark it same")
            }
        }
    }
}
