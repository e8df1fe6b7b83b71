import CLinuxUAPI

// The kernel's L2TP generic-netlink family ("l2tp", linux/l2tp.h), as documented in
// Documentation/networking/l2tp.rst ("Netlink API"). Tunnels and sessions are identified by locally unique
// 32-bit ids (L2TP_ATTR_CONN_ID / L2TP_ATTR_SESSION_ID); the peer's ids travel in the PEER_ attributes.

/// L2TP_CMD_*: the family's commands.
public struct L2TPGenlCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The kernel's number.
    public var rawValue: UInt8
    /// Wraps a kernel number (values Isthmus has no name for are kept).
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// L2TP_CMD_NOOP.
    public static let noop = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_NOOP))
    /// L2TP_CMD_TUNNEL_CREATE.
    public static let tunnelCreate = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_TUNNEL_CREATE))
    /// L2TP_CMD_TUNNEL_DELETE.
    public static let tunnelDelete = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_TUNNEL_DELETE))
    /// L2TP_CMD_TUNNEL_MODIFY.
    public static let tunnelModify = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_TUNNEL_MODIFY))
    /// L2TP_CMD_TUNNEL_GET.
    public static let tunnelGet = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_TUNNEL_GET))
    /// L2TP_CMD_SESSION_CREATE.
    public static let sessionCreate = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_SESSION_CREATE))
    /// L2TP_CMD_SESSION_DELETE.
    public static let sessionDelete = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_SESSION_DELETE))
    /// L2TP_CMD_SESSION_MODIFY.
    public static let sessionModify = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_SESSION_MODIFY))
    /// L2TP_CMD_SESSION_GET.
    public static let sessionGet = L2TPGenlCommand(rawValue: UInt8(L2TP_CMD_SESSION_GET))

    /// The kernel's name, e.g. "L2TP_CMD_TUNNEL_CREATE".
    public var description: String {
        switch self {
        case .noop: return "L2TP_CMD_NOOP"
        case .tunnelCreate: return "L2TP_CMD_TUNNEL_CREATE"
        case .tunnelDelete: return "L2TP_CMD_TUNNEL_DELETE"
        case .tunnelModify: return "L2TP_CMD_TUNNEL_MODIFY"
        case .tunnelGet: return "L2TP_CMD_TUNNEL_GET"
        case .sessionCreate: return "L2TP_CMD_SESSION_CREATE"
        case .sessionDelete: return "L2TP_CMD_SESSION_DELETE"
        case .sessionModify: return "L2TP_CMD_SESSION_MODIFY"
        case .sessionGet: return "L2TP_CMD_SESSION_GET"
        default: return "L2TP_CMD_\(rawValue)"
        }
    }
}

/// enum l2tp_encap_type: how the tunnel carries L2TPv3 — over UDP, or directly over IP (protocol 115).
public struct L2TPEncapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The kernel's number.
    public var rawValue: UInt16
    /// Wraps a kernel number (values Isthmus has no name for are kept).
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// L2TP_ENCAPTYPE_UDP.
    public static let udp = L2TPEncapType(rawValue: UInt16(L2TP_ENCAPTYPE_UDP.rawValue))
    /// L2TP_ENCAPTYPE_IP.
    public static let ip = L2TPEncapType(rawValue: UInt16(L2TP_ENCAPTYPE_IP.rawValue))
    /// "UDP", "IP" or "??" as `ip l2tp show tunnel` prints it.
    public var description: String { self == .udp ? "UDP" : self == .ip ? "IP" : "??" }
}

/// enum l2tp_pwtype: the pseudowire carried by a session.
public struct L2TPPseudowireType: RawRepresentable, Hashable, Sendable {
    /// The kernel's number.
    public var rawValue: UInt16
    /// Wraps a kernel number (values Isthmus has no name for are kept).
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// L2TP_PWTYPE_NONE.
    public static let none = L2TPPseudowireType(rawValue: UInt16(L2TP_PWTYPE_NONE.rawValue))
    /// L2TP_PWTYPE_ETH_VLAN.
    public static let ethVLAN = L2TPPseudowireType(rawValue: UInt16(L2TP_PWTYPE_ETH_VLAN.rawValue))
    /// L2TP_PWTYPE_ETH: an Ethernet pseudowire, an l2tpethN interface (module l2tp_eth).
    public static let eth = L2TPPseudowireType(rawValue: UInt16(L2TP_PWTYPE_ETH.rawValue))
    /// L2TP_PWTYPE_PPP.
    public static let ppp = L2TPPseudowireType(rawValue: UInt16(L2TP_PWTYPE_PPP.rawValue))
    /// L2TP_PWTYPE_PPP_AC.
    public static let pppAC = L2TPPseudowireType(rawValue: UInt16(L2TP_PWTYPE_PPP_AC.rawValue))
    /// L2TP_PWTYPE_IP.
    public static let ip = L2TPPseudowireType(rawValue: UInt16(L2TP_PWTYPE_IP.rawValue))
}

