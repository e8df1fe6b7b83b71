import Foundation
import IPCommand
import Testing

/// `address`, `route`, `neighbour` and `fdb` against the real kernel: the same commands run once with iproute2
/// (`ip`, `bridge`) and once through IPCommandRunner.run in another namespace must leave the same kernel state, and
/// Isthmus's show commands must print what `ip`/`bridge` print for that state (text, and -j compared as parsed JSON).
@Suite("address, route, neighbour, fdb: same kernel state and output as iproute2", .serialized,
       .enabled(if: Host.isRoot, Comment(rawValue: Host.notRootReason)),
       .enabled(if: Host.which("ip") && Host.which("bridge"), "needs iproute2's ip and bridge to compare with"))
struct AddressRouteTests {
    /// Links with fixed MACs (so IPv6 link-local addresses agree across namespaces), DAD off (no "tentative").
    static let setup = [
        "link add va address 02:00:00:00:01:0a type veth peer name vb address 02:00:00:00:01:0b",
        "link add vx0 address 02:00:00:00:01:0c type vxlan id 42 dstport 4789 local 10.0.0.1 nolearning",
        "link add br0 address 02:00:00:00:01:0d type bridge",
        "link set vb master br0",
        "link set va up", "link set vb up", "link set vx0 up", "link set br0 up",
    ]

    /// The commands under test, in isthmus words; `fdb` lines run as `bridge fdb ...` on the iproute2 side.
    static let commands = [
        "address add 10.0.0.1/24 dev va",
        "address add 10.0.0.5/24 dev va",
        "address add 10.1.0.1/16 brd + label va:1 dev va",
        "address add 192.168.100.1 peer 192.168.100.2/32 dev va",
        "address add 2001:db8::1/64 dev va nodad",
        "address add 2001:db8:5::1/64 dev va noprefixroute metric 300",
        "address add 127.0.0.2/8 dev lo",
        "address del 10.0.0.5/24 dev va",
        "route add 192.168.5.0/24 via 10.0.0.2 dev va table 100",
        "route add 192.168.6.0/24 via 10.0.0.2 metric 7 proto static",
        "route add 10.9.0.0/16 dev va src 10.0.0.1 mtu 1400",
        "route change 10.9.0.0/16 dev va src 10.0.0.1 mtu 1300",
        "route add 192.168.7.0/24 via 10.5.5.5 dev va onlink",
        "route add default via 10.0.0.2",
        "route add 2001:db8:1::/48 via 2001:db8::2 dev va",
        "route replace 172.16.0.0/12 dev va table 1000 scope link",
        "route append 172.17.0.0/16 dev va mtu lock 1300 advmss 1200",
        "route add blackhole 10.99.0.0/16",
        "route add 10.50.0.0/16 nexthop via 10.0.0.2 dev va weight 2 nexthop via 10.1.0.2 dev va",
        "route add 10.60.0.0/16 via 10.0.0.2",
        "route del 10.60.0.0/16",
        "neighbour add 10.0.0.9 lladdr 02:00:00:00:00:09 dev va nud permanent",
        "neighbour add 2001:db8::9 lladdr 02:00:00:00:00:0b dev va",
        "neighbour replace 10.0.0.10 lladdr 02:00:00:00:00:0a dev va nud noarp",
        "neighbour add proxy 10.0.0.77 dev va",
        "neighbour add 10.0.0.11 lladdr 02:00:00:00:00:11 dev va",
        "neighbour del 10.0.0.11 dev va",
        "fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.2",
        "fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.3 vni 7 port 4790",
        "fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.4",
        "fdb del 00:00:00:00:00:00 dev vx0 dst 10.0.0.4",
        "fdb add 02:11:22:33:44:55 dev vb master static",
        "fdb add 02:11:22:33:44:66 dev vb master",
        "fdb add 02:11:22:33:44:99 dev vx0 dst 10.0.0.5 via va",
    ]

    /// Read-back commands: (isthmus words, global options, iproute2 command line after `-n NS`).
    static let shows: [(words: String, family: String?, iproute: String)] = [
        ("address show", nil, "ip addr show"),
        ("address show dev va", nil, "ip addr show dev va"),
        ("address show", "-4", "ip -4 addr show"),
        ("address show scope link", nil, "ip addr show scope link"),
        ("route show", nil, "ip route show"),
        ("route show table all", nil, "ip route show table all"),
        ("route show table 100", nil, "ip route show table 100"),
        ("route show", "-6", "ip -6 route show"),
        ("route show table all", "-6", "ip -6 route show table all"),
        ("route show dev va proto static", nil, "ip route show dev va proto static"),
        ("route get 192.168.5.9", nil, "ip route get 192.168.5.9"),
        ("route get 2001:db8:1::7", nil, "ip route get 2001:db8:1::7"),
        ("neighbour show nud permanent", nil, "ip neigh show nud permanent"),
        ("neighbour show nud noarp", nil, "ip neigh show nud noarp"),
        ("neighbour show proxy", nil, "ip neigh show proxy"),
        ("fdb show", nil, "bridge fdb show"),
        ("fdb show dev vx0", nil, "bridge fdb show dev vx0"),
        ("fdb show br br0", nil, "bridge fdb show br br0"),
    ]

