import Foundation
import L2TPWire
import Testing

/// Interop with Wireshark's L2TP dissector: every control message Isthmus encodes, in three conversations (v2
/// over UDP with tunnel authentication and hidden AVPs; v3 over UDP with HMAC-MD5 and HMAC-SHA-1 digests and
/// nonces; v3 over IP with the unauthenticated integrity digest), written to a pcap and decoded by tshark. The
/// acceptance point of issue 7: no malformed packet, no expert warning or error (an Incorrect Digest is a
/// warning), each message named, the AVP values shown.
@Suite("tshark interop", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"),
                                  "needs /usr/bin/tshark"))
struct TsharkInteropTests {
    static let secret = Array("isthmus-secret".utf8)

    /// One frame to write: the message, the addresses and transport it goes over, what tshark must print for it.
    struct Frame {
        var message: ControlMessage
        var transport: L2TPTransport
        var from: [UInt8]
        var to: [UInt8]
        var auth: MessageAuthentication?
        var secret: [UInt8]?
        var expect: [String]
    }

    static func a(_ t: AVPType, _ v: AVPValue, hidden: Bool = false) -> AVP { AVP(t, v, hidden: hidden) }
    static func type(_ t: MessageType) -> AVP { AVP(.messageType, .messageType(t)) }
    static func md5() -> AVP { AVP(.messageDigest, .messageDigest(.hmacMD5, [UInt8](repeating: 0, count: 16))) }
    static func sha1() -> AVP { AVP(.messageDigest, .messageDigest(.hmacSHA1, [UInt8](repeating: 0, count: 20))) }

