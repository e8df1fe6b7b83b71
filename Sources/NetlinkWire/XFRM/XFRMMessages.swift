import CLinuxUAPI

/// NETLINK_XFRM message types (XFRM_MSG_*). They share numbers with RTM_* — a different netlink protocol, so a
/// message's type means nothing without knowing which socket it came from.
public enum XFRMMessageType {
    public static let newSA = UInt16(XFRM_MSG_NEWSA)
    public static let delSA = UInt16(XFRM_MSG_DELSA)
    public static let getSA = UInt16(XFRM_MSG_GETSA)
    public static let newPolicy = UInt16(XFRM_MSG_NEWPOLICY)
    public static let delPolicy = UInt16(XFRM_MSG_DELPOLICY)
    public static let getPolicy = UInt16(XFRM_MSG_GETPOLICY)
    public static let allocSPI = UInt16(XFRM_MSG_ALLOCSPI)
    public static let expire = UInt16(XFRM_MSG_EXPIRE)
    public static let updPolicy = UInt16(XFRM_MSG_UPDPOLICY)
    public static let updSA = UInt16(XFRM_MSG_UPDSA)
    public static let polExpire = UInt16(XFRM_MSG_POLEXPIRE)
    public static let flushSA = UInt16(XFRM_MSG_FLUSHSA)
    public static let flushPolicy = UInt16(XFRM_MSG_FLUSHPOLICY)
    public static let newSADInfo = UInt16(XFRM_MSG_NEWSADINFO)
    public static let getSADInfo = UInt16(XFRM_MSG_GETSADINFO)
    public static let newSPDInfo = UInt16(XFRM_MSG_NEWSPDINFO)
    public static let getSPDInfo = UInt16(XFRM_MSG_GETSPDINFO)

    /// Whether a message of this type changes kernel state (what golden captures keep).
    public static func isMutating(_ t: UInt16) -> Bool {
        [newSA, delSA, newPolicy, delPolicy, updPolicy, updSA, flushSA, flushPolicy, newSPDInfo].contains(t)
    }
}

/// XFRMA_* attribute types (enum xfrm_attr_type_t).
public enum XFRMAttributeType {
    public static let algAuth = UInt16(XFRMA_ALG_AUTH.rawValue)
    public static let algCrypt = UInt16(XFRMA_ALG_CRYPT.rawValue)
    public static let algComp = UInt16(XFRMA_ALG_COMP.rawValue)
    public static let encap = UInt16(XFRMA_ENCAP.rawValue)
    public static let tmpl = UInt16(XFRMA_TMPL.rawValue)
    public static let sa = UInt16(XFRMA_SA.rawValue)
    public static let policy = UInt16(XFRMA_POLICY.rawValue)
    public static let secCtx = UInt16(XFRMA_SEC_CTX.rawValue)
    public static let ltimeVal = UInt16(XFRMA_LTIME_VAL.rawValue)
    public static let replayVal = UInt16(XFRMA_REPLAY_VAL.rawValue)
    public static let srcAddr = UInt16(XFRMA_SRCADDR.rawValue)
    public static let coAddr = UInt16(XFRMA_COADDR.rawValue)
    public static let lastUsed = UInt16(XFRMA_LASTUSED.rawValue)
    public static let policyType = UInt16(XFRMA_POLICY_TYPE.rawValue)
    public static let algAEAD = UInt16(XFRMA_ALG_AEAD.rawValue)
    public static let algAuthTrunc = UInt16(XFRMA_ALG_AUTH_TRUNC.rawValue)
    public static let mark = UInt16(XFRMA_MARK.rawValue)
    public static let tfcPad = UInt16(XFRMA_TFCPAD.rawValue)
    public static let replayESNVal = UInt16(XFRMA_REPLAY_ESN_VAL.rawValue)
    public static let saExtraFlags = UInt16(XFRMA_SA_EXTRA_FLAGS.rawValue)
    public static let proto = UInt16(XFRMA_PROTO.rawValue)
    public static let addressFilter = UInt16(XFRMA_ADDRESS_FILTER.rawValue)
    public static let offloadDev = UInt16(XFRMA_OFFLOAD_DEV.rawValue)
    public static let setMark = UInt16(XFRMA_SET_MARK.rawValue)
    public static let setMarkMask = UInt16(XFRMA_SET_MARK_MASK.rawValue)
    public static let ifID = UInt16(XFRMA_IF_ID.rawValue)
}

