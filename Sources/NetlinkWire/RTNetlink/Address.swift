import CLinuxUAPI

/// struct ifaddrmsg (linux/if_addr.h): the fixed header of RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR.
public struct IfAddrHeader: Equatable, Sendable {
    /// AF_INET or AF_INET6.
    public var family: UInt8
    /// ifa_prefixlen.
    public var prefixLength: UInt8
    /// ifa_flags: the low 8 bits of IFA_F_*; IFA_FLAGS carries all 32.
    public var flags: UInt8
    /// ifa_scope (RT_SCOPE_*).
    public var scope: UInt8
    /// ifa_index: the interface the address is on.
    public var index: UInt32

    /// Creates a header; every field defaults to zero.
    public init(family: UInt8 = 0, prefixLength: UInt8 = 0, flags: UInt8 = 0, scope: UInt8 = 0, index: UInt32 = 0) {
        self.family = family; self.prefixLength = prefixLength; self.flags = flags; self.scope = scope; self.index = index
    }

    /// sizeof(struct ifaddrmsg).
    public static let size = 8

    /// Appends the 8 header bytes.
    public func encode(into b: inout [UInt8]) {
        b.append(family); b.append(prefixLength); b.append(flags); b.append(scope)
        Bytes.append(index, to: &b)
    }

    /// Decodes the header from the start of a message payload; throws when it is too short.
    public init(decoding p: ArraySlice<UInt8>) throws {
        guard p.count >= Self.size, let idx = Bytes.load(UInt32.self, from: p, at: 4) else {
            throw WireError("ifaddrmsg needs \(Self.size) bytes, got \(p.count)")
        }
        let s = p.startIndex
        family = p[s]; prefixLength = p[s + 1]; flags = p[s + 2]; scope = p[s + 3]; index = idx
    }
}

/// struct ifa_cacheinfo (linux/if_addr.h): address lifetimes in seconds and timestamps in hundredths of a second.
public struct AddressCacheInfo: Equatable, Sendable {
    /// ifa_prefered (the kernel's spelling): preferred lifetime, 0xffffffff = forever.
    public var preferred: UInt32
    /// ifa_valid: valid lifetime, 0xffffffff = forever.
    public var valid: UInt32
    /// cstamp: creation time.
    public var created: UInt32
    /// tstamp: last update time.
    public var updated: UInt32

    /// INFINITY_LIFE_TIME of iproute2 / the kernel's "forever".
    public static let forever = UInt32.max
    /// sizeof(struct ifa_cacheinfo).
    public static let size = 16

    /// Creates cache info; lifetimes default to forever, timestamps to zero (the kernel ignores them on input).
    public init(preferred: UInt32 = forever, valid: UInt32 = forever, created: UInt32 = 0, updated: UInt32 = 0) {
        self.preferred = preferred; self.valid = valid; self.created = created; self.updated = updated
    }

    /// Decodes the payload of IFA_CACHEINFO; nil when it is too short.
    public init?(_ data: ArraySlice<UInt8>) {
        guard let p = Bytes.load(UInt32.self, from: data, at: 0), let v = Bytes.load(UInt32.self, from: data, at: 4),
              let c = Bytes.load(UInt32.self, from: data, at: 8), let u = Bytes.load(UInt32.self, from: data, at: 12) else { return nil }
        preferred = p; valid = v; created = c; updated = u
    }

    /// The 16 payload bytes of IFA_CACHEINFO.
    public var bytes: [UInt8] {
        var b: [UInt8] = []
        Bytes.append(preferred, to: &b); Bytes.append(valid, to: &b)
        Bytes.append(created, to: &b); Bytes.append(updated, to: &b)
        return b
    }
}

/// A decoded RTM_NEWADDR / RTM_DELADDR: the header and its attributes, with typed accessors.
public struct AddressMessage: Sendable {
    /// The netlink message type (RTM_NEWADDR or RTM_DELADDR).
    public var type: UInt16
    /// struct ifaddrmsg.
    public var header: IfAddrHeader
    /// The top-level IFA_* attributes in wire order.
    public var attributes: [Attribute]

    /// Wraps an already decoded header and attribute list.
    public init(type: UInt16 = UInt16(RTM_NEWADDR), header: IfAddrHeader, attributes: [Attribute]) {
        self.type = type; self.header = header; self.attributes = attributes
    }

    /// Decodes a message; throws on a short header or malformed attributes, never traps.
    public init(_ m: NetlinkMessage) throws {
        let p = m.payload[...]
        type = m.type
        header = try IfAddrHeader(decoding: p)
        attributes = try Attribute.parse(p.dropFirst(IfAddrHeader.size))
    }

    private func ip(_ t: Int) -> IPAddress? { attributes.first(t).flatMap { IPAddress(bytes: $0.data) } }

    /// The interface's own address: IFA_LOCAL, else IFA_ADDRESS (IPv6 sends only IFA_ADDRESS; iproute2's print_addrinfo rule).
    public var local: IPAddress? { ip(Int(IFA_LOCAL)) ?? ip(Int(IFA_ADDRESS)) }
    /// The prefix address, or the peer on point-to-point: IFA_ADDRESS, else IFA_LOCAL.
    public var address: IPAddress? { ip(Int(IFA_ADDRESS)) ?? ip(Int(IFA_LOCAL)) }
    /// Whether IFA_ADDRESS differs from IFA_LOCAL, i.e. `address` is a point-to-point peer.
    public var hasPeer: Bool {
        guard let l = ip(Int(IFA_LOCAL)), let a = ip(Int(IFA_ADDRESS)) else { return false }
        return l != a
    }
    /// The peer, when IFA_ADDRESS differs from IFA_LOCAL.
    public var peer: IPAddress? { hasPeer ? ip(Int(IFA_ADDRESS)) : nil }
    /// IFA_BROADCAST.
    public var broadcast: IPAddress? { ip(Int(IFA_BROADCAST)) }
    /// IFA_ANYCAST.
    public var anycast: IPAddress? { ip(Int(IFA_ANYCAST)) }
    /// IFA_LABEL (IPv4 only: "eth0:1").
    public var label: String? { attributes.first(IFA_LABEL)?.string }
    /// IFA_RT_PRIORITY: metric of the prefix route.
    public var metric: UInt32? { attributes.first(IFA_RT_PRIORITY)?.u32 }
    /// All IFA_F_* flags: IFA_FLAGS when present, else the header's 8 bits.
    public var flags: UInt32 { attributes.first(IFA_FLAGS)?.u32 ?? UInt32(header.flags) }
    /// IFA_CACHEINFO.
    public var cacheInfo: AddressCacheInfo? { attributes.first(IFA_CACHEINFO).flatMap { AddressCacheInfo($0.data) } }

    /// Encodes as a netlink message (attributes in their stored order).
    public func message(flags: NetlinkFlags) throws -> NetlinkMessage {
        var h: [UInt8] = []
        header.encode(into: &h)
        var w = AttributeWriter()
        for a in attributes {
            w.raw(a.type, a.data, flags: (a.nested ? UInt16(NLA_F_NESTED) : 0) | (a.netByteOrder ? UInt16(NLA_F_NET_BYTEORDER) : 0))
        }
        return try RTMessage.make(type, flags: flags, header: h, attributes: w)
    }
}

extension RTMessage {
    /// Convenience for RTM_*ADDR.
    public static func address(_ type: some BinaryInteger, flags: NetlinkFlags, header: IfAddrHeader, attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        var h: [UInt8] = []
        header.encode(into: &h)
        return try make(type, flags: flags, header: h, attributes: attributes)
    }
}