    /// L2TPv2, LAC 192.0.2.1 and LNS 192.0.2.2: tunnel with challenge/response, sessions both ways, teardown.
    static func v2Frames() -> [Frame] {
        let lac: [UInt8] = [192, 0, 2, 1], lns: [UInt8] = [192, 0, 2, 2]
        let lacChallenge = Array(0x40..<0x50 as Range<UInt8>), lnsChallenge = Array(0x60..<0x70 as Range<UInt8>)
        let rv = Array(0xa0..<0xb0 as Range<UInt8>)
        let lcp: [UInt8] = [0x01, 0x04, 0x05, 0xdc, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78]  // MRU 1500, magic number
        func h(_ to: UInt16, _ session: UInt16 = 0, _ ns: UInt16, _ nr: UInt16) -> ControlHeader {
            ControlHeader(version: .v2, connectionID: UInt32(to), sessionID: session, ns: ns, nr: nr)
        }
        func f(_ from: [UInt8], _ to: [UInt8], _ h: ControlHeader, _ avps: [AVP], _ expect: [String]) -> Frame {
            Frame(message: ControlMessage(header: h, avps: avps), transport: .udp, from: from, to: to, auth: nil,
                  secret: secret, expect: expect)
        }
        return [
            f(lac, lns, h(0, 0, 0, 0), [
                type(.sccrq), a(.protocolVersion, .protocolVersion(version: 1, revision: 0)),
                a(.hostName, .string("isthmus-lac")), a(.framingCapabilities, .u32(3)), a(.bearerCapabilities, .u32(3)),
                a(.tieBreaker, .u64(0x0102_0304_0506_0708)), a(.firmwareRevision, .u16(0x0100)),
                a(.vendorName, .string("Isthmus")), a(.assignedTunnelID, .u16(11)), a(.receiveWindowSize, .u16(8)),
                a(.challenge, .bytes(lacChallenge)),
            ], ["Message Type: Start_Control_Request (1)", "Host Name: isthmus-lac", "Assigned Tunnel ID: 11",
                "Vendor Name: Isthmus", "Receive Window Size: 8", "Firmware Revision: 256"]),
            f(lns, lac, h(11, 0, 0, 1), [
                type(.sccrp), a(.protocolVersion, .protocolVersion(version: 1, revision: 0)),
                a(.framingCapabilities, .u32(1)), a(.hostName, .string("isthmus-lns")), a(.assignedTunnelID, .u16(22)),
                a(.challengeResponse, .bytes(ChallengeResponse.compute(messageType: .sccrp, secret: secret, challenge: lacChallenge))),
                a(.challenge, .bytes(lnsChallenge)),
            ], ["Message Type: Start_Control_Reply (2)", "Host Name: isthmus-lns", "Assigned Tunnel ID: 22"]),
            f(lac, lns, h(22, 0, 1, 1), [
                type(.scccn),
                a(.challengeResponse, .bytes(ChallengeResponse.compute(messageType: .scccn, secret: secret, challenge: lnsChallenge))),
            ], ["Message Type: Start_Control_Connected (3)"]),
            f(lns, lac, h(11, 0, 1, 2), [], ["Zero Length Body message"]),
            f(lac, lns, h(22, 0, 2, 1), [type(.hello)], ["Message Type: Hello (6)"]),
            f(lac, lns, h(22, 0, 3, 1), [
                type(.icrq), a(.randomVector, .bytes(rv)), a(.assignedSessionID, .u16(101), hidden: true),
                a(.callSerialNumber, .u32(7001)), a(.bearerType, .u32(2)), a(.physicalChannelID, .u32(5)),
                a(.callingNumber, .string("5550100")), a(.calledNumber, .string("5550199")), a(.subAddress, .string("9")),
            ], ["Message Type: Incoming_Call_Request (10)", "Hidden: True", "Call Serial Number: 7001",
                "Calling Number: 5550100", "Called Number: 5550199", "Sub-Address: 9", "Physical Channel: 5"]),
            f(lns, lac, h(11, 101, 2, 4), [type(.icrp), a(.assignedSessionID, .u16(201))],
              ["Message Type: Incoming_Call_Reply (11)", "Assigned Session ID: 201"]),
            f(lac, lns, h(22, 201, 4, 3), [
                type(.iccn), a(.txConnectSpeed, .u32(100_000_000)), a(.framingType, .u32(1)),
                a(.rxConnectSpeed, .u32(50_000_000)), a(.initialReceivedLCPConfReq, .bytes(lcp)),
                a(.lastSentLCPConfReq, .bytes(lcp)), a(.lastReceivedLCPConfReq, .bytes(lcp)),
                a(.proxyAuthenType, .u16(2)), a(.proxyAuthenName, .bytes(Array("user".utf8))),
                a(.proxyAuthenChallenge, .bytes(Array(1...16))), a(.proxyAuthenID, .u16(9)),
                a(.proxyAuthenResponse, .bytes(Array(17...32))), a(.privateGroupID, .bytes(Array("grp".utf8))),
                a(.sequencingRequired, .empty),
            ], ["Message Type: Incoming_Call_Connected (12)", "Connect Speed: 100000000", "Rx Connect Speed: 50000000",
                "Proxy Authen Type: PPP CHAP (2)", "Proxy Authen Name: user", "Proxy Authen ID: 9",
                "Sequencing Required AVP", "Maximum Receive Unit: 1500"]),
            f(lns, lac, h(11, 0, 3, 5), [
                type(.ocrq), a(.assignedSessionID, .u16(202)), a(.callSerialNumber, .u32(7002)),
                a(.minimumBPS, .u32(9600)), a(.maximumBPS, .u32(64000)), a(.bearerType, .u32(1)),
                a(.framingType, .u32(2)), a(.calledNumber, .string("5550142")), a(.subAddress, .string("1")),
            ], ["Message Type: Outgoing_Call_Request (7)", "Minimum BPS: 9600", "Maximum BPS: 64000"]),
            f(lac, lns, h(22, 202, 5, 4), [type(.ocrp), a(.assignedSessionID, .u16(102)), a(.physicalChannelID, .u32(6))],
              ["Message Type: Outgoing_Call_Reply (8)", "Assigned Session ID: 102"]),
            f(lac, lns, h(22, 202, 6, 4), [
                type(.occn), a(.txConnectSpeed, .u32(64000)), a(.framingType, .u32(2)), a(.rxConnectSpeed, .u32(64000)),
                a(.sequencingRequired, .empty),
            ], ["Message Type: Outgoing_Call_Connected (9)"]),
            f(lac, lns, h(22, 201, 7, 4), [
                type(.wen), a(.callErrors, .callErrors(CallErrors(crcErrors: 1, framingErrors: 2, hardwareOverruns: 3,
                                                                  bufferOverruns: 4, timeoutErrors: 5, alignmentErrors: 6))),
            ], ["Message Type: WAN_Error_Notify (15)", "CRC Errors: 1", "Alignment Errors: 6"]),
            f(lns, lac, h(11, 101, 4, 8), [type(.sli), a(.accm, .accm(send: 0, receive: 0xffff_ffff))],
              ["Message Type: Set_Link_Info (16)", "Send ACCM: 0", "Receive ACCM: 4294967295"]),
            f(lac, lns, h(22, 202, 8, 5), [
                type(.cdn), a(.resultCode, .resultCode(result: 3, error: 0, message: "admin")), a(.assignedSessionID, .u16(102)),
                a(.q931CauseCode, .q931Cause(code: 16, message: 0x45, advisory: "normal")),
            ], ["Message Type: Call_Disconnect_Notification (14)", "Error Message: admin", "Advisory Msg: normal"]),
            f(lac, lns, h(22, 0, 9, 5), [
                type(.stopCCN), a(.assignedTunnelID, .u16(11)), a(.resultCode, .resultCode(result: 6, error: 0, message: "bye")),
            ], ["Message Type: Stop_Control_Notification (4)", "Error Message: bye"]),
        ]
    }

