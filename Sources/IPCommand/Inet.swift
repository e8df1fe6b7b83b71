import CLinuxUAPI
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// An address or prefix as iproute2's inet_prefix: family, bytes (none for "any"), bit length.
struct InetPrefix: Equatable, Sendable {
    var family: UInt8
    var bytes: [UInt8]
    var bitlen: Int
    var prefixSpecified: Bool
    /// "default", "all" or "any".
    var isAny: Bool
    var ipAddress: IPAddress? { IPAddress(bytes: bytes) }
}

/// iproute2's get_addr()/get_prefix() (lib/utils.c) rules for address arguments.
enum Inet {
    static let inet = UInt8(AF_INET), inet6 = UInt8(AF_INET6)

    static func byteLength(_ family: UInt8) -> Int { family == inet ? 4 : family == inet6 ? 16 : 0 }

    /// What an address of `family` looks like, for error messages.
    static func expected(_ family: UInt8, prefix: Bool) -> String {
        let what = prefix ? "prefix" : "address"
        switch family {
        case inet: return "an IPv4 \(what)"
        case inet6: return "an IPv6 \(what)"
        default: return "an IPv4 or IPv6 \(what)"
        }
    }

    /// get_addr_1(): "default", "all", "any", IPv6 (contains ':') or IPv4 dotted numbers (1-4 parts, C number syntax).
    static func parseAddress(_ s: String, family: UInt8) -> InetPrefix? {
        if s == "default" {
            return InetPrefix(family: family, bytes: [UInt8](repeating: 0, count: byteLength(family)), bitlen: -2, prefixSpecified: true, isAny: true)
        }
        if s == "all" || s == "any" {
            return InetPrefix(family: family, bytes: [], bitlen: -2, prefixSpecified: false, isAny: true)
        }
        if s.contains(":") {
            guard family == 0 || family == inet6, let a = IPAddress(s), a.isV6 else { return nil }
            return InetPrefix(family: inet6, bytes: a.bytes, bitlen: -1, prefixSpecified: false, isAny: false)
        }
        guard family == 0 || family == inet else { return nil }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var b = [UInt8](repeating: 0, count: 4)
        for (i, p) in parts.enumerated() {
            guard let n = CNumber.parse(p, UInt32.self), n <= 255 else { return nil }
            b[i] = UInt8(n)
        }
        return InetPrefix(family: inet, bytes: b, bitlen: -1, prefixSpecified: false, isAny: false)
    }

    /// get_prefix_1(): an address with an optional "/LEN" (or dotted netmask); a bare address has the full length.
    static func parsePrefix(_ s: String, family: UInt8) -> InetPrefix? {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard var p = parseAddress(String(parts[0]), family: family) else { return nil }
        let full = p.family == inet ? 32 : p.family == inet6 ? 128 : 0
        if parts.count == 2 {
            if p.bitlen == -2 { return nil }
            let m = parts[1]
            var plen: Int
            if let n = CNumber.parse(m, UInt32.self) { plen = Int(n) } else {
                guard let mask = parseAddress(String(m), family: inet), mask.family == inet, let bits = maskBits(mask.bytes) else { return nil }
                plen = bits
            }
            guard plen <= full else { return nil }
            p.bitlen = plen
            p.prefixSpecified = true
        } else {
            p.bitlen = p.bitlen == -2 ? 0 : full
        }
        return p
    }

    static func maskBits(_ b: [UInt8]) -> Int? {
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let ones = v.leadingZeroBitCount == 0 ? (~v).leadingZeroBitCount : 0
        let canonical: UInt32 = ones == 0 ? 0 : ~UInt32(0) << (32 - UInt32(ones))
        return canonical == v ? ones : nil
    }

    /// get_addr() that throws a UsageError naming the keyword.
    static func address(_ word: String, for keyword: String, family: UInt8) throws -> InetPrefix {
        guard let a = parseAddress(word, family: family) else {
            throw UsageError.invalid(word, for: keyword, expected: expected(family, prefix: false))
        }
        return a
    }

    /// get_prefix() that throws a UsageError naming the keyword.
    static func prefix(_ word: String, for keyword: String, family: UInt8) throws -> InetPrefix {
        guard let p = parsePrefix(word, family: family) else {
            throw UsageError.invalid(word, for: keyword, expected: expected(family, prefix: true))
        }
        return p
    }

    /// inet_addr_match(): do the first `bits` bits agree?
    static func match(_ a: [UInt8], _ b: [UInt8], bits: Int) -> Bool {
        var remaining = bits
        var i = 0
        while remaining > 0 {
            guard i < a.count, i < b.count else { return false }
            let n = min(8, remaining)
            let mask: UInt8 = n == 8 ? 0xff : ~(UInt8(0xff) >> UInt8(n))
            if (a[i] ^ b[i]) & mask != 0 { return false }
            remaining -= n; i += 1
        }
        return true
    }

    /// iproute2's default_scope(): host for 127.0.0.0/8, global otherwise.
    static func defaultScope(_ local: InetPrefix?) -> UInt8 {
        if let l = local, l.family == inet, let first = l.bytes.first, first == 127 { return UInt8(RT_SCOPE_HOST.rawValue) }
        return 0
    }
}
