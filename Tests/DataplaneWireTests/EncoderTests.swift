import DataplaneWire
import TestSupport
import Testing

@Suite("Encoder headers")
struct EncoderTests {
    static let udp = Transport.udp(localPort: 4789, remotePort: 4789)
    static let ipL2TP = Transport.ip(protocolNumber: 115)
    static let ipGRE = Transport.ip(protocolNumber: 47)

    @Test("VXLAN (RFC 7348 §5): flags 08 (I), 24 reserved bits, VNI, 8 reserved bits")
    func vxlan() {
        for (vni, expected) in [(UInt32(0x12_3456), [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0] as [UInt8]),
                                (1, [0x08, 0, 0, 0, 0, 0, 1, 0]), (0xff_ffff, [0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0])] {
            let cfg = session(.vxlan(vni: vni))
            var e = Encoder(cfg, transport: Self.udp)
            #expect(e.headerLength == 8)
            #expect(cfg.headerLength(transport: Self.udp) == 8)
            #expect(cfg.overhead(transport: Self.udp, ipv6: false) == 20 + 8 + 8)
            #expect(cfg.overhead(transport: Self.udp, ipv6: true) == 40 + 8 + 8)
            #expect(e.header() == expected)
            #expect(e.header() == expected, "the header does not change between frames")
            #expect(!e.needsFinish)
            let frame = sampleEthernetFrame()
            #expect(e.encapsulate(frame) == expected + frame)
        }
    }

    @Test("L2TPv3 over UDP (RFC 3931 §4.1.2.1): 00 03 00 00, session id, cookie, default sublayer (RFC 4719 §3.2.2)",
          arguments: [[], [0xc0, 0x0c, 0x1e, 0x01], [1, 2, 3, 4, 5, 6, 7, 8]] as [[UInt8]])
    func l2tpv3UDP(cookie: [UInt8]) {
        let o = L2TPv3Options(sessionID: 0x1111, peerSessionID: 0xaabb_ccdd, cookie: cookie, peerCookie: [9, 9, 9, 9])
        let cfg = session(.l2tpv3(o))
        var e = Encoder(cfg, transport: Self.udp)
        #expect(e.headerLength == 4 + 4 + cookie.count + 4)
        #expect(cfg.headerLength(transport: Self.udp) == 12 + cookie.count)
        #expect(cfg.overhead(transport: Self.udp, ipv6: false) == 20 + 8 + 12 + cookie.count)
        // T=0 L=0 S=0, reserved, Ver=3; 16 reserved bits. Sublayer without sequencing: all zero (S bit clear).
        let expected: [UInt8] = [0x00, 0x03, 0x00, 0x00, 0xaa, 0xbb, 0xcc, 0xdd] + cookie + [0, 0, 0, 0]
        #expect(e.header() == expected)
        #expect(e.header() == expected)
        // The peer sends sequence numbers: we send them too, S bit 0x40000000, counting from 0.
        #expect(e.header(peerSequencing: true) == [0x00, 0x03, 0x00, 0x00, 0xaa, 0xbb, 0xcc, 0xdd] + cookie + [0x40, 0, 0, 0])
        #expect(e.header(peerSequencing: true) == [0x00, 0x03, 0x00, 0x00, 0xaa, 0xbb, 0xcc, 0xdd] + cookie + [0x40, 0, 0, 1])
        let frame = sampleEthernetFrame()
        #expect(e.encapsulate(frame) == expected + frame)
    }

    @Test("L2TPv3 over IP (RFC 3931 §4.1.1.1): session id first, no flags word",
          arguments: [[], [0xde, 0xad, 0xbe, 0xef], [0xff, 0, 0xff, 0, 1, 2, 3, 4]] as [[UInt8]])
    func l2tpv3IP(cookie: [UInt8]) {
        let o = L2TPv3Options(sessionID: 7, peerSessionID: 0x0102_0304, cookie: cookie, sendSequence: true)
        let cfg = session(.l2tpv3(o))
        var e = Encoder(cfg, transport: Self.ipL2TP)
        #expect(e.headerLength == 4 + cookie.count + 4)
        #expect(cfg.overhead(transport: Self.ipL2TP, ipv6: true) == 40 + 8 + cookie.count)
        #expect(e.header() == [1, 2, 3, 4] + cookie + [0x40, 0, 0, 0])
        #expect(e.header() == [1, 2, 3, 4] + cookie + [0x40, 0, 0, 1])
        #expect(e.header() == [1, 2, 3, 4] + cookie + [0x40, 0, 0, 2])
    }

    @Test("L2TPv3 without the default L2-specific sublayer: session id and cookie only")
    func l2tpv3NoSublayer() {
        let o = L2TPv3Options(sessionID: 7, peerSessionID: 0x10, cookie: [1, 2, 3, 4], defaultL2SpecificSublayer: false,
                              sendSequence: true)
        var e = Encoder(session(.l2tpv3(o)), transport: Self.udp)
        #expect(e.headerLength == 12)
        #expect(e.header(peerSequencing: true) == [0, 3, 0, 0, 0, 0, 0, 0x10, 1, 2, 3, 4])
        var ip = Encoder(session(.l2tpv3(o)), transport: Self.ipL2TP)
        #expect(ip.headerLength == 8)
        #expect(ip.header() == [0, 0, 0, 0x10, 1, 2, 3, 4])
    }

