import Dataplane
import DataplaneWire
import Foundation
import L2TPAgent
import Netlink
import NetlinkWire
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The userspace data path of managed (control-protocol established) L2TPv3 sessions, as the L2TP runtime drives it:
/// per side one UDP socket bound to :1701 and connected to the peer, a thread that reads it and hands the data
/// messages to `deliver`, sessions added with the ids and cookies a control connection would have negotiated. Two
/// namespaces joined by a veth; two sessions in one tunnel (4-/8-byte cookies with the default sublayer, and one
/// with neither); ping and TCP across, the wire decoded by tshark, injected garbage dropped and counted.
/// The kernel data path needs l2tp modules this host kernel does not have (see KernelL2TPDataPath).
@Suite("Managed L2TPv3 data path (userspace)", .serialized, .enabled(if: Host.isRoot, "needs root"), .timeLimit(.minutes(10)))
struct ManagedDataPathTests {
    /// Reads a tunnel socket like the runtime's poll loop: data messages go to the data path, the rest is ignored.
    final class Pump: @unchecked Sendable {
        let stopping = Atomic<Bool>(false)
        let other = Atomic<Int>(0)
        var thread: WorkerThread?

        init(socket: Int32, tunnelID: UInt32, dataPath: any L2TPDataPath) throws {
            thread = try WorkerThread(name: "pump \(tunnelID)") { [self] in
                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
                defer { buf.deallocate() }
                var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
                while !stopping.load(ordering: .relaxed) {
                    guard poll(&fds, 1, 100) > 0 else { continue }
                    let n = recv(socket, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT))
                    guard n >= 0 else { continue }
                    let d = UnsafeRawBufferPointer(rebasing: buf[0..<n])
                    if L2TPAgent.isDataMessage(d) { dataPath.deliver(tunnelID: tunnelID, datagram: d) }
                    else { other.add(1, ordering: .relaxed) }
                }
            }
        }

