import Foundation
import Lab
import SiteAgent
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14, point 2: sites on real home LANs. Each site's LAN has a home router that sends IPv6 router
/// advertisements (a prefix for SLAAC and a default route) and answers DHCP, with "the internet" behind it; each
/// gateway has its LAN address and its default route on its LAN port, as in an `ip link set eth0 master br0` set-up,
/// and its underlay on a separate uplink:
///
///     ia ── ha ─┐                                                       ┌─ hb ── ib
///  172.16.1.2   swa ── lan [gwa] wan ── ra [ r ] rb ── wan [gwb] lan ── swb    172.16.2.2
///          a1 ──┘  192.168.50.2    10.0.1.2      10.0.2.2   192.168.50.3  └── b1
///
/// ha (192.168.50.1, RA prefix 2001:db8:a::/64) is gwa's default router, hb (192.168.50.254, 2001:db8:b::/64) gwb's.
/// The kernel gives each bridge SLAAC addresses and an RA default route once it is up; none of that is drift, and the
/// gateways keep reaching their LAN and the host beyond their default route through up, status, drift repair and down.
@Suite("Sites on home LANs: IPv6 router advertisements, DHCP, the gateway's own LAN address",
       .serialized, .enabled(if: Host.isRoot, "\(Host.notRootReason)"))
