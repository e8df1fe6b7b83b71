import Foundation
import Testing
@testable import L2TPAgent
import L2TPWire
import Config
import Addresses

// MARK: - helpers

/// The repository root, from this file's path (Tests/L2TPAgentTests/ConfigReaderTests.swift).
private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

private func read(_ text: String, file: String = "agent.toml") throws(ConfigErrors) -> L2TPAgentConfig {
    try L2TPConfigReader.read(text, file: file, defaultName: "agent", defaultHostName: "host-1")
}

private func errors(_ text: String) -> [ConfigError] {
    do { _ = try read(text); return [] } catch { return error.errors }
}

private func valid(_ text: String, file: String = "agent.toml", sourceLocation: SourceLocation = #_sourceLocation) throws -> L2TPAgentConfig {
    do { return try read(text, file: file) } catch {
        Issue.record("unexpected errors:\n\(error)", sourceLocation: sourceLocation)
        throw error
    }
}

/// One expected error: position and a fragment of the message (and optionally of the hint).
struct Expected: Sendable, CustomStringConvertible {
    var line: Int
    var column: Int
    var message: String
    var hint: String?
    init(_ line: Int, _ column: Int, _ message: String, hint: String? = nil) {
        self.line = line; self.column = column; self.message = message; self.hint = hint
    }
    var description: String { "\(line):\(column) \(message)" }
}

/// `text` gives exactly the errors `expected`, in order, each in agent.toml with a hint.
private func expectErrors(_ text: String, _ expected: [Expected], sourceLocation: SourceLocation = #_sourceLocation) {
    let errs = errors(text)
    #expect(errs.count == expected.count, "\(errs.map(\.description))", sourceLocation: sourceLocation)
    for (e, x) in zip(errs, expected) {
        #expect(e.file == "agent.toml", "\(e)", sourceLocation: sourceLocation)
        #expect(e.position == TOMLPosition(line: x.line, column: x.column), "expected \(x), got \(e)", sourceLocation: sourceLocation)
        #expect(e.message.contains(x.message), "expected \(x), got \(e)", sourceLocation: sourceLocation)
        if let h = x.hint { #expect(e.hint.contains(h), "expected hint with \(h), got \(e)", sourceLocation: sourceLocation) }
        #expect(!e.hint.isEmpty, "\(e)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix("agent.toml:\(x.line):\(x.column): \(e.message)\n  hint: "), sourceLocation: sourceLocation)
    }
}

private func expectError(_ text: String, _ line: Int, _ column: Int, _ message: String, hint: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    expectErrors(text, [Expected(line, column, message, hint: hint)], sourceLocation: sourceLocation)
}

/// The ```toml block of docs/L2TP.md whose first line is `# NAME...`.
private func docExample(_ name: String) throws -> String {
    let doc = try String(contentsOfFile: repoRoot + "/docs/L2TP.md", encoding: .utf8)
    let blocks = doc.components(separatedBy: "```toml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
    let found = blocks.filter { $0.hasPrefix("# \(name)") }
    #expect(found.count == 1, "docs/L2TP.md: \(found.count) ```toml blocks start with # \(name)")
    return try #require(found.first)
}

private typealias Endpoint = L2TPAgentConfig.Endpoint

// MARK: - the documented examples

@Suite("L2TP config reader: the examples in docs/L2TP.md")
struct ConfigReaderExampleTests {
    @Test func l2tpv2LNS() throws {
        let c = try L2TPConfigReader.read(try docExample("lns.toml"), file: "lns.toml", defaultName: "lns", defaultHostName: "box")
        var x = L2TPAgentConfig(name: "lns", version: .v2, hostName: "lns")
        x.listen = [Endpoint(address: "192.0.2.1", port: 1701)]
        x.secret = "s3cret"
        x.helloInterval = 30
        var ppp = PPPConfig()
        ppp.auth = .chap
        ppp.localAddress = IPv4("10.9.0.1")
        ppp.pool = AddressPool("10.9.0.10-10.9.0.250")
        ppp.dns = [IPv4("10.9.0.1")!]
        ppp.secrets = "/etc/isthmus/ppp-secrets"
        x.ppp = ppp
        #expect(c == x)
        #expect(c.ppp?.pool?.size == 241)
        #expect(c.challenge && !c.hideAVPs && c.tunnels.isEmpty && c.calls.isEmpty)
        #expect(c.resolvedStatusPath == "/run/isthmus/l2tp/lns.json")
    }

    @Test func l2tpv2LAC() throws {
        let c = try L2TPConfigReader.read(try docExample("lac.toml"), file: "lac.toml", defaultName: "lac", defaultHostName: "box")
        var x = L2TPAgentConfig(name: "lac", version: .v2, hostName: "lac-1")
        x.secret = "s3cret"
        x.hideAVPs = true
        var t = L2TPAgentConfig.Tunnel(name: "to-lns", peer: Endpoint(address: "192.0.2.1"), local: Endpoint(address: "198.51.100.7"))
        t.redialMax = 30
        x.tunnels = [t]
        x.calls = [L2TPAgentConfig.Call(tunnel: "to-lns", number: "5551234")]
        var ppp = PPPConfig()
        ppp.user = "lac-1"
        ppp.password = "its password"
        ppp.options = ["defaultroute"]
        x.ppp = ppp
        #expect(c == x)
        #expect(c.listen.isEmpty && c.tunnels[0].redial)
    }

    @Test func l2tpv3LCCEs() throws {
        let a = try L2TPConfigReader.read(try docExample("lcce-a.toml"), file: "lcce-a.toml", defaultName: "lcce-a", defaultHostName: "box")
        var xa = L2TPAgentConfig(name: "lcce-a", version: .v3, hostName: "site-a")
        xa.routerID = 0xc000_0201
        xa.secret = "s3cret"
        xa.digest = .hmacSHA1
        xa.retransmitInitial = 0.5; xa.retransmitMax = 4; xa.retransmitCount = 8
        xa.tunnels = [L2TPAgentConfig.Tunnel(name: "to-b", peer: Endpoint(address: "198.51.100.7"), local: Endpoint(address: "192.0.2.1"))]
        var pw = L2TPAgentConfig.Pseudowire(name: "office-lan", interface: "l2tpeth0", tunnel: "to-b")
        pw.cookie = 8; pw.sublayer = true; pw.mtu = 1446; pw.bridge = "br0"
        xa.pseudowires = [pw]
        #expect(a == xa)
        #expect(a.dataPlane == .auto && a.listen.isEmpty)

        let b = try L2TPConfigReader.read(try docExample("lcce-b.toml"), file: "lcce-b.toml", defaultName: "lcce-b", defaultHostName: "box")
        var xb = L2TPAgentConfig(name: "lcce-b", version: .v3, hostName: "site-b")
        xb.listen = [Endpoint(address: "198.51.100.7")]
        xb.secret = "s3cret"
        xb.digest = .hmacSHA1
        xb.dataPlane = .kernel
        pw.tunnel = nil
        xb.pseudowires = [pw]
        #expect(b == xb)
        #expect(b.routerID == nil && b.tunnels.isEmpty)
        // The two ends agree on what must match.
        #expect(a.pseudowires[0].name == b.pseudowires[0].name && a.pseudowires[0].sublayer == b.pseudowires[0].sublayer)
        #expect(a.tunnels[0].peer == b.listen[0])
    }

    @Test("the Errors section of docs/L2TP.md is what the reader says")
    func documentedErrors() throws {
        let doc = try String(contentsOfFile: repoRoot + "/docs/L2TP.md", encoding: .utf8)
        let errs: [ConfigError]
        let text = try docExample("broken.toml")
        do { _ = try L2TPConfigReader.read(text, file: "broken.toml", defaultName: "broken", defaultHostName: "h"); errs = [] }
        catch { errs = error.errors }
        #expect(errs.map(\.position) == [TOMLPosition(line: 4, column: 1), TOMLPosition(line: 5, column: 1),
                                         TOMLPosition(line: 9, column: 8), TOMLPosition(line: 12, column: 10)], "\(errs)")
        let printed = errs.map(\.description).joined(separator: "\n").split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        #expect(doc.contains(printed + "\n"), "docs/L2TP.md should show:\n\(printed)")
    }
}

