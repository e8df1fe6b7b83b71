import Testing
import TestSupport
@testable import VICIWire

/// The decoder never traps: every prefix and seeded mutations of real packets, deep nesting, huge lengths.
@Suite("VICI decoder on hostile bytes")
struct VICIHostileBytesTests {
    static func packets() throws -> [[UInt8]] {
        try Conversation.all.flatMap { n in let c = try Conversation(n); return c.sent + c.received }
    }

    @Test("every truncation of every golden packet is an error, with an offset inside the bytes")
    func truncations() throws {
        for p in try Self.packets() {
            for n in 0..<p.count {
                do {
                    _ = try VICIPacket(framed: p[0..<n])
                    Issue.record("a \(n)-byte prefix of a \(p.count)-byte packet decoded")
                } catch {
                    #expect(error.offset <= n)
                }
            }
        }
    }

    @Test("seeded mutations never trap; what decodes encodes again")
    func mutations() throws {
        var rng = SeededRandom(seed: 17)
        let seeds = try Self.packets()
        var decoded = 0
        for _ in 0..<20_000 {
            var p = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + rng.next() % 4) {
                let i = Int(rng.next() % UInt64(p.count))
                switch rng.next() % 3 {
                case 0: p[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: p.remove(at: i)
                default: p.insert(UInt8(truncatingIfNeeded: rng.next() % 8), at: i)
                }
            }
            if let packet = try? VICIPacket(payload: p.dropFirst(4)) {
                decoded += 1
                _ = try? packet.encoded()
            }
        }
        #expect(decoded > 0)
    }

    @Test("nesting beyond the limit is refused where it goes too deep")
    func depth() {
        var body: [UInt8] = [1]  // response
        for _ in 0..<40 { body += [1, 1, 0x61] }
        do {
            _ = try VICIPacket(payload: body)
            Issue.record("decoded")
        } catch {
            #expect(error == VICIWireError(.tooDeep, at: 1 + 32 * 3))
        }
    }

    @Test("a framed length over the limit is refused before its bytes arrive")
    func hugeLength() {
        var f = VICIFramer()
        f.append([0x7F, 0xFF, 0xFF, 0xFF, 1])
        #expect(throws: VICIWireError(.packetTooLarge, at: 0)) { try f.next() }
    }

    @Test("structural errors name their reason and offset", arguments: [
        ([1, 5, 0, 0] as [UInt8], VICIWireError(.listItemOutsideList, at: 1)),
        ([1, 2], VICIWireError(.unbalancedSectionEnd, at: 1)),
        ([1, 1, 1, 0x61], VICIWireError(.unterminatedSection, at: 1)),
        ([1, 4, 1, 0x61, 5, 0, 0], VICIWireError(.unterminatedList, at: 1)),
        ([1, 4, 1, 0x61, 3, 1, 0x62, 0, 0], VICIWireError(.elementInList, at: 4)),
        ([1, 9], VICIWireError(.unknownElement, at: 1)),
        ([8], VICIWireError(.unknownPacketType, at: 0)),
        ([1, 3, 1, 0x61, 0, 9, 0x41], VICIWireError(.truncated, at: 6)),
        ([5, 0], VICIWireError(.trailingBytes, at: 1)),
        // Names that are not UTF-8 are refused, not repaired: 255 bytes of 0xFF would repair to 765 and no longer
        // encode (the fuzzer's find: a command name of tabs, newlines and bad bytes).
        ([1, 3, 2, 0x61, 0xFF, 0, 0], VICIWireError(.nameNotUTF8, at: 2)),
        ([0, 1, 0xC3], VICIWireError(.nameNotUTF8, at: 1)),
        ([1, 1, 255] + [UInt8](repeating: 0xFF, count: 255) + [2], VICIWireError(.nameNotUTF8, at: 2)),
    ])
    func structural(bytes: [UInt8], error: VICIWireError) {
        #expect(throws: error) { try VICIPacket(payload: bytes) }
    }

    @Test("names over 255 bytes and values over 65,535 are encoding errors, not traps")
    func encodingLimits() {
        let long = String(repeating: "n", count: 256)
        #expect(throws: VICIEncodingError(reason: .nameTooLong(long, bytes: 256))) {
            try VICIPacket.request(command: long, message: [:]).encoded()
        }
        let big = VICIValue.bytes([UInt8](repeating: 0x41, count: 65_536))
        #expect(throws: VICIEncodingError(reason: .valueTooLong(name: "k", bytes: 65_536))) {
            try VICIMessage(["k": big].map { VICIMessage.Element($0.key, $0.value) }).encoded()
        }
    }

    @Test("the framer splits a stream fed a byte at a time")
    func framing() throws {
        let ps = try Self.packets()
        var f = VICIFramer()
        var out: [[UInt8]] = []
        for b in ps.joined() {
            f.append([b])
            while let p = try f.next() { out.append(p) }
        }
        #expect(out == ps.map { Array($0.dropFirst(4)) })
        #expect(f.buffered == 0)
    }
}
