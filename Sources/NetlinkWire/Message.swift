import CLinuxUAPI

/// A netlink message: struct nlmsghdr plus its payload (family header + attributes).
public struct NetlinkMessage: Equatable, Sendable {
    public var type: UInt16
    public var flags: UInt16
    public var seq: UInt32
    public var pid: UInt32
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16, seq: UInt32 = 0, pid: UInt32 = 0, payload: [UInt8] = []) {
        self.type = type; self.flags = flags; self.seq = seq; self.pid = pid; self.payload = payload
    }

    public static let headerLength = 16

    /// A request built from encoded parts: throws `WireLengthError` when the payload does not fit nlmsg_len (u32).
    public init(type: UInt16, flags: UInt16, checkedPayload payload: [UInt8]) throws {
        guard payload.count <= WireLengthError.messageLimit else {
            throw WireLengthError(attributeType: nil, length: payload.count, limit: WireLengthError.messageLimit)
        }
        self.init(type: type, flags: flags, payload: payload)
    }

    /// Wire bytes, padded to NLMSG_ALIGNTO.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Bytes.align4(Self.headerLength + payload.count))
        encode(into: &out)
        return out
    }

    public func encode(into out: inout [UInt8]) {
        let len = Self.headerLength + payload.count
        Bytes.append(UInt32(len), to: &out)
        Bytes.append(type, to: &out)
        Bytes.append(flags, to: &out)
        Bytes.append(seq, to: &out)
        Bytes.append(pid, to: &out)
        out.append(contentsOf: payload)
        let pad = Bytes.align4(len) - len
        if pad > 0 { out.append(contentsOf: repeatElement(0, count: pad)) }
    }

    /// Splits a datagram into messages. Throws on a length that does not fit; never traps.
    public static func parse(_ bytes: ArraySlice<UInt8>) throws -> [NetlinkMessage] {
        var out: [NetlinkMessage] = []
        var off = bytes.startIndex
        while bytes.endIndex - off >= headerLength {
            let rel = off - bytes.startIndex
            let len = Int(Bytes.load(UInt32.self, from: bytes, at: rel)!)
            guard len >= headerLength, len <= bytes.endIndex - off else {
                throw WireError("message length \(len) does not fit in \(bytes.endIndex - off) bytes", offset: rel)
            }
            out.append(NetlinkMessage(
                type: Bytes.load(UInt16.self, from: bytes, at: rel + 4)!,
                flags: Bytes.load(UInt16.self, from: bytes, at: rel + 6)!,
                seq: Bytes.load(UInt32.self, from: bytes, at: rel + 8)!,
                pid: Bytes.load(UInt32.self, from: bytes, at: rel + 12)!,
                payload: Array(bytes[(off + headerLength)..<(off + len)])))
            off += min(Bytes.align4(len), bytes.endIndex - off)
        }
        if off != bytes.endIndex { throw WireError("trailing \(bytes.endIndex - off) bytes", offset: off - bytes.startIndex) }
        return out
    }
    public static func parse(_ bytes: [UInt8]) throws -> [NetlinkMessage] { try parse(bytes[...]) }
}

/// Netlink header flags (NLM_F_*), from linux/netlink.h.
public struct NetlinkFlags: OptionSet, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let request = NetlinkFlags(rawValue: UInt16(NLM_F_REQUEST))
    public static let multi = NetlinkFlags(rawValue: UInt16(NLM_F_MULTI))
    public static let ack = NetlinkFlags(rawValue: UInt16(NLM_F_ACK))
    public static let echo = NetlinkFlags(rawValue: UInt16(NLM_F_ECHO))
    public static let dumpIntr = NetlinkFlags(rawValue: UInt16(NLM_F_DUMP_INTR))
    public static let root = NetlinkFlags(rawValue: UInt16(NLM_F_ROOT))
    public static let match = NetlinkFlags(rawValue: UInt16(NLM_F_MATCH))
    public static let dump: NetlinkFlags = [.root, .match]
    public static let replace = NetlinkFlags(rawValue: UInt16(NLM_F_REPLACE))
    public static let excl = NetlinkFlags(rawValue: UInt16(NLM_F_EXCL))
    public static let create = NetlinkFlags(rawValue: UInt16(NLM_F_CREATE))
    public static let append = NetlinkFlags(rawValue: UInt16(NLM_F_APPEND))
    public static let bulk = NetlinkFlags(rawValue: UInt16(NLM_F_BULK))
    /// On NLMSG_ERROR: the echoed request was capped / ext-ack TLVs follow.
    public static let capped = NetlinkFlags(rawValue: UInt16(NLM_F_CAPPED))
    public static let ackTLVs = NetlinkFlags(rawValue: UInt16(NLM_F_ACK_TLVS))
}