/// enum l2tp_l2spec_type: the L2TPv3 layer-2-specific sublayer of a session.
public struct L2TPL2SpecType: RawRepresentable, Hashable, Sendable {
    /// The kernel's number.
    public var rawValue: UInt8
    /// Wraps a kernel number (values Isthmus has no name for are kept).
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// L2TP_L2SPECTYPE_NONE: no sublayer.
    public static let none = L2TPL2SpecType(rawValue: UInt8(L2TP_L2SPECTYPE_NONE.rawValue))
    /// L2TP_L2SPECTYPE_DEFAULT: the 4-byte default sublayer (carries sequence numbers).
    public static let `default` = L2TPL2SpecType(rawValue: UInt8(L2TP_L2SPECTYPE_DEFAULT.rawValue))
}

/// L2TP_ATTR_STATS: the counters the kernel nests in tunnel and session replies.
/// An l2tp genetlink object decoded from its attributes (the payload after genlmsghdr): L2TPTunnelConfig,
/// L2TPSessionConfig.
public protocol L2TPAttributesDecodable {
    init(attributes a: [Attribute]) throws
}

extension L2TPAttributesDecodable {
    /// Decodes an L2TP_CMD_TUNNEL_* or L2TP_CMD_SESSION_* reply or notification. Throws `WireError` on malformed
    /// bytes; never traps.
    public init(decoding m: NetlinkMessage) throws {
        try self.init(attributes: try GenericMessage(m).attributes)
    }
}

public struct L2TPStats: Equatable, Sendable {
    /// L2TP_ATTR_TX_PACKETS.
    public var txPackets: UInt64 = 0
    /// L2TP_ATTR_TX_BYTES.
    public var txBytes: UInt64 = 0
    /// L2TP_ATTR_TX_ERRORS.
    public var txErrors: UInt64 = 0
    /// L2TP_ATTR_RX_PACKETS.
    public var rxPackets: UInt64 = 0
    /// L2TP_ATTR_RX_BYTES.
    public var rxBytes: UInt64 = 0
    /// L2TP_ATTR_RX_SEQ_DISCARDS.
    public var rxSeqDiscards: UInt64 = 0
    /// L2TP_ATTR_RX_OOS_PACKETS.
    public var rxOOSPackets: UInt64 = 0
    /// L2TP_ATTR_RX_ERRORS.
    public var rxErrors: UInt64 = 0
    /// L2TP_ATTR_RX_COOKIE_DISCARDS.
    public var rxCookieDiscards: UInt64 = 0
    /// L2TP_ATTR_RX_INVALID.
    public var rxInvalid: UInt64 = 0

    /// All counters zero.
    public init() {}

    /// Decodes the nested L2TP_ATTR_STATS payload; unknown counters are skipped.
    public init(decoding a: Attribute) throws {
        let k = try a.children()
        txPackets = try L2TPWire.u64(k, L2TP_ATTR_TX_PACKETS, "L2TP_ATTR_TX_PACKETS") ?? 0
        txBytes = try L2TPWire.u64(k, L2TP_ATTR_TX_BYTES, "L2TP_ATTR_TX_BYTES") ?? 0
        txErrors = try L2TPWire.u64(k, L2TP_ATTR_TX_ERRORS, "L2TP_ATTR_TX_ERRORS") ?? 0
        rxPackets = try L2TPWire.u64(k, L2TP_ATTR_RX_PACKETS, "L2TP_ATTR_RX_PACKETS") ?? 0
        rxBytes = try L2TPWire.u64(k, L2TP_ATTR_RX_BYTES, "L2TP_ATTR_RX_BYTES") ?? 0
        rxSeqDiscards = try L2TPWire.u64(k, L2TP_ATTR_RX_SEQ_DISCARDS, "L2TP_ATTR_RX_SEQ_DISCARDS") ?? 0
        rxOOSPackets = try L2TPWire.u64(k, L2TP_ATTR_RX_OOS_PACKETS, "L2TP_ATTR_RX_OOS_PACKETS") ?? 0
        rxErrors = try L2TPWire.u64(k, L2TP_ATTR_RX_ERRORS, "L2TP_ATTR_RX_ERRORS") ?? 0
        rxCookieDiscards = try L2TPWire.u64(k, L2TP_ATTR_RX_COOKIE_DISCARDS, "L2TP_ATTR_RX_COOKIE_DISCARDS") ?? 0
        rxInvalid = try L2TPWire.u64(k, L2TP_ATTR_RX_INVALID, "L2TP_ATTR_RX_INVALID") ?? 0
    }

    /// Writes the nested attribute in the kernel's order (l2tp_nl_tunnel_send) — for fakes and tests.
    public func encode(into w: inout AttributeWriter) {
        w.nested(L2TP_ATTR_STATS) { s in
            s.u64(L2TP_ATTR_TX_PACKETS, txPackets)
            s.u64(L2TP_ATTR_TX_BYTES, txBytes)
            s.u64(L2TP_ATTR_TX_ERRORS, txErrors)
            s.u64(L2TP_ATTR_RX_PACKETS, rxPackets)
            s.u64(L2TP_ATTR_RX_BYTES, rxBytes)
            s.u64(L2TP_ATTR_RX_SEQ_DISCARDS, rxSeqDiscards)
            s.u64(L2TP_ATTR_RX_COOKIE_DISCARDS, rxCookieDiscards)
            s.u64(L2TP_ATTR_RX_OOS_PACKETS, rxOOSPackets)
            s.u64(L2TP_ATTR_RX_ERRORS, rxErrors)
            s.u64(L2TP_ATTR_RX_INVALID, rxInvalid)
        }
    }
}

