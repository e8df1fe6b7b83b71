import Sites
import Testing
import TestSupport

private func load(_ text: String) -> Result<SegmentConfig, ConfigErrors> { SiteConfig.load(text: text, file: "seg.toml") }

private func valid(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> SegmentConfig {
    switch load(text) {
    case .success(let c): return c
    case .failure(let e):
        Issue.record("unexpected errors:\n\(e)", sourceLocation: sourceLocation)
        throw e
    }
}

private func errors(_ text: String) -> [ConfigError] {
    if case .failure(let e) = load(text) { return e.errors }
    return []
}

/// Exactly one error, at line:column, whose description contains `fragment`.
private func expectOne(_ text: String, _ line: Int, _ column: Int, _ fragment: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    let errs = errors(text)
    #expect(errs.count == 1, "\(errs.map(\.description))", sourceLocation: sourceLocation)
    guard let e = errs.first else { return }
    #expect(e.position == TOMLPosition(line: line, column: column), "\(e)", sourceLocation: sourceLocation)
    #expect(e.description.contains(fragment), "\(e)", sourceLocation: sourceLocation)
    #expect(e.description.hasPrefix("seg.toml:\(line):\(column): "), sourceLocation: sourceLocation)
    #expect(!e.hint.isEmpty, sourceLocation: sourceLocation)
}

/// A two-site config: `seg` lines go after line 3 (`tunnel = ...`), sites follow.
private func twoSites(tunnel: String = "l2tpv3", seg: [String] = [], east: [String] = ["address = \"192.0.2.1\"", "lan = [\"eth1\"]"],
                      west: [String] = ["address = \"198.51.100.7\"", "lan = [\"eth1\"]"]) -> String {
    (["[segment]", "name = \"lab\"", "tunnel = \"\(tunnel)\""] + seg + ["", "[sites.east]"] + east + ["", "[sites.west]"] + west)
        .joined(separator: "\n") + "\n"
}

@Suite struct SiteConfigTests {
    static let l2tp = """
    # The lab segment: two sites, L2TPv3 over a 1280-byte VPN overlay.
    [segment]
    name = "lab"
    tunnel = "l2tpv3"
    encap = "udp"
    dataplane = "kernel"
    underlay_mtu = 1280

    [filters]
    dhcp = "allow"

    [sites.west]
    address = "198.51.100.7"
    lan = ["eth1", "eth2"]
    hostname = "gw-west"

    [sites.east]
    address = "192.0.2.1"
    lan = ["eth1"]
    bridge = "br0"
    """

    @Test func l2tpv3TwoSitesMirrored() throws {
        let c = try valid(Self.l2tp)
        #expect(c.kind == .l2tpv3 && c.encap == .udp && c.dataplane == .kernel)
        #expect(c.siteNames == ["east", "west"])
        #expect(c.port == 1701 && c.cookies && c.vni == nil)
        #expect(c.filters.dhcp == .allow && c.filters.routerAdvertisements == .block && c.filters.mssClamp)
        let a = try c.side(for: "east"), b = try c.side(for: "west")
        #expect(a.tunnelID == 1 && a.sessionID == 1 && b.tunnelID == 2 && b.sessionID == 2)
        #expect(a.peerTunnelID == b.tunnelID && b.peerTunnelID == a.tunnelID)
        #expect(a.peerSessionID == b.sessionID && b.peerSessionID == a.sessionID)
        #expect(a.cookie?.count == 8 && a.cookie == b.peerCookie && b.cookie == a.peerCookie && a.cookie != b.cookie)
        #expect(a.localAddress == b.peers[0].address && b.localAddress == a.peers[0].address)
        #expect(a.localPort == 1701 && a.peerPort == b.localPort)
        #expect(a.bridge == "br0" && b.bridge == "br-lab" && b.lan == ["eth1", "eth2"])
        // 1280 - (20 IP + 8 UDP + 4 + 4 session + 8 cookie + 4 l2spec + 14 Ethernet = 62) = 1218 cross unfragmented;
        // the device carries the LAN's 1500 (fragment, the Ethernet default) and TCP is clamped to the 1218.
        #expect(a.mtuPlan.tunnelMTU == 1218 && a.tunnelMTU == 1500 && a.outerFragmentation && a.mssIPv4 == 1178 && a.mssIPv6 == 1158)
        #expect(c.fragment && c.warnings.isEmpty, "a 1500 tunnel MTU meets IPv6's minimum: \(c.warnings)")
        // fragment = false: the device gets what crosses unfragmented, which is below IPv6's minimum (a warning).
        let u = try valid(Self.l2tp.replacing("underlay_mtu = 1280\n", with: "underlay_mtu = 1280\nfragment = false\n"))
        let ua = try u.side(for: "east")
        #expect(!u.fragment && ua.tunnelMTU == 1218 && ua.mssIPv4 == 1178 && ua.mssIPv6 == 1158)
        #expect(u.warnings.count == 1 && u.warnings[0].message.contains("below IPv6's minimum"))
        // Deterministic: a second load (another host) derives the same values.
        let again = try valid(Self.l2tp)
        #expect(try again.side(for: "west") == b)
        #expect(SiteConfig.cookie(segment: "lab", site: "east") == a.cookie)
    }

    @Test func l2tpv3OverIPWithoutCookies() throws {
        let c = try valid(twoSites(seg: ["encap = \"ip\"", "cookies = false"]))
        let a = try c.side(for: "east")
        #expect(a.cookie == nil && a.peerCookie == nil && a.localPort == nil && a.encap == .ip)
        #expect(a.tunnelMTU == 1500 && a.mtuPlan.tunnelMTU == 1500 - (20 + 4 + 4 + 14))
    }

    @Test func vxlanThreeSites() throws {
        let c = try valid("""
        [segment]
        name = "campus"
        tunnel = "vxlan"

        [sites.a]
        address = "2001:db8::1"
        lan = ["eth1"]
        [sites.b]
        address = "2001:db8::2"
        lan = ["eth1"]
        [sites.c]
        address = "2001:db8:0:0:0:0:0:3"
        lan = []
        bridge = "br-existing"
        """)
        #expect(c.vni == SiteConfig.defaultVNI(segment: "campus") && (1...16_777_215).contains(c.vni!))
        #expect(c.port == 4789 && c.ipv6Underlay)
        let a = try c.side(for: "a"), cc = try c.side(for: "c")
        #expect(a.peers.map(\.name) == ["b", "c"] && cc.peers.map(\.name) == ["a", "b"])
        #expect(cc.peers[0].address.description == "2001:db8::1")
        #expect(a.vni == cc.vni && a.tunnelID == nil && a.cookie == nil)
        #expect(a.tunnelMTU == 1500 && a.mtuPlan.tunnelMTU == 1500 - (40 + 8 + 8 + 14) && a.bridge == "br-campus" && cc.lan.isEmpty)
        let v = try valid(twoSites(tunnel: "vxlan", seg: ["vni = 77", "port = 8472"]))
        #expect(v.vni == 77 && v.port == 8472)
    }

    @Test func ipipL3() throws {
        let c = try valid("""
        [segment]
        name = "routed"
        tunnel = "ipip"

        [sites.hq]
        address = "192.0.2.1"
        tunnel_address = "10.255.0.1/30"
        networks = ["10.1.0.0/16", "10.2.0.0/16"]

        [sites.branch]
        address = "203.0.113.9"
        tunnel_address = "10.255.0.2/30"
        networks = ["10.3.0.0/24"]
        """)
        let hq = try c.side(for: "hq"), br = try c.side(for: "branch")
        #expect(hq.bridge == nil && hq.lan.isEmpty && hq.tunnelMTU == 1480)
        #expect(hq.routes.map(\.prefix.description) == ["10.3.0.0/24"])
        #expect(hq.routes[0].gateway == IPAddress("10.255.0.2"))
        #expect(br.routes.map(\.prefix.description) == ["10.1.0.0/16", "10.2.0.0/16"])
        #expect(br.tunnelAddress?.description == "10.255.0.2/30")
    }

    @Test func greKeyAndSit() throws {
        let g = try valid(twoSites(tunnel: "gretap", seg: ["key = 42"]))
        let s = try g.side(for: "west")
        #expect(s.greKey == 42 && s.tunnelMTU == 1500 && s.mtuPlan.tunnelMTU == 1500 - (20 + 8 + 14) && s.localPort == nil)
        let sit = try valid(twoSites(tunnel: "sit", east: ["address = \"192.0.2.1\"", "networks = [\"2001:db8:1::/48\"]"],
                                     west: ["address = \"192.0.2.2\"", "networks = [\"2001:db8:2::/48\"]"]))
        #expect(try sit.side(for: "east").routes.first?.gateway == nil)
    }

    @Test func pickSite() throws {
        let c = try valid(Self.l2tp)
        #expect(try c.pickSite(explicit: "east", hostname: "whatever").get() == "east")
        #expect(try c.pickSite(explicit: nil, hostname: "gw-west").get() == "west")
        #expect(try c.pickSite(explicit: nil, hostname: "gw-west.example.net").get() == "west")
        #expect(try c.pickSite(explicit: nil, hostname: "east.example.net").get() == "east")
        guard case .failure(let e) = c.pickSite(explicit: nil, hostname: "laptop") else { Issue.record("picked"); return }
        #expect(e.message.contains("site not found") && e.message.contains("east, west") && e.hint.contains("--site"))
        guard case .failure(let e2) = c.pickSite(explicit: "eats", hostname: "x") else { Issue.record("picked"); return }
        #expect(e2.message.contains("did you mean \"east\""))
        #expect(throws: SiteSelectionError.self) { try c.side(for: "north") }
    }

    @Test func addressParsing() {
        #expect(IPAddress("::ffff:192.0.2.1")?.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1])
        #expect(IPAddress("::")?.description == "::" && IPAddress("fe80::1:0:0:2")?.description == "fe80::1:0:0:2")
        #expect(IPAddress("2001:DB8:0:0:1::1")?.description == "2001:db8::1:0:0:1")
        for bad in ["1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", ":1", "1:", "::1.2.3", "", "a.b.c.d", "1:2:3:4:5:6:7::8:9"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(IPPrefix("10.1.0.0/16")!.overlaps(IPPrefix("10.1.2.0/24")!))
        #expect(!IPPrefix("10.1.0.0/16")!.overlaps(IPPrefix("10.2.0.0/16")!))
        #expect(IPPrefix("10.1.2.3/16")!.network.description == "10.1.0.0/16" && IPPrefix("10.0.0.0/33") == nil)
    }

    // MARK: - errors, each with its position

    @Test func syntaxError() {
        expectOne("[segment]\nname = \"lab\ntunnel = \"vxlan\"\n", 2, 8, "fix the TOML syntax")
    }

    @Test func unknownKeySuggests() {
        expectOne(twoSites(seg: ["prot = 1701"]), 4, 1, "unknown key `prot` in [segment]; did you mean `port`?")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "adress = \"x\""]), 8, 1, "did you mean `address`?")
        expectOne("colour = 1\n" + twoSites(), 1, 1, "unknown key `colour` in the top level")
        expectOne(twoSites(tunnel: "vxaln"), 3, 10, "did you mean \"vxlan\"?")
    }

    @Test func wrongTypes() {
        expectOne(twoSites(seg: ["port = \"1701\""]), 4, 8, "`port` must be an integer (1..65535), found a string")
        expectOne(twoSites(seg: ["cookies = 1"]), 4, 11, "`cookies` must be a boolean, found an integer")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = \"eth1\""]), 7, 7, "`lan` must be an array of strings, found a string")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1\", 2]"]), 7, 16, "every element of `lan` must be a string")
        expectOne(twoSites(seg: ["port = 70000"]), 4, 8, "`port` 70000 is out of range 1..65535")
    }

    @Test func missingKeys() {
        expectOne(twoSites(east: ["lan = [\"eth1\"]"]), 5, 1, "[sites.east] is missing the required key `address`")
        expectOne(twoSites(west: ["address = \"198.51.100.7\""]), 9, 1, "[sites.west] is missing the required key `lan`")
        expectOne("[segment]\nname = \"lab\"\n[sites.a]\naddress = \"192.0.2.1\"\nlan = [\"e\"]\n[sites.b]\naddress = \"192.0.2.2\"\nlan = [\"e\"]\n",
                  1, 1, "[segment] is missing the required key `tunnel`")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = []"]), 7, 7, "`lan` is empty, and no `bridge` is given")
    }

    @Test func invalidValues() {
        expectOne(twoSites(east: ["address = \"192.0.2.300\"", "lan = [\"eth1\"]"]), 6, 11, "is not an IPv4 or IPv6 address")
        expectOne(twoSites(east: ["address = \"192.0.2.1/24\"", "lan = [\"eth1\"]"]), 6, 11, "without a prefix length")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1\", \"a-very-long-interface0\"]"]), 7, 16, "at most 15")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1:0\"]"]), 7, 8, "contains ':'")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "bridge = \"br 0\""]), 8, 10, "whitespace")
        expectOne(twoSites(tunnel: "vxlan", seg: ["vni = 16777216"]), 4, 7, "`vni` 16777216 is out of range 1..16777215")
        expectOne(twoSites(tunnel: "gre", east: ["address = \"192.0.2.1\"", "networks = [\"10.1.2.3/16\"]"],
                           west: ["address = \"192.0.2.2\""]), 7, 13, "did you mean \"10.1.0.0/16\"")
    }

    @Test func crossSiteErrors() {
        expectOne(twoSites(west: ["address = \"2001:db8::7\"", "lan = [\"eth1\"]"]), 9, 1, "has an IPv6 address")
        let dup = errors(twoSites(west: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]"]))
        #expect(dup.count == 1 && dup[0].position == TOMLPosition(line: 9, column: 1))
        #expect(dup[0].message.contains("same address 192.0.2.1 (first at 5:1)"))
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1\", \"eth2\", \"eth1\"]"]), 7, 24, "listed twice (first at 7:8)")
        expectOne(twoSites(tunnel: "gre", east: ["address = \"192.0.2.1\"", "networks = [\"10.0.0.0/8\"]"],
                           west: ["address = \"192.0.2.2\"", "networks = [\"10.9.0.0/16\"]"]), 9, 1, "overlaps network 10.0.0.0/8 of site east")
        expectOne("[segment]\nname = \"lab\"\ntunnel = \"vxlan\"\n[sites.a]\naddress = \"192.0.2.1\"\nlan = [\"e\"]\n", 4, 2,
                  "at least 2 sites, found 1")
        expectOne(twoSites(west: ["address = \"198.51.100.7\"", "lan = [\"eth1\"]", "", "[sites.north]", "address = \"203.0.113.1\"", "lan = [\"eth1\"]"]),
                  13, 8, "point-to-point: at most 2 sites, found 3")
    }

    @Test func kindMismatches() {
        expectOne(twoSites(tunnel: "vxlan", seg: ["cookies = true"]), 4, 1, "`cookies` applies only to tunnel = \"l2tpv3\"")
        expectOne(twoSites(tunnel: "vxlan", seg: ["key = 5"]), 4, 1, "`key` applies only to GRE tunnels")
        expectOne(twoSites(tunnel: "gretap", seg: ["vni = 5"]), 4, 1, "`vni` applies only to tunnel = \"vxlan\"")
        expectOne(twoSites(tunnel: "gretap", seg: ["port = 5"]), 4, 1, "`port` applies only to UDP tunnels")
        expectOne(twoSites(seg: ["encap = \"ip\"", "port = 1701"]), 5, 1, "L2TPv3 over IP has no port")
        expectOne(twoSites(tunnel: "ipip", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]"], west: ["address = \"192.0.2.2\""]),
                  7, 1, "`lan` applies only to Ethernet tunnels")
        expectOne(twoSites(east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "networks = []"]), 8, 1, "`networks` applies only to L3 tunnels")
        expectOne(twoSites(tunnel: "ipip", east: ["address = \"192.0.2.1\"", "networks = [\"2001:db8::/32\"]"], west: ["address = \"192.0.2.2\""]),
                  7, 13, "ipip carries only IPv4")
    }

    @Test("bridge_address: the bridge's own addresses, Ethernet kinds only; each problem at its element")
    func bridgeAddresses() throws {
        let site = ["address = \"192.0.2.1\"", "lan = [\"eth1\"]"]
        let c = try valid(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"192.168.1.2/24\", \"fd00:1::2/64\"]"]))
        let east = try c.side(for: "east")
        #expect(east.bridgeAddresses.map(\.description) == ["192.168.1.2/24", "fd00:1::2/64"])
        #expect(try DesiredState(side: east).bridge?.addresses == ["192.168.1.2/24", "fd00:1::2/64"])
        #expect(try c.side(for: "west").bridgeAddresses.isEmpty)
        // A point-to-point /31 (or /127) address is a host address.
        #expect(errors(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"10.0.0.0/31\"]"])).isEmpty)

        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"192.168.1.2\"]"]), 8, 19,
                  "bridge_address \"192.168.1.2\" is not an address with a prefix length")
        #expect(errors(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"192.168.1.2\"]"])).first?.hint.contains("192.168.1.2/24") == true)
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"192.168.1.0/24\"]"]), 8, 19, "is a network address")
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"224.0.0.1/24\"]"]), 8, 19, "is not a unicast address")
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"fe80::2/64\"]"]), 8, 19, "is a link-local address")
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"127.0.0.2/8\"]"]), 8, 19, "is a loopback address")
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"192.168.1.2/24\", \"192.168.1.2/25\"]"]), 8, 37,
                  "bridge_address 192.168.1.2 is listed twice (first at 8:19)")
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = \"192.168.1.2/24\""]), 8, 18, "must be an array of strings")
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_adress = [\"192.168.1.2/24\"]"]), 8, 1, "did you mean `bridge_address`?")
        expectOne(twoSites(tunnel: "ipip", east: ["address = \"192.0.2.1\"", "bridge_address = [\"192.168.1.2/24\"]"], west: ["address = \"192.0.2.2\""]),
                  7, 1, "`bridge_address` applies only to Ethernet tunnels")
        // The segment joins the sites' LANs: one address on two bridges is a conflict on the joined LAN.
        expectOne(twoSites(tunnel: "vxlan", east: site + ["bridge_address = [\"192.168.1.2/24\"]"],
                           west: ["address = \"198.51.100.7\"", "lan = [\"eth1\"]", "bridge_address = [\"192.168.1.2/24\"]"]),
                  10, 1, "sites east and west have the same bridge_address 192.168.1.2")
    }

    @Test func mtuErrors() {
        expectOne(twoSites(seg: ["underlay_mtu = 100"]), 4, 16, "cannot carry the 62 bytes of l2tpv3-udp overhead")
        expectOne(twoSites(seg: ["underlay_mtu = 1280", "mtu = 1500", "fragment = false"]), 5, 7, "`mtu` 1500 does not fit")
        let ok = try? load(twoSites(seg: ["underlay_mtu = 1280", "mtu = 1500", "fragment = true"])).get()
        let side = try? ok?.side(for: "east")
        #expect(side?.tunnelMTU == 1500 && side?.outerFragmentation == true && side?.mssIPv4 == 1178)
        // Without `fragment`, Ethernet kinds fragment (the default) and accept it; L3 kinds do not.
        #expect(errors(twoSites(seg: ["underlay_mtu = 1280", "mtu = 1500"])).isEmpty)
        expectOne(twoSites(tunnel: "gre", seg: ["underlay_mtu = 1280", "mtu = 1500"],
                           east: ["address = \"192.0.2.1\"", "networks = [\"10.1.0.0/16\"]"],
                           west: ["address = \"192.0.2.2\"", "networks = [\"10.2.0.0/16\"]"]),
                  5, 7, "`mtu` 1500 does not fit: a 1280-byte underlay carries at most 1256 through gre (24 bytes of overhead)")
        expectOne(twoSites(west: ["address = \"2001:db8::2\"", "lan = [\"eth1\"]"]).replacingAddress(), 4, 16, "minimum of an IPv6 underlay")
    }

    /// The tunnel device is "isth-" + segment (cut to 15 bytes), so a bridge or a LAN port of that name is refused:
    /// the planner could apply neither (with `bridge = "isth-lab"` it would replace the bridge with the tunnel and
    /// enslave the tunnel to itself on every plan; with `lan = ["isth-lab"]` the port is a conflict or missing).
    @Test func namesCollidingWithTheTunnelDevice() {
        let bridge = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "bridge = \"isth-lab\""])
        let port = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"isth-lab\"]"])
        let long = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "bridge = \"isth-a-very-lon\""])
            .replacing("name = \"lab\"", with: "name = \"a-very-long-segment\"")
        #expect(DesiredState.tunnelName(segment: "a-very-long-segment") == "isth-a-very-lon")
        #expect(errors(bridge).map(\.message) == ["`bridge` \"isth-lab\" is the name of the segment's tunnel device"])
        #expect(errors(port).map(\.message) == ["LAN port \"isth-lab\" is the name of the segment's tunnel device"])
        #expect(errors(long).map(\.message) == ["`bridge` \"isth-a-very-lon\" is the name of the segment's tunnel device"])
    }

    /// `tunnel_device` names the tunnel device instead; the same collisions are refused, and a bad name is named.
    @Test func tunnelDeviceKey() throws {
        let ok = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "tunnel_device = \"vx-home\""])
        #expect(errors(ok).isEmpty)
        let c = try SiteConfig.load(text: ok, file: "f.toml").get()
        #expect(c.sites.first { $0.name == "east" }?.tunnelDevice == "vx-home")
        #expect(c.sites.first { $0.name == "west" }?.tunnelDevice == nil)
        let l3 = twoSites(tunnel: "gre", east: ["address = \"192.0.2.1\"", "networks = [\"10.1.0.0/16\"]", "tunnel_device = \"gre-home\""],
                          west: ["address = \"192.0.2.2\"", "networks = [\"10.2.0.0/16\"]"])
        #expect(errors(l3).isEmpty)
        let long = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "tunnel_device = \"a-name-far-too-long\""])
        #expect(errors(long).map(\.message) == ["`tunnel_device` \"a-name-far-too-long\" is 19 bytes long; Linux allows at most 15 (IFNAMSIZ 16)"])
        let slash = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "tunnel_device = \"a/b\""])
        #expect(errors(slash).map(\.message) == ["`tunnel_device` \"a/b\" contains '/', which interface names cannot"])
        let bridge = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "tunnel_device = \"br-lab\""])
        #expect(errors(bridge).map(\.message) == ["`tunnel_device` \"br-lab\" is also the bridge's name"])
        let port = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "tunnel_device = \"eth1\""])
        #expect(errors(port).map(\.message) == ["LAN port \"eth1\" is the name of the segment's tunnel device"])
        // The default name is free again for a LAN port once the tunnel is named otherwise.
        let freed = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"isth-lab\"]", "tunnel_device = \"vx-home\""])
        #expect(errors(freed).isEmpty)
        let number = twoSites(tunnel: "vxlan", east: ["address = \"192.0.2.1\"", "lan = [\"eth1\"]", "tunnel_device = 5"])
        #expect(errors(number).count == 1)
    }

    @Test func allErrorsInOnePass() {
        let text = """
        [segment]
        name = "lab"
        tunnel = "l2tpv3"
        prot = 1701
        vni = 5

        [sites.east]
        address = "192.0.2.999"
        lan = ["eth1", "eth1"]

        [sites.west]
        lan = ["eth1"]
        """
        let errs = errors(text)
        #expect(errs.count == 5, "\(errs.map(\.description))")
        #expect(errs.map(\.position) == [TOMLPosition(line: 4, column: 1), TOMLPosition(line: 5, column: 1),
                                         TOMLPosition(line: 8, column: 11), TOMLPosition(line: 9, column: 16),
                                         TOMLPosition(line: 11, column: 1)])
        #expect(ConfigErrors(errs).description.split(separator: "\n").filter { $0.hasPrefix("seg.toml:") }.count == 5)
    }

    // MARK: - property tests

    @Test func randomGrammarConfigs() {
        var rng = SplitMix(seed: 0x15_7A_05)
        var accepted = 0, planned = 0
        for _ in 0..<5000 {
            let text = randomConfig(&rng)
            if case .success(let c) = load(text) {
                accepted += 1
                planned += checkInvariants(c, text)
            }
        }
        #expect(accepted > 1500, "only \(accepted) accepted: the grammar should produce valid configs too")
        // At least 2 sites × 2 data planes each, or (vxlan of n > 2 sites, userspace refused) n kernel ones.
        #expect(planned >= 3 * accepted, "only \(planned) desired states planned for \(accepted) configs")
    }

    @Test func mutatedConfigs() {
        var rng = SplitMix(seed: 0xB17E)
        let seeds = [Self.l2tp, twoSites(tunnel: "vxlan"), twoSites(tunnel: "gre", east: ["address = \"192.0.2.1\"", "networks = [\"10.1.0.0/16\"]"],
                                                                     west: ["address = \"192.0.2.2\"", "networks = [\"10.2.0.0/16\"]"])]
        let alphabet = Array("[]{}=\".,:/0123456789abcdeflnst \n#_-".utf8)
        for i in 0..<5000 {
            var b = Array(seeds[i % seeds.count].utf8)
            for _ in 0...rng.next(4) {
                let at = rng.next(b.count)
                switch rng.next(4) {
                case 0: b[at] = rng.next(3) == 0 ? UInt8(rng.next(256)) : alphabet[rng.next(alphabet.count)]
                case 1: b.insert(alphabet[rng.next(alphabet.count)], at: at)
                case 2: if b.count > 1 { b.remove(at: at) }
                default:
                    let len = rng.next(12)
                    let from = rng.next(b.count)
                    b.insert(contentsOf: b[from..<min(b.count, from + len)], at: at)
                }
            }
            let text = String(decoding: b, as: UTF8.self)
            switch load(text) {
            case .success(let c): checkInvariants(c, text)
            case .failure(let e):
                #expect(!e.errors.isEmpty)
                for x in e.errors { #expect(x.position.line >= 1 && x.position.column >= 1) }
            }
        }
    }
}

