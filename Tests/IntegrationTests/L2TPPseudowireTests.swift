import Foundation
import Testing

/// Isthmus ↔ Isthmus over the L2TPv3 control protocol with authentication (HMAC-SHA-1 Message Digests, nonces),
/// carrying Ethernet on both data planes: `Tools/scenarios/l2tp-pseudowire.sh` — two `isthmus l2tp run` agents in
/// two namespaces, a pseudowire with 8-byte cookies, ping and TCP across it, tshark decoding every control and data
/// message the initiator sent with no warning (digests checked with the secret), the responder killed without
/// StopCCN noticed within the HELLO bound, redial, StopCCN on SIGTERM, nothing left. The userspace data plane runs on
/// this host; the kernel's (L2TP_ATTR_FD handing over the tunnel socket, l2tp_eth) inside Debian's 6.1 kernel.
@Suite("L2TPv3 pseudowires between two Isthmus agents", .serialized,
       .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct L2TPPseudowireTests {
    static func verdict(_ r: (status: Int32, output: String), sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 0, "\(r.output)", sourceLocation: sourceLocation)
        #expect(r.output.contains("every check passed"), "\(r.output)", sourceLocation: sourceLocation)
        #expect(!r.output.contains("FAIL"), "\(r.output)", sourceLocation: sourceLocation)
    }

    @Test("userspace data plane (this host)")
    func userspace() throws {
        let script = Host.repoRoot.appendingPathComponent("Tools/scenarios/l2tp-pseudowire.sh").path
        Self.verdict(try Host.run(["env", "ISTHMUS=\(Host.isthmusBinary!)", script, "userspace"]))
    }

    @Test("kernel data plane (QEMU guest)", .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func kernel() async throws {
        Self.verdict(try await Self.kernelGuest.value.section("pseudowire"))
    }

    /// One guest boot for two kernel scenarios, each in a section of its own (`=== NAME` ... `=== rc N`): this
    /// suite's pseudowire, then a registry's point-to-point fleets on the kernel (`Tools/scenarios/fleet-p2p.sh`,
    /// `FleetPairKernelTests`) — the CI suite is near its time budget, and this guest was short and off its critical
    /// path (the serialized PPP suite). A task, so that the tests waiting for it hold no thread; it runs once however
    /// many of the two tests are selected. The fleet scenario loads its own modules (after the pseudowire ran as
    /// before, with only its own).
    static let kernelGuest = Task<KernelGuest, any Error> {
        let bin = Host.isthmusBinary!
        let t0 = Date()
        let r = try await runInVM("""
            modprobe -a l2tp_eth l2tp_netlink veth
            echo '=== pseudowire'; ISTHMUS=\(bin) Tools/scenarios/l2tp-pseudowire.sh kernel; echo "=== rc $?"
            echo '=== fleet-p2p'; ISTHMUS=\(bin) Tools/scenarios/fleet-p2p.sh; echo "=== rc $?"
            """, timeout: 900)
        let guest = KernelGuest(status: r.status, output: r.output, sections: scriptSections(r.output))
        // What the fleet's part adds to the boot (its own measure, in the guest).
        let fleet = guest.sections["fleet-p2p"]?.text.split(separator: "\n").first { $0.hasPrefix("== fleet-p2p took ") } ?? "fleet-p2p: no time"
        print("L2TPPseudowireTests.kernelGuest: one VM run, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s (\(fleet.dropFirst(3)))")
        return guest
    }

    struct KernelGuest: Sendable {
        var status: Int32
        var output: String
        var sections: [String: ScriptSection]
        /// A scenario's run as `verdict` reads it: its status (-1 when it never finished: the guest timed out or
        /// died; then the whole output) and its output.
        func section(_ name: String) -> (status: Int32, output: String) {
            guard let s = sections[name], let rc = s.status else { return (-1, "section \(name) did not finish (guest status \(status)):\n\(output)") }
            return (rc, s.text)
        }
    }

    /// A site segment with `control = "l2tpv3"` and a secret: `Tools/scenarios/two-sites.sh` (the two-site lab with its
    /// checks, `up` idempotent, rollback of injected failures, `down` leaving nothing) with the agent as the tunnel.
    static let segmentLines = ["control = \"l2tpv3\"", "secret = \"a segment secret\""]

    @Test("site segment with control = \"l2tpv3\": userspace data plane (this host)")
    func siteUserspace() throws {
        let script = Host.repoRoot.appendingPathComponent("Tools/scenarios/two-sites.sh").path
        let r = try Host.run(["env", "ISTHMUS=\(Host.isthmusBinary!)", script, "l2tpv3", "userspace", "1178"] + Self.segmentLines)
        #expect(r.status == 0 && r.output.contains("every check passed") && !r.output.contains("FAIL"), "\(r.output)")
        #expect(Self.row(r.output, startingWith: ["-", "control", "established"]), "\(r.output)")
    }

    /// Whether a line of `status`'s tables (indented by the scenario) starts with these words.
    static func row(_ output: String, startingWith words: [String]) -> Bool {
        output.split(separator: "\n").contains { $0.split(separator: " ").map(String.init).starts(with: words) }
    }

    @Test("site segment with control = \"l2tpv3\": kernel data plane (QEMU guest)",
          .enabled(if: VM.vmAvailable, Comment(rawValue: VM.unavailableComment)))
    func siteKernel() async throws {
        let words = (["l2tpv3", "kernel", "1178"] + Self.segmentLines).map { "'" + $0 + "'" }.joined(separator: " ")
        let r = try await runInVM("modprobe -a l2tp_eth l2tp_netlink veth bridge && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/two-sites.sh \(words)",
                            timeout: 420)
        #expect(r.status == 0 && r.output.contains("every check passed") && !r.output.contains("FAIL"), "\(r.output)")
        #expect(Self.row(r.output, startingWith: ["isth-lab", "tunnel", "up", "1500"]) && r.output.contains(" l2tpeth; rx "), "\(r.output)")
        #expect(Self.row(r.output, startingWith: ["-", "control", "established"]), "\(r.output)")
    }
}

/// A registry's point-to-point segments on the kernel's data plane, which this host's kernel lacks (no GRE, no L2TP):
/// `Tools/scenarios/fleet-p2p.sh` inside Debian's 6.1 kernel, in the guest `L2TPPseudowireTests.kernelGuest` boots
/// for its pseudowire too. One etcd member and four sites, each a gateway running `isthmus up --foreground`: a mesh
/// over kernel gretap (a device per peer, isolated bridge ports) and a hub over kernel L2TPv3/IP with cookies (a
/// tunnel and session per spoke on the hub); every host pings every other with 1472-byte DF pings, `status` healthy,
/// a site that moves followed by every peer in one apply (kernel L2TP tunnels replaced), SIGKILL gone within the
/// lease, `down` and SIGTERM leaving no tunnel (no `ip l2tp` tunnel).
@Suite("Fleets of point-to-point kinds on the kernel data plane (QEMU guest)",
       .enabled(if: VM.vmAvailable && EtcdCluster.available && Host.isthmusBinary != nil,
                Comment(rawValue: VM.unavailableComment + "; and " + EtcdCluster.unavailableReason)))
struct FleetPairKernelTests {
    @Test("gretap mesh and L2TPv3/IP hub of 4 sites on one etcd: kernel tunnels per peer, pings, move, SIGKILL, down")
    func fleetPointToPointKernel() async throws {
        let r = try await L2TPPseudowireTests.kernelGuest.value.section("fleet-p2p")
        L2TPPseudowireTests.verdict(r)
        #expect(r.output.contains("ok   hub: every agent replaced its kernel tunnels without a failure"), "\(r.output)")
    }
}
