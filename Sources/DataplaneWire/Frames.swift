/// Where the headers of an inner frame are: Ethernet (with up to two VLAN tags) or a bare IP packet (TUN),
/// then IPv4/IPv6, then TCP/UDP. Parsing never reads past `count` and never traps.
public struct FrameLayout: Equatable, Sendable {
    /// Offset of the IP header (0 for a TUN packet).
    public var ipOffset: Int
    /// 4 or 6.
    public var ipVersion: Int
    /// Offset of the transport header (after IPv4 options / the fixed IPv6 header).
    public var l4Offset: Int
    /// IP protocol / IPv6 next header of the transport (TCP = 6, UDP = 17), 0 for a fragment or an extension header.
    public var l4Protocol: UInt8
    /// Length of the IP packet per its header (total length / 40 + payload length).
    public var ipLength: Int

    public static let ethernetHeader = 14
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17

    /// Parses the frame at `p` of `count` bytes; `ethernet` false for TUN (the frame starts with IP).
    public static func parse(_ p: UnsafeRawPointer, count: Int, ethernet: Bool) -> FrameLayout? {
        var off = 0
        if ethernet {
            guard count >= 14 else { return nil }
            var type = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
            off = 14
            var tags = 0
            while (type == 0x8100 || type == 0x88a8) && tags < 2 {
                guard count >= off + 4 else { return nil }
                type = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: off + 2, as: UInt16.self))
                off += 4; tags += 1
            }
            guard type == 0x0800 || type == 0x86dd else { return nil }
        }
        guard count >= off + 1 else { return nil }
        let version = Int(p.load(fromByteOffset: off, as: UInt8.self) >> 4)
        if version == 4 {
            guard count >= off + 20 else { return nil }
            let ihl = Int(p.load(fromByteOffset: off, as: UInt8.self) & 0x0f) * 4
            guard ihl >= 20, count >= off + ihl else { return nil }
            let total = Int(UInt16(bigEndian: p.loadUnaligned(fromByteOffset: off + 2, as: UInt16.self)))
            let frag = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: off + 6, as: UInt16.self))
            let proto = (frag & 0x3fff) != 0 ? 0 : p.load(fromByteOffset: off + 9, as: UInt8.self)
            return FrameLayout(ipOffset: off, ipVersion: 4, l4Offset: off + ihl, l4Protocol: proto, ipLength: total)
        } else if version == 6 {
            guard count >= off + 40 else { return nil }
            let payload = Int(UInt16(bigEndian: p.loadUnaligned(fromByteOffset: off + 4, as: UInt16.self)))
            let next = p.load(fromByteOffset: off + 6, as: UInt8.self)
            let proto: UInt8 = (next == tcp || next == udp) ? next : 0
            return FrameLayout(ipOffset: off, ipVersion: 6, l4Offset: off + 40, l4Protocol: proto, ipLength: 40 + payload)
        }
        return nil
    }

    /// The IP source and destination as byte ranges relative to the frame start.
    public var sourceRange: Range<Int> { ipVersion == 4 ? ipOffset + 12 ..< ipOffset + 16 : ipOffset + 8 ..< ipOffset + 24 }
    public var destinationRange: Range<Int> { ipVersion == 4 ? ipOffset + 16 ..< ipOffset + 20 : ipOffset + 24 ..< ipOffset + 40 }

    /// A flow hash of the inner frame (addresses, protocol, ports), for UDP source-port entropy (RFC 7348 §5,
    /// RFC 8086 §3.2.1). Non-IP frames hash their MAC addresses and EtherType.
    public static func flowHash(_ p: UnsafeRawPointer, count: Int, ethernet: Bool) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        @inline(__always) func mix(_ b: UInt8) { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        if let l = parse(p, count: count, ethernet: ethernet) {
            for i in l.sourceRange { mix(p.load(fromByteOffset: i, as: UInt8.self)) }
            for i in l.destinationRange { mix(p.load(fromByteOffset: i, as: UInt8.self)) }
            mix(l.l4Protocol)
            if (l.l4Protocol == tcp || l.l4Protocol == udp) && count >= l.l4Offset + 4 {
                for i in 0..<4 { mix(p.load(fromByteOffset: l.l4Offset + i, as: UInt8.self)) }
            }
        } else {
            for i in 0..<min(count, 14) { mix(p.load(fromByteOffset: i, as: UInt8.self)) }
        }
        return h ^ (h >> 16)
    }
}
