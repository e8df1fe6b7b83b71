import Foundation
import L2TPProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The resilience acceptance test with real processes: two `isthmus l2tp run` agents in namespaces A and B that can
/// only reach each other through a lossy relay in a third namespace R (`Tools/relay/lossy-udp-relay.py`: 20% of the
/// control messages dropped, 10% duplicated, 20% held back 50–300 ms, both ways). The tunnel and 100 sessions still
/// come up on both sides; then B is killed without a StopCCN and A notices within the HELLO bound its configuration
/// gives (`ControlConnection.Configuration.deadPeerTimeout`: the HELLO interval plus every back-off of the HELLO).
///
///     A 10.6x.0.1 ──veth── 10.6x.0.2 [relay in R] 10.6y.0.2 ──veth── 10.6y.0.1 B
///
/// A only ever talks to the relay's A-side address and B only sees the relay's B-side address (the relay re-sources
/// every datagram), so no routes are needed. L2TPv3 (100 pseudowires, HMAC-SHA-1 digests, control only) and L2TPv2
/// (100 incoming calls, challenges both ways) run in parallel, each in its own namespaces and subnets.
@Suite("L2TP over a lossy relay: 100 sessions, dead peer detected by HELLO",
       .enabled(if: Host.isRoot, Comment(rawValue: Host.notRootReason)),
       .enabled(if: Host.isthmusBinary != nil, "needs the isthmus binary (swift build)"),
       .enabled(if: Host.which("python3"), "needs python3 for Tools/relay/lossy-udp-relay.py"),
       .timeLimit(.minutes(10)))
struct L2TPResilienceTests {
    static let sessions = 100
    /// Small enough for a quick test, generous enough for 20% loss: a message is given up only after 11 transmissions.
    static let hello = 2.0, initialTimeout = 0.25, maxTimeout = 1.0, retransmits = 10

    /// The agent's own rule for how long a dead peer can go unnoticed (11.75 s with the values above).
    static var deadPeerTimeout: Double {
        var c = ControlConnection.Configuration(version: .v3, localID: 1, hostName: "x")
        c.helloInterval = hello
        c.reliability.initialTimeout = initialTimeout
        c.reliability.maxTimeout = maxTimeout
        c.reliability.maxRetransmits = retransmits
        return c.deadPeerTimeout
    }

    static func common(version: Int) -> String {
        var t = "[l2tp]\nversion = \(version)\nsecret = \"s3cret\"\nhello = \(hello)\n"
        t += "retransmit = { initial = \(initialTimeout), max = \(maxTimeout), count = \(retransmits) }\n"
        if version == 3 { t += "digest = \"sha1\"\ndata_plane = \"none\"\n" }
        return t
    }

    /// B: listens, accepts the pseudowires by name (v3) or any call (v2).
    static func responder(version: Int, listen: String) -> String {
        var t = common(version: version) + "host_name = \"b\"\nlisten = [\"\(listen)\"]\n"
        if version == 3 {
            for i in 0..<sessions { t += "\n[[l2tp.pseudowire]]\nname = \"pw\(i)\"\ninterface = \"pw\(i)\"\n" }
        }
        return t
    }

    /// A: one tunnel to the relay (no redial: the dead peer must leave no tunnel behind), 100 sessions over it.
    static func initiator(version: Int, relay: String, local: String) -> String {
        var t = common(version: version) + "host_name = \"a\"\n"
        t += "\n[[l2tp.tunnel]]\nname = \"via-relay\"\npeer = \"\(relay)\"\nlocal = \"\(local)\"\nredial = false\n"
        for i in 0..<sessions {
            t += version == 3 ? "\n[[l2tp.pseudowire]]\nname = \"pw\(i)\"\ninterface = \"pw\(i)\"\ntunnel = \"via-relay\"\n"
                              : "\n[[l2tp.call]]\ntunnel = \"via-relay\"\nnumber = \"\(i)\"\n"
        }
        return t
    }

