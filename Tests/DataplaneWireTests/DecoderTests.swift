import DataplaneWire
import TestSupport
import Testing

/// Headers built by hand from the RFCs, independent of `Encoder`.
enum Wire {
    /// RFC 7348 §5: flags (I = 0x08), 24 reserved bits, 24-bit VNI, 8 reserved bits.
    static func vxlan(_ vni: UInt32, flags: UInt8 = 0x08) -> [UInt8] { [flags, 0, 0, 0] + bytes32(vni << 8) }

    /// RFC 3931 §4.1.2.1 (over UDP: T/L/S flags and Ver in the first 16 bits, 16 reserved bits) or §4.1.1.1 (over
    /// IP: no first word), then the session id (§4.1.1.2), the cookie, and the default L2-specific sublayer of
    /// RFC 4719 §3.2.2 (S bit 0x40000000 and a 24-bit sequence number) when `sublayer`.
    static func l2tpv3(udp: Bool, session: UInt32, cookie: [UInt8] = [], sublayer: Bool = true, seq: UInt32? = nil,
                       firstWord: [UInt8] = [0x00, 0x03, 0x00, 0x00]) -> [UInt8] {
        var h: [UInt8] = udp ? firstWord : []
        h += bytes32(session) + cookie
        if sublayer { h += seq.map { bytes32(0x4000_0000 | $0 & 0xff_ffff) } ?? [0, 0, 0, 0] }
        return h
    }

    /// RFC 2784 §2 / RFC 2890 §2: C K S flags, version, protocol type, then checksum+reserved1, key, sequence.
    /// With `checksum`, the checksum over header and `payload` is filled in (RFC 2784 §2.5). Returns header + payload.
    static func gre(proto: UInt16, checksum: Bool = false, key: UInt32? = nil, seq: UInt32? = nil,
                    extraFlags: UInt16 = 0, payload: [UInt8]) -> [UInt8] {
        let flags: UInt16 = (checksum ? 0x8000 : 0) | (key != nil ? 0x2000 : 0) | (seq != nil ? 0x1000 : 0) | extraFlags
        var d = bytes16(flags) + bytes16(proto)
        if checksum { d += [0, 0, 0, 0] }
        if let key { d += bytes32(key) }
        if let seq { d += bytes32(seq) }
        d += payload
        if checksum { put16(&d, 4, referenceChecksum(d)) }
        return d
    }
}

func reason(_ d: Decoded) -> DropReason? { if case .drop(let r, _) = d { r } else { nil } }

@Suite("Decoder")
struct DecoderTests {
    static let udp = Transport.udp(localPort: 4789, remotePort: 4789)
    static let ipL2TP = Transport.ip(protocolNumber: 115)
    static let ipGRE = Transport.ip(protocolNumber: 47)
    static let ipIPIP = Transport.ip(protocolNumber: 4)
    static let ipIPv6 = Transport.ip(protocolNumber: 41)
    let frame = sampleEthernetFrame()

    // MARK: VXLAN