        func stop() { stopping.store(true, ordering: .relaxed); thread?.join(); thread = nil }
    }

    /// A UDP socket created inside namespace `ns`, bound to `local`:1701 and connected to `remote`:1701.
    static func tunnelSocket(ns: String, local: String, remote: String) throws -> Int32 {
        try NetworkNamespace.with(ns) { () throws -> Int32 in
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemError("socket") }
            func address(_ ip: String) -> sockaddr_in {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = UInt16(1701).bigEndian
                _ = inet_pton(AF_INET, ip, &a.sin_addr)
                return a
            }
            var l = address(local), r = address(remote)
            let len = socklen_t(MemoryLayout<sockaddr_in>.size)
            guard withUnsafePointer(to: &l, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }) == 0,
                  withUnsafePointer(to: &r, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }) == 0 else {
                let e = SystemError("bind/connect \(local) → \(remote)")
                close(fd)
                throw e
            }
            return fd
        }
    }

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = [], i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func mtu(_ ns: String, _ dev: String) throws -> Int? {
        let out = try Host.sh("ip -n \(ns) -j link show \(dev)")
        let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]
        return list?.first?["mtu"] as? Int
    }

    /// tshark's first matching row of `fields` from `pcap`, decoding UDP 1701 as L2TP with the given cookie size and
    /// sublayer (tshark cannot tell them from the packet).
    static func decode(_ pcap: String, cookie: String, sublayer: String, filter: String, fields: [String]) throws -> [String] {
        let args = ["tshark", "-n", "-r", pcap, "-d", "udp.port==1701,l2tp", "-o", "l2tp.cookie_size:\(cookie)",
                    "-o", "l2tp.l2_specific:\(sublayer)", "-d", "l2tp.pw_type==0,eth", "-Y", filter,
                    "-T", "fields", "-E", "separator=,", "-E", "occurrence=f"] + fields.flatMap { ["-e", $0] }
        let out = try Host.run(args).output
        let line = out.split(separator: "\n").first { !$0.hasPrefix("Running as") && $0.contains(",") } ?? ""
        return line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    @Test("available() agrees with opening the kernel data path in this namespace")
    func kernelAvailability() {
        let opened = (try? KernelL2TPDataPath()) != nil
        #expect(KernelL2TPDataPath.available() == opened)
        if !opened {
            #expect { _ = try KernelL2TPDataPath() } throws: { "\($0)".contains("l2tp_eth") }
        }
    }

    @Test("two namespaces: ping and TCP over two sessions, tshark decodes L2TPv3, garbage dropped and counted, clean removal")
    func userspacePath() throws {
        try #require(Host.which("tshark") && Host.which("tcpdump") && Host.which("socat"), "needs tshark, tcpdump and socat")
        let ns = Namespaces("md")
        defer { ns.removeAll() }
        let a = try ns.make("a"), b = try ns.make("b")
        try Host.sh("""
            ip link add va netns \(a) type veth peer name vb netns \(b) &&
            ip -n \(a) addr add 10.210.0.1/24 dev va && ip -n \(b) addr add 10.210.0.2/24 dev vb &&
            ip -n \(a) link set va up && ip -n \(b) link set vb up
            """)
        let sa = try Self.tunnelSocket(ns: a, local: "10.210.0.1", remote: "10.210.0.2")
        defer { close(sa) }
        let sb = try Self.tunnelSocket(ns: b, local: "10.210.0.2", remote: "10.210.0.1")
        defer { close(sb) }

        let dpA = UserspaceL2TPDataPath(), dpB = UserspaceL2TPDataPath()
        try dpA.addTunnel(tunnelID: 1, peerTunnelID: 2, socket: sa, ipv6: false)
        try dpB.addTunnel(tunnelID: 2, peerTunnelID: 1, socket: sb, ipv6: false)
        defer { dpA.removeTunnel(tunnelID: 1); dpB.removeTunnel(tunnelID: 2) }
        let pumpA = try Pump(socket: sa, tunnelID: 1, dataPath: dpA)
        defer { pumpA.stop() }
        let pumpB = try Pump(socket: sb, tunnelID: 2, dataPath: dpB)
        defer { pumpB.stop() }

        // Session 1: A sends cookie a1b2c3d4 (4 bytes) and requires 0102030405060708 (8 bytes); default sublayer.
        // Session 2: no cookies, no sublayer; B's MTU given explicitly.
        let cookie4 = Self.hex("a1b2c3d4"), cookie8 = Self.hex("0102030405060708")
        let s1A = ManagedSession(tunnelID: 1, peerTunnelID: 2, sessionID: 10, peerSessionID: 20, cookie: cookie4,
                                 peerCookie: cookie8, l2SpecificSublayer: true, interfaceName: "mpw0")
        let s1B = ManagedSession(tunnelID: 2, peerTunnelID: 1, sessionID: 20, peerSessionID: 10, cookie: cookie8,
                                 peerCookie: cookie4, l2SpecificSublayer: true, interfaceName: "mpw0")
        let s2A = ManagedSession(tunnelID: 1, peerTunnelID: 2, sessionID: 11, peerSessionID: 21, l2SpecificSublayer: false,
                                 interfaceName: "mpw1")
        let s2B = ManagedSession(tunnelID: 2, peerTunnelID: 1, sessionID: 21, peerSessionID: 11, l2SpecificSublayer: false,
                                 interfaceName: "mpw1", mtu: 1400)
        // The TAPs are created in the namespace of the thread that adds the session.
        try NetworkNamespace.with(a) { try dpA.addSession(s1A); try dpA.addSession(s2A) }
        try NetworkNamespace.with(b) { try dpB.addSession(s1B); try dpB.addSession(s2B) }
        #expect(throws: DataPathError.self) { try NetworkNamespace.with(b) { try dpB.addSession(s1B) } }
        #expect(throws: DataPathError.self) { try dpB.addSession(ManagedSession(tunnelID: 9, peerTunnelID: 1, sessionID: 5, peerSessionID: 6, interfaceName: "mpw9")) }

        // MTU as l2tp_eth computes it: 1500 − 20 IP − 8 UDP − header (4 + 4 + cookie + sublayer) − 14 Ethernet.
        #expect(try Self.mtu(a, "mpw0") == 1500 - 28 - 16 - 14)
        #expect(try Self.mtu(b, "mpw0") == 1500 - 28 - 20 - 14)
        #expect(try Self.mtu(a, "mpw1") == 1500 - 28 - 8 - 14)
        #expect(try Self.mtu(b, "mpw1") == 1400)

        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("isth-md-\(getpid()).pcap").path
        defer { unlink(pcap) }
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        dump.arguments = ["ip", "netns", "exec", a, "tcpdump", "-i", "va", "-U", "-w", pcap, "udp port 1701"]
        dump.standardOutput = FileHandle.nullDevice; dump.standardError = FileHandle.nullDevice
        try dump.run()
        defer { if dump.isRunning { kill(dump.processIdentifier, SIGKILL); dump.waitUntilExit() } }
        usleep(500_000)

        try Host.sh("""
            ip -n \(a) addr add 192.168.210.1/24 dev mpw0 && ip -n \(b) addr add 192.168.210.2/24 dev mpw0 &&
            ip -n \(a) addr add 192.168.211.1/24 dev mpw1 && ip -n \(b) addr add 192.168.211.2/24 dev mpw1
            """)
        try Host.sh("ip netns exec \(a) ping -c 3 -i 0.2 -W 2 192.168.210.2")
        try Host.sh("ip netns exec \(b) ping -c 3 -i 0.2 -W 2 192.168.210.1")
        try Host.sh("ip netns exec \(a) ping -c 3 -i 0.2 -W 2 192.168.211.2")
        try Host.sh("ip netns exec \(b) ping -c 3 -i 0.2 -W 2 -s 1372 -M do 192.168.211.1")   // fills B's 1400 MTU
        // TCP: the kernel hands the TAP 64 KB TSO frames, which the transmit thread segments.
        try UserspaceDataplaneTests.transfer(from: a, to: b, address: "192.168.210.2", port: 5311)
        usleep(300_000)
        kill(dump.processIdentifier, SIGKILL); dump.waitUntilExit()

        // Counters: traffic both ways on both sessions, nothing dropped.
        let c1 = try #require(dpB.counters(tunnelID: 2, sessionID: 20))
        #expect(c1.rxPackets > 1000 && c1.rxBytes > 2_000_000, "\(c1)")
        #expect(c1.txPackets > 10, "\(c1)")
        let c2 = try #require(dpB.counters(tunnelID: 2, sessionID: 21))
        #expect(c2.rxPackets >= 3 && c2.txPackets >= 3, "\(c2)")
        for c in [c1, c2, dpA.counters(tunnelID: 1, sessionID: 10), dpA.counters(tunnelID: 1, sessionID: 11),
                  dpA.counters(tunnelID: 1, sessionID: nil), dpB.counters(tunnelID: 2, sessionID: nil)] {
            #expect(c?.totalDrops == 0, "\(String(describing: c))")
        }
        #expect(pumpA.other.load(ordering: .relaxed) == 0 && pumpB.other.load(ordering: .relaxed) == 0)

        // On the wire: tshark decodes A's and B's data messages as L2TPv3 with the peer's session id and the cookie
        // (and finds the ICMP inside, so the sublayer and the Ethernet frame are where they belong).
        let fromA = try Self.decode(pcap, cookie: "4 Byte Cookie", sublayer: "Default L2-Specific",
                                    filter: "ip.src==10.210.0.1 && l2tp.sid==20 && icmp",
                                    fields: ["l2tp.flags", "l2tp.sid", "l2tp.cookie", "l2tp.l2_spec_s", "icmp.type"])
        #expect(fromA == ["0x0003", "0x00000014", "a1b2c3d4", "0", "8"], "\(fromA)")
        let fromB = try Self.decode(pcap, cookie: "8 Byte Cookie", sublayer: "Default L2-Specific",
                                    filter: "ip.src==10.210.0.2 && l2tp.sid==10 && icmp",
                                    fields: ["l2tp.flags", "l2tp.sid", "l2tp.cookie", "icmp.type"])
        #expect(fromB == ["0x0003", "0x0000000a", "0102030405060708", "0"], "\(fromB)")
        let plain = try Self.decode(pcap, cookie: "None", sublayer: "None", filter: "ip.src==10.210.0.1 && l2tp.sid==21 && icmp",
                                    fields: ["l2tp.sid", "icmp.type"])
        #expect(plain == ["0x00000015", "8"], "\(plain)")
        let expert = try Host.run(["tshark", "-n", "-r", pcap, "-d", "udp.port==1701,l2tp", "-o", "l2tp.cookie_size:4 Byte Cookie",
                                   "-o", "l2tp.l2_specific:Default L2-Specific", "-Y", "ip.src==10.210.0.1 && l2tp.sid==20",
                                   "-q", "-z", "expert,error"]).output
        #expect(!expert.contains("Malformed"), "\(expert)")

        // Garbage from A's socket to B (whose session 20 requires a1b2c3d4): wrong cookie, unknown session, too
        // short, a message without a frame; and one good ARP request.
        let arp = "ffffffffffff02000000000108060001080006040001020000000001c0a8d201000000000000c0a8d202"
        let hdr20 = "00030000" + "00000014"
        let good = hdr20 + "a1b2c3d4" + "00000000" + arp
        let badCookie = hdr20 + "a1b2c3d5" + "00000000" + arp
        let unknownSession = "00030000" + "00000063" + "a1b2c3d4" + "00000000" + arp
        let short = "0003"
        let noFrame = hdr20 + "a1b2c3d4" + "00000000"
        let before = try #require(dpB.counters(tunnelID: 2, sessionID: 20))
        for h in [good, badCookie, badCookie, badCookie, unknownSession, unknownSession, short, noFrame] {
            let bytes = Self.hex(h)
            #expect(bytes.withUnsafeBytes { send(sa, $0.baseAddress, $0.count, 0) } == bytes.count)
        }
        var after = before
        for _ in 0..<40 {
            usleep(50_000)
            after = try #require(dpB.counters(tunnelID: 2, sessionID: 20))
            if after.drops[.badCookie] == 3 && after.drops[.malformed] == 1 { break }
        }
        #expect(after.drops[.badCookie] == 3, "\(after)")
        #expect(after.drops[.malformed] == 1, "\(after)")
        #expect(after.rxPackets >= before.rxPackets + 1, "the good frame is delivered")
        let tunnelB = try #require(dpB.counters(tunnelID: 2, sessionID: nil))
        #expect(tunnelB.drops[.unknownSession] == 2, "\(tunnelB)")
        #expect(tunnelB.drops[.malformed] == 1, "\(tunnelB)")
        #expect(dpB.counters(tunnelID: 2, sessionID: 99) == nil && dpB.counters(tunnelID: 7, sessionID: nil) == nil)

        // Hostile bytes straight into deliver: every prefix of a good message, and random tails after a valid
        // header for session 20 / 21 or a random first word. Nothing traps; everything is counted somewhere.
        var rng = SeededRandom(seed: 0x1701)
        let goodBytes = Self.hex(good)
        for n in 0..<goodBytes.count { dpB.deliver(tunnelID: 2, datagram: Array(goodBytes[0..<n])) }
        let prefixes = [Self.hex(hdr20), Self.hex("0003000000000015"), []]
        for _ in 0..<3000 {
            dpB.deliver(tunnelID: 2, datagram: rng.pick(prefixes) + rng.bytes(rng.below(80)))
        }
        dpB.deliver(tunnelID: 2, datagram: UnsafeRawBufferPointer(start: nil, count: 0))
        let hostile = try #require(dpB.counters(tunnelID: 2, sessionID: nil))
        #expect(hostile.drops[.malformed, default: 0] > 1, "\(hostile)")

        // Removing a session stops it and removes its TAP; removing the tunnel takes the other one.
        dpB.removeSession(tunnelID: 2, sessionID: 20)
        #expect(dpB.counters(tunnelID: 2, sessionID: 20) == nil)
        #expect(try Host.run(["ip", "-n", b, "link", "show", "mpw0"]).status != 0, "mpw0 left behind in \(b)")
        dpB.removeTunnel(tunnelID: 2)
        #expect(try Host.run(["ip", "-n", b, "link", "show", "mpw1"]).status != 0, "mpw1 left behind in \(b)")
        dpA.removeSession(tunnelID: 1, sessionID: 99)   // unknown: ignored
    }
}