    /// L2TPv3 over UDP with control message authentication, LCCEs 198.51.100.1 and .2.
    static func v3Frames() -> [Frame] {
        let a1: [UInt8] = [198, 51, 100, 1], b1: [UInt8] = [198, 51, 100, 2]
        let nonceA = Array(0x10..<0x20 as Range<UInt8>), nonceB = Array(0x30..<0x44 as Range<UInt8>)
        let fromA = MessageAuthentication(secret: secret, localNonce: nonceA, remoteNonce: nonceB)
        let fromB = MessageAuthentication(secret: secret, localNonce: nonceB, remoteNonce: nonceA)
        let rv = Array(0xc0..<0xd0 as Range<UInt8>)
        func h(_ to: UInt32, _ ns: UInt16, _ nr: UInt16) -> ControlHeader {
            ControlHeader(version: .v3, connectionID: to, ns: ns, nr: nr)
        }
        func f(_ fromFirst: Bool, _ h: ControlHeader, _ avps: [AVP], _ expect: [String],
               auth: MessageAuthentication? = nil) -> Frame {
            Frame(message: ControlMessage(header: h, avps: avps), transport: .udp, from: fromFirst ? a1 : b1,
                  to: fromFirst ? b1 : a1, auth: auth ?? (fromFirst ? fromA : fromB), secret: secret, expect: expect)
        }
        let status = CircuitStatus([.active, .new]).rawValue
        return [
            f(true, h(0, 0, 0), [
                type(.sccrq), md5(), a(.hostName, .string("lcce-a")), a(.routerID, .u32(0xc633_6401)),
                a(.assignedControlConnectionID, .u32(0x0a0a_0a0a)),
                a(.pseudowireCapabilities, .pseudowireCapabilities([PseudowireType.ethernet, PseudowireType.ethernetVLAN])),
                a(.nonce, .bytes(nonceA)), a(.tieBreaker, .u64(42)), a(.vendorName, .string("Isthmus")),
                a(.receiveWindowSize, .u16(16)), a(.preferredLanguage, .string("en")),
            ], ["Message Type: Start_Control_Request (1)", "Host Name: lcce-a", "Assigned Control Connection ID: 168430090",
                "PW Type: Ethernet (5)", "PW Type: Ethernet VLAN (4)", "Preferred Language: en", "Router ID: 3325256705"],
              auth: MessageAuthentication(secret: secret)),
            f(false, h(0x0a0a_0a0a, 0, 1), [
                type(.sccrp), sha1(), a(.hostName, .string("lcce-b")), a(.routerID, .u32(0xc633_6402)),
                a(.assignedControlConnectionID, .u32(0x0b0b_0b0b)),
                a(.pseudowireCapabilities, .pseudowireCapabilities([PseudowireType.ethernet])), a(.nonce, .bytes(nonceB)),
                a(.receiveWindowSize, .u16(16)),
            ], ["Message Type: Start_Control_Reply (2)", "Host Name: lcce-b"]),
            f(true, h(0x0b0b_0b0b, 1, 1), [type(.scccn), md5()], ["Message Type: Start_Control_Connected (3)"]),
            f(false, h(0x0a0a_0a0a, 1, 2), [type(.ack), md5()], ["Message Type: Explicit_Acknowledgement (20)"]),
            f(true, h(0x0b0b_0b0b, 2, 2), [type(.hello), sha1()], ["Message Type: Hello (6)"]),
            f(true, h(0x0b0b_0b0b, 3, 2), [
                type(.icrq), md5(), a(.randomVector, .bytes(rv)), a(.localSessionID, .u32(0x1001), hidden: true),
                a(.remoteSessionID, .u32(0)), a(.callSerialNumber, .u32(1)), a(.pseudowireType, .u16(PseudowireType.ethernet)),
                a(.remoteEndID, .bytes(Array("segment-1".utf8))), a(.circuitStatus, .u16(status)),
                a(.assignedCookie, .bytes([1, 2, 3, 4, 5, 6, 7, 8])), a(.tieBreaker, .u64(7)),
                a(.l2SpecificSublayer, .u16(1)), a(.dataSequencing, .u16(0)), a(.txConnectSpeedV3, .u64(1_000_000_000)),
                a(.rxConnectSpeedV3, .u64(1_000_000_000)), a(.physicalChannelID, .u32(3)),
            ], ["Message Type: Incoming_Call_Request (10)", "Pseudowire Type: Ethernet (5)", "Remote End ID: segment-1",
                "Assigned Cookie: 0102030405060708", "Layer2 Specific Sublayer: Default L2-Specific Sublayer present (1)",
                "Circuit Status: Up", "Circuit Type: New", "Remote Session ID: 0"]),
            f(false, h(0x0a0a_0a0a, 2, 4), [
                type(.icrp), md5(), a(.localSessionID, .u32(0x2001)), a(.remoteSessionID, .u32(0x1001)),
                a(.circuitStatus, .u16(status)), a(.assignedCookie, .bytes([9, 9, 9, 9])), a(.l2SpecificSublayer, .u16(1)),
                a(.dataSequencing, .u16(2)),
            ], ["Message Type: Incoming_Call_Reply (11)", "Local Session ID: 8193", "Remote Session ID: 4097",
                "Data Sequencing: All incoming data packets require sequencing (2)"]),
            f(true, h(0x0b0b_0b0b, 4, 3), [
                type(.iccn), md5(), a(.localSessionID, .u32(0x1001)), a(.remoteSessionID, .u32(0x2001)),
                a(.l2SpecificSublayer, .u16(1)), a(.dataSequencing, .u16(0)), a(.txConnectSpeedV3, .u64(0)),
                a(.circuitStatus, .u16(CircuitStatus.active.rawValue)),
            ], ["Message Type: Incoming_Call_Connected (12)"]),
            f(false, h(0x0a0a_0a0a, 3, 5), [
                type(.ocrq), md5(), a(.localSessionID, .u32(0x2002)), a(.remoteSessionID, .u32(0)),
                a(.callSerialNumber, .u32(2)), a(.pseudowireType, .u16(PseudowireType.ethernetVLAN)),
                a(.remoteEndID, .bytes(Array("vlan-7".utf8))), a(.circuitStatus, .u16(status)),
            ], ["Message Type: Outgoing_Call_Request (7)", "Pseudowire Type: Ethernet VLAN (4)"]),
            f(true, h(0x0b0b_0b0b, 5, 4), [
                type(.ocrp), md5(), a(.localSessionID, .u32(0x1002)), a(.remoteSessionID, .u32(0x2002)),
                a(.circuitStatus, .u16(status)), a(.physicalChannelID, .u32(4)),
            ], ["Message Type: Outgoing_Call_Reply (8)"]),
            f(true, h(0x0b0b_0b0b, 6, 4), [
                type(.occn), md5(), a(.localSessionID, .u32(0x1002)), a(.remoteSessionID, .u32(0x2002)),
                a(.rxConnectSpeedV3, .u64(10_000_000)),
            ], ["Message Type: Outgoing_Call_Connected (9)"]),
            f(false, h(0x0a0a_0a0a, 4, 7), [
                type(.sli), md5(), a(.localSessionID, .u32(0x2001)), a(.remoteSessionID, .u32(0x1001)),
                a(.circuitStatus, .u16(0)),
            ], ["Message Type: Set_Link_Info (16)", "Circuit Status: Down"]),
            f(true, h(0x0b0b_0b0b, 7, 5), [
                type(.wen), md5(), a(.localSessionID, .u32(0x1001)), a(.remoteSessionID, .u32(0x2001)),
                a(.callErrors, .callErrors(CallErrors(hardwareOverruns: 12))),
            ], ["Message Type: WAN_Error_Notify (15)", "Hardware Overruns: 12"]),
            f(false, h(0x0a0a_0a0a, 5, 8), [
                type(.cdn), md5(), a(.resultCode, .resultCode(result: 3, error: nil, message: nil)),
                a(.localSessionID, .u32(0x2002)), a(.remoteSessionID, .u32(0x1002)),
            ], ["Message Type: Call_Disconnect_Notification (14)"]),
            f(true, h(0x0b0b_0b0b, 8, 6), [
                type(.stopCCN), sha1(), a(.resultCode, .resultCode(result: 6, error: nil, message: nil)),
                a(.assignedControlConnectionID, .u32(0x0a0a_0a0a)),
            ], ["Message Type: Stop_Control_Notification (4)"]),
        ]
    }

