import CLinuxUAPI
import Foundation
import Netlink
import NetlinkWire
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `isthmus monitor` against `ip monitor`: both watch one namespace through the same changes; the text they print
/// must be the same byte for byte, and with -j isthmus prints one JSON object per event ip printed.
@Suite("monitor like ip monitor", .serialized, .enabled(if: Host.isRoot && Host.isthmusBinary != nil && Host.which("ip"),
                                                          "needs root, ip and the isthmus binary"))
struct MonitorCommandTests {
    /// A monitor process writing to a file of its own (read while it runs, to see when it has started listening).
    final class Monitor {
        let process = Process()
        let path: String
        let handle: FileHandle

        init(_ arguments: [String], name: String) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("isth-monitor-\(getpid())-\(name).out").path
            // O_EXCL: a path of this test's own, never an existing file.
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ShellError(command: "open \(path)", status: errno, output: String(cString: strerror(errno))) }
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var output: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        /// Stops the process: SIGINT first (isthmus unblocks it even when started with it blocked), SIGKILL when it
        /// is still running after that (ip keeps the blocked mask it inherits). Returns whether SIGINT ended it.
        @discardableResult
        func stop() -> Bool {
            guard process.isRunning else { return false }
            kill(process.processIdentifier, SIGINT)
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            let byInterrupt = !process.isRunning
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return byInterrupt && process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGINT
        }

