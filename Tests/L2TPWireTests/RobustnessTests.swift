import L2TPWire
import TestSupport
import Testing

/// Hostile bytes: the parsers never trap, and whatever parses re-encodes to something that parses the same.
@Suite("Hostile input")
struct RobustnessTests {
    static let secret = Array("isthmus".utf8)

    /// Every golden datagram of the suite, with the transport it came over.
    static let goldens: [([UInt8], L2TPTransport)] = [
        (Golden.v2SCCRQ, .udp), (Golden.v3SCCRQ, .udp), (Golden.v3SCCRQOverIP, .ip), (Golden.v2StopCCN, .udp),
        (Golden.v2ZLB, .udp), (Golden.v3CDN, .udp), (HidingTests.v2ICRQ, .udp), (DigestTests.helloMD5, .udp),
        (DigestTests.helloSHA1, .udp), (HeaderTests.v2DataAllFlags, .udp), (HeaderTests.v3DataIP, .ip),
    ]

    /// Parses `d` every way (both transports, with and without the secret); for each success checks that
    /// encoding gives bytes that parse to the same message. Returns the outcomes by reason name.
    static func exercise(_ d: [UInt8], _ tally: inout [String: Int]) {
        for transport in [L2TPTransport.udp, .ip] {
            _ = try? L2TPHeader.parse(d, transport: transport)
            for secret in [nil, Self.secret] {
                do {
                    let m = try ControlMessage.parse(d, transport: transport, secret: secret)
                    tally["ok", default: 0] += 1
                    let encoded = try m.encode(transport: transport, secret: secret)
                    // Same length as the message (values are canonical; only reserved fields may come back zero).
                    if case .control(_, let body) = try L2TPHeader.parse(d, transport: transport), encoded.count != body.upperBound {
                        Issue.record("re-encoding changed the length of \(hex(d)) (\(transport))")
                    }
                    let again = try ControlMessage.parse(encoded, transport: transport, secret: secret)
                    if again != m { Issue.record("re-encoding changed \(hex(d)) (\(transport))") }
                } catch {
                    tally[error.reason.name, default: 0] += 1
                }
            }
            if let e = wireError({ try MessageDigest.verify(d, transport: transport, DigestTests.receiver) }) {
                tally["digest:" + e.reason.name, default: 0] += 1
            } else {
                tally["digest:ok", default: 0] += 1
            }
        }
    }

    /// A control message of random AVP-shaped chunks: mostly right lengths and known types, sometimes not.
    static func randomControl(_ rng: inout SeededRandom) -> [UInt8] {
        var body: [UInt8] = []
        let types = AVPTable.all.map(\.type.type) + [67, 100, 0x8001]
        if rng.upTo(9) > 0 { body += rawAVP(0, be16(UInt16(rng.upTo(22))), m: rng.upTo(5) > 0) }
        for _ in 0..<rng.upTo(7) {
            let type = rng.upTo(9) == 0 ? UInt16(truncatingIfNeeded: rng.next()) : rng.choose(types)
            let value = rng.bytes(rng.upTo(3) == 0 ? rng.upTo(40) : [0, 2, 4, 8, 10, 16, 17, 21, 26][rng.upTo(8)])
            let h = rng.upTo(5) == 0
            let length = rng.upTo(12) == 0 ? rng.upTo(1023) : nil
            body += rawAVP(type, value, m: rng.coin(), h: h, vendor: rng.upTo(10) == 0 ? 9 : 0,
                           reserved: rng.upTo(15) == 0 ? UInt8(rng.upTo(15)) : 0, length: length)
            if type == 36 && rng.coin() { body += rawAVP(36, rng.bytes(16)) }
        }
        if rng.upTo(20) == 0 { body += rng.bytes(rng.upTo(5)) }
        let v: UInt8 = rng.coin() ? 2 : 3
        var d = rawControl(version: v, id: UInt32(rng.upTo(0xffff)), ns: UInt16(rng.upTo(9)), ip: v == 3 && rng.coin(), body)
        if rng.upTo(10) == 0 { d[rng.upTo(d.count - 1)] = UInt8(truncatingIfNeeded: rng.next()) }
        return d
    }

    @Test("100,000 random datagrams: no trap, re-encoding is stable, many reasons reached")
    func randomDatagrams() {
        var rng = SeededRandom(seed: 0x4c32_5450_7633)
        var tally: [String: Int] = [:]
        for _ in 0..<100_000 {
            let d = rng.upTo(3) == 0 ? rng.bytes(rng.upTo(120)) : Self.randomControl(&rng)
            Self.exercise(d, &tally)
        }
        // Not vacuous: plenty parse, and the rejections spread over the reasons.
        #expect(tally["ok", default: 0] > 20_000, "\(tally)")
        for reason: L2TPWireError.Reason in [.tooShort, .badVersion, .lengthMismatch, .badAVPLength, .unknownMandatoryAVP,
                                             .badAVPValue, .hiddenWithoutSecret, .hiddenWithoutRandomVector,
                                             .notHidable, .firstAVPNotMessageType, .unknownMessageType, .reservedBits,
                                             .missingLengthOrSequence, .notControl] {
            #expect(tally[reason.name, default: 0] > 0, "\(reason.name) never reached: \(tally)")
        }
    }

    @Test("20,000 mutations of the goldens: no trap, re-encoding is stable")
    func mutations() {
        var rng = SeededRandom(seed: 0x6d75_7461_7465)
        let interesting: [UInt8] = [0x00, 0x01, 0x02, 0x03, 0x06, 0x07, 0x08, 0x0c, 0x24, 0x3b, 0x40, 0x80, 0xc0, 0xc8, 0xff]
        var tally: [String: Int] = [:]
        for _ in 0..<20_000 {
            var d = rng.choose(Self.goldens).0
            for _ in 0..<(1 + rng.upTo(3)) {
                let at = rng.upTo(d.count)
                let byte = rng.coin() ? interesting[rng.upTo(interesting.count - 1)] : UInt8(truncatingIfNeeded: rng.next())
                switch rng.upTo(5) {
                case 0, 1: if at < d.count { d[at] = byte }
                case 2: d.insert(byte, at: at)
                case 3: if at < d.count { d.remove(at: at) }
                case 4: d = Array(d.prefix(at))
                default:
                    let from = rng.upTo(max(0, d.count - 1))
                    d.insert(contentsOf: d[from..<min(d.count, from + rng.upTo(12))], at: at)
                }
            }
            Self.exercise(d, &tally)
        }
        #expect(tally["ok", default: 0] > 2_000, "\(tally)")
        #expect(tally["digest:bad_digest", default: 0] > 0 && tally["digest:ok", default: 0] > 0, "\(tally)")
    }
}