    @Test("VXLAN: encode → decode gives the frame after the 8-byte header, by VNI and by peer")
    func vxlanRoundTrip() {
        let sessions = [session(.vxlan(vni: 100)), session(.vxlan(vni: 0xab_cdef), peers: [peerB, peerC], name: "t1")]
        var d = Decoder(sessions: sessions, transport: Self.udp)
        var e0 = Encoder(sessions[0], transport: Self.udp), e1 = Encoder(sessions[1], transport: Self.udp)
        #expect(d.decode(e0.encapsulate(frame), from: peerA) == .frame(session: 0, peer: 0, offset: 8, length: 60, sequenced: false))
        #expect(d.decode(e1.encapsulate(frame), from: peerC) == .frame(session: 1, peer: 1, offset: 8, length: 60, sequenced: false))
        #expect(d.decode(e1.encapsulate(frame), from: peerB) == .frame(session: 1, peer: 0, offset: 8, length: 60, sequenced: false))
        // RFC 7348 §5: other flag bits and the reserved fields are ignored on receipt.
        #expect(d.decode([0xff, 0xff, 0xff, 0xff, 0, 0, 100, 0xff] + frame, from: peerA)
                == .frame(session: 0, peer: 0, offset: 8, length: 60, sequenced: false))
    }

    @Test("VXLAN drops: truncated below header + Ethernet header, I flag clear, unknown VNI, unknown peer")
    func vxlanDrops() {
        var d = Decoder(sessions: [session(.vxlan(vni: 100))], transport: Self.udp)
        let good = Wire.vxlan(100) + frame
        for n in 0..<22 { #expect(reason(d.decode(Array(good.prefix(n)), from: peerA)) == .malformed, "length \(n)") }
        #expect(d.decode(Array(good.prefix(22)), from: peerA) == .frame(session: 0, peer: 0, offset: 8, length: 14, sequenced: false))
        #expect(d.decode(Wire.vxlan(100, flags: 0x00) + frame, from: peerA) == .drop(.malformed, session: nil))
        #expect(d.decode(Wire.vxlan(100, flags: 0xf7) + frame, from: peerA) == .drop(.malformed, session: nil))
        #expect(d.decode(Wire.vxlan(101) + frame, from: peerA) == .drop(.unknownSession, session: nil))
        #expect(d.decode(Wire.vxlan(100) + frame, from: peerB) == .drop(.unknownPeer, session: 0))
        #expect(d.decode(Wire.vxlan(100) + frame, from: peer6) == .drop(.unknownPeer, session: 0))
    }

    @Test("no sessions: unknown session")
    func noSessions() {
        var d = Decoder(sessions: [], transport: Self.udp)
        #expect(d.decode(Wire.vxlan(1) + frame, from: peerA) == .drop(.unknownSession, session: nil))
    }

    // MARK: L2TPv3

    @Test("L2TPv3: encode → decode over UDP and IP, cookies of 0/4/8 bytes, with and without the sublayer",
          arguments: [[], [1, 2, 3, 4], [0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8]] as [[UInt8]])
    func l2tpv3RoundTrip(cookie: [UInt8]) {
        for transport in [Self.udp, Self.ipL2TP] {
            for sublayer in [true, false] {
                for sequencing in [false, true] where sublayer || !sequencing {
                    // Our side sends to session 0x2222 with `cookie`; the receiver expects exactly that.
                    let tx = L2TPv3Options(sessionID: 0x1111, peerSessionID: 0x2222, cookie: cookie,
                                           defaultL2SpecificSublayer: sublayer, sendSequence: sequencing)
                    let rx = L2TPv3Options(sessionID: 0x2222, peerSessionID: 0x1111, peerCookie: cookie,
                                           defaultL2SpecificSublayer: sublayer, receiveSequence: sequencing)
                    var e = Encoder(session(.l2tpv3(tx)), transport: transport)
                    var d = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 9, peerSessionID: 9))), session(.l2tpv3(rx))],
                                    transport: transport)
                    let hl = (transport.isUDP ? 4 : 0) + 4 + cookie.count + (sublayer ? 4 : 0)
                    for _ in 0..<3 {
                        #expect(d.decode(e.encapsulate(frame), from: peerA)
                                == .frame(session: 1, peer: 0, offset: hl, length: 60, sequenced: sequencing))
                    }
                }
            }
        }
    }

    @Test("L2TPv3 truncated at every length up to header + Ethernet header: malformed, or bad cookie inside the cookie")
    func l2tpv3Truncated() {
        let cookie: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        for udp in [true, false] {
            var d = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 5, peerSessionID: 6, peerCookie: cookie)))],
                            transport: udp ? Self.udp : Self.ipL2TP)
            let good = Wire.l2tpv3(udp: udp, session: 5, cookie: cookie) + frame
            let idEnd = (udp ? 4 : 0) + 4, cookieEnd = idEnd + 8, headerEnd = cookieEnd + 4
            for n in 0..<(headerEnd + 14) {
                let expected: DropReason = (idEnd..<cookieEnd).contains(n) ? .badCookie : .malformed
                #expect(reason(d.decode(Array(good.prefix(n)), from: peerA)) == expected, "udp \(udp) length \(n)")
            }
            #expect(d.decode(Array(good.prefix(headerEnd + 14)), from: peerA)
                    == .frame(session: 0, peer: 0, offset: headerEnd, length: 14, sequenced: false))
        }
    }

    @Test("L2TPv3 header checks: version other than 3 is malformed, T bit over UDP and session 0 over IP are control")
    func l2tpv3HeaderChecks() {
        var d = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 5, peerSessionID: 6)))], transport: Self.udp)
        #expect(reason(d.decode(Wire.l2tpv3(udp: true, session: 5) + frame, from: peerA)) == nil)
        for version: UInt8 in [0, 1, 2, 4, 15] {
            #expect(d.decode(Wire.l2tpv3(udp: true, session: 5, firstWord: [0, version, 0, 0]) + frame, from: peerA)
                    == .drop(.malformed, session: nil), "version \(version)")
        }
        // RFC 3931 §4.1.2.1: T bit set is a control message (0xc8 03: T, L, S set).
        #expect(d.decode(Wire.l2tpv3(udp: true, session: 5, firstWord: [0x80, 0x03, 0, 0]) + frame, from: peerA)
                == .drop(.control, session: nil))
        #expect(d.decode(Wire.l2tpv3(udp: true, session: 5, firstWord: [0xc8, 0x03, 0, 0x20]) + frame, from: peerA)
                == .drop(.control, session: nil))
        // Reserved bits are ignored.
        #expect(reason(d.decode(Wire.l2tpv3(udp: true, session: 5, firstWord: [0x00, 0x03, 0xff, 0xff]) + frame, from: peerA)) == nil)
        // RFC 3931 §4.1.1.1: over IP, session id 0 means a control message follows.
        var ip = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 5, peerSessionID: 6)))], transport: Self.ipL2TP)
        #expect(ip.decode([0, 0, 0, 0, 0xc8, 0x03, 0, 20] + frame, from: peerA) == .drop(.control, session: nil))
    }

    @Test("L2TPv3: unknown session id, unknown peer")
    func l2tpv3SessionAndPeer() {
        for transport in [Self.udp, Self.ipL2TP] {
            var d = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 5, peerSessionID: 6))),
                                       session(.l2tpv3(L2TPv3Options(sessionID: 7, peerSessionID: 8)), peers: [peerB, peerA])],
                            transport: transport)
            let u = transport.isUDP
            #expect(d.decode(Wire.l2tpv3(udp: u, session: 6) + frame, from: peerA) == .drop(.unknownSession, session: nil))
            #expect(d.decode(Wire.l2tpv3(udp: u, session: 0x0500_0000) + frame, from: peerA) == .drop(.unknownSession, session: nil))
            #expect(d.decode(Wire.l2tpv3(udp: u, session: 5) + frame, from: peerB) == .drop(.unknownPeer, session: 0))
            #expect(d.decode(Wire.l2tpv3(udp: u, session: 7) + frame, from: peerC) == .drop(.unknownPeer, session: 1))
            #expect(d.decode(Wire.l2tpv3(udp: u, session: 7) + frame, from: peerA)
                    == .frame(session: 1, peer: 1, offset: u ? 12 : 8, length: 60, sequenced: false))
        }
    }

    @Test("L2TPv3 cookie (RFC 3931 §4.1.1.2): a wrong byte in any position, or a short cookie, is a bad cookie",
          arguments: [[0xa1, 0xa2, 0xa3, 0xa4], [0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8]] as [[UInt8]])
    func l2tpv3Cookie(cookie: [UInt8]) {
        for udp in [true, false] {
            var d = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 5, peerSessionID: 6, peerCookie: cookie)))],
                            transport: udp ? Self.udp : Self.ipL2TP)
            let at = (udp ? 4 : 0) + 4
            let good = Wire.l2tpv3(udp: udp, session: 5, cookie: cookie) + frame
            #expect(reason(d.decode(good, from: peerA)) == nil)
            for i in 0..<cookie.count {
                for flip: UInt8 in [0x01, 0x80, 0xff] {
                    var bad = good; bad[at + i] ^= flip
                    #expect(d.decode(bad, from: peerA) == .drop(.badCookie, session: 0), "udp \(udp) byte \(i)")
                }
            }
            // A 4-byte cookie where 8 are configured (or none), with the frame shifted up.
            let short = Wire.l2tpv3(udp: udp, session: 5, cookie: Array(cookie.prefix(4))) + frame
            if cookie.count == 8 { #expect(d.decode(short, from: peerA) == .drop(.badCookie, session: 0)) }
            #expect(d.decode(Wire.l2tpv3(udp: udp, session: 5) + frame, from: peerA) == .drop(.badCookie, session: 0))
            // The datagram ends inside the cookie.
            #expect(d.decode(Array(good.prefix(at + cookie.count - 1)), from: peerA) == .drop(.badCookie, session: 0))
        }
    }

    @Test("L2TPv3 sequencing (RFC 4719 §4.6): required S bit, duplicates and older numbers dropped, newer accepted")
    func l2tpv3Sequencing() {
        for udp in [true, false] {
            let rx = L2TPv3Options(sessionID: 5, peerSessionID: 6, receiveSequence: true)
            var d = Decoder(sessions: [session(.l2tpv3(rx)), session(.l2tpv3(L2TPv3Options(sessionID: 7, peerSessionID: 8)))],
                            transport: udp ? Self.udp : Self.ipL2TP)
            let off = udp ? 12 : 8
            func dg(_ seq: UInt32?, _ sid: UInt32 = 5) -> [UInt8] { Wire.l2tpv3(udp: udp, session: sid, seq: seq) + frame }
            let ok = Decoded.frame(session: 0, peer: 0, offset: off, length: 60, sequenced: true)
            // receiveSequence and no S bit.
            #expect(d.decode(dg(nil), from: peerA) == .drop(.outOfSequence, session: 0))
            #expect(d.decode(dg(5), from: peerA) == ok)
            #expect(d.decode(dg(5), from: peerA) == .drop(.outOfSequence, session: 0))   // duplicate
            #expect(d.decode(dg(4), from: peerA) == .drop(.outOfSequence, session: 0))   // older
            #expect(d.decode(dg(6), from: peerA) == ok)
            #expect(d.decode(dg(100), from: peerA) == ok)                                 // a gap is fine
            #expect(d.decode(dg(99), from: peerA) == .drop(.outOfSequence, session: 0))
            #expect(d.decode(dg(6), from: peerA) == .drop(.outOfSequence, session: 0))
            // Half the 24-bit space behind is older; the rest counts as newer (serial arithmetic, RFC 1982).
            // Expected is 101: 101 + 0x800001 is 0x7fffff behind, 101 + 0x800000 exactly half the space away.
            #expect(d.decode(dg(101 + 0x80_0001), from: peerA) == .drop(.outOfSequence, session: 0))
            #expect(d.decode(dg(101 + 0x80_0000), from: peerA) == ok)
            // 24-bit wraparound: ff ff fe, ff ff ff, then 0 and 1 are newer.
            var w = Decoder(sessions: [session(.l2tpv3(rx))], transport: udp ? Self.udp : Self.ipL2TP)
            for s: UInt32 in [0xff_fffe, 0xff_ffff, 0, 1] { #expect(w.decode(dg(s), from: peerA) == ok, "seq \(s)") }
            #expect(w.decode(dg(0xff_ffff), from: peerA) == .drop(.outOfSequence, session: 0))
            #expect(w.decode(dg(0), from: peerA) == .drop(.outOfSequence, session: 0))
            #expect(w.decode(dg(2), from: peerA) == ok)
            // A session that does not require sequencing takes frames without the S bit, and tracks numbers when present.
            let plain = Decoded.frame(session: 1, peer: 0, offset: off, length: 60, sequenced: false)
            #expect(d.decode(dg(nil, 7), from: peerA) == plain)
            #expect(d.decode(dg(3, 7), from: peerA) == .frame(session: 1, peer: 0, offset: off, length: 60, sequenced: true))
            #expect(d.decode(dg(3, 7), from: peerA) == .drop(.outOfSequence, session: 1))
            #expect(d.decode(dg(nil, 7), from: peerA) == plain)
            // Sessions keep separate state: session 0 expects 101 + 0x800001.
            #expect(d.decode(dg(101 + 0x80_0001), from: peerA) == ok)
        }
        // receiveSequence without the default sublayer: no sequence number can arrive.
        let rx = L2TPv3Options(sessionID: 5, peerSessionID: 6, defaultL2SpecificSublayer: false, receiveSequence: true)
        var d = Decoder(sessions: [session(.l2tpv3(rx))], transport: Self.udp)
        #expect(d.decode(Wire.l2tpv3(udp: true, session: 5, sublayer: false) + frame, from: peerA) == .drop(.outOfSequence, session: 0))
    }

    @Test("L2TPv3 over IP with the IPv4 header in front (raw socket): options skipped, bad IHL malformed")
    func ipHeader() {
        var d = Decoder(sessions: [session(.l2tpv3(L2TPv3Options(sessionID: 5, peerSessionID: 6, peerCookie: [1, 2, 3, 4])))],
                        transport: Self.ipL2TP)
        let l2tp = Wire.l2tpv3(udp: false, session: 5, cookie: [1, 2, 3, 4]) + frame
        // RFC 791 §3.1: IHL counts 32-bit words; one word of options (NOP NOP NOP EOL).
        let withOptions = ipPacket(v6: false, src: v4A, dst: v4B, proto: 115, payload: l2tp, options: [1, 1, 1, 0])
        #expect(withOptions[0] == 0x46)
        #expect(d.decode(withOptions, from: peerA, ipHeader: true) == .frame(session: 0, peer: 0, offset: 24 + 12, length: 60, sequenced: false))
        let plain = ipPacket(v6: false, src: v4A, dst: v4B, proto: 115, payload: l2tp)
        #expect(d.decode(plain, from: peerA, ipHeader: true) == .frame(session: 0, peer: 0, offset: 20 + 12, length: 60, sequenced: false))
        for ihl: UInt8 in 0..<5 {
            var bad = plain; bad[0] = 0x40 | ihl
            #expect(d.decode(bad, from: peerA, ipHeader: true) == .drop(.malformed, session: nil), "IHL \(ihl)")
        }
        var v6 = plain; v6[0] = 0x65
        #expect(d.decode(v6, from: peerA, ipHeader: true) == .drop(.malformed, session: nil))
        // IHL 15 (60 bytes) in a 40-byte datagram.
        var long = Array(plain.prefix(40)); long[0] = 0x4f
        #expect(d.decode(long, from: peerA, ipHeader: true) == .drop(.malformed, session: nil))
        for n in 0..<20 { #expect(reason(d.decode(Array(plain.prefix(n)), from: peerA, ipHeader: true)) == .malformed) }
        // An IPv4 header alone, then an L2TP header cut short.
        #expect(reason(d.decode(Array(plain.prefix(22)), from: peerA, ipHeader: true)) == .malformed)
    }

    // MARK: GRE

    @Test("GRE: encode → decode for every flag combination, Ethernet and IP sessions, over IP and UDP",
          arguments: 0..<8)
    func greRoundTrip(combination: Int) {
        let csum = combination & 1 != 0, key = combination & 2 != 0, seq = combination & 4 != 0
        for transport in [Self.ipGRE, Transport.udp(localPort: 4754, remotePort: 4754)] {
            for (ethernet, inner) in [(true, frame), (false, udpPacket(payload: [1, 2, 3])), (false, udpPacket(v6: true, payload: [4]))] {
                let tx = GREOptions(outKey: key ? 0x0a0b_0c0d : nil, outChecksum: csum, outSequence: seq)
                let rx = GREOptions(inKey: key ? 0x0a0b_0c0d : nil, inChecksum: csum, inSequence: seq)
                var e = Encoder(session(.gre(tx), ethernet: ethernet), transport: transport)
                var d = Decoder(sessions: [session(.gre(GREOptions(inKey: 1)), ethernet: ethernet),
                                           session(.gre(rx), ethernet: ethernet, peers: [peerC, peerA])], transport: transport)
                let hl = e.headerLength
                for _ in 0..<3 {
                    #expect(d.decode(e.encapsulate(inner, ipVersion: Int(inner[0] >> 4)), from: peerA)
                            == .frame(session: 1, peer: 1, offset: hl, length: inner.count, sequenced: false),
                            "ethernet \(ethernet) \(transport)")
                }
            }
        }
    }

    @Test("GRE malformed: truncated header, version ≠ 0 (RFC 2784 §2.3.1), routing bit (RFC 1701 R, deprecated by RFC 2784)")
    func greMalformed() {
        for transport in [Self.ipGRE, Transport.udp(localPort: 4754, remotePort: 4754)] {
            var d = Decoder(sessions: [session(.gre(GREOptions(inKey: 3)))], transport: transport)
            for (key, seq, csum) in [(UInt32?(3), UInt32?(1), false), (3, nil, false), (3, 7, true)] {
                let good = Wire.gre(proto: 0x6558, checksum: csum, key: key, seq: seq, payload: frame)
                #expect(reason(d.decode(good, from: peerA)) == nil)
                let hl = 4 + (csum ? 4 : 0) + 4 + (seq != nil ? 4 : 0)
                // Without a checksum, anything short of the header plus an Ethernet header is malformed; with
                // one, the header must be there (a cut payload then fails the checksum).
                for n in 0..<(csum ? hl : hl + 14) {
                    #expect(reason(d.decode(Array(good.prefix(n)), from: peerA)) == .malformed, "\(transport) length \(n) of \(hl)")
                }
            }
            for version: UInt16 in 1...7 {
                #expect(d.decode(Wire.gre(proto: 0x6558, key: 3, extraFlags: version, payload: frame), from: peerA)
                        == .drop(.malformed, session: nil), "version \(version)")
            }
            #expect(d.decode(Wire.gre(proto: 0x6558, key: 3, extraFlags: 0x4000, payload: frame), from: peerA)
                    == .drop(.malformed, session: nil))
        }
    }

    @Test("GRE: unknown key, key where none is configured and the reverse, unknown peer")
    func greSessions() {
        var keyed = Decoder(sessions: [session(.gre(GREOptions(inKey: 3))), session(.gre(GREOptions(inKey: 4)), peers: [peerB])],
                            transport: Self.ipGRE)
        #expect(keyed.decode(Wire.gre(proto: 0x6558, key: 4, payload: frame), from: peerB)
                == .frame(session: 1, peer: 0, offset: 8, length: 60, sequenced: false))
        #expect(keyed.decode(Wire.gre(proto: 0x6558, key: 5, payload: frame), from: peerA) == .drop(.unknownSession, session: nil))
        #expect(keyed.decode(Wire.gre(proto: 0x6558, payload: frame), from: peerA) == .drop(.unknownSession, session: nil))
        #expect(keyed.decode(Wire.gre(proto: 0x6558, key: 3, payload: frame), from: peerB) == .drop(.unknownPeer, session: 0))
        var keyless = Decoder(sessions: [session(.gre(GREOptions()))], transport: Self.ipGRE)
        #expect(keyless.decode(Wire.gre(proto: 0x6558, payload: frame), from: peerA)
                == .frame(session: 0, peer: 0, offset: 4, length: 60, sequenced: false))
        #expect(keyless.decode(Wire.gre(proto: 0x6558, key: 3, payload: frame), from: peerA) == .drop(.unknownSession, session: nil))
        #expect(keyless.decode(Wire.gre(proto: 0x6558, payload: frame), from: peerC) == .drop(.unknownPeer, session: 0))
    }

    @Test("GRE checksum (RFC 2784 §2.5): any corrupted byte after the flags is a bad checksum; icsum requires one")
    func greChecksum() {
        for key in [nil, UInt32(9)] {
            var d = Decoder(sessions: [session(.gre(GREOptions(inKey: key)))], transport: Self.ipGRE)
            let good = Wire.gre(proto: 0x6558, checksum: true, key: key, seq: 0x55, payload: frame)
            #expect(d.decode(good, from: peerA) == .frame(session: 0, peer: 0, offset: key == nil ? 12 : 16, length: 60, sequenced: false))
            let keyBytes = key == nil ? 0..<0 : 8..<12
            for i in 2..<good.count where !keyBytes.contains(i) {
                for flip: UInt8 in [0x01, 0x40] {
                    var bad = good; bad[i] ^= flip
                    #expect(d.decode(bad, from: peerA) == .drop(.badChecksum, session: 0), "byte \(i)")
                }
            }
            // Odd length: the last byte is padded with zero for the sum.
            let odd = Wire.gre(proto: 0x6558, checksum: true, key: key, payload: frame + [0x77])
            #expect(reason(d.decode(odd, from: peerA)) == nil)
            var oddBad = odd; oddBad[oddBad.count - 1] = 0x78
            #expect(reason(d.decode(oddBad, from: peerA)) == .badChecksum)
        }
        var required = Decoder(sessions: [session(.gre(GREOptions(inChecksum: true)))], transport: Self.ipGRE)
        #expect(required.decode(Wire.gre(proto: 0x6558, payload: frame), from: peerA) == .drop(.badChecksum, session: 0))
        #expect(reason(required.decode(Wire.gre(proto: 0x6558, checksum: true, payload: frame), from: peerA)) == nil)
    }

    @Test("GRE sequence numbers (RFC 2890 §2.2): required with iseq, duplicates and older dropped, wraparound newer")
    func greSequence() {
        var d = Decoder(sessions: [session(.gre(GREOptions(inKey: 1, inSequence: true))), session(.gre(GREOptions(inKey: 2)))],
                        transport: Self.ipGRE)
        func dg(_ seq: UInt32?, key: UInt32 = 1) -> [UInt8] { Wire.gre(proto: 0x6558, key: key, seq: seq, payload: frame) }
        let ok = Decoded.frame(session: 0, peer: 0, offset: 12, length: 60, sequenced: false)
        #expect(d.decode(dg(nil), from: peerA) == .drop(.outOfSequence, session: 0))
        #expect(d.decode(dg(10), from: peerA) == ok)
        #expect(d.decode(dg(10), from: peerA) == .drop(.outOfSequence, session: 0))
        #expect(d.decode(dg(9), from: peerA) == .drop(.outOfSequence, session: 0))
        #expect(d.decode(dg(11), from: peerA) == ok)
        #expect(d.decode(dg(1000), from: peerA) == ok)
        #expect(d.decode(dg(999), from: peerA) == .drop(.outOfSequence, session: 0))
        // Serial arithmetic (RFC 1982): up to 2^31 - 1 ahead is newer, anything else older.
        #expect(d.decode(dg(1001 + 0x8000_0000), from: peerA) == .drop(.outOfSequence, session: 0))
        #expect(d.decode(dg(1001 + 0x7fff_ffff), from: peerA) == ok)
        // Wraparound: ff ff ff fe, ff ff ff ff, then 0 and 1 are newer.
        var w = Decoder(sessions: [session(.gre(GREOptions(inKey: 1, inSequence: true)))], transport: Self.ipGRE)
        for s: UInt32 in [0xffff_fffe, 0xffff_ffff, 0, 1] { #expect(w.decode(dg(s), from: peerA) == ok, "seq \(s)") }
        #expect(w.decode(dg(0xffff_ffff), from: peerA) == .drop(.outOfSequence, session: 0))
        #expect(w.decode(dg(1), from: peerA) == .drop(.outOfSequence, session: 0))
        // No iseq: a sequence number is skipped, never checked.
        for s: UInt32 in [5, 5, 4] {
            #expect(d.decode(dg(s, key: 2), from: peerA) == .frame(session: 1, peer: 0, offset: 12, length: 60, sequenced: false))
        }
        #expect(d.decode(dg(nil, key: 2), from: peerA) == .frame(session: 1, peer: 0, offset: 8, length: 60, sequenced: false))
    }

    @Test("GRE protocol type must match the session: 0x6558 on Ethernet, 0x0800/0x86DD with a matching packet on IP")
    func greProtocol() {
        var eth = Decoder(sessions: [session(.gre(GREOptions()))], transport: Self.ipGRE)
        let v4 = udpPacket(payload: [1, 2, 3]), v6 = udpPacket(v6: true, payload: [1])
        #expect(eth.decode(Wire.gre(proto: 0x0800, payload: v4), from: peerA) == .drop(.unsupported, session: 0))
        #expect(eth.decode(Wire.gre(proto: 0x86dd, payload: v6), from: peerA) == .drop(.unsupported, session: 0))
        var ip = Decoder(sessions: [session(.gre(GREOptions()), ethernet: false)], transport: Self.ipGRE)
        #expect(ip.decode(Wire.gre(proto: 0x0800, payload: v4), from: peerA) == .frame(session: 0, peer: 0, offset: 4, length: v4.count, sequenced: false))
        #expect(ip.decode(Wire.gre(proto: 0x86dd, payload: v6), from: peerA) == .frame(session: 0, peer: 0, offset: 4, length: v6.count, sequenced: false))
        #expect(ip.decode(Wire.gre(proto: 0x6558, payload: frame), from: peerA) == .drop(.unsupported, session: 0))
        #expect(ip.decode(Wire.gre(proto: 0x0806, payload: frame), from: peerA) == .drop(.unsupported, session: 0))
        // The protocol type and the packet's version disagree, or the packet is shorter than its fixed header.
        #expect(ip.decode(Wire.gre(proto: 0x86dd, payload: v4), from: peerA) == .drop(.malformed, session: 0))
        #expect(ip.decode(Wire.gre(proto: 0x0800, payload: v6), from: peerA) == .drop(.malformed, session: 0))
        #expect(ip.decode(Wire.gre(proto: 0x0800, payload: Array(v4.prefix(19))), from: peerA) == .drop(.malformed, session: 0))
        #expect(ip.decode(Wire.gre(proto: 0x86dd, payload: Array(v6.prefix(39))), from: peerA) == .drop(.malformed, session: 0))
        #expect(ip.decode(Wire.gre(proto: 0x0800, payload: []), from: peerA) == .drop(.malformed, session: 0))
    }

    // MARK: IP in IP

    @Test("IP in IP: the packet is the frame; session by peer; version allowed by the session; header fits")
    func ipInIP() {
        let v4 = udpPacket(payload: [1, 2, 3]), v6 = udpPacket(v6: true, payload: [1])
        let sessions = [session(.ipInIP(allowIPv4: true, allowIPv6: false), ethernet: false, peers: [peerA]),
                        session(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false, peers: [peerB], name: "t1")]
        var d4 = Decoder(sessions: sessions, transport: Self.ipIPIP)
        #expect(d4.decode(v4, from: peerA) == .frame(session: 0, peer: 0, offset: 0, length: v4.count, sequenced: false))
        #expect(d4.decode(v4, from: peerB) == .frame(session: 1, peer: 0, offset: 0, length: v4.count, sequenced: false))
        #expect(d4.decode(v4, from: peerC) == .drop(.unknownPeer, session: nil))
        #expect(d4.decode(v6, from: peerA) == .drop(.malformed, session: 0))   // protocol 4 carrying IPv6
        for n in 0..<20 { #expect(d4.decode(Array(v4.prefix(n)), from: peerA) == .drop(.malformed, session: 0), "length \(n)") }
        var d6 = Decoder(sessions: sessions, transport: Self.ipIPv6)
        #expect(d6.decode(v6, from: peerA) == .drop(.unsupported, session: 0))   // IPv4-only session, protocol 41
        #expect(d6.decode(v6, from: peerB) == .frame(session: 1, peer: 0, offset: 0, length: v6.count, sequenced: false))
        let dual = [session(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false, peers: [peerB, peer6, peerC])]
        var byPeer = Decoder(sessions: dual, transport: Self.ipIPv6)
        #expect(byPeer.decode(v6, from: peer6) == .frame(session: 0, peer: 1, offset: 0, length: v6.count, sequenced: false))
        #expect(byPeer.decode(v6, from: peerC) == .frame(session: 0, peer: 2, offset: 0, length: v6.count, sequenced: false))
        for n in 0..<40 { #expect(d6.decode(Array(v6.prefix(n)), from: peerB) == .drop(.malformed, session: 1), "length \(n)") }
        // With the outer IPv4 header in front (IPv4 raw socket).
        let outer = ipPacket(v6: false, src: v4B, dst: v4A, proto: 4, payload: v4, options: [1, 1, 1, 1, 1, 1, 1, 0])
        #expect(d4.decode(outer, from: peerB, ipHeader: true) == .frame(session: 1, peer: 0, offset: 28, length: v4.count, sequenced: false))
        // IP in IP cannot come over UDP.
        var u = Decoder(sessions: sessions, transport: Self.udp)
        #expect(u.decode(v4, from: peerA) == .drop(.unsupported, session: nil))
    }

    // MARK: Hostile input

    /// Decoders of every encapsulation and transport, and a valid header for each to start datagrams with.
    static func decoderZoo() -> [(Decoder, Bool, [[UInt8]])] {
        let l2a = L2TPv3Options(sessionID: 1, peerSessionID: 1)
        let l2b = L2TPv3Options(sessionID: 0x1122_3344, peerSessionID: 2, peerCookie: [1, 2, 3, 4, 5, 6, 7, 8], receiveSequence: true)
        let l2c = L2TPv3Options(sessionID: 3, peerSessionID: 3, peerCookie: [9, 9, 9, 9], defaultL2SpecificSublayer: false)
        let greS = [session(.gre(GREOptions())), session(.gre(GREOptions(inKey: 7, inChecksum: true, inSequence: true)), ethernet: false),
                    session(.gre(GREOptions(inKey: 8, inSequence: true)), peers: [peerA, peerB, peer6])]
        let ipip = [session(.ipInIP(allowIPv4: true, allowIPv6: false), ethernet: false, peers: [peerA]),
                    session(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false, peers: [peerB, peer6])]
        var zoo: [(Decoder, Bool, [[UInt8]])] = []
        let vx = [session(.vxlan(vni: 1)), session(.vxlan(vni: 0x12_3456), peers: [peerA, peerB])]
        zoo.append((Decoder(sessions: vx, transport: udp), false, [Wire.vxlan(1), Wire.vxlan(0x12_3456)]))
        for (t, ipHeader) in [(udp, false), (ipL2TP, false), (ipL2TP, true)] {
            let u = t.isUDP
            var prefixes = [Wire.l2tpv3(udp: u, session: 1), Wire.l2tpv3(udp: u, session: 0x1122_3344, cookie: [1, 2, 3, 4, 5, 6, 7, 8], seq: 9),
                            Wire.l2tpv3(udp: u, session: 3, cookie: [9, 9, 9, 9], sublayer: false)]
            if ipHeader { prefixes = prefixes.map { Array(ipPacket(v6: false, src: v4A, dst: v4B, proto: 115, payload: $0, options: [1, 1, 1, 0]).prefix(24)) + $0 } }
            zoo.append((Decoder(sessions: [session(.l2tpv3(l2a)), session(.l2tpv3(l2b)), session(.l2tpv3(l2c), ethernet: true, peers: [peer6])],
                                transport: t), ipHeader, prefixes))
        }
        let grePrefixes = [Wire.gre(proto: 0x6558, payload: []), Wire.gre(proto: 0x0800, checksum: true, key: 7, seq: 1, payload: []),
                           Wire.gre(proto: 0x6558, key: 8, seq: 5, payload: [])]
        for (t, ipHeader) in [(ipGRE, false), (ipGRE, true), (Transport.udp(localPort: 4754, remotePort: 4754), false)] {
            let prefixes = ipHeader ? grePrefixes.map { Array(ipPacket(v6: false, src: v4A, dst: v4B, proto: 47, payload: []).prefix(20)) + $0 } : grePrefixes
            zoo.append((Decoder(sessions: greS, transport: t), ipHeader, prefixes))
        }
        for t in [ipIPIP, ipIPv6, udp] {
            zoo.append((Decoder(sessions: ipip, transport: t), false, [[0x45, 0, 0, 20], [0x60, 0, 0, 0]]))
        }
        return zoo
    }

    @Test("200,000 random datagrams (lengths 0...300) never trap, and every frame lies inside its datagram")
    func randomDatagrams() {
        var rng = SeededRandom(seed: 0xdec0de)
        var zoo = Self.decoderZoo()
        let sources = [peerA, peerB, peerC, peer6]
        var frames = 0, drops: [DropReason: Int] = [:]
        for i in 0..<200_000 {
            let z = i % zoo.count
            let length = Int.random(in: 0...300, using: &rng)
            var dg = rng.bytes(length)
            // Half of them start with a valid header, so the checks past the session lookup see traffic too;
            // a quarter of those get one byte changed.
            if rng.next() & 1 == 0 {
                let prefix = zoo[z].2[Int.random(in: 0..<zoo[z].2.count, using: &rng)]
                for (k, b) in prefix.enumerated() where k < dg.count { dg[k] = b }
                if rng.next() & 3 == 0, !dg.isEmpty { dg[Int.random(in: 0..<dg.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            }
            let source = sources[Int.random(in: 0..<sources.count, using: &rng)]
            let result = zoo[z].0.decode(dg, from: source, ipHeader: zoo[z].1)
            switch result {
            case .frame(let s, let peer, let offset, let length, _):
                frames += 1
                let ok = s >= 0 && s < zoo[z].0.sessions.count && peer >= 0 && peer < zoo[z].0.sessions[s].peers.count
                    && zoo[z].0.sessions[s].peers[peer] == source && offset >= 0 && length >= 0 && offset + length <= dg.count
                #expect(ok, "decoder \(z): \(result) for \(hex(dg))")
                if !ok { return }
            case .drop(let r, let s):
                drops[r, default: 0] += 1
                if let s { #expect(s >= 0 && s < zoo[z].0.sessions.count) }
            }
        }
        // The prefixed half reaches deep enough to produce frames and most kinds of drop.
        #expect(frames > 1000)
        for r: DropReason in [.malformed, .unknownSession, .unknownPeer, .badCookie, .badChecksum, .outOfSequence, .control, .unsupported] {
            #expect(drops[r, default: 0] > 0, "no \(r.name) drops")
        }
    }
}