// MARK: - defaults, forms and helpers

@Suite("L2TP config reader: values")
struct ConfigReaderValueTests {
    @Test func minimalDefaults() throws {
        let c = try valid("""
            [l2tp]
            version = 3
            listen = "0.0.0.0"
            """)
        var x = L2TPAgentConfig(name: "agent", version: .v3, hostName: "host-1")
        x.listen = [Endpoint(address: "0.0.0.0")]
        #expect(c == x)
        #expect(c.helloInterval == 60 && c.retransmitInitial == 1 && c.retransmitMax == 8 && c.retransmitCount == 5)
        #expect(c.window == 8 && c.dataPlane == .auto && c.digest == .hmacMD5 && c.secret == nil && c.statusPath == nil)
    }

    @Test func everyTopLevelKey() throws {
        let c = try valid("""
            [l2tp]
            name = "edge.1"
            version = 3
            host_name = "site-a"
            router_id = 167772161
            listen = ["10.0.0.1", "0.0.0.0:1702", "[FD00::0001]:1701", "fd00::2"]
            secret = "k"
            digest = "md5"
            hello = 0.5
            retransmit = { count = 20 }
            window = 65535
            data_plane = "none"
            status = "/tmp/x.json"
            """)
        #expect(c.name == "edge.1" && c.hostName == "site-a" && c.routerID == 0x0a00_0001)
        #expect(c.listen == [Endpoint(address: "10.0.0.1"), Endpoint(address: "0.0.0.0", port: 1702),
                             Endpoint(address: "fd00::1"), Endpoint(address: "fd00::2")])
        #expect(c.listen[2].description == "[fd00::1]:1701")
        #expect(c.helloInterval == 0.5 && c.retransmitCount == 20 && c.retransmitMax == 8 && c.window == 65535)
        #expect(c.dataPlane == L2TPAgentConfig.DataPlane.none && c.resolvedStatusPath == "/tmp/x.json")
    }

    @Test func retransmitAsATable() throws {
        let c = try valid("""
            [l2tp]
            version = 2
            listen = "10.0.0.1"
            challenge = false

            [l2tp.retransmit]
            initial = 2
            max = 2
            """)
        #expect(c.retransmitInitial == 2 && c.retransmitMax == 2 && !c.challenge)
    }

    @Test func endpointParser() {
        func ep(_ s: String) -> Endpoint? { try? L2TPConfigReader.endpoint(s).get() }
        #expect(ep("10.0.0.1") == Endpoint(address: "10.0.0.1", port: 1701))
        #expect(ep("10.0.0.1:99") == Endpoint(address: "10.0.0.1", port: 99))
        #expect(ep("[::]:1701") == Endpoint(address: "::", port: 1701))
        #expect(ep("[fd00::1]") == Endpoint(address: "fd00::1", port: 1701))
        #expect(ep("fd00::1:1701") == Endpoint(address: "fd00::1:1701", port: 1701))   // a bare IPv6 address
        let bad: [(String, L2TPConfigReader.EndpointProblem)] = [
            ("example.net", .notAnAddress), ("example.net:1701", .notAnAddress), ("10.0.0.1:0", .badPort),
            ("10.0.0.1:65536", .badPort), ("10.0.0.1:", .badPort), ("[10.0.0.1]:1701", .notIPv6InBrackets),
            ("[fd00::1", .notIPv6InBrackets), ("[fd00::1]1701", .badPort), ("fd00::g:1701", .v6PortWithoutBrackets),
            ("", .notAnAddress), ("010.0.0.1", .notAnAddress),
        ]
        for (s, p) in bad {
            #expect(throws: p, "\(s)") { try L2TPConfigReader.endpoint(s).get() }
        }
    }

    @Test func baseName() {
        #expect(L2TPConfigReader.baseName("/etc/isthmus/lns.toml") == "lns")
        #expect(L2TPConfigReader.baseName("lac.v2.toml") == "lac.v2")
        #expect(L2TPConfigReader.baseName("/etc/.hidden") == ".hidden")
        #expect(L2TPConfigReader.baseName("noext") == "noext")
    }

    @Test func loadFromAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("l2tpcfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/edge-lns.toml"
        try "[l2tp]\nversion = 2\nlisten = \"127.0.0.1\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try L2TPConfigReader.load(path: path, hostName: "h")
        #expect(c.name == "edge-lns" && c.hostName == "h" && c.version == .v2)
        #expect(try L2TPConfigReader.load(path: path).hostName == L2TPConfigReader.systemHostName())

        do {
            _ = try L2TPConfigReader.load(path: dir + "/missing.toml")
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.description.hasPrefix(dir + "/missing.toml:1:1: cannot read the config file: No such file"), "\(error)")
        }

        // A base name that cannot be an agent name needs `name`.
        let odd = dir + "/my agent.toml"
        try "[l2tp]\nversion = 2\nlisten = \"127.0.0.1\"\n".write(toFile: odd, atomically: true, encoding: .utf8)
        do {
            _ = try L2TPConfigReader.load(path: odd, hostName: "h")
            Issue.record("an invalid default name was accepted")
        } catch {
            #expect(error.errors.map(\.position) == [TOMLPosition(line: 1, column: 1)])
            #expect(error.errors.first?.message.contains("defaults to the file's base name \"my agent\"") == true, "\(error)")
            #expect(error.errors.first?.hint.contains("add name = ") == true)
        }
    }
}

