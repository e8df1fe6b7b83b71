import Testing
@testable import L2TPAgent

@Suite("PPP calls: address pool")
struct AddressPoolTests {
    @Test func rangesAndPrefixes() throws {
        #expect(AddressPool("10.0.0.5-10.0.0.9")?.size == 5)
        #expect(AddressPool("10.0.0.5")?.size == 1)
        #expect(AddressPool("10.0.0.0/24")?.first == IPv4("10.0.0.1"))
        #expect(AddressPool("10.0.0.0/24")?.last == IPv4("10.0.0.254"))
        #expect(AddressPool("10.0.0.7/31")?.size == 2)
        #expect(AddressPool("10.0.0.7/32")?.size == 1)
        #expect(AddressPool("10.0.0.9-10.0.0.5") == nil)
        #expect(AddressPool("10.0.0.256-10.0.1.1") == nil)
        #expect(AddressPool("10.0.0.0/7") == nil)
        #expect(AddressPool("pool") == nil)
        #expect(AddressPool("10.0.0.1 - 10.0.0.3")?.size == 3)
    }

    @Test func lowestFreeFirstAndReleased() throws {
        var p = try #require(AddressPool("10.9.0.1-10.9.0.4"))
        let local: Set<IPv4> = [IPv4("10.9.0.1")!]
        #expect(p.allocate(excluding: local) == IPv4("10.9.0.2"))
        #expect(p.allocate(excluding: local) == IPv4("10.9.0.3"))
        #expect(p.allocate(excluding: local) == IPv4("10.9.0.4"))
        #expect(p.allocate(excluding: local) == nil)
        #expect(p.available == 1)   // only the excluded local address
        p.release(IPv4("10.9.0.3")!)
        #expect(p.allocate(excluding: local) == IPv4("10.9.0.3"))
    }

    @Test func twentyCallsGetDistinctAddresses() throws {
        var p = try #require(AddressPool("10.9.0.10-10.9.0.60"))
        let got = (0..<20).compactMap { _ in p.allocate() }
        #expect(Set(got).count == 20)
        #expect(p.available == 31)
    }

    @Test func ipv4Text() {
        #expect(IPv4("192.0.2.1")?.description == "192.0.2.1")
        for bad in ["1.2.3", "1.2.3.4.5", "1.2.3.-1", "01234.1.1.1", "a.b.c.d", "1..2.3", " 1.2.3.4"] { #expect(IPv4(bad) == nil, "\(bad)") }
    }
}

@Suite("PPP calls: pppd's command line")
struct PPPDInvocationTests {
    static func lnsConfig() -> PPPConfig {
        var c = PPPConfig()
        c.auth = .chap
        c.localAddress = IPv4("10.9.0.1")
        c.dns = [IPv4("10.9.0.53")!]
        c.mtu = 1400
        c.options = ["debug"]
        return c
    }

    @Test func lns() {
        let inv = PPPDInvocation(lnsMode: true, tunnelID: 100, sessionID: 7, interface: "ppp3",
                                 peerAddress: IPv4("10.9.0.11"), callName: "lns:call")
        let a = inv.arguments(Self.lnsConfig(), hostName: "lns-1")
        #expect(Array(a.prefix(5)) == ["plugin", "pppol2tp.so", "pppol2tp", "3", "pppol2tp_lns_mode"])
        let words = a.joined(separator: " ")
        for w in ["pppol2tp_tunnel_id 100 pppol2tp_session_id 7", "nodetach", "ifname ppp3", "auth require-chap",
                  "name lns-1", "10.9.0.1:10.9.0.11", "ms-dns 10.9.0.53", "mtu 1400", "lcp-echo-interval 10 lcp-echo-failure 3"] {
            #expect(words.contains(w), "\(w) in \(words)")
        }
        #expect(a.last == "debug")
        #expect(!a.contains("noauth") && !a.contains("pppol2tp_send_seq"))
    }

