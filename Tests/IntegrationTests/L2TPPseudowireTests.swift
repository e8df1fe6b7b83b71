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
    func kernel() throws {
        Self.verdict(try runInVM("modprobe -a l2tp_eth l2tp_netlink veth && ISTHMUS=\(Host.isthmusBinary!) Tools/scenarios/l2tp-pseudowire.sh kernel",
                                 timeout: 300))
    }
}
