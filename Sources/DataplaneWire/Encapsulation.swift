import Addresses
import CLinuxUAPI

/// Why the data plane dropped a frame or datagram. Every drop is counted under one of these.
public enum DropReason: Int, CaseIterable, Sendable {
    /// Too short, a bad version or flags, a header that does not parse.
    case malformed
    /// No session for the VNI, L2TPv3 session id or GRE key.
    case unknownSession
    /// The datagram came from an address that is not one of the session's peers.
    case unknownPeer
    /// L2TPv3 cookie missing or different from the configured peer cookie.
    case badCookie
    /// GRE checksum present and wrong.
    case badChecksum
    /// A sequence number that is required and missing, or older than one already received.
    case outOfSequence
    /// An L2TP control message (T bit, or session id 0 over IP): the data plane does not handle them.
    case control
    /// Larger than the underlay can carry, or than the receive buffer.
    case tooBig
    /// A frame the tunnel cannot carry (an IPv6 packet on an IPv4-only IPIP tunnel, an offload type it does not know).
    case unsupported
    /// The socket or the TAP/TUN refused it (see the log for errno).
    case ioError

    /// The name in counters and JSON (`bad_cookie`, ...).
    public var name: String {
        switch self {
        case .malformed: "malformed"
        case .unknownSession: "unknown_session"
        case .unknownPeer: "unknown_peer"
        case .badCookie: "bad_cookie"
        case .badChecksum: "bad_checksum"
        case .outOfSequence: "out_of_sequence"
        case .control: "control"
        case .tooBig: "too_big"
        case .unsupported: "unsupported"
        case .ioError: "io_error"
        }
    }
}

/// L2TPv3 data session parameters (RFC 3931 §4.1.1, RFC 4719), in the kernel's terms: `sessionID` and `peerCookie`
/// are what arrives, `peerSessionID` and `cookie` what is sent.
public struct L2TPv3Options: Equatable, Sendable {
    public var sessionID: UInt32
    public var peerSessionID: UInt32
    /// Sent in every data message (0, 4 or 8 bytes).
    public var cookie: [UInt8]
    /// Required in every data message received (0, 4 or 8 bytes).
    public var peerCookie: [UInt8]
    /// The default L2-specific sublayer (RFC 4719 §3.2.2): 4 bytes, S bit and a 24-bit sequence number.
    public var defaultL2SpecificSublayer: Bool
    /// Send sequence numbers (needs the default sublayer).
    public var sendSequence: Bool
    /// Require sequence numbers on receive.
    public var receiveSequence: Bool

    public init(sessionID: UInt32, peerSessionID: UInt32, cookie: [UInt8] = [], peerCookie: [UInt8] = [],
                defaultL2SpecificSublayer: Bool = true, sendSequence: Bool = false, receiveSequence: Bool = false) {
        self.sessionID = sessionID; self.peerSessionID = peerSessionID; self.cookie = cookie; self.peerCookie = peerCookie
        self.defaultL2SpecificSublayer = defaultL2SpecificSublayer; self.sendSequence = sendSequence
        self.receiveSequence = receiveSequence
    }
}

/// GRE options (RFC 2784, RFC 2890), as the kernel's ikey/okey, icsum/ocsum, iseq/oseq.
public struct GREOptions: Equatable, Sendable {
    public var inKey: UInt32?
    public var outKey: UInt32?
    public var inChecksum: Bool
    public var outChecksum: Bool
    public var inSequence: Bool
    public var outSequence: Bool
    public init(inKey: UInt32? = nil, outKey: UInt32? = nil, inChecksum: Bool = false, outChecksum: Bool = false,
                inSequence: Bool = false, outSequence: Bool = false) {
        self.inKey = inKey; self.outKey = outKey; self.inChecksum = inChecksum; self.outChecksum = outChecksum
        self.inSequence = inSequence; self.outSequence = outSequence
    }
}

