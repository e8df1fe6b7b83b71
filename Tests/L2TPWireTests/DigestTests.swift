import L2TPWire
import Testing

/// The v3 Message Digest (RFC 3931 §4.3, §5.4.1). Expected digests were computed with Python's hmac module:
/// key = hmac(b"isthmus", b"\x02", md5); digest = hmac(key, local_nonce + remote_nonce + message, md5|sha1).
@Suite("Message Digest")
struct DigestTests {
    static let secret = Array("isthmus".utf8)
    static let senderNonce = [UInt8](repeating: 0x11, count: 16)
    static let receiverNonce = [UInt8](repeating: 0x22, count: 16)
    static let sender = MessageAuthentication(secret: secret, localNonce: senderNonce, remoteNonce: receiverNonce)
    static let receiver = MessageAuthentication(secret: secret, localNonce: receiverNonce, remoteNonce: senderNonce)

    static let helloMD5: [UInt8] = [
        0xc8, 0x03,                                      // T L S, version 3
        0x00, 0x2b,                                      // Length 43
        0x00, 0x00, 0xbe, 0xef,                          // Control Connection ID
        0x00, 0x05,                                      // Ns 5
        0x00, 0x07,                                      // Nr 7
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06,  // M, len 8, Message Type: HELLO
        0x80, 0x17, 0x00, 0x00, 0x00, 0x3b,              // M, len 23, Message Digest
        0x00,                                            //   Digest Type 0, HMAC-MD5
        0x8a, 0xc0, 0x2a, 0x43, 0xdf, 0x48, 0xff, 0x24, 0x0c, 0xab, 0x4b, 0x02, 0x35, 0xfe, 0xc9, 0x3e,
    ]
    static let helloSHA1: [UInt8] = [
        0xc8, 0x03,                                      // T L S, version 3
        0x00, 0x2f,                                      // Length 47
        0x00, 0x00, 0xbe, 0xef,                          // Control Connection ID
        0x00, 0x05,                                      // Ns 5
        0x00, 0x07,                                      // Nr 7
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06,  // M, len 8, Message Type: HELLO
        0x80, 0x1b, 0x00, 0x00, 0x00, 0x3b,              // M, len 27, Message Digest
        0x01,                                            //   Digest Type 1, HMAC-SHA-1
        0x74, 0x37, 0x46, 0x90, 0x16, 0x6f, 0xfb, 0x00, 0xe3, 0x95, 0x9a, 0xf2, 0xa4, 0x9c, 0xc5, 0xd3,
        0x50, 0xb0, 0x7c, 0x12,
    ]

    static func hello(_ algorithm: DigestAlgorithm) -> ControlMessage {
        ControlMessage(header: ControlHeader(version: .v3, connectionID: 0xbeef, ns: 5, nr: 7), avps: [
            AVP(.messageType, .messageType(.hello)),
            AVP(.messageDigest, .messageDigest(algorithm, [UInt8](repeating: 0, count: algorithm.digestLength))),
        ])
    }