/// The XFRMA_* attributes of a state or policy message, decoded. An attribute too short for its structure is
/// dropped and counted in `malformed` (a hostile or buggy reply never traps; ip prints "(ERROR truncated)").
public struct XFRMAttributes: Equatable, Sendable {
    public var auth: XFRMAlgorithm?
    public var authTrunc: XFRMAlgorithm?
    public var crypt: XFRMAlgorithm?
    public var comp: XFRMAlgorithm?
    public var aead: XFRMAlgorithm?
    public var encap: XFRMEncapTemplate?
    public var templates: [XFRMUserTemplate]?
    public var securityContext: XFRMSecurityContext?
    public var replay: XFRMReplayState?
    public var replayESN: XFRMReplayStateESN?
    public var sourceAddress: [UInt8]?
    public var careOfAddress: [UInt8]?
    public var lastUsed: UInt64?
    public var policyType: UInt8?
    public var mark: XFRMMark?
    public var tfcPad: UInt32?
    public var extraFlags: UInt32?
    public var outputMark: UInt32?
    public var outputMarkMask: UInt32?
    public var ifID: UInt32?
    /// XFRMA_OFFLOAD_DEV (struct xfrm_user_offload): the device's ifindex, and flags (XFRM_OFFLOAD_INBOUND = 2).
    public var offloadIndex: Int32?
    public var offloadFlags: UInt8 = 0
    /// XFRMA_SA of XFRM_MSG_DELSA / XFRMA_POLICY of XFRM_MSG_DELPOLICY.
    public var state: XFRMUserSAInfo?
    public var policy: XFRMUserPolicyInfo?
    /// Attributes that were too short for their structure and were left out.
    public var malformed = 0
    /// Attribute types seen that this decoder does not model.
    public var unknownTypes: [UInt16] = []

    public init() {}

    public init(_ attrs: [Attribute]) {
        var seen = Set<UInt16>()
        for a in attrs {
            // The first of a type counts, as in ip's parse_rtattr(); the kernel sends each once.
            guard seen.insert(a.type).inserted else { continue }
            do { try take(a) } catch { malformed += 1 }
        }
    }

    private mutating func take(_ a: Attribute) throws {
        let d = a.data
        typealias T = XFRMAttributeType
        switch a.type {
        case T.algAuth: auth = try XFRMAlgorithm(decoding: d, kind: .plain)
        case T.algCrypt: crypt = try XFRMAlgorithm(decoding: d, kind: .plain)
        case T.algComp: comp = try XFRMAlgorithm(decoding: d, kind: .plain)
        case T.algAuthTrunc: authTrunc = try XFRMAlgorithm(decoding: d, kind: .truncated(0))
        case T.algAEAD: aead = try XFRMAlgorithm(decoding: d, kind: .aead(0))
        case T.encap: encap = try XFRMEncapTemplate(decoding: d)
        case T.tmpl:
            try FixedFields.need(XFRMUserTemplate.size, d, "XFRMA_TMPL")
            templates = XFRMUserTemplate.array(decoding: d)
        case T.secCtx: securityContext = try XFRMSecurityContext(decoding: d)
        case T.replayVal: replay = try XFRMReplayState(decoding: d)
        case T.replayESNVal: replayESN = try XFRMReplayStateESN(decoding: d)
        case T.srcAddr: try FixedFields.need(16, d, "xfrm_address_t"); sourceAddress = Array(d.prefix(16))
        case T.coAddr: try FixedFields.need(16, d, "xfrm_address_t"); careOfAddress = Array(d.prefix(16))
        case T.lastUsed: lastUsed = try Self.u64(a)
        case T.policyType: policyType = try XFRMUserPolicyType(decoding: d).type
        case T.mark: mark = try XFRMMark(decoding: d)
        case T.tfcPad: tfcPad = try Self.u32(a)
        case T.saExtraFlags: extraFlags = try Self.u32(a)
        case T.setMark: outputMark = try Self.u32(a)
        case T.setMarkMask: outputMarkMask = try Self.u32(a)
        case T.ifID: ifID = try Self.u32(a)
        case T.offloadDev:
            try FixedFields.need(5, d, "xfrm_user_offload")
            offloadIndex = Int32(bitPattern: FixedFields(d).u32(0)); offloadFlags = FixedFields(d).u8(4)
        case T.sa: state = try XFRMUserSAInfo(decoding: d)
        case T.policy: policy = try XFRMUserPolicyInfo(decoding: d)
        default: unknownTypes.append(a.type)
        }
    }

