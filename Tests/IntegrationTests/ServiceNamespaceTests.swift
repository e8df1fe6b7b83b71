import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `service install` run inside `ip netns exec NS` writes a unit whose agent enters NS (`-n NS`), not the host's
/// namespace. (Refusing a namespace with no name under /run/netns needs pid 1's namespace to compare with, which this
/// sandboxed host does not let root read; that path is not exercised here.)
@Suite("service install inside a namespace", .serialized, .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct ServiceNamespaceTests {
    @Test("ip netns exec NS isthmus service install: the unit runs the agent with -n NS; from the host, without")
    func enclosingNamespace() throws {
        let bin = Host.isthmusBinary!
        let lab = try TwoSites("svcns")
        defer { lab.remove() }
        try lab.writeConfig(tunnel: "vxlan")
        let units = "\(lab.dir)/units"
        let gwa = lab["gwa"]
        let install = ["service", "install", "--config", lab.configPath, "--site", "a", "--unit-dir", units, "--no-enable"]
        let r = try Host.run(["ip", "netns", "exec", gwa, bin] + install)
        #expect(r.status == 0, "\(r.output)")
        let unit = try String(contentsOfFile: "\(units)/isthmus-lab.service", encoding: .utf8)
        #expect(unit.contains(" -n \(gwa) up --foreground --config \(lab.configPath) --site a"), "\(unit)")
        // Run from the host's namespace, the unit stays there.
        let host = try Host.run([bin] + install)
        #expect(host.status == 0, "\(host.output)")
        #expect(!(try String(contentsOfFile: "\(units)/isthmus-lab.service", encoding: .utf8)).contains(" -n "))
    }
}