// MARK: - bad inputs

@Suite("L2TP config reader: errors")
struct ConfigReaderErrorTests {
    @Test func tomlSyntax() {
        expectError("[l2tp]\nversion = 3\nlisten = \"10.0.0.1\n", 3, 10, "unterminated string", hint: "fix the TOML syntax")
    }

    @Test func noL2TPTable() {
        expectErrors("[segment]\nname = \"x\"\n", [
            Expected(1, 1, "the file has no [l2tp] table", hint: "start it with [l2tp]"),
            Expected(1, 2, "unknown key `segment` in the top level"),
        ])
        expectError("l2tp = 3\n", 1, 8, "`l2tp` must be a table, found an integer")
        expectErrors("[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\n[site]\nx = 1\n", [Expected(4, 2, "unknown key `site` in the top level")])
    }

    @Test func version() {
        expectError("[l2tp]\nlisten = \"10.0.0.1\"\n", 1, 1, "[l2tp] is missing the required key `version`", hint: "version = 2")
        expectError("[l2tp]\nversion = 4\nlisten = \"10.0.0.1\"\n", 2, 11, "`version` must be 2 (L2TPv2, RFC 2661) or 3 (L2TPv3, RFC 3931), found 4")
        expectError("[l2tp]\nversion = \"3\"\nlisten = \"10.0.0.1\"\n", 2, 11, "`version` must be an integer (2 or 3), found a string")
    }

    @Test func unknownKeySuggests() {
        expectErrors("""
            [l2tp]
            version = 3
            listne = "10.0.0.1"
            """, [
            Expected(1, 1, "the agent neither listens nor opens a tunnel", hint: "listen ="),
            Expected(3, 1, "unknown key `listne` in [l2tp]; did you mean `listen`?", hint: "keys allowed in [l2tp]: name, version"),
        ])
    }

