#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// Words too long for what they become (an interface name, an alias, a netlink attribute) and hostile batch lines:
/// each is a clear error naming the word (cut short) and the limit, and nothing reaches the kernel — before the
/// fix each of the long ones trapped in `UInt16(length)` and killed the process.
@Suite("long and hostile words")
struct LongInputTests {
    /// A fake kernel that knows "lo" (index 1) and records every request; its sockets are counted so a test can
    /// say none was even opened.
    final class Kernel {
        var opened = 0
        let route = FakeNetlink { m in
            guard m.type == UInt16(RTM_GETLINK) else { return [] }
            var w = AttributeWriter()
            w.string(IFLA_IFNAME, "lo")
            return [try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(index: 1), attributes: w)]
        }
        let generic = FakeNetlink()
        var sent: [NetlinkMessage] { route.sent + generic.sent }

        func session(force: Bool = false) -> Session {
            var o = Options()
            o.force = force
            return Session(options: o) { [self] proto, _ in
                opened += 1
                return proto == NETLINK_GENERIC ? generic : route
            }
        }
    }

    /// The error a command line fails with, and the kernel it ran against.
    static func failure(_ words: [String]) -> (message: String?, kernel: Kernel) {
        let k = Kernel()
        do {
            try IPCommandRunner.run(words, session: k.session())
            return (nil, k)
        } catch {
            return ("\(error)", k)
        }
    }

    static func words(_ line: String) -> [String] { line.split(separator: " ").map(String.init) }
    static func long(_ c: Character, _ n: Int) -> String { String(repeating: c, count: n) }
    /// How a long word is shown in an error: its first 32 characters, then "…".
    static func shown(_ c: Character) -> String { long(c, 32) + "…" }

    @Test("link show dev <65,531 bytes> is refused as an interface name, before any request")
    func linkShowLongDev() {
        let (message, k) = Self.failure(["link", "show", "dev", Self.long("a", 65_531)])
        #expect(message == "argument \"\(Self.shown("a"))\" is wrong: \"dev\" not a valid ifname (65531 bytes; at most 15)")
        #expect(k.sent.isEmpty && k.opened == 0)
    }

    @Test("a 16-byte name is refused with iproute2's wording for each keyword that takes an interface name",
          arguments: [
            ("link show dev NAME", "dev"), ("link show NAME", "dev"), ("link set NAME up", "dev"),
            ("link set dev NAME up", "dev"), ("link delete NAME", "dev"), ("link add name NAME type veth", "name"),
            ("link add NAME type veth", "dev"), ("link set lo name NAME", "name"), ("link set lo master NAME", "master"),
            ("link show master NAME", "master"), ("link add link NAME name mv0 type macvlan", "link"),
            ("link add v0 type veth peer name NAME", "name"), ("address add 10.0.0.1/24 dev NAME", "dev"),
            ("address show dev NAME", "dev"), ("route add 10.0.0.0/24 dev NAME", "dev"), ("route get 10.0.0.1 oif NAME", "oif"),
            ("neighbour show dev NAME", "dev"), ("fdb show br NAME", "br"), ("tunnel add NAME mode gre remote 192.0.2.1", "name"),
            ("tuntap add dev NAME mode tap", "dev"), ("l2tp add session name NAME tunnel_id 1 session_id 2 peer_session_id 3", "name"),
          ])
    func interfaceNameTooLong(line: String, keyword: String) {
        let name = "abcdefghijklmnop"  // 16 bytes: IFNAMSIZ with no room for the NUL
        let (message, k) = Self.failure(Self.words(line.replacingOccurrences(of: "NAME", with: name)))
        #expect(message == "argument \"\(name)\" is wrong: \"\(keyword)\" not a valid ifname (16 bytes; at most 15)")
        #expect(k.sent.isEmpty)
    }

    @Test("names the kernel would refuse or cut short are refused too: '/', ':', whitespace, NUL, \".\"")
    func interfaceNameCharacters() {
        for name in ["a/b", "eth0:1", "a\tb", "a\u{0}b", ".", ".."] {
            let (message, k) = Self.failure(["link", "show", "dev", name])
            #expect(message?.hasPrefix("argument ") == true && message?.contains("is wrong: \"dev\" not a valid ifname (") == true,
                    "\(name.debugDescription): \(message ?? "no error")")
            #expect(k.sent.isEmpty)
        }
        let (message, _) = Self.failure(["link", "show", "dev", "a\u{0}b"])
        #expect(message == "argument \"a\\x00b\" is wrong: \"dev\" not a valid ifname (no '/', ':', whitespace or NUL)")
        // 15 bytes is a name: asked for.
        let (ok, k) = Self.failure(["link", "show", "dev", "abcdefghijklmno"])
        #expect(ok == nil && k.sent.count == 1)
    }

    @Test("link set lo alias <70,000 bytes> is refused with iproute2's \"alias too long\" and the limit")
    func longAlias() {
        let (message, k) = Self.failure(["link", "set", "lo", "alias", Self.long("b", 70_000)])
        #expect(message == "argument \"\(Self.shown("b"))\" is wrong: alias too long (70000 bytes; at most 255)")
        #expect(k.sent.isEmpty)
        let (atLimit, k2) = Self.failure(["link", "set", "lo", "alias", Self.long("b", 256)])
        #expect(atLimit == "argument \"\(Self.shown("b"))\" is wrong: alias too long (256 bytes; at most 255)")
        #expect(k2.sent.isEmpty)
    }

    @Test("a word that does not fit a netlink attribute (a link kind) is named with the limit; nothing is sent")
    func attributeTooLong() {
        let (message, k) = Self.failure(["link", "add", "x0", "type", Self.long("k", 70_000)])
        #expect(message == "argument \"\(Self.shown("k"))\" is wrong: too long (70000 bytes): a netlink attribute holds at most 65531 bytes")
        #expect(k.sent.isEmpty)
        // The first length that does not fit: 65,532 payload bytes.
        let (edge, k2) = Self.failure(["link", "add", "x0", "type", Self.long("k", 65_532)])
        #expect(edge == "argument \"\(Self.shown("k"))\" is wrong: too long (65532 bytes): a netlink attribute holds at most 65531 bytes")
        #expect(k2.sent.isEmpty)
    }

    @Test("any usage error shows a long word cut, however the message was built")
    func usageErrorsShowLongWordsCut() {
        let word = Self.long("z", 40_000)
        let (message, k) = Self.failure(["link", "add", "x0", "type", "kind0", word])
        #expect(message == "link kind \"kind0\" takes no options here (got \"\(Self.shown("z"))\"); kinds with options: "
                + LinkKinds.all.map { $0.kind }.joined(separator: ", "))
        #expect(k.sent.isEmpty)
        // A long word that is part of a longer one: each is still shown cut.
        let (nested, _) = Self.failure(["link", "add", "x0", "type", Self.long("z", 43_000), "", Self.long("z", 23_000)])
        #expect(nested == "link kind \"\(Self.shown("z"))\" takes no options here (got \"\"); kinds with options: "
                + LinkKinds.all.map { $0.kind }.joined(separator: ", "))
        let (unknown, _) = Self.failure(["route", "add", "10.9.0.0/24", "nexthop", "via", "10.0.0.2", word])
        #expect(unknown?.contains(Self.shown("z")) == true && unknown?.contains(Self.long("z", 65)) == false, "\(unknown?.prefix(200) ?? "")")
    }

    @Test("a multipath route whose nexthops overflow rtnh_len or RTA_MULTIPATH is refused, not trapped")
    func multipathTooLong() {
        let oneHop = "route add 10.9.0.0/24 nexthop" + String(repeating: " via 10.0.0.2", count: 9_000)
        let (message, k) = Self.failure(Self.words(oneHop))
        #expect(message == "the request is too long to send: netlink attribute type \(RTA_MULTIPATH.rawValue) would carry 72008 bytes; it holds at most 65535")
        #expect(k.sent.isEmpty)
        let hop = " nexthop" + String(repeating: " via 10.0.0.2", count: 5_000)
        let (message2, k2) = Self.failure(Self.words("route add 10.9.0.0/24" + hop + hop))
        #expect(message2 == "the request is too long to send: netlink attribute type \(RTA_MULTIPATH.rawValue) would carry 80016 bytes; it holds at most 65531")
        #expect(k2.sent.isEmpty)
    }

    @Test("a 1 MB -batch line fails as that line, naming the word and the limit; nothing is sent")
    func batchMegabyteLine() {
        let k = Kernel()
        var reports: [String] = []
        let failures = IPCommandRunner.runBatch("link show dev " + Self.long("c", 1 << 20) + "\n", file: "big.batch",
                                                session: k.session()) { reports.append($0) }
        #expect(failures == 1)
        #expect(reports == ["big.batch:1: argument \"\(Self.shown("c"))\" is wrong: \"dev\" not a valid ifname (1048576 bytes; at most 15)"])
        #expect(k.sent.isEmpty)
    }

    @Test("with -force a too-long line fails alone: the lines around it still run")
    func batchForceContinues() {
        let k = Kernel()
        var reports: [String] = []
        let text = "link set dev lo up\nlink add x0 type \(Self.long("k", 70_000))\nlink set lo alias \(Self.long("b", 70_000))\nlink set dev lo down\n"
        let failures = IPCommandRunner.runBatch(text, file: "f", session: k.session(force: true)) { reports.append($0) }
        #expect(failures == 2)
        #expect(reports.map { $0.prefix(5) } == ["f:2: ", "f:3: "])
        // Two link sets (one GETLINK resolves lo, then two RTM_NEWLINK), nothing for lines 2 and 3.
        #expect(k.route.sent.filter { $0.type == UInt16(RTM_NEWLINK) }.count == 2)
        #expect(k.route.sent.allSatisfy { $0.payload.count < 100 })
    }

    @Test("a -batch line with a NUL is refused at its column; CRLF line ends are whitespace")
    func batchNULAndCRLF() throws {
        let k = Kernel()
        var reports: [String] = []
        let failures = IPCommandRunner.runBatch("link show dev l\u{0}o\n", file: "nul", session: k.session()) { reports.append($0) }
        #expect(failures == 1 && reports == ["nul:1: the line holds a NUL byte at column 16"])
        #expect(k.sent.isEmpty)

        let k2 = Kernel()
        let ok = IPCommandRunner.runBatch("link show dev lo\r\nlink show lo\r\n", file: "crlf", session: k2.session()) { Issue.record("\($0)") }
        #expect(ok == 0)
        let names = try k2.route.sent.map { try #require(LinkMessage($0).name) }
        #expect(names == ["lo", "lo"])
    }

    @Test("numbers too big for their field are invalid values, not overflows")
    func hugeNumbers() {
        for line in ["link set lo mtu 99999999999999999999999999", "link set lo txqueuelen 0x1ffffffff",
                     "route add 10.9.0.0/24 dev lo metric 18446744073709551616", "link add v0 index 2147483648 type veth",
                     "fdb add 02:00:00:00:00:01 dev lo port 65536", "route add 10.9.0.0/24 dev lo table 4294967296"] {
            let (message, k) = Self.failure(Self.words(line))
            #expect(message?.contains("invalid") == true || message?.contains("expected") == true, "\(line): \(message ?? "no error")")
            #expect(k.sent.allSatisfy { $0.type == UInt16(RTM_GETLINK) }, "\(line)")
        }
    }

    @Test("a long MAC address or hex word is an invalid value")
    func longHex() {
        let mac = Array(repeating: "ab", count: 40_000).joined(separator: ":")
        let (message, k) = Self.failure(["link", "set", "lo", "address", mac])
        #expect(message?.hasPrefix("invalid value \"") == true)
        #expect(k.sent.isEmpty)
    }
}