    @Test("L2TPv3 sequence numbers are 24 bits (RFC 4719 §3.2.2) and wrap from ff ff ff to 0")
    func l2tpv3SequenceWraps() {
        let o = L2TPv3Options(sessionID: 1, peerSessionID: 2, sendSequence: true)
        var e = Encoder(session(.l2tpv3(o)), transport: Self.ipL2TP)
        var buf = [UInt8](repeating: 0, count: 8)
        buf.withUnsafeMutableBytes { p in
            for _ in 0..<(1 << 24) - 2 { e.writeHeader(p.baseAddress!, ipVersion: 4) }
        }
        #expect(e.header() == [0, 0, 0, 2, 0x40, 0xff, 0xff, 0xfe])
        #expect(e.header() == [0, 0, 0, 2, 0x40, 0xff, 0xff, 0xff])
        #expect(e.header() == [0, 0, 0, 2, 0x40, 0x00, 0x00, 0x00])
        #expect(e.header() == [0, 0, 0, 2, 0x40, 0x00, 0x00, 0x01])
    }

    /// GRE (RFC 2784 §2, RFC 2890 §2): C 0x8000, K 0x2000, S 0x1000 in the first word, version 0, protocol type;
    /// then checksum + reserved1 (if C), key (if K), sequence number (if S), in that order.
    @Test("GRE: every combination of checksum, key and sequence; protocol by session kind",
          arguments: 0..<8)
    func gre(combination: Int) {
        let csum = combination & 1 != 0, key = combination & 2 != 0, seq = combination & 4 != 0
        let o = GREOptions(inKey: 5, outKey: key ? 0xdead_beef : nil, outChecksum: csum, outSequence: seq)
        let flags: UInt16 = (csum ? 0x8000 : 0) | (key ? 0x2000 : 0) | (seq ? 0x1000 : 0)
        let length = 4 + (csum ? 4 : 0) + (key ? 4 : 0) + (seq ? 4 : 0)
        for (ethernet, ipVersion, proto) in [(true, 4, UInt16(0x6558)), (true, 6, 0x6558), (false, 4, 0x0800), (false, 6, 0x86dd)] {
            let cfg = session(.gre(o), ethernet: ethernet)
            for transport in [Self.ipGRE, .udp(localPort: 4754, remotePort: 4754)] {
                #expect(cfg.headerLength(transport: transport) == length)
                #expect(cfg.overhead(transport: transport, ipv6: false) == 20 + (transport.isUDP ? 8 : 0) + length)
            }
            var e = Encoder(cfg, transport: Self.ipGRE)
            #expect(e.headerLength == length)
            #expect(e.needsFinish == csum)
            for n in 0..<3 as Range<UInt32> {
                var expected = bytes16(flags) + bytes16(proto)
                if csum { expected += [0, 0, 0, 0] }
                if key { expected += [0xde, 0xad, 0xbe, 0xef] }
                if seq { expected += bytes32(n) }     // RFC 2890 §2.2: counts up from the first packet
                #expect(e.header(ipVersion: ipVersion) == expected, "ethernet \(ethernet) v\(ipVersion) packet \(n)")
            }
        }
    }

    @Test("GRE checksum (RFC 2784 §2.5): one's complement of the sum over header and payload, reserved1 zero")
    func greChecksum() {
        for payloadLength in [14, 60, 61, 1500] {
            for key in [nil, UInt32(0x0102_0304)] {
                var e = Encoder(session(.gre(GREOptions(outKey: key, outChecksum: true, outSequence: true))), transport: Self.ipGRE)
                let frame = Array(sampleEthernetFrame().prefix(14)) + (0..<(payloadLength - 14)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                for _ in 0..<2 {
                    let d = e.encapsulate(frame)
                    var zeroed = d; zeroed[4] = 0; zeroed[5] = 0
                    #expect(be16(d, 4) == referenceChecksum(zeroed), "payload \(payloadLength)")
                    #expect(d[6] == 0 && d[7] == 0)
                    #expect(referenceSum(d) == 0xffff)
                }
            }
        }
        // finish does nothing without the C flag.
        let e = Encoder(session(.gre(GREOptions())), transport: Self.ipGRE)
        var b: [UInt8] = [0, 0, 0x65, 0x58, 9, 9, 9, 9]
        b.withUnsafeMutableBytes { e.finish($0.baseAddress!, length: 8) }
        #expect(b == [0, 0, 0x65, 0x58, 9, 9, 9, 9])
    }

    @Test("IP in IP adds no header")
    func ipInIP() {
        let cfg = session(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false)
        let t = Transport.ip(protocolNumber: 4)
        #expect(cfg.headerLength(transport: t) == 0)
        #expect(cfg.overhead(transport: t, ipv6: false) == 20)
        #expect(cfg.overhead(transport: t, ipv6: true) == 40)
        var e = Encoder(cfg, transport: t)
        #expect(e.headerLength == 0)
        let p = udpPacket(payload: [1, 2, 3])
        #expect(e.encapsulate(p) == p)
    }

    @Test("wire numbers match the registries")
    func numbers() {
        #expect(WireNumbers.ipprotoGRE == 47)
        #expect(WireNumbers.ipprotoIPIP == 4)
        #expect(WireNumbers.ipprotoIPv6 == 41)
        #expect(WireNumbers.ipprotoUDP == 17)
        #expect(WireNumbers.ipprotoL2TP == 115)     // RFC 3931 §4.1.1.1
        #expect(WireNumbers.ethernetBridging == 0x6558)
        #expect(WireNumbers.greFlagChecksum == 0x8000)
        #expect(WireNumbers.greFlagRouting == 0x4000)
        #expect(WireNumbers.greFlagKey == 0x2000)
        #expect(WireNumbers.greFlagSequence == 0x1000)
        #expect(WireNumbers.greVersionMask == 0x0007)
        #expect(Set(DropReason.allCases.map(\.name)).count == DropReason.allCases.count)
        #expect(DropReason.badCookie.name == "bad_cookie")
    }
}