    @Test("20% loss, 10% duplicates, 20% reordering: 1 tunnel and 100 sessions on both sides; kill -9 noticed in time",
          arguments: [3, 2])
    func lossyRelay(version: Int) throws {
        // v3 on 10.61/10.62, v2 on 10.63/10.64: the two cases run at once.
        let aNet = version == 3 ? "10.61.0" : "10.63.0", bNet = version == 3 ? "10.62.0" : "10.64.0"
        let bed = try RelayBed("rs\(version)", aNet: aNet, bNet: bNet)
        defer { bed.remove() }
        let relay = try LossyRelay(netns: bed.r, listen: "\(aNet).2:1701", source: "\(bNet).2:1701", forward: "\(bNet).1:1701",
                                   drop: 20, dup: 10, reorder: 20, seed: UInt64(version), directory: bed.directory)
        defer { relay.stop() }
        let b = try L2TPAgentProcess(netns: bed.b, name: "b", toml: Self.responder(version: version, listen: "\(bNet).1"),
                                     directory: bed.directory)
        defer { b.kill9() }
        #expect(b.waitForLog("listening on \(bNet).1:1701", timeout: 5), "\(b.log)")
        let started = Date()
        let a = try L2TPAgentProcess(netns: bed.a, name: "a",
                                     toml: Self.initiator(version: version, relay: "\(aNet).2", local: "\(aNet).1"),
                                     directory: bed.directory)
        defer { a.kill9() }

        // Everything comes up on both sides despite the relay.
        let both = a.wait(timeout: 60) { a in a.up == (1, Self.sessions) && b.up == (1, Self.sessions) }
        let setup = Date().timeIntervalSince(started)
        try #require(both, "after \(setup) s: A \(a.up), B \(b.up)\nrelay: \(relay.stats ?? [:])\nA:\n\(a.log.suffix(3000))\nB:\n\(b.log.suffix(3000))")
        print("L2TPv\(version): tunnel and \(Self.sessions) sessions up on both sides after \(String(format: "%.1f", setup)) s")
        #expect(a.tunnels.count == 1 && b.tunnels.count == 1)
        #expect(Set(a.sessions.compactMap { $0["peer_id"] as? Int }) == Set(b.sessions.compactMap { $0["local_id"] as? Int }))
        if version == 3 {
            #expect(Set(a.sessions.compactMap { $0["name"] as? String }) == Set((0..<Self.sessions).map { "pw\($0)" }))
            #expect(Set(b.sessions.compactMap { $0["name"] as? String }) == Set((0..<Self.sessions).map { "pw\($0)" }))
        }
        // The loss was real: both agents retransmitted, and the relay dropped, duplicated and reordered both ways.
        let aRetransmits = a.tunnels.first?["retransmits"] as? Int ?? 0, bRetransmits = b.tunnels.first?["retransmits"] as? Int ?? 0
        #expect(aRetransmits > 0 && bRetransmits > 0, "retransmits: A \(aRetransmits), B \(bRetransmits)")
        let stats = try #require(relay.waitForStats(newerThan: Date()), "no relay stats")
        for direction in ["a_to_b", "b_to_a"] {
            let c = LossyRelay.counters(stats, direction)
            #expect(c["dropped", default: 0] > 0 && c["duplicated", default: 0] > 0 && c["reordered", default: 0] > 0
                        && c["forwarded", default: 0] > 0, "\(direction): \(c)")
        }
        print("L2TPv\(version): retransmits A \(aRetransmits) B \(bRetransmits); relay \(LossyRelay.summary(stats))")
        #expect(!a.log.contains("peer unreachable") && !b.log.contains("peer unreachable"), "\(a.log)\n\(b.log)")

        // B dies without a StopCCN: A's HELLO goes unanswered through every retransmission.
        b.kill9()
        let killed = Date()
        let bound = Self.deadPeerTimeout
        let noticed = a.waitForLog("down: peer unreachable (\(Self.retransmits) retransmissions unacknowledged)", timeout: bound + 5)
        let detection = Date().timeIntervalSince(killed)
        #expect(noticed, "A did not notice the dead peer within \(bound + 5) s:\n\(a.log.suffix(3000))")
        #expect(detection <= bound + 2, "noticed after \(detection) s; the bound is \(bound) s (+ 2 s slack)")
        print("L2TPv\(version): dead peer noticed after \(String(format: "%.2f", detection)) s (bound \(bound) s)")
        // The tunnel and its sessions are gone from A's status (no redial).
        #expect(a.wait(timeout: 2) { $0.tunnels.isEmpty && $0.sessions.isEmpty }, "\(a.status ?? [:])")
        #expect(a.log.components(separatedBy: "peer unreachable").count - 1 >= Self.sessions, "every session cleared:\n\(a.log.suffix(2000))")
        #expect(a.stop() == 0, "\(a.log.suffix(2000))")
        let final = try #require(relay.stop(), "the relay printed no counters")
        print("L2TPv\(version): relay at exit \(LossyRelay.summary(final))")
    }
}

