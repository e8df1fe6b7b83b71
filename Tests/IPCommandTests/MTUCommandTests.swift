import IPCommand
import Testing

@Suite("isthmus mtu")
struct MTUCommandTests {
    static func run(_ line: String, json: Bool = false) throws -> Output {
        var o = Options()
        o.json = json
        let s = Session(options: o)
        try IPCommandRunner.run(line.split(separator: " ").map(String.init), session: s)
        return s.output
    }

    @Test("explains GRETAP with a key over a 1280-byte overlay")
    func text() throws {
        let out = try Self.run("mtu gretap underlay 1280 key").lines
        #expect(out.contains("tunnel MTU 1280 - 42 = 1238"), "\(out)")
        #expect(out.contains("TCP MSS clamp: IPv4 1238 - 40 = 1198, IPv6 1238 - 60 = 1178"), "\(out)")
    }

    @Test("esp: ESP transport mode's headers, trailer and padding; nat-t adds UDP 4500")
    func esp() throws {
        let out = try Self.run("mtu l2tpv3-ip cookie 8 esp").lines
        #expect(out.contains("tunnel MTU 1500 - 84 = 1416"), "\(out)")
        #expect(out.contains { $0.hasPrefix("  ESP IV") } && out.contains { $0.hasPrefix("  ESP ICV") }, "\(out)")
        #expect(out.contains("TCP MSS clamp: IPv4 1416 - 40 = 1376, IPv6 1416 - 60 = 1356"), "\(out)")
        let j = try Self.run("mtu gretap esp nat-t underlay 1499", json: true).json
        // 20 + 8 UDP + 16 ESP + 4 GRE + 14 + 18 trailer/ICV = 80, plus 3 bytes of padding for the largest packet.
        #expect(j[0]["overhead_bytes"] == JSON(83) && j[0]["esp_padding"] == JSON(3) && j[0]["tunnel_mtu"] == JSON(1416), "\(j)")
        #expect(throws: (any Error).self) { try Self.run("mtu gretap nat-t") }
    }

    @Test("JSON for machines")
    func json() throws {
        let j = try Self.run("mtu l2tpv3-udp cookie 8 ipv6", json: true).json
        #expect(j.count == 1)
        #expect(j[0]["overhead_bytes"] == JSON(82) && j[0]["tunnel_mtu"] == JSON(1418) && j[0]["mss_ipv4"] == JSON(1378), "\(j)")
    }

    /// The L3 kinds as the sites docs describe them: ipip carries IPv4, sit IPv6 over an IPv4 underlay, gre either; a
    /// routed tunnel does not fragment outer packets (fragment = false by default) — larger packets get ICMP.
    @Test("L3 kinds: the families they carry, ICMP instead of outer fragmentation")
    func l3Kinds() throws {
        let ipip = try Self.run("mtu ipip underlay 1280").lines
        #expect(ipip.contains("LAN IPv4 packets of 1500 do not fit: the gateway answers larger packets with ICMP fragmentation needed (no outer fragmentation), and TCP is clamped"), "\(ipip)")
        #expect(ipip.contains("TCP MSS clamp: IPv4 1260 - 40 = 1220"), "\(ipip)")
        #expect(!ipip.contains { $0.contains("IPv6") || $0.contains("DF off") }, "ipip carries no IPv6: \(ipip)")
        let sit = try Self.run("mtu sit underlay 1280").lines
        #expect(sit.contains("TCP MSS clamp: IPv6 1260 - 60 = 1200"), "\(sit)")
        #expect(sit.contains { $0.hasPrefix("LAN IPv6 packets of 1500 do not fit: the gateway answers larger packets with ICMP packet too big") }, "\(sit)")
        #expect(sit.contains { $0.hasPrefix("problem: tunnel MTU 1260 is below IPv6's minimum of 1280: IPv6 cannot use this tunnel") }, "\(sit)")
        let gre = try Self.run("mtu gre underlay 1400").lines
        #expect(gre.contains("TCP MSS clamp: IPv4 1376 - 40 = 1336, IPv6 1376 - 60 = 1316"), "\(gre)")
        #expect(gre.contains { $0.contains("ICMP fragmentation needed (IPv4) or packet too big (IPv6)") }, "\(gre)")
        let j = try Self.run("mtu ipip underlay 1280", json: true).json[0]
        #expect(j["carries"] == JSON.array([.string("ipv4")]) && j["mss_ipv4"] == JSON(1220) && j["mss_ipv6"] == nil, "\(j)")
        #expect(j["outer_fragmentation"] == JSON(false) && j["icmp_too_big"] == JSON(true), "\(j)")
        let vx = try Self.run("mtu vxlan underlay 1280", json: true).json[0]
        #expect(vx["outer_fragmentation"] == JSON(true) && vx["icmp_too_big"] == JSON(false) && vx["mss_ipv6"] == JSON(1170), "\(vx)")
    }

    @Test("bad words are named", arguments: [
        ("mtu frob", "\"frob\""), ("mtu vxlan cookie 4", "cookie"), ("mtu l2tpv3-ip cookie 5", "0, 4 or 8"),
        ("mtu vxlan underlay 20", "underlay"), ("mtu vxlan underlay 100", "must be at least 118"), ("mtu ipip key", "GRE"), ("mtu vxlan bogus", "\"bogus\""),
        ("mtu sit ipv6", "IPv4 underlay"),
    ])
    func errors(_ line: String, _ expected: String) {
        #expect(throws: (any Error).self) { try Self.run(line) }
        do { _ = try Self.run(line) } catch { #expect("\(error)".contains(expected), "\(error)") }
    }
}
