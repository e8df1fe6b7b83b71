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

private func certConfig(_ seg: [String], east: [String] = ["certificate = \"/etc/isthmus/east.pem\"", "private_key = \"/etc/isthmus/east.key\""],
                        west: [String] = ["certificate = \"/etc/isthmus/west.pem\"", "private_key = \"/etc/isthmus/west.key\""]) -> Result<SegmentConfig, ConfigErrors> {
    let text = (["[segment]", "name = \"lab\"", "tunnel = \"gretap\""] + seg
        + ["", "[sites.east]", "address = \"192.0.2.1\"", "lan = [\"eth1\"]"] + east
        + ["", "[sites.west]", "address = \"198.51.100.7\"", "lan = [\"eth1\"]"] + west)
        .joined(separator: "\n") + "\n"
    return SiteConfig.load(text: text, file: "seg.toml")
}

private let caLine = "ca = \"/etc/isthmus/ca.pem\""

@Suite("IPsec: certificate authentication in the site file")
struct IPsecCertificateConfigTests {
    @Test("[segment] ca and each site's certificate, private_key and optional ike_identity")
    func good() throws {
        let c = try certConfig(["encryption = \"ipsec\"", caLine], east: ["certificate = \"/etc/isthmus/east.pem\"", "private_key = \"/etc/isthmus/east.key\"", "ike_identity = \"CN=east\""]).get()
        #expect(c.ipsec?.ca == ConfigFile(path: "/etc/isthmus/ca.pem", source: "seg.toml", position: TOMLPosition(line: 5, column: 6)))
        #expect(c.ipsec?.secret == "")
        let east = try #require(c.sites.first { $0.name == "east" })
        #expect(east.certificate?.path == "/etc/isthmus/east.pem" && east.privateKey?.path == "/etc/isthmus/east.key")
        #expect(east.privateKey?.position == TOMLPosition(line: 11, column: 15))
        #expect(east.ikeIdentity == "CN=east")
        let side = try c.side(for: "east"), peer = try c.side(for: "west")
        let conn = try #require(side.ipsec)
        #expect(conn.usesCertificates)
        #expect(conn.certificate == SiteCertificate(certificate: east.certificate!, privateKey: east.privateKey!, identity: "CN=east"))
        #expect(conn.peerIdentity == nil)
        // West checks east's identity; east accepts any identity the CA certified (west has none configured).
        #expect(peer.ipsec?.peerIdentity == "CN=east")
        #expect(peer.ipsec?.certificate?.identity == nil)
    }

    @Test("bad input: one error each, at the key or value, with a hint", arguments: [
        (["encryption = \"ipsec\"", caLine, psk], [String]?.none, 5, 1, "has both `secret` and `ca`"),
        (["encryption = \"ipsec\""], [], 4, 1, "needs the pre-shared key `secret`, or certificates (`ca`)"),
        (["encryption = \"ipsec\"", "ca = \"ca.pem\""], nil, 5, 6, "`ca` \"ca.pem\" is not an absolute path"),
        (["encryption = \"ipsec\"", caLine], ["private_key = \"/etc/isthmus/east.key\""], 7, 1, "[sites.east] needs `certificate`"),
        (["encryption = \"ipsec\"", caLine], ["certificate = \"east.pem\"", "private_key = \"/k\""], 10, 15, "`certificate` \"east.pem\" is not an absolute path"),
        (["encryption = \"ipsec\"", caLine], ["certificate = \"/c\"", "private_key = \"/k\"", "ike_identity = \"%any\""], 12, 16, "is not an identity"),
        (["encryption = \"ipsec\"", psk], ["certificate = \"/c\""], 10, 15, "applies only with certificate authentication"),
        ([caLine], [], 4, 1, "applies only with encryption = \"ipsec\""),
    ] as [([String], [String]?, Int, Int, String)])
    func bad(seg: [String], east: [String]?, line: Int, column: Int, fragment: String) {
        let r = east.map { certConfig(seg, east: $0, west: []) } ?? certConfig(seg, west: [])
        // (west has no certificate: with ca that is an error of its own, counted apart.)
        let errs = errors(r).filter { !$0.description.contains("[sites.west]") }
        #expect(errs.count == 1, "\(errs.map(\.description))")
        guard let e = errs.first else { return }
        #expect(e.position == TOMLPosition(line: line, column: column), "\(e)")
        #expect(e.description.contains(fragment), "\(e)")
        #expect(!e.hint.isEmpty)
    }