        func remove() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            unlink(path)
        }
    }

    /// Waits until every monitor printed a line for which `line` holds (the sentinel rule), up to 10 s.
    static func waitFor(_ monitors: [Monitor], _ line: (Substring) -> Bool) -> Bool {
        for _ in 0..<200 {
            if monitors.allSatisfy({ $0.output.split(separator: "\n").contains(where: line) }) { return true }
            // A monitor that exited (refused its words) will print nothing more.
            if monitors.contains(where: { !$0.process.isRunning }) { return false }
            usleep(50_000)
        }
        return false
    }

    /// The changes both monitors watch: links, addresses, routes (main and another table), neighbours and rules, each
    /// made and removed again.
    static func changes(_ ns: String) throws {
        for c in [
            "link add mA type veth peer name mB", "link set mA up", "link set mB up",
            "address add 10.77.0.1/24 dev mA", "address add fd77::1/64 dev mA nodad",
            "route add 10.78.0.0/16 via 10.77.0.2", "route add 10.79.0.0/16 dev mA table 100",
            "neigh add 10.77.0.5 lladdr 02:00:00:00:00:05 dev mA", "neigh change 10.77.0.5 lladdr 02:00:00:00:00:06 dev mA",
            "rule add from 10.1.0.0/16 table 100 pref 100", "-6 rule add to fd77::/64 lookup 5 pref 101",
            "rule add not fwmark 0x10/0xff iif mA blackhole pref 102",
            "rule del pref 100", "-6 rule del pref 101", "rule del pref 102",
            "neigh del 10.77.0.5 dev mA", "route del 10.78.0.0/16", "route del 10.79.0.0/16 dev mA table 100",
            "address del 10.77.0.1/24 dev mA", "link set mB down", "link del mA",
        ] {
            try Host.sh("ip -n \(ns) \(c)")
        }
    }

    /// Starts `ip monitor` (text) and `isthmus [-j] monitor` in `ns`, makes the changes between two sentinel rules,
    /// stops both and returns what each printed between the sentinels, and whether SIGINT stopped isthmus.
    static func watch(_ ns: String, objects: [String], json: Bool, globals: [String] = []) throws -> (ip: String, isthmus: String, interrupted: Bool) {
        let tag = "\(json)\(globals.joined())"
        let ip = try Monitor(["ip", "-n", ns] + globals + ["monitor"] + objects, name: "ip-\(tag)")
        defer { ip.remove() }
        let us = try Monitor([Host.isthmusBinary!, "-n", ns] + globals + (json ? ["-j"] : []) + ["monitor"] + objects, name: "isthmus-\(tag)")
        defer { us.remove() }
        let startText = "7:\tfrom all lookup 7", endText = "8:\tfrom all lookup 8"
        let startJSON = #"{"priority":7,"src":"all","table":"7"}"#, endJSON = #"{"priority":8,"src":"all","table":"8"}"#
        func isStart(_ l: Substring) -> Bool { l.hasSuffix(startText) && !l.contains("Deleted") || l == startJSON }
        func isEnd(_ l: Substring) -> Bool { l.hasSuffix(endText) && !l.contains("Deleted") || l == endJSON }
        // Both are listening once both printed the start sentinel; until then it is added and removed again.
        var started = false
        for _ in 0..<10 where !started && ip.process.isRunning && us.process.isRunning {
            try Host.sh("ip -n \(ns) rule add pref 7 table 7")
            started = waitFor([ip, us], isStart)
            if !started { try Host.sh("ip -n \(ns) rule del pref 7") }
        }
        #expect(started, "the monitors never printed the start sentinel\nip:\n\(ip.output)\nisthmus:\n\(us.output)")
        try changes(ns)
        try Host.sh("ip -n \(ns) rule add pref 8 table 8")
        #expect(waitFor([ip, us], isEnd), "the monitors never printed the end sentinel")
        try Host.sh("ip -n \(ns) rule del pref 7; ip -n \(ns) rule del pref 8")
        let interrupted = us.stop()
        // ip is left to remove()'s SIGKILL: it keeps the blocked SIGINT/SIGTERM a test runner may start it with.
        /// The lines after the last start sentinel, up to the end sentinel.
        func between(_ text: String) -> String {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard let s = lines.lastIndex(where: isStart) else { return "" }
            let rest = lines[(s + 1)...]
            let e = rest.firstIndex(where: isEnd) ?? rest.endIndex
            return rest[..<e].joined(separator: "\n")
        }
        return (between(ip.output), between(us.output), interrupted)
    }

    @Test("NetlinkSocket.join(group:) delivers the group's notifications; a group the kernel lacks is an error")
    func joinGroup() throws {
        let spaces = Namespaces("monjoin")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        let socket = try NetlinkSocket(protocol: NETLINK_ROUTE, netns: ns)
        // A receive that waits at most 10 s: a missing notification fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try socket.join(group: RTNLGRP_IPV4_RULE.rawValue)
        try Host.sh("ip -n \(ns) rule add pref 77 table 77")
        let m = try #require(try socket.receive().first)
        #expect(Int(m.type) == RTM_NEWRULE)
        let r = try RuleMessage(m)
        #expect(r.attribute(FRA_PRIORITY)?.u32 == 77 && r.table == 77)
        #expect(throws: SystemError.self) { try socket.join(group: 100_000) }
    }

    @Test("text: the same bytes as ip monitor, with and without [LINK] banners; SIGINT stops it")
    func text() throws {
        let spaces = Namespaces("monitor")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        // No router solicitations or DAD: fewer events that only arrive later.
        try Host.sh("ip netns exec \(ns) sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.dad_transmits=0")
        for objects in [["link", "address", "route", "neigh", "rule"], ["label", "link", "address", "route", "neigh", "rule"]] {
            let r = try Self.watch(ns, objects: objects, json: false)
            #expect(!r.ip.isEmpty && r.ip.contains("Deleted 100:\tfrom 10.1.0.0/16 lookup 100"), "ip printed:\n\(r.ip)")
            #expect(r.isthmus == r.ip, "monitor \(objects)\nip:\n\(r.ip)\nisthmus:\n\(r.isthmus)")
            #expect(r.interrupted, "isthmus monitor did not end on SIGINT")
        }
    }

    @Test("-t and -ts: ip's timestamps, in its layout, before each event", arguments: ["-t", "-ts"])
    func timestamps(_ flag: String) throws {
        let spaces = Namespaces("monts")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        try Host.sh("ip netns exec \(ns) sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.dad_transmits=0")
        let r = try Self.watch(ns, objects: ["link", "address", "rule"], json: false, globals: [flag])
        // The times differ between the two processes; their layout and place must not.
        let pattern = flag == "-t" ? #"Timestamp: [A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4} [0-9]{1,6} usec"#
                                   : #"\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\] "#
        func masked(_ s: String) -> String { s.replacingOccurrences(of: pattern, with: "<TIME>", options: .regularExpression) }
        #expect(masked(r.ip).contains("<TIME>") && !masked(r.ip).contains(flag == "-t" ? "Timestamp:" : "] "), "ip printed:\n\(r.ip)")
        #expect(masked(r.isthmus) == masked(r.ip), "monitor \(flag)\nip:\n\(r.ip)\nisthmus:\n\(r.isthmus)")
    }

    @Test("-j: one JSON object per event ip printed, deleted where ip says Deleted")
    func json() throws {
        let spaces = Namespaces("monitorj")
        defer { spaces.removeAll() }
        let ns = try spaces.make("a")
        try Host.sh("ip netns exec \(ns) sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.dad_transmits=0")
        let r = try Self.watch(ns, objects: ["link", "address", "route", "neigh", "rule"], json: true)
        // An event of ip's text begins with a line that is not indented (the rest: link/ether, valid_lft, nexthop).
        let events = r.ip.split(separator: "\n").filter { !($0.first?.isWhitespace ?? true) }
        let objects = try r.isthmus.split(separator: "\n").map { line -> [String: Any] in
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(o != nil, "not a JSON object: \(line)")
            return o ?? [:]
        }
        #expect(events.count > 20 && objects.count == events.count, "ip printed \(events.count) events, isthmus \(objects.count)\nip:\n\(r.ip)\nisthmus:\n\(r.isthmus)")
        for (e, o) in zip(events, objects) {
            #expect(e.hasPrefix("Deleted ") == (o["deleted"] as? Bool == true), "\(e) vs \(o)")
        }
        let rule = objects.first { $0["priority"] as? Int == 102 }
        #expect(rule?["not"] is NSNull && rule?["fwmark"] as? String == "0x10" && rule?["fwmask"] as? String == "0xff"
                && rule?["iif"] as? String == "mA" && rule?["action"] as? String == "blackhole", "\(String(describing: rule))")
    }
}
