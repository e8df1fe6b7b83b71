import CLinuxUAPI
import NetlinkWire
import TestSupport
import Testing

/// Generic netlink and the l2tp family's codecs, against requests iproute2 6.1 sent and replies kernel 6.1 gave.
@Suite("L2TP generic netlink codecs")
struct L2TPNetlinkTests {
    static func hex(_ b: [UInt8]) -> String { b.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    /// A request as the golden capture stores it: seq and pid zero, NLM_F_REQUEST|NLM_F_ACK as the socket sets them.
    static func wire(_ m: NetlinkMessage) -> String {
        var m = m
        m.flags |= NetlinkFlags([.request, .ack]).rawValue
        return hex(m.encoded())
    }

    // MARK: genetlink and the controller

    @Test("genlmsghdr encodes cmd, version and two reserved bytes")
    func genericHeader() throws {
        var b: [UInt8] = []
        GenericHeader(command: 5, version: 1).encode(into: &b)
        #expect(b == [5, 1, 0, 0])
        #expect(try GenericHeader(decoding: b[...]) == GenericHeader(command: 5, version: 1))
        #expect(throws: WireError.self) { try GenericHeader(decoding: [5, 1][...]) }
    }

    @Test("CTRL_CMD_GETFAMILY asks the controller by NUL-terminated name")
    func getFamilyRequest() throws {
        let m = try GenericController.getFamily(named: "l2tp")
        #expect(m.type == UInt16(GENL_ID_CTRL))
        let g = try GenericMessage(m)
        #expect(g.header.command == UInt8(CTRL_CMD_GETFAMILY))
        #expect(g.attributes.first(CTRL_ATTR_FAMILY_NAME)?.bytes == Array("l2tp".utf8) + [0])
    }

    @Test("the kernel's CTRL_CMD_NEWFAMILY reply for l2tp decodes fully")
    func controllerReply() throws {
        let m = try NetlinkMessage.parse(L2TPKernelReplies.messages(L2TPKernelReplies.controller)[0])
        let f = try GenericFamily(decoding: m[0])
        #expect(f.id == 32)
        #expect(f.name == "l2tp")
        #expect(f.version == 1)
        #expect(f.headerSize == 0)
        #expect(f.maxAttribute == UInt32(__L2TP_ATTR_MAX - 1))  // L2TP_ATTR_MAX
        #expect(f.operations.map(\.id) == Array(0...8))
        #expect(f.supports(command: L2TPGenlCommand.sessionGet.rawValue))
        #expect(f.multicastGroups == [GenericFamily.MulticastGroup(name: "l2tp", id: 9)])
        #expect(f.multicastGroup(named: L2TPNetlink.multicastGroup) == 9)
    }

    @Test("a family encoded as the controller would decodes back unchanged, and re-encodes the kernel's bytes")
    func familyRoundTrip() throws {
        let kernel = L2TPKernelReplies.messages(L2TPKernelReplies.controller)[0]
        let m = try NetlinkMessage.parse(kernel)[0]
        let f = try GenericFamily(decoding: m)
        #expect(try GenericFamily(decoding: f.replyMessage()) == f)
        // Same attributes as the kernel (ctrl_fill_info order), only seq/pid differ.
        #expect(try f.replyMessage(seq: m.seq, pid: m.pid).payload == m.payload)
    }

    @Test("controller replies that are not what they claim throw instead of trapping")
    func controllerHostile() throws {
        let good = L2TPKernelReplies.messages(L2TPKernelReplies.controller)[0]
        let m = try NetlinkMessage.parse(good)[0]
        for n in 0..<m.payload.count {
            var cut = m
            cut.payload = Array(m.payload.prefix(n))
            _ = try? GenericFamily(decoding: cut)
        }
        var wrongType = m
        wrongType.type = 32
        #expect(throws: WireError.self) { try GenericFamily(decoding: wrongType) }
        var noID = AttributeWriter()
        noID.string(CTRL_ATTR_FAMILY_NAME, "l2tp")
        #expect(throws: WireError.self) {
            try GenericFamily(decoding: GenericMessage.make(family: GenericController.familyID, command: 1, version: 2, attributes: noID))
        }
    }

    // MARK: requests, byte for byte against iproute2 6.1 (strace in the qemu vm, family id 32)