/// Three namespaces A — R — B joined by two veths; a directory for the agents' and the relay's files.
struct RelayBed {
    let namespaces: Namespaces
    let a: String, r: String, b: String
    let directory: String

    init(_ test: String, aNet: String, bNet: String) throws {
        namespaces = Namespaces(test)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("isth-relay-\(getpid())-\(test)").path
        do {
            a = try namespaces.make("a"); r = try namespaces.make("r"); b = try namespaces.make("b")
            try Host.sh("""
                ip link add \(test)a netns \(a) type veth peer name \(test)ra netns \(r) &&
                ip link add \(test)b netns \(b) type veth peer name \(test)rb netns \(r) &&
                ip -n \(a) addr add \(aNet).1/24 dev \(test)a && ip -n \(r) addr add \(aNet).2/24 dev \(test)ra &&
                ip -n \(b) addr add \(bNet).1/24 dev \(test)b && ip -n \(r) addr add \(bNet).2/24 dev \(test)rb &&
                ip -n \(a) link set dev \(test)a up && ip -n \(r) link set dev \(test)ra up &&
                ip -n \(r) link set dev \(test)rb up && ip -n \(b) link set dev \(test)b up
                """)
        } catch { namespaces.removeAll(); throw error }
    }

    func remove() {
        namespaces.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// `Tools/relay/lossy-udp-relay.py --control-only` in a namespace, its counters read from its stats file while it
/// runs and from its stdout when it is stopped (SIGTERM, by pid).
final class LossyRelay {
    let process = Process()
    let statsPath: String
    let outPath: String

    init(netns: String, listen: String, source: String, forward: String, drop: Double, dup: Double, reorder: Double,
         seed: UInt64, directory: String) throws {
        let script = Host.repoRoot.appendingPathComponent("Tools/relay/lossy-udp-relay.py").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        statsPath = "\(directory)/relay.stats.json"
        outPath = "\(directory)/relay.out"
        try? FileManager.default.removeItem(atPath: statsPath)
        FileManager.default.createFile(atPath: outPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", netns, "python3", script, "--listen", listen, "--source", source,
                             "--forward", forward, "--drop", "\(drop)", "--dup", "\(dup)", "--reorder", "\(reorder)",
                             "--seed", "\(seed)", "--control-only", "--stats", statsPath, "--stats-interval", "0.2"]
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? out.close()
        // Bound and relaying once the first stats are written.
        for _ in 0..<100 where stats == nil && process.isRunning { usleep(50_000) }
        guard stats != nil else {
            stop()
            throw ShellError(command: process.arguments!.joined(separator: " "), status: process.terminationStatus, output: output)
        }
    }

    var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    var stats: [String: Any]? {
        guard let d = FileManager.default.contents(atPath: statsPath) else { return nil }
        return try? JSONSerialization.jsonObject(with: d) as? [String: Any]
    }

    /// Stats written after `date` (the file is rewritten every 0.2 s).
    func waitForStats(newerThan date: Date) -> [String: Any]? {
        for _ in 0..<40 {
            if let m = (try? FileManager.default.attributesOfItem(atPath: statsPath))?[.modificationDate] as? Date, m > date {
                return stats
            }
            usleep(50_000)
        }
        return stats
    }

    static func counters(_ stats: [String: Any], _ direction: String) -> [String: Int] {
        ((stats["counters"] as? [String: Any])?[direction] as? [String: Int]) ?? [:]
    }

    static func summary(_ stats: [String: Any]) -> String {
        ["a_to_b", "b_to_a"].map { d in
            let c = counters(stats, d)
            return "\(d): " + ["received", "forwarded", "dropped", "duplicated", "reordered"].map { "\($0) \(c[$0] ?? 0)" }
                .joined(separator: ", ")
        }.joined(separator: "; ")
    }

    /// SIGTERM (the relay prints its counters and exits), SIGKILL after 5 s. The counters it printed.
    @discardableResult
    func stop() -> [String: Any]? {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let end = Date().addingTimeInterval(5)
            while process.isRunning && Date() < end { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        guard let last = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}
