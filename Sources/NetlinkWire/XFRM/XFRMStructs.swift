import CLinuxUAPI

// The fixed structures of NETLINK_XFRM (linux/xfrm.h), encoded and decoded byte by byte at the offsets the
// kernel's x86-64/arm64 layout has (checked against the C header by XFRMCodecTests). Decoders take a slice,
// throw a WireError when it is shorter than the structure, and never trap. Fields in network byte order on the
// wire (SPIs, ports, xfrm_address_t) are kept here as values: `spi` and ports in host order, addresses as the
// 16 raw bytes of xfrm_address_t (an IPv4 address in the first 4).

/// Reads fixed fields from a slice already checked to be long enough (a short read gives 0, never a trap).
struct FixedFields {
    let s: ArraySlice<UInt8>
    init(_ s: ArraySlice<UInt8>) { self.s = s }
    func u8(_ o: Int) -> UInt8 { o >= 0 && o < s.count ? s[s.startIndex + o] : 0 }
    func u16(_ o: Int) -> UInt16 { Bytes.load(UInt16.self, from: s, at: o) ?? 0 }
    func u32(_ o: Int) -> UInt32 { Bytes.load(UInt32.self, from: s, at: o) ?? 0 }
    func u64(_ o: Int) -> UInt64 { Bytes.load(UInt64.self, from: s, at: o) ?? 0 }
    func be16(_ o: Int) -> UInt16 { Bytes.loadBE(UInt16.self, from: s, at: o) ?? 0 }
    func be32(_ o: Int) -> UInt32 { Bytes.loadBE(UInt32.self, from: s, at: o) ?? 0 }
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

/// struct xfrm_selector (56 bytes): which packets a policy or state applies to.
public struct XFRMSelector: Equatable, Sendable {
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
    public init() {}

    public var isZero: Bool { self == XFRMSelector() }

    public func encode(into b: inout [UInt8]) {
        b += [UInt8].fixed(daddr, 16)
        b += [UInt8].fixed(saddr, 16)
        Bytes.appendBE(dport, to: &b); Bytes.appendBE(dportMask, to: &b)
        Bytes.appendBE(sport, to: &b); Bytes.appendBE(sportMask, to: &b)
        Bytes.append(family, to: &b)
        b += [prefixlenD, prefixlenS, proto, 0, 0, 0]
        Bytes.append(ifindex, to: &b)
        Bytes.append(user, to: &b)
    }

    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_selector")
        let f = FixedFields(s)
        daddr = f.bytes(0, 16); saddr = f.bytes(16, 16)
        dport = f.be16(32); dportMask = f.be16(34); sport = f.be16(36); sportMask = f.be16(38)
        family = f.u16(40); prefixlenD = f.u8(42); prefixlenS = f.u8(43); proto = f.u8(44)
        ifindex = Int32(bitPattern: f.u32(48)); user = f.u32(52)
    }
}

/// struct xfrm_id (24 bytes): destination, SPI, IPsec protocol.
public struct XFRMID: Equatable, Sendable {
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var spi: UInt32 = 0
    public var proto: UInt8 = 0
    public static let size = 24
    public init() {}
    public func encode(into b: inout [UInt8]) {
        b += [UInt8].fixed(daddr, 16)
        Bytes.appendBE(spi, to: &b)
        b += [proto, 0, 0, 0]
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_id")
        let f = FixedFields(s)
        daddr = f.bytes(0, 16); spi = f.be32(16); proto = f.u8(20)
    }
}

/// struct xfrm_lifetime_cfg (64 bytes): byte/packet limits and add/use expiry times (XFRM_INF = none).
public struct XFRMLifetimeConfig: Equatable, Sendable {
    public var softByteLimit: UInt64 = 0
    public var hardByteLimit: UInt64 = 0
    public var softPacketLimit: UInt64 = 0
    public var hardPacketLimit: UInt64 = 0
    public var softAddExpires: UInt64 = 0
    public var hardAddExpires: UInt64 = 0
    public var softUseExpires: UInt64 = 0
    public var hardUseExpires: UInt64 = 0
    public static let size = 64
    public init() {}
    /// What `ip xfrm ... add` starts from: byte and packet limits infinite, no expiry.
    public static var unlimited: XFRMLifetimeConfig {
        var l = XFRMLifetimeConfig()
        l.softByteLimit = xfrmInfinity; l.hardByteLimit = xfrmInfinity
        l.softPacketLimit = xfrmInfinity; l.hardPacketLimit = xfrmInfinity
        return l
    }
    var fields: [UInt64] { [softByteLimit, hardByteLimit, softPacketLimit, hardPacketLimit, softAddExpires, hardAddExpires, softUseExpires, hardUseExpires] }
    public func encode(into b: inout [UInt8]) { for v in fields { Bytes.append(v, to: &b) } }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_lifetime_cfg")
        let f = FixedFields(s)
        softByteLimit = f.u64(0); hardByteLimit = f.u64(8); softPacketLimit = f.u64(16); hardPacketLimit = f.u64(24)
        softAddExpires = f.u64(32); hardAddExpires = f.u64(40); softUseExpires = f.u64(48); hardUseExpires = f.u64(56)
    }
}