    @Test("tunnel create (udp) matches ip l2tp add tunnel")
    func createTunnelUDP() throws {
        let c = L2TPTunnelConfig(tunnelID: 1001, peerTunnelID: 1002, encapsulation: .udp,
                                 local: IPAddress("192.168.1.1"), remote: IPAddress("192.168.1.2"), localPort: 1701, remotePort: 1701)
        #expect(try Self.wire(L2TPNetlink.createTunnel(c, family: 32)) ==
            "540000002000050000000000000000000101000008000900e903000008000a00ea0300000500070003000000060002000000000008001800c0a8010108001900c0a8010206001a00a506000006001b00a5060000")
    }

    @Test("tunnel create (ip encap) matches ip l2tp add tunnel encap ip")
    func createTunnelIP() throws {
        let c = L2TPTunnelConfig(tunnelID: 3001, peerTunnelID: 3002, encapsulation: .ip,
                                 local: IPAddress("192.168.1.1"), remote: IPAddress("192.168.1.3"))
        #expect(try Self.wire(L2TPNetlink.createTunnel(c, family: 32)) ==
            "440000002000050000000000000000000101000008000900b90b000008000a00ba0b00000500070003000000060002000100000008001800c0a8010108001900c0a80103")
    }

    @Test("tunnel create over IPv6 with udp6_csum_tx off matches iproute2")
    func createTunnelUDP6() throws {
        let c = L2TPTunnelConfig(tunnelID: 4001, peerTunnelID: 4002, local: IPAddress("2001:db8::1"), remote: IPAddress("2001:db8::2"),
                                 localPort: 1702, remotePort: 1702, udp6ZeroChecksumTX: true)
        #expect(try Self.wire(L2TPNetlink.createTunnel(c, family: 32)) ==
            "700000002000050000000000000000000101000008000900a10f000008000a00a20f00000500070003000000060002000000000014001f0020010db80000000000000000000000011400200020010db800000000000000000000000206001a00a606000006001b00a606000004002100")
    }

    @Test("session create with cookies and with options matches iproute2")
    func createSession() throws {
        let cookies = L2TPSessionConfig(tunnelID: 1001, sessionID: 2003, peerSessionID: 2004,
                                        cookie: [1, 2, 3, 4, 5, 6, 7, 8], peerCookie: [0xa1, 0xb2, 0xc3, 0xd4])
        #expect(try Self.wire(L2TPNetlink.createSession(cookies, family: 32)) ==
            "600000002000050000000000000000000501000008000900e903000008000a000000000008000b00d307000008000c00d40700000600010005000000050005000100000005000600040000000c000f00010203040506070808001000a1b2c3d4")
        let options = L2TPSessionConfig(tunnelID: 1001, sessionID: 2005, peerSessionID: 2006, l2specType: L2TPL2SpecType.none,
                                        l2specLength: 0, recvSeq: true, sendSeq: true, ifname: "l2tpx0")
        #expect(try Self.wire(L2TPNetlink.createSession(options, family: 32)) ==
            "680000002000050000000000000000000501000008000900e903000008000a000000000008000b00d507000008000c00d6070000060001000500000005000500000000000500060000000000050012000100000005001300010000000b0008006c32747078300000")
    }

    @Test("deletes match ip l2tp del session / del tunnel")
    func deletes() throws {
        #expect(try Self.wire(L2TPNetlink.deleteSession(tunnelID: 1001, sessionID: 2001, family: 32)) ==
            "240000002000050000000000000000000601000008000900e903000008000b00d1070000")
        #expect(try Self.wire(L2TPNetlink.deleteTunnel(1001, family: 32)) == "1c0000002000050000000000000000000201000008000900e9030000")
    }

    @Test("session modify carries only what changes")
    func modifySession() throws {
        let m = try L2TPNetlink.modifySession(L2TPSessionModification(tunnelID: 7, sessionID: 8, sendSeq: false, reorderTimeout: 250), family: 32)
        let g = try GenericMessage(m)
        #expect(g.header == GenericHeader(command: UInt8(L2TP_CMD_SESSION_MODIFY), version: UInt8(L2TP_GENL_VERSION)))
        #expect(g.attributes.map { Int($0.type) } == [L2TP_ATTR_CONN_ID, L2TP_ATTR_SESSION_ID, L2TP_ATTR_SEND_SEQ, L2TP_ATTR_RECV_TIMEOUT])
        #expect(g.attributes.first(L2TP_ATTR_SEND_SEQ)?.u8 == 0)
        #expect(g.attributes.first(L2TP_ATTR_RECV_TIMEOUT)?.u64 == 250)
    }

    // MARK: replies

    @Test("the kernel's tunnel dump decodes")
    func tunnelDump() throws {
        let ts = try L2TPKernelReplies.messages(L2TPKernelReplies.tunnels).map { try L2TPTunnelConfig(decoding: NetlinkMessage.parse($0)[0]) }
        #expect(ts.map(\.tunnelID) == [1001, 3001, 4001, 5001])
        #expect(ts.map(\.peerTunnelID) == [1002, 3002, 4002, 5002])
        #expect(ts.map(\.encapsulation) == [.udp, .ip, .udp, .udp])
        #expect(ts.allSatisfy { $0.protocolVersion == 3 && $0.debug == 0 && $0.stats == L2TPStats() })
        #expect(ts[0].local == IPAddress("192.168.1.1") && ts[0].remote == IPAddress("192.168.1.2"))
        #expect(ts[0].localPort == 1701 && ts[0].remotePort == 1701 && !ts[0].udpChecksum)
        #expect(ts[1].localPort == nil && ts[1].remote == IPAddress("192.168.1.3"))
        #expect(ts[2].local == IPAddress("2001:db8::1") && ts[2].udp6ZeroChecksumTX && !ts[2].udp6ZeroChecksumRX)
        #expect(ts[3].udpChecksum && ts[3].localPort == 1705 && ts[3].remotePort == 1706)
    }

    @Test("the kernel's session dump decodes")
    func sessionDump() throws {
        let ss = try L2TPKernelReplies.messages(L2TPKernelReplies.sessions).map { try L2TPSessionConfig(decoding: NetlinkMessage.parse($0)[0]) }
        #expect(ss.map(\.sessionID) == [2003, 2001, 2005, 3101])
        #expect(ss.map(\.tunnelID) == [1001, 1001, 1001, 3001])
        #expect(ss.map(\.peerSessionID) == [2004, 2002, 2006, 3102])
        #expect(ss.map(\.peerTunnelID) == [1002, 1002, 1002, 3002])
        #expect(ss.map(\.ifname) == ["l2tpeth1", "l2tpeth0", "l2tpx0", "l2tpeth2"])
        #expect(ss.allSatisfy { $0.pseudowireType == .eth && $0.lnsMode == false && !$0.usingIPsec })
        #expect(ss[0].cookie == [1, 2, 3, 4, 5, 6, 7, 8] && ss[0].peerCookie == [0xa1, 0xb2, 0xc3, 0xd4])
        #expect(ss[1].cookie == nil && ss[1].peerCookie == nil)
        #expect(ss[2].sendSeq == true && ss[2].recvSeq == true)
        #expect(ss[3].sendSeq == true && ss[3].recvSeq == false)
        // The kernel does not report the l2spec type; it stays unknown.
        #expect(ss.allSatisfy { $0.l2specType == nil && $0.reorderTimeout == nil })
    }

    @Test("the reply encoders reproduce the kernel's bytes")
    func replyEncodersMatchKernel() throws {
        for bytes in L2TPKernelReplies.messages(L2TPKernelReplies.tunnels) {
            let m = try NetlinkMessage.parse(bytes)[0]
            let t = try L2TPTunnelConfig(decoding: m)
            var ours = try L2TPNetlink.tunnelReply(t, family: m.type, flags: NetlinkFlags(rawValue: m.flags))
            ours.seq = m.seq; ours.pid = m.pid
            #expect(Self.hex(ours.encoded()) == Self.hex(bytes), "tunnel \(t.tunnelID)")
        }
        for bytes in L2TPKernelReplies.messages(L2TPKernelReplies.sessions) {
            let m = try NetlinkMessage.parse(bytes)[0]
            let s = try L2TPSessionConfig(decoding: m)
            var ours = try L2TPNetlink.sessionReply(s, family: m.type, flags: NetlinkFlags(rawValue: m.flags))
            ours.seq = m.seq; ours.pid = m.pid
            #expect(Self.hex(ours.encoded()) == Self.hex(bytes), "session \(s.sessionID)")
        }
    }

    @Test("encode then decode round-trips every tunnel and session field")
    func roundTrip() throws {
        var stats = L2TPStats()
        stats.txPackets = 1; stats.txBytes = 2; stats.txErrors = 3; stats.rxPackets = 4; stats.rxBytes = 5
        stats.rxSeqDiscards = 6; stats.rxOOSPackets = 7; stats.rxErrors = 8; stats.rxCookieDiscards = 9; stats.rxInvalid = 10
        let tunnels = [
            L2TPTunnelConfig(tunnelID: 1, peerTunnelID: 2, local: IPAddress("10.0.0.1"), remote: IPAddress("10.0.0.2"),
                             localPort: 1701, remotePort: 1702, udpChecksum: true, debug: 0, stats: stats),
            L2TPTunnelConfig(tunnelID: 0xffff_ffff, peerTunnelID: 9, encapsulation: .ip, local: IPAddress("fe80::1"),
                             remote: IPAddress("fe80::2"), debug: 0, stats: L2TPStats()),
            L2TPTunnelConfig(tunnelID: 5, peerTunnelID: 6, local: IPAddress("2001:db8::1"), remote: IPAddress("2001:db8::2"),
                             localPort: 9, remotePort: 10, udp6ZeroChecksumTX: true, udp6ZeroChecksumRX: true, debug: 0, stats: L2TPStats()),
        ]
        for t in tunnels {
            #expect(try L2TPTunnelConfig(decoding: L2TPNetlink.tunnelReply(t, family: 30)) == t)
            // Create attributes decode back to the same config too (stats and debug are reply-only).
            var plain = t; plain.stats = nil; plain.debug = nil
            #expect(try L2TPTunnelConfig(decoding: L2TPNetlink.createTunnel(plain, family: 30)) == plain)
        }
        let sessions = [
            L2TPSessionConfig(tunnelID: 1, peerTunnelID: 2, sessionID: 3, peerSessionID: 4, l2specType: nil, l2specLength: nil,
                              recvSeq: true, sendSeq: false, lnsMode: true, reorderTimeout: 100, cookie: [1, 2, 3, 4],
                              peerCookie: [5, 6, 7, 8, 9, 10, 11, 12], ifname: "pw0", debug: 0, usingIPsec: true, stats: stats),
        ]
        for s in sessions {
            #expect(try L2TPSessionConfig(decoding: L2TPNetlink.sessionReply(s, family: 30)) == s)
        }
        let create = L2TPSessionConfig(tunnelID: 1, peerTunnelID: 2, sessionID: 3, peerSessionID: 4, pseudowireType: .ethVLAN,
                                       l2specType: .default, l2specLength: 4, recvSeq: false, sendSeq: true, lnsMode: false,
                                       reorderTimeout: 7, cookie: [1, 2, 3, 4, 5, 6, 7, 8], peerCookie: [9, 9, 9, 9],
                                       ifname: "l2tpeth7", mtu: 1400, debug: 1)
        #expect(try L2TPSessionConfig(decoding: L2TPNetlink.createSession(create, family: 30)) == create)
    }

    @Test("truncated or corrupted replies throw or decode, never trap")
    func hostileBytes() throws {
        let all = L2TPKernelReplies.messages(L2TPKernelReplies.tunnels) + L2TPKernelReplies.messages(L2TPKernelReplies.sessions)
        for bytes in all {
            // Every prefix of the datagram.
            for n in 0..<bytes.count {
                if let msgs = try? NetlinkMessage.parse(Array(bytes.prefix(n))), let m = msgs.first {
                    _ = try? L2TPTunnelConfig(decoding: m)
                    _ = try? L2TPSessionConfig(decoding: m)
                }
            }
            // Every prefix of the payload, under an honest header.
            let m = try NetlinkMessage.parse(bytes)[0]
            for n in 0..<m.payload.count {
                var cut = m
                cut.payload = Array(m.payload.prefix(n))
                _ = try? L2TPTunnelConfig(decoding: cut)
                _ = try? L2TPSessionConfig(decoding: cut)
            }
            // Deterministic byte corruption.
            var rng = SeededRandom(seed: UInt64(bytes.count))
            for _ in 0..<300 {
                var bad = m
                for _ in 0..<3 {
                    let i = Int(rng.next() % UInt64(bad.payload.count))
                    bad.payload[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                _ = try? L2TPTunnelConfig(decoding: bad)
                _ = try? L2TPSessionConfig(decoding: bad)
            }
        }
    }

    @Test("attributes of the wrong size are reported, not misread")
    func wrongSizes() throws {
        var w = AttributeWriter()
        w.u16(L2TP_ATTR_CONN_ID, 7)   // should be a u32
        #expect(throws: WireError.self) { try L2TPTunnelConfig(decoding: L2TPNetlink.message(.tunnelGet, family: 30, attributes: w)) }
        var a = AttributeWriter()
        a.u32(L2TP_ATTR_CONN_ID, 7)
        a.raw(L2TP_ATTR_IP_SADDR, [10, 0, 0])   // 3-byte IPv4 address
        #expect(throws: WireError.self) { try L2TPTunnelConfig(decoding: L2TPNetlink.message(.tunnelGet, family: 30, attributes: a)) }
        var c = AttributeWriter()
        c.u32(L2TP_ATTR_CONN_ID, 7)
        c.u32(L2TP_ATTR_SESSION_ID, 8)
        c.raw(L2TP_ATTR_COOKIE, [UInt8](repeating: 1, count: 12))   // cookies are at most 8 bytes
        #expect(throws: WireError.self) { try L2TPSessionConfig(decoding: L2TPNetlink.message(.sessionGet, family: 30, attributes: c)) }
        var noSession = AttributeWriter()
        noSession.u32(L2TP_ATTR_CONN_ID, 7)
        #expect(throws: WireError.self) { try L2TPSessionConfig(decoding: L2TPNetlink.message(.sessionGet, family: 30, attributes: noSession)) }
    }
}


