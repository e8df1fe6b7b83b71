import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 6's acceptance: every example lab passes `isthmus lab run` (on this kernel, or inside the QEMU guest for those
/// that need l2tp_eth, ipip or bridge VLAN filtering), and a deliberately broken variant of each fails exactly the check
/// that should catch it; a lab killed half-way through `up` is removed completely by `down`; a bad lab file creates
/// nothing.
@Suite("Labs: the examples", .serialized, .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "\(Host.notRootReason)"))
struct LabExampleTests {
    static let examples = Host.repoRoot.appendingPathComponent("examples").path

    /// A lab file changed by one replacement (in the lab or in its segment config), and the check that must fail.
    struct Broken: Sendable, CustomTestStringConvertible {
        var example: String
        var file: String
        var replace: String
        var with: String
        var failing: String
        var testDescription: String { "\(example): \(replace) → \(with)" }
    }

    static let brokenHere: [Broken] = [
        Broken(example: "two-sites", file: "two-sites.segment.toml", replace: "dhcp = \"block\"", with: "dhcp = \"allow\"",
               failing: "site a's DHCP stays in site a"),
        Broken(example: "vxlan-router", file: "vxlan-router.toml", replace: "id 100 local 10.0.2.2", with: "id 101 local 10.0.2.2",
               failing: "overlay: h1 reaches h2 over VXLAN"),
        Broken(example: "nat-egress", file: "nat-egress.toml", replace: "nat = [\"wan\"]\n", with: "",
               failing: "h1 reaches the internet host (masqueraded)"),
        Broken(example: "macvlan-bridge", file: "macvlan-bridge.toml", replace: "node = \"h2\"\nname = \"mv0\"\nmode = \"bridge\"",
               with: "node = \"h2\"\nname = \"mv0\"\nmode = \"private\"", failing: "h1 reaches h2 through the macvlan bridge"),
    ]

    static let brokenInVM: [Broken] = [
        Broken(example: "l2tpv3-static", file: "l2tpv3-static.toml", replace: "session_id 21 peer_session_id 11",
               with: "session_id 21 peer_session_id 12", failing: "h1 reaches h2 across the pseudowire"),
        Broken(example: "vlan-isolation", file: "vlan-isolation.toml", replace: "p3 = { pvid = 200 }", with: "p3 = { pvid = 100 }",
               failing: "h1 (VLAN 100) cannot reach h3 (VLAN 200)"),
        Broken(example: "ipip", file: "ipip.toml", replace: "routes = [\"default via 10.3.1.1\"]\n", with: "",
               failing: "overlay ping h1 → h2"),
    ]

