import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The userspace data plane (`isthmus tunnel run`) on this machine's kernel, which has no L2TP, GRE or IPIP modules:
/// Isthmus ↔ Isthmus for every encapsulation (IPv4 and IPv6 underlay), Isthmus ↔ the kernel's VXLAN, drops counted
/// by reason for injected garbage, and a clean start/stop. Interop with the kernel's l2tp_eth, gretap and ipip runs
/// in the VM (UserspaceKernelInteropTests).
@Suite("Userspace data plane on this kernel", .serialized, .enabled(if: Host.isRoot, "needs root"), .timeLimit(.minutes(10)))
struct UserspaceDataplaneTests {
    /// A running `isthmus tunnel run`, its output in a file.
    final class Tunnel {
        let process = Process()
        let log: URL
        let ns: String
        let device: String

        init(_ bin: String, ns: String, device: String, words: String) throws {
            self.ns = ns; self.device = device
            log = FileManager.default.temporaryDirectory.appendingPathComponent("isth-tun-\(ns)-\(device).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let h = try FileHandle(forWritingTo: log)
            process.executableURL = URL(fileURLWithPath: bin)
            process.arguments = ["-n", ns, "tunnel", "run", device] + words.split(separator: " ").map(String.init)
            process.standardOutput = h
            process.standardError = h
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // Up when the device exists and the status socket answers; gone early means it failed.
            for _ in 0..<100 {
                if !process.isRunning { throw ShellError(command: "tunnel run \(words)", status: process.terminationStatus, output: output) }
                if (try? Host.run(["ip", "-n", ns, "link", "show", device]))?.status == 0,
                   output.contains("running") { return }
                usleep(50_000)
            }
            stop()
            throw ShellError(command: "tunnel run \(words)", status: -1, output: "did not come up: " + output)
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// Sends `signal` and waits (up to 5 s); returns the exit status, or nil if it did not exit.
        @discardableResult
        func stop(_ signal: Int32 = SIGTERM) -> Int32? {
            if process.isRunning { kill(process.processIdentifier, signal) }
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
            try? FileManager.default.removeItem(at: log)
            return process.terminationStatus
        }
    }

    /// Two namespaces joined by a veth pair: 10.201.0.1/24 and fd00:201::1/64 in A, .2 and ::2 in B.
    static func pair(_ ns: Namespaces) throws -> (a: String, b: String) {
        let a = try ns.make("a"), b = try ns.make("b")
        try Host.sh("""
            ip link add va netns \(a) type veth peer name vb netns \(b) &&
            ip -n \(a) addr add 10.201.0.1/24 dev va && ip -n \(b) addr add 10.201.0.2/24 dev vb &&
            ip -n \(a) addr add fd00:201::1/64 dev va nodad && ip -n \(b) addr add fd00:201::2/64 dev vb nodad &&
            ip -n \(a) link set va up && ip -n \(b) link set vb up
            """)
        return (a, b)
    }

    /// Overlay addresses on the tunnel devices, then ping both ways and a TCP transfer A → B.
    static func checkTraffic(_ a: String, _ b: String, devA: String, devB: String, inner6: Bool = false) throws {
        let (x, y, plen) = inner6 ? ("fd00:77::1", "fd00:77::2", 64) : ("192.168.77.1", "192.168.77.2", 24)
        try Host.sh("ip -n \(a) addr add \(x)/\(plen) dev \(devA) \(inner6 ? "nodad" : "") && ip -n \(b) addr add \(y)/\(plen) dev \(devB) \(inner6 ? "nodad" : "")")
        try Host.sh("ip -n \(a) link set \(devA) up && ip -n \(b) link set \(devB) up")
        try Host.sh("ip netns exec \(a) ping -c 3 -i 0.2 -W 2 \(y)")
        try Host.sh("ip netns exec \(b) ping -c 3 -i 0.2 -W 2 \(x)")
        try transfer(from: a, to: b, address: y, port: 5301)
    }

    /// 2 MB of random bytes over TCP from namespace `client` to `address` in `server`, compared byte for byte.
    /// The receiver is a child of the same shell: a daemonised one would hold our output pipe open.
    static func transfer(from client: String, to server: String, address: String, port: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-xfer-\(getpid())").path
        defer { _ = try? Host.run(["rm", "-rf", dir]) }
        let v6 = address.contains(":")
        let listen = "\(v6 ? "TCP6" : "TCP4")-LISTEN:\(port),bind=\(v6 ? "[\(address)]" : address),reuseaddr"
        let connect = "\(v6 ? "TCP6:[\(address)]" : "TCP4:\(address)"):\(port)"
        try Host.sh("mkdir -p \(dir) && head -c 2097152 /dev/urandom > \(dir)/src && " +
            "{ ip netns exec \(server) timeout 30 socat -u \(listen) OPEN:\(dir)/dst,creat,trunc </dev/null >/dev/null 2>&1 & } ; " +
            "sleep 0.4; ip netns exec \(client) timeout 30 socat -u OPEN:\(dir)/src \(connect); rc=$?; wait; " +
            "[ $rc = 0 ] && cmp \(dir)/src \(dir)/dst")
    }

    /// `tunnel show -j` of namespace `ns`, the userspace tunnel named `name`.
    static func show(_ bin: String, _ ns: String, _ name: String) throws -> [String: Any] {
        let out = try Host.sh("\(bin) -n \(ns) -j tunnel show \(name)")
        let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] ?? []
        return list.first { $0["ifname"] as? String == name && $0["dataplane"] as? String == "userspace" } ?? [:]
    }