/// An L2TPv3 tunnel: what L2TP_CMD_TUNNEL_CREATE takes and what L2TP_CMD_TUNNEL_GET returns.
///
/// Without `fd` the kernel opens the tunnel socket itself from the addresses and ports ("unmanaged" tunnels,
/// what `ip l2tp` makes); with `fd` it adopts an already bound and connected socket (l2tp.rst, "Netlink API").
public struct L2TPTunnelConfig: Equatable, Sendable, L2TPAttributesDecodable {
    /// L2TP_ATTR_CONN_ID: the local tunnel id.
    public var tunnelID: UInt32
    /// L2TP_ATTR_PEER_CONN_ID: the peer's tunnel id.
    public var peerTunnelID: UInt32
    /// L2TP_ATTR_PROTO_VERSION: 2 or 3 (`ip l2tp` always makes L2TPv3).
    public var protocolVersion: UInt8
    /// L2TP_ATTR_ENCAP_TYPE.
    public var encapsulation: L2TPEncapType
    /// L2TP_ATTR_IP_SADDR or L2TP_ATTR_IP6_SADDR, by the address's family.
    public var local: IPAddress?
    /// L2TP_ATTR_IP_DADDR or L2TP_ATTR_IP6_DADDR.
    public var remote: IPAddress?
    /// L2TP_ATTR_UDP_SPORT (UDP encapsulation only).
    public var localPort: UInt16?
    /// L2TP_ATTR_UDP_DPORT (UDP encapsulation only).
    public var remotePort: UInt16?
    /// L2TP_ATTR_UDP_CSUM: IPv4 UDP checksums on transmit. The kernel reads it as a flag on create
    /// (any presence enables) and reports it as a u8 on get; only `true` is sent.
    public var udpChecksum: Bool
    /// L2TP_ATTR_UDP_ZERO_CSUM6_TX: send IPv6 UDP packets with a zero checksum.
    public var udp6ZeroChecksumTX: Bool
    /// L2TP_ATTR_UDP_ZERO_CSUM6_RX: accept IPv6 UDP packets with a zero checksum.
    public var udp6ZeroChecksumRX: Bool
    /// L2TP_ATTR_FD: a tunnel socket the kernel should adopt (managed tunnels).
    public var fd: Int32?
    /// L2TP_ATTR_DEBUG (enum l2tp_debug_flags; unused by current kernels, which report 0).
    public var debug: UInt32?
    /// L2TP_ATTR_STATS, in replies only.
    public var stats: L2TPStats?

    /// A tunnel; the defaults are what `ip l2tp add tunnel` sends (L2TPv3 over UDP, checksums as the kernel defaults).
    public init(tunnelID: UInt32, peerTunnelID: UInt32, protocolVersion: UInt8 = 3, encapsulation: L2TPEncapType = .udp,
                local: IPAddress? = nil, remote: IPAddress? = nil, localPort: UInt16? = nil, remotePort: UInt16? = nil,
                udpChecksum: Bool = false, udp6ZeroChecksumTX: Bool = false, udp6ZeroChecksumRX: Bool = false,
                fd: Int32? = nil, debug: UInt32? = nil, stats: L2TPStats? = nil) {
        self.tunnelID = tunnelID; self.peerTunnelID = peerTunnelID; self.protocolVersion = protocolVersion
        self.encapsulation = encapsulation; self.local = local; self.remote = remote
        self.localPort = localPort; self.remotePort = remotePort; self.udpChecksum = udpChecksum
        self.udp6ZeroChecksumTX = udp6ZeroChecksumTX; self.udp6ZeroChecksumRX = udp6ZeroChecksumRX
        self.fd = fd; self.debug = debug; self.stats = stats
    }

    /// The create attributes, in iproute2's order (ipl2tp.c create_tunnel) so requests match `ip l2tp` byte for byte.
    public func encodeCreateAttributes(into w: inout AttributeWriter) {
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        w.u32(L2TP_ATTR_PEER_CONN_ID, peerTunnelID)
        w.u8(L2TP_ATTR_PROTO_VERSION, protocolVersion)
        w.u16(L2TP_ATTR_ENCAP_TYPE, encapsulation.rawValue)
        if let fd { w.u32(L2TP_ATTR_FD, UInt32(bitPattern: fd)) }
        if let local { w.raw(local.isV6 ? L2TP_ATTR_IP6_SADDR : L2TP_ATTR_IP_SADDR, local.bytes) }
        if let remote { w.raw(remote.isV6 ? L2TP_ATTR_IP6_DADDR : L2TP_ATTR_IP_DADDR, remote.bytes) }
        if encapsulation == .udp {
            if let localPort { w.u16(L2TP_ATTR_UDP_SPORT, localPort) }
            if let remotePort { w.u16(L2TP_ATTR_UDP_DPORT, remotePort) }
            if udpChecksum { w.u8(L2TP_ATTR_UDP_CSUM, 1) }
            if udp6ZeroChecksumTX { w.flag(L2TP_ATTR_UDP_ZERO_CSUM6_TX) }
            if udp6ZeroChecksumRX { w.flag(L2TP_ATTR_UDP_ZERO_CSUM6_RX) }
        }
        if let debug { w.u32(L2TP_ATTR_DEBUG, debug) }
    }

