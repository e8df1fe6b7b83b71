import DataplaneWire
import TestSupport
import Testing

@Suite("Internet checksum")
struct ChecksumTests {
    func sum(_ b: [UInt8]) -> InternetChecksum {
        var c = InternetChecksum()
        b.withUnsafeBytes { c.add($0) }
        return c
    }

    @Test("RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to dd f2")
    func rfc1071Example() {
        let b: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        #expect(referenceSum(b) == 0xddf2)
        let c = sum(b)
        #expect(asNumber(c.folded) == 0xddf2)
        #expect(asNumber(c.value) == 0x220d)
        // The folded sum, stored natively, is the sum in network byte order (RFC 1071 §2(B)).
        var stored: [UInt8] = [0, 0]
        stored.withUnsafeMutableBytes { $0.storeBytes(of: c.folded, as: UInt16.self) }
        #expect(stored == [0xdd, 0xf2])
    }

    @Test("an IPv4 header (RFC 791 §3.1) with its checksum verifies; recomputing gives the same field")
    func ipv4HeaderExample() {
        // 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7
        var h: [UInt8] = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
                          0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]
        #expect(sum(h).isValid)
        #expect(h.withUnsafeBytes { InternetChecksum.of($0) } == 0)
        h[10] = 0; h[11] = 0
        #expect(asNumber(h.withUnsafeBytes { InternetChecksum.of($0) }) == 0xb861)
        h[11] = 1
        #expect(!sum(h).isValid)
    }

    @Test("matches the reference on random buffers of every length 0...200, added whole and in two even-split parts")
    func randomAgainstReference() {
        var rng = SeededRandom(seed: 1071)
        for length in 0...200 {
            for round in 0..<8 {
                // Alternate random data with runs of 0xff, the worst case for carries.
                let b: [UInt8] = round == 0 ? [UInt8](repeating: 0xff, count: length) : rng.bytes(length)
                let ref = referenceSum(b)
                let whole = sum(b)
                #expect(asNumber(whole.folded) == ref, "length \(length)")
                #expect(asNumber(whole.value) == ~ref)
                let split = Int.random(in: 0...(length / 2), using: &rng) * 2   // an even offset
                var parts = InternetChecksum()
                b.withUnsafeBytes { p in
                    parts.add(UnsafeRawBufferPointer(rebasing: p[0..<split]))
                    parts.add(UnsafeRawBufferPointer(rebasing: p[split...]))
                }
                #expect(asNumber(parts.folded) == ref, "length \(length) split \(split)")
                // Misaligned start: the sum does not depend on the buffer's alignment.
                let shifted = [0x77] + b
                var odd = InternetChecksum()
                shifted.withUnsafeBytes { odd.add(UnsafeRawBufferPointer(rebasing: $0[1...])) }
                #expect(asNumber(odd.folded) == ref)
            }
        }
    }

    @Test("many large buffers accumulate without losing carries")
    func largeAccumulation() {
        let b = [UInt8](repeating: 0xff, count: 65536)
        var c = InternetChecksum()
        for _ in 0..<64 { b.withUnsafeBytes { c.add($0) } }
        #expect(asNumber(c.folded) == 0xffff)
        var rng = SeededRandom(seed: 7)
        let r = rng.bytes(70001)
        #expect(asNumber(sum(r).folded) == referenceSum(r))
    }

    @Test("add(word:) and add(word32:) sum host-order values as their network-order bytes")
    func words() {
        var c = InternetChecksum()
        c.add(word: 0x1234); c.add(word32: 0xabcd_ef01)
        #expect(asNumber(c.folded) == referenceSum([0x12, 0x34, 0xab, 0xcd, 0xef, 0x01]))
    }

    @Test("IPv4 pseudo-header (RFC 9293 §3.1): source, destination, zero, protocol, TCP length")
    func pseudoHeaderV4() {
        for length in [0, 1, 20, 1452, 40052, 65535] {
            let c = v4A.withUnsafeBytes { s in v4B.withUnsafeBytes { d in
                InternetChecksum.pseudoHeader(src: s, dst: d, protocol: 6, length: length)
            } }
            let ref = referenceSum(v4A + v4B + [0x00, 0x06] + bytes16(UInt16(length)))
            #expect(asNumber(c.folded) == ref, "length \(length)")
        }
        // UDP, and checking a whole datagram with the pseudo-header verifies.
        let udp = udpPacket(payload: Array(0..<33))
        var c = v4A.withUnsafeBytes { s in v4B.withUnsafeBytes { d in
            InternetChecksum.pseudoHeader(src: s, dst: d, protocol: 17, length: udp.count - 20)
        } }
        var seg = Array(udp[20...])
        let pseudo = pseudoHeaderBytes(src: v4A, dst: v4B, proto: 17, length: seg.count)
        put16(&seg, 6, referenceChecksum(pseudo + seg))
        seg.withUnsafeBytes { c.add($0) }
        #expect(c.isValid)
    }

    @Test("IPv6 pseudo-header (RFC 8200 §8.1): addresses, 32-bit upper-layer length, three zero bytes, next header")
    func pseudoHeaderV6() {
        for length in [0, 40, 1440, 65535, 70000, 0x0123_4567] {
            let c = v6A.withUnsafeBytes { s in v6B.withUnsafeBytes { d in
                InternetChecksum.pseudoHeader(src: s, dst: d, protocol: 6, length: length)
            } }
            let ref = referenceSum(v6A + v6B + bytes32(UInt32(length)) + [0, 0, 0, 6])
            #expect(asNumber(c.folded) == ref, "length \(length)")
        }
    }
}