    @Test func lac() {
        var c = PPPConfig()
        c.user = "alice"; c.password = "secret"; c.sequencing = true; c.reorderTimeout = 100; c.lcpEchoInterval = 0
        let a = PPPDInvocation(lnsMode: false, tunnelID: 1, sessionID: 2, interface: "ppp0", callName: "lac:call 0").arguments(c, hostName: "h")
        let words = a.joined(separator: " ")
        #expect(!a.contains("pppol2tp_lns_mode"))
        for w in ["pppol2tp_send_seq pppol2tp_recv_seq", "pppol2tp_reorderto 100", "noauth noipdefault ipcp-accept-local ipcp-accept-remote",
                  "user alice"] {
            #expect(words.contains(w), "\(w) in \(words)")
        }
        #expect(!a.contains("secret"), "the password stays off the command line")
        #expect(!a.contains("lcp-echo-interval"))
    }

    @Test func authChoices() {
        for (auth, words) in [(PPPConfig.Auth.none, ["noauth"]), (.pap, ["auth", "require-pap"]), (.mschapV2, ["auth", "require-mschap-v2"])] {
            var c = PPPConfig(); c.auth = auth
            let a = PPPDInvocation(lnsMode: true, tunnelID: 1, sessionID: 2, interface: "ppp0", callName: "x").arguments(c, hostName: "h")
            #expect(a.joined(separator: " ").contains(words.joined(separator: " ")))
        }
    }

    @Test func secretsFileKeepsThePasswordQuoted() {
        var c = PPPConfig(); c.user = "al ice"; c.password = "p\"w\\"
        let text = pppSecretsText(c, extra: "bob * bobpw *")
        #expect(text?.contains("\"al ice\" * \"p\\\"w\\\\\" *\n") == true)
        #expect(text?.hasSuffix("bob * bobpw *\n") == true)
        #expect(pppSecretsText(PPPConfig(), extra: nil) == nil)
    }

    @Test func exitReasons() {
        #expect(PPPDInvocation.exitReason(19) == "authentication to the peer failed")
        #expect(PPPDInvocation.exitReason(11) == "the peer failed to authenticate itself")
        #expect(PPPDInvocation.exitReason(99) == "pppd exited with status 99")
    }
}

@Suite("PPP calls: RADIUS through pppd's radius plugin")
struct RadiusPPPTests {
    static func config() -> PPPConfig {
        var c = PPPConfig()
        c.auth = .radius
        c.localAddress = IPv4("10.9.0.1")
        var r = RadiusConfig(servers: [.init(address: IPv4("10.0.0.5")!), .init(address: IPv4("10.0.0.6")!, port: 18120)], secret: "s3cret")
        r.accountingPort = 18130
        c.radius = r
        return c
    }

    @Test func lnsLoadsThePluginWithTheAgentsFileAndRequiresWhatRadiusChecks() {
        var inv = PPPDInvocation(lnsMode: true, tunnelID: 1, sessionID: 2, interface: "ppp0", peerAddress: IPv4("10.9.0.10"), callName: "x")
        inv.radiusConfigFile = "/run/isthmus/l2tp/lns.radius/radiusclient.conf"
        let words = inv.arguments(Self.config(), hostName: "lns").joined(separator: " ")
        #expect(words.contains("auth require-chap require-mschap-v2 require-pap plugin radius.so radius-config-file /run/isthmus/l2tp/lns.radius/radiusclient.conf"), "\(words)")
        // The pool's address stays on the command line: pppd's fallback when RADIUS gives none.
        #expect(words.contains("10.9.0.1:10.9.0.10"))
        #expect(!words.contains("s3cret"), "the RADIUS secret stays off the command line")
        var c = Self.config(); c.radius?.methods = [.mschapV2]
        let only = inv.arguments(c, hostName: "lns")
        #expect(only.contains("require-mschap-v2") && !only.contains("require-chap") && !only.contains("require-pap"))
    }