    /// Decodes tunnel attributes (the payload after genlmsghdr).
    public init(attributes a: [Attribute]) throws {
        guard let id = try L2TPWire.u32(a, L2TP_ATTR_CONN_ID, "L2TP_ATTR_CONN_ID") else {
            throw WireError("L2TP tunnel message without L2TP_ATTR_CONN_ID")
        }
        tunnelID = id
        peerTunnelID = try L2TPWire.u32(a, L2TP_ATTR_PEER_CONN_ID, "L2TP_ATTR_PEER_CONN_ID") ?? 0
        protocolVersion = try L2TPWire.u8(a, L2TP_ATTR_PROTO_VERSION, "L2TP_ATTR_PROTO_VERSION") ?? 3
        encapsulation = L2TPEncapType(rawValue: try L2TPWire.u16(a, L2TP_ATTR_ENCAP_TYPE, "L2TP_ATTR_ENCAP_TYPE") ?? L2TPEncapType.udp.rawValue)
        local = try L2TPWire.address(a, v4: L2TP_ATTR_IP_SADDR, v6: L2TP_ATTR_IP6_SADDR, "source address")
        remote = try L2TPWire.address(a, v4: L2TP_ATTR_IP_DADDR, v6: L2TP_ATTR_IP6_DADDR, "destination address")
        localPort = try L2TPWire.u16(a, L2TP_ATTR_UDP_SPORT, "L2TP_ATTR_UDP_SPORT")
        remotePort = try L2TPWire.u16(a, L2TP_ATTR_UDP_DPORT, "L2TP_ATTR_UDP_DPORT")
        if let c = a.first(L2TP_ATTR_UDP_CSUM) {
            // A u8 in replies; a bare flag (empty payload) means "on" to the kernel's create handler.
            udpChecksum = c.data.isEmpty ? true : (c.u8 ?? 0) != 0
        } else {
            udpChecksum = false
        }
        udp6ZeroChecksumTX = a.first(L2TP_ATTR_UDP_ZERO_CSUM6_TX) != nil
        udp6ZeroChecksumRX = a.first(L2TP_ATTR_UDP_ZERO_CSUM6_RX) != nil
        fd = try L2TPWire.u32(a, L2TP_ATTR_FD, "L2TP_ATTR_FD").map { Int32(bitPattern: $0) }
        debug = try L2TPWire.u32(a, L2TP_ATTR_DEBUG, "L2TP_ATTR_DEBUG")
        stats = try a.first(L2TP_ATTR_STATS).map { try L2TPStats(decoding: $0) }
    }

    /// Encodes the tunnel as the kernel's reply would look (attribute order of l2tp_nl_tunnel_send) — for fakes and tests.
    public func replyAttributes() -> AttributeWriter {
        var w = AttributeWriter()
        w.u8(L2TP_ATTR_PROTO_VERSION, protocolVersion)
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        w.u32(L2TP_ATTR_PEER_CONN_ID, peerTunnelID)
        w.u32(L2TP_ATTR_DEBUG, debug ?? 0)
        w.u16(L2TP_ATTR_ENCAP_TYPE, encapsulation.rawValue)
        (stats ?? L2TPStats()).encode(into: &w)
        let v6 = local?.isV6 ?? remote?.isV6 ?? false
        if encapsulation == .udp {
            if v6 {
                if udp6ZeroChecksumTX { w.flag(L2TP_ATTR_UDP_ZERO_CSUM6_TX) }
                if udp6ZeroChecksumRX { w.flag(L2TP_ATTR_UDP_ZERO_CSUM6_RX) }
            } else {
                w.u8(L2TP_ATTR_UDP_CSUM, udpChecksum ? 1 : 0)
            }
            w.u16(L2TP_ATTR_UDP_SPORT, localPort ?? 0)
            w.u16(L2TP_ATTR_UDP_DPORT, remotePort ?? 0)
        }
        if let local { w.raw(local.isV6 ? L2TP_ATTR_IP6_SADDR : L2TP_ATTR_IP_SADDR, local.bytes) }
        if let remote { w.raw(remote.isV6 ? L2TP_ATTR_IP6_DADDR : L2TP_ATTR_IP_DADDR, remote.bytes) }
        return w
    }
}

