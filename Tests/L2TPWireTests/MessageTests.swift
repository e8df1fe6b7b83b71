import L2TPWire
import TestSupport
import Testing

/// Whole control messages, hand-built from RFC 2661 §3.1/§4.1/§6 and RFC 3931 §3.2.1/§5.1/§6.
enum Golden {
    /// RFC 2661 §6.1: an SCCRQ with its five required AVPs and a Receive Window Size.
    static let v2SCCRQ: [UInt8] = [
        0xc8, 0x02,                                      // T L S, version 2
        0x00, 0x3f,                                      // Length 63
        0x00, 0x00,                                      // Tunnel ID 0 (none assigned yet)
        0x00, 0x00,                                      // Session ID 0
        0x00, 0x00,                                      // Ns 0
        0x00, 0x00,                                      // Nr 0
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // M, len 8, Message Type: SCCRQ
        0x80, 0x08, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00,  // M, len 8, Protocol Version 1.0
        0x80, 0x09, 0x00, 0x00, 0x00, 0x07, 0x6c, 0x61, 0x63,  // M, len 9, Host Name "lac"
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03,  // M, len 10, Framing Capabilities: sync, async
        0x80, 0x08, 0x00, 0x00, 0x00, 0x09, 0x12, 0x34,  // M, len 8, Assigned Tunnel ID 0x1234
        0x80, 0x08, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x04,  // M, len 8, Receive Window Size 4
    ]

    static let v2SCCRQValue = ControlMessage(header: ControlHeader(version: .v2, connectionID: 0), avps: [
        AVP(.messageType, .messageType(.sccrq)),
        AVP(.protocolVersion, .protocolVersion(version: 1, revision: 0)),
        AVP(.hostName, .string("lac")),
        AVP(.framingCapabilities, .u32(3)),
        AVP(.assignedTunnelID, .u16(0x1234)),
        AVP(.receiveWindowSize, .u16(4)),
    ])

    /// RFC 3931 §6.1: an SCCRQ with its five required AVPs; PW types Ethernet and Ethernet VLAN (RFC 4719).
    static let v3SCCRQBody: [UInt8] = [
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // M, len 8, Message Type: SCCRQ
        0x80, 0x0c, 0x00, 0x00, 0x00, 0x07, 0x6c, 0x63, 0x63, 0x65, 0x2d, 0x61,  // M, len 12, Host Name "lcce-a"
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x3c, 0x0a, 0x00, 0x00, 0x01,  // M, len 10, Router ID 10.0.0.1
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x3d, 0xde, 0xad, 0xbe, 0xef,  // M, len 10, Assigned Control Connection ID
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x05, 0x00, 0x04,  // M, len 10, PW Capabilities: 5, 4
    ]
    static let v3SCCRQ: [UInt8] = [
        0xc8, 0x03,              // T L S, version 3
        0x00, 0x3e,              // Length 62
        0x00, 0x00, 0x00, 0x00,  // Control Connection ID 0
        0x00, 0x00,              // Ns 0
        0x00, 0x00,              // Nr 0
    ] + v3SCCRQBody
    static let v3SCCRQOverIP: [UInt8] = [
        0x00, 0x00, 0x00, 0x00,  // zero session id (RFC 3931 §4.1.1.2)
    ] + v3SCCRQ

    static let v3SCCRQValue = ControlMessage(header: ControlHeader(version: .v3, connectionID: 0), avps: [
        AVP(.messageType, .messageType(.sccrq)),
        AVP(.hostName, .string("lcce-a")),
        AVP(.routerID, .u32(0x0a00_0001)),
        AVP(.assignedControlConnectionID, .u32(0xdead_beef)),
        AVP(.pseudowireCapabilities, .pseudowireCapabilities([PseudowireType.ethernet, PseudowireType.ethernetVLAN])),
    ])

    /// RFC 2661 §6.4: a StopCCN with Result Code 2 (general error), Error Code 8 (unknown mandatory AVP), text.
    static let v2StopCCN: [UInt8] = [
        0xc8, 0x02,                                      // T L S, version 2
        0x00, 0x33,                                      // Length 51
        0x56, 0x78,                                      // Tunnel ID 0x5678
        0x00, 0x00,                                      // Session ID 0
        0x00, 0x04,                                      // Ns 4
        0x00, 0x05,                                      // Nr 5
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,  // M, len 8, Message Type: StopCCN
        0x80, 0x08, 0x00, 0x00, 0x00, 0x09, 0x12, 0x34,  // M, len 8, Assigned Tunnel ID 0x1234
        0x80, 0x0f, 0x00, 0x00, 0x00, 0x01,              // M, len 15, Result Code
        0x00, 0x02, 0x00, 0x08,                          //   result 2, error 8
        0x74, 0x79, 0x70, 0x65, 0x20,                    //   "type "
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // (a second Message Type AVP is just an AVP) M, len 8, 0
    ]

