import CLinuxUAPI

// The fixed structures of NETLINK_XFRM (linux/xfrm.h), each a table of fields (FixedStruct) at the offsets the
// kernel's x86-64/arm64 layout has (checked against the C header by XFRMCodecTests), all encoded and decoded by
// one codec. Decoders take a slice, throw a WireError when it is shorter than the structure, and never trap.
// Fields in network byte order on the wire (SPIs, ports, xfrm_address_t) are kept here as values: `spi` and
// ports in host order, addresses as the 16 raw bytes of xfrm_address_t (an IPv4 address in the first 4).

/// Reads fixed fields from a slice already checked to be long enough (a short read gives 0, never a trap).
struct FixedFields {
    let s: ArraySlice<UInt8>
    init(_ s: ArraySlice<UInt8>) { self.s = s }
    func u8(_ o: Int) -> UInt8 { o >= 0 && o < s.count ? s[s.startIndex + o] : 0 }
    func u16(_ o: Int) -> UInt16 { Bytes.load(UInt16.self, from: s, at: o) ?? 0 }
    func u32(_ o: Int) -> UInt32 { Bytes.load(UInt32.self, from: s, at: o) ?? 0 }
    func bytes(_ o: Int, _ n: Int) -> [UInt8] {
        guard o >= 0, n >= 0, o + n <= s.count else { return [UInt8](repeating: 0, count: max(n, 0)) }
        return Array(s[(s.startIndex + o)..<(s.startIndex + o + n)])
    }
    static func need(_ n: Int, _ s: ArraySlice<UInt8>, _ what: String) throws {
        guard s.count >= n else { throw WireError("\(what) needs \(n) bytes, got \(s.count)") }
    }
}

extension Array where Element == UInt8 {
    mutating func pad(to n: Int) { if count < n { append(contentsOf: repeatElement(0, count: n - count)) } }
    /// Exactly `n` bytes: cut or zero-filled (xfrm_address_t, alg_name).
    static func fixed(_ b: [UInt8], _ n: Int) -> [UInt8] { b.count >= n ? Array(b.prefix(n)) : b + [UInt8](repeating: 0, count: n - b.count) }
}

/// XFRM_INF: "no limit" in struct xfrm_lifetime_cfg.
public let xfrmInfinity = UInt64.max

/// One field of a fixed structure: its offset and how it is written and read. Encoding appends the fields in
/// offset order and zero-fills the holes and the tail, so the padding the C layout has is written as zeros.
struct FixedField<S> {
    let offset: Int
    let write: (S, inout [UInt8]) -> Void
    let read: (inout S, FixedFields) throws -> Void

    /// An integer in host byte order.
    static func int<T: FixedWidthInteger>(_ k: WritableKeyPath<S, T>, _ o: Int) -> Self {
        Self(offset: o, write: { Bytes.append($0[keyPath: k], to: &$1) },
             read: { $0[keyPath: k] = Bytes.load(T.self, from: $1.s, at: o) ?? 0 })
    }
    /// An integer in network byte order (SPIs, ports).
    static func be<T: FixedWidthInteger>(_ k: WritableKeyPath<S, T>, _ o: Int) -> Self {
        Self(offset: o, write: { Bytes.appendBE($0[keyPath: k], to: &$1) },
             read: { $0[keyPath: k] = Bytes.loadBE(T.self, from: $1.s, at: o) ?? 0 })
    }
    /// `n` raw bytes, cut or zero-filled (xfrm_address_t).
    static func bytes(_ k: WritableKeyPath<S, [UInt8]>, _ o: Int, _ n: Int = 16) -> Self {
        Self(offset: o, write: { $1 += [UInt8].fixed($0[keyPath: k], n) }, read: { $0[keyPath: k] = $1.bytes(o, n) })
    }
    /// A fixed structure inside this one.
    static func nested<T: FixedStruct>(_ k: WritableKeyPath<S, T>, _ o: Int) -> Self {
        Self(offset: o, write: { $0[keyPath: k].encodeFields(into: &$1) },
             read: { $0[keyPath: k] = try T(decodingFields: $1.s.dropFirst(o)) })
    }
}

/// A fixed-size structure of linux/xfrm.h described by its table of fields: one codec serves them all, so the
/// offsets are written down once per structure.
protocol FixedStruct {
    static var size: Int { get }
    /// The C name, for the error of a too-short payload.
    static var cName: String { get }
    static var fields: [FixedField<Self>] { get }
    init()
}