/// An L2TPv3 session: what L2TP_CMD_SESSION_CREATE takes and what L2TP_CMD_SESSION_GET returns.
/// For Ethernet pseudowires the kernel creates an l2tpethN interface (or `ifname`) for the session.
public struct L2TPSessionConfig: Equatable, Sendable, L2TPAttributesDecodable {
    /// L2TP_ATTR_CONN_ID: the parent tunnel's id.
    public var tunnelID: UInt32
    /// L2TP_ATTR_PEER_CONN_ID: the parent tunnel's peer id (sent by `ip l2tp`, ignored by the kernel on create).
    public var peerTunnelID: UInt32
    /// L2TP_ATTR_SESSION_ID.
    public var sessionID: UInt32
    /// L2TP_ATTR_PEER_SESSION_ID.
    public var peerSessionID: UInt32
    /// L2TP_ATTR_PW_TYPE.
    public var pseudowireType: L2TPPseudowireType
    /// L2TP_ATTR_L2SPEC_TYPE (L2TPv3 only; the kernel defaults to `.default`). Not reported back by the kernel.
    public var l2specType: L2TPL2SpecType?
    /// L2TP_ATTR_L2SPEC_LEN (unused by the kernel; `ip l2tp` sends 4 for default, 0 for none).
    public var l2specLength: UInt8?
    /// L2TP_ATTR_RECV_SEQ: drop received packets without sequence numbers. nil = not sent.
    public var recvSeq: Bool?
    /// L2TP_ATTR_SEND_SEQ: send sequence numbers. nil = not sent.
    public var sendSeq: Bool?
    /// L2TP_ATTR_LNS_MODE: act as LNS (auto-enable sequence numbers). nil = not sent.
    public var lnsMode: Bool?
    /// L2TP_ATTR_RECV_TIMEOUT: reorder timeout in milliseconds (0 = do not reorder).
    public var reorderTimeout: UInt64?
    /// L2TP_ATTR_COOKIE: the local cookie, 4 or 8 bytes (L2TPv3 only).
    public var cookie: [UInt8]?
    /// L2TP_ATTR_PEER_COOKIE: the peer's cookie, 4 or 8 bytes.
    public var peerCookie: [UInt8]?
    /// L2TP_ATTR_IFNAME: the pseudowire interface name (L2TPv3 Ethernet only; default l2tpethN).
    public var ifname: String?
    /// L2TP_ATTR_MTU (marked unused in linux/l2tp.h).
    public var mtu: UInt16?
    /// L2TP_ATTR_DEBUG (unused by current kernels).
    public var debug: UInt32?
    /// L2TP_ATTR_USING_IPSEC, in replies only: the tunnel socket has an xfrm policy.
    public var usingIPsec: Bool
    /// L2TP_ATTR_STATS, in replies only.
    public var stats: L2TPStats?

    /// A session; the defaults are what `ip l2tp add session` sends (Ethernet pseudowire, default sublayer of 4 bytes).
    public init(tunnelID: UInt32, peerTunnelID: UInt32 = 0, sessionID: UInt32, peerSessionID: UInt32,
                pseudowireType: L2TPPseudowireType = .eth, l2specType: L2TPL2SpecType? = .default, l2specLength: UInt8? = 4,
                recvSeq: Bool? = nil, sendSeq: Bool? = nil, lnsMode: Bool? = nil, reorderTimeout: UInt64? = nil,
                cookie: [UInt8]? = nil, peerCookie: [UInt8]? = nil, ifname: String? = nil, mtu: UInt16? = nil,
                debug: UInt32? = nil, usingIPsec: Bool = false, stats: L2TPStats? = nil) {
        self.tunnelID = tunnelID; self.peerTunnelID = peerTunnelID; self.sessionID = sessionID
        self.peerSessionID = peerSessionID; self.pseudowireType = pseudowireType; self.l2specType = l2specType
        self.l2specLength = l2specLength; self.recvSeq = recvSeq; self.sendSeq = sendSeq; self.lnsMode = lnsMode
        self.reorderTimeout = reorderTimeout; self.cookie = cookie; self.peerCookie = peerCookie; self.ifname = ifname
        self.mtu = mtu; self.debug = debug; self.usingIPsec = usingIPsec; self.stats = stats
    }

    /// The create attributes, in iproute2's order (ipl2tp.c create_session) so requests match `ip l2tp` byte for byte.
    public func encodeCreateAttributes(into w: inout AttributeWriter) {
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        w.u32(L2TP_ATTR_PEER_CONN_ID, peerTunnelID)
        w.u32(L2TP_ATTR_SESSION_ID, sessionID)
        w.u32(L2TP_ATTR_PEER_SESSION_ID, peerSessionID)
        w.u16(L2TP_ATTR_PW_TYPE, pseudowireType.rawValue)
        if let l2specType { w.u8(L2TP_ATTR_L2SPEC_TYPE, l2specType.rawValue) }
        if let l2specLength { w.u8(L2TP_ATTR_L2SPEC_LEN, l2specLength) }
        if let recvSeq { w.u8(L2TP_ATTR_RECV_SEQ, recvSeq ? 1 : 0) }
        if let sendSeq { w.u8(L2TP_ATTR_SEND_SEQ, sendSeq ? 1 : 0) }
        if let lnsMode { w.u8(L2TP_ATTR_LNS_MODE, lnsMode ? 1 : 0) }
        if let reorderTimeout { w.u64(L2TP_ATTR_RECV_TIMEOUT, reorderTimeout) }
        if let cookie { w.raw(L2TP_ATTR_COOKIE, cookie) }
        if let peerCookie { w.raw(L2TP_ATTR_PEER_COOKIE, peerCookie) }
        if let ifname { w.string(L2TP_ATTR_IFNAME, ifname) }
        if let mtu { w.u16(L2TP_ATTR_MTU, mtu) }
        if let debug { w.u32(L2TP_ATTR_DEBUG, debug) }
    }

