#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// `l2tp ...` against a message-level fake kernel: keyword errors, the missing-module error, and output formatted
/// exactly as iproute2 6.1 prints the same kernel replies (captured in the qemu vm, see L2TPKernelReplies).
@Suite("l2tp command")
struct L2TPCommandTests {
    /// A fake NETLINK_GENERIC kernel with the l2tp family (id 32) that answers dumps with the captured replies.
    /// With `family: false` the controller answers ENOENT, as a kernel without l2tp_netlink does.
    static func kernel(family: Bool = true, onRequest: @escaping (GenericMessage) throws -> Void = { _ in }) -> FakeNetlink {
        FakeNetlink { m in
            if m.type == UInt16(GENL_ID_CTRL) {
                guard family else { throw NetlinkError(operation: "CTRL_CMD_GETFAMILY l2tp", errno: ENOENT) }
                return [try GenericFamily(id: 32, name: "l2tp", version: 1, maxAttribute: 35).replyMessage()]
            }
            let g = try GenericMessage(m)
            try onRequest(g)
            switch g.header.command {
            case UInt8(L2TP_CMD_TUNNEL_GET):
                return try L2TPKernelReplies.messages(L2TPKernelReplies.tunnels).flatMap { try NetlinkMessage.parse($0) }
            case UInt8(L2TP_CMD_SESSION_GET):
                return try L2TPKernelReplies.messages(L2TPKernelReplies.sessions).flatMap { try NetlinkMessage.parse($0) }
            default:
                return []
            }
        }
    }

    static func run(_ line: String, json: Bool = false, genl: FakeNetlink = kernel()) throws -> Session {
        var o = Options()
        o.json = json
        let route = FakeNetlink()
        let s = Session(options: o) { proto, _ in proto == NETLINK_GENERIC ? genl : route }
        try IPCommandRunner.run(try splitCommandLine(line), session: s)
        return s
    }

    /// The message of the error a command line throws (nil when it succeeds).
    static func error(_ line: String, genl: FakeNetlink = kernel()) -> String? {
        do { _ = try run(line, genl: genl); return nil } catch { return "\(error)" }
    }

    // MARK: keyword errors

    @Test("an unknown keyword is named with the valid ones")
    func unknownKeyword() throws {
        let genl = Self.kernel()
        let e = try #require(Self.error("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 bogus 3", genl: genl))
        #expect(e.contains("\"bogus\""))
        #expect(e.contains("tunnel_id") && e.contains("udp_sport") && e.contains("peer_cookie"))
        // Parsing fails before anything is asked of the kernel.
        #expect(genl.sent.isEmpty)
    }