    @Test func namesAndHostName() {
        expectError("[l2tp]\nname = \"a/b\"\nversion = 3\nlisten = \"10.0.0.1\"\n", 2, 8, "`name` \"a/b\" must be 1 to 64 letters")
        expectError("[l2tp]\nversion = 3\nhost_name = \"\"\nlisten = \"10.0.0.1\"\n", 3, 13, "`host_name` \"\" must be 1 to 255 bytes")
        #expect(throws: ConfigErrors.self) {
            try L2TPConfigReader.read("[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\n", file: "agent.toml", defaultName: "a", defaultHostName: "")
        }
    }

    @Test func versionOnlyKeys() {
        expectError("""
            [l2tp]
            version = 2
            listen = "10.0.0.1"
            secret = "x"
            digest = "sha1"
            """, 5, 1, "`digest` applies only to version = 3 (L2TPv3); this file has version = 2 (L2TPv2)", hint: "challenge = true")
        expectError("""
            [l2tp]
            version = 2
            router_id = "10.0.0.1"
            listen = "10.0.0.1"
            """, 3, 1, "`router_id` applies only to version = 3 (L2TPv3)", hint: "remove `router_id` from [l2tp]")
        expectErrors("""
            [l2tp]
            version = 3
            listen = "10.0.0.1"
            secret = "x"
            challenge = true
            hide_avps = true
            """, [
            Expected(5, 1, "`challenge` applies only to version = 2 (L2TPv2); this file has version = 3 (L2TPv3)", hint: "digest"),
            Expected(6, 1, "`hide_avps` applies only to version = 2 (L2TPv2)"),
        ])
    }

    @Test func secretAndItsUsers() {
        expectError("[l2tp]\nversion = 2\nlisten = \"10.0.0.1\"\nhide_avps = true\n", 4, 1, "`hide_avps` has no effect without `secret`", hint: "add secret = ")
        expectError("[l2tp]\nversion = 2\nlisten = \"10.0.0.1\"\nchallenge = true\n", 4, 1, "`challenge` has no effect without `secret`")
        expectError("[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\ndigest = \"sha1\"\n", 4, 1, "`digest` has no effect without `secret`")
        expectError("[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\nsecret = \"\"\n", 4, 10, "`secret` is empty")
        expectError("[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\nsecret = \"x\"\ndigest = \"sha256\"\n", 5, 10,
                    "`digest` must be one of \"md5\", \"sha1\"; found \"sha256\"")
    }

    @Test func routerID() {
        expectError("[l2tp]\nversion = 3\nrouter_id = \"10.0.0\"\nlisten = \"10.0.0.1\"\n", 3, 13, "`router_id` \"10.0.0\" is not a dotted quad")
        expectError("[l2tp]\nversion = 3\nrouter_id = 4294967296\nlisten = \"10.0.0.1\"\n", 3, 13, "`router_id` 4294967296 is out of range 0..4294967295")
        expectError("[l2tp]\nversion = 3\nrouter_id = \"fd00::1\"\nlisten = \"10.0.0.1\"\n", 3, 13, "is not a dotted quad")
    }

    @Test func listen() {
        expectErrors("""
            [l2tp]
            version = 3
            listen = ["10.0.0.1", "[fd00::1]:99999", "lns.example:1701", "10.0.0.1:1701", "224.0.0.1"]
            """, [
            Expected(3, 23, "`listen` address \"[fd00::1]:99999\" has a port that is not 1..65535"),
            Expected(3, 42, "`listen` address \"lns.example:1701\" is not an IPv4 or IPv6 address (host names are not resolved)"),
            Expected(3, 62, "`listen` address 10.0.0.1:1701 is listed twice (first at 3:11)"),
            Expected(3, 79, "`listen` address \"224.0.0.1\" is a multicast address"),
        ])
        expectError("[l2tp]\nversion = 3\nlisten = 1701\n", 3, 10, "`listen` must be an address or an array of addresses, found an integer")
        expectError("[l2tp]\nversion = 3\nlisten = []\n", 3, 10, "the agent neither listens nor opens a tunnel")
        expectError("[l2tp]\nversion = 3\nlisten = \"fd00::1:1701x\"\n", 3, 10, "an IPv6 address with a port is written in brackets",
                    hint: "[fd00::1]:1701")
    }

    @Test func timersWindowDataPlaneStatus() {
        let head = "[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\n"
        expectError(head + "hello = 0\n", 4, 9, "`hello` 0 is out of range: more than 0 and at most 3600 seconds")
        expectError(head + "hello = \"60\"\n", 4, 9, "`hello` must be a number of seconds")
        expectError(head + "retransmit = { initial = 10 }\n", 4, 26, "`retransmit` max 8 (the default) is below initial 10")
        expectError(head + "retransmit = { initial = 2, max = 1 }\n", 4, 35, "`retransmit` max 1 is below initial 2")
        expectError(head + "retransmit = { count = 0 }\n", 4, 24, "`count` 0 is out of range 1..20")
        expectError(head + "retransmit = { intial = 1 }\n", 4, 16, "unknown key `intial` in `retransmit`; did you mean `initial`?")
        expectError(head + "retransmit = 5\n", 4, 14, "`retransmit` must be a table")
        expectError(head + "window = 0\n", 4, 10, "`window` 0 is out of range 1..65535")
        expectError(head + "data_plane = \"kernal\"\n", 4, 14, "`data_plane` must be one of \"auto\", \"kernel\", \"userspace\", \"none\"; found \"kernal\"; did you mean \"kernel\"?")
        expectError(head + "status = \"run/x.json\"\n", 4, 10, "`status` \"run/x.json\" is not an absolute path")
    }

    @Test func tunnels() {
        let head = "[l2tp]\nversion = 3\n\n"
        expectErrors(head + "[[l2tp.tunnel]]\nredial = true\n", [
            Expected(4, 1, "[[l2tp.tunnel]] is missing the required key `name`"),
            Expected(4, 1, "[[l2tp.tunnel]] is missing the required key `peer`"),
        ])
        expectError(head + "[[l2tp.tunnel]]\nname = \"t1\"\npeer = \"10.0.0.2\"\n\n[[l2tp.tunnel]]\nname = \"t1\"\npeer = \"10.0.0.3\"\n",
                    9, 8, "tunnel name \"t1\" is used twice (first at 5:8)")
        expectError(head + "[[l2tp.tunnel]]\nname = \"t 1\"\npeer = \"10.0.0.2\"\n", 5, 8, "tunnel name \"t 1\" must be 1 to 32 letters")
        expectError(head + "[[l2tp.tunnel]]\nname = \"t1\"\npeer = \"0.0.0.0\"\n", 6, 8, "`peer` \"0.0.0.0\" is not a unicast address")
        expectError(head + "[[l2tp.tunnel]]\nname = \"t1\"\npeer = \"10.0.0.2\"\nlocal = \"[fd00::1]:1701\"\n", 7, 9,
                    "`local` \"[fd00::1]:1701\" is IPv6 but `peer` 10.0.0.2:1701 is IPv4", hint: "use an IPv4 local address")
        expectError(head + "[[l2tp.tunnel]]\nname = \"t1\"\npeer = \"10.0.0.2\"\nredial = false\nredial_max = 5\n", 8, 1,
                    "`redial_max` has no effect with redial = false")
        expectError(head + "[[l2tp.tunnel]]\nname = \"t1\"\npeer = \"10.0.0.2\"\nredial_max = 0.5\n", 7, 14, "`redial_max` 0.5 is out of range: 1..3600 seconds")
        expectError(head + "[l2tp.tunnel]\nname = \"t1\"\npeer = \"10.0.0.2\"\n", 4, 1,
                    "`tunnel` must be an array of tables, found a table", hint: "[[l2tp.tunnel]]")
    }

    @Test func unknownTunnelKey() {
        expectErrors("[l2tp]\nversion = 3\n\n[[l2tp.tunnel]]\nname = \"t1\"\npeers = \"10.0.0.2\"\n", [
            Expected(4, 1, "missing the required key `peer`"),
            Expected(6, 1, "unknown key `peers` in [[l2tp.tunnel]]; did you mean `peer`?"),
        ])
    }

    @Test func pseudowires() {
        let head = "[l2tp]\nversion = 3\nlisten = \"10.0.0.1\"\n\n[[l2tp.tunnel]]\nname = \"to-b\"\npeer = \"10.0.0.2\"\n\n"
        // line 9 is the first [[l2tp.pseudowire]]
        expectError(head + "[[l2tp.pseudowire]]\nname = \"pw1\"\ninterface = \"l2tpeth0\"\ntunnel = \"to-c\"\n", 12, 10,
                    "`tunnel` \"to-c\" in [[l2tp.pseudowire]] names no [[l2tp.tunnel]]; did you mean \"to-b\"?", hint: "to-b")
        expectError(head + "[[l2tp.pseudowire]]\nname = \"pw1\"\ninterface = \"l2tpeth0\"\nsequencing = true\n", 12, 1,
                    "`sequencing` needs the default L2-specific sublayer, which carries the sequence numbers (RFC 4719)",
                    hint: "sublayer = \"default\"")
        let seq = try? read(head + "[[l2tp.pseudowire]]\nname = \"pw1\"\ninterface = \"l2tpeth0\"\nsublayer = \"default\"\nsequencing = true\n")
        #expect(seq?.pseudowires.first?.sequencing == true)
        expectErrors(head + "[[l2tp.pseudowire]]\ncookie = 6\nsublayer = \"yes\"\nmtu = 60\nbridge = \"a/b\"\n", [
            Expected(9, 1, "[[l2tp.pseudowire]] is missing the required key `name`", hint: "Remote End ID"),
            Expected(9, 1, "[[l2tp.pseudowire]] is missing the required key `interface`"),
            Expected(10, 10, "`cookie` must be 0, 4 or 8 (bytes), found 6"),
            Expected(11, 12, "`sublayer` must be one of \"none\", \"default\"; found \"yes\""),
            Expected(12, 7, "`mtu` 60 is out of range 68..65535"),
            Expected(13, 10, "`bridge` \"a/b\" contains '/'"),
        ])
        expectErrors(head + """
            [[l2tp.pseudowire]]
            name = "pw1"
            interface = "l2tpeth-too-long-name"

            [[l2tp.pseudowire]]
            name = "pw1"
            interface = "l2tpeth0"
            bridge = "l2tpeth0"

            [[l2tp.pseudowire]]
            name = "pw2"
            interface = "l2tpeth0"
            """, [
            Expected(11, 13, "`interface` \"l2tpeth-too-long-name\" is 21 bytes long; Linux allows at most 15"),
            Expected(14, 8, "pseudowire name \"pw1\" is used twice (first at 10:8)"),
            Expected(16, 10, "`bridge` \"l2tpeth0\" is the pseudowire's own interface"),
            Expected(20, 13, "`interface` \"l2tpeth0\" is used twice (first at 15:13)"),
        ])
        expectError(head + "[[l2tp.pseudowire]]\nname = \"\(String(repeating: "x", count: 65))\"\ninterface = \"e0\"\n", 10, 8,
                    "must be 1 to 64 printable ASCII characters")
    }

    @Test func pseudowireInV2AndCallInV3() {
        expectError("""
            [l2tp]
            version = 2
            listen = "10.0.0.1"

            [[l2tp.pseudowire]]
            name = "pw1"
            interface = "l2tpeth0"
            """, 5, 1, "[[l2tp.pseudowire]] applies only to version = 3 (L2TPv3); this file has version = 2 (L2TPv2)", hint: "[[l2tp.call]]")
        expectError("""
            [l2tp]
            version = 3
            listen = "10.0.0.1"

            [[l2tp.call]]
            tunnel = "t1"
            """, 5, 1, "[[l2tp.call]] applies only to version = 2 (L2TPv2); this file has version = 3 (L2TPv3)", hint: "[[l2tp.pseudowire]]")
    }

    @Test func calls() {
        expectErrors("""
            [l2tp]
            version = 2

            [[l2tp.tunnel]]
            name = "t1"
            peer = "10.0.0.2"

            [[l2tp.call]]
            number = 123

            [[l2tp.call]]
            tunnel = "t2"
            """, [
            Expected(8, 1, "[[l2tp.call]] is missing the required key `tunnel`"),
            Expected(9, 10, "`number` must be a string, found an integer", hint: "number = \"123\""),
            Expected(12, 10, "`tunnel` \"t2\" in [[l2tp.call]] names no [[l2tp.tunnel]]; did you mean \"t1\"?"),
        ])
        // A call naming a tunnel that has errors of its own is not reported again.
        expectError("""
            [l2tp]
            version = 2

            [[l2tp.tunnel]]
            name = "t1"
            peer = "lns.example"

            [[l2tp.call]]
            tunnel = "t1"
            """, 6, 8, "`peer` \"lns.example\" is not an IPv4 or IPv6 address")
    }

    @Test("every problem of one file is reported, in file order")
    func manyErrorsAtOnce() {
        expectErrors("""
            [l2tp]
            version = 2
            name = ""
            listen = ["10.0.0.1:0"]
            digest = "md5"
            hello = -1
            window = 70000
            frobnicate = true

            [[l2tp.tunnel]]
            name = "a"
            peer = "10.0.0.2"
            local = "fd00::1"

            [[l2tp.tunnel]]
            name = "a"

            [[l2tp.pseudowire]]
            name = "pw"
            interface = "e0"

            [[l2tp.call]]
            tunnel = "b"
            """, [
            Expected(3, 8, "`name` \"\" must be 1 to 64 letters"),
            Expected(4, 11, "`listen` address \"10.0.0.1:0\" has a port that is not 1..65535"),
            Expected(5, 1, "`digest` applies only to version = 3"),
            Expected(6, 9, "`hello` -1 is out of range"),
            Expected(7, 10, "`window` 70000 is out of range 1..65535"),
            Expected(8, 1, "unknown key `frobnicate` in [l2tp]"),
            Expected(13, 9, "`local` \"fd00::1\" is IPv6 but `peer` 10.0.0.2:1701 is IPv4"),
            Expected(15, 1, "[[l2tp.tunnel]] is missing the required key `peer`"),
            Expected(16, 8, "tunnel name \"a\" is used twice (first at 11:8)"),
            Expected(18, 1, "[[l2tp.pseudowire]] applies only to version = 3"),
            Expected(23, 10, "`tunnel` \"b\" in [[l2tp.call]] names no [[l2tp.tunnel]]; did you mean \"a\"?"),
        ])
    }
}

