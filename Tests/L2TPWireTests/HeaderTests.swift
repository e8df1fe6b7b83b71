import L2TPWire
import Testing

/// Header goldens, hand-built from the field layouts of RFC 2661 §3.1 and RFC 3931 §3.2.1, §4.1.1, §4.1.2.1.
@Suite("L2TP headers")
struct HeaderTests {
    static let v2Control: [UInt8] = [
        0xc8, 0x02, // T L S, version 2
        0x00, 0x0c, // Length 12
        0x12, 0x34, // Tunnel ID 0x1234
        0x00, 0x07, // Session ID 7
        0x00, 0x03, // Ns 3
        0x00, 0x02, // Nr 2
    ]
    static let v3ControlUDP: [UInt8] = [
        0xc8, 0x03,             // T L S, version 3
        0x00, 0x0c,             // Length 12
        0xde, 0xad, 0xbe, 0xef, // Control Connection ID
        0x00, 0x01,             // Ns 1
        0x00, 0x09,             // Nr 9
    ]
    static let v3ControlIP: [UInt8] = [
        0x00, 0x00, 0x00, 0x00, // zero session id: control (RFC 3931 §4.1.1.2)
    ] + v3ControlUDP
    static let v2DataAllFlags: [UInt8] = [
        0x4b, 0x02, // L S O P, version 2
        0x00, 0x12, // Length 18
        0x00, 0x05, // Tunnel ID 5
        0x00, 0x06, // Session ID 6
        0x00, 0x0a, // Ns 10
        0x00, 0x00, // Nr (reserved in data messages)
        0x00, 0x02, // Offset Size 2
        0xee, 0xff, // offset pad
        0x61, 0x62, // payload "ab"
    ]
    static let v2DataMinimal: [UInt8] = [
        0x00, 0x02, // no flags, version 2
        0x00, 0x05, // Tunnel ID 5
        0x00, 0x06, // Session ID 6
        0x7e, 0xff, // payload
    ]
    static let v3DataUDP: [UInt8] = [
        0x00, 0x03, 0x00, 0x00, // T clear, version 3, reserved
        0x00, 0x00, 0x01, 0x00, // Session ID 256
        0xaa,                   // cookie / sublayer / payload
    ]
    static let v3DataIP: [UInt8] = [
        0x00, 0x00, 0x01, 0x00, // Session ID 256
        0xaa, 0xbb,             // cookie / sublayer / payload
    ]

    @Test("v2 control header: fields and re-encoding")
    func v2Control() throws {
        let h = try L2TPHeader.parse(Self.v2Control, transport: .udp)
        let expected = ControlHeader(version: .v2, connectionID: 0x1234, sessionID: 7, ns: 3, nr: 2)
        #expect(h == .control(expected, body: 12..<12))
        #expect(try expected.encode(bodyLength: 0, transport: .udp) == Self.v2Control)
    }

    @Test("v3 control header over UDP and over IP (32 zero bits first, not counted in Length)")
    func v3Control() throws {
        let expected = ControlHeader(version: .v3, connectionID: 0xdead_beef, ns: 1, nr: 9)
        #expect(try L2TPHeader.parse(Self.v3ControlUDP, transport: .udp) == .control(expected, body: 12..<12))
        #expect(try L2TPHeader.parse(Self.v3ControlIP, transport: .ip) == .control(expected, body: 16..<16))
        #expect(try expected.encode(bodyLength: 0, transport: .udp) == Self.v3ControlUDP)
        #expect(try expected.encode(bodyLength: 0, transport: .ip) == Self.v3ControlIP)
    }

