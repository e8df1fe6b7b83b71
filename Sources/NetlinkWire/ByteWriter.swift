/// Little helpers for host-endian (netlink) and network-endian (packet) integers in byte arrays.
public enum Bytes {
    @inlinable public static func align4(_ n: Int) -> Int { (n + 3) & ~3 }

    @inlinable public static func append<T: FixedWidthInteger>(_ v: T, to buf: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { buf.append(contentsOf: $0) }
    }

    @inlinable public static func appendBE<T: FixedWidthInteger>(_ v: T, to buf: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { buf.append(contentsOf: $0) }
    }

    @inlinable public static func store<T: FixedWidthInteger>(_ v: T, at offset: Int, in buf: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { raw in
            for i in 0..<raw.count { buf[offset + i] = raw[i] }
        }
    }

    /// Reads a little-endian (host order on Linux x86/arm) integer; nil when the slice is too short.
    @inlinable public static func load<T: FixedWidthInteger>(_: T.Type, from s: ArraySlice<UInt8>, at offset: Int = 0) -> T? {
        let size = MemoryLayout<T>.size
        let start = s.startIndex + offset
        guard offset >= 0, start + size <= s.endIndex else { return nil }
        var v: T = 0
        for i in 0..<size { v |= T(truncatingIfNeeded: s[start + i]) << (8 * i) }
        return v
    }

    /// Reads a big-endian (network order) integer; nil when the slice is too short.
    @inlinable public static func loadBE<T: FixedWidthInteger>(_: T.Type, from s: ArraySlice<UInt8>, at offset: Int = 0) -> T? {
        let size = MemoryLayout<T>.size
        let start = s.startIndex + offset
        guard offset >= 0, start + size <= s.endIndex else { return nil }
        var v: T = 0
        for i in 0..<size { v = (v << 8) | T(truncatingIfNeeded: s[start + i]) }
        return v
    }
}
