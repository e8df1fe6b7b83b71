import L2TPWire
import Testing

@Suite("AVPs and the AVP table")
struct AVPTests {
    /// RFC 2661 §4.4 numbers 0–39 (20 unassigned) and RFC 3931 §5.4/§10.1 numbers 58–75 (67 unassigned).
    @Test("the table holds every AVP of both RFCs under its number")
    func tableNumbers() {
        let expected: [UInt16: String] = [
            0: "Message Type", 1: "Result Code", 2: "Protocol Version", 3: "Framing Capabilities",
            4: "Bearer Capabilities", 5: "Tie Breaker", 6: "Firmware Revision", 7: "Host Name", 8: "Vendor Name",
            9: "Assigned Tunnel ID", 10: "Receive Window Size", 11: "Challenge", 12: "Q.931 Cause Code",
            13: "Challenge Response", 14: "Assigned Session ID", 15: "Call Serial Number", 16: "Minimum BPS",
            17: "Maximum BPS", 18: "Bearer Type", 19: "Framing Type", 21: "Called Number", 22: "Calling Number",
            23: "Sub-Address", 24: "(Tx) Connect Speed", 25: "Physical Channel ID", 26: "Initial Received LCP CONFREQ",
            27: "Last Sent LCP CONFREQ", 28: "Last Received LCP CONFREQ", 29: "Proxy Authen Type",
            30: "Proxy Authen Name", 31: "Proxy Authen Challenge", 32: "Proxy Authen ID", 33: "Proxy Authen Response",
            34: "Call Errors / Circuit Errors", 35: "ACCM", 36: "Random Vector", 37: "Private Group ID",
            38: "Rx Connect Speed", 39: "Sequencing Required", 58: "Extended Vendor ID", 59: "Message Digest",
            60: "Router ID", 61: "Assigned Control Connection ID", 62: "Pseudowire Capabilities List",
            63: "Local Session ID", 64: "Remote Session ID", 65: "Assigned Cookie", 66: "Remote End ID",
            68: "Pseudowire Type", 69: "L2-Specific Sublayer", 70: "Data Sequencing", 71: "Circuit Status",
            72: "Preferred Language", 73: "Control Message Authentication Nonce", 74: "Tx Connect Speed",
            75: "Rx Connect Speed",
        ]
        #expect(AVPTable.all.count == expected.count)
        for (type, name) in expected { #expect(AVPTable.info(AVPType(type))?.name == name, "type \(type)") }
        for undefined: UInt16 in [20, 40, 57, 67, 76, 0xffff] { #expect(AVPTable.info(AVPType(undefined)) == nil) }
        #expect(AVPTable.info(AVPType(vendor: 9, 7)) == nil)
        #expect(AVPType.hostName.description == "Host Name" && AVPType(vendor: 9, 1).description == "vendor 9 type 1")
    }

    @Test("table rules: what may be hidden, M bits, versions, lengths")
    func tableRules() {
        func info(_ t: AVPType) -> AVPInfo { AVPTable.info(t)! }
        // MUST NOT be hidden (RFC 2661 §4.4, RFC 3931 §5.4).
        for t: AVPType in [.messageType, .resultCode, .protocolVersion, .tieBreaker, .hostName, .receiveWindowSize,
                           .q931CauseCode, .randomVector, .sequencingRequired, .messageDigest, .routerID, .nonce] {
            #expect(!info(t).hidable, "\(t)")
        }
        for t: AVPType in [.assignedTunnelID, .assignedSessionID, .callingNumber, .challenge, .challengeResponse,
                           .proxyAuthenResponse, .localSessionID, .assignedCookie, .pseudowireCapabilities, .extendedVendorID] {
            #expect(info(t).hidable, "\(t)")
        }
        #expect(!info(.tieBreaker).mandatory && !info(.vendorName).mandatory && info(.assignedTunnelID).mandatory)
        #expect(!info(.extendedVendorID).mandatory)
        #expect(info(.routerID).versions == [.v3] && info(.hostName).versions == [.v2, .v3] && info(.challenge).versions == [.v2])
        #expect(info(.challengeResponse).length == .fixed(16) && info(.assignedCookie).length == .oneOf([0, 4, 8]))
        #expect(info(.messageDigest).length.allows(17) && info(.messageDigest).length.allows(21) && !info(.messageDigest).length.allows(20))
        #expect(info(.pseudowireCapabilities).length.allows(2) && !info(.pseudowireCapabilities).length.allows(3)
                && !info(.pseudowireCapabilities).length.allows(0))
        #expect(!ValueLength.atLeast(0).allows(1018) && ValueLength.atLeast(0).allows(1017))
    }

    /// One message per value kind, AVP bytes written out by hand from the RFC figures.
    @Test("each value kind decodes from its RFC layout and re-encodes", arguments: [
        (AVPType.resultCode, [0x00, 0x02, 0x00, 0x06, 0x68, 0x69] as [UInt8], AVPValue.resultCode(result: 2, error: 6, message: "hi")),
        (.resultCode, [0x00, 0x01, 0x00, 0x00], .resultCode(result: 1, error: 0, message: nil)),
        (.resultCode, [0x00, 0x01], .resultCode(result: 1, error: nil, message: nil)),
        (.protocolVersion, [0x01, 0x00], .protocolVersion(version: 1, revision: 0)),
        (.tieBreaker, [1, 2, 3, 4, 5, 6, 7, 8], .u64(0x0102_0304_0506_0708)),
        (.q931CauseCode, [0x00, 0x10, 0x45], .q931Cause(code: 16, message: 0x45, advisory: nil)),
        (.q931CauseCode, [0x00, 0x10, 0x45, 0x6f, 0x6b], .q931Cause(code: 16, message: 0x45, advisory: "ok")),
        (.callErrors, [0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6],
         .callErrors(CallErrors(crcErrors: 1, framingErrors: 2, hardwareOverruns: 3, bufferOverruns: 4, timeoutErrors: 5,
                                alignmentErrors: 6))),
        (.accm, [0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0a, 0x00, 0x00], .accm(send: 0xffff_ffff, receive: 0x000a_0000)),
        (.sequencingRequired, [], .empty),
        (.pseudowireCapabilities, [0x00, 0x05], .pseudowireCapabilities([5])),
        (.messageDigest, [0x00] + [UInt8](repeating: 7, count: 16), .messageDigest(.hmacMD5, [UInt8](repeating: 7, count: 16))),
        (.messageDigest, [0x01] + [UInt8](repeating: 9, count: 20), .messageDigest(.hmacSHA1, [UInt8](repeating: 9, count: 20))),
        (.extendedVendorID, [0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0xaa], .extendedVendor(vendor: 0x10000, type: 7, value: [0xaa])),
        (.txConnectSpeedV3, [0, 0, 0, 2, 0x54, 0x0b, 0xe4, 0x00], .u64(10_000_000_000)),
        (.assignedCookie, [], .bytes([])),
        (.circuitStatus, [0x00, 0x03], .u16(CircuitStatus([.active, .new]).rawValue)),
    ])
    func valueKinds(_ type: AVPType, _ bytes: [UInt8], _ value: AVPValue) throws {
        let mandatory = type != .extendedVendorID
        let wire = rawControl(version: 3, mt(6) + rawAVP(type.type, bytes, m: mandatory))
        let m = try ControlMessage.parse(wire, transport: .udp)
        #expect(m.avps[1] == AVP(type, value, mandatory: mandatory))
        #expect(try m.encode(transport: .udp) == wire)
    }

    @Test("strings are kept only when they are valid UTF-8 (so they re-encode byte for byte)")
    func strings() throws {
        let good = rawControl(version: 3, mt(1) + rawAVP(7, Array("hôte".utf8)))
        #expect(try ControlMessage.parse(good, transport: .udp).string(.hostName) == "hôte")
        let bad = rawControl(version: 3, mt(1) + rawAVP(7, [0x68, 0xff]))
        #expect(wireError { _ = try ControlMessage.parse(bad, transport: .udp) }
                == L2TPWireError(.badAVPValue, offset: 20, avp: .hostName, header: ControlHeader(version: .v3, connectionID: 0),
                                 messageType: .sccrq))
    }

