import Sites
import Testing
import VICIWire

private func config(_ tunnel: String, _ seg: [String]) -> Result<SegmentConfig, ConfigErrors> {
    let text = (["[segment]", "name = \"lab\"", "tunnel = \"\(tunnel)\""] + seg
        + ["", "[sites.east]", "address = \"192.0.2.1\"", "lan = [\"eth1\"]", "", "[sites.west]", "address = \"198.51.100.7\"", "lan = [\"eth1\"]"])
        .joined(separator: "\n") + "\n"
    return SiteConfig.load(text: text, file: "seg.toml")
}

private func errors(_ r: Result<SegmentConfig, ConfigErrors>) -> [ConfigError] {
    if case .failure(let e) = r { return e.errors }
    return []
}

private let psk = "secret = \"0123456789abcdef0123\""

@Suite("IPsec: ESP in the MTU plan")
struct ESPMTUTests {
    /// RFC 4303 §2 applied directly: outer IP [+ UDP 8] + SPI 4 + sequence 4 + IV 8 + the payload, padding and 2-byte
    /// trailer rounded up to 4 + ICV 16 must fit the underlay. The largest inner packet, by search.
    static func largestInner(_ o: TunnelOverhead, underlay: Int) -> Int {
        let outer = (o.ipv6Underlay ? 40 : 20) + (o.natTraversal ? 8 : 0)
        let tunnelHeaders = o.parts.map(\.bytes).reduce(0, +) - outer - 8 - 8 - 2 - 16
        var best = -1
        for inner in 0...underlay {
            let payload = tunnelHeaders + inner + 2
            let padded = (payload + 3) / 4 * 4
            if outer + 8 + 8 + padded + 16 <= underlay { best = inner }
        }
        return best
    }

    @Test("the tunnel MTU is the largest inner packet RFC 4303's layout fits, for every kind, underlay and NAT-T")
    func exhaustive() {
        for kind in TunnelOverhead.Kind.allCases {
            for natT in [false, true] {
                for underlay in stride(from: 1200, through: 1500, by: 1) {
                    let o = TunnelOverhead(kind: kind, cookie: kind == .l2tpv3IP ? 8 : 0, esp: true, natTraversal: natT)
                    let p = MTUPlan(overhead: o, underlayMTU: underlay)
                    #expect(p.tunnelMTU == Self.largestInner(o, underlay: underlay), "\(kind) natT \(natT) underlay \(underlay)")
                    #expect((0...3).contains(p.espPadding))
                }
            }
        }
    }

    @Test("L2TPv3/IP with cookies over 1500: 20 + ESP 16 + 30 + trailer 2 + ICV 16 → 1416, MSS 1376")
    func l2tpIP() {
        let p = MTUPlan(overhead: TunnelOverhead(kind: .l2tpv3IP, cookie: 8, esp: true), underlayMTU: 1500)
        #expect(p.overhead.bytes == 84)
        #expect(p.espPadding == 0)
        #expect(p.tunnelMTU == 1416)
        #expect(p.mssIPv4 == 1376)
        #expect(p.explanation.contains { $0.contains("ESP ICV") })
        #expect(p.explanation.contains("tunnel MTU 1500 - 84 = 1416"))
    }

    @Test("NAT-T adds the UDP header; the padding of the largest packet counts (1499: 3 bytes)")
    func natT() {
        let o = TunnelOverhead(kind: .gretap, esp: true, natTraversal: true)
        #expect(o.parts.contains { $0.name.contains("NAT-T") && $0.bytes == 8 })
        #expect(MTUPlan(overhead: o, underlayMTU: 1500).tunnelMTU == 1500 - 20 - 8 - 16 - 18 - 18)
        let odd = MTUPlan(overhead: TunnelOverhead(kind: .gretap, esp: true), underlayMTU: 1499)
        #expect(odd.espPadding == 3)
        #expect(odd.tunnelMTU == 1499 - 72 - 3)
    }