    static func u32(_ a: Attribute) throws -> UInt32 {
        guard let v = a.u32 else { throw WireError("attribute \(a.type) needs 4 bytes") }
        return v
    }
    static func u64(_ a: Attribute) throws -> UInt64 {
        guard let v = a.u64 else { throw WireError("attribute \(a.type) needs 8 bytes") }
        return v
    }
}

/// A state or a policy as the kernel reports it, with the fixed structure `Info` (XFRMStateMessage,
/// XFRMPolicyMessage).
public struct XFRMObjectMessage<Info: Equatable & Sendable>: Equatable, Sendable {
    public var type: UInt16
    public var info: Info
    public var attributes: XFRMAttributes
    /// XFRM_MSG_EXPIRE's or XFRM_MSG_POLEXPIRE's hard flag.
    public var hard: UInt8?

    public init(type: UInt16, info: Info, attributes: XFRMAttributes) {
        self.type = type; self.info = info; self.attributes = attributes
    }
}

/// A state as the kernel reports it: XFRM_MSG_NEWSA/UPDSA (a dump entry, a GET answer, an event), XFRM_MSG_DELSA
/// (usersa_id, the state in XFRMA_SA) or XFRM_MSG_EXPIRE (xfrm_user_expire: the state, then `hard`).
public typealias XFRMStateMessage = XFRMObjectMessage<XFRMUserSAInfo>

/// A policy as the kernel reports it: XFRM_MSG_NEWPOLICY/UPDPOLICY, XFRM_MSG_DELPOLICY (userpolicy_id, the policy
/// in XFRMA_POLICY) or XFRM_MSG_POLEXPIRE (the policy, then `hard`).
public typealias XFRMPolicyMessage = XFRMObjectMessage<XFRMUserPolicyInfo>

extension XFRMObjectMessage where Info == XFRMUserSAInfo {
    /// Throws WireError for a message that is not a state, or too short for its fixed part, or whose attribute
    /// stream does not parse.
    public init(_ m: NetlinkMessage) throws {
        type = m.type
        // struct xfrm_user_expire: usersa_info, u8 hard, padded to 232.
        (info, attributes, hard) = try XFRMObjectLayout(
            what: "an xfrm state", updates: [XFRMMessageType.newSA, XFRMMessageType.updSA],
            delete: XFRMMessageType.delSA, id: XFRMUserSAID.self, inDelete: \.state, missing: "XFRM_MSG_DELSA without XFRMA_SA",
            expire: XFRMMessageType.expire, expireName: "xfrm_user_expire", expireSize: 232).decode(m)
    }
}

extension XFRMObjectMessage where Info == XFRMUserPolicyInfo {
    /// Throws WireError for a message that is not a policy, or too short for its fixed part, or whose attribute
    /// stream does not parse.
    public init(_ m: NetlinkMessage) throws {
        type = m.type
        // struct xfrm_user_polexpire: userpolicy_info, u8 hard, padded to 176.
        (info, attributes, hard) = try XFRMObjectLayout(
            what: "an xfrm policy", updates: [XFRMMessageType.newPolicy, XFRMMessageType.updPolicy],
            delete: XFRMMessageType.delPolicy, id: XFRMUserPolicyID.self, inDelete: \.policy,
            missing: "XFRM_MSG_DELPOLICY without XFRMA_POLICY",
            expire: XFRMMessageType.polExpire, expireName: "xfrm_user_polexpire", expireSize: 176).decode(m)
    }
}

/// How the messages about a state or a policy lay out; they differ only in structures, types and sizes. NEW/UPD:
/// the info structure, then attributes. DEL: the id structure, then attributes that carry the info. (POL)EXPIRE:
/// the info, u8 hard, padding to `expireSize`, then attributes.
private struct XFRMObjectLayout<Info: FixedStruct> {
    let what: String
    let updates: [UInt16]
    let delete: UInt16
    let id: any FixedStruct.Type
    let inDelete: KeyPath<XFRMAttributes, Info?>
    /// The error of a DEL without its info attribute.
    let missing: String
    let expire: UInt16
    let expireName: String
    let expireSize: Int

