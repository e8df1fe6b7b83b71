import Sites
import Testing

@Suite("MTU and MSS arithmetic")
struct MTUTests {
    @Test("overheads per encapsulation (IPv4 underlay)", arguments: [
        (TunnelOverhead(kind: .vxlan), 50),                                    // 20 + 8 + 8 + 14 (RFC 7348)
        (TunnelOverhead(kind: .l2tpv3UDP), 54),                                // 20 + 8 + 4 + 4 + 4 + 14 (RFC 3931 §4.1.2.1, RFC 4719)
        (TunnelOverhead(kind: .l2tpv3UDP, cookie: 8), 62),
        (TunnelOverhead(kind: .l2tpv3IP, cookie: 4), 46),                      // 20 + 4 + 4 + 4 + 14 (RFC 3931 §4.1.1.1)
        (TunnelOverhead(kind: .l2tpv3IP, l2specDefault: false), 38),
        (TunnelOverhead(kind: .gretap), 38),                                   // 20 + 4 + 14 (RFC 2784)
        (TunnelOverhead(kind: .gretap, greOptions: 1), 42),                    // + key (RFC 2890)
        (TunnelOverhead(kind: .greInUDP), 46),                                 // 20 + 8 + 4 + 14 (RFC 8086)
        (TunnelOverhead(kind: .gre, greOptions: 3), 36),
        (TunnelOverhead(kind: .ipip), 20),
        (TunnelOverhead(kind: .sit), 20),
        (TunnelOverhead(kind: .vxlan, ipv6Underlay: true), 70),
    ])
    func overheads(_ o: TunnelOverhead, _ expected: Int) {
        #expect(o.bytes == expected, "\(o.kind) \(o.parts)")
    }

    @Test("GRETAP with a key over a 1280-byte overlay: 1280 - 42 = 1238, MSS 1198, LAN frames need fragmentation")
    func gretapOverOverlay() {
        let p = MTUPlan(overhead: TunnelOverhead(kind: .gretap, greOptions: 1), underlayMTU: 1280)
        #expect(p.tunnelMTU == 1238)
        #expect(p.mssIPv4 == 1198)
        #expect(p.mssIPv6 == 1178)
        #expect(p.needsOuterFragmentation)
        #expect(p.problems.count == 1 && p.problems[0].contains("1280"), "below IPv6's minimum")
        #expect(p.explanation.contains("tunnel MTU 1280 - 42 = 1238"))
    }

    @Test("VXLAN on a 1550 underlay carries 1500-byte LAN packets unfragmented")
    func jumboUnderlay() {
        let p = MTUPlan(overhead: TunnelOverhead(kind: .vxlan), underlayMTU: 1550)
        #expect(p.tunnelMTU == 1500 && !p.needsOuterFragmentation && p.problems.isEmpty)
    }

    /// What `plan` prints for an L3 site (the explanation) agrees with what the site gets: no outer fragmentation by
    /// default, the families its networks are, and no IPv6 warning for an IPv4-only ipip segment.
    @Test("an L3 site's MTU explanation agrees with its plan", arguments: ["ipip", "gre"])
    func l3SiteAgrees(_ kind: String) throws {
        let text = """
            [segment]
            name = "lab"
            tunnel = "\(kind)"
            underlay_mtu = 1280
            [sites.a]
            address = "192.0.2.1"
            networks = ["10.1.0.0/16"]
            [sites.b]
            address = "192.0.2.2"
            networks = ["10.2.0.0/16"]
            """
        let c = try SiteConfig.load(text: text, file: "f.toml").get()
        let side = try c.side(for: "a")
        #expect(!side.outerFragmentation && side.tunnelMTU == side.mtuPlan.tunnelMTU)
        #expect(c.warnings.isEmpty, "an IPv4-only \(kind) segment has no use for IPv6's minimum: \(c.warnings)")
        let e = side.mtuPlan.explanation
        #expect(!e.contains { $0.contains("fragmented (DF off)") }, "\(e)")
        #expect(e.contains { $0.contains("the gateway answers larger packets with ICMP") }, "\(e)")
    }

    @Test("an underlay too small for the overhead is a problem, never a negative MSS")
    func impossible() {
        let p = MTUPlan(overhead: TunnelOverhead(kind: .l2tpv3UDP, cookie: 8, ipv6Underlay: true), underlayMTU: 120)
        #expect(p.tunnelMTU < 68 && p.mssIPv4 == 0 && p.mssIPv6 == 0)
        #expect(p.problems.first?.contains("cannot carry") == true)
    }
}

import DataplaneWire

@Suite("MTU arithmetic agrees with the data plane's encoder")
struct MTUAgreesWithDataplane {
    @Test("overhead = what the userspace engine adds", arguments: [false, true])
    func agree(_ v6: Bool) {
        let peer = [PeerAddress(bytes: [10, 0, 0, 1])!]
        let cases: [(TunnelOverhead, SessionConfig, Transport)] = [
            (TunnelOverhead(kind: .vxlan, ipv6Underlay: v6), SessionConfig(name: "t", encapsulation: .vxlan(vni: 1), ethernet: true, peers: peer),
             .udp(localPort: 4789, remotePort: 4789)),
            (TunnelOverhead(kind: .l2tpv3UDP, cookie: 8, ipv6Underlay: v6),
             SessionConfig(name: "t", encapsulation: .l2tpv3(L2TPv3Options(sessionID: 1, peerSessionID: 2, cookie: Array(repeating: 1, count: 8))), ethernet: true, peers: peer),
             .udp(localPort: 1701, remotePort: 1701)),
            (TunnelOverhead(kind: .l2tpv3IP, cookie: 4, l2specDefault: false, ipv6Underlay: v6),
             SessionConfig(name: "t", encapsulation: .l2tpv3(L2TPv3Options(sessionID: 1, peerSessionID: 2, cookie: [1, 2, 3, 4], defaultL2SpecificSublayer: false)), ethernet: true, peers: peer),
             .ip(protocolNumber: 115)),
            (TunnelOverhead(kind: .gretap, greOptions: 2, ipv6Underlay: v6),
             SessionConfig(name: "t", encapsulation: .gre(GREOptions(outKey: 5, outChecksum: true)), ethernet: true, peers: peer), .ip(protocolNumber: 47)),
            (TunnelOverhead(kind: .greInUDP, ipv6Underlay: v6),
             SessionConfig(name: "t", encapsulation: .gre(GREOptions()), ethernet: true, peers: peer), .udp(localPort: 4754, remotePort: 4754)),
            (TunnelOverhead(kind: .gre, greOptions: 1, ipv6Underlay: v6),
             SessionConfig(name: "t", encapsulation: .gre(GREOptions(outSequence: true)), ethernet: false, peers: peer), .ip(protocolNumber: 47)),
            (TunnelOverhead(kind: .ipip, ipv6Underlay: v6),
             SessionConfig(name: "t", encapsulation: .ipInIP(allowIPv4: true, allowIPv6: false), ethernet: false, peers: peer), .ip(protocolNumber: 4)),
        ]
        for (o, s, t) in cases {
            #expect(o.bytes == s.overhead(transport: t, ipv6: v6) + (s.ethernet ? 14 : 0), "\(o.kind)")
        }
    }
}