    @Test("v2 data header with L, S, O and P; and with no optional field")
    func v2Data() throws {
        let full = V2DataHeader(tunnelID: 5, sessionID: 6, ns: 10, nr: 0, hasLength: true, priority: true,
                                offsetPad: [0xee, 0xff])
        #expect(try L2TPHeader.parse(Self.v2DataAllFlags, transport: .udp) == .v2Data(full, payload: 16..<18))
        #expect(try full.encode(payloadLength: 2) + [0x61, 0x62] == Self.v2DataAllFlags)
        let minimal = V2DataHeader(tunnelID: 5, sessionID: 6)
        #expect(try L2TPHeader.parse(Self.v2DataMinimal, transport: .udp) == .v2Data(minimal, payload: 6..<8))
        #expect(try minimal.encode(payloadLength: 2) + [0x7e, 0xff] == Self.v2DataMinimal)
    }

    @Test("v2 data: Length shorter than the datagram ends the payload there (trailing bytes are not L2TP)")
    func v2DataLengthBounds() throws {
        let d: [UInt8] = [0x40, 0x02, 0x00, 0x08, 0x00, 0x05, 0x00, 0x06, 0x01, 0x02, 0x03]
        #expect(try L2TPHeader.parse(d, transport: .udp) == .v2Data(V2DataHeader(tunnelID: 5, sessionID: 6, hasLength: true),
                                                                   payload: 8..<8))
    }

    @Test("v3 data header over UDP and IP")
    func v3Data() throws {
        #expect(try L2TPHeader.parse(Self.v3DataUDP, transport: .udp) == .v3Data(V3DataHeader(sessionID: 256), payload: 8..<9))
        #expect(try L2TPHeader.parse(Self.v3DataIP, transport: .ip) == .v3Data(V3DataHeader(sessionID: 256), payload: 4..<6))
        #expect(V3DataHeader(sessionID: 256).encode(transport: .udp) == Array(Self.v3DataUDP.prefix(8)))
        #expect(V3DataHeader(sessionID: 256).encode(transport: .ip) == Array(Self.v3DataIP.prefix(4)))
    }

    @Test("reserved header bits are ignored on receipt (RFC 2661 §3.1, RFC 3931 §3.2.1) and not sent")
    func reservedIgnored() throws {
        var v3 = Self.v3ControlUDP
        v3[0] |= 0x37  // every x bit of the first octet, O and P included (reserved in v3)
        v3[1] |= 0xf0
        guard case .control(let h, _) = try L2TPHeader.parse(v3, transport: .udp) else { Issue.record("not control"); return }
        #expect(try h.encode(bodyLength: 0, transport: .udp) == Self.v3ControlUDP)
        var v2 = Self.v2Control
        v2[0] |= 0x34
        v2[1] |= 0xf0
        #expect(try L2TPHeader.parse(v2, transport: .udp) == L2TPHeader.parse(Self.v2Control, transport: .udp))
    }

    @Test("too short: every prefix of each header form")
    func tooShort() {
        for (d, t, ok) in [(Self.v2Control, L2TPTransport.udp, 12), (Self.v3ControlUDP, .udp, 12), (Self.v3ControlIP, .ip, 16),
                           (Self.v3DataUDP, .udp, 8), (Self.v3DataIP, .ip, 4), (Self.v2DataMinimal, .udp, 6)] {
            for n in 0..<ok {
                let e = wireError { _ = try L2TPHeader.parse(Array(d.prefix(n)), transport: t) }
                #expect(e?.reason == .tooShort, "\(hex(d)) cut at \(n): \(String(describing: e))")
            }
        }
        #expect(wireError { _ = try L2TPHeader.parse(Array(Self.v2Control.prefix(11)), transport: .udp) }?.reason == .tooShort)
        #expect(wireError { _ = try L2TPHeader.parse([0xc8], transport: .udp) }?.reason == .tooShort)
        // v2 data with L, S and O needs 12 bytes before the padding.
        #expect(wireError { _ = try L2TPHeader.parse(Array(Self.v2DataAllFlags.prefix(11)), transport: .udp) }?.reason == .tooShort)
    }

    @Test("bad version: L2F's 1, unassigned values, and v2 over IP")
    func badVersion() {
        for v: UInt8 in [0, 1, 4, 5, 15] {
            var d = Self.v2Control
            d[1] = v
            #expect(wireError { _ = try L2TPHeader.parse(d, transport: .udp) } == L2TPWireError(.badVersion, offset: 1))
        }
        var ip = Self.v3ControlIP
        ip[5] = 2
        #expect(wireError { _ = try L2TPHeader.parse(ip, transport: .ip) } == L2TPWireError(.badVersion, offset: 5))
        #expect(wireError { _ = try ControlHeader(version: .v2, connectionID: 1).encode(bodyLength: 0, transport: .ip) }?.reason
                == .badVersion)
    }

    @Test("reserved bits: O or P on a v2 control message (RFC 2661 §3.1)")
    func reservedBits() {
        for bit: UInt8 in [0x02, 0x01] {
            var d = Self.v2Control
            d[0] |= bit
            #expect(wireError { _ = try L2TPHeader.parse(d, transport: .udp) } == L2TPWireError(.reservedBits, offset: 0))
        }
    }

    @Test("length mismatch: Length beyond the datagram or below the header")
    func lengthMismatch() {
        for (d, t, at) in [(Self.v2Control, L2TPTransport.udp, 2), (Self.v3ControlUDP, .udp, 2), (Self.v3ControlIP, .ip, 6)] {
            for length: UInt16 in [0, 11, 13, 0xffff] {
                var m = d
                m[at] = UInt8(length >> 8); m[at + 1] = UInt8(length & 0xff)
                #expect(wireError { _ = try L2TPHeader.parse(m, transport: t) } == L2TPWireError(.lengthMismatch, offset: at),
                        "length \(length)")
            }
        }
        var data = Self.v2DataAllFlags
        data[3] = 0x13  // 19 > 18 bytes
        #expect(wireError { _ = try L2TPHeader.parse(data, transport: .udp) } == L2TPWireError(.lengthMismatch, offset: 2))
        data[3] = 0x0b  // 11 < the 14 bytes up to Offset Size
        #expect(wireError { _ = try L2TPHeader.parse(data, transport: .udp) } == L2TPWireError(.lengthMismatch, offset: 2))
    }

    @Test("offset beyond length: an Offset Size past Length, or past the datagram without L")
    func offsetBeyond() {
        var d = Self.v2DataAllFlags
        d[13] = 5  // 14 + 5 > 18
        #expect(wireError { _ = try L2TPHeader.parse(d, transport: .udp) } == L2TPWireError(.offsetBeyondLength, offset: 12))
        d[13] = 4  // exactly to the end: empty payload
        #expect((try? L2TPHeader.parse(d, transport: .udp)) != nil)
        let noLength: [UInt8] = [0x02, 0x02, 0, 5, 0, 6, 0x00, 0x09, 1, 2, 3]
        #expect(wireError { _ = try L2TPHeader.parse(noLength, transport: .udp) } == L2TPWireError(.offsetBeyondLength, offset: 6))
    }

    @Test("a control message without L or S (RFC 2661 §3.1, RFC 3931 §3.2.1); over IP, a zero session id without T")
    func missingLengthOrSequence() {
        for (d, t, at) in [(Self.v2Control, L2TPTransport.udp, 0), (Self.v3ControlUDP, .udp, 0), (Self.v3ControlIP, .ip, 4)] {
            for clear: UInt8 in [0x40, 0x08] {
                var m = d
                m[at] &= ~clear
                #expect(wireError { _ = try L2TPHeader.parse(m, transport: t) }
                        == L2TPWireError(.missingLengthOrSequence, offset: at), "clear \(clear) in \(hex(d))")
            }
        }
        var ip = Self.v3ControlIP
        ip[4] = 0x48
        #expect(wireError { _ = try L2TPHeader.parse(ip, transport: .ip) } == L2TPWireError(.missingLengthOrSequence, offset: 4))
    }

    @Test("encoding refuses what does not fit: a v2 tunnel id over 16 bits, a v3 session id, a body over 65523")
    func encodeLimits() {
        #expect(wireError { _ = try ControlHeader(version: .v2, connectionID: 0x1_0000).encode(bodyLength: 0, transport: .udp) }?
            .reason == .valueOutOfRange)
        #expect(wireError { _ = try ControlHeader(version: .v3, connectionID: 1, sessionID: 1).encode(bodyLength: 0, transport: .udp) }?
            .reason == .valueOutOfRange)
        #expect(wireError { _ = try ControlHeader(version: .v3, connectionID: 1).encode(bodyLength: 65524, transport: .udp) }?
            .reason == .valueOutOfRange)
        let largest = try? ControlHeader(version: .v3, connectionID: 1).encode(bodyLength: 65523, transport: .udp)
        #expect(largest.map { Array($0[2..<4]) } == [0xff, 0xff])
        #expect(wireError { _ = try V2DataHeader(tunnelID: 1, sessionID: 1, hasLength: true).encode(payloadLength: 65530) }?
            .reason == .valueOutOfRange)
    }

    @Test("v2 data encode(into:) appends the same header after what is there, and on an error leaves it unchanged")
    func v2DataEncodeInto() throws {
        let full = V2DataHeader(tunnelID: 5, sessionID: 6, ns: 10, nr: 0, hasLength: true, priority: true, offsetPad: [0xee, 0xff])
        var out: [UInt8] = [1, 2, 3]
        try full.encode(payloadLength: 2, into: &out)
        #expect(out == [1, 2, 3] + Array(Self.v2DataAllFlags.prefix(16)))
        #expect(wireError { try V2DataHeader(tunnelID: 1, sessionID: 1, hasLength: true).encode(payloadLength: 65530, into: &out) }?
            .reason == .valueOutOfRange)
        #expect(wireError { try V2DataHeader(tunnelID: 1, sessionID: 1, offsetPad: [UInt8](repeating: 0, count: 0x1_0000))
                                .encode(payloadLength: 0, into: &out) }?.reason == .valueOutOfRange)
        #expect(out == [1, 2, 3] + Array(Self.v2DataAllFlags.prefix(16)))
    }

    /// The same answer, or the same error, from the bytes in place as from an array: every header form, every prefix
    /// of each, and 20,000 mutations of them.
    @Test("parse of bytes in place agrees with parse of an array, on goldens, their prefixes and random mutations")
    func parseInPlace() {
        func both(_ d: [UInt8], _ t: L2TPTransport) -> Bool {
            let a = Result { () throws(L2TPWireError) in try L2TPHeader.parse(d, transport: t) }
            let b = d.withUnsafeBytes { raw in Result { () throws(L2TPWireError) in try L2TPHeader.parse(raw, transport: t) } }
            return "\(a)" == "\(b)"
        }
        let forms: [([UInt8], L2TPTransport)] = [(Self.v2Control, .udp), (Self.v3ControlUDP, .udp), (Self.v3ControlIP, .ip),
                                                 (Self.v3DataUDP, .udp), (Self.v3DataIP, .ip), (Self.v2DataAllFlags, .udp),
                                                 (Self.v2DataMinimal, .udp)]
        var rng = SystemRandomNumberGenerator()
        var disagreements: [String] = []
        for (d, t) in forms {
            for n in 0...d.count where !both(Array(d.prefix(n)), t) { disagreements.append(hex(Array(d.prefix(n)))) }
            for _ in 0..<20_000 / forms.count {
                var m = d
                for _ in 0..<Int.random(in: 1...4, using: &rng) { m[Int.random(in: 0..<m.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                if Bool.random(using: &rng) { m += (0..<Int.random(in: 0...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
                if !both(m, t) { disagreements.append(hex(m)) }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test("every reason has a distinct snake_case name")
    func reasonNames() {
        let names = L2TPWireError.Reason.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.allSatisfy { $0 == "_" || ("a"..."z").contains($0) } })
        #expect(L2TPWireError.Reason.unknownMandatoryAVP.name == "unknown_mandatory_avp")
    }
}
