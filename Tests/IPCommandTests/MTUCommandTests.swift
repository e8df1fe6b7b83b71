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

    @Test("JSON for machines")
    func json() throws {
        let j = try Self.run("mtu l2tpv3-udp cookie 8 ipv6", json: true).json
        #expect(j.count == 1)
        #expect(j[0]["overhead_bytes"] == JSON(82) && j[0]["tunnel_mtu"] == JSON(1418) && j[0]["mss_ipv4"] == JSON(1378), "\(j)")
    }

    @Test("bad words are named", arguments: [
        ("mtu frob", "\"frob\""), ("mtu vxlan cookie 4", "cookie"), ("mtu l2tpv3-ip cookie 5", "0, 4 or 8"),
        ("mtu vxlan underlay 20", "underlay"), ("mtu vxlan underlay 100", "must be at least 118"), ("mtu ipip key", "GRE"), ("mtu vxlan bogus", "\"bogus\""),
    ])
    func errors(_ line: String, _ expected: String) {
        #expect(throws: (any Error).self) { try Self.run(line) }
        do { _ = try Self.run(line) } catch { #expect("\(error)".contains(expected), "\(error)") }
    }
}