extension String {
    /// Both sites IPv6, with an underlay below 1280.
    fileprivate func replacingAddress() -> String {
        var lines = split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[5] = "address = \"2001:db8::1\""
        lines.insert("underlay_mtu = 1200", at: 3)
        return lines.joined(separator: "\n")
    }
}

typealias SplitMix = SeededRandom

extension SeededRandom {
    mutating func next(_ n: Int) -> Int { below(n) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

private func randomConfig(_ r: inout SplitMix) -> String {
    let kinds = ["vxlan", "l2tpv3", "gretap", "gre-in-udp", "ipip", "gre", "sit"]
    let dirty = r.chance(50)
    func bad(_ p: Int) -> Bool { dirty && r.chance(p) }
    let kind = !bad(10) ? r.pick(kinds) : r.pick(["vxaln", "l2tp", ""])
    let l3 = ["ipip", "gre", "sit"].contains(kind)
    let v6 = kind != "sit" && r.chance(30)
    var lines = ["[segment]"]
    if !bad(6) { lines.append("name = \(!bad(50) ? "\"lab\"" : r.pick(["\"lab\"", "\"a-very-long-segment-name\"", "\"x\"", "\"bad name\"", "7"]))") }
    if !bad(6) { lines.append("tunnel = \"\(kind)\"") }
    let optional: [(String, [String])] = [
        ("encap", ["\"udp\"", "\"ip\"", "\"tcp\""]), ("dataplane", ["\"auto\"", "\"kernel\"", "\"userspace\"", "\"dpdk\""]),
        ("vni", ["1", "4242", "0", "16777215", "16777216"]), ("port", ["1701", "4789", "0", "\"x\"", "65535"]),
        ("cookies", ["true", "false", "1"]), ("key", ["0", "77", "-1", "4294967295"]),
        ("underlay_mtu", ["1500", "1280", "1200", "100", "68", "9000", "65536"]), ("mtu", ["1400", "1500", "1280", "60", "9000"]),
        ("fragment", ["true", "false"]), ("prot", ["1"]),
    ]
    for (k, vals) in optional where r.chance(12) {
        let applies = switch k {
        case "encap", "cookies": kind == "l2tpv3"
        case "vni": kind == "vxlan"
        case "port": ["vxlan", "l2tpv3", "gre-in-udp"].contains(kind) && !lines.contains("encap = \"ip\"")
        case "key": ["gretap", "gre-in-udp", "gre"].contains(kind)
        case "prot": false
        default: true
        }
        if applies || bad(100) { lines.append("\(k) = \(bad(100) ? r.pick(vals) : vals[0])") }
    }
    if r.chance(20) {
        lines += ["[filters]"]
        for (k, vals) in [("dhcp", ["\"block\"", "\"allow\"", "\"drop\""]), ("router_advertisements", ["\"block\"", "\"allow\""]),
                          ("mss_clamp", ["true", "false", "\"yes\""]), ("dhpc", ["\"allow\""])] where r.chance(40) {
            lines.append("\(k) = \(bad(60) ? r.pick(vals) : vals[0])")
        }
    }
    let count = dirty ? r.pick([2, 2, 2, 2, 3, 3, 4, 1, 0]) : (kind == "vxlan" ? r.pick([2, 3, 4]) : 2)
    let names = ["a", "b", "c", "d", "east", "west"]
    for i in 0..<count {
        lines.append("[sites.\(!bad(6) ? names[i] : r.pick(names))]")
        if !bad(6) {
            let addr = v6 ? "2001:db8::\(!bad(20) ? i + 1 : 1)" : "192.0.2.\(!bad(20) ? i + 1 : 1)"
            lines.append("address = \(!bad(10) ? "\"\(addr)\"" : r.pick(["\"192.0.2.1/24\"", "\"::\"", "\"2001:db8::9\"", "\"10.0.0.300\"", "5"]))")
        }
        if !l3 || bad(10) {
            if !bad(10) { lines.append("lan = \(!bad(40) ? "[\"eth1\"]" : r.pick(["[\"eth1\"]", "[\"eth1\", \"eth2\"]", "[]", "[\"eth1\", \"eth1\"]", "[\"this-is-too-long0\"]", "\"eth1\""]))") }
            if r.chance(20) { lines.append("bridge = \(!bad(50) ? "\"br0\"" : r.pick(["\"br0\"", "\"br:0\"", "\"br-x\""]))") }
        }
        if l3 || bad(10) {
            let nets = kind == "sit" || (kind == "gre" && r.chance(30))
                ? ["[\"2001:db8:\(i + 1)::/48\"]", "[\"2001:db8::/32\"]", "[]"]
                : ["[\"10.\(i + 1).0.0/16\"]", "[\"10.0.0.0/8\"]", "[\"10.\(i + 1).0.1/16\"]", "[]"]
            if !bad(10) { lines.append("networks = \(!bad(50) ? nets[0] : r.pick(nets))") }
            if r.chance(50) { lines.append("tunnel_address = \(!bad(50) ? (nets[0].contains(":") ? "\"fd00::\(i + 1)/64\"" : "\"10.255.0.\(i + 1)/24\"") : r.pick(["\"10.255.0.\(i + 1)/24\"", "\"fd00::\(i + 1)/64\"", "\"10.255.0.0/24\"", "\"x\""]))") }
        }
        if r.chance(20) { lines.append("hostname = \(!bad(50) ? "\"gw-\(i)\"" : r.pick(["\"gw-\(i)\"", "\"gw-0\"", "\"\""]))") }
        if bad(8) { lines.append("adress = \"192.0.2.1\"") }
    }
    return lines.joined(separator: "\n") + "\n"
}

/// Returns how many desired states (site × data plane) were planned and applied.
@discardableResult
private func checkInvariants(_ c: SegmentConfig, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
    let ctx = Comment(rawValue: text)
    #expect(c.sites.count >= 2, ctx, sourceLocation: sourceLocation)
    if c.kind.isPointToPoint { #expect(c.sites.count == 2, ctx, sourceLocation: sourceLocation) }
    #expect(Set(c.sites.map(\.address)).count == c.sites.count, ctx, sourceLocation: sourceLocation)
    #expect(Set(c.sites.map(\.address.isV6)).count == 1, ctx, sourceLocation: sourceLocation)
    #expect(Set(c.siteNames).count == c.sites.count && c.siteNames == c.siteNames.sorted(), ctx, sourceLocation: sourceLocation)
    #expect(c.tunnelMTU >= 68 && c.mtuPlan.tunnelMTU >= 68, ctx, sourceLocation: sourceLocation)
    // Without `fragment`, the default applies: Ethernet kinds fragment, L3 kinds do not.
    if !text.contains("fragment") { #expect(c.fragment == c.kind.isEthernet, ctx, sourceLocation: sourceLocation) }
    // An explicit mtu is used as given; without fragmentation it must fit the underlay.
    if let m = c.mtu { #expect(c.tunnelMTU == m, ctx, sourceLocation: sourceLocation) }
    if !c.fragment { #expect(c.tunnelMTU <= c.mtuPlan.tunnelMTU, ctx, sourceLocation: sourceLocation) }
    if c.mtu == nil {
        // Ethernet kinds that fragment carry the LAN's full 1500 (or more, when the underlay carries more);
        // otherwise the device gets what crosses unfragmented.
        let expected = c.kind.isEthernet && c.fragment ? max(1500, c.mtuPlan.tunnelMTU) : c.mtuPlan.tunnelMTU
        #expect(c.tunnelMTU == expected, ctx, sourceLocation: sourceLocation)
    }
    if c.kind == .vxlan { #expect(c.vni.map { (1...16_777_215).contains($0) } == true, ctx, sourceLocation: sourceLocation) }
    if c.kind == .sit { #expect(!c.ipv6Underlay, ctx, sourceLocation: sourceLocation) }
    var sides: [String: SiteSide] = [:]
    for s in c.sites {
        guard let side = try? c.side(for: s.name) else {
            Issue.record("side(for: \(s.name)) failed", sourceLocation: sourceLocation); return 0
        }
        sides[s.name] = side
        #expect(side.peers.count == c.sites.count - 1 && !side.peers.contains { $0.address == side.localAddress }, ctx, sourceLocation: sourceLocation)
        if c.kind.isEthernet {
            #expect(side.bridge.map { InterfaceName.problem($0) == nil } == true, ctx, sourceLocation: sourceLocation)
            #expect(Set(side.lan).count == side.lan.count && side.lan.allSatisfy { InterfaceName.problem($0) == nil && $0 != side.bridge },
                    ctx, sourceLocation: sourceLocation)
        } else {
            #expect(side.bridge == nil && side.lan.isEmpty, ctx, sourceLocation: sourceLocation)
            #expect(c.sites.allSatisfy { $0.networks.allSatisfy(\.isNetwork) }, ctx, sourceLocation: sourceLocation)
        }
        #expect(side.mssIPv4.map { $0 >= 28 } ?? true, ctx, sourceLocation: sourceLocation)
        #expect(side.tunnelMTU == c.tunnelMTU && side.mtuPlan == c.mtuPlan, ctx, sourceLocation: sourceLocation)
        // The clamp is to what crosses unfragmented, whatever the device's MTU.
        #expect(side.mssIPv4 == (c.filters.mssClamp ? c.mtuPlan.tunnelMTU - 40 : nil), ctx, sourceLocation: sourceLocation)
        #expect(side.mssIPv6 == (c.filters.mssClamp ? max(0, c.mtuPlan.tunnelMTU - 60) : nil), ctx, sourceLocation: sourceLocation)
        // A device MTU above what the underlay carries means the outer packets are fragmented; for Ethernet kinds
        // with the default MTU that is exactly when fragmentation is on.
        if side.tunnelMTU > side.mtuPlan.tunnelMTU { #expect(side.outerFragmentation, ctx, sourceLocation: sourceLocation) }
        if c.kind.isEthernet && c.fragment && c.mtu == nil {
            #expect(side.outerFragmentation == (side.tunnelMTU > side.mtuPlan.tunnelMTU), ctx, sourceLocation: sourceLocation)
        }
    }
    let all = c.sites.flatMap { s in s.networks.map { (s.name, $0) } }
    for (i, x) in all.enumerated() { for y in all[..<i] { #expect(!x.1.overlaps(y.1), ctx, sourceLocation: sourceLocation) } }
    if c.kind.isPointToPoint, let a = sides[c.siteNames[0]], let b = sides[c.siteNames[1]] {
        #expect(a.peers[0].name == b.site && b.peers[0].name == a.site, ctx, sourceLocation: sourceLocation)
        #expect(a.peerTunnelID == b.tunnelID && b.peerTunnelID == a.tunnelID, ctx, sourceLocation: sourceLocation)
        #expect(a.peerSessionID == b.sessionID && b.peerSessionID == a.sessionID, ctx, sourceLocation: sourceLocation)
        #expect(a.cookie == b.peerCookie && b.cookie == a.peerCookie, ctx, sourceLocation: sourceLocation)
        #expect(a.localPort == b.peerPort && a.greKey == b.greKey && a.tunnelMTU == b.tunnelMTU, ctx, sourceLocation: sourceLocation)
        if c.kind == .l2tpv3 {
            #expect(a.tunnelID != nil && a.tunnelID != b.tunnelID && a.sessionID != b.sessionID, ctx, sourceLocation: sourceLocation)
            if c.cookies { #expect(a.cookie?.count == 8 && a.cookie != b.cookie, ctx, sourceLocation: sourceLocation) }
        }
    }
    return checkPlans(c, sides, ctx, sourceLocation: sourceLocation)
}

/// An accepted config is one the planner can apply: for every site and both data planes, the desired state plans on
/// a fresh host that has the site's LAN ports, applying the plan leaves nothing to do, what the config asks for is
/// there, and nothing foreign is touched. The only refusal allowed is the userspace data plane's for a vxlan of
/// more than two sites.
private func checkPlans(_ c: SegmentConfig, _ sides: [String: SiteSide], _ ctx: Comment, sourceLocation: SourceLocation) -> Int {
    let mine = Planner.alias(c.name)
    var planned = 0
    for site in c.siteNames {
        guard let side = sides[site] else { continue }
        for plane in [ResolvedDataplane.kernel, .userspace] {
            let at = Comment(rawValue: "site \(site), \(plane) data plane:\n" + ctx.rawValue)
            let refuses = plane == .userspace && c.kind == .vxlan && c.sites.count > 2
            let d: DesiredState
            do {
                d = try DesiredState(side: side, dataplane: plane)
            } catch {
                #expect(refuses, "DesiredState refused: \(error)\n\(at.rawValue)", sourceLocation: sourceLocation)
                if refuses {
                    #expect(error.message == "segment \(c.name): the userspace data plane sends to one known peer, but vxlan here has \(c.sites.count - 1)",
                            at, sourceLocation: sourceLocation)
                    #expect(error.hint == "use dataplane = \"kernel\" (or \"auto\") for a vxlan segment of more than two sites", at,
                            sourceLocation: sourceLocation)
                }
                continue
            }
            #expect(!refuses, "the userspace data plane accepted a vxlan of \(c.sites.count) sites\n\(at.rawValue)", sourceLocation: sourceLocation)
            // A host before Isthmus: loopback, its uplink, the LAN ports the site names (up, not enslaved), and another
            // segment's tunnel that must stay as it is.
            var host = ObservedState(interfaces: [
                ObservedInterface(name: "lo", kind: "", mtu: 65536, up: true),
                ObservedInterface(name: "wan0", kind: "", mtu: 1500, up: true, addresses: ["\(side.localAddress)/24"]),
            ])
            for p in side.lan where host[p] == nil { host[p] = ObservedInterface(name: p, kind: "", mtu: 1500, up: true) }
            let foreign = "isth-zz-other"
            if !d.owned.contains(where: { $0.name == foreign }) && host[foreign] == nil {
                host[foreign] = ObservedInterface(name: foreign, kind: "gretap", alias: "isthmus:zz-other", mtu: 1462, up: true,
                                                  parameters: ["local": "\(side.localAddress)", "remote": "203.0.113.1"])
            }
            let changes: [Change]
            do {
                changes = try Planner.plan(desired: d, observed: host, segment: c.name)
            } catch {
                Issue.record("the planner cannot apply an accepted config: \(error)\n\(at.rawValue)", sourceLocation: sourceLocation)
                continue
            }
            let after = Planner.apply(changes, to: host)
            let again = Result { () throws(PlanError) in try Planner.plan(desired: d, observed: after, segment: c.name) }
            #expect(again.map(\.isEmpty) == .success(true), "plan:\n\(Planner.render(changes))\nagain: \(again)\n\(at.rawValue)",
                    sourceLocation: sourceLocation)
            for s in d.owned {
                let o = after[s.name]
                #expect(o?.alias == mine && o?.up == true && o?.mtu == s.mtu && o?.mtu == side.tunnelMTU && o?.master == s.master,
                        "\(s.name): \(String(describing: o))\n\(at.rawValue)", sourceLocation: sourceLocation)
            }
            #expect(after.userspaceTunnels == (d.tunnel.isUserspace ? [d.tunnel.name: d.tunnel.parameterWords] : [:]), at,
                    sourceLocation: sourceLocation)
            for p in d.ports { #expect(after[p.name]?.master == d.bridge?.name, at, sourceLocation: sourceLocation) }
            #expect(after.interfaces.count == host.interfaces.count + d.owned.count, at, sourceLocation: sourceLocation)
            for name in ["lo", "wan0", foreign] where host[name] != nil && !side.lan.contains(name) {
                #expect(after[name] == host[name], "\(name) touched\n\(at.rawValue)", sourceLocation: sourceLocation)
            }
            planned += 1
        }
    }
    return planned
}

@Suite("Site config: control = \"l2tpv3\"")
struct SiteControlConfigTests {
    @Test("parses; the first site by name initiates, with the secret")
    func parses() throws {
        let c = try valid(twoSites(seg: ["control = \"l2tpv3\"", "secret = \"k\""]))
        #expect(c.control == .l2tpv3 && c.secret == "k")
        let east = try c.side(for: "east"), west = try c.side(for: "west")
        #expect(east.control && east.initiator && east.secret == "k")
        #expect(west.control && !west.initiator)
        #expect(try valid(twoSites()).control == .none)
    }

    @Test("bad uses name the key and the fix")
    func errors() {
        expectOne(twoSites(tunnel: "vxlan", seg: ["control = \"l2tpv3\""]), 4, 1, "`control` applies only to tunnel = \"l2tpv3\"")
        expectOne(twoSites(seg: ["encap = \"ip\"", "control = \"l2tpv3\""]), 5, 1, "runs over UDP only")
        expectOne(twoSites(seg: ["secret = \"k\""]), 4, 1, "`secret` applies only with control")
        expectOne(twoSites(seg: ["control = \"l2tpv3\"", "secret = \"\""]), 5, 10, "`secret` is empty")
        expectOne(twoSites(seg: ["control = \"pptp\""]), 4, 11, "`control` must be one of")
    }
}
