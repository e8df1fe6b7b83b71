import CLinuxUAPI

/// struct genlmsghdr (linux/genetlink.h): the fixed header of every generic-netlink message.
public struct GenericHeader: Equatable, Sendable {
    /// The family's command (e.g. CTRL_CMD_GETFAMILY, L2TP_CMD_TUNNEL_CREATE).
    public var command: UInt8
    /// The family's interface version (genlmsghdr.version).
    public var version: UInt8

    /// A header for `command` at interface `version`.
    public init(command: UInt8, version: UInt8) { self.command = command; self.version = version }

    /// GENL_HDRLEN: cmd, version and a reserved u16.
    public static let size = Int(ISTHMUS_GENL_HDRLEN)

    /// Appends the header as the kernel lays it out (reserved bytes zero).
    public func encode(into b: inout [UInt8]) {
        b.append(command)
        b.append(version)
        b.append(contentsOf: repeatElement(0, count: Self.size - 2))
    }

    /// Reads the header from the start of a message payload; throws when it is too short.
    public init(decoding p: ArraySlice<UInt8>) throws {
        guard p.count >= Self.size else { throw WireError("genlmsghdr needs \(Self.size) bytes, got \(p.count)") }
        command = p[p.startIndex]
        version = p[p.startIndex + 1]
    }
}

/// A decoded generic-netlink message: family id (the nlmsg_type), header and top-level attributes.
public struct GenericMessage: Sendable {
    /// The family id the message was addressed to / came from.
    public var family: UInt16
    /// The genlmsghdr.
    public var header: GenericHeader
    /// Top-level attributes after the header (families in Isthmus have hdrsize 0).
    public var attributes: [Attribute]

    /// Decodes a netlink message as generic netlink. Never traps on malformed bytes.
    public init(_ m: NetlinkMessage) throws {
        let p = m.payload[...]
        family = m.type
        header = try GenericHeader(decoding: p)
        attributes = try Attribute.parse(p.dropFirst(GenericHeader.size))
    }

    /// Builds a generic-netlink request: nlmsg_type = family, genlmsghdr, then attributes. Seq is set by the socket.
    /// Throws `WireLengthError` when an attribute did not fit.
    public static func make(family: UInt16, command: UInt8, version: UInt8, flags: NetlinkFlags = .request,
                            attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        var h: [UInt8] = []
        GenericHeader(command: command, version: version).encode(into: &h)
        return try NetlinkMessage(type: family, flags: flags.rawValue, checkedPayload: h + attributes.encoded())
    }
}

/// The generic-netlink controller ("nlctrl", GENL_ID_CTRL), which maps family names to ids.
public enum GenericController {
    /// GENL_ID_CTRL: the controller's fixed family id.
    public static let familyID = UInt16(GENL_ID_CTRL)
    /// The controller interface version sent in requests.
    public static let version: UInt8 = 1

    /// CTRL_CMD_GETFAMILY for one family, by name (CTRL_ATTR_FAMILY_NAME, NUL-terminated).
    public static func getFamily(named name: String) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.string(CTRL_ATTR_FAMILY_NAME, name)
        return try GenericMessage.make(family: familyID, command: UInt8(CTRL_CMD_GETFAMILY), version: version, attributes: w)
    }

    /// CTRL_CMD_GETFAMILY for one family, by id (CTRL_ATTR_FAMILY_ID).
    public static func getFamily(id: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.u16(CTRL_ATTR_FAMILY_ID, id)
        return try GenericMessage.make(family: familyID, command: UInt8(CTRL_CMD_GETFAMILY), version: version, attributes: w)
    }

    /// CTRL_CMD_GETFAMILY without attributes, to be sent as a dump of every registered family.
    public static func dumpFamilies() throws -> NetlinkMessage {
        try GenericMessage.make(family: familyID, command: UInt8(CTRL_CMD_GETFAMILY), version: version)
    }
}

/// A generic-netlink family as the controller describes it (CTRL_CMD_NEWFAMILY reply).
public struct GenericFamily: Equatable, Sendable {
    /// One command the family implements (CTRL_ATTR_OPS entry).
    public struct Operation: Equatable, Sendable {
        /// CTRL_ATTR_OP_ID: the command number.
        public var id: UInt32
        /// CTRL_ATTR_OP_FLAGS: GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, ...
        public var flags: UInt32
        /// An operation entry.
        public init(id: UInt32, flags: UInt32) { self.id = id; self.flags = flags }
    }

    /// One multicast group of the family (CTRL_ATTR_MCAST_GROUPS entry).
    public struct MulticastGroup: Equatable, Sendable {
        /// CTRL_ATTR_MCAST_GRP_NAME.
        public var name: String
        /// CTRL_ATTR_MCAST_GRP_ID: the netlink group number to join.
        public var id: UInt32
        /// A multicast group entry.
        public init(name: String, id: UInt32) { self.name = name; self.id = id }
    }