// MARK: - [l2tp.ppp]

@Suite("L2TP config reader: [l2tp.ppp]")
struct PPPConfigReaderTests {
    static let lns = """
        [l2tp]
        version = 2
        listen = "10.0.0.1"

        """

    @Test func everyKey() throws {
        let c = try valid(Self.lns + """
            [l2tp.ppp]
            auth = "mschap-v2"
            local_address = "10.9.0.1"
            pool = "10.9.0.0/28"
            dns = ["10.9.0.1", "10.9.0.2"]
            secrets = "/etc/isthmus/s"
            user = "lns"
            password = "pw"
            mtu = 1400
            mru = 1410
            interface = "l2tp-ppp"
            pppd = "/opt/pppd"
            plugin = "pppol2tp.so"
            options = ["debug", "lcp-max-configure", "20"]
            sequencing = true
            reorder_timeout = 250
            lcp_echo_interval = 0
            lcp_echo_failure = 7
            kernel_api = "socket"
            """)
        let p = try #require(c.ppp)
        #expect(p.auth == .mschapV2 && p.localAddress == IPv4("10.9.0.1") && p.dns.count == 2)
        #expect(p.pool?.first == IPv4("10.9.0.1") && p.pool?.last == IPv4("10.9.0.14"))
        #expect(p.secrets == "/etc/isthmus/s" && p.user == "lns" && p.password == "pw" && p.mtu == 1400 && p.mru == 1410)
        #expect(p.interfacePrefix == "l2tp-ppp" && p.pppd == "/opt/pppd" && p.options == ["debug", "lcp-max-configure", "20"])
        #expect(p.sequencing && p.reorderTimeout == 250 && p.lcpEchoInterval == 0 && p.lcpEchoFailure == 7 && p.kernelAPI == .socket)
    }

