import CLinuxUAPI

/// struct ifinfomsg (linux/rtnetlink.h): the fixed header of RTM_*LINK messages.
public struct IfInfoHeader: Equatable, Sendable {
    public var family: UInt8 = 0
    public var type: UInt16 = 0
    public var index: Int32 = 0
    public var flags: UInt32 = 0
    public var change: UInt32 = 0
    public init(family: UInt8 = 0, type: UInt16 = 0, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        self.family = family; self.type = type; self.index = index; self.flags = flags; self.change = change
    }
    public static let size = 16

    public func encode(into b: inout [UInt8]) {
        b.append(family); b.append(0)
        Bytes.append(type, to: &b)
        Bytes.append(index, to: &b)
        Bytes.append(flags, to: &b)
        Bytes.append(change, to: &b)
    }

    public init(decoding p: ArraySlice<UInt8>) throws {
        guard p.count >= Self.size else { throw WireError("ifinfomsg needs 16 bytes, got \(p.count)") }
        family = p[p.startIndex]
        type = Bytes.load(UInt16.self, from: p, at: 2)!
        index = Bytes.load(Int32.self, from: p, at: 4)!
        flags = Bytes.load(UInt32.self, from: p, at: 8)!
        change = Bytes.load(UInt32.self, from: p, at: 12)!
    }
}

/// Builds rtnetlink/genetlink messages: a fixed family header followed by attributes.
public enum RTMessage {
    /// Assembles a message from its type, flags, fixed header bytes and attributes. Seq is set by the socket.
    /// Throws `WireLengthError` when an attribute did not fit (a request too long to send).
    public static func make(_ type: some BinaryInteger, flags: NetlinkFlags, header: [UInt8], attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        try NetlinkMessage(type: UInt16(type), flags: flags.rawValue, checkedPayload: header + attributes.encoded())
    }

    /// Convenience for RTM_*LINK.
    public static func link(_ type: some BinaryInteger, flags: NetlinkFlags, header: IfInfoHeader, attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        var h: [UInt8] = []
        header.encode(into: &h)
        return try make(type, flags: flags, header: h, attributes: attributes)
    }
}

/// A decoded RTM_NEWLINK: the header and its top-level attributes.
public struct LinkMessage: Sendable {
    public var header: IfInfoHeader
    public var attributes: [Attribute]

    public init(header: IfInfoHeader, attributes: [Attribute]) { self.header = header; self.attributes = attributes }

    public init(_ m: NetlinkMessage) throws {
        let p = m.payload[...]
        header = try IfInfoHeader(decoding: p)
        attributes = try Attribute.parse(p.dropFirst(IfInfoHeader.size))
    }

    public var name: String? { attributes.first(IFLA_IFNAME)?.string }
    public var mtu: UInt32? { attributes.first(IFLA_MTU)?.u32 }
    public var master: Int32? { attributes.first(IFLA_MASTER)?.i32 }
    public var link: Int32? { attributes.first(IFLA_LINK)?.i32 }
    public var group: UInt32? { attributes.first(IFLA_GROUP)?.u32 }
    public var address: [UInt8]? { attributes.first(IFLA_ADDRESS)?.bytes }
    public var broadcast: [UInt8]? { attributes.first(IFLA_BROADCAST)?.bytes }
    public var operstate: UInt8? { attributes.first(IFLA_OPERSTATE)?.u8 }
    public var txqlen: UInt32? { attributes.first(IFLA_TXQLEN)?.u32 }
    public var linkNetnsID: Int32? { attributes.first(IFLA_LINK_NETNSID)?.i32 }

    /// IFLA_LINKINFO's parts: kind, kind data, slave kind and slave data.
    public var linkInfo: (kind: String?, data: [Attribute], slaveKind: String?, slaveData: [Attribute])? {
        guard let li = attributes.first(IFLA_LINKINFO), let kids = try? li.children() else { return nil }
        return (kids.first(IFLA_INFO_KIND)?.string,
                (try? kids.first(IFLA_INFO_DATA)?.children()) ?? [],
                kids.first(IFLA_INFO_SLAVE_KIND)?.string,
                (try? kids.first(IFLA_INFO_SLAVE_DATA)?.children()) ?? [])
    }
}