extension FixedStruct {
    func encodeFields(into b: inout [UInt8]) {
        let start = b.count
        for f in Self.fields {
            b.pad(to: start + f.offset)
            f.write(self, &b)
        }
        b.pad(to: start + Self.size)
    }
    /// Throws WireError when `s` is shorter than the structure.
    init(decodingFields s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, Self.cName)
        self.init()
        let f = FixedFields(s)
        for field in Self.fields { try field.read(&self, f) }
    }
}

/// struct xfrm_selector (56 bytes): which packets a policy or state applies to.
public struct XFRMSelector: Equatable, Sendable, FixedStruct {
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var saddr = [UInt8](repeating: 0, count: 16)
    public var dport: UInt16 = 0
    public var dportMask: UInt16 = 0
    public var sport: UInt16 = 0
    public var sportMask: UInt16 = 0
    public var family: UInt16 = 0
    public var prefixlenD: UInt8 = 0
    public var prefixlenS: UInt8 = 0
    public var proto: UInt8 = 0
    public var ifindex: Int32 = 0
    public var user: UInt32 = 0
    public static let size = 56
    static let cName = "xfrm_selector"
    static var fields: [FixedField<Self>] {
        [.bytes(\.daddr, 0), .bytes(\.saddr, 16), .be(\.dport, 32), .be(\.dportMask, 34), .be(\.sport, 36),
         .be(\.sportMask, 38), .int(\.family, 40), .int(\.prefixlenD, 42), .int(\.prefixlenS, 43), .int(\.proto, 44),
         .int(\.ifindex, 48), .int(\.user, 52)]
    }
    public init() {}