    /// Decodes session attributes (the payload after genlmsghdr).
    public init(attributes a: [Attribute]) throws {
        guard let tid = try L2TPWire.u32(a, L2TP_ATTR_CONN_ID, "L2TP_ATTR_CONN_ID") else {
            throw WireError("L2TP session message without L2TP_ATTR_CONN_ID")
        }
        guard let sid = try L2TPWire.u32(a, L2TP_ATTR_SESSION_ID, "L2TP_ATTR_SESSION_ID") else {
            throw WireError("L2TP session message without L2TP_ATTR_SESSION_ID")
        }
        tunnelID = tid
        sessionID = sid
        peerTunnelID = try L2TPWire.u32(a, L2TP_ATTR_PEER_CONN_ID, "L2TP_ATTR_PEER_CONN_ID") ?? 0
        peerSessionID = try L2TPWire.u32(a, L2TP_ATTR_PEER_SESSION_ID, "L2TP_ATTR_PEER_SESSION_ID") ?? 0
        pseudowireType = L2TPPseudowireType(rawValue: try L2TPWire.u16(a, L2TP_ATTR_PW_TYPE, "L2TP_ATTR_PW_TYPE") ?? 0)
        l2specType = try L2TPWire.u8(a, L2TP_ATTR_L2SPEC_TYPE, "L2TP_ATTR_L2SPEC_TYPE").map(L2TPL2SpecType.init(rawValue:))
        l2specLength = try L2TPWire.u8(a, L2TP_ATTR_L2SPEC_LEN, "L2TP_ATTR_L2SPEC_LEN")
        recvSeq = try L2TPWire.u8(a, L2TP_ATTR_RECV_SEQ, "L2TP_ATTR_RECV_SEQ").map { $0 != 0 }
        sendSeq = try L2TPWire.u8(a, L2TP_ATTR_SEND_SEQ, "L2TP_ATTR_SEND_SEQ").map { $0 != 0 }
        lnsMode = try L2TPWire.u8(a, L2TP_ATTR_LNS_MODE, "L2TP_ATTR_LNS_MODE").map { $0 != 0 }
        reorderTimeout = try L2TPWire.u64(a, L2TP_ATTR_RECV_TIMEOUT, "L2TP_ATTR_RECV_TIMEOUT")
        cookie = try L2TPWire.cookie(a, L2TP_ATTR_COOKIE, "L2TP_ATTR_COOKIE")
        peerCookie = try L2TPWire.cookie(a, L2TP_ATTR_PEER_COOKIE, "L2TP_ATTR_PEER_COOKIE")
        ifname = a.first(L2TP_ATTR_IFNAME)?.string
        mtu = try L2TPWire.u16(a, L2TP_ATTR_MTU, "L2TP_ATTR_MTU")
        debug = try L2TPWire.u32(a, L2TP_ATTR_DEBUG, "L2TP_ATTR_DEBUG")
        usingIPsec = (try L2TPWire.u8(a, L2TP_ATTR_USING_IPSEC, "L2TP_ATTR_USING_IPSEC") ?? 0) != 0
        stats = try a.first(L2TP_ATTR_STATS).map { try L2TPStats(decoding: $0) }
    }

    /// Encodes the session as the kernel's reply would look (attribute order of l2tp_nl_session_send) — for fakes
    /// and tests.
    public func replyAttributes() -> AttributeWriter {
        var w = AttributeWriter()
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        w.u32(L2TP_ATTR_SESSION_ID, sessionID)
        w.u32(L2TP_ATTR_PEER_CONN_ID, peerTunnelID)
        w.u32(L2TP_ATTR_PEER_SESSION_ID, peerSessionID)
        w.u32(L2TP_ATTR_DEBUG, debug ?? 0)
        w.u16(L2TP_ATTR_PW_TYPE, pseudowireType.rawValue)
        if let ifname, !ifname.isEmpty { w.string(L2TP_ATTR_IFNAME, ifname) }
        if let cookie, !cookie.isEmpty { w.raw(L2TP_ATTR_COOKIE, cookie) }
        if let peerCookie, !peerCookie.isEmpty { w.raw(L2TP_ATTR_PEER_COOKIE, peerCookie) }
        w.u8(L2TP_ATTR_RECV_SEQ, recvSeq == true ? 1 : 0)
        w.u8(L2TP_ATTR_SEND_SEQ, sendSeq == true ? 1 : 0)
        w.u8(L2TP_ATTR_LNS_MODE, lnsMode == true ? 1 : 0)
        if usingIPsec { w.u8(L2TP_ATTR_USING_IPSEC, 1) }
        if let reorderTimeout, reorderTimeout != 0 { w.u64(L2TP_ATTR_RECV_TIMEOUT, reorderTimeout) }
        (stats ?? L2TPStats()).encode(into: &w)
        return w
    }
}