    @Test("bad values name the keyword, the word and what was expected", arguments: [
        ("l2tp add tunnel encap gre", ["\"gre\"", "\"encap\"", "ip, udp"]),
        ("l2tp add tunnel tunnel_id abc", ["\"abc\"", "\"tunnel_id\""]),
        ("l2tp add tunnel tunnel_id 4294967296", ["\"4294967296\"", "\"tunnel_id\""]),
        ("l2tp add tunnel udp_sport 70000", ["\"70000\"", "\"udp_sport\"", "0..65535"]),
        ("l2tp add tunnel udp_csum maybe", ["\"maybe\"", "\"udp_csum\"", "on, off"]),
        ("l2tp add tunnel udp6_csum_rx yes", ["\"yes\"", "\"udp6_csum_rx\"", "on, off"]),
        ("l2tp add tunnel local 10.0.0.300", ["\"10.0.0.300\"", "\"local\""]),
        ("l2tp add session cookie 123", ["\"123\"", "\"cookie\"", "8 or 16 hex digits"]),
        ("l2tp add session peer_cookie 0102030g", ["\"0102030g\"", "\"peer_cookie\"", "hex"]),
        ("l2tp add session l2spec_type fancy", ["\"fancy\"", "\"l2spec_type\"", "none, default"]),
        ("l2tp add session seq sometimes", ["\"sometimes\"", "\"seq\"", "none, send, recv, both"]),
        ("l2tp add session name bad/name", ["\"bad/name\"", "\"name\""]),
        ("l2tp add session tunnel_id", ["\"tunnel_id\"", "needs a value"]),
        ("l2tp frobnicate tunnel", ["\"frobnicate\"", "add", "delete", "show"]),
    ])
    func badValues(_ line: String, _ fragments: [String]) throws {
        let e = try #require(Self.error(line))
        for f in fragments { #expect(e.contains(f), "\(line): \(e)") }
    }

    @Test("missing arguments are named, in iproute2's order", arguments: [
        ("l2tp add tunnel_id 1", "\"tunnel\" or \"session\""),
        ("l2tp add tunnel peer_tunnel_id 2", "\"tunnel_id\""),
        ("l2tp add tunnel tunnel_id 1", "\"peer_tunnel_id\""),
        ("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 remote 10.0.0.2", "\"local\""),
        ("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 local any remote 10.0.0.2", "\"local\""),
        ("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 local 10.0.0.1", "\"remote\""),
        ("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 local 10.0.0.1 remote 10.0.0.2", "\"udp_sport\""),
        ("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 local 10.0.0.1 remote 10.0.0.2 udp_sport 1701", "\"udp_dport\""),
        ("l2tp add session tunnel_id 1 session_id 2", "\"peer_session_id\""),
        ("l2tp add session tunnel_id 1 peer_session_id 2", "\"session_id\""),
        ("l2tp del tunnel", "\"tunnel_id\""),
        ("l2tp del session tunnel_id 1", "\"session_id\""),
        ("l2tp del session session_id 1", "\"tunnel_id\""),
        ("l2tp show", "\"tunnel\" or \"session\""),
    ])
    func missingArguments(_ line: String, _ fragment: String) throws {
        let e = try #require(Self.error(line))
        #expect(e.contains(fragment), "\(line): \(e)")
    }

    @Test("local and remote of different families are refused before the kernel sees them")
    func mixedFamilies() throws {
        let e = try #require(Self.error("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 encap ip local 10.0.0.1 remote 2001:db8::2"))
        #expect(e.contains("10.0.0.1") && e.contains("2001:db8::2") && e.contains("must both be IPv4 or both IPv6"))
    }

    @Test("help prints the usage")
    func help() throws {
        let e = try #require(Self.error("l2tp help"))
        #expect(e.contains("l2tp add tunnel") && e.contains("l2tp show session"))
    }

    // MARK: the missing family

    @Test("a kernel without the l2tp family gets a plain-words error naming the modules")
    func missingFamily() throws {
        let e = try #require(Self.error("l2tp add tunnel tunnel_id 1 peer_tunnel_id 2 encap ip local 10.0.0.1 remote 10.0.0.2",
                                        genl: Self.kernel(family: false)))
        for f in ["no l2tp generic-netlink family", "l2tp_netlink", "l2tp_eth", "l2tp_ip", "modprobe l2tp_eth l2tp_ip",
                  "isthmus tunnel run NAME type l2tpv3"] {
            #expect(e.contains(f), "\(e)")
        }
        #expect(Self.error("l2tp show tunnel", genl: Self.kernel(family: false))?.contains("l2tp_netlink") == true)
    }

    @Test("the typed error is GenericFamilyUnavailable")
    func missingFamilyType() throws {
        #expect(throws: GenericFamilyUnavailable(family: "l2tp")) {
            try Self.run("l2tp show session", genl: Self.kernel(family: false))
        }
    }

    @Test("the family is resolved once per socket")
    func familyCached() throws {
        let genl = Self.kernel()
        let s = try Self.run("l2tp show tunnel", genl: genl)
        try IPCommandRunner.run(["l2tp", "show", "session"], session: s)
        #expect(genl.sent.filter { $0.type == UInt16(GENL_ID_CTRL) }.count == 1)
    }

    @Test("a missing pseudowire module on session create is explained")
    func missingEthModule() throws {
        let genl = Self.kernel { g in
            if g.header.command == UInt8(L2TP_CMD_SESSION_CREATE) {
                throw NetlinkError(operation: "L2TP_CMD_SESSION_CREATE", errno: EPROTONOSUPPORT)
            }
        }
        let e = try #require(Self.error("l2tp add session tunnel_id 1 session_id 2 peer_session_id 3", genl: genl))
        #expect(e.contains("modprobe l2tp_eth"), "\(e)")
    }

    // MARK: requests

    @Test("offset and peer_offset are accepted and ignored, like iproute2")
    func offsetsIgnored() throws {
        let a = Self.kernel(), b = Self.kernel()
        _ = try Self.run("l2tp add session tunnel_id 1 session_id 2 peer_session_id 3 offset 8 peer_offset 16", genl: a)
        _ = try Self.run("l2tp add session tunnel_id 1 session_id 2 peer_session_id 3", genl: b)
        #expect(a.sentBytesWithoutSeq == b.sentBytesWithoutSeq)
    }

    @Test("verbs and id keywords take iproute2's abbreviations")
    func abbreviations() throws {
        let a = Self.kernel(), b = Self.kernel()
        _ = try Self.run("l2tp a session tid 0x10 sid 010 psid 3 ptid 4", genl: a)
        _ = try Self.run("l2tp add session tunnel_id 16 session_id 8 peer_session_id 3 peer_tunnel_id 4", genl: b)
        #expect(a.sentBytesWithoutSeq == b.sentBytesWithoutSeq)
        let d = Self.kernel()
        _ = try Self.run("l2tp d tunnel tunnel_id 7", genl: d)
        let sent = try GenericMessage(try #require(d.sent.last))
        #expect(sent.header.command == UInt8(L2TP_CMD_TUNNEL_DELETE))
    }

    @Test("add tunnel session creates both, tunnel first")
    func tunnelAndSession() throws {
        let genl = Self.kernel()
        _ = try Self.run("l2tp add tunnel session tunnel_id 1 peer_tunnel_id 2 session_id 3 peer_session_id 4 encap ip local 10.0.0.1 remote 10.0.0.2", genl: genl)
        let cmds = try genl.sent.filter { $0.type == 32 }.map { try GenericMessage($0).header.command }
        #expect(cmds == [UInt8(L2TP_CMD_TUNNEL_CREATE), UInt8(L2TP_CMD_SESSION_CREATE)])
    }

    // MARK: output, against iproute2 6.1 printing the same kernel replies

    @Test("show tunnel prints what ip l2tp show tunnel prints")
    func showTunnelText() throws {
        let s = try Self.run("l2tp show tunnel")
        #expect(s.output.lines == [
            "Tunnel 1001, encap UDP",
            "  From 192.168.1.1 to 192.168.1.2",
            "  Peer tunnel 1002",
            "  UDP source / dest ports: 1701/1701",
            "  UDP checksum: disabled",
            "Tunnel 3001, encap IP",
            "  From 192.168.1.1 to 192.168.1.3",
            "  Peer tunnel 3002",
            "Tunnel 4001, encap UDP",
            "  From 2001:db8::1 to 2001:db8::2",
            "  Peer tunnel 4002",
            "  UDP source / dest ports: 1702/1702",
            "  UDP checksum: rx",
            "Tunnel 5001, encap UDP",
            "  From 192.168.1.1 to 192.168.1.5",
            "  Peer tunnel 5002",
            "  UDP source / dest ports: 1705/1706",
            "  UDP checksum: enabled",
        ])
    }

    @Test("-j show tunnel prints what ip -j l2tp show tunnel prints")
    func showTunnelJSON() throws {
        let s = try Self.run("l2tp show tunnel", json: true)
        #expect(JSON.array(s.output.json).serialized() == """
            [{"tunnel_id":1001,"encap":"UDP","local":"192.168.1.1","peer":"192.168.1.2","peer_tunnel":1002,"local_port":1701,"peer_port":1701,"checksum":false},{"tunnel_id":3001,"encap":"IP","local":"192.168.1.1","peer":"192.168.1.3","peer_tunnel":3002},{"tunnel_id":4001,"encap":"UDP","local":"2001:db8::1","peer":"2001:db8::2","peer_tunnel":4002,"local_port":1702,"peer_port":1702,"checksum_tx":false,"checksum_rx":true},{"tunnel_id":5001,"encap":"UDP","local":"192.168.1.1","peer":"192.168.1.5","peer_tunnel":5002,"local_port":1705,"peer_port":1706,"checksum":true}]
            """)
    }

    /// iproute2 6.1 printed the cookies of session 2003 again for 2001, 2005 and 3101 (its parser keeps state
    /// between dump messages); the kernel reported no cookies for those, and Isthmus prints what the kernel said.
    @Test("show session prints what ip l2tp show session prints (without iproute2's cookie carry-over)")
    func showSessionText() throws {
        let s = try Self.run("l2tp show session")
        #expect(s.output.lines == [
            "Session 2003 in tunnel 1001",
            "  Peer session 2004, tunnel 1002",
            "  interface name: l2tpeth1",
            "  offset 0, peer offset 0",
            "  cookie 0102030405060708  peer cookie a1b2c3d4",
            "Session 2001 in tunnel 1001",
            "  Peer session 2002, tunnel 1002",
            "  interface name: l2tpeth0",
            "  offset 0, peer offset 0",
            "",
            "Session 2005 in tunnel 1001",
            "  Peer session 2006, tunnel 1002",
            "  interface name: l2tpx0",
            "  offset 0, peer offset 0",
            "",
            "  sequence numbering: send recv",
            "Session 3101 in tunnel 3001",
            "  Peer session 3102, tunnel 3002",
            "  interface name: l2tpeth2",
            "  offset 0, peer offset 0",
            "",
            "  sequence numbering: send",
        ])
    }

    @Test("-j show session prints iproute2's keys")
    func showSessionJSON() throws {
        let s = try Self.run("l2tp show session", json: true)
        #expect(JSON.array(s.output.json).serialized() == """
            [{"session_id":2003,"tunnel_id":1001,"peer_session_id":2004,"peer_tunnel_id":1002,"interface":"l2tpeth1","cookie":"0102030405060708","peer_cookie":"a1b2c3d4"},{"session_id":2001,"tunnel_id":1001,"peer_session_id":2002,"peer_tunnel_id":1002,"interface":"l2tpeth0"},{"session_id":2005,"tunnel_id":1001,"peer_session_id":2006,"peer_tunnel_id":1002,"interface":"l2tpx0","send_seq":null,"recv_seq":null},{"session_id":3101,"tunnel_id":3001,"peer_session_id":3102,"peer_tunnel_id":3002,"interface":"l2tpeth2","send_seq":null}]
            """)
    }

    @Test("show filters by tunnel_id and session_id")
    func showFilters() throws {
        #expect(try Self.run("l2tp show tunnel tunnel_id 3001").output.lines.first == "Tunnel 3001, encap IP")
        #expect(try Self.run("l2tp show tunnel tunnel_id 3001").output.lines.count == 3)
        let bySession = try Self.run("l2tp show session tunnel_id 1001 session_id 2005", json: true).output.json
        #expect(bySession.count == 1 && bySession.first?["session_id"] == JSON(2005))
        #expect(try Self.run("l2tp show session tunnel_id 1001", json: true).output.json.count == 3)
        #expect(try Self.run("l2tp list session session_id 3101", json: true).output.json.count == 1)
        #expect(try Self.run("l2tp show tunnel tunnel_id 9", json: true).output.json.isEmpty)
    }

    @Test("reorder timeout and IPv6 checksums print as iproute2 formats them")
    func formattingCorners() {
        let s = L2TPSessionConfig(tunnelID: 1, peerTunnelID: 2, sessionID: 3, peerSessionID: 4, reorderTimeout: 250,
                                  cookie: [0xde, 0xad, 0xbe, 0xef])
        #expect(L2TPCommand.sessionText(s) == [
            "Session 3 in tunnel 1", "  Peer session 4, tunnel 2", "  offset 0, peer offset 0",
            "  cookie deadbeef  reorder timeout: 250",
        ])
        #expect(L2TPCommand.sessionJSON(s).serialized() ==
            #"{"session_id":3,"tunnel_id":1,"peer_session_id":4,"peer_tunnel_id":2,"cookie":"deadbeef","reorder_timeout":250}"#)
        var t = L2TPTunnelConfig(tunnelID: 1, peerTunnelID: 2, local: IPAddress("fe80::1"), remote: IPAddress("fe80::2"),
                                 localPort: 1, remotePort: 2)
        #expect(L2TPCommand.tunnelText(t).last == "  UDP checksum: enabled")
        t.udp6ZeroChecksumRX = true
        #expect(L2TPCommand.tunnelText(t).last == "  UDP checksum: tx")
        t.udp6ZeroChecksumTX = true
        #expect(L2TPCommand.tunnelText(t).last == "  UDP checksum: disabled")
    }
}