    @Test func lacSideNeverLoadsIt() {
        var inv = PPPDInvocation(lnsMode: false, tunnelID: 1, sessionID: 2, interface: "ppp0", callName: "x")
        inv.radiusConfigFile = "/run/isthmus/l2tp/lns.radius/radiusclient.conf"
        let a = inv.arguments(Self.config(), hostName: "lns")
        #expect(!a.contains("radius.so") && a.contains("noauth"))
    }

    @Test func radiusclientFiles() {
        let f = RadiusClientFiles(Self.config().radius!, directory: "/run/isthmus/l2tp/lns.radius", hostName: "lns-1")
        for line in ["authserver 10.0.0.5:1812,10.0.0.6:18120", "acctserver 10.0.0.5:18130,10.0.0.6:18130",
                     "servers /run/isthmus/l2tp/lns.radius/servers", "dictionary /run/isthmus/l2tp/lns.radius/dictionary",
                     "seqfile /run/isthmus/l2tp/lns.radius/seq", "mapfile /run/isthmus/l2tp/lns.radius/port-id-map",
                     "radius_timeout 3", "radius_retries 3", "nas_identifier lns-1", "nologin /run/isthmus/l2tp/lns.radius/nologin",
                     "login_tries 4", "login_timeout 60"] {
            #expect(f.config.split(separator: "\n").contains(Substring(line)), "\(line) in \(f.config)")
        }
        #expect(f.servers.hasSuffix("10.0.0.5 s3cret\n10.0.0.6 s3cret\n"))
        #expect(!f.config.contains("s3cret"))
        // Every attribute the plugin sends or reads, with the numbers of RFC 2865/2866/2548.
        for line in ["ATTRIBUTE Framed-IP-Address 8 ipaddr", "ATTRIBUTE Acct-Input-Octets 42 integer", "ATTRIBUTE Acct-Session-Time 46 integer",
                     "ATTRIBUTE CHAP-Challenge 60 string", "ATTRIBUTE Acct-Interim-Interval 85 integer", "VENDOR Microsoft 311",
                     "ATTRIBUTE MS-CHAP2-Response 25 string Microsoft", "ATTRIBUTE MS-CHAP2-Success 26 string Microsoft"] {
            #expect(f.dictionary.contains(line + "\n"), "\(line)")
        }
        // The same address twice (two ports): one servers line, as radiusclient looks servers up by address.
        let twice = RadiusClientFiles(RadiusConfig(servers: [.init(address: IPv4("10.0.0.5")!), .init(address: IPv4("10.0.0.5")!, port: 18120)], secret: "x"),
                                      directory: "/d", hostName: "h")
        #expect(twice.servers.components(separatedBy: "10.0.0.5 x").count == 2)
        #expect(twice.config.contains("nas_identifier h--\n"), "a host name shorter than 3 bytes is padded")
    }

    @Test func authFailureWithRadiusSaysWhereToLook() {
        let status: Int32 = 11 << 8
        #expect(PPPDInvocation.waitReason(status).reason == "the peer failed to authenticate itself")
        #expect(PPPDInvocation.waitReason(status, radius: true).reason.contains("RADIUS server rejected it or none answered"))
        #expect(PPPDInvocation.waitReason(0, radius: true).reason == "pppd exited (the link was terminated)")
    }

    @Test func poolReserveIsOnlyForFreeAddressesInRange() throws {
        var p = try #require(AddressPool("10.9.0.10-10.9.0.12"))
        let first = p.reserve(IPv4("10.9.0.11")!)
        let again = p.reserve(IPv4("10.9.0.11")!)
        let outside = p.reserve(IPv4("10.9.1.1")!)
        #expect(first && !again && !outside, "free in range: yes; already in use: no; outside the range: no")
        let a = p.allocate(), b = p.allocate(), c = p.allocate()
        #expect(a == IPv4("10.9.0.10") && b == IPv4("10.9.0.12") && c == nil)
        p.release(IPv4("10.9.0.11")!)
        let d = p.allocate()
        #expect(d == IPv4("10.9.0.11"))
    }
}
