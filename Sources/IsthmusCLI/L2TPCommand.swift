import ArgumentParser
import Foundation
import IPCommand
import IsthmusMetrics
import L2TPAgent

/// `isthmus l2tp run --config FILE` (the L2TP agent: LAC, LNS, L2TPv3 LCCE) and `isthmus l2tp show` (its status).
/// `isthmus l2tp show tunnel|session` and `l2tp add|del ...` stay iproute2's static L2TP commands.
struct L2TPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "l2tp",
        abstract: "Run the L2TP control protocol (LAC/LNS/LCCE) from a config file, or show what it is doing.",
        discussion: """
        run: stay in the foreground; SIGTERM or SIGINT sends StopCCN to every peer and exits. Status is answered on /run/isthmus/l2tp/NAME.sock and written to /run/isthmus/l2tp/NAME.json (or the config's `status`); both are removed when the agent exits.
        show: the tunnels and sessions of a running agent (--config FILE, --status PATH, or every agent).
        The file format is in docs/L2TP.md. Static tunnels: isthmus l2tp add tunnel ... (like ip l2tp; isthmus l2tp help).
        """)

    @Argument(help: "run | show")
    var action: String
    @Option(name: .long, help: "The agent's TOML file.")
    var config: String?
    @Option(name: .long, help: "A status file to show.")
    var status: String?
    @Flag(name: [.customShort("j"), .long], help: "Print JSON (show).")
    var json = false
    @Option(name: .long, help: "run: serve Prometheus metrics (GET /metrics) on ADDR:PORT ([ADDR]:PORT for IPv6).")
    var metrics: String?
    @Flag(name: .long, help: "run: debug lines in the log (every scrape).")
    var verbose = false

    static func handles(_ words: [String]) -> Bool {
        guard words.first == "l2tp", words.count >= 2 else { return false }
        if words[1] == "run" { return true }
        return words[1] == "show" && (words.count == 2 || words[2].hasPrefix("-"))
    }

    func run() throws {
        switch action {
        case "run":
            guard let config else { throw L2TPFailure("l2tp run: --config FILE is required") }
            let metricsAddress: MetricsAddress?
            do { metricsAddress = try metrics.map { try MetricsAddress.parse($0) } } catch { throw L2TPFailure("l2tp run: \(error)") }
            let c: L2TPAgentConfig
            do { c = try L2TPConfigReader.load(path: config) } catch { throw L2TPFailure("\(error)") }
            let daemon = L2TPDaemon(config: c)
            daemon.metrics = metricsAddress
            ProcessLog.shared.verbose = verbose
            do { try daemon.run() } catch { throw L2TPFailure("l2tp \(c.name): \(error)") }
        case "show":
            var paths: [String] = []
            if let status { paths = [status] } else if let config {
                do { paths = [try L2TPConfigReader.load(path: config).resolvedStatusPath] } catch { throw L2TPFailure("\(error)") }
            } else {
                // Every agent: a status file or socket (an agent that just started may have only the socket yet).
                let dir = "/run/isthmus/l2tp"
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
                    .filter { $0.hasSuffix(".json") || $0.hasSuffix(".sock") }.map { String($0.dropLast(5)) }
                paths = Set(names).sorted().map { "\(dir)/\($0).json" }
            }
            var all: [[String: Any]] = []
            // How old each status read from a file (not the agent's socket) was, by index in `all`.
            var fileAges: [Int: Int] = [:]
            for p in paths {
                // The running agent answers on its socket with what is true now; the file (written at most every
                // few tenths of a second, more rarely under load) is for an agent without one.
                if let o = L2TPDaemon.liveStatus(statusPath: p) {
                    all.append(o)
                    continue
                }
                // A `status` path outside /run/isthmus is written in place, not replaced whole: a read may catch it
                // half-written, so a file that does not parse is read again.
                func read() -> [String: Any]? {
                    FileManager.default.contents(atPath: p).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                }
                var status = read()
                for _ in 0..<5 where status == nil && FileManager.default.fileExists(atPath: p) {
                    usleep(20_000)
                    status = read()
                }
                guard let o = status else {
                    if config == nil && self.status == nil { continue }   // gone in the meantime
                    throw L2TPFailure("l2tp show: no status at \(p) (is the agent running?)")
                }
                if let pid = o["pid"] as? Int, kill(pid_t(pid), 0) != 0 { continue }   // left by an agent that died
                if let m = (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date {
                    fileAges[all.count] = Int(Date().timeIntervalSince(m))
                }
                all.append(o)
            }
            if json {
                let d = try JSONSerialization.data(withJSONObject: all, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: d, as: UTF8.self))
                return
            }
            if all.isEmpty { print("no L2TP agent is running"); return }
            for (i, o) in all.enumerated() {
                if i > 0 { print("") }
                print(Self.describe(o, fileAge: fileAges[i]))
            }
        default:
            throw L2TPFailure("l2tp: unknown action \"\(action)\"; valid: run, show (or ip l2tp's add, del, show tunnel|session)")
        }
    }

    /// A human summary of one agent's status: a line about the agent, then a table of its tunnels and one of its
    /// sessions (aligned columns, state words, ages). `fileAge`: the status came from its file, written that long ago.
    static func describe(_ o: [String: Any], fileAge: Int? = nil) -> String {
        var lines = ["agent \(o["name"] ?? "?"): L2TPv\(o["version"] ?? "?"), data plane \(o["data_plane"] ?? "?")"
                     + ((o["listen"] as? [String]).flatMap { $0.isEmpty ? nil : ", listening on " + $0.joined(separator: ", ") } ?? "")
                     + (o["stopping"] as? Bool == true ? ", stopping" : "")]
        if let a = fileAge { lines.append("(from its status file, written \(TextTable.age(a)) ago: the agent's socket did not answer)") }
        if let p = o["ppp_pool"] as? [String: Any] { lines.append("pool \(p["range"] ?? "?"): \(p["free"] ?? "?") free") }
        if let d = o["dropped"] as? [String: Int], !d.isEmpty {
            lines.append("dropped before a tunnel: " + d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        func str(_ v: Any?) -> String { v.map { "\($0)" } ?? "" }
        let tunnels = (o["tunnels"] as? [[String: Any]]) ?? []
        if tunnels.isEmpty { lines.append("no tunnels"); return lines.joined(separator: "\n") }
        var tt = TextTable(["TUNNEL", "STATE", "ROLE", "IDS", "PEER", "HOST", "UP", "RTT", "HELLO-RTT", "RETRANSMITS"])
        var st = TextTable(["SESSION", "TUNNEL", "STATE", "IDS", "DEV", "PPP", "PPPD", "RX", "TX"])
        for t in tunnels {
            let name = str(t["name"]).isEmpty ? str(t["local_id"]) : str(t["name"])
            tt.add([name, str(t["state"]), str(t["role"]), "\(str(t["local_id"]))/\(str(t["peer_id"]))", str(t["peer"]),
                    str(t["peer_host"]), (t["up_seconds"] as? Int).map(TextTable.age) ?? "",
                    t["rtt_ms"].map { "\($0) ms" } ?? "", t["hello_rtt_ms"].map { "\($0) ms" } ?? "", str(t["retransmits"] ?? 0)])
            for x in (t["sessions"] as? [[String: Any]]) ?? [] {
                var ppp = ""
                if let state = x["ppp"] {
                    ppp = "\(state)"
                    if let l = x["ppp_local"], let r = x["ppp_peer"] { ppp += " \(l) peer \(r)" }
                    else if let a = x["pool_address"] { ppp += " (peer gets \(a))" }
                }
                func traffic(_ dir: String) -> String {
                    guard let p = x["\(dir)_packets"] as? Int else { return "" }
                    return "\(p) pkts \(TextTable.bytes(UInt64(max(0, x["\(dir)_bytes"] as? Int ?? 0))))"
                }
                st.add([str(x["name"]).isEmpty ? str(x["local_id"]) : str(x["name"]), name, str(x["state"]),
                        "\(str(x["local_id"]))/\(x["peer_id"].map { "\($0)" } ?? "-")", str(x["interface"]), ppp,
                        str(x["pppd_pid"]), traffic("rx"), traffic("tx")])
            }
        }
        lines.append("")
        lines += tt.lines
        if !st.rows.isEmpty {
            lines.append("")
            lines += st.lines
        }
        return lines.joined(separator: "\n")
    }
}

struct L2TPFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
