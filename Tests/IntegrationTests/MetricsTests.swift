import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Prometheus scrapes of running processes after traffic: `tunnel run ... metrics ADDR:PORT`, `l2tp run --metrics`
/// and `up --foreground --metrics`, each scraped inside its namespace (as Prometheus on that host would) and parsed.
@Suite("Prometheus metrics of the running processes", .serialized, .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"),
       .timeLimit(.minutes(5)))
struct MetricsTests {
    /// A sample line of the text exposition format: name, labels, value.
    struct Sample { var name: String; var labels: [String: String]; var value: Double }

    /// GET /metrics from inside `ns` (python3's HTTP client), the status line checked, the body parsed: every line
    /// is a comment or `NAME{LABELS} VALUE`; anything else fails the test.
    static func scrape(_ ns: String, _ address: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Sample] {
        let py = """
            import sys, urllib.request
            r = urllib.request.urlopen('http://' + sys.argv[1] + '/metrics', timeout=5)
            assert r.status == 200, r.status
            assert r.headers['Content-Type'].startswith('text/plain; version=0.0.4'), r.headers['Content-Type']
            sys.stdout.write(r.read().decode())
            """
        let out = try Host.run(["ip", "netns", "exec", ns, "python3", "-c", py, address])
        try #require(out.status == 0, "scrape of \(address) in \(ns): \(out.output)", sourceLocation: sourceLocation)
        var samples: [Sample] = []
        for line in out.output.split(separator: "\n") where !line.hasPrefix("#") {
            guard let sp = line.lastIndex(of: " "), let v = Double(line[line.index(after: sp)...]) else {
                Issue.record("not a sample line: \(line)", sourceLocation: sourceLocation); continue
            }
            let head = line[..<sp]
            var name = String(head), labels: [String: String] = [:]
            if let open = head.firstIndex(of: "{"), head.hasSuffix("}") {
                name = String(head[..<open])
                // Label values here never contain '",' (names of tunnels and sessions).
                for pair in head[head.index(after: open)..<head.index(before: head.endIndex)].components(separatedBy: "\",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { Issue.record("bad label \(pair) in \(line)", sourceLocation: sourceLocation); continue }
                    labels[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            }
            samples.append(Sample(name: name, labels: labels, value: v))
        }
        return samples
    }

    static func value(_ s: [Sample], _ name: String, _ labels: [String: String]) -> Double? {
        s.first { x in x.name == name && labels.allSatisfy { k, v in x.labels[k] == v } }?.value
    }

    @Test("tunnel run NAME metrics ADDR:PORT: packets and bytes per session after ping, drops by reason")
    func tunnelRun() throws {
        let bin = Host.isthmusBinary!
        let ns = Namespaces("metun")
        defer { ns.removeAll() }
        let (a, b) = try UserspaceDataplaneTests.pair(ns)
        let ta = try UserspaceDataplaneTests.Tunnel(bin, ns: a, device: "mvx0", words: "metrics 127.0.0.1:9550 verbose type vxlan id 42 remote 10.201.0.2 local 10.201.0.1 dstport 4789")
        defer { ta.stop() }
        let tb = try UserspaceDataplaneTests.Tunnel(bin, ns: b, device: "mvx0", words: "type vxlan id 42 remote 10.201.0.1 local 10.201.0.2 dstport 4789")
        defer { tb.stop() }
        #expect(ta.output.contains("metrics on http://127.0.0.1:9550/metrics"), "\(ta.output)")
        try Host.sh("ip -n \(a) addr add 192.168.77.1/24 dev mvx0 && ip -n \(b) addr add 192.168.77.2/24 dev mvx0")
        try Host.sh("ip -n \(a) link set mvx0 up && ip -n \(b) link set mvx0 up")
        try Host.sh("ip netns exec \(a) ping -c 3 -i 0.2 -W 2 192.168.77.2")
        // A datagram for another VNI: dropped and counted by the engine.
        try UserspaceDataplaneTests.inject(b, dst: "10.201.0.1", port: 4789, sport: 5555, ["08000000" + "00002b00" + String(repeating: "00", count: 42)])
        usleep(200_000)
        let s = try Self.scrape(a, "127.0.0.1:9550")
        let who = ["tunnel": "mvx0", "session": "mvx0"]
        for name in ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes"] {
            let v = Self.value(s, "isthmus_dataplane_\(name)_total", who)
            #expect((v ?? 0) > 0, "\(name): \(String(describing: v))")
        }
        #expect((Self.value(s, "isthmus_dataplane_rx_bytes_total", who) ?? 0) >= 3 * 98, "three echo replies at least")
        let drops = s.filter { $0.name == "isthmus_dataplane_drops_total" }
        #expect(drops.contains { $0.labels["reason"] == "malformed" }, "every reason has a series")
        #expect(drops.reduce(0) { $0 + $1.value } >= 1, "the injected datagram is counted: \(drops.filter { $0.value > 0 })")
        // The log: UTC time and level on every line; with `verbose`, each scrape as a debug line.
        #expect(ta.output.contains(/\d\d:\d\d:\d\d\.\d{3}Z info userspace vxlan tunnel mvx0 running/), "\(ta.output)")
        #expect(ta.output.contains(/Z debug metrics: 127\.0\.0\.1 port \d+: 200/), "\(ta.output)")
        #expect(!tb.output.contains(" debug "), "no debug lines without verbose")
        // The tunnel still carries traffic after the scrape, and a bad keyword value is refused before anything starts.
        try Host.sh("ip netns exec \(a) ping -c 1 -W 2 192.168.77.2")
        let bad = try Host.run([bin, "-n", a, "tunnel", "run", "mvx1", "metrics", "localhost:80", "type", "vxlan", "id", "1", "remote", "10.201.0.2"])
        #expect(bad.status != 0 && bad.output.contains("metrics localhost:80"), "\(bad.output)")
        // An address in use: refused, with the reason, before the device is created.
        let busy = try Host.run([bin, "-n", a, "tunnel", "run", "mvx1", "metrics", "127.0.0.1:9550", "type", "vxlan", "id", "1", "remote", "10.201.0.2", "dstport", "4790"])
        #expect(busy.status != 0 && busy.output.contains("127.0.0.1:9550: cannot listen"), "\(busy.output)")
        #expect((try Host.run(["ip", "-n", a, "link", "show", "mvx1"])).status != 0, "nothing created")
        #expect(ta.stop() == 0)
    }

    @Test("l2tp run --metrics: control messages, tunnel and session up, session packets after ping")
    func l2tpRun() throws {
        let ns = Namespaces("mel2")
        defer { ns.removeAll() }
        let (a, b) = try UserspaceDataplaneTests.pair(ns)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-metrics-l2tp-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = "version = 3\nsecret = \"metrics\"\ndigest = \"sha1\"\ndata_plane = \"userspace\"\n"
        let rb = try L2TPAgentProcess(netns: b, name: "metb\(getpid())", toml: "[l2tp]\n" + common + "host_name = \"b\"\nlisten = [\"10.201.0.2\"]\n"
            + "\n[[l2tp.pseudowire]]\nname = \"office\"\ninterface = \"mpw0\"\n", directory: dir)
        defer { rb.process.terminate(); rb.process.waitUntilExit() }
        let ra = try L2TPAgentProcess(netns: a, name: "meta\(getpid())", toml: "[l2tp]\n" + common + "host_name = \"a\"\n"
            + "\n[[l2tp.tunnel]]\nname = \"to-b\"\npeer = \"10.201.0.2\"\nlocal = \"10.201.0.1\"\n"
            + "\n[[l2tp.pseudowire]]\nname = \"office\"\ninterface = \"mpw0\"\ntunnel = \"to-b\"\n",
            directory: dir, arguments: ["--metrics", "127.0.0.1:9551"])
        defer { ra.process.terminate(); ra.process.waitUntilExit() }
        try #require(ra.wait(timeout: 20) { $0.up.sessions == 1 } && rb.wait(timeout: 10) { $0.up.sessions == 1 },
                     "a: \(ra.log)\nb: \(rb.log)")
        #expect(ra.log.contains("metrics on http://127.0.0.1:9551/metrics"), "\(ra.log)")
        try Host.sh("ip -n \(a) addr add 192.168.78.1/24 dev mpw0 && ip -n \(b) addr add 192.168.78.2/24 dev mpw0")
        try Host.sh("ip -n \(a) link set mpw0 up && ip -n \(b) link set mpw0 up")
        try Host.sh("ip netns exec \(a) ping -c 3 -i 0.2 -W 2 192.168.78.2")
        let s = try Self.scrape(a, "127.0.0.1:9551")
        #expect(Self.value(s, "isthmus_l2tp_tunnel_up", [:]) == 1)
        #expect(Self.value(s, "isthmus_l2tp_sessions_up", [:]) == 1)
        #expect((Self.value(s, "isthmus_l2tp_control_sent_total", ["type": "SCCRQ"]) ?? 0) >= 1, "\(s.filter { $0.name.contains("control") }.map { "\($0)" })")
        #expect((Self.value(s, "isthmus_l2tp_control_received_total", ["type": "SCCRP"]) ?? 0) >= 1)
        #expect(s.contains { $0.name == "isthmus_l2tp_control_retransmits_total" })
        for dir in ["rx", "tx"] {
            #expect((Self.value(s, "isthmus_l2tp_session_packets_total", ["direction": dir]) ?? 0) >= 3, "\(dir)")
            #expect((Self.value(s, "isthmus_l2tp_session_bytes_total", ["direction": dir]) ?? 0) > 0, "\(dir)")
        }
        #expect(s.contains { $0.name == "isthmus_l2tp_session_drops_total" && $0.labels["reason"] == "bad_cookie" })
    }