struct SiteLANTests {
    @Test("RA and DHCP on both LANs: plan stays clean, a second up changes nothing; the gateway keeps its LAN and its default route")
    func homeLANs() throws {
        let lab = try HomeLANs()
        defer { lab.remove() }
        try lab.writeConfig()
        let helper = try LANHelper(dir: lab.dir)
        var servers: [LANJob] = []
        defer { for s in servers { s.stop() } }
        for (router, lease) in [("ha", "192.168.50.100"), ("hb", "192.168.50.200")] {
            servers.append(try LANJob(lab[router], helper.command("dhcpd", "lan", lease), seconds: 240))
        }
        for s in servers { #expect(s.waitFor("ready"), "\(s.output)") }

        /// The LAN's IPv6 routers advertise (as they do every few seconds).
        func advertise() throws {
            try helper.run(lab["ha"], "ra", "lan", "2001:db8:a::")
            try helper.run(lab["hb"], "ra", "lan", "2001:db8:b::")
        }
        /// Waits until the kernel acted on the advertisements, advertising again each second meanwhile (an RA that
        /// arrives while an interface is not ready yet is ignored, as it is on a real LAN until the next one).
        func waitForRA(_ what: String, _ condition: () throws -> Bool) throws {
            var polls = 0
            try lab.waitFor(what) {
                polls += 1
                if polls % 10 == 0 { try advertise() }
                return try condition()
            }
        }
        /// The routers advertise, and a LAN host of each site takes a DHCP lease from its own router.
        func lanTraffic() throws {
            try advertise()
            #expect(try helper.run(lab["a1"], "dhclient", "eth0") == "ack 192.168.50.100 from 192.168.50.1\n")
            #expect(try helper.run(lab["b1"], "dhclient", "eth0") == "ack 192.168.50.200 from 192.168.50.254\n")
        }
        /// The gateway reaches a host on its LAN and one beyond its default route (through the LAN's router).
        func reachable(_ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            for (gw, targets) in [("gwa", ["192.168.50.11", "172.16.1.2"]), ("gwb", ["192.168.50.21", "172.16.2.2"])] {
                for t in targets {
                    let r = try lab.exec(gw, "ping -c 1 -W 2 \(t) || ping -c 2 -W 2 \(t)")
                    #expect(r.status == 0, "\(step): \(gw) cannot reach \(t):\n\(r.output)", sourceLocation: sourceLocation)
                }
            }
        }

        // Before Isthmus: the LAN port has the gateway's address, its default route, and what the RA gave it.
        try lanTraffic()
        try waitForRA("SLAAC on gwa's LAN port") { try lab.exec("gwa", "ip -6 addr show dev lan scope global dynamic").output.contains("2001:db8:a:") }
        try reachable("before up")

        for s in ["a", "b"] {
            let up = try lab.must("up", site: s)
            #expect(up.contains("~ link set lan master br-lab") && up.contains("- addr del 192.168.50."), "\(up)")
        }
        try reachable("after up")
        let across = try lab.exec("a1", "ping -c 2 -W 3 192.168.50.21")
        #expect(across.status == 0, "the segment: \(across.output)")
        // The gateway's address, default route and the RA's are on the bridge now, and none of them is drift.
        try lanTraffic()
        for (gw, prefix) in [("gwa", "2001:db8:a:"), ("gwb", "2001:db8:b:")] {
            try waitForRA("SLAAC and an RA default route on \(gw)'s bridge") {
                try lab.exec(gw, "ip -6 addr show dev br-lab scope global dynamic").output.contains(prefix)
                    && lab.exec(gw, "ip -6 route show dev br-lab proto ra").output.contains("default via fe80::")
            }
            let v4 = try lab.exec(gw, "ip -4 addr show dev br-lab; ip -4 route show default").output
            #expect(v4.contains("inet 192.168.50.") && v4.contains("dev br-lab"), "\(gw):\n\(v4)")
            // A route keeps its preferred source and metric when it moves.
            if gw == "gwb" { #expect(v4.contains("default via 192.168.50.254 dev br-lab src 192.168.50.3 metric 50"), "\(v4)") }
        }
        for s in ["a", "b"] {
            let plan = try lab.isthmus("plan", site: s, ["--exit-code"])
            #expect(plan.status == 0 && plan.output.contains("no changes"), "site \(s) after RA and DHCP traffic:\n\(plan.output)")
            let again = try lab.must("up", site: s)
            #expect(again.contains("no changes"), "site \(s), second up:\n\(again)")
        }
        let status = try lab.must("status", site: "a", ["--json"])
        let j = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        #expect(j["in_sync"] as? Bool == true, "\(status)")
        try reachable("after status")

        // Userspace tunnels of the two sites (one host, two namespaces) each write their own log.
        if j["dataplane"] as? String == "userspace" {
            for (s, local, other) in [("a", "10.0.1.2", "10.0.2.2"), ("b", "10.0.2.2", "10.0.1.2")] {
                let path = "/run/isthmus/sites/lab-\(s)-\(lab["gw\(s)"]).log"
                let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(missing)"
                #expect(log.contains("local \(local)") && !log.contains("local \(other)"), "\(path):\n\(log)")
            }
        }

        // The agent: intervals pass without touching the kernel's addresses and routes; drift is repaired.
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: Host.isthmusBinary!)
        agent.arguments = ["-n", lab["gwa"], "up", "--foreground", "--interval", "0.5", "--config", lab.configPath, "--site", "a"]
        let agentLog = Pipe()
        agent.standardOutput = agentLog
        agent.standardError = agentLog
        try agent.run()
        var stopped = false
        defer { if !stopped { kill(agent.processIdentifier, SIGKILL); agent.waitUntilExit() } }
        try lab.waitFor("the agent's first pass") { try lab.isthmus("plan", site: "a").output.contains("no changes") }
        let slaac = try lab.exec("gwa", "ip -6 addr show dev br-lab scope global dynamic").output
        usleep(2_000_000)   // four intervals
        #expect(try lab.exec("gwa", "ip -6 addr show dev br-lab scope global dynamic").output.contains("2001:db8:a:"), "\(slaac)")
        #expect(try lab.exec("gwa", "ip -6 route show dev br-lab proto ra").output.contains("default via fe80::"))
        try Host.sh("ip -n \(lab["gwa"]) link set lan nomaster")
        usleep(200_000)
        try lab.waitFor("the agent's repair") {
            try lab.isthmus("plan", site: "a").output.contains("no changes")
                && lab.exec("gwa", "ip -o link show lan").output.contains("master br-lab")
        }
        try reachable("after the agent repaired drift")
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        stopped = true
        let agentOutput = String(decoding: agentLog.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(agent.terminationStatus == 0 && agentOutput.contains("drift: ") && agentOutput.contains("down"), "\(agentOutput)")
        #expect(agentOutput.components(separatedBy: "drift: ").count - 1 == 1, "only the hand-made drift is drift:\n\(agentOutput)")

        // down (the agent's for a, the command for b): the gateway's configuration is back on its LAN port.
        try lab.must("down", site: "b")
        for (gw, address, router) in [("gwa", "192.168.50.2/24", "192.168.50.1"), ("gwb", "192.168.50.3/24", "192.168.50.254")] {
            let port = try lab.exec(gw, "ip -o link show; ip -4 addr show dev lan; ip -4 route show default").output
            #expect(!port.contains("br-lab") && port.contains("inet \(address)") && port.contains("default via \(router) dev lan"), "\(gw):\n\(port)")
        }
        #expect(try lab.exec("gwb", "ip -4 route show default").output.contains("default via 192.168.50.254 dev lan src 192.168.50.3 metric 50"))
        try reachable("after down")
    }

    @Test("a failure injected at each step of up or down puts the LAN port's address and default route back")
    func rollback() throws {
        let lab = try HomeLANs()
        defer { lab.remove() }
        try lab.writeConfig()
        func snapshot() throws -> String {
            try lab.exec("gwa", "ip -o -4 addr show | awk '{print $2, $4}'; ip -4 route show; ip -o link show | grep -o 'master [a-z0-9-]*' | sort").output
        }
        let before = try snapshot()
        let steps = try lab.must("plan", site: "a").split(separator: "\n").filter { $0.hasPrefix("+ ") || $0.hasPrefix("~ ") || $0.hasPrefix("- ") }
        let moving = steps.firstIndex { $0.contains("moving") } ?? 0
        for n in Set([moving, moving + 1, moving + 3, steps.count - 2]) {
            let r = try lab.isthmus("up", site: "a", ["--fail-before", "\(n)"])
            #expect(r.status == 1 && r.output.contains("injected failure"), "\(r.output)")
            #expect(try snapshot() == before, "up failing before step \(n + 1):\n\(r.output)")
            #expect(try lab.exec("gwa", "ping -c 1 -W 2 172.16.1.2").status == 0, "after the rollback of step \(n + 1)")
        }
        try lab.must("up", site: "a")
        let up = try snapshot()
        #expect(up.contains("br-lab 192.168.50.2/24") && up.contains("default via 192.168.50.1 dev br-lab"), "\(up)")
        for n in [1, 3, 5] {
            let r = try lab.isthmus("down", site: "a", ["--fail-before", "\(n)"])
            #expect(r.status == 1 && r.output.contains("injected failure"), "\(r.output)")
            #expect(try snapshot() == up, "down failing before step \(n + 1):\n\(r.output)")
        }
        try lab.must("down", site: "a")
        #expect(try snapshot() == before)
    }
}

/// Sites of one segment often share a host (a lab, the tests, namespaces): their userspace tunnels' output must not
/// land in one file, nor one process's writes over another's.
@Suite("Sites: one appended log per site and namespace", .enabled(if: Host.isRoot, "\(Host.notRootReason)"))
struct SiteLogTests {
    @Test("each site and namespace has its own log; writers append, never overwrite")
    func logs() throws {
        let a = TunnelProcesses(binary: "isthmus", netns: "ns-a", segment: "lab", site: "a")
        let b = TunnelProcesses(binary: "isthmus", netns: "ns-b", segment: "lab", site: "b")
        let here = TunnelProcesses(binary: "isthmus", netns: nil, segment: "lab", site: "a")
        #expect(a.logPath == "/run/isthmus/sites/lab-a-ns-a.log" && b.logPath == "/run/isthmus/sites/lab-b-ns-b.log")
        #expect(Set([a.logPath, b.logPath, here.logPath]).count == 3)
        #expect(TunnelProcesses(binary: "isthmus", netns: "../x", segment: "lab", site: "a").logPath == "/run/isthmus/sites/lab-a-.._x.log")

        // Two processes' handles on one log (a restarted tunnel beside the old one): every write lands at the end.
        let path = "/run/isthmus/sites/lab-logtest-\(getpid()).log"
        defer { unlink(path) }
        let (first, start) = try TunnelProcesses.openLog(path)
        #expect(start == 0)
        let (second, _) = try TunnelProcesses.openLog(path)
        first.write(Data("one\n".utf8))
        second.write(Data("two\n".utf8))
        first.write(Data("three\n".utf8))
        try first.close(); try second.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\ntwo\nthree\n")
        let (third, size) = try TunnelProcesses.openLog(path)
        try third.close()
        #expect(size == 14)
    }
}

/// The two home LANs (namespaces LAB-NODE, the lab name unique to this process), built by the Lab module.
private final class HomeLANs {
    let runner: LabRunner
    let dir: String
    let configPath: String
    private var names: [String: String] = [:]
    nonisolated(unsafe) static var made = 0

    static func labText(name: String) -> String {
        """
        [lab]
        name = "\(name)"
        [nodes.r]
        type = "router"
        addresses = { ra = ["10.0.1.1/24"], rb = ["10.0.2.1/24"] }
        [nodes.gwa]
        addresses = { wan = ["10.0.1.2/24"], lan = ["192.168.50.2/24"] }
        routes = ["10.0.2.0/24 via 10.0.1.1", "default via 192.168.50.1"]
        [nodes.gwb]
        addresses = { wan = ["10.0.2.2/24"], lan = ["192.168.50.3/24"] }
        routes = ["10.0.1.0/24 via 10.0.2.1", "default via 192.168.50.254 src 192.168.50.3 metric 50"]
        [nodes.ha]
        type = "router"
        addresses = { lan = ["192.168.50.1/24"], isp = ["172.16.1.1/24"] }
        [nodes.hb]
        type = "router"
        addresses = { lan = ["192.168.50.254/24"], isp = ["172.16.2.1/24"] }
        [nodes.ia]
        addresses = { eth0 = ["172.16.1.2/24"] }
        routes = ["default via 172.16.1.1"]
        [nodes.ib]
        addresses = { eth0 = ["172.16.2.2/24"] }
        routes = ["default via 172.16.2.1"]
        [nodes.a1]
        addresses = { eth0 = ["192.168.50.11/24"] }
        [nodes.b1]
        addresses = { eth0 = ["192.168.50.21/24"] }
        [nodes.swa]
        type = "switch"
        [nodes.swb]
        type = "switch"
        [[links]]
        endpoints = ["gwa:wan", "r:ra"]
        [[links]]
        endpoints = ["gwb:wan", "r:rb"]
        [[links]]
        endpoints = ["swa:p0", "gwa:lan"]
        [[links]]
        endpoints = ["swb:p0", "gwb:lan"]
        [[links]]
        endpoints = ["swa:p1", "a1:eth0"]
        [[links]]
        endpoints = ["swb:p1", "b1:eth0"]
        [[links]]
        endpoints = ["swa:p2", "ha:lan"]
        [[links]]
        endpoints = ["swb:p2", "hb:lan"]
        [[links]]
        endpoints = ["ha:isp", "ia:eth0"]
        [[links]]
        endpoints = ["hb:isp", "ib:eth0"]

        """
    }

    init() throws {
        HomeLANs.made += 1
        let name = "h\(getpid())-\(HomeLANs.made)"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-homelan-\(name)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        configPath = "\(dir)/segment.toml"
        let lab: LabConfig
        switch LabConfig.load(text: Self.labText(name: name), file: "\(dir)/lab.toml", directory: dir) {
        case .success(let l): lab = l
        case .failure(let e): throw ShellError(command: "load the test lab", status: -1, output: e.description)
        }
        runner = LabRunner(lab: lab)
        for n in lab.nodes { names[n.name] = lab.namespace(n.name) }
        do {
            try runner.up()
            try waitFor("the lab's links and routes") {
                try exec("gwa", "ping -c 1 -W 1 10.0.2.2").status == 0 && exec("gwa", "ping -c 1 -W 1 172.16.1.2").status == 0
                    && exec("gwb", "ping -c 1 -W 1 172.16.2.2").status == 0
            }
        } catch { remove(); throw error }
    }

    subscript(_ short: String) -> String { names[short]! }

    /// The segment: gretap (the userspace data plane on a kernel without ip_gre), the gateways' LAN ports.
    func writeConfig() throws {
        try """
            [segment]
            name = "lab"
            tunnel = "gretap"

            [sites.a]
            address = "10.0.1.2"
            lan = ["lan"]

            [sites.b]
            address = "10.0.2.2"
            lan = ["lan"]

            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    @discardableResult
    func isthmus(_ verb: String, site: String, _ args: [String] = []) throws -> (status: Int32, output: String) {
        guard let bin = Host.isthmusBinary else { throw ShellError(command: "isthmus", status: -1, output: "no isthmus binary; run swift build") }
        return try Host.run([bin, "-n", self["gw\(site)"], verb, "--config", configPath, "--site", site] + args)
    }

    @discardableResult
    func must(_ verb: String, site: String, _ args: [String] = []) throws -> String {
        let r = try isthmus(verb, site: site, args)
        if r.status != 0 { throw ShellError(command: "isthmus \(verb) --site \(site) \(args.joined(separator: " "))", status: r.status, output: r.output) }
        return r.output
    }

    @discardableResult
    func exec(_ short: String, _ line: String) throws -> (status: Int32, output: String) {
        try Host.run(["ip", "netns", "exec", self[short], "sh", "-c", line])
    }

    /// Polls `condition` for up to 15 s (links, SLAAC and the agent act asynchronously); throws if it never holds.
    func waitFor(_ what: String, _ condition: () throws -> Bool) throws {
        for _ in 0..<150 {
            if try condition() { return }
            usleep(100_000)
        }
        throw ShellError(command: "wait for \(what)", status: -1, output: "timed out after 15 s")
    }

    func remove() {
        for s in ["a", "b"] where FileManager.default.fileExists(atPath: configPath) { _ = try? isthmus("down", site: s) }
        _ = try? runner.down()
        for s in ["a", "b"] { unlink("/run/isthmus/sites/lab-\(s)-\(self["gw\(s)"]).log") }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A command in a namespace that ends by itself (`timeout -s KILL`), output in a file; `stop` kills it by pid.
private final class LANJob {
    let process = Process()
    let log: String

    init(_ ns: String, _ command: [String], seconds: Int) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("isth-homelan-\(getpid())-\(UUID().uuidString).log").path
        let fd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ShellError(command: "create \(log)", status: errno, output: "") }
        let out = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", ns, "timeout", "-s", "KILL", "\(seconds)"] + command
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = out
        try process.run()
        try out.close()
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    func waitFor(_ text: String) -> Bool {
        for _ in 0..<50 where !output.contains(text) && process.isRunning { usleep(100_000) }
        return output.contains(text)
    }

    /// SIGKILL to the command `timeout` runs (the test runner's children may have SIGTERM blocked), then reaped.
    func stop() {
        if process.isRunning {
            let pid = process.processIdentifier
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ pid_t($0) }) { kill(child, SIGKILL) }
        }
        process.waitUntilExit()
        unlink(log)
    }
}

/// The LAN side in Python (standard library only): a router advertisement with a SLAAC prefix and a default route,
/// a DHCP server that offers one lease, and a DHCP client that takes it.
private struct LANHelper {
    let path: String

    init(dir: String) throws {
        path = "\(dir)/lan.py"
        try Self.source.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func command(_ args: String...) -> [String] { ["/usr/bin/python3", "-u", path] + args }

    @discardableResult
    func run(_ ns: String, _ args: String...) throws -> String {
        let argv = ["ip", "netns", "exec", ns, "timeout", "-s", "KILL", "10", "/usr/bin/python3", "-u", path] + args
        let r = try Host.run(argv)
        if r.status != 0 { throw ShellError(command: argv.joined(separator: " "), status: r.status, output: r.output) }
        return r.output
    }

    static let source = #"""
        import socket, struct, sys, time

        def ra(dev, prefix):
            # Router lifetime 1800 s (a default route) and a prefix information option (on-link, autonomous: SLAAC).
            idx = socket.if_nametoindex(dev)
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
            head = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
            pio = struct.pack("!BBBBIII", 3, 4, 64, 0xc0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, prefix)
            s.sendto(head + pio, ("ff02::1", 0, 0, idx))

        def options(data):
            out, i = {}, 240
            while i < len(data) and data[i] != 255:
                if data[i] == 0:
                    i += 1
                    continue
                out[data[i]] = data[i + 2:i + 2 + data[i + 1]]
                i += 2 + data[i + 1]
            return out

        def packet(op, xid, chaddr, yiaddr, opts):
            p = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, 0x8000, bytes(4), socket.inet_aton(yiaddr), bytes(4), bytes(4))
            p += chaddr.ljust(16, b"\0") + bytes(192) + bytes.fromhex("63825363")
            for k, v in opts:
                p += bytes([k, len(v)]) + v
            return p + b"\xff"

        def udp(dev, port):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
            s.bind(("0.0.0.0", port))
            return s

        def dhcpd(dev, lease):
            s = udp(dev, 67)
            me = [l.split()[3].split("/")[0] for l in __import__("os").popen("ip -o -4 addr show dev " + dev) if " inet " in l][0]
            print("ready", flush=True)
            while True:
                data = s.recv(2048)
                if len(data) < 240 or data[0] != 1:
                    continue
                kind = options(data).get(53, b"\0")[0]
                reply = {1: 2, 3: 5}.get(kind)
                if reply is None:
                    continue
                xid, chaddr = struct.unpack("!I", data[4:8])[0], data[28:34]
                opts = [(53, bytes([reply])), (54, socket.inet_aton(me)), (51, struct.pack("!I", 600)),
                        (1, socket.inet_aton("255.255.255.0")), (3, socket.inet_aton(me))]
                s.sendto(packet(2, xid, chaddr, lease, opts), ("255.255.255.255", 68))
                print("served", kind, flush=True)

        def dhclient(dev):
            s = udp(dev, 68)
            s.settimeout(3)
            xid = int(time.time() * 1000) & 0xffffffff
            mac = bytes.fromhex(open("/sys/class/net/%s/address" % dev).read().strip().replace(":", ""))
            def exchange(kind, extra, want):
                s.sendto(packet(1, xid, mac, "0.0.0.0", [(53, bytes([kind]))] + extra), ("255.255.255.255", 67))
                while True:
                    data = s.recv(2048)
                    o = options(data)
                    if len(data) >= 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid and o.get(53) == bytes([want]):
                        return socket.inet_ntoa(data[16:20]), o[54]
            offered, server = exchange(1, [], 2)
            leased, server = exchange(3, [(50, socket.inet_aton(offered)), (54, server)], 5)
            print("ack", leased, "from", socket.inet_ntoa(server))

        globals()[sys.argv[1]](*sys.argv[2:])
        """#
}