    /// RFC 2661 §5.8: a ZLB acknowledgement.
    static let v2ZLB: [UInt8] = [
        0xc8, 0x02,  // T L S, version 2
        0x00, 0x0c,  // Length 12: no AVPs
        0x12, 0x34,  // Tunnel ID
        0x00, 0x00,  // Session ID
        0x00, 0x07,  // Ns 7
        0x00, 0x03,  // Nr 3
    ]

    /// RFC 3931 §6.12: a CDN with Result Code 3 and the session ids.
    static let v3CDN: [UInt8] = [
        0xc8, 0x03,                                      // T L S, version 3
        0x00, 0x30,                                      // Length 48
        0x00, 0x00, 0x00, 0x2a,                          // Control Connection ID 42
        0x00, 0x06,                                      // Ns 6
        0x00, 0x04,                                      // Nr 4
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0e,  // M, len 8, Message Type: CDN
        0x80, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03,  // M, len 8, Result Code 3 (administrative)
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x11,  // M, len 10, Local Session ID 17
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x22,  // M, len 10, Remote Session ID 34
    ]
}

@Suite("Control messages")
struct MessageTests {
    @Test("v2 SCCRQ golden: parse gives the value, the value encodes to the bytes")
    func v2SCCRQ() throws {
        let m = try ControlMessage.parse(Golden.v2SCCRQ, transport: .udp)
        #expect(m == Golden.v2SCCRQValue)
        #expect(m.messageType == .sccrq)
        #expect(m.string(.hostName) == "lac")
        #expect(m.u16(.assignedTunnelID) == 0x1234)
        #expect(try Golden.v2SCCRQValue.encode(transport: .udp) == Golden.v2SCCRQ)
        #expect(m.validate() == [])
    }

    @Test("v3 SCCRQ golden over UDP and IP")
    func v3SCCRQ() throws {
        #expect(try ControlMessage.parse(Golden.v3SCCRQ, transport: .udp) == Golden.v3SCCRQValue)
        #expect(try ControlMessage.parse(Golden.v3SCCRQOverIP, transport: .ip) == Golden.v3SCCRQValue)
        #expect(try Golden.v3SCCRQValue.encode(transport: .udp) == Golden.v3SCCRQ)
        #expect(try Golden.v3SCCRQValue.encode(transport: .ip) == Golden.v3SCCRQOverIP)
        #expect(Golden.v3SCCRQValue.validate() == [])
        #expect(Golden.v3SCCRQValue.validate(version: .v2) == [.protocolVersion, .framingCapabilities, .assignedTunnelID])
    }

    @Test("v2 StopCCN golden: result code with error and message; encode(parse(x)) == x")
    func v2StopCCN() throws {
        let m = try ControlMessage.parse(Golden.v2StopCCN, transport: .udp)
        #expect(m.header == ControlHeader(version: .v2, connectionID: 0x5678, ns: 4, nr: 5))
        #expect(m.value(.resultCode) == .resultCode(result: 2, error: 8, message: "type "))
        #expect(m.avps.count == 4 && m.avps.last?.value == .messageType(.other(0)))
        #expect(try m.encode(transport: .udp) == Golden.v2StopCCN)
    }

    @Test("ZLB: no AVPs, no message type, nothing required")
    func zlb() throws {
        let m = try ControlMessage.parse(Golden.v2ZLB, transport: .udp)
        #expect(m.isZLB && m.messageType == nil && m.validate() == [])
        #expect(m.header == ControlHeader(version: .v2, connectionID: 0x1234, ns: 7, nr: 3))
        #expect(try m.encode(transport: .udp) == Golden.v2ZLB)
    }

    @Test("v3 CDN golden")
    func v3CDN() throws {
        let m = try ControlMessage.parse(Golden.v3CDN, transport: .udp)
        #expect(m.messageType == .cdn)
        #expect(m.value(.resultCode) == .resultCode(result: 3, error: nil, message: nil))
        #expect(m.u32(.localSessionID) == 17 && m.u32(.remoteSessionID) == 34)
        #expect(m.validate() == [])
        #expect(try m.encode(transport: .udp) == Golden.v3CDN)
    }

