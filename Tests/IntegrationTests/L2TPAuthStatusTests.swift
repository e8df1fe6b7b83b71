import Foundation
import L2TPAgent
import L2TPProtocol
import L2TPWire
import Netlink
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Two `isthmus l2tp run` agents (L2TPv3, control only) in namespaces A and B joined by a veth:
///
///     A 10.66.1.1 ──veth── 10.66.1.2 B (listens)
///
/// Issue 14, point 4: secrets that differ are said on both sides and leave nothing on the responder; a flood of
/// forged SCCRQs is counted and leaves its tables, file descriptors and memory flat. Point 5: `l2tp show -j` is
/// true within a second of the event, and an agent stopped by SIGTERM leaves no status behind.
@Suite("L2TPv3 agents: secret mismatch, forged SCCRQs, status of the moment",
       .serialized,
       .enabled(if: Host.isRoot, Comment(rawValue: Host.notRootReason)),
       .enabled(if: Host.isthmusBinary != nil, "needs the isthmus binary (swift build)"),
       .timeLimit(.minutes(5)))
struct L2TPAuthStatusTests {
    /// The two namespaces and a directory for the agents' files.
    struct Bed {
        let namespaces: Namespaces
        let a: String, b: String
        let directory: String

        init(_ test: String) throws {
            namespaces = Namespaces(test)
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("isth-\(test)-\(getpid())").path
            do {
                a = try namespaces.make("a"); b = try namespaces.make("b")
                try Host.sh("""
                    ip link add \(test)a netns \(a) type veth peer name \(test)b netns \(b) &&
                    ip -n \(a) addr add 10.66.1.1/24 dev \(test)a && ip -n \(b) addr add 10.66.1.2/24 dev \(test)b &&
                    ip -n \(a) link set dev \(test)a up && ip -n \(b) link set dev \(test)b up
                    """)
            } catch { namespaces.removeAll(); throw error }
        }

        func remove() {
            namespaces.removeAll()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// When lines containing each needle first appeared in an agent's log (watched every 10 ms on a thread of its
    /// own, so the times do not depend on how long anything else in the test takes).
    /// When the agent logged its first line containing `needle`: the line's own timestamp (the agents write UTC with
    /// milliseconds, `2026-12-07T06:22:44.324Z info ...`), so no watcher thread races the check.
    static func loggedAt(_ agent: L2TPAgentProcess, _ needle: String) -> Date? {
        guard let line = agent.log.split(separator: "\n").first(where: { $0.contains(needle) }),
              let stamp = line.split(separator: " ").first else { return nil }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: String(stamp))
    }

    /// `isthmus l2tp show --status PATH -j`, as a user runs it: the one agent's object.
    static func show(_ agent: L2TPAgentProcess) -> [String: Any]? {
        guard let r = try? Host.run([Host.isthmusBinary!, "l2tp", "show", "--status", agent.statusPath, "-j"]), r.status == 0,
              let list = try? JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [[String: Any]] else { return nil }
        return list.first
    }

    static func tunnels(_ o: [String: Any]?) -> [[String: Any]] { (o?["tunnels"] as? [[String: Any]]) ?? [] }
    static func dropped(_ o: [String: Any]?, _ reason: String) -> Int { (o?["dropped"] as? [String: Int])?[reason] ?? 0 }

    static func responder(secret: String) -> String {
        "[l2tp]\nversion = 3\nhost_name = \"b\"\nlisten = \"10.66.1.2\"\nsecret = \"\(secret)\"\ndata_plane = \"none\"\n"
            + "\n[[l2tp.pseudowire]]\nname = \"office\"\ninterface = \"pwoffice\"\n"
    }

    static func initiator(secret: String, retransmit: String = "{ initial = 1, max = 8, count = 5 }") -> String {
        "[l2tp]\nversion = 3\nhost_name = \"a\"\nsecret = \"\(secret)\"\ndata_plane = \"none\"\nretransmit = \(retransmit)\n"
            + "\n[[l2tp.tunnel]]\nname = \"to-b\"\npeer = \"10.66.1.2\"\nlocal = \"10.66.1.1\"\nredial_max = 2\n"
            + "\n[[l2tp.pseudowire]]\nname = \"office\"\ninterface = \"pwoffice\"\ntunnel = \"to-b\"\n"
    }

    static func procStatus(_ pid: Int, _ key: String) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return s.split(separator: "\n").first { $0.hasPrefix(key + ":") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }

    static func openFDs(_ pid: Int) -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }

