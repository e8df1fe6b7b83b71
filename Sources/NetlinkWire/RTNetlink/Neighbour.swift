import CLinuxUAPI

/// struct ndmsg (linux/neighbour.h): the fixed header of RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH,
/// used both for ARP/ND neighbours (AF_INET/AF_INET6) and bridge FDB entries (AF_BRIDGE).
public struct NeighbourHeader: Equatable, Sendable {
    /// ndm_family: AF_INET, AF_INET6 or AF_BRIDGE.
    public var family: UInt8
    /// ndm_ifindex.
    public var ifindex: Int32
    /// ndm_state: NUD_* bits.
    public var state: UInt16
    /// ndm_flags: NTF_* bits.
    public var flags: UInt8
    /// ndm_type (RTN_* for neighbours; unused by the bridge).
    public var type: UInt8
    /// Creates a header; every field defaults to zero.
    public init(family: UInt8 = 0, ifindex: Int32 = 0, state: UInt16 = 0, flags: UInt8 = 0, type: UInt8 = 0) {
        self.family = family; self.ifindex = ifindex; self.state = state; self.flags = flags; self.type = type
    }
    /// sizeof(struct ndmsg).
    public static let size = 12

    /// Appends the 12 header bytes (the pad fields are zero).
    public func encode(into b: inout [UInt8]) {
        b += [family, 0, 0, 0]
        Bytes.append(ifindex, to: &b)
        Bytes.append(state, to: &b)
        b += [flags, type]
    }

    /// Decodes the header; throws WireError when fewer than 12 bytes are given.
    public init(decoding p: ArraySlice<UInt8>) throws {
        guard p.count >= Self.size, let idx = Bytes.load(Int32.self, from: p, at: 4),
              let st = Bytes.load(UInt16.self, from: p, at: 8) else {
            throw WireError("ndmsg needs \(Self.size) bytes, got \(p.count)")
        }
        let s = p.startIndex
        family = p[s]; ifindex = idx; state = st; flags = p[s + 10]; type = p[s + 11]
    }
}

/// A decoded RTM_NEWNEIGH / RTM_DELNEIGH: the header and its attributes, with typed accessors.
public struct NeighbourMessage: Sendable {
    /// struct ndmsg.
    public var header: NeighbourHeader
    /// The top-level NDA_* attributes in wire order.
    public var attributes: [Attribute]

    /// Wraps an already decoded header and attribute list.
    public init(header: NeighbourHeader, attributes: [Attribute]) { self.header = header; self.attributes = attributes }

    /// Decodes a message payload; throws WireError on truncated headers or attributes.
    public init(_ m: NetlinkMessage) throws {
        let p = m.payload[...]
        header = try NeighbourHeader(decoding: p)
        attributes = try Attribute.parse(p.dropFirst(NeighbourHeader.size))
    }

    /// NDA_DST: the protocol address (the remote VTEP for VXLAN FDB entries).
    public var destination: IPAddress? { attributes.first(NDA_DST).flatMap { IPAddress(bytes: $0.data) } }
    /// NDA_LLADDR raw bytes (any length).
    public var linkLayerAddress: [UInt8]? { attributes.first(NDA_LLADDR)?.bytes }
    /// NDA_VLAN.
    public var vlan: UInt16? { attributes.first(NDA_VLAN)?.u16 }
    /// NDA_PORT: UDP destination port, carried in network byte order.
    public var port: UInt16? { attributes.first(NDA_PORT)?.be16 }
    /// NDA_VNI.
    public var vni: UInt32? { attributes.first(NDA_VNI)?.u32 }
    /// NDA_SRC_VNI.
    public var sourceVNI: UInt32? { attributes.first(NDA_SRC_VNI)?.u32 }
    /// NDA_IFINDEX: the outgoing interface ("via") for VXLAN FDB entries.
    public var viaIndex: UInt32? { attributes.first(NDA_IFINDEX)?.u32 }
    /// NDA_MASTER: the bridge of a port's FDB entry.
    public var master: UInt32? { attributes.first(NDA_MASTER)?.u32 }
    /// NDA_LINK_NETNSID.
    public var linkNetnsID: Int32? { attributes.first(NDA_LINK_NETNSID)?.i32 }
    /// NDA_NH_ID.
    public var nextHopID: UInt32? { attributes.first(NDA_NH_ID)?.u32 }
    /// NDA_PROBES.
    public var probes: UInt32? { attributes.first(NDA_PROBES)?.u32 }
    /// NDA_PROTOCOL.
    public var proto: UInt8? { attributes.first(NDA_PROTOCOL)?.u8 }
    /// NDA_FLAGS_EXT: NTF_EXT_* bits.
    public var extendedFlags: UInt32? { attributes.first(NDA_FLAGS_EXT)?.u32 }
    /// struct nda_cacheinfo: (confirmed, used, updated, refcnt) in USER_HZ ticks; nil when absent or short.
    public var cacheInfo: (confirmed: UInt32, used: UInt32, updated: UInt32, refcnt: UInt32)? {
        guard let a = attributes.first(NDA_CACHEINFO),
              let c = Bytes.load(UInt32.self, from: a.data, at: 0), let u = Bytes.load(UInt32.self, from: a.data, at: 4),
              let up = Bytes.load(UInt32.self, from: a.data, at: 8), let r = Bytes.load(UInt32.self, from: a.data, at: 12) else { return nil }
        return (c, u, up, r)
    }
}

extension RTMessage {
    /// Builds an RTM_*NEIGH message from an ndmsg header and NDA_* attributes.
    public static func neighbour(_ type: some BinaryInteger, flags: NetlinkFlags, header: NeighbourHeader, attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        var h: [UInt8] = []
        header.encode(into: &h)
        return try make(type, flags: flags, header: h, attributes: attributes)
    }
}