/// What L2TP_CMD_SESSION_MODIFY can change (l2tp.rst: RECV_SEQ, SEND_SEQ, LNS_MODE, RECV_TIMEOUT, DEBUG).
/// The session is named by tunnel and session id, or by `ifname`, which then takes precedence.
public struct L2TPSessionModification: Equatable, Sendable {
    /// L2TP_ATTR_CONN_ID.
    public var tunnelID: UInt32
    /// L2TP_ATTR_SESSION_ID.
    public var sessionID: UInt32
    /// L2TP_ATTR_IFNAME: identifies the session by interface instead (L2TPv3 Ethernet sessions).
    public var ifname: String?
    /// L2TP_ATTR_RECV_SEQ.
    public var recvSeq: Bool?
    /// L2TP_ATTR_SEND_SEQ.
    public var sendSeq: Bool?
    /// L2TP_ATTR_LNS_MODE.
    public var lnsMode: Bool?
    /// L2TP_ATTR_RECV_TIMEOUT in milliseconds.
    public var reorderTimeout: UInt64?
    /// L2TP_ATTR_DEBUG.
    public var debug: UInt32?

    /// A modification; nil fields are left as they are.
    public init(tunnelID: UInt32, sessionID: UInt32, ifname: String? = nil, recvSeq: Bool? = nil, sendSeq: Bool? = nil,
                lnsMode: Bool? = nil, reorderTimeout: UInt64? = nil, debug: UInt32? = nil) {
        self.tunnelID = tunnelID; self.sessionID = sessionID; self.ifname = ifname; self.recvSeq = recvSeq
        self.sendSeq = sendSeq; self.lnsMode = lnsMode; self.reorderTimeout = reorderTimeout; self.debug = debug
    }
}

/// Builds the l2tp family's requests. `family` is the id the controller resolved for "l2tp".
public enum L2TPNetlink {
    /// L2TP_GENL_NAME.
    public static let familyName = L2TP_GENL_NAME
    /// L2TP_GENL_VERSION: sent in every genlmsghdr.
    public static let version = UInt8(L2TP_GENL_VERSION)
    /// L2TP_GENL_MCGROUP: the multicast group carrying create/delete/modify notifications.
    public static let multicastGroup = L2TP_GENL_MCGROUP

    /// A request of `command` with `attributes`.
    public static func message(_ command: L2TPGenlCommand, family: UInt16, attributes: AttributeWriter = AttributeWriter()) throws -> NetlinkMessage {
        try GenericMessage.make(family: family, command: command.rawValue, version: version, attributes: attributes)
    }

    /// L2TP_CMD_TUNNEL_CREATE.
    public static func createTunnel(_ c: L2TPTunnelConfig, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        c.encodeCreateAttributes(into: &w)
        return try message(.tunnelCreate, family: family, attributes: w)
    }

    /// L2TP_CMD_TUNNEL_DELETE (the tunnel's sessions go with it).
    public static func deleteTunnel(_ tunnelID: UInt32, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        return try message(.tunnelDelete, family: family, attributes: w)
    }

    /// L2TP_CMD_TUNNEL_MODIFY (only DEBUG is modifiable).
    public static func modifyTunnel(_ tunnelID: UInt32, debug: UInt32? = nil, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        if let debug { w.u32(L2TP_ATTR_DEBUG, debug) }
        return try message(.tunnelModify, family: family, attributes: w)
    }

    /// L2TP_CMD_TUNNEL_GET: with an id, a request for that tunnel; without, the body of a dump (CONN_ID is
    /// ignored in dumps, l2tp.rst).
    public static func getTunnel(_ tunnelID: UInt32? = nil, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        if let tunnelID { w.u32(L2TP_ATTR_CONN_ID, tunnelID) }
        return try message(.tunnelGet, family: family, attributes: w)
    }

    /// L2TP_CMD_SESSION_CREATE.
    public static func createSession(_ s: L2TPSessionConfig, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        s.encodeCreateAttributes(into: &w)
        return try message(.sessionCreate, family: family, attributes: w)
    }

    /// L2TP_CMD_SESSION_DELETE by tunnel and session id.
    public static func deleteSession(tunnelID: UInt32, sessionID: UInt32, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.u32(L2TP_ATTR_CONN_ID, tunnelID)
        w.u32(L2TP_ATTR_SESSION_ID, sessionID)
        return try message(.sessionDelete, family: family, attributes: w)
    }