/// What a session puts in front of each frame.
public enum Encapsulation: Equatable, Sendable {
    /// VXLAN (RFC 7348): 8 bytes, I flag and the 24-bit VNI. Ethernet.
    case vxlan(vni: UInt32)
    /// L2TPv3 Ethernet pseudowire data message (RFC 3931 §4.1.1.2 over UDP, §4.1.1.1 over IP).
    case l2tpv3(L2TPv3Options)
    /// GRE: protocol 0x6558 (Ethernet, gretap) on an Ethernet session, the IP version's EtherType on an IP session.
    case gre(GREOptions)
    /// IP in IP (IPIP, SIT, ip6tnl): no header of its own; the outer IP protocol is 4 or 41 by the inner version.
    case ipInIP(allowIPv4: Bool, allowIPv6: Bool)

    public var name: String {
        switch self {
        case .vxlan: "vxlan"
        case .l2tpv3: "l2tpv3"
        case .gre: "gre"
        case .ipInIP: "ipip"
        }
    }
}

/// How encapsulated frames travel: in UDP datagrams, or directly over IP (raw socket of the given protocol).
public enum Transport: Equatable, Sendable {
    case udp(localPort: UInt16, remotePort: UInt16)
    case ip(protocolNumber: UInt8)

    public var isUDP: Bool { if case .udp = self { true } else { false } }
}

/// An underlay address of a peer, without allocation (IPv4 in the first 4 bytes of `high`'s storage order): what
/// the per-packet paths compare and hash; `IPAddress` everywhere else.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isV6: Bool

    public init(high: UInt64, low: UInt64, isV6: Bool) { self.high = high; self.low = low; self.isV6 = isV6 }

    /// From 4 or 16 address bytes in network order.
    public init?(bytes: some Collection<UInt8>) {
        let b = Array(bytes)
        guard b.count == 4 || b.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<min(8, b.count) { h = h << 8 | UInt64(b[i]) }
        if b.count == 4 { h <<= 32 }
        if b.count == 16 { for i in 8..<16 { l = l << 8 | UInt64(b[i]) } }
        self.init(high: h, low: l, isV6: b.count == 16)
    }

    public init(_ address: IPAddress) { self.init(bytes: address.bytes)! }

    public var bytes: [UInt8] {
        let n = isV6 ? 16 : 4
        return (0..<n).map { i in
            i < 8 ? UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) : UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i - 8)))
        }
    }

    /// The address as `Addresses`' `IPAddress` (which this is a packed, allocation-free form of).
    public var ipAddress: IPAddress { IPAddress(bytes: bytes)! }

    /// `IPAddress`'s text (inet_ntop's).
    public var description: String { ipAddress.description }
}

/// Protocol numbers from the kernel's headers.
public enum WireNumbers {
    public static let ipprotoGRE = UInt8(IPPROTO_GRE)
    public static let ipprotoIPIP = UInt8(IPPROTO_IPIP)
    public static let ipprotoIPv6 = UInt8(IPPROTO_IPV6)
    public static let ipprotoUDP = UInt8(IPPROTO_UDP)
    public static var ipprotoL2TP: UInt8 { UInt8(isthmus_ipproto_l2tp) }
    public static let ethernetBridging = UInt16(ETH_P_TEB)
    public static let etherTypeIPv4 = UInt16(ETH_P_IP)
    public static let etherTypeIPv6 = UInt16(ETH_P_IPV6)
    public static let vxlanPort: UInt16 = 4789   // IANA (RFC 7348 §5); iproute2 requires it spelled out
    public static let greInUDPPort: UInt16 = 4754  // IANA (RFC 8086 §3)
    public static let greFlagChecksum = UInt16(ISTHMUS_GRE_CSUM.bigEndian)
    public static let greFlagKey = UInt16(ISTHMUS_GRE_KEY.bigEndian)
    public static let greFlagSequence = UInt16(ISTHMUS_GRE_SEQ.bigEndian)
}

extension WireNumbers {
    public static let greFlagRouting = UInt16(ISTHMUS_GRE_ROUTING.bigEndian)
    public static let greVersionMask = UInt16(ISTHMUS_GRE_VERSION.bigEndian)
}