    @Test("an unrecognized AVP with M set is a typed error naming it, with the header and message type")
    func unknownMandatory() {
        let header = ControlHeader(version: .v3, connectionID: 7, ns: 1, nr: 2)
        let vendor = rawControl(version: 3, id: 7, ns: 1, nr: 2, mt(10) + rawAVP(1, [1, 2], m: true, vendor: 9))
        let e = wireError { _ = try ControlMessage.parse(vendor, transport: .udp) }
        #expect(e == L2TPWireError(.unknownMandatoryAVP, offset: 20, avp: AVPType(vendor: 9, 1), header: header, messageType: .icrq))
        #expect(e?.messageType?.isSessionMessage == true)  // a CDN, not a StopCCN, answers it (RFC 3931 §5.2)
        let ietf = rawControl(version: 2, mt(6) + rawAVP(67, [], m: true))
        #expect(wireError { _ = try ControlMessage.parse(ietf, transport: .udp) }?.avp == AVPType(67))
        let ext = rawControl(version: 3, mt(6) + rawAVP(58, [0, 1, 0, 0, 0, 1], m: true))
        #expect(wireError { _ = try ControlMessage.parse(ext, transport: .udp) }?.reason == .unknownMandatoryAVP)
    }

    @Test("an unrecognized AVP with M clear is kept, ignored by accessors, and re-encoded unchanged")
    func unknownOptional() throws {
        let wire = rawControl(version: 3, mt(6) + rawAVP(1, [1, 2, 3], m: false, vendor: 9) + rawAVP(200, [], m: false))
        let m = try ControlMessage.parse(wire, transport: .udp)
        #expect(m.avps[1] == AVP(AVPType(vendor: 9, 1), .unknown([1, 2, 3]), mandatory: false))
        #expect(m.avps[2] == AVP(AVPType(200), .unknown([]), mandatory: false))
        #expect(m.messageType == .hello && m.validate() == [])
        #expect(try m.encode(transport: .udp) == wire)
    }