    /// L2TPv3 over IP (protocol 115) with the integrity digest and no authentication; a ZLB.
    static func v3IPFrames() -> [Frame] {
        let a1: [UInt8] = [203, 0, 113, 1], b1: [UInt8] = [203, 0, 113, 2]
        func f(_ fromFirst: Bool, _ to: UInt32, _ ns: UInt16, _ nr: UInt16, _ avps: [AVP], _ expect: [String],
               digest: Bool = true) -> Frame {
            Frame(message: ControlMessage(header: ControlHeader(version: .v3, connectionID: to, ns: ns, nr: nr), avps: avps),
                  transport: .ip, from: fromFirst ? a1 : b1, to: fromFirst ? b1 : a1,
                  auth: digest ? .integrityOnly : nil, secret: nil, expect: expect)
        }
        return [
            f(true, 0, 0, 0, [type(.sccrq), md5(), a(.hostName, .string("ip-a")), a(.routerID, .u32(1)),
                              a(.assignedControlConnectionID, .u32(77)),
                              a(.pseudowireCapabilities, .pseudowireCapabilities([PseudowireType.ethernet]))],
              ["Message Type: Start_Control_Request (1)", "Host Name: ip-a"]),
            f(false, 77, 0, 1, [type(.sccrp), md5(), a(.hostName, .string("ip-b")), a(.routerID, .u32(2)),
                                a(.assignedControlConnectionID, .u32(88)),
                                a(.pseudowireCapabilities, .pseudowireCapabilities([PseudowireType.ethernet]))],
              ["Message Type: Start_Control_Reply (2)", "Host Name: ip-b"]),
            f(true, 88, 1, 1, [type(.scccn), md5()], ["Message Type: Start_Control_Connected (3)"]),
            f(false, 77, 1, 2, [], ["Zero Length Body message"], digest: false),
            f(true, 88, 2, 1, [type(.hello), sha1()], ["Message Type: Hello (6)"]),
            f(false, 77, 1, 3, [type(.stopCCN), md5(), a(.resultCode, .resultCode(result: 1, error: nil, message: nil))],
              ["Message Type: Stop_Control_Notification (4)"]),
        ]
    }