    @Test("secrets differ: B names the digest failure and A at once, A names the secret when it gives up, B keeps nothing; 10,000 forged SCCRQs leave B flat")
    func secretMismatchAndForgedFlood() throws {
        let bed = try Bed("l2auth")
        defer { bed.remove() }
        let b = try L2TPAgentProcess(netns: bed.b, name: "b", toml: Self.responder(secret: "one"), directory: bed.directory)
        defer { b.kill9() }
        try #require(b.waitForLog("listening on 10.66.1.2:1701", timeout: 10), "\(b.log)")
        // A retransmits after 2 s: B must have said why before that.
        let a = try L2TPAgentProcess(netns: bed.a, name: "a",
                                     toml: Self.initiator(secret: "two", retransmit: "{ initial = 2, max = 2, count = 2 }"),
                                     directory: bed.directory)
        defer { a.kill9() }

        #expect(b.waitForLog("Message Digest does not verify", timeout: 10), "B:\n\(b.log)")
        let sent = try #require(Self.loggedAt(a, "SCCRQ to 10.66.1.2:1701"), "A:\n\(a.log)")
        let said = try #require(Self.loggedAt(b, "Message Digest does not verify"), "B:\n\(b.log)")
        #expect(said.timeIntervalSince(sent) < 2, "B said it \(said.timeIntervalSince(sent)) s after A's SCCRQ (A retransmits after 2 s)")
        let line = b.log.split(separator: "\n").first { $0.contains("Message Digest does not verify") } ?? ""
        #expect(line.contains("10.66.1.1") && line.contains("the shared secrets differ or the message was altered"), "\(line)")

        // While A retransmits and redials, B holds no tunnel for it, ever.
        var looks = 0
        let until = Date().addingTimeInterval(8)
        while Date() < until {
            let o = Self.show(b)
            #expect(o != nil, "l2tp show found no agent B")
            #expect(Self.tunnels(o).isEmpty, "B holds \(Self.tunnels(o))")
            looks += 1
            usleep(200_000)
        }
        #expect(a.waitForLog("shared secrets probably differ", timeout: 20), "A:\n\(a.log)")
        let giveUp = a.log.split(separator: "\n").first { $0.contains("down: peer unreachable") } ?? ""
        #expect(giveUp.contains("peer unreachable (2 retransmissions unacknowledged); a secret is configured: if the peer is up, the shared secrets probably differ"),
                "\(giveUp)")
        let o = Self.show(b)
        #expect(Self.tunnels(o).isEmpty && Self.dropped(o, "bad_digest") >= 3, "after \(looks) looks: \(o ?? [:])")
        #expect(b.log.components(separatedBy: "Message Digest does not verify").count - 1 <= 3, "B:\n\(b.log)")

        // A stops (its SCCRQs would count too); SIGTERM leaves no status file or socket.
        #expect(a.stop() == 0, "A:\n\(a.log)")
        #expect(!FileManager.default.fileExists(atPath: a.statusPath), "A's status file is left after SIGTERM")
        #expect(!FileManager.default.fileExists(atPath: L2TPAgentConfig.statusSocketPath(forStatus: a.statusPath)))

