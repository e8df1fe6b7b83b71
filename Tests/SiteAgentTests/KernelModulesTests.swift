import LinkValues
@testable import SiteAgent
import Sites
import Testing

/// `dataplane = "auto"` asks the planned link's value which kernel modules it needs (a kind's knowledge, in its
/// LinkValues file): for IPv4 underlays the modules Site's own per-kind table listed before, for IPv6 the modules
/// of the IPv6 kinds the planner makes.
@Suite("Kernel modules of the planned tunnel")
struct KernelModulesTests {
    static func text(_ seg: [String], v6: Bool) -> String {
        let a = v6 ? ["2001:db8::1", "2001:db8::7"] : ["192.0.2.1", "198.51.100.7"]
        let l3 = seg.contains("tunnel = \"gre\"") || seg.contains("tunnel = \"ipip\"")
        let east = l3 ? "networks = [\"10.1.0.0/16\"]" : "lan = [\"eth1\"]", west = l3 ? "networks = [\"10.2.0.0/16\"]" : "lan = [\"eth1\"]"
        return (["[segment]", "name = \"lab\""] + seg + ["", "[sites.east]", "address = \"\(a[0])\"", east]
            + ["", "[sites.west]", "address = \"\(a[1])\"", west]).joined(separator: "\n") + "\n"
    }

    static func modules(_ seg: [String], v6: Bool = false) throws -> [String] {
        let c: SegmentConfig
        switch SiteConfig.load(text: text(seg, v6: v6), file: "seg.toml") {
        case .success(let s): c = s
        case .failure(let e): Issue.record("\(e)"); throw e
        }
        let link = try #require(try DesiredState(side: try c.side(for: "east"), dataplane: .kernel).tunnel.link)
        return link.value.kernelModules
    }

    @Test("IPv4: the modules the per-kind table listed")
    func ipv4() throws {
        #expect(try Self.modules(["tunnel = \"vxlan\"", "vni = 42"]) == ["vxlan"])
        #expect(try Self.modules(["tunnel = \"l2tpv3\""]) == ["l2tp_eth"])
        #expect(try Self.modules(["tunnel = \"l2tpv3\"", "encap = \"ip\""]) == ["l2tp_eth", "l2tp_ip"])
        #expect(try Self.modules(["tunnel = \"l2tpv3\"", "control = \"l2tpv3\"", "secret = \"k\""]) == ["l2tp_eth"])
        #expect(try Self.modules(["tunnel = \"gretap\""]) == ["ip_gre"])
        #expect(try Self.modules(["tunnel = \"gre\""]) == ["ip_gre"])
        #expect(try Self.modules(["tunnel = \"gre-in-udp\""]) == ["ip_gre", "fou"])
        #expect(try Self.modules(["tunnel = \"ipip\""]) == ["ipip"])
    }

    @Test("IPv6 underlays: the IPv6 kinds' modules")
    func ipv6() throws {
        #expect(try Self.modules(["tunnel = \"vxlan\"", "vni = 42"], v6: true) == ["vxlan"])
        #expect(try Self.modules(["tunnel = \"gretap\""], v6: true) == ["ip6_gre"])
        #expect(try Self.modules(["tunnel = \"ipip\""], v6: true) == ["ip6_tunnel"])
        #expect(try Self.modules(["tunnel = \"l2tpv3\"", "encap = \"ip\""], v6: true) == ["l2tp_eth", "l2tp_ip6"])
    }

    @Test("auto without a planned kernel link, or for gre-in-udp, takes the userspace data plane; kernel and userspace are as asked")
    func resolve() {
        #expect(Site.resolve(.auto, kind: .vxlan, link: nil, netns: nil).0 == .userspace)
        #expect(Site.resolve(.auto, kind: .greInUDP, link: .gre(GRELink(variant: .gretap)), netns: nil).0 == .userspace)
        #expect(Site.resolve(.kernel, kind: .vxlan, link: nil, netns: nil).0 == .kernel)
        #expect(Site.resolve(.userspace, kind: .vxlan, link: .vxlan(VXLANLink(vni: 1)), netns: nil).0 == .userspace)
    }
}