    @Test("with ca, a site without certificate and key is named; with the control protocol, secret stays beside ca")
    func missingAndControl() throws {
        let errs = errors(certConfig(["encryption = \"ipsec\"", caLine], west: []))
        #expect(errs.count == 1 && errs[0].description.contains("[sites.west] needs `certificate` and `private_key`"), "\(errs)")
        let text = ["[segment]", "name = \"lab\"", "tunnel = \"l2tpv3\"", "control = \"l2tpv3\"", psk, "encryption = \"ipsec\"", caLine,
                    "[sites.east]", "address = \"192.0.2.1\"", "lan = [\"eth1\"]", "certificate = \"/c1\"", "private_key = \"/k1\"",
                    "[sites.west]", "address = \"198.51.100.7\"", "lan = [\"eth1\"]", "certificate = \"/c2\"", "private_key = \"/k2\""].joined(separator: "\n")
        let c = try SiteConfig.load(text: text, file: "seg.toml").get()
        #expect(c.secret == "0123456789abcdef0123" && c.ipsec?.ca?.path == "/etc/isthmus/ca.pem")
    }

    @Test("the same ike_identity on both sites is refused")
    func sameIdentity() {
        let errs = errors(certConfig(["encryption = \"ipsec\"", caLine],
                                     east: ["certificate = \"/c1\"", "private_key = \"/k1\"", "ike_identity = \"gw\""],
                                     west: ["certificate = \"/c2\"", "private_key = \"/k2\"", "ike_identity = \"gw\""]))
        #expect(errs.count == 1 && errs[0].description.contains("have the same ike_identity \"gw\""), "\(errs)")
    }
}

@Suite("IPsec: the connection and key a site with certificates loads")
struct IPsecCertificateConnectionTests {
    static let creds = IPsecConnection.Credentials(certificate: Array("-----BEGIN CERTIFICATE-----\nEAST\n".utf8),
                                                   privateKey: Array("-----BEGIN PRIVATE KEY-----\nKEY\n".utf8),
                                                   ca: Array("-----BEGIN CERTIFICATE-----\nCA\n".utf8))

    static func connection(east: [String], west: [String] = ["certificate = \"/c2\"", "private_key = \"/k2\""]) throws -> IPsecConnection {
        var c = try #require(try certConfig(["encryption = \"ipsec\"", caLine], east: east, west: west).get().side(for: "east").ipsec)
        c.credentials = creds
        return c
    }

    @Test("load-conn: pubkey both ways, this site's certificate, the CA for the peer, certificates always sent; load-key of the PEM key")
    func loadConn() throws {
        let c = try Self.connection(east: ["certificate = \"/c1\"", "private_key = \"/k1\""])
        let conn = try #require(c.loadConn["isthmus-lab"]?.section)
        #expect(conn.string("send_cert") == "always")
        #expect(conn["local"]?.section == VICIMessage([.init("auth", "pubkey"), .init("certs", .list([Self.creds.certificate]))]))
        #expect(conn["remote"]?.section == VICIMessage([.init("auth", "pubkey"), .init("cacerts", .list([Self.creds.ca]))]))
        #expect(conn["local_addrs"]?.strings == ["192.0.2.1"] && conn["remote_addrs"]?.strings == ["198.51.100.7"])
        #expect(c.loadKey == ["type": "any", "data": .bytes(Self.creds.privateKey)])
        #expect(IPsecConnection.unloadKey(id: "0a1b") == ["id": "0a1b"])
        #expect(c.summary.contains("IKEv2 certificates (this site: the subject of /c1; peer: any identity /etc/isthmus/ca.pem certified; CA /etc/isthmus/ca.pem)"), "\(c.summary)")
        #expect(throws: Never.self) { try VICIPacket.request(command: "load-conn", message: c.loadConn).encoded() }
    }