        // 10,000 forged SCCRQs with random digests from one address, in batches that B's socket buffer holds
        // (each waits until B counted the last), so that every one is counted.
        let before = try #require(L2TPDaemon.liveStatus(statusPath: b.statusPath), "B answers no status query")
        let pid = try #require(before["pid"] as? Int)
        let droppedBefore = Self.dropped(before, "bad_digest")
        let fdsBefore = Self.openFDs(pid), rssBefore = Self.procStatus(pid, "VmRSS") ?? 0
        let logLinesBefore = b.log.split(separator: "\n").count
        let fd = try NetworkNamespace.with(bed.a) { socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        try #require(fd >= 0)
        defer { close(fd) }
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = UInt16(1701).bigEndian
        to.sin_addr.s_addr = inet_addr("10.66.1.2")
        var rng = SeededRandom(seed: 14)
        let total = 10_000, batch = 100
        var counted = droppedBefore
        for start in stride(from: 0, to: total, by: batch) {
            for i in start..<start + batch {
                var c = ControlConnection.Configuration(version: .v3, localID: UInt32(i + 1), hostName: "forger")
                c.secret = (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                var forger = ControlConnection(c, role: .initiator, random: SeededRandom(seed: UInt64(i)))
                for case .send(let bytes) in forger.start(now: 0) {
                    _ = withUnsafePointer(to: &to) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                }
            }
            let deadline = Date().addingTimeInterval(10)
            repeat {
                counted = Self.dropped(L2TPDaemon.liveStatus(statusPath: b.statusPath), "bad_digest")
                if counted >= droppedBefore + start + batch { break }
                usleep(2_000)
            } while Date() < deadline
            try #require(counted == droppedBefore + start + batch, "B counted \(counted - droppedBefore) of \(start + batch)")
        }
        let after = L2TPDaemon.liveStatus(statusPath: b.statusPath)
        #expect(Self.dropped(after, "bad_digest") == droppedBefore + total)
        #expect(Self.tunnels(after).isEmpty, "\(Self.tunnels(after).count) tunnels after the flood")
        #expect(Self.openFDs(pid) == fdsBefore, "B's open files: \(fdsBefore) before, \(Self.openFDs(pid)) after")
        let rssAfter = Self.procStatus(pid, "VmRSS") ?? 0
        #expect(rssAfter - rssBefore < 8 * 1024, "B's resident memory grew by \(rssAfter - rssBefore) kB")
        let newLines = b.log.split(separator: "\n").dropFirst(logLinesBefore)
        #expect(newLines.count <= 3, "\(newLines.count) log lines for \(total) forged SCCRQs:\n\(newLines.prefix(10).joined(separator: "\n"))")
        print("forged SCCRQs: \(total) counted; B's RSS \(rssBefore) → \(rssAfter) kB, fds \(fdsBefore); log lines: \(newLines.count)")
        #expect(b.stop() == 0, "B:\n\(b.log)")
        #expect(!FileManager.default.fileExists(atPath: b.statusPath), "B's status file is left after SIGTERM")
    }

    @Test("l2tp show -j lists the established pseudowire within 1 s of its ICCN on both sides; SIGTERM removes the status")
    func showIsTrueWithinASecond() throws {
        let bed = try Bed("l2show")
        defer { bed.remove() }
        let b = try L2TPAgentProcess(netns: bed.b, name: "b", toml: Self.responder(secret: "same"), directory: bed.directory)
        defer { b.kill9() }
        try #require(b.waitForLog("listening on 10.66.1.2:1701", timeout: 10), "\(b.log)")
        let up = "session office up"
        let a = try L2TPAgentProcess(netns: bed.a, name: "a", toml: Self.initiator(secret: "same"), directory: bed.directory)
        defer { a.kill9() }

        // Poll show for both, noting when each invocation that first lists the session started.
        func established(_ o: [String: Any]?) -> Bool {
            Self.tunnels(o).contains { t in ((t["sessions"] as? [[String: Any]]) ?? []).contains { $0["state"] as? String == "established" } }
        }
        var shown: [String: Date] = [:]
        let end = Date().addingTimeInterval(30)
        while Date() < end && shown.count < 2 {
            for (name, agent) in [("a", a), ("b", b)] where shown[name] == nil {
                let started = Date()
                if established(Self.show(agent)) { shown[name] = started }
            }
        }
        for (name, agent) in [("a", a), ("b", b)] {
            let event = try #require(Self.loggedAt(agent, up), "\(name) logged no \"\(up)\":\n\(agent.log)")
            let seen = try #require(shown[name], "\(name): show never listed the session")
            // A show that started before the event cannot list it: the session is listed by the first show started
            // after it, within a second.
            #expect(seen.timeIntervalSince(event) <= 1, "\(name): show listed the session \(seen.timeIntervalSince(event)) s after it came up")
            print("\(name): show listed the established session \(String(format: "%.3f", seen.timeIntervalSince(event))) s after the log said so")
        }
        // The text for people: the agent's line, then a tunnel table and a session table, columns aligned, state
        // words and the tunnel's age.
        let text = try Host.run([Host.isthmusBinary!, "l2tp", "show", "--status", a.statusPath])
        print(text.output)
        let lines = text.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(text.status == 0 && lines.first?.hasPrefix("agent a: L2TPv3, data plane none") == true, "\(text.output)")
        let tunnelHeader = try #require(lines.firstIndex { $0.hasPrefix("TUNNEL ") }, "\(text.output)")
        let tunnelRow = lines[tunnelHeader + 1].split(separator: " ").map(String.init)
        #expect(tunnelRow.starts(with: ["to-b", "established", "initiator"]) && tunnelRow.contains("10.66.1.2:1701") && tunnelRow.contains("b"),
                "\(text.output)")
        let upColumn = lines[tunnelHeader].range(of: "UP ")!.lowerBound.utf16Offset(in: lines[tunnelHeader])
        let age = lines[tunnelHeader + 1].dropFirst(upColumn).prefix { $0 != " " }
        #expect(age.last == "s" && Int(age.dropLast()) != nil, "the tunnel's age under UP: \(age)\n\(text.output)")
        let sessionHeader = try #require(lines.firstIndex { $0.hasPrefix("SESSION ") }, "\(text.output)")
        let sessionRow = lines[sessionHeader + 1].split(separator: " ").map(String.init)
        #expect(sessionRow.starts(with: ["office", "to-b", "established"]), "\(text.output)")
        let stateColumn = lines[sessionHeader].range(of: "STATE")!.lowerBound.utf16Offset(in: lines[sessionHeader])
        #expect(lines[sessionHeader + 1].dropFirst(stateColumn).hasPrefix("established"), "aligned under STATE:\n\(text.output)")

        for agent in [a, b] {
            #expect(agent.stop() == 0, "\(agent.log)")
            #expect(!FileManager.default.fileExists(atPath: agent.statusPath), "\(agent.statusPath) is left after SIGTERM")
            #expect(!FileManager.default.fileExists(atPath: L2TPAgentConfig.statusSocketPath(forStatus: agent.statusPath)))
            #expect(Self.show(agent) == nil)
        }
    }
}
