import L2TPWire
import TestSupport
import Testing

// Shared helpers for the L2TPWire tests.

/// Lower-case hex without separators.
func hex(_ b: [UInt8]) -> String {
    b.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// Bytes from a hex string (test literals only; traps on odd input, which a test author would see at once).
func unhex(_ s: String) -> [UInt8] {
    let chars = Array(s.utf8)
    func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c - 48 }
    return stride(from: 0, to: chars.count, by: 2).map { nibble(chars[$0]) << 4 | nibble(chars[$0 + 1]) }
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(truncatingIfNeeded: v)] }
func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }

/// An AVP on the wire, built by hand from RFC 2661 §4.1: flags and 10-bit length, vendor, type, value.
func rawAVP(_ type: UInt16, _ value: [UInt8], m: Bool = true, h: Bool = false, vendor: UInt16 = 0,
            reserved: UInt8 = 0, length: Int? = nil) -> [UInt8] {
    let len = length ?? 6 + value.count
    let flags = (m ? 0x80 : 0) | (h ? 0x40 : 0) | reserved << 2 | UInt8(len >> 8 & 3)
    return [flags, UInt8(truncatingIfNeeded: len)] + be16(vendor) + be16(type) + value
}

/// A control message built by hand from RFC 2661 §3.1 / RFC 3931 §3.2.1 (T, L, S set; Length computed), with
/// the 32 zero bits of RFC 3931 §4.1.1.2 in front over IP.
func rawControl(version: UInt8, id: UInt32 = 0, session: UInt16 = 0, ns: UInt16 = 0, nr: UInt16 = 0, ip: Bool = false,
                _ body: [UInt8]) -> [UInt8] {
    let length = UInt16(12 + body.count)
    var h: [UInt8] = ip ? [0, 0, 0, 0] : []
    h += [0xc8, version] + be16(length)
    h += version == 2 ? be16(UInt16(id)) + be16(session) : be32(id)
    return h + be16(ns) + be16(nr) + body
}

/// Message Type AVP (M set).
func mt(_ t: UInt16, m: Bool = true) -> [UInt8] { rawAVP(0, be16(t), m: m) }

/// The L2TPWireError a call threw, or nil when it returned (any other error is recorded as an issue).
func wireError(_ f: () throws -> Void) -> L2TPWireError? {
    do {
        try f()
        return nil
    } catch let e as L2TPWireError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

extension SeededRandom {
    mutating func upTo(_ n: Int) -> Int { Int(next() % UInt64(n + 1)) }
    mutating func coin() -> Bool { next() & 1 == 0 }
    mutating func choose<T>(_ a: [T]) -> T { a[Int(next() % UInt64(a.count))] }
}