    @Test("a data message is not a control message")
    func notControl() {
        #expect(wireError { _ = try ControlMessage.parse(HeaderTests.v2DataMinimal, transport: .udp) }?.reason == .notControl)
        #expect(wireError { _ = try ControlMessage.parse(HeaderTests.v3DataIP, transport: .ip) }?.reason == .notControl)
    }

    @Test("required AVPs: removing each required AVP of a complete message reports exactly that one")
    func requiredEach() throws {
        for (message, version) in [(Golden.v2SCCRQValue, L2TPVersion.v2), (Golden.v3SCCRQValue, .v3)] {
            for required in RequiredAVPs.of(.sccrq, version: version).dropFirst() {
                var m = message
                m.avps.removeAll { $0.type == required }
                #expect(m.validate() == [required], "\(version) without \(required)")
            }
        }
        // A malformed AVP kept as `.unknown` (M clear) is not there for validation.
        var m = Golden.v3SCCRQValue
        m.avps[2] = AVP(.routerID, .unknown([1, 2]), mandatory: false)
        #expect(m.validate() == [.routerID])
    }

    @Test("required AVP tables, RFC 2661 §6 and RFC 3931 §6")
    func requiredTables() {
        let v2: [MessageType: [AVPType]] = [
            .sccrq: [.messageType, .protocolVersion, .hostName, .framingCapabilities, .assignedTunnelID],
            .sccrp: [.messageType, .protocolVersion, .hostName, .framingCapabilities, .assignedTunnelID],
            .scccn: [.messageType], .hello: [.messageType],
            .stopCCN: [.messageType, .assignedTunnelID, .resultCode],
            .icrq: [.messageType, .assignedSessionID, .callSerialNumber],
            .icrp: [.messageType, .assignedSessionID], .ocrp: [.messageType, .assignedSessionID],
            .iccn: [.messageType, .txConnectSpeed, .framingType], .occn: [.messageType, .txConnectSpeed, .framingType],
            .ocrq: [.messageType, .assignedSessionID, .callSerialNumber, .minimumBPS, .maximumBPS, .bearerType,
                    .framingType, .calledNumber],
            .cdn: [.messageType, .resultCode, .assignedSessionID],
            .wen: [.messageType, .callErrors], .sli: [.messageType, .accm], .ack: [],
        ]
        let v3: [MessageType: [AVPType]] = [
            .sccrq: [.messageType, .hostName, .routerID, .assignedControlConnectionID, .pseudowireCapabilities],
            .sccrp: [.messageType, .hostName, .routerID, .assignedControlConnectionID, .pseudowireCapabilities],
            .scccn: [.messageType], .hello: [.messageType], .ack: [.messageType],
            .stopCCN: [.messageType, .resultCode],
            .icrq: [.messageType, .localSessionID, .remoteSessionID, .callSerialNumber, .pseudowireType, .remoteEndID,
                    .circuitStatus],
            .ocrq: [.messageType, .localSessionID, .remoteSessionID, .callSerialNumber, .pseudowireType, .remoteEndID,
                    .circuitStatus],
            .icrp: [.messageType, .localSessionID, .remoteSessionID, .circuitStatus],
            .ocrp: [.messageType, .localSessionID, .remoteSessionID, .circuitStatus],
            .iccn: [.messageType, .localSessionID, .remoteSessionID], .occn: [.messageType, .localSessionID, .remoteSessionID],
            .sli: [.messageType, .localSessionID, .remoteSessionID],
            .cdn: [.messageType, .resultCode, .localSessionID, .remoteSessionID],
            .wen: [.messageType, .localSessionID, .remoteSessionID, .callErrors],
        ]
        for t in MessageType.defined {
            #expect(RequiredAVPs.of(t, version: .v2) == v2[t], "v2 \(t)")
            #expect(RequiredAVPs.of(t, version: .v3) == v3[t], "v3 \(t)")
        }
        #expect(RequiredAVPs.of(.other(99), version: .v3) == [])
    }

    @Test("message types: wire values of both RFCs, ACK only in v3, round trip of every value")
    func messageTypes() {
        let values: [UInt16] = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 20]
        #expect(MessageType.defined.map(\.rawValue) == values)
        for v in UInt16(0)...40 { #expect(MessageType(rawValue: v).rawValue == v) }
        #expect(MessageType(rawValue: 5) == .other(5) && MessageType(rawValue: 13) == .other(13))
        #expect(MessageType.ack.isDefined(in: .v3) && !MessageType.ack.isDefined(in: .v2))
        #expect(MessageType.icrq.isSessionMessage && !MessageType.hello.isSessionMessage)
    }

