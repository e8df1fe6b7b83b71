import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Two sites joined through a router, every box a network namespace this test creates (and removes by name):
///
///     a1 ─┐                                                      ┌─ b1
///         swa ── lan [gwa] wan ── ra [ r ] rb ══ wan [gwb] lan ── swb
///     a2 ─┘   10.0.1.2/24    10.0.1.1   10.0.2.1  10.0.2.2/24        └─ b2
///
/// The router's link to site b has MTU 1280 (a VPN overlay), so every path between the sites is 1280. The hosts share
/// 192.168.50.0/24 (a1 .11, a2 .12, b1 .21, b2 .22, and fd50::11 ... on IPv6) and have no DAD delay. The gateways
/// gwa and gwb are the site hosts that run Isthmus, each with its LAN port `lan` and its uplink `wan`.
final class TwoSites {
    let ns: Namespaces
    let configPath: String
    let dir: String
    private(set) var names: [String: String] = [:]

    static let hosts = ["a1": "192.168.50.11", "a2": "192.168.50.12", "b1": "192.168.50.21", "b2": "192.168.50.22"]

    init(_ test: String) throws {
        ns = Namespaces(test)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.prefix)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        configPath = "\(dir)/segment.toml"
        do { try build(); try waitReady() } catch { remove(); throw error }
    }

    subscript(_ short: String) -> String { names[short]! }

    private func build() throws {
        for n in ["r", "gwa", "swa", "a1", "a2", "gwb", "swb", "b1", "b2"] {
            names[n] = try ns.make(n)
            try Host.sh("ip netns exec \(names[n]!) sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0")
        }
        let r = self["r"]
        try Host.sh("""
            ip -n \(r) link add ra type veth peer name wan netns \(self["gwa"]) && \
            ip -n \(r) link add rb mtu 1280 type veth peer name wan mtu 1280 netns \(self["gwb"]) && \
            ip -n \(r) addr add 10.0.1.1/24 dev ra && ip -n \(r) addr add 10.0.2.1/24 dev rb && \
            ip -n \(r) link set ra up && ip -n \(r) link set rb up && \
            ip netns exec \(r) sysctl -qw net.ipv4.ip_forward=1
            """)
        for (s, n) in [("a", 1), ("b", 2)] {
            let gw = self["gw\(s)"], sw = self["sw\(s)"]
            try Host.sh("""
                ip -n \(gw) addr add 10.0.\(n).2/24 dev wan && ip -n \(gw) link set wan up && \
                ip -n \(gw) route add default via 10.0.\(n).1 && \
                ip -n \(sw) link add name sw type bridge && ip -n \(sw) link set sw up && \
                ip -n \(sw) link add p0 type veth peer name lan netns \(gw) && \
                ip -n \(sw) link set p0 master sw up && ip -n \(gw) link set lan up
                """)
            for h in 1...2 {
                let host = self["\(s)\(h)"]
                try Host.sh("""
                    ip -n \(sw) link add p\(h) type veth peer name eth0 netns \(host) && \
                    ip -n \(sw) link set p\(h) master sw up && ip -n \(host) link set eth0 up && \
                    ip -n \(host) addr add 192.168.50.\(n)\(h)/24 dev eth0 && \
                    ip -n \(host) addr add fd50::\(n)\(h)/64 dev eth0
                    """)
            }
        }
    }

    /// Waits (up to 10 s) until every veth has carrier and each gateway reaches the other through the router, so
    /// that snapshots of the host state and first packets are not racing the links coming up.
    func waitReady() throws {
        for _ in 0..<100 {
            var settled = true
            for n in names.values where try Host.sh("ip -n \(n) link show").contains("NO-CARRIER") { settled = false }
            if settled, try Host.run(["ip", "netns", "exec", self["gwa"], "ping", "-c", "1", "-W", "1", "10.0.2.2"]).status == 0 { return }
            usleep(100_000)
        }
        throw ShellError(command: "wait for the lab's links", status: -1, output: "links without carrier, or no route between the gateways")
    }

    /// A segment config for these two sites: `tunnel` plus extra `[segment]` lines.
    func writeConfig(tunnel: String, extra: [String] = [], filters: [String] = []) throws {
        var lines = ["[segment]", "name = \"lab\"", "tunnel = \"\(tunnel)\"", "underlay_mtu = 1280"] + extra
        if !filters.isEmpty { lines += ["", "[filters]"] + filters }
        lines += ["", "[sites.a]", "address = \"10.0.1.2\"", "lan = [\"lan\"]",
                  "", "[sites.b]", "address = \"10.0.2.2\"", "lan = [\"lan\"]"]
        try (lines.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// `isthmus -n gwSITE VERB --config ... --site SITE ARGS` (`on`: another namespace of the lab, e.g. for a site
    /// the config does not have).
    @discardableResult
    func isthmus(_ verb: String, site: String, _ args: [String] = [], on host: String? = nil) throws -> (status: Int32, output: String) {
        guard let bin = Host.isthmusBinary else { throw ShellError(command: "isthmus", status: -1, output: "no isthmus binary; run swift build") }
        return try Host.run([bin, "-n", self[host ?? "gw\(site)"], verb, "--config", configPath, "--site", site] + args)
    }

    /// Like `isthmus`, but throws unless it exits 0.
    @discardableResult
    func must(_ verb: String, site: String, _ args: [String] = []) throws -> String {
        let r = try isthmus(verb, site: site, args)
        if r.status != 0 { throw ShellError(command: "isthmus \(verb) --site \(site) \(args.joined(separator: " "))", status: r.status, output: r.output) }
        return r.output
    }

    /// Runs a shell line inside host namespace `short`.
    @discardableResult
    func exec(_ short: String, _ line: String) throws -> (status: Int32, output: String) {
        try Host.run(["ip", "netns", "exec", self[short], "sh", "-c", line])
    }

    /// Starts tcpdump in `short` on eth0 with `filter`, returns a function that waits for it and gives its output.
    func capture(_ short: String, _ filter: String, seconds: Int = 4) throws -> () -> String {
        let out = "\(dir)/cap-\(short)-\(UUID().uuidString).txt"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", self[short], "timeout", "-s", "KILL", "\(seconds)", "tcpdump", "--immediate-mode", "-l", "-nn", "-v", "-i", "eth0", filter]
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: out + ".err", contents: nil)
        let h = FileHandle(forWritingAtPath: out)!, e = FileHandle(forWritingAtPath: out + ".err")!
        p.standardOutput = h
        p.standardError = e
        try p.run()
        // Packets sent before tcpdump has opened its socket and loaded the filter are not seen: wait for it to say
        // so. (SIGKILL: a test runner's children may start with SIGTERM blocked, and timeout's default signal would
        // then never end tcpdump.)
        for _ in 0..<50 {
            if (try? String(contentsOfFile: out + ".err", encoding: .utf8))?.contains("listening on") == true { break }
            usleep(100_000)
        }
        return {
            p.waitUntilExit()
            try? h.close(); try? e.close()
            return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
    }

    /// Takes both sites down (whatever state they are in), then removes every namespace and file this made.
    func remove() {
        for s in ["a", "b"] where names["gw\(s)"] != nil {
            _ = try? isthmus("down", site: s)
        }
        ns.removeAll()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