    @Test("shared key HMAC-MD5(secret, 2)")
    func sharedKey() {
        #expect(MessageDigest.sharedKey(secret: Self.secret)
                == [0x1d, 0x59, 0x16, 0x88, 0x2c, 0xfe, 0xd4, 0x88, 0xac, 0x23, 0x8e, 0xd2, 0x76, 0xd8, 0x52, 0x9e])
    }

    @Test("HMAC-MD5 and HMAC-SHA-1 goldens: signed by the sender, verified by the receiver (nonces reversed)")
    func goldens() throws {
        for (algorithm, golden) in [(DigestAlgorithm.hmacMD5, Self.helloMD5), (.hmacSHA1, Self.helloSHA1)] {
            let bytes = try Self.hello(algorithm).encode(transport: .udp, authentication: Self.sender)
            #expect(bytes == golden, "\(algorithm)")
            try MessageDigest.verify(golden, transport: .udp, Self.receiver)
            let m = try ControlMessage.parse(golden, transport: .udp, authentication: Self.receiver)
            #expect(m.messageType == .hello)
            #expect(m.value(.messageDigest) == .messageDigest(algorithm, Array(golden.suffix(algorithm.digestLength))))
            // The receiver must reverse the nonces: using the sender's view fails.
            #expect(wireError { try MessageDigest.verify(golden, transport: .udp, Self.sender) }?.reason == .badDigest)
        }
    }

    @Test("integrity check without authentication: empty secret and nonces (RFC 3931 §4.3)")
    func integrityOnly() throws {
        let bytes = try Self.hello(.hmacMD5).encode(transport: .udp, authentication: .integrityOnly)
        #expect(Array(bytes.suffix(16))
                == [0x0b, 0xac, 0x1f, 0x7c, 0x0a, 0xf9, 0x5e, 0x0c, 0xbd, 0xbe, 0x24, 0xff, 0xca, 0x24, 0x73, 0x04])
        try MessageDigest.verify(bytes, transport: .udp, .integrityOnly)
    }

    @Test("any changed byte, a wrong secret or a missing digest is refused")
    func refusals() throws {
        for i in 0..<Self.helloMD5.count {
            var d = Self.helloMD5
            d[i] ^= 0x01
            #expect(wireError { try MessageDigest.verify(d, transport: .udp, Self.receiver) } != nil, "byte \(i)")
        }
        var ns = Self.helloMD5
        ns[9] = 6
        #expect(wireError { try MessageDigest.verify(ns, transport: .udp, Self.receiver) }
                == L2TPWireError(.badDigest, offset: 20, avp: .messageDigest, header: ControlHeader(version: .v3, connectionID: 0xbeef, ns: 6, nr: 7)))
        let other = MessageAuthentication(secret: Array("other".utf8), localNonce: Self.receiverNonce, remoteNonce: Self.senderNonce)
        #expect(wireError { try MessageDigest.verify(Self.helloMD5, transport: .udp, other) }?.reason == .badDigest)
        let plain = rawControl(version: 3, mt(6))
        #expect(wireError { _ = try ControlMessage.parse(plain, transport: .udp, authentication: Self.receiver) }?.reason == .missingDigest)
        let zlb = rawControl(version: 3, [])
        #expect(wireError { _ = try ControlMessage.parse(zlb, transport: .udp, authentication: Self.receiver) }?.reason == .missingDigest)
        let noDigest = ControlMessage(header: ControlHeader(version: .v3, connectionID: 1), avps: [AVP(.messageType, .messageType(.hello))])
        #expect(wireError { _ = try noDigest.encode(transport: .udp, authentication: Self.sender) }?.reason == .missingDigest)
        var broken = Self.hello(.hmacMD5)
        broken.avps[1] = AVP(.messageDigest, .unknown([7, 0, 0]))
        #expect(wireError { _ = try broken.encode(transport: .udp, authentication: Self.sender) }?.reason == .badAVPValue)
    }

    @Test("the digest is checked before anything else: a bad digest wins over an unknown mandatory AVP")
    func checkedFirst() throws {
        var m = Self.hello(.hmacMD5)
        m.avps.append(AVP(AVPType(vendor: 9, 9), .unknown([1]), mandatory: true))
        var bytes = try m.encode(transport: .udp, authentication: Self.sender)
        #expect(wireError { _ = try ControlMessage.parse(bytes, transport: .udp, authentication: Self.receiver) }?.reason
                == .unknownMandatoryAVP)
        bytes[30] ^= 0xff
        #expect(wireError { _ = try ControlMessage.parse(bytes, transport: .udp, authentication: Self.receiver) }?.reason == .badDigest)
    }

    @Test("SCCRQ: no nonces in the digest (RFC 3931 §5.4.1); SCCRP: the sender's nonce taken from the message")
    func handshake() throws {
        let initiatorNonce = [UInt8](repeating: 0xa5, count: 16), responderNonce = [UInt8](repeating: 0x5a, count: 20)
        var sccrq = Golden.v3SCCRQValue
        sccrq.avps.insert(AVP(.messageDigest, .messageDigest(.hmacMD5, [UInt8](repeating: 0, count: 16))), at: 1)
        sccrq.avps.append(AVP(.nonce, .bytes(initiatorNonce)))
        let rq = try sccrq.encode(transport: .udp, authentication: MessageAuthentication(secret: Self.secret))
        // Independent recomputation: HMAC-MD5(shared key, message with the digest zeroed), nothing before it.
        var zeroed = rq
        for i in 27..<43 { zeroed[i] = 0 }
        #expect(Array(rq[27..<43]) == HMAC<MD5>.mac(key: MessageDigest.sharedKey(secret: Self.secret), zeroed))
        // The responder knows no nonce of the initiator's before reading it; for an SCCRQ that does not matter.
        try MessageDigest.verify(rq, transport: .udp, MessageAuthentication(secret: Self.secret, localNonce: responderNonce))

        var sccrp = sccrq
        sccrp.avps[0] = AVP(.messageType, .messageType(.sccrp))
        sccrp.avps[sccrp.avps.count - 1] = AVP(.nonce, .bytes(responderNonce))
        // The responder: its own nonce from the message (localNonce nil), the initiator's as remote.
        let rp = try sccrp.encode(transport: .udp, authentication: MessageAuthentication(secret: Self.secret, remoteNonce: initiatorNonce))
        zeroed = rp
        for i in 27..<43 { zeroed[i] = 0 }
        #expect(Array(rp[27..<43])
                == HMAC<MD5>.mac(key: MessageDigest.sharedKey(secret: Self.secret), responderNonce + initiatorNonce + zeroed))
        // The initiator: its own nonce, the responder's from the SCCRP itself (remoteNonce nil).
        let m = try ControlMessage.parse(rp, transport: .udp, authentication: MessageAuthentication(secret: Self.secret, localNonce: initiatorNonce))
        #expect(m.bytes(.nonce) == responderNonce)
    }

    @Test("two secrets while switching, two digest AVPs (RFC 3931 §5.4.1)")
    func twoOfEach() throws {
        var m = Self.hello(.hmacMD5)
        m.avps.insert(AVP(.messageDigest, .messageDigest(.hmacSHA1, [UInt8](repeating: 0, count: 20))), at: 2)
        let bytes = try m.encode(transport: .udp, authentication: Self.sender)
        let old = Array("old".utf8)
        let switching = MessageAuthentication(secrets: [old, Self.secret], localNonce: Self.receiverNonce, remoteNonce: Self.senderNonce)
        try MessageDigest.verify(bytes, transport: .udp, switching)
        var oneBad = bytes
        oneBad[30] ^= 0x80  // inside the MD5 digest (bytes 27..<43); the SHA-1 one still matches
        try MessageDigest.verify(oneBad, transport: .udp, Self.receiver)
        var bothBad = oneBad
        bothBad[bothBad.count - 1] ^= 0x80
        #expect(wireError { try MessageDigest.verify(bothBad, transport: .udp, Self.receiver) }?.reason == .badDigest)
    }

    @Test("over IP the digest covers the message from the flags word: the same digest as over UDP")
    func overIP() throws {
        let udp = try Self.hello(.hmacMD5).encode(transport: .udp, authentication: Self.sender)
        let ip = try Self.hello(.hmacMD5).encode(transport: .ip, authentication: Self.sender)
        #expect(ip == [0, 0, 0, 0] + udp)
        try MessageDigest.verify(ip, transport: .ip, Self.receiver)
    }
}