    @Test("configured identities: ours as local id, the peer's as remote id")
    func identities() throws {
        let c = try Self.connection(east: ["certificate = \"/c1\"", "private_key = \"/k1\"", "ike_identity = \"CN=east\""],
                                    west: ["certificate = \"/c2\"", "private_key = \"/k2\"", "ike_identity = \"west.example.net\""])
        let conn = try #require(c.loadConn["isthmus-lab"]?.section)
        #expect(conn["local"]?.section == VICIMessage([.init("auth", "pubkey"), .init("id", "CN=east"), .init("certs", .list([Self.creds.certificate]))]))
        #expect(conn["remote"]?.section == VICIMessage([.init("auth", "pubkey"), .init("id", "west.example.net"), .init("cacerts", .list([Self.creds.ca]))]))
        #expect(c.summary.contains("this site: \"CN=east\"; peer: \"west.example.net\""), "\(c.summary)")
    }

    @Test("a PSK segment loads no key")
    func pskHasNoKey() throws {
        let c = try #require(try config("gretap", ["encryption = \"ipsec\"", psk]).get().side(for: "east").ipsec)
        #expect(c.loadKey == nil && !c.usesCertificates)
        #expect(c.summary.contains("IKEv2 PSK 192.0.2.1"))
    }

    @Test("certificate failures are named from charon's log lines", arguments: [
        ("no trusted ECDSA public key found for 'CN=west'", IKEFailure.certificateNotTrusted),
        ("no issuer certificate found for \"CN=west\"", .certificateNotTrusted),
        ("constraint check failed: peer not authenticated by CA 'CN=ca'", .certificateNotTrusted),
        ("no private key found for 'CN=east'", .noPrivateKey),
    ])
    func failures(line: String, reason: IKEFailure) {
        #expect(IKEFailure.classify(["initiating IKE_SA isthmus-lab[1] to 10.0.0.2", line, "received AUTHENTICATION_FAILED notify error"])?.0 == reason)
    }
}

@Suite("IPsec: what a certificate or key file must hold")
struct PEMContentTests {
    static let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    @Test("good files pass", arguments: [
        (cert, PEMContent.certificate),
        ("-----BEGIN PRIVATE KEY-----\r\nMIIE\r\n-----END PRIVATE KEY-----\r\n", .privateKey),
        ("-----BEGIN EC PARAMETERS-----\nBgg=\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n", .privateKey),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n", .privateKey),
    ])
    func good(text: String, content: PEMContent) {
        #expect(content.problem(Array(text.utf8)) == nil)
    }

    @Test("bad files are named", arguments: [
        ("", PEMContent.certificate, "is empty"),
        ("hello", .certificate, "is not PEM"),
        ("\u{30}\u{82}\u{01}", .certificate, "looks like DER"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", .certificate, "holds a PEM PRIVATE KEY, not a CERTIFICATE"),
        (cert, .privateKey, "holds a PEM CERTIFICATE, not a PRIVATE KEY"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----\n", .privateKey, "encrypted"),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n", .certificate, "cut short"),
    ])
    func bad(text: String, content: PEMContent, fragment: String) {
        let p = content.problem(Array(text.utf8))
        #expect(p?.contains(fragment) == true, "\(String(describing: p))")
    }

    @Test("a file too large for one VICI value")
    func tooLarge() {
        let big = Array(Self.cert.utf8) + [UInt8](repeating: 0x41, count: 70_000)
        #expect(PEMContent.certificate.problem(big)?.contains("at most 65535") == true)
    }
}