    @Test("tshark decodes every control message with no malformed packet and no expert warning or error")
    func decodesEverything() throws {
        let frames = Self.v2Frames() + Self.v3Frames() + Self.v3IPFrames()
        // Every message type of both RFCs is sent at least once.
        let sent = Set(frames.compactMap(\.message.messageType))
        #expect(sent.isSuperset(of: MessageType.defined), "missing \(Set(MessageType.defined).subtracting(sent))")
        for f in frames {
            #expect(f.message.validate() == [], "\(f.message.messageType.map(String.init(describing:)) ?? "ZLB") lacks AVPs")
        }
        let packets = try frames.map { f in
            let l2tp = try f.message.encode(transport: f.transport, secret: f.secret, authentication: f.auth)
            #expect(try ControlMessage.parse(l2tp, transport: f.transport, secret: f.secret).avps.map(\.type)
                    == f.message.avps.map(\.type))
            return Pcap.ipv4(from: f.from, to: f.to, udp: f.transport == .udp, l2tp)
        }
        let output = try Self.tshark(packets)
        #expect(!output.contains("Malformed"), "\(output)")
        #expect(!output.contains("Expert Info (Warning"), "\(output)")
        #expect(!output.contains("Expert Info (Error"), "\(output)")
        let sections = Self.frames(output)
        #expect(sections.count == frames.count)
        for (i, f) in frames.enumerated() where i < sections.count {
            for line in f.expect {
                #expect(sections[i].contains(line), "frame \(i + 1) lacks \"\(line)\":\n\(sections[i])")
            }
        }
    }

    @Test("control: tshark does check the digests — a changed digest is reported as Incorrect Digest (UDP and IP)")
    func digestsAreChecked() throws {
        var packets: [[UInt8]] = []
        for f in Array(Self.v3Frames().prefix(3)) + Array(Self.v3IPFrames().prefix(3)) {
            var l2tp = try f.message.encode(transport: f.transport, secret: f.secret, authentication: f.auth)
            // Inside the SCCCN's MD5 digest (bytes 27..<43 after the IP prefix).
            if f.message.messageType == .scccn { l2tp[ControlHeader.prefixSize(f.transport) + 30] ^= 0x01 }
            packets.append(Pcap.ipv4(from: f.from, to: f.to, udp: f.transport == .udp, l2tp))
        }
        let sections = Self.frames(try Self.tshark(packets))
        #expect(sections.count == 6)
        for (i, s) in sections.enumerated() {
            let tampered = i == 2 || i == 5
            #expect(s.contains("Expert Info (Warning/Checksum): Incorrect Digest") == tampered, "frame \(i + 1):\n\(s)")
        }
    }

    /// Runs tshark over a pcap of `packets` and returns its verbose output.
    static func tshark(_ packets: [[UInt8]]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-l2tp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max)).pcap")
        try Data(Pcap.file(packets)).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tshark")
        p.arguments = ["-r", path.path, "-V", "-o", "l2tp.cookie_size:0",
                       "-o", "l2tp.shared_secret:" + String(decoding: secret, as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    /// The verbose output split into frames ("Frame N: ..." starts each).
    static func frames(_ output: String) -> [String] {
        var sections: [String] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Frame ") { sections.append("") }
            if !sections.isEmpty { sections[sections.count - 1] += line + "\n" }
        }
        return sections
    }
}

