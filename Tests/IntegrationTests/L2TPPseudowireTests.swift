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
        Self.verdict(try await runInVM("modprobe -a l2tp_eth l2tp_netlink veth && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-pseudowire.sh kernel",
                                 timeout: 300))
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