/// struct xfrm_lifetime_cur (32 bytes): what a state or policy has used, and when it was added and last used.
public struct XFRMLifetimeCurrent: Equatable, Sendable {
    public var bytes: UInt64 = 0
    public var packets: UInt64 = 0
    public var addTime: UInt64 = 0
    public var useTime: UInt64 = 0
    public static let size = 32
    public init() {}
    public func encode(into b: inout [UInt8]) { for v in [bytes, packets, addTime, useTime] { Bytes.append(v, to: &b) } }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_lifetime_cur")
        let f = FixedFields(s)
        bytes = f.u64(0); packets = f.u64(8); addTime = f.u64(16); useTime = f.u64(24)
    }
}

/// struct xfrm_stats (12 bytes).
public struct XFRMStats: Equatable, Sendable {
    public var replayWindow: UInt32 = 0
    public var replay: UInt32 = 0
    public var integrityFailed: UInt32 = 0
    public static let size = 12
    public init() {}
    public func encode(into b: inout [UInt8]) { for v in [replayWindow, replay, integrityFailed] { Bytes.append(v, to: &b) } }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_stats")
        let f = FixedFields(s)
        replayWindow = f.u32(0); replay = f.u32(4); integrityFailed = f.u32(8)
    }
}

/// struct xfrm_usersa_info (224 bytes): the fixed part of XFRM_MSG_NEWSA/UPDSA and XFRMA_SA.
public struct XFRMUserSAInfo: Equatable, Sendable {
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
    public init() {}
    public func encode(into b: inout [UInt8]) {
        selector.encode(into: &b)
        id.encode(into: &b)
        b += [UInt8].fixed(saddr, 16)
        lifetime.encode(into: &b)
        current.encode(into: &b)
        stats.encode(into: &b)
        Bytes.append(seq, to: &b)
        Bytes.append(reqid, to: &b)
        Bytes.append(family, to: &b)
        b += [mode, replayWindow, flags, 0, 0, 0, 0, 0, 0, 0]
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_usersa_info")
        let f = FixedFields(s)
        selector = try XFRMSelector(decoding: s.dropFirst(0))
        id = try XFRMID(decoding: s.dropFirst(56))
        saddr = f.bytes(80, 16)
        lifetime = try XFRMLifetimeConfig(decoding: s.dropFirst(96))
        current = try XFRMLifetimeCurrent(decoding: s.dropFirst(160))
        stats = try XFRMStats(decoding: s.dropFirst(192))
        seq = f.u32(204); reqid = f.u32(208); family = f.u16(212)
        mode = f.u8(214); replayWindow = f.u8(215); flags = f.u8(216)
    }
}

/// struct xfrm_usersa_id (24 bytes): names a state for XFRM_MSG_GETSA/DELSA (its source address in XFRMA_SRCADDR).
public struct XFRMUserSAID: Equatable, Sendable {
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var spi: UInt32 = 0
    public var family: UInt16 = 0
    public var proto: UInt8 = 0
    public static let size = 24
    public init() {}
    public func encode(into b: inout [UInt8]) {
        b += [UInt8].fixed(daddr, 16)
        Bytes.appendBE(spi, to: &b)
        Bytes.append(family, to: &b)
        b += [proto, 0]
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_usersa_id")
        let f = FixedFields(s)
        daddr = f.bytes(0, 16); spi = f.be32(16); family = f.u16(20); proto = f.u8(22)
    }
}

/// struct xfrm_userpolicy_info (168 bytes): the fixed part of XFRM_MSG_NEWPOLICY/UPDPOLICY and XFRMA_POLICY.
public struct XFRMUserPolicyInfo: Equatable, Sendable {
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
    public init() {}
    public func encode(into b: inout [UInt8]) {
        selector.encode(into: &b)
        lifetime.encode(into: &b)
        current.encode(into: &b)
        Bytes.append(priority, to: &b)
        Bytes.append(index, to: &b)
        b += [dir, action, flags, share, 0, 0, 0, 0]
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_userpolicy_info")
        let f = FixedFields(s)
        selector = try XFRMSelector(decoding: s)
        lifetime = try XFRMLifetimeConfig(decoding: s.dropFirst(56))
        current = try XFRMLifetimeCurrent(decoding: s.dropFirst(120))
        priority = f.u32(152); index = f.u32(156)
        dir = f.u8(160); action = f.u8(161); flags = f.u8(162); share = f.u8(163)
    }
}

/// struct xfrm_userpolicy_id (64 bytes): names a policy by selector or index, and direction.
public struct XFRMUserPolicyID: Equatable, Sendable {
    public var selector = XFRMSelector()
    public var index: UInt32 = 0
    public var dir: UInt8 = 0
    public static let size = 64
    public init() {}
    public func encode(into b: inout [UInt8]) {
        selector.encode(into: &b)
        Bytes.append(index, to: &b)
        b += [dir, 0, 0, 0]
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_userpolicy_id")
        let f = FixedFields(s)
        selector = try XFRMSelector(decoding: s)
        index = f.u32(56); dir = f.u8(60)
    }
}