/// A minimal pcap writer (libpcap format 2.4, LINKTYPE_RAW 101: each record an IPv4 packet).
enum Pcap {
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(truncatingIfNeeded: v), UInt8(v >> 8)] }

    /// Global header and one record per packet, a millisecond apart.
    static func file(_ packets: [[UInt8]]) -> [UInt8] {
        var out = le32(0xa1b2_c3d4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(65535) + le32(101)
        for (i, p) in packets.enumerated() {
            out += le32(1_700_000_000) + le32(UInt32(i) * 1000) + le32(UInt32(p.count)) + le32(UInt32(p.count)) + p
        }
        return out
    }

    /// RFC 1071 checksum of `bytes`.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var s: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { s += UInt32(bytes[i]) << 8 }
        while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(s)
    }

    /// An IPv4 packet carrying `payload` in UDP 1701 → 1701 (checksum filled in, RFC 3931 §4.1.2.3) or directly
    /// as IP protocol 115.
    static func ipv4(from: [UInt8], to: [UInt8], udp: Bool, _ payload: [UInt8]) -> [UInt8] {
        var l4 = payload
        if udp {
            var u = be16(1701) + be16(1701) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
            let pseudo = from + to + [0, 17] + be16(UInt16(u.count))
            let c = checksum(pseudo + u)
            u[6] = UInt8((c == 0 ? 0xffff : c) >> 8); u[7] = UInt8(truncatingIfNeeded: c == 0 ? 0xffff : c)
            l4 = u
        }
        var ip: [UInt8] = [0x45, 0x00] + be16(UInt16(20 + l4.count)) + [0x00, 0x01, 0x00, 0x00, 64, udp ? 17 : 115, 0, 0]
        ip += from + to
        let c = checksum(ip)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(truncatingIfNeeded: c)
        return ip + l4
    }
}