    static func makeNamespace(_ ns: Namespaces, _ suffix: String) throws -> String {
        let name = try ns.make(suffix)
        try Host.sh("ip netns exec \(name) sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0")
        for line in setup { try Host.sh("ip -n \(name) \(line)") }
        try settle(name)
        return name
    }

    /// Waits (up to 10 s) until every link has its IPv6 link-local address: carrier, addrconf and the multicast
    /// memberships (which show up as fdb entries) happen asynchronously after `link set up`.
    static func settle(_ ns: String) throws {
        for _ in 0..<100 {
            let out = try Host.sh("ip -n \(ns) -6 -o addr show scope link")
            if ["va", "vb", "vx0", "br0"].allSatisfy({ out.contains(": \($0)    inet6 fe80") }) { break }
            usleep(100_000)
        }
        usleep(300_000)
    }

    /// Compares up to three times, a second apart, so that asynchronous kernel housekeeping can settle.
    static func eventually(_ read: () throws -> (String, String)) rethrows -> (String, String) {
        var r = try read()
        for _ in 0..<2 where r.0 != r.1 {
            sleep(1)
            r = try read()
        }
        return r
    }

    /// The iproute2 spelling of an isthmus command line.
    static func iproute(_ words: String) -> String {
        if words.hasPrefix("fdb ") { return "bridge " + words }
        if words.hasPrefix("neighbour ") { return "ip neigh " + words.dropFirst("neighbour ".count) }
        return "ip " + words
    }

    /// Runs isthmus words in-process in `netns` (IPCommandRunner.run over a Session with options.netns set).
    static func isthmus(_ words: String, netns: String, json: Bool = false, family: String? = nil) throws -> Output {
        var o = Options()
        o.netns = netns
        o.json = json
        if family == "-4" { o.family = UInt8(AF_INET) }
        if family == "-6" { o.family = UInt8(AF_INET6) }
        let s = Session(options: o)
        try IPCommandRunner.run(try splitCommandLine(words), session: s)
        try s.flush()
        return s.output
    }

    /// `-j` output parsed with JSONSerialization and re-serialized with sorted keys, one object per line.
    /// iproute2 6.1 leaves an empty `{}` in addr_info for each address a filter (scope, label, to...) rejects;
    /// Isthmus omits those, so empty objects are dropped before comparing.
    static func canonical(_ json: String) throws -> String {
        let v = try JSONSerialization.jsonObject(with: Data(json.utf8))
        guard let a = v as? [Any] else { return String(describing: v) }
        return try a.map { String(decoding: try JSONSerialization.data(withJSONObject: dropEmpty($0), options: [.sortedKeys]), as: UTF8.self) }
            .joined(separator: "\n")
    }

    static func dropEmpty(_ v: Any) -> Any {
        if let d = v as? [String: Any] { return d.mapValues(dropEmpty) }
        if let a = v as? [Any] { return a.filter { ($0 as? [String: Any])?.isEmpty != true }.map(dropEmpty) }
        return v
    }

    /// Lines in a fixed order, for comparing tables the kernel dumps in hash order (neighbours).
    static func sorted(_ s: String) -> String { s.split(separator: "\n").sorted().joined(separator: "\n") }

    /// Without the NOARP entries the kernel makes itself for multicast destinations it sends to (IGMP/MLD reports to
    /// 224.0.0.22 or ff02::16 from a bridge, seconds after it comes up, at a random moment in each namespace): no command
    /// here makes one, and one namespace had it while the other did not yet, under load (a CI rehearsal).
    static func withoutKernelMulticast(_ s: String) -> String {
        s.split(separator: "\n").filter { line in
            guard let r = line.range(of: "\"dst\":\"") else { return true }
            let dst = line[r.upperBound...].prefix { $0 != "\"" }
            if dst.lowercased().hasPrefix("ff") { return false }
            if let first = Int(dst.prefix { $0 != "." }), dst.contains("."), (224...239).contains(first) { return false }
            return true
        }.joined(separator: "\n")
    }