    @Test("up --foreground --metrics: reconcile runs and a drift repair counted, in sync again")
    func siteAgent() throws {
        let bin = Host.isthmusBinary!
        let lab = try TwoSites("metsite")
        defer { lab.remove() }
        try lab.writeConfig(tunnel: "vxlan")
        let logPath = "\(lab.dir)/agent.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: bin)
        agent.arguments = ["-n", lab["gwa"], "up", "--config", lab.configPath, "--site", "a", "--foreground", "--interval", "0.5",
                           "--metrics", "127.0.0.1:9553", "--verbose"]
        agent.standardOutput = log; agent.standardError = log; agent.standardInput = FileHandle.nullDevice
        try agent.run()
        defer {
            if agent.isRunning { kill(agent.processIdentifier, SIGTERM) }
            agent.waitUntilExit()
            try? log.close()
        }
        var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        /// Waits (up to 10 s) for `needle` in the log after the first `after`.
        func waitFor(_ needle: String, after: String? = nil) -> Bool {
            func found() -> Bool {
                let o = output
                guard let after else { return o.contains(needle) }
                guard let r = o.range(of: after) else { return false }
                return o[r.upperBound...].contains(needle)
            }
            for _ in 0..<200 where agent.isRunning { if found() { return true }; usleep(50_000) }
            return found()
        }
        try #require(waitFor("metrics on http://127.0.0.1:9553/metrics"), "\(output)")
        try Host.sh("ip -n \(lab["gwa"]) link del isth-lab")
        #expect(waitFor("repairing"), "\(output)")
        // The check after the repair finds nothing (a debug line, with --verbose): the repair is complete.
        #expect(waitFor("debug check: lab in sync", after: "repairing"), "\(output)")
        let s = try Self.scrape(lab["gwa"], "127.0.0.1:9553")
        #expect((Self.value(s, "isthmus_site_reconcile_runs_total", ["site": "lab"]) ?? 0) >= 2, "\(s)")
        #expect(Self.value(s, "isthmus_site_drift_repairs_total", ["site": "lab"]) == 1, "\(s)")
        #expect(Self.value(s, "isthmus_site_apply_failures_total", ["site": "lab"]) == 0, "\(s)")
        #expect(Self.value(s, "isthmus_site_in_sync", ["site": "lab"]) == 1, "\(s)")
        #expect(output.contains(/Z warning drift: \d+ change/), "\(output)")
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "\(output)")
    }
}