    /// L2TP_CMD_SESSION_DELETE by pseudowire interface name.
    public static func deleteSession(ifname: String, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.string(L2TP_ATTR_IFNAME, ifname)
        return try message(.sessionDelete, family: family, attributes: w)
    }

    /// L2TP_CMD_SESSION_MODIFY.
    public static func modifySession(_ m: L2TPSessionModification, family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        w.u32(L2TP_ATTR_CONN_ID, m.tunnelID)
        w.u32(L2TP_ATTR_SESSION_ID, m.sessionID)
        if let ifname = m.ifname { w.string(L2TP_ATTR_IFNAME, ifname) }
        if let v = m.recvSeq { w.u8(L2TP_ATTR_RECV_SEQ, v ? 1 : 0) }
        if let v = m.sendSeq { w.u8(L2TP_ATTR_SEND_SEQ, v ? 1 : 0) }
        if let v = m.lnsMode { w.u8(L2TP_ATTR_LNS_MODE, v ? 1 : 0) }
        if let v = m.reorderTimeout { w.u64(L2TP_ATTR_RECV_TIMEOUT, v) }
        if let v = m.debug { w.u32(L2TP_ATTR_DEBUG, v) }
        return try message(.sessionModify, family: family, attributes: w)
    }

    /// L2TP_CMD_SESSION_GET: with ids, a request for that session; without, the body of a dump.
    public static func getSession(tunnelID: UInt32? = nil, sessionID: UInt32? = nil, ifname: String? = nil,
                                  family: UInt16) throws -> NetlinkMessage {
        var w = AttributeWriter()
        if let tunnelID { w.u32(L2TP_ATTR_CONN_ID, tunnelID) }
        if let sessionID { w.u32(L2TP_ATTR_SESSION_ID, sessionID) }
        if let ifname { w.string(L2TP_ATTR_IFNAME, ifname) }
        return try message(.sessionGet, family: family, attributes: w)
    }

    /// A kernel-style reply for a tunnel (cmd L2TP_CMD_TUNNEL_GET) — for fakes and tests.
    public static func tunnelReply(_ c: L2TPTunnelConfig, family: UInt16, flags: NetlinkFlags = .multi) throws -> NetlinkMessage {
        try GenericMessage.make(family: family, command: L2TPGenlCommand.tunnelGet.rawValue, version: version, flags: flags,
                            attributes: c.replyAttributes())
    }

    /// A kernel-style reply for a session (cmd L2TP_CMD_SESSION_GET) — for fakes and tests.
    public static func sessionReply(_ s: L2TPSessionConfig, family: UInt16, flags: NetlinkFlags = .multi) throws -> NetlinkMessage {
        try GenericMessage.make(family: family, command: L2TPGenlCommand.sessionGet.rawValue, version: version, flags: flags,
                            attributes: s.replyAttributes())
    }
}

/// Attribute readers that throw on a present-but-short payload instead of silently reading nothing.
enum L2TPWire {
    static func u8(_ a: [Attribute], _ type: Int, _ name: String) throws -> UInt8? {
        guard let x = a.first(type) else { return nil }
        guard let v = x.u8 else { throw WireError("\(name) needs 1 byte, got \(x.data.count)") }
        return v
    }
    static func u16(_ a: [Attribute], _ type: Int, _ name: String) throws -> UInt16? {
        guard let x = a.first(type) else { return nil }
        guard let v = x.u16 else { throw WireError("\(name) needs 2 bytes, got \(x.data.count)") }
        return v
    }
    static func u32(_ a: [Attribute], _ type: Int, _ name: String) throws -> UInt32? {
        guard let x = a.first(type) else { return nil }
        guard let v = x.u32 else { throw WireError("\(name) needs 4 bytes, got \(x.data.count)") }
        return v
    }
    static func u64(_ a: [Attribute], _ type: Int, _ name: String) throws -> UInt64? {
        guard let x = a.first(type) else { return nil }
        guard let v = x.u64 else { throw WireError("\(name) needs 8 bytes, got \(x.data.count)") }
        return v
    }
    /// IPv4 attribute (4 bytes) preferred, else the IPv6 one (16 bytes).
    static func address(_ a: [Attribute], v4: Int, v6: Int, _ what: String) throws -> IPAddress? {
        if let x = a.first(v4) {
            guard x.data.count == 4, let ip = IPAddress(bytes: x.data) else {
                throw WireError("IPv4 \(what) needs 4 bytes, got \(x.data.count)")
            }
            return ip
        }
        if let x = a.first(v6) {
            guard x.data.count == 16, let ip = IPAddress(bytes: x.data) else {
                throw WireError("IPv6 \(what) needs 16 bytes, got \(x.data.count)")
            }
            return ip
        }
        return nil
    }
    /// Cookies are 0, 4 or 8 bytes (linux/l2tp.h); the kernel's policy caps them at 8.
    static func cookie(_ a: [Attribute], _ type: Int, _ name: String) throws -> [UInt8]? {
        guard let x = a.first(type) else { return nil }
        guard x.data.count <= 8 else { throw WireError("\(name) is \(x.data.count) bytes; cookies are at most 8") }
        return x.bytes
    }
}