    static func iprouteJSON(_ ns: String, _ line: String) throws -> String {
        // "ip -4 addr show" -> "ip -n NS -j -4 addr show"
        var words = line.split(separator: " ").map(String.init)
        let tool = words.removeFirst()
        return try canonical(try Host.sh("\(tool) -n \(ns) -j \(words.joined(separator: " "))"))
    }

    @Test("the commands leave the same state as iproute2, and show prints what iproute2 prints")
    func sameStateAndOutput() throws {
        let ns = Namespaces("addrroute")
        defer { ns.removeAll() }
        let viaIP = try Self.makeNamespace(ns, "ip")
        let viaLib = try Self.makeNamespace(ns, "lib")
        for line in Self.commands {
            let tool = Self.iproute(line).split(separator: " ", maxSplits: 1)
            try Host.sh("\(tool[0]) -n \(viaIP) \(tool[1])")
            do { _ = try Self.isthmus(line, netns: viaLib) } catch { Issue.record("isthmus \(line): \(error)"); return }
        }

        // Same kernel state, as iproute2 reads it back.
        for read in ["ip addr show", "ip route show table all", "ip -6 route show table all", "ip neigh show nud permanent",
                     "ip neigh show nud noarp", "ip neigh show proxy", "bridge fdb show"] {
            let (ours, theirs) = try Self.eventually {
                (Self.withoutKernelMulticast(Self.sorted(try Self.iprouteJSON(viaLib, read))),
                 Self.withoutKernelMulticast(Self.sorted(try Self.iprouteJSON(viaIP, read))))
            }
            #expect(ours == theirs, "kernel state differs: \(read)")
        }

        // Isthmus's show output equals iproute2's, text and JSON, on the same namespace.
        for show in Self.shows {
            let tool = show.iproute.split(separator: " ", maxSplits: 1)
            let text = try Self.eventually {
                (try Self.isthmus(show.words, netns: viaLib, family: show.family).lines.map { $0 + "\n" }.joined(),
                 try Host.sh("\(tool[0]) -n \(viaLib) \(tool[1])"))
            }
            #expect(text.0 == text.1, "text of `\(show.words)` differs from `\(show.iproute)`")
            let json = try Self.eventually {
                (try Self.canonical(JSON.array(try Self.isthmus(show.words, netns: viaLib, json: true, family: show.family).json).serialized()),
                 try Self.iprouteJSON(viaLib, show.iproute))
            }
            #expect(json.0 == json.1, "-j of `\(show.words)` differs from `\(show.iproute)`")
        }
    }

    @Test("flush removes what show lists, like ip addr/route/neigh flush")
    func flush() throws {
        let ns = Namespaces("addrflush")
        defer { ns.removeAll() }
        let name = try Self.makeNamespace(ns, "lib")
        for line in ["address add 10.0.0.1/24 dev va", "address add 10.0.0.2/24 dev va", "address add 10.3.0.1/16 dev va",
                     "address add 2001:db8::1/64 dev va", "route add 192.168.9.0/24 via 10.0.0.9 table 200",
                     "route add 192.168.10.0/24 via 10.0.0.9 table 200", "neighbour add 10.0.0.20 lladdr 02:00:00:00:00:20 dev va nud stale"] {
            _ = try Self.isthmus(line, netns: name)
        }
        _ = try Self.isthmus("address flush dev va scope global", netns: name, family: "-4")
        #expect(!(try Host.sh("ip -n \(name) -4 addr show dev va")).contains("inet "))
        #expect((try Host.sh("ip -n \(name) -6 addr show dev va")).contains("2001:db8::1/64"))
        _ = try Self.isthmus("route flush table 200", netns: name)
        #expect((try Host.sh("ip -n \(name) route show table 200")).isEmpty)
        _ = try Self.isthmus("neighbour flush dev va", netns: name)
        #expect(!(try Host.sh("ip -n \(name) neigh show dev va")).contains("10.0.0.20"))
    }

    @Test("kernel errors carry the operation and the errno text")
    func kernelErrors() throws {
        let ns = Namespaces("addrerr")
        defer { ns.removeAll() }
        let name = try Self.makeNamespace(ns, "lib")
        _ = try Self.isthmus("address add 10.0.0.1/24 dev va", netns: name)
        do {
            _ = try Self.isthmus("address add 10.0.0.1/24 dev va", netns: name)
            Issue.record("adding the same address twice should fail")
        } catch {
            #expect("\(error)".contains("address add 10.0.0.1/24 dev va"))
            #expect("\(error)".contains("exists"))
        }
        #expect(throws: (any Error).self) { try Self.isthmus("route del 10.200.0.0/16", netns: name) }
        #expect(throws: (any Error).self) { try Self.isthmus("fdb add 02:00:00:00:00:01 dev nosuch0", netns: name) }
    }
}
