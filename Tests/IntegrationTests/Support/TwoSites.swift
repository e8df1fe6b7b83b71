import Foundation
import Lab
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
/// gwa and gwb are the site hosts that run Isthmus, each with its LAN port `lan` and its uplink `wan`. The Lab module
/// builds it (namespaces LAB-NODE, the lab name unique to this test process).
final class TwoSites {
    let runner: LabRunner
    let configPath: String
    let dir: String
    private(set) var names: [String: String] = [:]

    static let hosts = ["a1": "192.168.50.11", "a2": "192.168.50.12", "b1": "192.168.50.21", "b2": "192.168.50.22"]
    nonisolated(unsafe) static var made = 0

    /// The topology as a lab file (Sources/Lab): the implementation `isthmus lab` gives users builds it.
    static func labText(name: String) -> String {
        var t = """
            [lab]
            name = "\(name)"
            [nodes.r]
            type = "router"
            addresses = { ra = ["10.0.1.1/24"], rb = ["10.0.2.1/24"] }
            [nodes.gwa]
            addresses = { wan = ["10.0.1.2/24"] }
            routes = ["default via 10.0.1.1"]
            [nodes.gwb]
            addresses = { wan = ["10.0.2.2/24"] }
            routes = ["default via 10.0.2.1"]
            [nodes.swa]
            type = "switch"
            [nodes.swb]
            type = "switch"

            """
        for (s, n) in [("a", 1), ("b", 2)] {
            for h in 1...2 {
                t += """
                    [nodes.\(s)\(h)]
                    addresses = { eth0 = ["192.168.50.\(n)\(h)/24", "fd50::\(n)\(h)/64"] }

                    """
            }
        }
        t += """
            [[links]]
            endpoints = ["gwa:wan", "r:ra"]
            [[links]]
            endpoints = ["gwb:wan", "r:rb"]
            mtu = 1280
            [[links]]
            endpoints = ["swa:p0", "gwa:lan"]
            [[links]]
            endpoints = ["swb:p0", "gwb:lan"]

            """
        for s in ["a", "b"] {
            for h in 1...2 { t += "[[links]]\nendpoints = [\"sw\(s):p\(h)\", \"\(s)\(h):eth0\"]\n" }
        }
        return t
    }

    init(_ test: String) throws {
        TwoSites.made += 1
        let name = "s\(getpid())-\(TwoSites.made)"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-\(test)-\(name)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        configPath = "\(dir)/segment.toml"
        let lab: LabConfig
        switch LabConfig.load(text: Self.labText(name: name), file: "\(dir)/lab.toml", directory: dir) {
        case .success(let l): lab = l
        case .failure(let e): throw ShellError(command: "load the test lab", status: -1, output: e.description)
        }
        runner = LabRunner(lab: lab)
        for n in lab.nodes { names[n.name] = lab.namespace(n.name) }
        do { try runner.up(); try waitReady() } catch { remove(); throw error }
    }

    subscript(_ short: String) -> String { names[short]! }

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

    /// Takes both sites down (whatever state they are in), then removes every namespace (and any process left in
    /// them) and file this made.
    func remove() {
        for s in ["a", "b"] where FileManager.default.fileExists(atPath: configPath) {
            _ = try? isthmus("down", site: s)
        }
        _ = try? runner.down()
        // The userspace tunnels' logs, one per site and namespace (the lab's down removes those of its own sites).
        for s in ["a", "b"] { unlink("/run/isthmus/sites/lab-\(s)-\(self["gw\(s)"]).log") }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
