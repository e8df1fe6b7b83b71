#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address as raw network-order bytes.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    public init?(_ s: String) {
        var b4 = [UInt8](repeating: 0, count: 4)
        if !s.contains(":"), inet_pton(AF_INET, s, &b4) == 1 { self = .v4(b4); return }
        var b6 = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET6, s, &b6) == 1 { self = .v6(b6); return }
        return nil
    }

    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(Array(bytes))
        case 16: self = .v6(Array(bytes))
        default: return nil
        }
    }

    public var bytes: [UInt8] { switch self { case .v4(let b), .v6(let b): return b } }
    public var family: UInt8 { switch self { case .v4: return UInt8(AF_INET); case .v6: return UInt8(AF_INET6) } }
    public var isV6: Bool { if case .v6 = self { return true }; return false }
    public var bitLength: UInt8 { isV6 ? 128 : 32 }
    public var isMulticast: Bool {
        switch self { case .v4(let b): return b[0] & 0xf0 == 0xe0; case .v6(let b): return b[0] == 0xff }
    }
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    public var description: String {
        var buf = [CChar](repeating: 0, count: 64)
        let b = bytes
        let af = isV6 ? AF_INET6 : AF_INET
        guard inet_ntop(af, b, &buf, socklen_t(buf.count)) != nil else { return "?" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The IPv4 address as a host-order integer (big-endian bytes folded).
    public var v4Value: UInt32? {
        guard case .v4(let b) = self else { return nil }
        return b.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// An address with a prefix length ("10.0.0.1/24", "fe80::1/64"); a bare address gets the full length.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: UInt8
    public init(address: IPAddress, length: UInt8) { self.address = address; self.length = length }
    public init?(_ s: String) {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard let l = UInt8(parts[1]), l <= a.bitLength else { return nil }
            self.init(address: a, length: l)
        } else {
            self.init(address: a, length: a.bitLength)
        }
    }
    public var description: String { "\(address)/\(length)" }
}

/// A 6-byte Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init?(_ s: String) {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var b: [UInt8] = []
        for p in parts {
            guard (1...2).contains(p.count), let v = UInt8(p, radix: 16) else { return nil }
            b.append(v)
        }
        bytes = b
    }
    public static let zero = MACAddress(bytes: [0, 0, 0, 0, 0, 0])
    public var description: String {
        bytes.map { let h = String($0, radix: 16); return $0 < 16 ? "0" + h : h }.joined(separator: ":")
    }
}

/// Hardware address of any length (printed like iproute2's ll_addr_n2a: colon-separated hex).
public func formatHardwareAddress(_ b: some Collection<UInt8>) -> String {
    b.map { let h = String($0, radix: 16); return $0 < 16 ? "0" + h : h }.joined(separator: ":")
}
