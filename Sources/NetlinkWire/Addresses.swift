#if canImport(Glibc)
import Glibc
#endif
// The address types are Addresses' (shared with Sites and the config readers); NetlinkWire's API is written in them.
@_exported import Addresses

extension IPAddress {
    /// AF_INET or AF_INET6, as rtnetlink headers carry it.
    public var family: UInt8 { isV6 ? UInt8(AF_INET6) : UInt8(AF_INET) }
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