    @Test("parse(encode(v)) == v for 2,000 random messages of random AVPs from the table")
    func randomRoundTrip() throws {
        var rng = SeededRandom(seed: 0x4c32_5450)
        let secret = Array("s3cret".utf8)
        for i in 0..<2_000 {
            let version: L2TPVersion = rng.coin() ? .v2 : .v3
            let transport: L2TPTransport = version == .v3 && rng.coin() ? .ip : .udp
            let header = ControlHeader(version: version, connectionID: version == .v2 ? UInt32(rng.next() & 0xffff) : UInt32(truncatingIfNeeded: rng.next()),
                                       sessionID: version == .v2 ? UInt16(truncatingIfNeeded: rng.next()) : 0,
                                       ns: UInt16(truncatingIfNeeded: rng.next()), nr: UInt16(truncatingIfNeeded: rng.next()))
            var avps = [AVP(.messageType, .messageType(rng.choose(MessageType.defined.filter { $0.isDefined(in: version) })))]
            var haveVector = false
            for _ in 0..<rng.upTo(8) {
                let info = rng.choose(AVPTable.all.filter { $0.type != .messageType })
                guard let value = randomValue(info, &rng) else { continue }
                let hide = info.hidable && haveVector && rng.coin()
                // A mandatory Extended Vendor ID AVP would be unrecognized (no 32-bit vendor attribute is known).
                let m = info.type == .extendedVendorID ? false : rng.coin()
                avps.append(AVP(info.type, value, mandatory: m, hidden: hide,
                                hiddenPadding: hide ? rng.bytes(rng.upTo(5)) : []))
                if info.type == .randomVector { haveVector = true }
            }
            if rng.upTo(4) == 0 { avps.append(AVP(AVPType(vendor: 9, 77), .unknown(rng.bytes(rng.upTo(12))), mandatory: false)) }
            let m = ControlMessage(header: header, avps: avps)
            let bytes = try m.encode(transport: transport, secret: secret)
            #expect(try ControlMessage.parse(bytes, transport: transport, secret: secret) == m, "message \(i)")
        }
    }
}

/// A random canonical value of `info`'s kind and length (nil when the kind has no free choice here).
func randomValue(_ info: AVPInfo, _ rng: inout SeededRandom) -> AVPValue? {
    func text(_ min: Int) -> String {
        String(decoding: (0..<(min + rng.upTo(12))).map { _ in UInt8(0x61 + rng.upTo(25)) }, as: UTF8.self)
    }
    switch info.kind {
    case .empty: return .empty
    case .u16: return .u16(UInt16(truncatingIfNeeded: rng.next()))
    case .u32: return .u32(UInt32(truncatingIfNeeded: rng.next()))
    case .u64: return .u64(rng.next())
    case .string:
        if case .atLeast(let m) = info.length { return .string(text(m)) }
        return nil
    case .bytes:
        switch info.length {
        case .fixed(let n): return .bytes(rng.bytes(n))
        case .atLeast(let m): return .bytes(rng.bytes(m + rng.upTo(20)))
        case .oneOf(let set): return .bytes(rng.bytes(rng.choose(set)))
        case .multiple: return nil
        }
    case .messageType: return .messageType(rng.choose(MessageType.defined))
    case .resultCode:
        switch rng.upTo(2) {
        case 0: return .resultCode(result: UInt16(rng.upTo(20)), error: nil, message: nil)
        case 1: return .resultCode(result: UInt16(rng.upTo(20)), error: UInt16(rng.upTo(9)), message: nil)
        default: return .resultCode(result: 2, error: 6, message: text(1))
        }
    case .protocolVersion: return .protocolVersion(version: 1, revision: UInt8(rng.upTo(3)))
    case .q931Cause: return .q931Cause(code: 16, message: 0x45, advisory: rng.coin() ? nil : text(1))
    case .callErrors:
        return .callErrors(CallErrors(crcErrors: UInt32(rng.upTo(9)), framingErrors: 1, hardwareOverruns: 2,
                                      bufferOverruns: 3, timeoutErrors: 4, alignmentErrors: UInt32(rng.upTo(99))))
    case .accm: return .accm(send: UInt32(truncatingIfNeeded: rng.next()), receive: 0xffff_ffff)
    case .pseudowireCapabilities: return .pseudowireCapabilities((0...rng.upTo(4)).map { _ in UInt16(rng.upTo(0x17)) })
    case .messageDigest:
        let a = rng.choose(DigestAlgorithm.allCases)
        return .messageDigest(a, rng.bytes(a.digestLength))
    case .extendedVendor: return .extendedVendor(vendor: 0x0001_0000, type: 1, value: rng.bytes(rng.upTo(6)))
    }
}
