import Foundation
import IPCommand
import Netlink
import Sites

/// Runs a lab's checks against its running namespaces. Traffic tools (ping, socat, tcpdump, iperf3, python3) run
/// inside a node's namespace through `nsenter --net`; every one has a hard time limit.
public struct LabChecks {
    public struct Result {
        public var check: LabConfig.Check
        public var passed: Bool
        public var detail: String
    }

    public let lab: LabConfig
    public init(lab: LabConfig) { self.lab = lab }

    public func run(only: Set<Int>? = nil) -> [Result] {
        lab.checks.enumerated().filter { only?.contains($0.offset + 1) ?? true }.map { run($0.element) }
    }

    public func run(_ c: LabConfig.Check) -> Result {
        do {
            let (ok, detail) = try evaluate(c)
            return Result(check: c, passed: ok, detail: detail)
        } catch {
            return Result(check: c, passed: false, detail: "\(error)")
        }
    }

    // MARK: - running things in a node

    struct Output { var status: Int32; var text: String }

    /// ARGS inside NODE's namespace (`nsenter --net`), killed after `timeout` seconds; not started yet.
    func process(_ node: String, _ args: [String], timeout: Int) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["nsenter", "--net=\(NetworkNamespace.directory)/\(lab.namespace(node))", "--",
                       "timeout", "-s", "KILL", "\(timeout)"] + args
        p.standardInput = FileHandle.nullDevice
        return p
    }

    /// Runs ARGS inside NODE's namespace, killed after `timeout` seconds.
    func exec(_ node: String, _ args: [String], timeout: Int = 30) throws -> Output {
        let p = process(node, args, timeout: timeout)
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, text: String(decoding: data, as: UTF8.self))
    }

    /// Starts ARGS in the background inside NODE; returns the process. Its output goes to `file` (a scratch file,
    /// see `scratch`), or nowhere when `file` is nil.
    func spawn(_ node: String, _ args: [String], timeout: Int, output file: String?) throws -> Process {
        let p = process(node, args, timeout: timeout)
        let h = try file.map { try scratchHandle($0) } ?? FileHandle.nullDevice
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return p
    }

    /// The lab's directory for the checks' scratch files, /run/isthmus/labs/LAB.d: Isthmus's own (`down` removes it).
    var scratchDirectory: String { "\(LabRunner.stateDirectory)/\(lab.name).d" }

    func scratch(_ name: String) -> String {
        try? OwnedFiles.makeDirectory(scratchDirectory)
        return "\(scratchDirectory)/\(name)"
    }

    /// A scratch file opened for writing, created empty (or emptied) in place; only paths in `scratchDirectory`.
    func scratchHandle(_ path: String) throws -> FileHandle {
        guard OwnedFiles.isInside(path, scratchDirectory) else { throw LabError("\(path): not a scratch file of lab \(lab.name)") }
        return FileHandle(fileDescriptor: try OwnedFiles.openForWriting(path, create: true, truncate: true, mode: 0o600),
                          closeOnDealloc: true)
    }

    /// The node whose addresses (configured, or made by its commands) include `address`.
    func owner(of address: String) throws -> String {
        for n in lab.nodes {
            if n.addresses.contains(where: { $0.prefix.split(separator: "/").first.map(String.init) == address }) { return n.name }
            if n.commands.contains(where: { $0.contains(" \(address)/") && $0.hasPrefix("a") }) { return n.name }
        }
        // Ask the kernel: addresses made by a site or added by hand.
        for n in lab.nodes {
            let out = try exec(n.name, ["ip", "-o", "addr", "show"], timeout: 5)
            if out.text.contains(" \(address)/") { return n.name }
        }
        throw LabError("no node has the address \(address)")
    }

    /// The first link end (or macvlan) of a node: where its broadcasts go out.
    func firstInterface(_ node: String) -> String {
        for l in lab.links {
            if l.a.node == node { return l.a.interface }
            if l.b.node == node { return l.b.interface }
        }
        return lab.macvlans.first { $0.node == node }?.name ?? "eth0"
    }

    func ping(_ c: LabConfig.Check, size: Int?, count: Int, wait: Int = 2) throws -> (received: Int, text: String) {
        var args = ["ping", "-n", "-c", "\(count)", "-W", "\(wait)", "-i", "0.2"]
        if c.df { args += ["-M", "do"] }
        if let size { args += ["-s", "\(size)"] }
        let out = try exec(c.from, args + [c.to], timeout: count * (wait + 1) + 5)
        let received = out.text.split(separator: "\n").first { $0.contains("packets transmitted") }
            .flatMap { line in line.split(separator: ",").first { $0.contains("received") } }
            .flatMap { Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) } ?? 0
        return (received, out.text)
    }

    // MARK: - the checks

    func evaluate(_ c: LabConfig.Check) throws -> (Bool, String) {
        switch c.kind {
        case .ping:
            let r = try ping(c, size: c.size, count: c.count)
            return (r.received > 0, "\(r.received)/\(c.count) replies" + (r.received == 0 ? ": " + lastLines(r.text) : ""))
        case .noPing:
            let r = try ping(c, size: c.size, count: c.count, wait: 1)
            return (r.received == 0, r.received == 0 ? "no reply, as required" : "\(r.received) repl\(r.received == 1 ? "y" : "ies"): it is reachable")
        case .neighbour:
            _ = try ping(c, size: nil, count: 1)
            let out = try exec(c.from, ["ip", "neigh", "show", c.to], timeout: 5)
            let line = out.text.split(separator: "\n").first { $0.contains("lladdr") }
            return (line != nil, line.map { "neighbour entry: \($0)" } ?? "no link-layer address for \(c.to): \(out.text.isEmpty ? "no entry" : out.text)")
        case .tcp:
            let server = try owner(of: c.to)
            let rx = scratch("tcp-rx-\(UUID().uuidString)"), tx = scratch("tcp-tx-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(atPath: rx); try? FileManager.default.removeItem(atPath: tx) }
            var bytes = [UInt8](repeating: 0, count: c.bytes)
            var g = SystemRandomNumberGenerator()
            for i in 0..<bytes.count { bytes[i] = UInt8.random(in: 0...255, using: &g) }
            try OwnedFiles.replace(tx, with: bytes, mode: 0o600, within: scratchDirectory)
            let listener = try spawn(server, ["socat", "-u", "TCP-LISTEN:\(c.port),reuseaddr", "CREATE:\(rx)"], timeout: 30, output: rx + ".log")
            defer { try? FileManager.default.removeItem(atPath: rx + ".log") }
            for _ in 0..<50 {
                if try exec(server, ["ss", "-ltnH", "sport = :\(c.port)"], timeout: 5).text.contains(":\(c.port)") { break }
                usleep(100_000)
            }
            let target = c.to.contains(":") ? "[\(c.to)]" : c.to
            let send = try exec(c.from, ["socat", "-u", "OPEN:\(tx)", "TCP:\(target):\(c.port),connect-timeout=5"], timeout: 30)
            listener.waitUntilExit()
            let got = FileManager.default.contents(atPath: rx) ?? Data()
            if send.status != 0 { return (false, "connect/send failed: \(lastLines(send.text))") }
            return (got == Data(bytes), got == Data(bytes) ? "\(c.bytes) bytes arrived intact on \(server)" : "received \(got.count) of \(c.bytes) bytes" + (got.count == c.bytes ? " (corrupted)" : ""))
        case .throughput:
            let server = try owner(of: c.to)
            let log = scratch("iperf-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(atPath: log) }
            let s = try spawn(server, ["iperf3", "-s", "-1", "-p", "\(c.port)"], timeout: c.seconds + 20, output: log)
            for _ in 0..<50 {
                if try exec(server, ["ss", "-ltnH", "sport = :\(c.port)"], timeout: 5).text.contains(":\(c.port)") { break }
                usleep(100_000)
            }
            let out = try exec(c.from, ["iperf3", "-c", c.to, "-p", "\(c.port)", "-t", "\(c.seconds)", "-J"], timeout: c.seconds + 15)
            s.waitUntilExit()
            guard let json = try? JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any],
                  let end = json["end"] as? [String: Any], let rcv = end["sum_received"] as? [String: Any],
                  let bps = rcv["bits_per_second"] as? Double else {
                return (false, "iperf3 gave no result: \(lastLines(out.text))")
            }
            let mbps = bps / 1e6
            return (mbps >= (c.minMbps ?? 0), String(format: "%.0f Mbit/s (floor %.0f)", mbps, c.minMbps ?? 0))
        case .mtu:
            var c2 = c
            c2.df = true
            // A size passes when two pings in a row cross: the first packet above a tunnel's path MTU may still get
            // through (fragmented outside) while it teaches the sender the smaller PMTU that stops the next one.
            func passes(_ size: Int) throws -> Bool { try ping(c2, size: size, count: 2, wait: 1).received == 2 }
            var lo = 0, hi = 9000 - 28   // payload sizes: lo passes, hi fails
            guard try passes(lo) else { return (false, "not even a minimal ping crosses") }
            if try passes(hi) { lo = hi } else {
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    if try passes(mid) { lo = mid } else { hi = mid }
                }
            }
            let mtu = lo + 28
            return (mtu == c.expect, "largest DF packet that crosses: \(mtu) bytes (expected \(c.expect ?? 0))")
        case .noCross:
            return try noCross(c)
        case .mss:
            return try mss(c)
        }
    }

    /// Starts tcpdump in `node` (all interfaces) and waits until it listens; the caller waits for the process.
    func capture(_ node: String, _ filter: String, seconds: Int, into file: String) throws -> Process {
        let p = process(node, ["tcpdump", "-Z", "root", "--immediate-mode", "-l", "-nn", "-v", "-i", "any", filter], timeout: seconds)
        p.standardOutput = try scratchHandle(file)
        p.standardError = try scratchHandle(file + ".err")
        try p.run()
        for _ in 0..<50 {
            if (try? String(contentsOfFile: file + ".err", encoding: .utf8))?.contains("listening on") == true { break }
            usleep(100_000)
        }
        return p
    }

    /// Waits until `file` (a capture's output) satisfies `done`, or `within` seconds passed, then stops the capture.
    /// (`isthmus` unblocks SIGTERM at start, so the `timeout` wrapper passes the signal on to tcpdump.)
    func finish(_ p: Process, _ file: String, within: Double = 10, _ done: (String) -> Bool) {
        let deadline = Date().addingTimeInterval(within)
        while Date() < deadline {
            if done((try? String(contentsOfFile: file, encoding: .utf8)) ?? "") { break }
            usleep(50_000)
        }
        usleep(200_000)
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }

    /// A connection from `from` to `to`: the MSS its SYN carries when it arrives, and the SYN-ACK's back at `from`.
    func mss(_ c: LabConfig.Check) throws -> (Bool, String) {
        let server = try owner(of: c.to)
        let synFile = scratch("syn-\(UUID().uuidString)"), ackFile = scratch("synack-\(UUID().uuidString)")
        defer { for f in [synFile, ackFile] { try? FileManager.default.removeItem(atPath: f); try? FileManager.default.removeItem(atPath: f + ".err") } }
        let syn = try capture(server, "tcp port \(c.port) and tcp[tcpflags] == tcp-syn", seconds: 30, into: synFile)
        let ack = try capture(c.from, "tcp port \(c.port) and tcp[tcpflags] == (tcp-syn|tcp-ack)", seconds: 30, into: ackFile)
        let listener = try spawn(server, ["socat", "-u", "TCP-LISTEN:\(c.port),reuseaddr", "/dev/null"], timeout: 20, output: nil)
        for _ in 0..<50 {
            if try exec(server, ["ss", "-ltnH", "sport = :\(c.port)"], timeout: 5).text.contains(":\(c.port)") { break }
            usleep(100_000)
        }
        let target = c.to.contains(":") ? "[\(c.to)]" : c.to
        _ = try exec(c.from, ["sh", "-c", "echo mss | socat -u - TCP:\(target):\(c.port),connect-timeout=5"], timeout: 10)
        finish(syn, synFile) { $0.contains("mss ") }
        finish(ack, ackFile) { $0.contains("mss ") }
        listener.waitUntilExit()
        func mssValue(_ file: String) -> Int? {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            guard let r = text.range(of: "mss ") else { return nil }
            return Int(text[r.upperBound...].prefix { $0.isNumber })
        }
        let a = mssValue(synFile), b = mssValue(ackFile)
        let ok = a == c.expect && b == c.expect
        return (ok, "SYN at \(server): mss \(a.map(String.init) ?? "none seen"), SYN-ACK at \(c.from): mss \(b.map(String.init) ?? "none seen")")
    }

    /// `from` broadcasts the frame and a control; `to` (the node given as `at`) must see the control, not the frame.
    func noCross(_ c: LabConfig.Check) throws -> (Bool, String) {
        let dev = firstInterface(c.from)
        let frame = c.frame ?? "dhcp"
        let filter: String, seen: (String) -> Bool
        switch frame {
        case "dhcp": filter = "udp port 67 or udp port 68 or udp port 546 or udp port 547"
            seen = { $0.contains(".67:") || $0.contains(".68:") || $0.contains(".67 ") || $0.contains("BOOTP") || $0.contains("dhcp6") }
        case "ra": filter = "icmp6 and ip6[40] == 134"
            seen = { $0.contains("router advertisement") }
        default:
            let port = String(frame.dropFirst(4))
            filter = "udp port \(port)"
            seen = { $0.contains(".\(port):") || $0.contains(".\(port) ") }
        }
        let cap = scratch("cap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: cap); try? FileManager.default.removeItem(atPath: cap + ".err") }
        let p = try capture(c.to, "(\(filter)) or udp port 9999", seconds: 30, into: cap)
        let script = scratch("send-\(UUID().uuidString).py")
        defer { try? FileManager.default.removeItem(atPath: script) }
        try OwnedFiles.replace(script, with: Array(Self.senderScript(frame: frame, device: dev).utf8), within: scratchDirectory)
        let sent = try exec(c.from, ["python3", script], timeout: 10)
        // The control goes out last: once it is seen (or 5 s passed) everything sent before it had its chance.
        finish(p, cap, within: 5) { $0.contains(".9999") }
        usleep(300_000)
        let text = (try? String(contentsOfFile: cap, encoding: .utf8)) ?? ""
        guard sent.status == 0 else { return (false, "could not send from \(c.from): \(lastLines(sent.text))") }
        let lines = text.split(separator: "\n").map(String.init)
        let control = lines.contains { $0.contains(".9999") }
        let leaked = lines.filter { !$0.contains(".9999") && seen($0) }
        if !control { return (false, "inconclusive: the control broadcast from \(c.from) did not reach \(c.to) either") }
        return (leaked.isEmpty, leaked.isEmpty ? "not seen at \(c.to); the control broadcast was" : "seen at \(c.to): \(leaked.first!)")
    }

    static func senderScript(frame: String, device: String) -> String {
        var s = """
            import socket, struct
            dev = "\(device)"
            def bcast(sport, dport, payload):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
                s.bind(("0.0.0.0", sport))
                s.sendto(payload, ("255.255.255.255", dport))
                s.close()

            """
        switch frame {
        case "dhcp":
            s += """
                d = struct.pack("!BBBBIHH", 1, 1, 6, 0, 0x1234abcd, 0, 0x8000) + bytes(16) + bytes.fromhex("02aabbccddee") + bytes(202)
                bcast(68, 67, d + bytes.fromhex("63825363") + bytes([53, 1, 1, 255]))
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s6.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
                s6.bind(("::", 546))
                s6.sendto(bytes([1, 0x12, 0x34, 0x56]) + bytes([0, 8, 0, 2, 0, 0]), ("ff02::1:2", 547, 0, socket.if_nametoindex(dev)))

                """
        case "ra":
            s += """
                i6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
                i6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
                i6.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0), ("ff02::1", 0, 0, socket.if_nametoindex(dev)))

                """
        default:
            s += "bcast(0, \(frame.dropFirst(4)), b\"isthmus lab no-cross\")\n"
        }
        s += "bcast(0, 9999, b\"control\")\n"
        return s
    }

    func lastLines(_ s: String) -> String {
        s.split(separator: "\n").suffix(2).joined(separator: " / ")
    }

    // MARK: - output

    public static func table(_ results: [Result]) -> [String] {
        let w = max(30, results.map { $0.check.title.count }.max() ?? 0)
        var out = [" #  " + "check".padding(toLength: w, withPad: " ", startingAt: 0) + "  result  detail"]
        for (i, r) in results.enumerated() {
            out.append(String(format: "%2d  ", i + 1) + r.check.title.padding(toLength: w, withPad: " ", startingAt: 0)
                       + "  " + (r.passed ? "pass  " : "FAIL  ") + "  " + r.detail)
        }
        let failed = results.filter { !$0.passed }.count
        out.append(failed == 0 ? "all \(results.count) checks passed" : "\(failed) of \(results.count) checks FAILED")
        return out
    }

    public static func json(_ lab: LabConfig, _ results: [Result]) -> JSON {
        var o = JSONObject()
        o.set("lab", lab.name)
        o.set("passed", results.allSatisfy(\.passed))
        o.set("checks", JSON.array(results.enumerated().map { i, r in
            var j = JSONObject()
            j.set("index", i + 1); j.set("kind", r.check.kind.rawValue); j.set("title", r.check.title)
            j.set("passed", r.passed); j.set("detail", r.detail)
            j.set("line", r.check.position.line)
            return j.json
        }))
        return o.json
    }
}
