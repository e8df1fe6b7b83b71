// Big-endian reads and writes. Reads do not check bounds: every caller has checked the range first.

// Arrays and raw buffers alike (both index from 0; specialized for each).
@inline(__always) func be16<D: RandomAccessCollection<UInt8>>(_ b: D, _ i: Int) -> UInt16 where D.Index == Int {
    UInt16(b[i]) << 8 | UInt16(b[i + 1])
}

@inline(__always) func be32<D: RandomAccessCollection<UInt8>>(_ b: D, _ i: Int) -> UInt32 where D.Index == Int {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}

@inline(__always) func be64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(be32(b, i)) << 32 | UInt64(be32(b, i + 4)) }

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendBE16(_ v: UInt16) {
        append(UInt8(v >> 8)); append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always) mutating func appendBE32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    @inline(__always) mutating func appendBE64(_ v: UInt64) {
        appendBE32(UInt32(truncatingIfNeeded: v >> 32)); appendBE32(UInt32(truncatingIfNeeded: v))
    }

    @inline(__always) mutating func putBE16(_ v: UInt16, at i: Int) {
        self[i] = UInt8(v >> 8); self[i + 1] = UInt8(truncatingIfNeeded: v)
    }
}

/// The bytes as a String when they are valid UTF-8 (checked by re-encoding: an invalid sequence would decode to
/// U+FFFD and not come back the same), else nil. Lossless, so values round-trip byte for byte.
func utf8String(_ bytes: ArraySlice<UInt8>) -> String? {
    let s = String(decoding: bytes, as: UTF8.self)
    return s.utf8.elementsEqual(bytes) ? s : nil
}
