/// An IPv4 or IPv6 address, the one address type of Isthmus (netlink codecs, iproute2 words, site, lab and l2tp
/// configs), parsed and printed without Foundation or libc, exactly as glibc's `inet_pton`/`inet_ntop` do (iproute2
/// prints with `inet_ntop`, and its output is compared byte for byte): dotted quads (no leading zeros, which some
/// parsers read as octal), IPv6 groups with one `::` compression and an optional embedded IPv4 tail
/// (`::ffff:192.0.2.1`). Zone ids (`fe80::1%eth0`) are not accepted.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    public let bytes: [UInt8]

    public var isV6: Bool { bytes.count == 16 }
    public var familyName: String { isV6 ? "IPv6" : "IPv4" }
    /// 32 or 128.
    public var bitLength: UInt8 { isV6 ? 128 : 32 }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    public init?(_ text: String) {
        if let v4 = IPAddress.parseV4(Substring(text)) {
            bytes = v4
        } else if let v6 = IPAddress.parseV6(Substring(text)) {
            bytes = v6
        } else {
            return nil
        }
    }

    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
    public var isMulticast: Bool { isV6 ? bytes[0] == 0xff : (bytes[0] & 0xf0) == 0xe0 }

    /// The IPv4 address as a host-order integer (big-endian bytes folded).
    public var v4Value: UInt32? {
        guard !isV6 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func parseV4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.utf8.count <= 3, p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            if p.utf8.count > 1 && p.utf8.first == 0x30 { return nil }
            var v = 0
            for c in p.utf8 { v = v * 10 + Int(c - 0x30) }
            guard v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: Int(c - 0x30)
        case 0x41...0x46: Int(c - 0x41 + 10)
        case 0x61...0x66: Int(c - 0x61 + 10)
        default: nil
        }
    }

    /// Groups of one side of `::`; an IPv4 tail counts as two groups.
    private static func groups(_ u: ArraySlice<UInt8>, allowV4Tail: Bool) -> [UInt16]? {
        if u.isEmpty { return [] }
        let parts = u.split(separator: 0x3a, omittingEmptySubsequences: false)
        var out: [UInt16] = []
        for (i, p) in parts.enumerated() {
            if i == parts.count - 1, allowV4Tail, p.contains(0x2e) {
                guard let v4 = parseV4(Substring(decoding: p, as: UTF8.self)) else { return nil }
                out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                continue
            }
            guard !p.isEmpty, p.count <= 4 else { return nil }
            var v = 0
            for c in p {
                guard let h = hexValue(c) else { return nil }
                v = v * 16 + h
            }
            out.append(UInt16(v))
        }
        return out
    }

    static func parseV6(_ s: Substring) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.contains(0x3a), u.count <= 45 else { return nil }
        var gap: Int?
        var i = 0
        while i + 1 < u.count {
            if u[i] == 0x3a && u[i + 1] == 0x3a {
                if gap != nil { return nil }
                gap = i
                i += 2
            } else {
                i += 1
            }
        }
        var all: [UInt16]
        if let g = gap {
            guard let head = groups(u[0..<g], allowV4Tail: false),
                  let tail = groups(u[(g + 2)...], allowV4Tail: true),
                  head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let g = groups(u[...], allowV4Tail: true), g.count == 8 else { return nil }
            all = g
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    /// Dotted quad, or IPv6 text as glibc's `inet_ntop` writes it: lowercase hex, the longest run of two or more
    /// zero groups (the first of equal runs) as `::`, and an IPv4 tail for IPv4-compatible (`::192.0.2.1`) and
    /// IPv4-mapped (`::ffff:192.0.2.1`) addresses.
    public var description: String {
        func quad(_ b: ArraySlice<UInt8>) -> String { b.map(String.init).joined(separator: ".") }
        if !isV6 { return quad(bytes[...]) }
        let g = (0..<8).map { Int(bytes[2 * $0]) << 8 | Int(bytes[2 * $0 + 1]) }
        var best = (start: -1, len: 0)
        var i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > best.len && j - i >= 2 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
        if best.start == 0 && (best.len == 6 || (best.len == 5 && g[5] == 0xffff)) {
            return (best.len == 6 ? "::" : "::ffff:") + quad(bytes[12...])
        }
        if best.start < 0 { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.len)..<8)
    }
}

/// An address with a prefix length: `10.1.0.0/16`, `2001:db8::/32`, or an interface address `10.255.0.1/30`.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    /// At most `address.bitLength` when parsed; the initialiser takes what a caller computed.
    public var length: UInt8

    public init(address: IPAddress, length: UInt8) { self.address = address; self.length = length }

    /// iproute2's PREFIX: `ADDRESS/LENGTH`, or a bare address with the full length (`10.0.0.1` is `10.0.0.1/32`).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard let l = UInt8(parts[1]), l <= a.bitLength else { return nil }
            self.init(address: a, length: l)
        } else {
            self.init(address: a, length: a.bitLength)
        }
    }

    /// A config file's prefix: `ADDRESS/LENGTH` with the length required, in decimal digits only.
    public init?(cidr text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPAddress(String(parts[0])),
              !parts[1].isEmpty, parts[1].utf8.count <= 3, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = UInt8(parts[1]), n <= a.bitLength else { return nil }
        self.init(address: a, length: n)
    }

    /// The prefix with host bits cleared.
    public var network: IPPrefix {
        var b = address.bytes
        for i in 0..<b.count {
            let bitsHere = max(0, min(8, Int(length) - i * 8))
            b[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return IPPrefix(address: IPAddress(bytes: b)!, length: length)
    }

    /// No host bits set: a network, not an interface address.
    public var isNetwork: Bool { network == self }

    /// `address` lies inside this prefix.
    public func contains(_ a: IPAddress) -> Bool {
        guard a.isV6 == address.isV6 else { return false }
        return IPPrefix(address: a, length: length).network == network
    }

    /// The two prefixes share at least one address.
    public func overlaps(_ other: IPPrefix) -> Bool {
        guard other.address.isV6 == address.isV6 else { return false }
        let l = min(length, other.length)
        return IPPrefix(address: address, length: l).network == IPPrefix(address: other.address, length: l).network
    }

    public var description: String { "\(address)/\(length)" }
}