    @Test("v2: a reserved AVP flag makes the AVP unrecognized (RFC 2661 §4.1); v3 ignores the flags (RFC 3931 §5.1)")
    func reservedFlags() throws {
        let mandatory = rawControl(version: 2, mt(6) + rawAVP(10, [0, 4], m: true, reserved: 0x1))
        #expect(wireError { _ = try ControlMessage.parse(mandatory, transport: .udp) }?.reason == .reservedBits)
        let optional = rawControl(version: 2, mt(6) + rawAVP(10, [0, 4], m: false, reserved: 0x8))
        let m2 = try ControlMessage.parse(optional, transport: .udp)
        #expect(m2.avps[1] == AVP(.receiveWindowSize, .unknown([0, 4]), mandatory: false, reservedFlags: 0x8))
        #expect(try m2.encode(transport: .udp) == optional)
        let v3 = rawControl(version: 3, mt(6) + rawAVP(10, [0, 4], m: true, reserved: 0xf))
        let m3 = try ControlMessage.parse(v3, transport: .udp)
        #expect(m3.u16(.receiveWindowSize) == 4 && m3.avps[1].reservedFlags == 0xf)
    }

    @Test("a malformed known AVP: fatal with M (RFC 3931 §7.1), else kept as unknown — Rx Connect Speed in 4 bytes")
    func malformed() throws {
        let lax = rawControl(version: 3, mt(12) + rawAVP(75, [0, 0, 0x27, 0x10], m: false))
        let m = try ControlMessage.parse(lax, transport: .udp)
        #expect(m.avps[1].value == .unknown([0, 0, 0x27, 0x10]) && m.u64(.rxConnectSpeedV3) == nil)
        #expect(try m.encode(transport: .udp) == lax)
        for (type, value) in [(UInt16(75), [0, 0, 0x27, 0x10] as [UInt8]), (9, [1]), (1, [0, 1, 0]), (13, [1, 2]),
                              (59, [0x02] + [UInt8](repeating: 0, count: 16)), (59, [0x00] + [UInt8](repeating: 0, count: 20)),
                              (62, [0, 5, 0]), (65, [1, 2]), (7, []), (39, [0]), (12, [0, 1])] {
            let strict = rawControl(version: 3, mt(12) + rawAVP(type, value, m: true))
            #expect(wireError { _ = try ControlMessage.parse(strict, transport: .udp) }
                    == L2TPWireError(.badAVPValue, offset: 20, avp: AVPType(type), header: ControlHeader(version: .v3, connectionID: 0),
                                     messageType: .iccn), "type \(type)")
        }
    }

    @Test("AVP framing: a length under 6, past the message, or a short tail")
    func framing() {
        for (body, at) in [(mt(6) + rawAVP(10, [0, 4], length: 5), 20), (mt(6) + rawAVP(10, [0, 4], length: 9), 20),
                           (mt(6) + [0x80, 0x08, 0x00], 20), (rawAVP(0, [0, 6], length: 0), 12),
                           (mt(6) + rawAVP(10, [0, 4], length: 1023), 20)] {
            let wire = rawControl(version: 2, body)
            let e = wireError { _ = try ControlMessage.parse(wire, transport: .udp) }
            #expect(e?.reason == .badAVPLength && e?.offset == at, "\(hex(body)): \(String(describing: e))")
        }
    }

    @Test("the first AVP must be the Message Type (RFC 2661 §4.4.1, RFC 3931 §5.4.1)")
    func firstAVP() {
        let wire = rawControl(version: 3, rawAVP(7, Array("x".utf8)) + mt(1))
        #expect(wireError { _ = try ControlMessage.parse(wire, transport: .udp) }
                == L2TPWireError(.firstAVPNotMessageType, offset: 12, avp: .hostName, header: ControlHeader(version: .v3, connectionID: 0)))
        let value = ControlMessage(header: ControlHeader(version: .v3, connectionID: 1), avps: [AVP(.hostName, .string("x"))])
        #expect(wireError { _ = try value.encode(transport: .udp) }?.reason == .firstAVPNotMessageType)
    }

    @Test("message types: an unknown one with M is fatal, without M it parses; ACK is unknown to v2; vendor types")
    func messageTypeRules() throws {
        #expect(wireError { _ = try ControlMessage.parse(rawControl(version: 3, mt(99)), transport: .udp) }?.reason == .unknownMessageType)
        #expect(wireError { _ = try ControlMessage.parse(rawControl(version: 2, mt(20)), transport: .udp) }?.reason == .unknownMessageType)
        #expect(try ControlMessage.parse(rawControl(version: 3, mt(20)), transport: .udp).messageType == .ack)
        let lax = try ControlMessage.parse(rawControl(version: 3, mt(99, m: false)), transport: .udp)
        #expect(lax.messageType == .other(99) && lax.validate() == [])
        // RFC 3931 §5.4.1: a vendor's own Message Type AVP.
        let vendorLax = rawControl(version: 3, rawAVP(0, [0, 1], m: false, vendor: 9))
        let v = try ControlMessage.parse(vendorLax, transport: .udp)
        #expect(v.messageType == nil && v.avps.count == 1)
        let vendorStrict = rawControl(version: 3, rawAVP(0, [0, 1], m: true, vendor: 9))
        #expect(wireError { _ = try ControlMessage.parse(vendorStrict, transport: .udp) }?.reason == .unknownMandatoryAVP)
    }

    @Test("encoding checks values against the table: kind, length, canonical form, size")
    func encodeChecks() {
        func encode(_ avp: AVP) -> L2TPWireError? {
            let m = ControlMessage(header: ControlHeader(version: .v3, connectionID: 1), avps: [AVP(.messageType, .messageType(.hello)), avp])
            return wireError { _ = try m.encode(transport: .udp) }
        }
        #expect(encode(AVP(.hostName, .u32(1)))?.reason == .badAVPValue)
        #expect(encode(AVP(.hostName, .string("")))?.reason == .badAVPValue)
        #expect(encode(AVP(.resultCode, .resultCode(result: 2, error: nil, message: "no error code")))?.reason == .badAVPValue)
        #expect(encode(AVP(.messageDigest, .messageDigest(.hmacMD5, [UInt8](repeating: 0, count: 20))))?.reason == .badAVPValue)
        #expect(encode(AVP(.assignedCookie, .bytes([1, 2, 3])))?.reason == .badAVPValue)
        #expect(encode(AVP(.challengeResponse, .bytes([UInt8](repeating: 0, count: 15))))?.reason == .badAVPValue)
        #expect(encode(AVP(AVPType(vendor: 9, 1), .unknown([UInt8](repeating: 0, count: 1018))))?.reason == .valueOutOfRange)
        #expect(encode(AVP(AVPType(vendor: 9, 1), .unknown([UInt8](repeating: 0, count: 1017)))) == nil)
        #expect(encode(AVP(.hostName, .unknown([0xff]))) == nil)  // raw bytes are the caller's business
        #expect(encode(AVP(.hostName, .string("h"), reservedFlags: 0x10))?.reason == .valueOutOfRange)
    }
}