/// The kernel data path's requests, against a message-level fake (this host kernel has no l2tp modules; the real
/// thing needs the VM): what TUNNEL_CREATE and SESSION_CREATE carry, the MTU/up request, the stats mapping, hints.
@Suite("Managed L2TPv3 data path (kernel requests, fake netlink)")
struct ManagedDataPathKernelRequestTests {
    static let family = GenericFamily(id: 32, name: "l2tp")

    static func command(_ m: NetlinkMessage) -> L2TPGenlCommand? {
        (try? GenericMessage(m)).map { L2TPGenlCommand(rawValue: $0.header.command) }
    }

    @Test("socket handed over, Ethernet pseudowire with cookies and sublayer, MTU and up by name, stats, removal")
    func requests() throws {
        var stats = L2TPStats()
        stats.rxPackets = 7; stats.rxBytes = 700; stats.txPackets = 3; stats.txBytes = 300
        stats.rxCookieDiscards = 2; stats.rxErrors = 3; stats.txErrors = 1
        let reply = stats
        let genl = FakeNetlink { m in
            guard Self.command(m) == .sessionGet else { return [] }
            return [try! L2TPNetlink.sessionReply(L2TPSessionConfig(tunnelID: 5, sessionID: 50, peerSessionID: 60, stats: reply), family: 32)]
        }
        let route = FakeNetlink()
        let dp = KernelL2TPDataPath(client: L2TPClient(transport: genl, family: Self.family), route: route)
        try dp.addTunnel(tunnelID: 5, peerTunnelID: 6, socket: 42, ipv6: false)
        #expect(Self.command(genl.sent[0]) == .tunnelCreate)
        let t = try L2TPTunnelConfig(decoding: genl.sent[0])
        #expect(t == L2TPTunnelConfig(tunnelID: 5, peerTunnelID: 6, protocolVersion: 3, encapsulation: .udp, fd: 42), "\(t)")

        try dp.addSession(ManagedSession(tunnelID: 5, peerTunnelID: 6, sessionID: 50, peerSessionID: 60, cookie: [1, 2, 3, 4],
                                         peerCookie: [9, 8, 7, 6, 5, 4, 3, 2], l2SpecificSublayer: false, interfaceName: "pw5", mtu: 1400))
        #expect(Self.command(genl.sent[1]) == .sessionCreate)
        let s = try L2TPSessionConfig(decoding: genl.sent[1])
        #expect(s.tunnelID == 5 && s.sessionID == 50 && s.peerSessionID == 60 && s.pseudowireType == .eth)
        #expect(s.l2specType == L2TPL2SpecType.none && s.l2specLength == 0 && s.recvSeq == nil && s.sendSeq == nil)
        #expect(s.cookie == [1, 2, 3, 4] && s.peerCookie == [9, 8, 7, 6, 5, 4, 3, 2] && s.ifname == "pw5")
        let link = try LinkMessage(route.sent[0])
        #expect(link.name == "pw5" && link.mtu == 1400 && link.header.index == 0)
        #expect(link.header.flags & UInt32(IFF_UP) != 0 && link.header.change & UInt32(IFF_UP) != 0)

        // Default sublayer, no cookies, no MTU: only up.
        try dp.addSession(ManagedSession(tunnelID: 5, peerTunnelID: 6, sessionID: 51, peerSessionID: 61, interfaceName: "pw6"))
        let s2 = try L2TPSessionConfig(decoding: genl.sent[2])
        #expect(s2.l2specType == .default && s2.l2specLength == 4 && s2.cookie == nil && s2.peerCookie == nil)
        #expect(try LinkMessage(route.sent[1]).mtu == nil)

        let c = try #require(dp.counters(tunnelID: 5, sessionID: 50))
        #expect(c.rxPackets == 7 && c.rxBytes == 700 && c.txPackets == 3 && c.txBytes == 300)
        #expect(c.drops[.badCookie] == 2 && c.drops[.malformed] == 1 && c.drops[.ioError] == 1, "\(c)")
        // Data the kernel could not place reaches userspace: counted on the tunnel.
        dp.deliver(tunnelID: 5, datagram: [0x00, 0x03, 0, 0, 0, 0, 0, 99, 1, 2, 3, 4])
        dp.deliver(tunnelID: 5, datagram: [0x00, 0x03])
        let tc = try #require(dp.counters(tunnelID: 5, sessionID: nil))
        #expect(tc.drops[.unknownSession] == 1 && tc.drops[.malformed] == 1, "\(tc)")

        dp.removeSession(tunnelID: 5, sessionID: 50)
        #expect(Self.command(genl.sent.last!) == .sessionDelete)
        #expect(dp.counters(tunnelID: 5, sessionID: 50) == nil)
        dp.removeTunnel(tunnelID: 5)
        #expect(Self.command(genl.sent.last!) == .tunnelDelete)
        #expect(try L2TPTunnelConfig(decoding: genl.sent.last!).tunnelID == 5)
    }

