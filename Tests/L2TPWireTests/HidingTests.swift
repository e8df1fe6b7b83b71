import L2TPWire
import TestSupport
import Testing

/// Hidden AVPs (RFC 2661 §4.3, RFC 3931 §5.3). The hidden bytes below were computed independently with Python's
/// hashlib/hmac from the RFC's description (b1 = MD5(type + S + RV), bi = MD5(S + c(i-1))), secret "isthmus",
/// random vector 00 01 ... 0f.
@Suite("Hidden AVPs")
struct HidingTests {
    static let secret = Array("isthmus".utf8)
    static let vector: [UInt8] = Array(0...15)

    /// An ICRQ (RFC 2661 §6.6) hiding its Assigned Session ID (3 bytes of padding) and an 18-byte-subformat
    /// Calling Number (two MD5 blocks).
    static let v2ICRQ: [UInt8] = [
        0xc8, 0x02,                                      // T L S, version 2
        0x00, 0x59,                                      // Length 89
        0x12, 0x34,                                      // Tunnel ID
        0x00, 0x00,                                      // Session ID 0
        0x00, 0x01,                                      // Ns 1
        0x00, 0x01,                                      // Nr 1
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,  // M, len 8, Message Type: ICRQ
        0x80, 0x16, 0x00, 0x00, 0x00, 0x24,              // M, len 22, Random Vector
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0xc0, 0x0d, 0x00, 0x00, 0x00, 0x0e,              // M H, len 13, Assigned Session ID (hidden)
        0x41, 0x91, 0xd1, 0x77, 0x08, 0x00, 0xf4,        //   hidden: length 2, 0x0042, pad a1 a2 a3
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x01,  // M, len 10, Call Serial Number 1
        0xc0, 0x18, 0x00, 0x00, 0x00, 0x16,              // M H, len 24, Calling Number (hidden)
        0x7b, 0xbf, 0xe5, 0x36, 0x1d, 0xce, 0xb9, 0x03, 0x91, 0x8c, 0x72, 0xdc, 0x31, 0xec, 0x26, 0x6a,  // block 1
        0xc1, 0x46,                                      //   block 2: length 16, "5551234567890123"
    ]

    static let v2ICRQValue = ControlMessage(header: ControlHeader(version: .v2, connectionID: 0x1234, ns: 1, nr: 1), avps: [
        AVP(.messageType, .messageType(.icrq)),
        AVP(.randomVector, .bytes(vector)),
        AVP(.assignedSessionID, .u16(0x42), hidden: true, hiddenPadding: [0xa1, 0xa2, 0xa3]),
        AVP(.callSerialNumber, .u32(1)),
        AVP(.callingNumber, .string("5551234567890123"), hidden: true),
    ])

    @Test("v2 golden: revealed with the secret, re-hidden to the same bytes")
    func v2Golden() throws {
        let m = try ControlMessage.parse(Self.v2ICRQ, transport: .udp, secret: Self.secret)
        #expect(m == Self.v2ICRQValue)
        #expect(m.u16(.assignedSessionID) == 0x42 && m.string(.callingNumber) == "5551234567890123")
        #expect(try Self.v2ICRQValue.encode(transport: .udp, secret: Self.secret) == Self.v2ICRQ)
        #expect(m.validate() == [])
    }