    @Test func withoutTheTableCallsAreControlOnly() throws {
        #expect(try valid(Self.lns).ppp == nil)
        #expect(try valid(Self.lns + "[l2tp.ppp]\n").ppp == PPPConfig())
    }

    @Test func outgoingCalls() throws {
        let c = try valid("""
            [l2tp]
            version = 2
            [[l2tp.tunnel]]
            name = "t"
            peer = "10.0.0.2"
            [[l2tp.call]]
            tunnel = "t"
            outgoing = true
            """)
        #expect(c.calls == [L2TPAgentConfig.Call(tunnel: "t", outgoing: true)])
    }

    @Test func mistakesAreReportedWithTheirPlace() {
        expectErrors(Self.lns + """
            [l2tp.ppp]
            auth = "mschap"
            pool = "10.9.0.20-10.9.0.10"
            dns = ["ns1", "10.0.0.1", "10.0.0.2"]
            password = "x"
            interface = "a-very-long-name"
            secrets = "relative"
            mtu = 100
            kernal_api = "socket"
            """, [
            Expected(5, 8, "`auth`"),
            Expected(6, 1, "`pool` needs `local_address`"),
            Expected(6, 8, "is not a range of IPv4 addresses", hint: "FIRST-LAST"),
            Expected(7, 7, "`dns` has 3 servers"),
            Expected(7, 8, "`dns` entry \"ns1\" is not an IPv4 address"),
            Expected(8, 1, "`password` needs `user`"),
            Expected(9, 13, "`interface` prefix \"a-very-long-name\""),
            Expected(10, 11, "`secrets` \"relative\" is not an absolute path"),
            Expected(11, 7, "`mtu`"),
            Expected(12, 1, "unknown key `kernal_api` in [l2tp.ppp]; did you mean `kernel_api`?"),
        ])
    }

    @Test func onlyForVersion2() {
        expectError("""
            [l2tp]
            version = 3
            listen = "10.0.0.1"
            [l2tp.ppp]
            auth = "chap"
            """, 4, 1, "[l2tp.ppp] applies to L2TPv2 calls and to pseudowires with type = \"ppp\"", hint: "set version = 2")
    }

    @Test func pppPseudowires() throws {
        let c = try valid("""
            [l2tp]
            version = 3
            listen = "10.0.0.1"
            [[l2tp.pseudowire]]
            name = "pw"
            type = "ppp"
            interface = "pppw0"
            [l2tp.ppp]
            auth = "chap"
            """)
        #expect(c.pseudowires.first?.type == .ppp && c.ppp?.auth == .chap)
        expectErrors("""
            [l2tp]
            version = 3
            listen = "10.0.0.1"
            [[l2tp.pseudowire]]
            name = "pw"
            type = "ppp"
            interface = "pppw0"
            cookie = 8
            bridge = "br0"
            """, [Expected(8, 1, "`cookie` applies to Ethernet pseudowires"), Expected(9, 1, "`bridge` applies to Ethernet pseudowires")])
    }

    @Test func localAddressMustBeUnicast() {
        expectError(Self.lns + "[l2tp.ppp]\nlocal_address = \"224.0.0.1\"\n", 5, 17, "`local_address` \"224.0.0.1\" is not a unicast IPv4 address")
    }
}

// MARK: - [l2tp.radius]

@Suite("L2TP config reader: [l2tp.radius]")
struct RadiusConfigReaderTests {
    static let lns = """
        [l2tp]
        version = 2
        listen = "10.0.0.1"
        [l2tp.ppp]
        auth = "radius"
        local_address = "10.9.0.1"
        pool = "10.9.0.10-10.9.0.20"

        """