    @Test("a segment with encryption = \"ipsec\" plans with ESP: its side's MSS clamp includes it")
    func segment() throws {
        let c = try config("gretap", ["encryption = \"ipsec\"", psk]).get()
        let side = try c.side(for: "east")
        #expect(c.overhead.esp)
        #expect(side.mtuPlan.tunnelMTU == 1428)
        #expect(side.mssIPv4 == 1388)
        let plain = try config("gretap", []).get()
        #expect(try plain.side(for: "east").mtuPlan.tunnelMTU == 1462)
    }
}

@Suite("IPsec: [segment] encryption in the site file")
struct IPsecConfigTests {
    @Test("defaults: AES-GCM-128, charon's socket, no rekey override; none when not asked")
    func defaults() throws {
        let c = try config("l2tpv3", ["encap = \"ip\"", "encryption = \"ipsec\"", psk]).get()
        #expect(c.ipsec == IPsecSettings(secret: "0123456789abcdef0123"))
        #expect(c.ipsec?.viciSocket == "/var/run/charon.vici")
        #expect(try config("l2tpv3", []).get().ipsec == nil)
        #expect(try config("l2tpv3", ["encryption = \"none\""]).get().ipsec == nil)
    }

    @Test("every setting read")
    func settings() throws {
        let c = try config("gretap", ["encryption = \"ipsec\"", psk, "esp = \"chacha20poly1305\"", "rekey_time = 30",
                                      "nat_traversal = true", "vici_socket = \"/run/ns-a/charon.vici\""]).get()
        #expect(c.ipsec == IPsecSettings(secret: "0123456789abcdef0123", esp: .chacha20poly1305, rekeyTime: 30,
                                         natTraversal: true, viciSocket: "/run/ns-a/charon.vici"))
    }

    @Test("bad input: one error each, at the value, with a hint", arguments: [
        (["encryption = \"ipsec\"", "secret = \"short\""], 5, 10, "is 5 bytes; an IPsec pre-shared key must be at least 16"),
        (["encryption = \"ipsec\"", psk, "esp = \"aes128gcm\""], 6, 7, "`esp` must be one of"),
        (["encryption = \"ipsec\"", psk, "esp = \"3des\""], 6, 7, "found \"3des\""),
        (["encryption = \"ipsec\""], 4, 1, "needs the pre-shared key `secret`"),
        (["encryption = \"ipsek\"", psk], 4, 14, "did you mean \"ipsec\""),
        (["encryption = \"ipsec\"", psk, "rekey_time = 5"], 6, 14, "rekey_time"),
        (["encryption = \"ipsec\"", psk, "vici_socket = \"charon.vici\""], 6, 15, "absolute path"),
        (["esp = \"aes128gcm16\""], 4, 1, "applies only with encryption = \"ipsec\""),
    ] as [([String], Int, Int, String)])
    func bad(seg: [String], line: Int, column: Int, fragment: String) {
        let errs = errors(config("gretap", seg))
        #expect(errs.count == 1, "\(errs.map(\.description))")
        guard let e = errs.first else { return }
        #expect(e.position == TOMLPosition(line: line, column: column), "\(e)")
        #expect(e.description.contains(fragment), "\(e)")
        #expect(!e.hint.isEmpty)
    }

    @Test("VXLAN (many sites) cannot be encrypted this way")
    func vxlan() {
        #expect(errors(config("vxlan", ["encryption = \"ipsec\"", psk])).contains { $0.description.contains("point-to-point") })
    }
}

@Suite("IPsec: the IKE connection a site loads")
struct IPsecConnectionTests {
    static func connection(_ tunnel: String, _ extra: [String] = [], site: String = "east") throws -> IPsecConnection {
        let c = try config(tunnel, ["encryption = \"ipsec\"", psk] + extra).get()
        return try #require(try c.side(for: site).ipsec)
    }

    @Test("traffic selectors cover exactly the tunnel's packets", arguments: [
        ("l2tpv3", ["encap = \"ip\""], "dynamic[115]"),
        ("l2tpv3", [], "dynamic[udp/1701]"),
        ("l2tpv3", ["port = 1777"], "dynamic[udp/1777]"),
        ("gretap", [], "dynamic[47]"),
        ("gre-in-udp", [], "dynamic[udp]"),
    ] as [(String, [String], String)])
    func selectors(tunnel: String, extra: [String], ts: String) throws {
        #expect(try Self.connection(tunnel, extra).trafficSelector == ts)
    }

