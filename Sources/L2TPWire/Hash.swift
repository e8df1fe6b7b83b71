// MD5 (RFC 1321), SHA-1 (FIPS 180-4 §6.1) and HMAC (RFC 2104), written out so the wire layer needs no crypto
// library. They serve L2TP's AVP hiding (RFC 2661 §4.3, RFC 3931 §5.3), its v2 tunnel authentication (RFC 2661
// §5.1.1) and the v3 Message Digest (RFC 3931 §5.4.1) — compatibility uses, not new security designs.

/// A Merkle–Damgård hash that can be fed in pieces.
public protocol HashFunction: Sendable {
    /// The compression function's block size in bytes (64 for MD5 and SHA-1).
    static var blockSize: Int { get }
    /// The digest size in bytes.
    static var digestSize: Int { get }
    /// A fresh state.
    init()
    /// Feeds bytes.
    mutating func update(_ bytes: some Sequence<UInt8>)
    /// The digest of everything fed so far (the state is consumed).
    consuming func finalize() -> [UInt8]
}

extension HashFunction {
    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var h = Self()
        h.update(bytes)
        return h.finalize()
    }
}

/// The 64-byte block buffer both hashes share: collects input and hands out full blocks.
struct BlockBuffer: Sendable {
    var pending: [UInt8] = []
    var total: UInt64 = 0

    init() { pending.reserveCapacity(64) }

    mutating func feed(_ bytes: some Sequence<UInt8>, _ block: (ArraySlice<UInt8>) -> Void) {
        for b in bytes {
            pending.append(b)
            total &+= 1
            if pending.count == 64 {
                block(pending[...])
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Pads per RFC 1321 §3.1–3.2 / FIPS 180-4 §5.1.1 (0x80, zeros, 64-bit bit length in the given byte order)
    /// and hands out the last one or two blocks.
    mutating func finish(bigEndianLength: Bool, _ block: (ArraySlice<UInt8>) -> Void) {
        let bits = total &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for i in 0..<8 {
            let shift = bigEndianLength ? UInt64(56 - 8 * i) : UInt64(8 * i)
            tail.append(UInt8(truncatingIfNeeded: bits >> shift))
        }
        var start = 0
        while start < tail.count {
            block(tail[start..<start + 64])
            start += 64
        }
    }
}

@inline(__always) func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }

/// MD5, RFC 1321.
public struct MD5: HashFunction {
    /// 64 bytes.
    public static let blockSize = 64
    /// 16 bytes.
    public static let digestSize = 16

    // RFC 1321 §3.4: T[i] = floor(2^32 × |sin(i)|), i = 1...64.
    static let k: [UInt32] = [
        0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
        0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
        0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
        0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
        0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
        0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
        0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
        0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
    ]
    // RFC 1321 §3.4: the per-step left rotations of the four rounds.
    static let s: [UInt32] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ]

    var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
    var buffer = BlockBuffer()

    /// The initial state.
    public init() {}

    /// Feeds bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        var st = state
        buffer.feed(bytes) { Self.compress(&st, $0) }
        state = st
    }

    /// The digest.
    public consuming func finalize() -> [UInt8] {
        var st = state
        buffer.finish(bigEndianLength: false) { Self.compress(&st, $0) }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for w in [st.0, st.1, st.2, st.3] {
            for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> UInt32(8 * i))) }
        }
        return out
    }

    static func compress(_ st: inout (UInt32, UInt32, UInt32, UInt32), _ block: ArraySlice<UInt8>) {
        var m = [UInt32](repeating: 0, count: 16)
        var p = block.startIndex
        for j in 0..<16 {
            m[j] = UInt32(block[p]) | UInt32(block[p + 1]) << 8 | UInt32(block[p + 2]) << 16 | UInt32(block[p + 3]) << 24
            p += 4
        }
        var (a, b, c, d) = st
        for i in 0..<64 {
            var f: UInt32
            let g: Int
            switch i {
            case 0..<16: f = (b & c) | (~b & d); g = i
            case 16..<32: f = (d & b) | (~d & c); g = (5 * i + 1) % 16
            case 32..<48: f = b ^ c ^ d; g = (3 * i + 5) % 16
            default: f = c ^ (b | ~d); g = (7 * i) % 16
            }
            f = f &+ a &+ k[i] &+ m[g]
            a = d; d = c; c = b
            b = b &+ rotl(f, s[i])
        }
        st = (st.0 &+ a, st.1 &+ b, st.2 &+ c, st.3 &+ d)
    }
}

/// SHA-1, FIPS 180-4 §6.1.
public struct SHA1: HashFunction {
    /// 64 bytes.
    public static let blockSize = 64
    /// 20 bytes.
    public static let digestSize = 20

    var state: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0)
    var buffer = BlockBuffer()

    /// The initial state.
    public init() {}

    /// Feeds bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        var st = state
        buffer.feed(bytes) { Self.compress(&st, $0) }
        state = st
    }

    /// The digest.
    public consuming func finalize() -> [UInt8] {
        var st = state
        buffer.finish(bigEndianLength: true) { Self.compress(&st, $0) }
        var out: [UInt8] = []
        out.reserveCapacity(20)
        for w in [st.0, st.1, st.2, st.3, st.4] {
            for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> UInt32(24 - 8 * i))) }
        }
        return out
    }

    static func compress(_ st: inout (UInt32, UInt32, UInt32, UInt32, UInt32), _ block: ArraySlice<UInt8>) {
        var w = [UInt32](repeating: 0, count: 80)
        var p = block.startIndex
        for t in 0..<16 {
            w[t] = UInt32(block[p]) << 24 | UInt32(block[p + 1]) << 16 | UInt32(block[p + 2]) << 8 | UInt32(block[p + 3])
            p += 4
        }
        for t in 16..<80 { w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
        var (a, b, c, d, e) = st
        for t in 0..<80 {
            let f: UInt32, k: UInt32
            switch t {
            case 0..<20: f = (b & c) | (~b & d); k = 0x5a82_7999
            case 20..<40: f = b ^ c ^ d; k = 0x6ed9_eba1
            case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8f1b_bcdc
            default: f = b ^ c ^ d; k = 0xca62_c1d6
            }
            let temp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        st = (st.0 &+ a, st.1 &+ b, st.2 &+ c, st.3 &+ d, st.4 &+ e)
    }
}

/// HMAC over any `HashFunction`, RFC 2104 §2.
public struct HMAC<H: HashFunction>: Sendable {
    var inner: H
    let outerKey: [UInt8]

    /// Starts a MAC under `key` (hashed first when longer than the block, zero-padded to it).
    public init(key: some Collection<UInt8>) {
        var k = key.count > H.blockSize ? H.hash(key) : Array(key)
        k += [UInt8](repeating: 0, count: H.blockSize - k.count)
        var h = H()
        h.update(k.map { $0 ^ 0x36 })
        inner = h
        outerKey = k.map { $0 ^ 0x5c }
    }

    /// Feeds message bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) { inner.update(bytes) }

    /// The MAC of everything fed so far.
    public consuming func finalize() -> [UInt8] {
        var outer = H()
        outer.update(outerKey)
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// The MAC of `message` under `key` in one call.
    public static func mac(key: some Collection<UInt8>, _ message: some Sequence<UInt8>) -> [UInt8] {
        var h = HMAC(key: key)
        h.update(message)
        return h.finalize()
    }
}

/// Compares two byte strings in time that depends only on their lengths (for digests and responses).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