    func decode(_ m: NetlinkMessage) throws -> (Info, XFRMAttributes, UInt8?) {
        let p = m.payload[...]
        if updates.contains(m.type) {
            let info = try Info(decodingFields: p)
            return (info, XFRMAttributes(try Attribute.parse(p.dropFirst(Bytes.align4(Info.size)))), nil)
        } else if m.type == delete {
            try FixedFields.need(id.size, p, id.cName)
            let attributes = XFRMAttributes(try Attribute.parse(p.dropFirst(id.size)))
            guard let info = attributes[keyPath: inDelete] else { throw WireError(missing) }
            return (info, attributes, nil)
        } else if m.type == expire {
            let info = try Info(decodingFields: p)
            try FixedFields.need(Info.size + 1, p, expireName)
            return (info, XFRMAttributes(try Attribute.parse(p.dropFirst(expireSize))), p[p.startIndex + Info.size])
        }
        throw WireError("message type \(m.type) is not \(what)")
    }
}

/// XFRM_MSG_NEWSADINFO (the answer to GETSADINFO): the number of states and the hash table's buckets.
public struct XFRMSADInfo: Equatable, Sendable {
    public var count: UInt32?
    public var buckets: UInt32?
    public var maxBuckets: UInt32?
    public init(_ m: NetlinkMessage) throws {
        guard m.type == XFRMMessageType.newSADInfo else { throw WireError("message type \(m.type) is not SAD info") }
        try FixedFields.need(4, m.payload[...], "SAD info flags")
        let attrs = try Attribute.parse(m.payload[...].dropFirst(4))
        count = attrs.first(UInt16(XFRMA_SAD_CNT.rawValue))?.u32
        if let h = attrs.first(UInt16(XFRMA_SAD_HINFO.rawValue)), h.data.count >= 8 {
            buckets = Bytes.load(UInt32.self, from: h.data, at: 0); maxBuckets = Bytes.load(UInt32.self, from: h.data, at: 4)
        }
    }
}

/// XFRM_MSG_NEWSPDINFO (the answer to GETSPDINFO): policy counts per direction, main and socket policies.
public struct XFRMSPDInfo: Equatable, Sendable {
    /// in, out, fwd, in (socket), out (socket), fwd (socket); nil when XFRMA_SPD_INFO is missing or short.
    public var counts: [UInt32]?
    public var buckets: UInt32?
    public var maxBuckets: UInt32?
    /// IPv4 and IPv6 hash thresholds (local bits, remote bits).
    public var thresholds4: (UInt8, UInt8)?
    public var thresholds6: (UInt8, UInt8)?
    public init(_ m: NetlinkMessage) throws {
        guard m.type == XFRMMessageType.newSPDInfo else { throw WireError("message type \(m.type) is not SPD info") }
        try FixedFields.need(4, m.payload[...], "SPD info flags")
        let attrs = try Attribute.parse(m.payload[...].dropFirst(4))
        if let i = attrs.first(UInt16(XFRMA_SPD_INFO.rawValue)), i.data.count >= 24 {
            counts = (0..<6).map { Bytes.load(UInt32.self, from: i.data, at: 4 * $0) ?? 0 }
        }
        if let h = attrs.first(UInt16(XFRMA_SPD_HINFO.rawValue)), h.data.count >= 8 {
            buckets = Bytes.load(UInt32.self, from: h.data, at: 0); maxBuckets = Bytes.load(UInt32.self, from: h.data, at: 4)
        }
        if let t = attrs.first(UInt16(XFRMA_SPD_IPV4_HTHRESH.rawValue)), t.data.count >= 2 { thresholds4 = (t.data[t.data.startIndex], t.data[t.data.startIndex + 1]) }
        if let t = attrs.first(UInt16(XFRMA_SPD_IPV6_HTHRESH.rawValue)), t.data.count >= 2 { thresholds6 = (t.data[t.data.startIndex], t.data[t.data.startIndex + 1]) }
    }
    public static func == (l: XFRMSPDInfo, r: XFRMSPDInfo) -> Bool {
        l.counts == r.counts && l.buckets == r.buckets && l.maxBuckets == r.maxBuckets
            && l.thresholds4.map { [$0.0, $0.1] } == r.thresholds4.map { [$0.0, $0.1] }
            && l.thresholds6.map { [$0.0, $0.1] } == r.thresholds6.map { [$0.0, $0.1] }
    }
}

/// Builds NETLINK_XFRM requests: a fixed structure followed by XFRMA_* attributes.
public enum XFRMMessage {
    public static func make(_ type: UInt16, flags: NetlinkFlags, header: [UInt8], attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        try NetlinkMessage(type: type, flags: flags.rawValue, checkedPayload: header + attributes.encoded())
    }
}