/// struct xfrm_user_tmpl (64 bytes): one template of a policy (XFRMA_TMPL holds an array of them).
public struct XFRMUserTemplate: Equatable, Sendable {
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
    public init() {}
    public func encode(into b: inout [UInt8]) {
        id.encode(into: &b)
        Bytes.append(family, to: &b)
        b += [0, 0]
        b += [UInt8].fixed(saddr, 16)
        Bytes.append(reqid, to: &b)
        b += [mode, share, optional, 0]
        for v in [aalgos, ealgos, calgos] { Bytes.append(v, to: &b) }
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_user_tmpl")
        let f = FixedFields(s)
        id = try XFRMID(decoding: s)
        family = f.u16(24); saddr = f.bytes(28, 16); reqid = f.u32(44)
        mode = f.u8(48); share = f.u8(49); optional = f.u8(50)
        aalgos = f.u32(52); ealgos = f.u32(56); calgos = f.u32(60)
    }
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
public struct XFRMEncapTemplate: Equatable, Sendable {
    public var type: UInt16 = 0
    public var sport: UInt16 = 0
    public var dport: UInt16 = 0
    public var originalAddress = [UInt8](repeating: 0, count: 16)
    public static let size = 24
    public static let espInUDPNonIKE: UInt16 = 1
    public static let espInUDP: UInt16 = 2
    public static let espInTCP: UInt16 = 7
    public init() {}
    public func encode(into b: inout [UInt8]) {
        Bytes.append(type, to: &b)
        Bytes.appendBE(sport, to: &b)
        Bytes.appendBE(dport, to: &b)
        b += [0, 0]
        b += [UInt8].fixed(originalAddress, 16)
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_encap_tmpl")
        let f = FixedFields(s)
        type = f.u16(0); sport = f.be16(2); dport = f.be16(4); originalAddress = f.bytes(8, 16)
    }
}

/// struct xfrm_mark (8 bytes): value and mask.
public struct XFRMMark: Equatable, Sendable {
    public var value: UInt32
    public var mask: UInt32
    public static let size = 8
    public init(value: UInt32, mask: UInt32) { self.value = value; self.mask = mask }
    public func encode(into b: inout [UInt8]) { Bytes.append(value, to: &b); Bytes.append(mask, to: &b) }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_mark")
        let f = FixedFields(s)
        value = f.u32(0); mask = f.u32(4)
    }
}

/// struct xfrm_replay_state (12 bytes).
public struct XFRMReplayState: Equatable, Sendable {
    public var oseq: UInt32 = 0
    public var seq: UInt32 = 0
    public var bitmap: UInt32 = 0
    public static let size = 12
    public init() {}
    public func encode(into b: inout [UInt8]) { for v in [oseq, seq, bitmap] { Bytes.append(v, to: &b) } }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_replay_state")
        let f = FixedFields(s)
        oseq = f.u32(0); seq = f.u32(4); bitmap = f.u32(8)
    }
}

/// struct xfrm_replay_state_esn (24 bytes + bmp_len words).
public struct XFRMReplayStateESN: Equatable, Sendable {
    public var bmpLen: UInt32 = 0
    public var oseq: UInt32 = 0
    public var seq: UInt32 = 0
    public var oseqHi: UInt32 = 0
    public var seqHi: UInt32 = 0
    public var replayWindow: UInt32 = 0
    /// The bitmap words present (at most bmp_len; fewer when the payload is short).
    public var bitmap: [UInt32] = []
    public static let size = 24
    public init() {}
    public func encode(into b: inout [UInt8]) {
        for v in [bmpLen, oseq, seq, oseqHi, seqHi, replayWindow] { Bytes.append(v, to: &b) }
        for v in bitmap { Bytes.append(v, to: &b) }
    }
    public init(decoding s: ArraySlice<UInt8>) throws {
        try FixedFields.need(Self.size, s, "xfrm_replay_state_esn")
        let f = FixedFields(s)
        bmpLen = f.u32(0); oseq = f.u32(4); seq = f.u32(8); oseqHi = f.u32(12); seqHi = f.u32(16); replayWindow = f.u32(20)
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
public struct XFRMAddressFilter: Equatable, Sendable {
    public var saddr = [UInt8](repeating: 0, count: 16)
    public var daddr = [UInt8](repeating: 0, count: 16)
    public var family: UInt16 = 0
    public var splen: UInt8 = 0
    public var dplen: UInt8 = 0
    public static let size = 36
    public init() {}
    public var encoded: [UInt8] {
        var b = [UInt8].fixed(saddr, 16) + [UInt8].fixed(daddr, 16)
        Bytes.append(family, to: &b)
        b += [splen, dplen]
        return b
    }
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