    @Test("load-conn: IKEv2, PSK by address, ESP transport with trap policies, everything named isthmus-SEGMENT")
    func loadConn() throws {
        let c = try Self.connection("l2tpv3", ["encap = \"ip\"", "rekey_time = 30"])
        #expect(c.name == "isthmus-lab")
        let conn = try #require(c.loadConn["isthmus-lab"]?.section)
        #expect(c.loadConn.elements.count == 1)
        #expect(conn.string("version") == "2")
        #expect(conn["local_addrs"]?.strings == ["192.0.2.1"])
        #expect(conn["remote_addrs"]?.strings == ["198.51.100.7"])
        #expect(conn["proposals"]?.strings == ["aes128gcm16-prfsha256-ecp256"])
        #expect(conn["local"]?.section == ["auth": "psk", "id": "192.0.2.1"])
        #expect(conn["remote"]?.section == ["auth": "psk", "id": "198.51.100.7"])
        #expect(conn["encap"] == nil)
        let child = try #require(conn["children"]?.section?["isthmus-lab"]?.section)
        #expect(child == ["mode": "transport", "esp_proposals": ["aes128gcm16"], "local_ts": ["dynamic[115]"],
                          "remote_ts": ["dynamic[115]"], "start_action": "trap", "rekey_time": "30s"])
        #expect(c.loadShared == ["id": "isthmus-lab", "type": "ike", "data": "0123456789abcdef0123",
                                 "owners": ["192.0.2.1", "198.51.100.7"]])
        #expect(c.unloadConn == ["name": "isthmus-lab"])
        #expect(c.unloadShared == ["id": "isthmus-lab"])
        // Encodable: every name and value fits the wire.
        #expect(throws: Never.self) { try VICIPacket.request(command: "load-conn", message: c.loadConn).encoded() }
    }

    @Test("the two sites' connections mirror each other")
    func mirrored() throws {
        let east = try Self.connection("gretap"), west = try Self.connection("gretap", site: "west")
        #expect(east.local == west.remote && east.remote == west.local)
        #expect(east.name == west.name && east.trafficSelector == west.trafficSelector)
    }

    @Test("chacha20poly1305 for ESP, NAT-T forced")
    func chacha() throws {
        let c = try Self.connection("gretap", ["esp = \"chacha20poly1305\"", "nat_traversal = true"])
        let conn = try #require(c.loadConn["isthmus-lab"]?.section)
        #expect(conn.string("encap") == "yes")
        #expect(conn["children"]?.section?["isthmus-lab"]?.section?["esp_proposals"]?.strings == ["chacha20poly1305"])
    }

    @Test("IKE failures are named from charon's log lines", arguments: [
        ("received AUTHENTICATION_FAILED notify error", IKEFailure.authenticationFailed),
        ("tried 1 shared key for '10.0.0.1' - '10.0.0.2', but MAC mismatched", .authenticationFailed),
        ("received NO_PROPOSAL_CHOSEN notify error", .noProposalChosen),
        ("giving up after 5 retransmits", .peerUnreachable),
    ])
    func failures(line: String, reason: IKEFailure) {
        #expect(IKEFailure.classify(["initiating IKE_SA isthmus-lab[1] to 10.0.0.2", line])?.0 == reason)
        #expect(IKEFailure.classify(["initiating IKE_SA isthmus-lab[1] to 10.0.0.2"]) == nil)
    }

    @Test("an authentication failure after retransmits is an authentication failure; retransmits alone, unreachable")
    func failurePriority() {
        let retransmit = "retransmit 1 of request with message ID 0"
        #expect(IKEFailure.classify([retransmit, "received AUTHENTICATION_FAILED notify error"])?.0 == .authenticationFailed)
        #expect(IKEFailure.classify([retransmit, "retransmit 2 of request with message ID 0"])?.0 == .peerUnreachable)
    }
}
