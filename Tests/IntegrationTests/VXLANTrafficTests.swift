import Foundation
import Testing

/// Issue acceptance: the VXLAN-through-a-router scenario built only with isthmus passes ping and a TCP transfer.
/// The scenario script is the same one the README's demo runs.
@Suite("VXLAN through a router, built with isthmus", .enabled(if: Host.isRoot, "needs root"))
struct VXLANTrafficTests {
    @Test("ping and TCP across the overlay")
    func traffic() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built (swift build first)"); return }
        guard Host.which("iperf3") else { Issue.record("iperf3 missing: run Tools/setup"); return }
        let script = Host.repoRoot.appendingPathComponent("Tools/scenarios/vxlan-through-router.sh").path
        let prefix = "isth-vxt-\(getpid())"
        let r = try Host.run([script, bin, prefix])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("PASS"))
        // The script removes what it made, even on failure.
        let left = try Host.sh("ip netns list")
        #expect(!left.contains(prefix))
    }
}