    @Test("errors: no l2tp_eth, a busy socket, an unknown tunnel, and a failed MTU undoes the session")
    func errors() throws {
        let genl = FakeNetlink()
        let route = FakeNetlink()
        let dp = KernelL2TPDataPath(client: L2TPClient(transport: genl, family: Self.family), route: route)
        genl.answer = { _ in throw NetlinkError(operation: "create", errno: EBUSY) }
        #expect { try dp.addTunnel(tunnelID: 1, peerTunnelID: 2, socket: 3, ipv6: false) } throws: {
            ($0 as? L2TPError)?.hint.contains("already carries") == true
        }
        genl.answer = { _ in [] }
        try dp.addTunnel(tunnelID: 1, peerTunnelID: 2, socket: 3, ipv6: false)
        #expect(throws: DataPathError.self) { try dp.addSession(ManagedSession(tunnelID: 9, peerTunnelID: 2, sessionID: 1, peerSessionID: 1, interfaceName: "x")) }
        #expect(throws: DataPathError.self) { try dp.addSession(ManagedSession(tunnelID: 1, peerTunnelID: 2, sessionID: 1, peerSessionID: 1, cookie: [1, 2], interfaceName: "x")) }
        genl.answer = { m in
            if Self.command(m) == .sessionCreate { throw NetlinkError(operation: "create session", errno: EPROTONOSUPPORT) }
            return []
        }
        #expect { try dp.addSession(ManagedSession(tunnelID: 1, peerTunnelID: 2, sessionID: 1, peerSessionID: 1, interfaceName: "x")) } throws: {
            ($0 as? L2TPError)?.hint.contains("l2tp_eth") == true
        }
        genl.answer = { _ in [] }
        route.answer = { _ in throw NetlinkError(operation: "set x up mtu 9", errno: EINVAL) }
        let before = genl.sent.count
        #expect(throws: NetlinkError.self) { try dp.addSession(ManagedSession(tunnelID: 1, peerTunnelID: 2, sessionID: 1, peerSessionID: 1, interfaceName: "x", mtu: 9000)) }
        #expect(genl.sent[before...].map { Self.command($0) } == [.sessionCreate, .sessionDelete])
    }
}