public enum NetlinkControl {
    public static let noop = UInt16(NLMSG_NOOP)
    public static let error = UInt16(NLMSG_ERROR)
    public static let done = UInt16(NLMSG_DONE)
    public static let overrun = UInt16(NLMSG_OVERRUN)
}

/// The payload of NLMSG_ERROR: errno (0 = ACK) plus extended-ACK text and offset when the kernel gave them.
public struct NetlinkErrorPayload: Equatable, Sendable {
    /// Positive errno; 0 means success (an ACK).
    public var errno: Int32
    /// Sequence number of the request this answers (from the echoed header).
    public var requestSeq: UInt32
    public var requestType: UInt16
    public var extAckMessage: String?
    public var extAckOffset: UInt32?
    /// The kernel's hint of which attribute was missing (NLMSGERR_ATTR_MISS_TYPE), newer kernels only.
    public var missingAttribute: UInt32?

    public init(errno: Int32, requestSeq: UInt32 = 0, requestType: UInt16 = 0, extAckMessage: String? = nil, extAckOffset: UInt32? = nil, missingAttribute: UInt32? = nil) {
        self.errno = errno; self.requestSeq = requestSeq; self.requestType = requestType
        self.extAckMessage = extAckMessage; self.extAckOffset = extAckOffset; self.missingAttribute = missingAttribute
    }

    public init(message m: NetlinkMessage) throws {
        let p = m.payload[...]
        guard let err = Bytes.load(Int32.self, from: p),
              let origLen = Bytes.load(UInt32.self, from: p, at: 4),
              let origType = Bytes.load(UInt16.self, from: p, at: 8),
              let origSeq = Bytes.load(UInt32.self, from: p, at: 12) else {
            throw WireError("NLMSG_ERROR shorter than struct nlmsgerr")
        }
        self.init(errno: -err, requestSeq: origSeq, requestType: origType)
        let flags = NetlinkFlags(rawValue: m.flags)
        guard flags.contains(.ackTLVs) else { return }
        // struct nlmsgerr is int error + struct nlmsghdr msg; the echoed payload follows unless capped.
        var tlvStart = 4 + NetlinkMessage.headerLength
        if !flags.contains(.capped) { tlvStart = 4 + Bytes.align4(Int(origLen)) }
        guard tlvStart <= p.count else { throw WireError("NLMSG_ERROR TLVs start past the end", offset: tlvStart) }
        let attrs = try Attribute.parse(p[(p.startIndex + tlvStart)...])
        extAckMessage = attrs.first(NLMSGERR_ATTR_MSG.rawValue)?.string
        extAckOffset = attrs.first(NLMSGERR_ATTR_OFFS.rawValue)?.u32
        missingAttribute = attrs.first(NLMSGERR_ATTR_MISS_TYPE.rawValue)?.u32
    }

    /// Encodes as the kernel would (capped, with TLVs) — used by fakes and tests.
    public func message(seq: UInt32, pid: UInt32 = 0) -> NetlinkMessage {
        var p: [UInt8] = []
        Bytes.append(-errno, to: &p)
        Bytes.append(UInt32(NetlinkMessage.headerLength), to: &p)
        Bytes.append(requestType, to: &p)
        Bytes.append(UInt16(0), to: &p)
        Bytes.append(requestSeq, to: &p)
        Bytes.append(pid, to: &p)
        var flags: NetlinkFlags = [.capped]
        var w = AttributeWriter()
        if let extAckMessage { w.string(NLMSGERR_ATTR_MSG.rawValue, extAckMessage) }
        if let extAckOffset { w.u32(NLMSGERR_ATTR_OFFS.rawValue, extAckOffset) }
        if !w.bytes.isEmpty { flags.insert(.ackTLVs); p += w.bytes }
        return NetlinkMessage(type: NetlinkControl.error, flags: flags.rawValue, seq: seq, pid: pid, payload: p)
    }
}