    @Test func everyKey() throws {
        let c = try valid(Self.lns + """
            [l2tp.radius]
            servers = ["10.0.0.5", "10.0.0.6:18120"]
            secret = "r4dius-s3cret"
            accounting_port = 18130
            nas_identifier = "lns one"
            timeout = 2
            retries = 4
            methods = ["mschap-v2", "chap"]
            """)
        let r = try #require(c.ppp?.radius)
        #expect(c.ppp?.auth == .radius)
        #expect(r.servers == [RadiusConfig.Server(address: IPv4("10.0.0.5")!, port: 1812), RadiusConfig.Server(address: IPv4("10.0.0.6")!, port: 18120)])
        #expect(r.secret == "r4dius-s3cret" && r.accountingPort == 18130 && r.nasIdentifier == "lns one")
        #expect(r.timeout == 2 && r.retries == 4 && r.methods == [.mschapV2, .chap])
        #expect(r.worstCaseSeconds == 16)
    }

    @Test func documentedExample() throws {
        let c = try L2TPConfigReader.read(try docExample("lns-radius.toml"), file: "lns-radius.toml", defaultName: "lns-radius", defaultHostName: "box")
        var r = RadiusConfig(servers: [.init(address: IPv4("192.0.2.10")!), .init(address: IPv4("192.0.2.11")!, port: 1812)], secret: "radius-s3cret")
        r.nasIdentifier = "lns-1"
        #expect(c.ppp?.auth == .radius && c.ppp?.radius == r && c.ppp?.pool?.size == 241)
    }

    @Test func defaults() throws {
        let r = try #require(try valid(Self.lns + "[l2tp.radius]\nservers = [\"10.0.0.5\"]\nsecret = \"s\"\n").ppp?.radius)
        #expect(r.accountingPort == 1813 && r.nasIdentifier == nil && r.timeout == 3 && r.retries == 3)
        #expect(r.methods == [.chap, .mschapV2, .pap])
    }

    @Test func radiusAuthNeedsTheTableAndTheTableNeedsRadiusAuth() {
        expectError(Self.lns, 5, 8, "auth = \"radius\" needs an [l2tp.radius] table", hint: "servers = [")
        expectError("""
            [l2tp]
            version = 2
            listen = "10.0.0.1"
            [l2tp.ppp]
            auth = "chap"
            [l2tp.radius]
            servers = ["10.0.0.5"]
            secret = "s"
            """, 6, 1, "[l2tp.radius] is used only with auth = \"radius\" in [l2tp.ppp]", hint: "set auth = \"radius\"")
        expectError("""
            [l2tp]
            version = 2
            listen = "10.0.0.1"
            [l2tp.radius]
            servers = ["10.0.0.5"]
            secret = "s"
            """, 4, 1, "[l2tp.radius] is used only with auth = \"radius\"", hint: "add [l2tp.ppp]")
    }

    @Test func missingKeys() {
        expectErrors(Self.lns + "[l2tp.radius]\ntimeout = 2\n", [
            Expected(8, 1, "[l2tp.radius] is missing the required key `servers`"),
            Expected(8, 1, "[l2tp.radius] is missing the required key `secret`"),
        ])
    }

    @Test func mistakesAreReportedWithTheirPlace() {
        expectErrors(Self.lns + """
            [l2tp.radius]
            servers = ["radius.example.net", "fd00::5", "10.0.0.5:0", "224.0.0.9", "10.0.0.5", "10.0.0.5:1812"]
            secret = "has spaces"
            accounting_port = 70000
            nas_identifier = "x"
            timeout = 0
            retries = 11
            methods = ["chap", "eap", "chap"]
            sever = "x"
            """, [
            Expected(9, 12, "`servers` entry \"radius.example.net\" is not an IPv4 or IPv6 address"),
            Expected(9, 34, "`servers` entry \"fd00::5\" is not a unicast IPv4 address (pppd's RADIUS client speaks only IPv4)"),
            Expected(9, 45, "`servers` entry \"10.0.0.5:0\" has a port that is not 1..65535"),
            Expected(9, 59, "`servers` entry \"224.0.0.9\" is not a unicast IPv4 address"),
            Expected(9, 84, "`servers` entry 10.0.0.5:1812 is listed twice (first at 9:72)"),
            Expected(10, 10, "`secret` must be printable ASCII without spaces"),
            Expected(11, 19, "`accounting_port` 70000 is out of range 1..65535"),
            Expected(12, 18, "`nas_identifier` \"x\" must be 3 to 253 bytes"),
            Expected(13, 11, "`timeout` 0 is out of range 1..60"),
            Expected(14, 11, "`retries` 11 is out of range 1..10"),
            Expected(15, 20, "`methods` entry \"eap\" is not one of \"chap\", \"mschap-v2\", \"pap\""),
            Expected(15, 27, "`methods` lists \"chap\" twice"),
            Expected(16, 1, "unknown key `sever` in [l2tp.radius]; did you mean `servers`?"),
        ])
    }

    @Test func limitsOfPppdsRadiusClient() {
        let nine = (1...9).map { "\"10.0.0.\($0)\"" }.joined(separator: ", ")
        expectError(Self.lns + "[l2tp.radius]\nservers = [\(nine)]\nsecret = \"s\"\n", 9, 11, "`servers` has 9 entries; pppd's RADIUS client takes at most 8")
        let long = String(repeating: "x", count: 49)
        expectError(Self.lns + "[l2tp.radius]\nservers = [\"10.0.0.5\"]\nsecret = \"\(long)\"\n", 10, 10, "`secret` is 49 bytes; pppd's RADIUS client keeps at most 48")
        expectError(Self.lns + "[l2tp.radius]\nservers = []\nsecret = \"s\"\n", 9, 11, "`servers` is empty")
        expectError(Self.lns + "[l2tp.radius]\nservers = [\"10.0.0.5\"]\nsecret = \"\"\n", 10, 10, "`secret` is empty")
        expectError(Self.lns + "[l2tp.radius]\nservers = [\"10.0.0.5\"]\nsecret = \"s\"\nmethods = []\n", 11, 11, "`methods` is empty")
        #expect(errors(Self.lns + "[l2tp.radius]\nservers = [\"10.0.0.5\"]\nsecret = \"\(String(repeating: "x", count: 48))\"\n").isEmpty)
    }

