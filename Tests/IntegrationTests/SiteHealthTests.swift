import Foundation
import Testing

/// `isthmus status` as something to alert on (issue 15.3): its exit status says healthy (0), down (4), drifted (5) or
/// a peer not answering (6); `plan` and `up` warn when the config's address is not this host's or its underlay MTU
/// is above the path's.
@Suite("Sites: health you can alert on", .serialized, .enabled(if: Host.isRoot, "\(Host.notRootReason)"))
struct SiteHealthTests {
    @Test("status exits 0 healthy, 5 drifted, 6 peer unreachable, 4 down; peers' liveness shown")
    func exitStatus() throws {
        let lab = try TwoSites("health")
        defer { lab.remove() }
        try lab.writeConfig(tunnel: "vxlan")
        for s in ["a", "b"] { try lab.must("up", site: s) }

        let healthy = try lab.isthmus("status", site: "a")
        #expect(healthy.status == 0, "\(healthy.output)")
        print(healthy.output)
        #expect(Self.row(healthy.output, "b").starts(with: ["b", "10.0.2.2", "reachable", "echo"]) && healthy.output.contains("health: healthy"), "\(healthy.output)")
        // The device table: one aligned row per device, state words.
        #expect(Self.row(healthy.output, "isth-lab").starts(with: ["isth-lab", "tunnel", "up", "1500", "vxlan;", "rx"]), "\(healthy.output)")
        #expect(Self.row(healthy.output, "lan") == ["lan", "LAN", "port", "up", "-", "port", "of", "br-lab"], "\(healthy.output)")
        #expect(Self.aligned(healthy.output, header: "DEVICE") && Self.aligned(healthy.output, header: "PEER"), "\(healthy.output)")
        let json = try lab.isthmus("status", site: "a", ["--json"])
        let o = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(o?["health"] as? String == "healthy" && o?["exit_status"] as? Int == 0, "\(json.output)")
        #expect((o?["peer_liveness"] as? [[String: Any]])?.first?["reachable"] as? Bool == true, "\(json.output)")

        // Drift: the tunnel's MTU changed by hand.
        try lab.exec("gwa", "ip link set isth-lab mtu 1000")
        let drifted = try lab.isthmus("status", site: "a")
        #expect(drifted.status == 5 && drifted.output.contains("health: drifted (exit status 5)"), "\(drifted.output)")
        try lab.must("up", site: "a")

        // The peer gone from the underlay: no echo reply.
        try lab.exec("gwb", "ip link set wan down")
        let lost = try lab.isthmus("status", site: "a")
        #expect(lost.status == 6 && Self.row(lost.output, "b") == ["b", "10.0.2.2", "UNREACHABLE", "no", "echo", "reply", "within", "1", "s"], "\(lost.output)")
        try lab.exec("gwb", "ip link set wan up")

        try lab.must("down", site: "a")
        let down = try lab.isthmus("status", site: "a")
        #expect(down.status == 4 && down.output.contains("health: down"), "\(down.output)")
    }

    /// The words of the first line whose first word is `first`.
    static func row(_ output: String, _ first: String) -> [String] {
        output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.first == first } ?? []
    }

    /// The table under the header line starting with `header`: every column of every row starts where the header's
    /// column starts (the rows up to the next empty line).
    static func aligned(_ output: String, header: String) -> Bool {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let h = lines.firstIndex(where: { $0.hasPrefix(header + " ") }) else { return false }
        func starts(_ l: String) -> [Int] {
            var out: [Int] = [], prev: Character = " "
            for (i, ch) in l.enumerated() { if ch != " " && prev == " " { out.append(i) }; prev = ch }
            return out
        }
        let columns = starts(lines[h])
        let rows = lines[(h + 1)...].prefix { !$0.isEmpty }
        return !rows.isEmpty && rows.allSatisfy { r in columns.dropLast().allSatisfy { c in c == 0 || Array(r)[c - 1] == " " && Array(r)[c] != " " } }
    }

    @Test("plan warns when the site's address is not on this host or underlay_mtu is above the path MTU")
    func hostWarnings() throws {
        let lab = try TwoSites("hostwarn")
        defer { lab.remove() }
        // Site b's link to the router has MTU 1280: an underlay of 1400 does not fit. Site a's address is wrong.
        let config = """
            [segment]
            name = "lab"
            tunnel = "vxlan"
            underlay_mtu = 1400

            [sites.a]
            address = "10.0.1.99"
            lan = ["lan"]

            [sites.b]
            address = "10.0.2.2"
            lan = ["lan"]

            """
        try config.write(toFile: lab.configPath, atomically: true, encoding: .utf8)
        let b = try lab.isthmus("plan", site: "b")
        #expect(b.output.contains("warning: underlay_mtu 1400 is above the path MTU 1280 to peer a (10.0.1.99) via wan")
                && b.output.contains("set underlay_mtu = 1280"), "\(b.output)")
        let a = try lab.isthmus("plan", site: "a")
        #expect(a.output.contains("warning: site a's address 10.0.1.99 is not on this host"), "\(a.output)")
        #expect(!a.output.contains("path MTU"), "\(a.output)")
    }
}