    public var isZero: Bool { self == XFRMSelector() }

    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_id (24 bytes): destination, SPI, IPsec protocol.
public struct XFRMID: Equatable, Sendable, FixedStruct {
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var spi: UInt32 = 0
    public var proto: UInt8 = 0
    public static let size = 24
    static let cName = "xfrm_id"
    static var fields: [FixedField<Self>] { [.bytes(\.daddr, 0), .be(\.spi, 16), .int(\.proto, 20)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_lifetime_cfg (64 bytes): byte/packet limits and add/use expiry times (XFRM_INF = none).
public struct XFRMLifetimeConfig: Equatable, Sendable, FixedStruct {
    public var softByteLimit: UInt64 = 0
    public var hardByteLimit: UInt64 = 0
    public var softPacketLimit: UInt64 = 0
    public var hardPacketLimit: UInt64 = 0
    public var softAddExpires: UInt64 = 0
    public var hardAddExpires: UInt64 = 0
    public var softUseExpires: UInt64 = 0
    public var hardUseExpires: UInt64 = 0
    public static let size = 64
    static let cName = "xfrm_lifetime_cfg"
    static var fields: [FixedField<Self>] {
        [.int(\.softByteLimit, 0), .int(\.hardByteLimit, 8), .int(\.softPacketLimit, 16), .int(\.hardPacketLimit, 24),
         .int(\.softAddExpires, 32), .int(\.hardAddExpires, 40), .int(\.softUseExpires, 48), .int(\.hardUseExpires, 56)]
    }
    public init() {}
    /// What `ip xfrm ... add` starts from: byte and packet limits infinite, no expiry.
    public static var unlimited: XFRMLifetimeConfig {
        var l = XFRMLifetimeConfig()
        l.softByteLimit = xfrmInfinity; l.hardByteLimit = xfrmInfinity
        l.softPacketLimit = xfrmInfinity; l.hardPacketLimit = xfrmInfinity
        return l
    }
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_lifetime_cur (32 bytes): what a state or policy has used, and when it was added and last used.
public struct XFRMLifetimeCurrent: Equatable, Sendable, FixedStruct {
    public var bytes: UInt64 = 0
    public var packets: UInt64 = 0
    public var addTime: UInt64 = 0
    public var useTime: UInt64 = 0
    public static let size = 32
    static let cName = "xfrm_lifetime_cur"
    static var fields: [FixedField<Self>] { [.int(\.bytes, 0), .int(\.packets, 8), .int(\.addTime, 16), .int(\.useTime, 24)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_stats (12 bytes).
public struct XFRMStats: Equatable, Sendable, FixedStruct {
    public var replayWindow: UInt32 = 0
    public var replay: UInt32 = 0
    public var integrityFailed: UInt32 = 0
    public static let size = 12
    static let cName = "xfrm_stats"
    static var fields: [FixedField<Self>] { [.int(\.replayWindow, 0), .int(\.replay, 4), .int(\.integrityFailed, 8)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_usersa_info (224 bytes): the fixed part of XFRM_MSG_NEWSA/UPDSA and XFRMA_SA.
public struct XFRMUserSAInfo: Equatable, Sendable, FixedStruct {
    public var selector = XFRMSelector()
    public var id = XFRMID()
    public var saddr = [UInt8](repeating: 0, count: 16)
    public var lifetime = XFRMLifetimeConfig()
    public var current = XFRMLifetimeCurrent()
    public var stats = XFRMStats()
    public var seq: UInt32 = 0
    public var reqid: UInt32 = 0
    public var family: UInt16 = 0
    public var mode: UInt8 = 0
    public var replayWindow: UInt8 = 0
    public var flags: UInt8 = 0
    public static let size = 224
    static let cName = "xfrm_usersa_info"
    static var fields: [FixedField<Self>] {
        [.nested(\.selector, 0), .nested(\.id, 56), .bytes(\.saddr, 80), .nested(\.lifetime, 96), .nested(\.current, 160),
         .nested(\.stats, 192), .int(\.seq, 204), .int(\.reqid, 208), .int(\.family, 212), .int(\.mode, 214),
         .int(\.replayWindow, 215), .int(\.flags, 216)]
    }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_usersa_id (24 bytes): names a state for XFRM_MSG_GETSA/DELSA (its source address in XFRMA_SRCADDR).
public struct XFRMUserSAID: Equatable, Sendable, FixedStruct {
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var spi: UInt32 = 0
    public var family: UInt16 = 0
    public var proto: UInt8 = 0
    public static let size = 24
    static let cName = "xfrm_usersa_id"
    static var fields: [FixedField<Self>] { [.bytes(\.daddr, 0), .be(\.spi, 16), .int(\.family, 20), .int(\.proto, 22)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_userpolicy_info (168 bytes): the fixed part of XFRM_MSG_NEWPOLICY/UPDPOLICY and XFRMA_POLICY.
public struct XFRMUserPolicyInfo: Equatable, Sendable, FixedStruct {
    public var selector = XFRMSelector()
    public var lifetime = XFRMLifetimeConfig()
    public var current = XFRMLifetimeCurrent()
    public var priority: UInt32 = 0
    public var index: UInt32 = 0
    public var dir: UInt8 = 0
    public var action: UInt8 = 0
    public var flags: UInt8 = 0
    public var share: UInt8 = 0
    public static let size = 168
    static let cName = "xfrm_userpolicy_info"
    static var fields: [FixedField<Self>] {
        [.nested(\.selector, 0), .nested(\.lifetime, 56), .nested(\.current, 120), .int(\.priority, 152), .int(\.index, 156),
         .int(\.dir, 160), .int(\.action, 161), .int(\.flags, 162), .int(\.share, 163)]
    }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_userpolicy_id (64 bytes): names a policy by selector or index, and direction.
public struct XFRMUserPolicyID: Equatable, Sendable, FixedStruct {
    public var selector = XFRMSelector()
    public var index: UInt32 = 0
    public var dir: UInt8 = 0
    public static let size = 64
    static let cName = "xfrm_userpolicy_id"
    static var fields: [FixedField<Self>] { [.nested(\.selector, 0), .int(\.index, 56), .int(\.dir, 60)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_user_tmpl (64 bytes): one template of a policy (XFRMA_TMPL holds an array of them).
public struct XFRMUserTemplate: Equatable, Sendable, FixedStruct {
    public var id = XFRMID()
    public var family: UInt16 = 0
    public var saddr = [UInt8](repeating: 0, count: 16)
    public var reqid: UInt32 = 0
    public var mode: UInt8 = 0
    public var share: UInt8 = 0
    /// 0 "required", 1 "use".
    public var optional: UInt8 = 0
    public var aalgos: UInt32 = 0
    public var ealgos: UInt32 = 0
    public var calgos: UInt32 = 0
    public static let size = 64
    static let cName = "xfrm_user_tmpl"
    static var fields: [FixedField<Self>] {
        [.nested(\.id, 0), .int(\.family, 24), .bytes(\.saddr, 28), .int(\.reqid, 44), .int(\.mode, 48), .int(\.share, 49),
         .int(\.optional, 50), .int(\.aalgos, 52), .int(\.ealgos, 56), .int(\.calgos, 60)]
    }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
    /// XFRMA_TMPL's payload: whole templates; trailing bytes shorter than one are ignored (as ip does).
    public static func array(decoding s: ArraySlice<UInt8>) -> [XFRMUserTemplate] {
        var out: [XFRMUserTemplate] = []
        var rest = s
        while rest.count >= size, let t = try? XFRMUserTemplate(decoding: rest) {
            out.append(t)
            rest = rest.dropFirst(size)
        }
        return out
    }
}

/// struct xfrm_algo / xfrm_algo_auth / xfrm_algo_aead: an algorithm name (64 bytes, NUL padded), the key length
/// in bits, for auth-trunc the truncation length and for AEAD the ICV length in bits, then the key.
public struct XFRMAlgorithm: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// struct xfrm_algo (XFRMA_ALG_CRYPT, XFRMA_ALG_AUTH, XFRMA_ALG_COMP).
        case plain
        /// struct xfrm_algo_auth (XFRMA_ALG_AUTH_TRUNC): truncation length in bits.
        case truncated(UInt32)
        /// struct xfrm_algo_aead (XFRMA_ALG_AEAD): ICV length in bits.
        case aead(UInt32)
    }
    public var kind: Kind
    public var name: String
    /// alg_key_len: bits (ip writes 8 × the key's bytes).
    public var keyBits: UInt32
    public var key: [UInt8]
    public static let nameLength = 64

    public init(kind: Kind, name: String, key: [UInt8]) {
        self.kind = kind; self.name = name; self.key = key
        self.keyBits = UInt32(truncatingIfNeeded: key.count) &* 8
    }

    public func encode(into b: inout [UInt8]) {
        b += [UInt8].fixed(Array(name.utf8.prefix(Self.nameLength - 1)), Self.nameLength)
        Bytes.append(keyBits, to: &b)
        switch kind {
        case .plain: break
        case .truncated(let v), .aead(let v): Bytes.append(v, to: &b)
        }
        b += key
    }
    public var encoded: [UInt8] { var b: [UInt8] = []; encode(into: &b); return b }

    /// Decodes an attribute payload of `kind`'s structure. The key is cut to the bytes present when the payload is
    /// shorter than alg_key_len says (`truncatedKey` is then true): ip prints "(ERROR truncated)" for such.
    public init(decoding s: ArraySlice<UInt8>, kind: Kind) throws {
        let head = kind == .plain ? 68 : 72
        try FixedFields.need(head, s, "xfrm_algo")
        let f = FixedFields(s)
        let nameBytes = f.bytes(0, 64).prefix { $0 != 0 }
        name = String(decoding: nameBytes, as: UTF8.self)
        keyBits = f.u32(64)
        switch kind {
        case .plain: self.kind = .plain
        case .truncated: self.kind = .truncated(f.u32(68))
        case .aead: self.kind = .aead(f.u32(68))
        }
        let want = Int(keyBits / 8)
        let have = s.count - head
        key = f.bytes(head, min(want, have))
        truncatedKey = have < want
    }
    /// The payload held fewer key bytes than alg_key_len says.
    public var truncatedKey = false
}

/// struct xfrm_encap_tmpl (24 bytes): NAT-T encapsulation (type, UDP ports, original address).
public struct XFRMEncapTemplate: Equatable, Sendable, FixedStruct {
    public var type: UInt16 = 0
    public var sport: UInt16 = 0
    public var dport: UInt16 = 0
    public var originalAddress = [UInt8](repeating: 0, count: 16)
    public static let size = 24
    public static let espInUDPNonIKE: UInt16 = 1
    public static let espInUDP: UInt16 = 2
    public static let espInTCP: UInt16 = 7
    static let cName = "xfrm_encap_tmpl"
    static var fields: [FixedField<Self>] { [.int(\.type, 0), .be(\.sport, 2), .be(\.dport, 4), .bytes(\.originalAddress, 8)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_mark (8 bytes): value and mask.
public struct XFRMMark: Equatable, Sendable, FixedStruct {
    public var value: UInt32
    public var mask: UInt32
    public static let size = 8
    static let cName = "xfrm_mark"
    static var fields: [FixedField<Self>] { [.int(\.value, 0), .int(\.mask, 4)] }
    public init(value: UInt32, mask: UInt32) { self.value = value; self.mask = mask }
    init() { self.init(value: 0, mask: 0) }
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_replay_state (12 bytes).
public struct XFRMReplayState: Equatable, Sendable, FixedStruct {
    public var oseq: UInt32 = 0
    public var seq: UInt32 = 0
    public var bitmap: UInt32 = 0
    public static let size = 12
    static let cName = "xfrm_replay_state"
    static var fields: [FixedField<Self>] { [.int(\.oseq, 0), .int(\.seq, 4), .int(\.bitmap, 8)] }
    public init() {}
    public func encode(into b: inout [UInt8]) { encodeFields(into: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws { try self.init(decodingFields: s) }
}

/// struct xfrm_replay_state_esn (24 bytes + bmp_len words).
public struct XFRMReplayStateESN: Equatable, Sendable, FixedStruct {
    public var bmpLen: UInt32 = 0
    public var oseq: UInt32 = 0
    public var seq: UInt32 = 0
    public var oseqHi: UInt32 = 0
    public var seqHi: UInt32 = 0
    public var replayWindow: UInt32 = 0
    /// The bitmap words present (at most bmp_len; fewer when the payload is short).
    public var bitmap: [UInt32] = []
    public static let size = 24
    static let cName = "xfrm_replay_state_esn"
    /// The fixed head; the bitmap follows it.
    static var fields: [FixedField<Self>] {
        [.int(\.bmpLen, 0), .int(\.oseq, 4), .int(\.seq, 8), .int(\.oseqHi, 12), .int(\.seqHi, 16), .int(\.replayWindow, 20)]
    }
    public init() {}
    public func encode(into b: inout [UInt8]) {
        encodeFields(into: &b)
        for v in bitmap { Bytes.append(v, to: &b) }
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try self.init(decodingFields: s)
        let f = FixedFields(s)
        let words = min(Int(bmpLen), (s.count - Self.size) / 4)
        bitmap = (0..<words).map { f.u32(Self.size + 4 * $0) }
    }
}

/// struct xfrm_userpolicy_type (6 bytes): main or sub policy.
public struct XFRMUserPolicyType: Equatable, Sendable {
    public var type: UInt8
    public static let size = 6
    public init(type: UInt8) { self.type = type }
    public var encoded: [UInt8] { [type, 0, 0, 0, 0, 0] }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_userpolicy_type")
        type = s[s.startIndex]
    }
}

/// struct xfrm_address_filter (36 bytes): the kernel-side filter of a state dump.
public struct XFRMAddressFilter: Equatable, Sendable, FixedStruct {
    public var saddr = [UInt8](repeating: 0, count: 16)
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var family: UInt16 = 0
    public var splen: UInt8 = 0
    public var dplen: UInt8 = 0
    public static let size = 36
    static let cName = "xfrm_address_filter"
    static var fields: [FixedField<Self>] {
        [.bytes(\.saddr, 0), .bytes(\.daddr, 16), .int(\.family, 32), .int(\.splen, 34), .int(\.dplen, 35)]
    }
    public init() {}
    public var encoded: [UInt8] { var b: [UInt8] = []; encodeFields(into: &b); return b }
}

/// struct xfrm_user_sec_ctx (8 bytes) and its context string.
public struct XFRMSecurityContext: Equatable, Sendable {
    public var doi: UInt8 = 1
    public var algorithm: UInt8 = 1
    public var context: [UInt8]
    public init(context: [UInt8]) { self.context = context }
    /// As ip's xfrm_sctx_parse(): the string with its NUL, len = 8 + that.
    public var encoded: [UInt8] {
        var b: [UInt8] = []
        let len = 8 + context.count
        Bytes.append(UInt16(truncatingIfNeeded: len), to: &b)
        Bytes.append(UInt16(XFRMAttributeType.secCtx), to: &b)
        b += [algorithm, doi]
        Bytes.append(UInt16(truncatingIfNeeded: context.count), to: &b)
        return b + context
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(8, s, "xfrm_user_sec_ctx")
        let f = FixedFields(s)
        algorithm = f.u8(4); doi = f.u8(5)
        let n = min(Int(f.u16(6)), s.count - 8)
        context = f.bytes(8, n)
    }
}
