/// The Internet checksum (RFC 1071), summed in host byte order: the folded sum stored back with a native
/// 16-bit store is the checksum in network byte order (RFC 1071 §2(B)), so no byte swapping per word.
public struct InternetChecksum: Sendable {
    var sum: UInt64 = 0

    public init() {}

    /// Adds `bytes`, which must start at an even offset from the start of the checksummed data.
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress else { return }
        var n = bytes.count
        var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0, d: UInt64 = 0
        // 32 bytes a round: each 64-bit load adds its two 32-bit halves; four accumulators cannot overflow
        // before 2^31 rounds.
        while n >= 32 {
            let w0 = p.loadUnaligned(as: UInt64.self), w1 = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let w2 = p.loadUnaligned(fromByteOffset: 16, as: UInt64.self), w3 = p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            a &+= (w0 & 0xffff_ffff) &+ (w0 >> 32)
            b &+= (w1 & 0xffff_ffff) &+ (w1 >> 32)
            c &+= (w2 & 0xffff_ffff) &+ (w2 >> 32)
            d &+= (w3 & 0xffff_ffff) &+ (w3 >> 32)
            p += 32; n -= 32
        }
        while n >= 8 {
            let w = p.loadUnaligned(as: UInt64.self)
            a &+= (w & 0xffff_ffff) &+ (w >> 32)
            p += 8; n -= 8
        }
        while n >= 2 {
            b &+= UInt64(p.loadUnaligned(as: UInt16.self))
            p += 2; n -= 2
        }
        if n == 1 {
            // The odd byte is the high-order byte of a 16-bit big-endian word: [x, 0].
            c &+= UInt64((UInt16(p.load(as: UInt8.self)) << 8).bigEndian)
        }
        sum = Self.reduce(sum, a) ; sum = Self.reduce(sum, b); sum = Self.reduce(sum, c); sum = Self.reduce(sum, d)
    }

    /// Adds a 16-bit value given in host order (it is summed as its network-order bytes).
    public mutating func add(word: UInt16) { sum = Self.reduce(sum, UInt64(word.bigEndian)) }

    /// Adds a 32-bit value given in host order (two network-order words).
    public mutating func add(word32: UInt32) {
        add(word: UInt16(truncatingIfNeeded: word32 >> 16)); add(word: UInt16(truncatingIfNeeded: word32))
    }

    /// The folded one's-complement sum (not inverted), as it lies in memory (store it with a native store).
    public var folded: UInt16 {
        var s = sum
        s = (s & 0xffff_ffff) &+ (s >> 32)
        s = (s & 0xffff_ffff) &+ (s >> 32)
        s = (s & 0xffff) &+ (s >> 16)
        s = (s & 0xffff) &+ (s >> 16)
        return UInt16(truncatingIfNeeded: s)
    }

    /// The checksum to store: the inverted folded sum.
    public var value: UInt16 { ~folded }

    /// True when the data summed included a correct checksum field.
    public var isValid: Bool { folded == 0xffff }

    static func reduce(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let (r, o) = x.addingReportingOverflow(y)
        return o ? r &+ 1 : r
    }

    /// Checksum of `bytes` alone.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var c = InternetChecksum(); c.add(bytes); return c.value
    }

    /// The TCP/UDP pseudo-header sum (RFC 793 / RFC 8200 §8.1) for addresses at `src`/`dst` (4 or 16 bytes each).
    public static func pseudoHeader(src: UnsafeRawBufferPointer, dst: UnsafeRawBufferPointer,
                                               protocol proto: UInt8, length: Int) -> InternetChecksum {
        var c = InternetChecksum()
        c.add(src); c.add(dst)
        c.add(word: UInt16(proto))
        c.add(word32: UInt32(truncatingIfNeeded: length))
        return c
    }
}
