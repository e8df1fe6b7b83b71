import CLinuxUAPI

/// struct fib_rule_hdr (linux/fib_rules.h): the fixed header of RTM_NEWRULE / RTM_DELRULE / RTM_GETRULE.
public struct RuleHeader: Equatable, Sendable {
    public var family: UInt8
    public var dstLength: UInt8
    public var srcLength: UInt8
    public var tos: UInt8
    /// The table when below 256; FRA_TABLE carries larger ids (and wins when present).
    public var table: UInt8
    /// FR_ACT_* (to table, goto, nop, blackhole, unreachable, prohibit).
    public var action: UInt8
    public var flags: UInt32

    public static let size = 12

    public init(family: UInt8 = 0, dstLength: UInt8 = 0, srcLength: UInt8 = 0, tos: UInt8 = 0, table: UInt8 = 0,
                action: UInt8 = 0, flags: UInt32 = 0) {
        self.family = family; self.dstLength = dstLength; self.srcLength = srcLength; self.tos = tos
        self.table = table; self.action = action; self.flags = flags
    }

    public func encode(into b: inout [UInt8]) {
        b += [family, dstLength, srcLength, tos, table, 0, 0, action]
        Bytes.append(flags, to: &b)
    }

    public init(decoding p: ArraySlice<UInt8>) throws {
        guard p.count >= Self.size, let f = Bytes.load(UInt32.self, from: p, at: 8) else {
            throw WireError("fib_rule_hdr needs \(Self.size) bytes, got \(p.count)")
        }
        let s = p.startIndex
        family = p[s]; dstLength = p[s + 1]; srcLength = p[s + 2]; tos = p[s + 3]; table = p[s + 4]; action = p[s + 7]
        flags = f
    }
}

/// One policy routing rule as the kernel reports it.
public struct RuleMessage: Sendable {
    public var header: RuleHeader
    public var attributes: [Attribute]

    public init(header: RuleHeader, attributes: [Attribute]) { self.header = header; self.attributes = attributes }

    /// Decodes RTM_NEWRULE / RTM_DELRULE; throws on a short header or malformed attributes.
    public init(_ m: NetlinkMessage) throws {
        header = try RuleHeader(decoding: m.payload[...])
        attributes = try Attribute.parse(m.payload.dropFirst(RuleHeader.size))
    }

    public func attribute<T: BinaryInteger>(_ type: T) -> Attribute? { attributes.first(type) }

    /// FRA_TABLE when present, else the header's table.
    public var table: UInt32 { attribute(FRA_TABLE)?.u32 ?? UInt32(header.table) }
}

extension RTMessage {
    public static func rule(_ type: some BinaryInteger, flags: NetlinkFlags, header: RuleHeader, attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        var h: [UInt8] = []
        header.encode(into: &h)
        return try make(type, flags: flags, header: h, attributes: attributes)
    }
}