    @Test func wrongTypes() {
        expectErrors(Self.lns + "[l2tp.radius]\nservers = \"10.0.0.5\"\nsecret = 5\n", [
            Expected(9, 11, "`servers` must be an array of strings"),
            Expected(10, 10, "`secret` must be a string"),
        ])
        expectError("""
            [l2tp]
            version = 2
            listen = "10.0.0.1"
            radius = "10.0.0.5"
            [l2tp.ppp]
            auth = "chap"
            """, 4, 10, "`radius` must be a table")
    }
}

// MARK: - [l2tp.ipsec]

@Suite("L2TP config reader: [l2tp.ipsec]")
struct IPsecConfigReaderTests {
    static let lns = """
        [l2tp]
        version = 2
        listen = "10.0.0.1"

        """

    @Test func pskAndDefaults() throws {
        let c = try valid(Self.lns + "[l2tp.ipsec]\npsk = \"0123456789abcdef\"\nrequire = true\n")
        let i = try #require(c.ipsec)
        #expect(i.authentication == .psk("0123456789abcdef") && i.require && i.vici == "/var/run/charon.vici")
        #expect(i.ikeProposals == L2TPIPsecConfig.defaultIKEProposals && i.espProposals == L2TPIPsecConfig.defaultESPProposals)
        #expect(try valid(Self.lns).ipsec == nil)
    }

    @Test func documentedExample() throws {
        let c = try L2TPConfigReader.read(try docExample("lns-ipsec.toml"), file: "lns-ipsec.toml", defaultName: "lns-ipsec", defaultHostName: "box")
        #expect(c.ipsec?.authentication == .psk("a long random key for every client") && c.ipsec?.require == true)
        #expect(c.ppp?.auth == .mschapV2 && c.listen == [L2TPAgentConfig.Endpoint(address: "203.0.113.2")])
    }

    @Test func certificatesAndEveryKey() throws {
        let c = try valid(Self.lns + """
            [l2tp.ipsec]
            certificate = "/etc/isthmus/lns.crt"
            private_key = "/etc/isthmus/lns.key"
            ca = "/etc/isthmus/ca.crt"
            vici = "/run/charon.vici"
            ike_proposals = ["aes256-sha256-modp2048", "aes128gcm16-prfsha256-ecp256"]
            esp_proposals = ["aes128gcm16", "aes256-sha1"]
            """)
        let i = try #require(c.ipsec)
        #expect(i.authentication == .certificate(certificate: "/etc/isthmus/lns.crt", privateKey: "/etc/isthmus/lns.key", ca: "/etc/isthmus/ca.crt"))
        #expect(!i.require && i.vici == "/run/charon.vici")
        #expect(i.ikeProposals == ["aes256-sha256-modp2048", "aes128gcm16-prfsha256-ecp256"] && i.espProposals == ["aes128gcm16", "aes256-sha1"])
    }

    @Test func mistakesAreReportedWithTheirPlace() {
        expectErrors(Self.lns + """
            [l2tp.ipsec]
            psk = "short"
            require = "yes"
            vici = "charon.vici"
            ike_proposals = ["aes256-sha256", "aes256-sha265-modp2048", "aes-sha1-modp1024", ""]
            esp_proposals = ["aes256", "des-md5"]
            reqiure = true
            """, [
            Expected(5, 7, "`psk` is 5 bytes; at least 16 are needed", hint: "openssl rand"),
            Expected(6, 11, "`require` must be a boolean"),
            Expected(7, 8, "`vici` \"charon.vici\" is not an absolute path"),
            Expected(8, 18, "`ike_proposals` entry \"aes256-sha256\" has no key exchange group"),
            Expected(8, 35, "`ike_proposals` entry \"aes256-sha265-modp2048\" has an unknown algorithm \"sha265\"; did you mean \"sha256\"?"),
            Expected(8, 61, "`ike_proposals` entry \"aes-sha1-modp1024\" has an unknown algorithm \"aes\""),
            Expected(8, 82, "`ike_proposals` entry \"\" is not a proposal"),
            Expected(9, 18, "`esp_proposals` entry \"aes256\" has no integrity algorithm"),
            Expected(9, 28, "`esp_proposals` entry \"des-md5\" has an unknown algorithm \"des\""),
            Expected(10, 1, "unknown key `reqiure` in [l2tp.ipsec]; did you mean `require`?"),
        ])
    }

    @Test func authenticationIsOneOrTheOther() {
        expectError(Self.lns + "[l2tp.ipsec]\nrequire = true\n", 4, 1, "[l2tp.ipsec] needs `psk`, or `certificate`, `private_key` and `ca`")
        expectError(Self.lns + "[l2tp.ipsec]\npsk = \"0123456789abcdef\"\ncertificate = \"/c\"\n", 6, 1, "[l2tp.ipsec] has both `psk` and `certificate`")
        expectError(Self.lns + "[l2tp.ipsec]\ncertificate = \"/c\"\n", 5, 1, "[l2tp.ipsec] with certificates also needs `private_key` and `ca`")
        expectError(Self.lns + "[l2tp.ipsec]\ncertificate = \"c.pem\"\nprivate_key = \"/k\"\nca = \"/ca\"\n", 5, 15, "`certificate` \"c.pem\" is not an absolute path")
        expectError(Self.lns + "[l2tp.ipsec]\npsk = \"0123456789abcdef\"\nike_proposals = []\n", 6, 17, "`ike_proposals` is empty")
    }

    @Test func onlyOnAListeningL2TPv2Agent() {
        expectError("""
            [l2tp]
            version = 3
            listen = "10.0.0.1"
            [l2tp.ipsec]
            psk = "0123456789abcdef"
            """, 4, 1, "[l2tp.ipsec] is L2TPv2 remote access (L2TP/IPsec, RFC 3193)", hint: "set version = 2")
        expectError("""
            [l2tp]
            version = 2
            [[l2tp.tunnel]]
            name = "t"
            peer = "10.0.0.2"
            [l2tp.ipsec]
            psk = "0123456789abcdef"
            """, 6, 1, "[l2tp.ipsec] protects the LNS's listener, and this agent does not listen")
    }
}