    static func stats(_ t: [String: Any]) -> [String: Any] {
        ((t["sessions"] as? [[String: Any]])?.first?["stats"] as? [String: Any]) ?? [:]
    }
    static func drops(_ t: [String: Any]) -> [String: Int] { (stats(t)["drops"] as? [String: Int]) ?? [:] }
    static func otherDrops(_ t: [String: Any]) -> [String: Int] { (t["other_drops"] as? [String: Int]) ?? [:] }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var kind: String
        var a: String
        var b: String
        var inner6 = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "vxlan", kind: "vxlan", a: "id 42 remote 10.201.0.2 local 10.201.0.1 dstport 4789",
             b: "id 42 remote 10.201.0.1 local 10.201.0.2 dstport 4789"),
        Case(name: "vxlan over IPv6", kind: "vxlan", a: "id 7 remote fd00:201::2 local fd00:201::1 dstport 4789",
             b: "id 7 remote fd00:201::1 local fd00:201::2 dstport 4789"),
        Case(name: "l2tpv3 udp with cookies", kind: "l2tpv3",
             a: "tunnel_id 1 peer_tunnel_id 2 session_id 10 peer_session_id 20 encap udp local 10.201.0.1 remote 10.201.0.2 udp_sport 1701 udp_dport 1701 cookie 0102030405060708 peer_cookie a1b2c3d4",
             b: "tunnel_id 2 peer_tunnel_id 1 session_id 20 peer_session_id 10 encap udp local 10.201.0.2 remote 10.201.0.1 udp_sport 1701 udp_dport 1701 cookie a1b2c3d4 peer_cookie 0102030405060708"),
        Case(name: "l2tpv3 ip with sequence numbers", kind: "l2tpv3",
             a: "tunnel_id 1 peer_tunnel_id 2 session_id 10 peer_session_id 20 encap ip local 10.201.0.1 remote 10.201.0.2 seq both",
             b: "tunnel_id 2 peer_tunnel_id 1 session_id 20 peer_session_id 10 encap ip local 10.201.0.2 remote 10.201.0.1 seq both"),
        Case(name: "l2tpv3 udp over IPv6", kind: "l2tpv3",
             a: "tunnel_id 1 peer_tunnel_id 2 session_id 10 peer_session_id 20 encap udp local fd00:201::1 remote fd00:201::2 udp_sport 1701 udp_dport 1701",
             b: "tunnel_id 2 peer_tunnel_id 1 session_id 20 peer_session_id 10 encap udp local fd00:201::2 remote fd00:201::1 udp_sport 1701 udp_dport 1701"),
        Case(name: "gretap with key, checksum and sequence", kind: "gretap",
             a: "remote 10.201.0.2 local 10.201.0.1 key 5 csum seq", b: "remote 10.201.0.1 local 10.201.0.2 key 5 csum seq"),
        Case(name: "ip6gretap", kind: "ip6gretap", a: "remote fd00:201::2 local fd00:201::1", b: "remote fd00:201::1 local fd00:201::2"),
        Case(name: "gre-in-udp (gretap encap fou)", kind: "gretap",
             a: "remote 10.201.0.2 local 10.201.0.1 encap fou encap-sport auto encap-dport 4754",
             b: "remote 10.201.0.1 local 10.201.0.2 encap fou encap-sport auto encap-dport 4754"),
        Case(name: "gre (layer 3)", kind: "gre", a: "remote 10.201.0.2 local 10.201.0.1 okey 9 ikey 8",
             b: "remote 10.201.0.1 local 10.201.0.2 okey 8 ikey 9"),
        Case(name: "ipip", kind: "ipip", a: "remote 10.201.0.2 local 10.201.0.1", b: "remote 10.201.0.1 local 10.201.0.2"),
        Case(name: "sit carrying IPv6", kind: "sit", a: "remote 10.201.0.2 local 10.201.0.1", b: "remote 10.201.0.1 local 10.201.0.2", inner6: true),
        Case(name: "ip6tnl", kind: "ip6tnl", a: "remote fd00:201::2 local fd00:201::1 mode any",
             b: "remote fd00:201::1 local fd00:201::2 mode any"),
    ]

    @Test("Isthmus ↔ Isthmus", arguments: cases)
    func isthmusToIsthmus(_ c: Case) throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        let ns = Namespaces("ud")
        defer { ns.removeAll() }
        let (a, b) = try Self.pair(ns)
        let ta = try Tunnel(bin, ns: a, device: "t0", words: "type \(c.kind) \(c.a)")
        defer { ta.stop() }
        let tb = try Tunnel(bin, ns: b, device: "t0", words: "type \(c.kind) \(c.b)")
        defer { tb.stop() }
        try Self.checkTraffic(a, b, devA: "t0", devB: "t0", inner6: c.inner6)
        let s = try Self.show(bin, b, "t0")
        let st = Self.stats(s)
        // 2 MB crossed A → B (about 1,450 wire packets at this MTU); B sent at least the ACKs.
        #expect((st["rx_packets"] as? Int ?? 0) > 1000, "\(s)")
        #expect((st["rx_bytes"] as? Int ?? 0) > 2_000_000, "\(s)")
        #expect((st["tx_packets"] as? Int ?? 0) > 10, "\(s)")
        // Nothing dropped, except what the tunnel cannot carry by design: IPv6 neighbour discovery/MLD on an
        // IPv4-only IPIP device.
        var d = Self.drops(s).filter { $0.value > 0 }
        if c.kind == "ipip" { d["unsupported"] = nil }
        #expect(d.isEmpty, "drops: \(d)")
        #expect(Self.otherDrops(s).filter { $0.value > 0 }.isEmpty, "\(s)")
        // SIGTERM: exit 0, the device and the status socket are gone.
        #expect(tb.stop() == 0, "\(tb.output)")
        #expect((try Host.run(["ip", "-n", b, "link", "show", "t0"])).status != 0, "t0 left behind in \(b)")
        #expect(try Self.show(bin, b, "t0").isEmpty)
        #expect(ta.stop(SIGINT) == 0)
    }

    @Test("userspace VXLAN ↔ the kernel's VXLAN: ping, TCP both ways, ARP, same headers on the wire")
    func kernelVXLAN() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        let ns = Namespaces("uk")
        defer { ns.removeAll() }
        let (a, b) = try Self.pair(ns)
        try Host.sh("ip -n \(a) link add vx0 type vxlan id 4242 remote 10.201.0.2 local 10.201.0.1 dstport 4789 dev va")
        let t = try Tunnel(bin, ns: b, device: "vx0", words: "type vxlan id 4242 remote 10.201.0.1 local 10.201.0.2 dstport 4789 dev vb")
        defer { t.stop() }
        #expect(try Host.sh("ip -n \(b) -j link show vx0").contains("\"mtu\":1450"), "the device MTU follows the underlay, as the kernel's")
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("isth-uk-\(getpid()).pcap").path
        defer { unlink(pcap) }
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        dump.arguments = ["ip", "netns", "exec", a, "tcpdump", "-i", "va", "-U", "-w", pcap, "udp port 4789"]
        dump.standardOutput = FileHandle.nullDevice; dump.standardError = FileHandle.nullDevice
        try dump.run()
        usleep(500_000)
        try Self.checkTraffic(a, b, devA: "vx0", devB: "vx0")
        // SIGKILL: children of the test runner inherit SIGINT/SIGTERM blocked; -U wrote every packet already.
        usleep(300_000)
        kill(dump.processIdentifier, SIGKILL); dump.waitUntilExit()
        // Reverse direction: kernel receives a stream from userspace.
        try Self.transfer(from: b, to: a, address: "192.168.77.1", port: 5302)
        // ARP crossed: each side learned the other's overlay MAC.
        #expect(try Host.sh("ip -n \(a) neigh show 192.168.77.2").contains("lladdr"))
        #expect(try Host.sh("ip -n \(b) neigh show 192.168.77.1").contains("lladdr"))
        // tshark: both senders write the same VXLAN header (flags 0x0800 = I, the VNI); nothing malformed.
        let fields = try Host.sh("tshark -r \(pcap) -d udp.port==4789,vxlan -T fields -E separator=, -E occurrence=f -e ip.src -e vxlan.flags -e vxlan.vni -e eth.type -Y vxlan 2>/dev/null")
        let rows = fields.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let kernel = Set(rows.filter { $0.first == "10.201.0.1" }.map { $0[1...2].joined(separator: ",") })
        let user = Set(rows.filter { $0.first == "10.201.0.2" }.map { $0[1...2].joined(separator: ",") })
        #expect(kernel == ["0x08000000,4242"] || kernel == ["0x0800,4242"], "kernel VXLAN header fields: \(kernel)")
        #expect(user == kernel, "userspace VXLAN header fields \(user) differ from the kernel's \(kernel)")
        let expert = try Host.sh("tshark -r \(pcap) -d udp.port==4789,vxlan -q -z expert,error 2>/dev/null")
        #expect(!expert.contains("Malformed"), "\(expert)")
        let s = try Self.show(bin, b, "vx0")
        #expect(Self.drops(s).filter { $0.value > 0 }.isEmpty && Self.otherDrops(s).filter { $0.value > 0 }.isEmpty, "\(s)")
        #expect(t.stop() == 0)
    }

    /// An Ethernet frame (hex): a broadcast ARP request for 192.168.77.2 from 192.168.77.1.
    static let arpRequest = "ffffffffffff02000000000108060001080006040001020000000001c0a84d01000000000000c0a84d02"

    /// Sends raw UDP payloads (hex) from namespace `ns` to `dst`:`port`, from source port `sport`.
    static func inject(_ ns: String, dst: String, port: Int, sport: Int, _ payloads: [String]) throws {
        let py = """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('', \(sport)))
            for h in sys.argv[1:]:
                s.sendto(bytes.fromhex(h), ('\(dst)', \(port)))
            """
        try Host.run(["ip", "netns", "exec", ns, "python3", "-c", py] + payloads)
    }

    @Test("wrong cookie, unknown session, control and malformed datagrams are dropped and counted")
    func dropsCounted() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        let ns = Namespaces("uc")
        defer { ns.removeAll() }
        let (a, b) = try Self.pair(ns)
        let t = try Tunnel(bin, ns: b, device: "pw0", words: "type l2tpv3 tunnel_id 2 peer_tunnel_id 1 session_id 20 peer_session_id 10 encap udp local 10.201.0.2 remote 10.201.0.1 udp_sport 1701 udp_dport 1701 cookie a1b2c3d4 peer_cookie 0102030405060708")
        defer { t.stop() }
        let eth = Self.arpRequest
        let hdr = "00030000" + "00000014"   // L2TPv3 data over UDP, session 20
        let good = hdr + "0102030405060708" + "00000000" + eth
        let badCookie = hdr + "0102030405060709" + "00000000" + eth
        let unknownSession = "00030000" + "00000015" + "0102030405060708" + "00000000" + eth
        let control = "c8030014" + "00000000" + "00000000"          // T, L, S bits: a control message header
        let malformed = "0003"
        let badVersion = "00020000" + "00000014" + "0102030405060708" + "00000000" + eth
        try Self.inject(a, dst: "10.201.0.2", port: 1701, sport: 1701,
                        [good, badCookie, badCookie, badCookie, unknownSession, unknownSession, control, malformed, badVersion])
        usleep(300_000)
        let s = try Self.show(bin, b, "pw0")
        #expect((Self.stats(s)["rx_packets"] as? Int) == 1, "the good frame is delivered: \(s)")
        #expect(Self.drops(s)["bad_cookie"] == 3, "\(s)")
        #expect(Self.otherDrops(s)["unknown_session"] == 2, "\(s)")
        #expect(Self.otherDrops(s)["control"] == 1, "\(s)")
        #expect(Self.otherDrops(s)["malformed"] == 2, "\(s)")
        // From a host that is not the peer: unknown peer.
        try Host.sh("ip -n \(a) addr add 10.201.0.9/24 dev va")
        let py = "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.201.0.9', 1701)); s.sendto(bytes.fromhex(sys.argv[1]), ('10.201.0.2', 1701))"
        try Host.run(["ip", "netns", "exec", a, "python3", "-c", py, good])
        usleep(200_000)
        #expect(Self.drops(try Self.show(bin, b, "pw0"))["unknown_peer"] == 1)
        #expect(t.stop() == 0)
    }

    /// A raw-socket tunnel with one peer (gretap here) gets only its peer's datagrams from the kernel: several such
    /// tunnels on a host (a registry's point-to-point segment runs one per peer) do not each receive and drop every
    /// other peer's traffic. Before the filter, the stranger's datagram reached the engine as `unknown_peer`.
    @Test("a raw-socket tunnel with one peer is handed only that peer's datagrams")
    func rawSocketFiltersOnItsPeer() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        let ns = Namespaces("uf")
        defer { ns.removeAll() }
        let (a, b) = try Self.pair(ns)
        let t = try Tunnel(bin, ns: b, device: "gt0", words: "type gretap local 10.201.0.2 remote 10.201.0.1")
        defer { t.stop() }
        try Host.sh("ip -n \(a) addr add 10.201.0.9/24 dev va")
        let eth = Self.arpRequest
        let py = """
            import socket, sys
            for src in sys.argv[2:]:
                s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
                s.bind((src, 0))
                s.sendto(bytes.fromhex("00006558" + sys.argv[1]), ("10.201.0.2", 0))
            """
        try Host.run(["ip", "netns", "exec", a, "python3", "-c", py, eth, "10.201.0.9", "10.201.0.1", "10.201.0.9"])
        usleep(300_000)
        let s = try Self.show(bin, b, "gt0")
        #expect((Self.stats(s)["rx_packets"] as? Int) == 1, "the peer's frame is delivered: \(s)")
        #expect(Self.drops(s)["unknown_peer"] ?? 0 == 0 && Self.otherDrops(s)["unknown_peer"] ?? 0 == 0, "the stranger's two never reach the engine: \(s)")
        #expect(t.stop() == 0)
    }

    @Test("bad input names the problem and leaves nothing behind; a pre-existing TAP is kept")
    func lifecycleAndErrors() throws {
        guard let bin = Host.isthmusBinary else { Issue.record("isthmus binary not built"); return }
        let ns = Namespaces("ul")
        defer { ns.removeAll() }
        let (a, _) = try Self.pair(ns)
        func fails(_ words: String, _ expected: String) throws {
            let r = try Host.run([bin, "-n", a, "tunnel", "run"] + words.split(separator: " ").map(String.init))
            #expect(r.status != 0, "\(words) should fail")
            #expect(r.output.contains(expected), "\(words): \(r.output)")
            let links = try Host.sh("ip -n \(a) -o link show")
            #expect(links.split(separator: "\n").count == 2, "something was left behind by \(words):\n\(links)")
        }
        try fails("x0 type vxlan id 5 dstport 4789", "\"remote ADDR\" is required")
        try fails("x0 type frob", "frob")
        try fails("x0 type l2tpv3 tunnel_id 1 peer_tunnel_id 2 session_id 3 encap ip local 10.201.0.1 remote 10.201.0.2", "peer_session_id")
        try fails("x0 type vxlan id 5 remote 239.1.1.1 dstport 4789", "multicast")
        try fails("x0 type gretap remote 10.201.0.2 encap gue encap-dport 5555", "gue")
        try fails("x0 type vxlan id 5 remote 10.201.0.2 local 10.99.9.9 dstport 4789", "10.99.9.9")
        // The UDP port is taken: a clear error, and the device was not created.
        let busy = Process()
        busy.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        busy.arguments = ["ip", "netns", "exec", a, "python3", "-c", "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 4789)); time.sleep(30)"]
        try busy.run()
        defer { kill(busy.processIdentifier, SIGKILL); busy.waitUntilExit() }
        usleep(400_000)
        try fails("x0 type vxlan id 5 remote 10.201.0.2 dstport 4789", "in use")
        // A persistent TAP the user made is used and left in place.
        try Host.sh("ip -n \(a) tuntap add dev mine0 mode tap vnet_hdr")
        let t = try Tunnel(bin, ns: a, device: "mine0", words: "type vxlan id 6 remote 10.201.0.2 dstport 4790")
        // A second tunnel of the same name is refused.
        let r = try Host.run([bin, "-n", a, "tunnel", "run", "mine0", "type", "vxlan", "id", "6", "remote", "10.201.0.2", "dstport", "4791"])
        #expect(r.status != 0 && r.output.contains("already running"), "\(r.output)")
        #expect(t.stop() == 0)
        #expect(try Host.run(["ip", "-n", a, "link", "show", "mine0"]).status == 0, "the user's TAP must survive")
    }
}