    /// CTRL_ATTR_FAMILY_ID: the nlmsg_type to address the family with.
    public var id: UInt16
    /// CTRL_ATTR_FAMILY_NAME.
    public var name: String
    /// CTRL_ATTR_VERSION: the family's interface version.
    public var version: UInt32
    /// CTRL_ATTR_HDRSIZE: bytes of family header after genlmsghdr.
    public var headerSize: UInt32
    /// CTRL_ATTR_MAXATTR: highest attribute type the family accepts.
    public var maxAttribute: UInt32
    /// CTRL_ATTR_OPS.
    public var operations: [Operation]
    /// CTRL_ATTR_MCAST_GROUPS.
    public var multicastGroups: [MulticastGroup]

    /// A family description, e.g. for a fake controller.
    public init(id: UInt16, name: String, version: UInt32 = 1, headerSize: UInt32 = 0, maxAttribute: UInt32 = 0,
                operations: [Operation] = [], multicastGroups: [MulticastGroup] = []) {
        self.id = id; self.name = name; self.version = version; self.headerSize = headerSize
        self.maxAttribute = maxAttribute; self.operations = operations; self.multicastGroups = multicastGroups
    }

    /// Decodes a controller reply. Only CTRL_ATTR_FAMILY_ID is required; hostile bytes throw `WireError`.
    public init(decoding m: NetlinkMessage) throws {
        guard m.type == GenericController.familyID else {
            throw WireError("controller reply has nlmsg_type \(m.type), expected GENL_ID_CTRL \(GenericController.familyID)")
        }
        let g = try GenericMessage(m)
        let a = g.attributes
        guard let id = a.first(CTRL_ATTR_FAMILY_ID)?.u16 else { throw WireError("controller reply without CTRL_ATTR_FAMILY_ID") }
        self.id = id
        name = a.first(CTRL_ATTR_FAMILY_NAME)?.string ?? ""
        version = a.first(CTRL_ATTR_VERSION)?.u32 ?? 0
        headerSize = a.first(CTRL_ATTR_HDRSIZE)?.u32 ?? 0
        maxAttribute = a.first(CTRL_ATTR_MAXATTR)?.u32 ?? 0
        operations = []
        if let ops = a.first(CTRL_ATTR_OPS) {
            for entry in try ops.children() {
                let kids = try entry.children()
                guard let opID = kids.first(CTRL_ATTR_OP_ID)?.u32 else { continue }
                operations.append(Operation(id: opID, flags: kids.first(CTRL_ATTR_OP_FLAGS)?.u32 ?? 0))
            }
        }
        multicastGroups = []
        if let groups = a.first(CTRL_ATTR_MCAST_GROUPS) {
            for entry in try groups.children() {
                let kids = try entry.children()
                guard let gid = kids.first(CTRL_ATTR_MCAST_GRP_ID)?.u32,
                      let gname = kids.first(CTRL_ATTR_MCAST_GRP_NAME)?.string else { continue }
                multicastGroups.append(MulticastGroup(name: gname, id: gid))
            }
        }
    }

    /// Whether the family implements a command (per its CTRL_ATTR_OPS list).
    public func supports(command: UInt8) -> Bool { operations.contains { $0.id == UInt32(command) } }

    /// The id of a multicast group by name.
    public func multicastGroup(named name: String) -> UInt32? { multicastGroups.first { $0.name == name }?.id }

    /// Encodes the family as the controller's CTRL_CMD_NEWFAMILY reply would (attribute order as in the kernel's
    /// ctrl_fill_info) — for fakes and tests.
    public func replyMessage(seq: UInt32 = 0, pid: UInt32 = 0) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.string(CTRL_ATTR_FAMILY_NAME, name)
        w.u16(CTRL_ATTR_FAMILY_ID, id)
        w.u32(CTRL_ATTR_VERSION, version)
        w.u32(CTRL_ATTR_HDRSIZE, headerSize)
        w.u32(CTRL_ATTR_MAXATTR, maxAttribute)
        if !operations.isEmpty {
            w.nested(CTRL_ATTR_OPS) { ops in
                for (i, op) in operations.enumerated() {
                    ops.nested(i + 1) { e in
                        e.u32(CTRL_ATTR_OP_ID, op.id)
                        e.u32(CTRL_ATTR_OP_FLAGS, op.flags)
                    }
                }
            }
        }
        if !multicastGroups.isEmpty {
            w.nested(CTRL_ATTR_MCAST_GROUPS) { groups in
                for (i, grp) in multicastGroups.enumerated() {
                    groups.nested(i + 1) { e in
                        e.u32(CTRL_ATTR_MCAST_GRP_ID, grp.id)
                        e.string(CTRL_ATTR_MCAST_GRP_NAME, grp.name)
                    }
                }
            }
        }
        var m = try GenericMessage.make(family: GenericController.familyID, command: UInt8(CTRL_CMD_NEWFAMILY),
                                    version: 2, flags: [], attributes: w)
        m.seq = seq
        m.pid = pid
        return m
    }
}