    /// The JSON check report in `lab run --json` output: title → passed.
    static func report(_ output: String) -> [String: Bool]? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("{") }),
              let j = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let checks = j["checks"] as? [[String: Any]] else { return nil }
        var out: [String: Bool] = [:]
        for c in checks { if let t = c["title"] as? String, let p = c["passed"] as? Bool { out[t] = p } }
        return out
    }

    /// Copies the example (and the segment configs beside it) into `dir` with the replacement made.
    static func writeBroken(_ b: Broken, into dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: examples) where f.hasSuffix(".toml") {
            var text = try String(contentsOfFile: "\(examples)/\(f)", encoding: .utf8)
            if f == b.file {
                #expect(text.contains(b.replace), "\(f) no longer contains \(b.replace)")
                text = text.replacingOccurrences(of: b.replace, with: b.with)
            }
            try text.write(toFile: "\(dir)/\(f)", atomically: true, encoding: .utf8)
        }
        return "\(dir)/\(b.example).toml"
    }

    /// `lab run` is the demo's command (Tools/demo runs `lab run examples/two-sites.toml`). Every check kind runs
    /// here — tcp and mss (whose listeners write to files and to /dev/null), no-cross, throughput, mtu — and
    /// afterwards /dev/null must still be the null device (issue 14: it used to be renamed over by a regular file).
    @Test("passes here, and leaves /dev/null the character device 1,3", arguments: ["two-sites", "vxlan-router", "nat-egress", "macvlan-bridge"])
    func passes(_ name: String) throws {
        DevNull.expectIntact(after: "something before lab run \(name)")
        defer { DevNull.expectIntact(after: "lab run \(name)") }
        let r = try Host.run([Host.isthmusBinary!, "lab", "run", "\(Self.examples)/\(name).toml", "--json"])
        let rep = try #require(Self.report(r.output), "\(r.output)")
        #expect(r.status == 0 && !rep.isEmpty && rep.values.allSatisfy { $0 }, "\(r.output)")
        #expect(r.output.contains("is down"), "\(r.output)")
    }

    @Test("a broken variant fails the check meant to catch it", arguments: brokenHere)
    func broken(_ b: Broken) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-lab-broken-\(getpid())-\(b.example)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try Self.writeBroken(b, into: dir)
        let r = try Host.run([Host.isthmusBinary!, "lab", "run", file, "--json"])
        let rep = try #require(Self.report(r.output), "\(r.output)")
        #expect(r.status == 1, "\(r.output)")
        #expect(rep[b.failing] == false, "\(b.failing) should fail:\n\(r.output)")
        #expect(rep.filter { !$0.value }.count >= 1)
    }

    @Test("inside the QEMU guest: the examples this kernel cannot run pass, their broken variants fail",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)), arguments: brokenInVM)
    func inVM(_ b: Broken) async throws {
        // Broken copies live under the repo (.vm-cache is git-ignored): the guest sees the host root read-only.
        let dir = VM.repoRoot.appendingPathComponent(".vm-cache/labs-\(getpid())-\(b.example)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try Self.writeBroken(b, into: dir)
        let bin = Host.isthmusBinary!
        let r = try await runInVM("""
            modprobe -a l2tp_eth l2tp_ip ipip veth bridge 8021q
            \(bin) lab run \(Self.examples)/\(b.example).toml --json; echo "exit=$?"
            \(bin) lab run \(file) --json; echo "exit=$?"
            """, timeout: 600)
        let parts = r.output.components(separatedBy: "exit=")
        #expect(parts.count == 3, "\(r.output)")
        guard parts.count == 3 else { return }
        let good = Self.report(parts[0]), bad = Self.report(parts[1])
        #expect(parts[1].hasPrefix("0") && good?.values.allSatisfy { $0 } == true && good?.isEmpty == false, "\(b.example):\n\(parts[0])")
        #expect(parts[2].hasPrefix("1") && bad?[b.failing] == false, "\(b.example) broken should fail \(b.failing):\n\(parts[1])")
    }

    @Test("up killed half-way, then down: no namespace, process or state left")
    func killedHalfWay() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Host.isthmusBinary!)
        p.arguments = ["lab", "up", "\(Self.examples)/two-sites.toml"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Kill it once the first site is up (a userspace tunnel process runs) and the second is being built.
        let state = "/run/isthmus/labs/two.json"
        var seen = ""
        for _ in 0..<300 {
            seen = (try? String(contentsOfFile: state, encoding: .utf8)) ?? ""
            if seen.contains("\"gwb\"") { break }
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(seen.contains("\"gwa\""), "the state never listed the first site: \(seen)")
        let nsBefore = try Host.sh("ip netns list")
        #expect(nsBefore.contains("two-gwa"), "\(nsBefore)")
        let down = try Host.run([Host.isthmusBinary!, "lab", "down", "\(Self.examples)/two-sites.toml"])
        #expect(down.status == 0, "\(down.output)")
        let nsAfter = try Host.sh("ip netns list")
        #expect(!nsAfter.split(separator: "\n").contains { $0.hasPrefix("two-") }, "\(nsAfter)")
        let procs = try Host.sh("ps -eo args")
        #expect(!procs.contains("-n two-gw"), "tunnel processes left:\n\(procs)")
        #expect(!FileManager.default.fileExists(atPath: state))
        let again = try Host.run([Host.isthmusBinary!, "lab", "down", "\(Self.examples)/two-sites.toml"])
        #expect(again.output.contains("nothing to remove"), "\(again.output)")
    }

    @Test("a bad lab file: FILE:LINE:COL errors, nothing created")
    func badFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-lab-bad-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/bad.toml"
        try """
            [lab]
            name = "badlab"

            [nodes.h1]
            addresses = { eth0 = ["10.0.0.1/24"] }

            [[links]]
            endpoints = ["h1:eth0", "h9:eth0"]

            [[checks]]
            kind = "pnig"
            from = "h1"
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Host.run([Host.isthmusBinary!, "lab", "up", file])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("\(file):8:25: endpoint \"h9:eth0\": no node \"h9\""), "\(r.output)")
        #expect(r.output.contains("\(file):11:8: `kind` must be one of"), "\(r.output)")
        #expect(r.output.contains("nothing was created"), "\(r.output)")
        #expect(!(try Host.sh("ip netns list")).contains("badlab-"))
        #expect(!FileManager.default.fileExists(atPath: "/run/isthmus/labs/badlab.json"))
    }
}