    @Test("v3 hides with HMAC-MD5(secret, 1) as the key (RFC 3931 §5.3)")
    func v3Key() throws {
        #expect(AVPHiding.key(secret: Self.secret, version: .v3)
                == [0xd1, 0x80, 0x52, 0xf4, 0xdb, 0x99, 0xc2, 0x56, 0x0a, 0xdc, 0xd9, 0xad, 0xf5, 0x2f, 0x62, 0xe2])
        #expect(AVPHiding.key(secret: Self.secret, version: .v2) == Self.secret)
        let wire = rawControl(version: 3, mt(10) + rawAVP(36, Self.vector)
                              + [0xc0, 0x0c, 0x00, 0x00, 0x00, 0x3f,              // M H, len 12, Local Session ID
                                 0xc5, 0xe3, 0x2f, 0xea, 0xa2, 0xc6])          // hidden 0x01020304 (Python)
        let m = try ControlMessage.parse(wire, transport: .udp, secret: Self.secret)
        #expect(m.avps[2] == AVP(.localSessionID, .u32(0x0102_0304), hidden: true))
        #expect(try m.encode(transport: .udp, secret: Self.secret) == wire)
    }

    @Test("hide/reveal round trip for every subformat length 2...60, with and without padding, both versions")
    func roundTrip() {
        var rng = SeededRandom(seed: 0x4869_6465)
        for version in L2TPVersion.allCases {
            for n in 0...58 {
                let value = rng.bytes(n), pad = rng.bytes(rng.upTo(7)), rv = rng.bytes(1 + rng.upTo(20))
                let key = AVPHiding.key(secret: rng.bytes(1 + rng.upTo(10)), version: version)
                let hidden = AVPHiding.hide(value, padding: pad, attributeType: 22, key: key, randomVector: rv)
                #expect(hidden.count == 2 + n + pad.count)
                let back = AVPHiding.reveal(hidden[...], attributeType: 22, key: key, randomVector: rv)
                #expect(back?.value == value && back?.padding == pad, "\(version) n=\(n)")
                // The attribute type is part of the first block's key.
                #expect(AVPHiding.hide(value, padding: pad, attributeType: 21, key: key, randomVector: rv) != hidden)
            }
        }
    }

    @Test("the most recent Random Vector before a hidden AVP is used (RFC 2661 §4.3)")
    func latestVector() throws {
        let second: [UInt8] = Array(repeating: 0x5a, count: 8)
        let m = ControlMessage(header: ControlHeader(version: .v2, connectionID: 9), avps: [
            AVP(.messageType, .messageType(.iccn)),
            AVP(.randomVector, .bytes(Self.vector)),
            AVP(.txConnectSpeed, .u32(64000), hidden: true),
            AVP(.randomVector, .bytes(second)),
            AVP(.framingType, .u32(1), hidden: true),
        ])
        let wire = try m.encode(transport: .udp, secret: Self.secret)
        #expect(try ControlMessage.parse(wire, transport: .udp, secret: Self.secret) == m)
        // The Framing Type's hidden bytes are those under the second vector.
        let tail = Array(wire.suffix(6))
        #expect(tail == AVPHiding.hide([0, 0, 0, 1], attributeType: 19, key: Self.secret, randomVector: second))
    }

    @Test("errors: no Random Vector before, no secret, a type that must not be hidden, a bad hidden length")
    func errors() {
        let header = ControlHeader(version: .v2, connectionID: 0)
        func parse(_ body: [UInt8], secret: [UInt8]? = HidingTests.secret) -> L2TPWireError? {
            wireError { _ = try ControlMessage.parse(rawControl(version: 2, body), transport: .udp, secret: secret) }
        }
        let hiddenASID = rawAVP(14, [0x41, 0x91, 0xd1, 0x77, 0x08, 0x00, 0xf4], h: true)
        #expect(parse(mt(10) + hiddenASID + rawAVP(36, Self.vector))
                == L2TPWireError(.hiddenWithoutRandomVector, offset: 20, avp: .assignedSessionID, header: header, messageType: .icrq))
        #expect(parse(mt(10) + rawAVP(36, Self.vector) + hiddenASID, secret: nil)?.reason == .hiddenWithoutSecret)
        for type: UInt16 in [7, 36, 59, 73, 10] {
            #expect(parse(mt(10) + rawAVP(36, Self.vector) + rawAVP(type, [1, 2, 3, 4], h: true))
                    == L2TPWireError(.notHidable, offset: 42, avp: AVPType(type), header: header, messageType: .icrq), "type \(type)")
        }
        #expect(parse(rawAVP(0, [0, 10], h: true))?.reason == .notHidable)
        // A subformat of one byte, and one whose length field (after unhiding) exceeds what follows.
        #expect(parse(mt(10) + rawAVP(36, Self.vector) + rawAVP(14, [0x41], h: true))?.reason == .badHiddenLength)
        let liar = AVPHiding.hide([1, 2], attributeType: 14, key: Self.secret, randomVector: Self.vector)
        var tampered = liar
        tampered[1] ^= 0x10  // original length 2 -> 18
        #expect(parse(mt(10) + rawAVP(36, Self.vector) + rawAVP(14, tampered, h: true))?.reason == .badHiddenLength)
        // Encoding needs the same things.
        let noVector = ControlMessage(header: header, avps: [AVP(.messageType, .messageType(.icrq)),
                                                             AVP(.assignedSessionID, .u16(1), hidden: true)])
        #expect(wireError { _ = try noVector.encode(transport: .udp, secret: Self.secret) }?.reason == .hiddenWithoutRandomVector)
        #expect(wireError { _ = try Self.v2ICRQValue.encode(transport: .udp) }?.reason == .hiddenWithoutSecret)
        let hostHidden = ControlMessage(header: header, avps: [AVP(.messageType, .messageType(.sccrq)),
                                                               AVP(.randomVector, .bytes([1])),
                                                               AVP(.hostName, .string("h"), hidden: true)])
        #expect(wireError { _ = try hostHidden.encode(transport: .udp, secret: Self.secret) }?.reason == .notHidable)
    }

    @Test("an unknown optional AVP that is hidden is revealed too, and re-hidden on encoding")
    func hiddenUnknown() throws {
        let hidden = AVPHiding.hide([9, 9, 9], attributeType: 300, key: Self.secret, randomVector: Self.vector)
        let wire = rawControl(version: 2, mt(6) + rawAVP(36, Self.vector) + rawAVP(300, hidden, m: false, h: true))
        let m = try ControlMessage.parse(wire, transport: .udp, secret: Self.secret)
        #expect(m.avps[2] == AVP(AVPType(300), .unknown([9, 9, 9]), mandatory: false, hidden: true))
        #expect(try m.encode(transport: .udp, secret: Self.secret) == wire)
    }

    /// RFC 2661 §5.1.1 / RFC 1994 §4.1: MD5(ID + secret + challenge); Python: md5(b'\x02' + b'isthmus' + bytes(range(0x30, 0x40))).
    @Test("v2 tunnel authentication: the Challenge Response")
    func challengeResponse() {
        #expect(ChallengeResponse.compute(messageType: .sccrp, secret: Self.secret, challenge: Array(0x30...0x3f))
                == [0x28, 0x1b, 0x65, 0x2f, 0xfd, 0x8a, 0xa7, 0xed, 0xb4, 0x0b, 0xe9, 0x9d, 0x66, 0xb2, 0x64, 0x09])
    }
}
