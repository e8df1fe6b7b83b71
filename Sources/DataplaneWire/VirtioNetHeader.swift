import CLinuxUAPI

/// struct virtio_net_hdr (linux/virtio_net.h), the 10 bytes before every frame on a TAP/TUN opened with
/// IFF_VNET_HDR: checksum and segmentation offload metadata, little-endian (the TAP's default on x86 and arm64).
public struct VirtioNetHeader: Equatable, Sendable {
    public static let size = 10
    public static let needsChecksum = UInt8(VIRTIO_NET_HDR_F_NEEDS_CSUM)
    public static let dataValid = UInt8(VIRTIO_NET_HDR_F_DATA_VALID)
    public static let gsoNone = UInt8(VIRTIO_NET_HDR_GSO_NONE)
    public static let gsoTCPv4 = UInt8(VIRTIO_NET_HDR_GSO_TCPV4)
    public static let gsoTCPv6 = UInt8(VIRTIO_NET_HDR_GSO_TCPV6)
    public static let gsoUDP = UInt8(VIRTIO_NET_HDR_GSO_UDP)
    public static let gsoECN = UInt8(VIRTIO_NET_HDR_GSO_ECN)

    public var flags: UInt8 = 0
    public var gsoType: UInt8 = 0
    public var headerLength: UInt16 = 0
    public var gsoSize: UInt16 = 0
    public var checksumStart: UInt16 = 0
    public var checksumOffset: UInt16 = 0

    public init(flags: UInt8 = 0, gsoType: UInt8 = 0, headerLength: UInt16 = 0, gsoSize: UInt16 = 0,
                checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0) {
        self.flags = flags; self.gsoType = gsoType; self.headerLength = headerLength; self.gsoSize = gsoSize
        self.checksumStart = checksumStart; self.checksumOffset = checksumOffset
    }

    public init(_ p: UnsafeRawPointer) {
        self.init(flags: p.load(as: UInt8.self), gsoType: p.load(fromByteOffset: 1, as: UInt8.self),
                  headerLength: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)),
                  gsoSize: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)),
                  checksumStart: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self)),
                  checksumOffset: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
    }

    public func write(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: flags, as: UInt8.self)
        p.storeBytes(of: gsoType, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: headerLength.littleEndian, toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: gsoSize.littleEndian, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: checksumStart.littleEndian, toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: checksumOffset.littleEndian, toByteOffset: 8, as: UInt16.self)
    }

    /// The segmentation kind without the ECN bit.
    public var gsoKind: UInt8 { gsoType & ~Self.gsoECN }
}
