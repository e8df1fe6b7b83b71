import DataplaneWire
import TestSupport

// Shared helpers for the DataplaneWire tests: a reference checksum written straight from RFC 1071, byte
// builders for Ethernet/IPv4/IPv6/TCP/UDP packets, and wrappers that run the pointer-based API on arrays.

// MARK: - Reference Internet checksum

/// RFC 1071 §1: the 16-bit one's complement sum of big-endian 16-bit words, an odd trailing byte padded with a
/// zero byte on the right, folded with end-around carry. Returns the folded sum (not inverted) as a number.
func referenceSum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
    var s: UInt32 = initial
    var i = 0
    while i + 1 < bytes.count {
        s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
        s = (s & 0xffff) + (s >> 16)
        i += 2
    }
    if i < bytes.count {
        s += UInt32(bytes[i]) << 8
        s = (s & 0xffff) + (s >> 16)
    }
    return UInt16(s)
}

/// The checksum to put in a header field (RFC 1071 §1: the one's complement of the sum), as a number whose
/// big-endian bytes go on the wire.
func referenceChecksum(_ bytes: [UInt8]) -> UInt16 { ~referenceSum(bytes) }

/// A checksum field read back as a number from its big-endian bytes.
func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }
func be32(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
}
func put16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v >> 8); b[at + 1] = UInt8(truncatingIfNeeded: v) }
func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
    for k in 0..<4 { b[at + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(k))) }
}
func bytes16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(truncatingIfNeeded: v)] }
func bytes32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }

/// A folded `InternetChecksum` value (which lies in memory in network order) as a number.
func asNumber(_ memoryOrder: UInt16) -> UInt16 { UInt16(bigEndian: memoryOrder) }

func hex(_ b: [UInt8]) -> String {
    b.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}


// MARK: - Packet builders

let macA: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]
let macB: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b]
let v4A: [UInt8] = [192, 0, 2, 1]          // RFC 5737 documentation addresses
let v4B: [UInt8] = [198, 51, 100, 2]
let v6A: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]   // RFC 3849
let v6B: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]

/// Ethernet II header (IEEE 802.3 §3.1.1), with optional 802.1Q / 802.1ad tags: each tag is (TPID, TCI).
func ethernetHeader(dst: [UInt8] = macB, src: [UInt8] = macA, tags: [(UInt16, UInt16)] = [], type: UInt16) -> [UInt8] {
    var h = dst + src
    for (tpid, tci) in tags { h += bytes16(tpid) + bytes16(tci) }
    return h + bytes16(type)
}

/// A TCP segment description.
struct TCPSpec {
    var v6 = false
    var src: [UInt8] = v4A
    var dst: [UInt8] = v4B
    var sport: UInt16 = 40000
    var dport: UInt16 = 5201
    var seq: UInt32 = 1_000_000
    var ack: UInt32 = 77_777
    var flags: UInt8 = 0x10          // ACK
    var window: UInt16 = 501
    var options: [UInt8] = []
    var ipID: UInt16 = 0x1234
    var ttl: UInt8 = 64
    var ipOptions: [UInt8] = []
    var tos: UInt8 = 0
    var flowLabel: UInt32 = 0x12345

    /// TCP timestamps (RFC 7323 §3): NOP NOP TS(8, 10, TSval, TSecr): 12 bytes, so a 32-byte TCP header.
    static func timestamps(_ val: UInt32 = 0x0102_0304, _ ecr: UInt32 = 0x0506_0708) -> [UInt8] {
        [1, 1, 8, 10] + bytes32(val) + bytes32(ecr)
    }
}

enum TCPChecksum {
    /// Complete: a correct checksum (RFC 793 §3.1 / RFC 9293 §3.1).
    case full
    /// CHECKSUM_PARTIAL: the folded pseudo-header sum, not inverted, as the kernel leaves it for offload.
    case partial
    /// Zero.
    case none
}

/// The pseudo-header (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6) as bytes.
func pseudoHeaderBytes(src: [UInt8], dst: [UInt8], proto: UInt8, length: Int) -> [UInt8] {
    if src.count == 4 { return src + dst + [0, proto] + bytes16(UInt16(length)) }
    return src + dst + bytes32(UInt32(length)) + [0, 0, 0, proto]
}

/// An IPv4 (RFC 791 §3.1) or IPv6 (RFC 8200 §3) packet carrying TCP, with correct IPv4 header checksum.
func tcpPacket(_ s: TCPSpec, payload: [UInt8], checksum: TCPChecksum = .full) -> [UInt8] {
    precondition(s.options.count % 4 == 0 && s.ipOptions.count % 4 == 0)
    var tcp = bytes16(s.sport) + bytes16(s.dport) + bytes32(s.seq) + bytes32(s.ack)
    tcp += [UInt8((20 + s.options.count) / 4) << 4, s.flags] + bytes16(s.window) + [0, 0, 0, 0] + s.options
    tcp += payload
    let pseudo = pseudoHeaderBytes(src: s.src, dst: s.dst, proto: 6, length: tcp.count)
    switch checksum {
    case .full: put16(&tcp, 16, referenceChecksum(pseudo + tcp))
    case .partial: put16(&tcp, 16, referenceSum(pseudo))
    case .none: break
    }
    return ipPacket(v6: s.v6, src: s.src, dst: s.dst, proto: 6, payload: tcp, id: s.ipID, ttl: s.ttl,
                    options: s.ipOptions, tos: s.tos, flowLabel: s.flowLabel)
}

func ipPacket(v6: Bool, src: [UInt8], dst: [UInt8], proto: UInt8, payload: [UInt8], id: UInt16 = 1, ttl: UInt8 = 64,
              options: [UInt8] = [], tos: UInt8 = 0, flowLabel: UInt32 = 0, dontFragment: Bool = true) -> [UInt8] {
    if v6 {
        var h: [UInt8] = bytes32(6 << 28 | UInt32(tos) << 20 | flowLabel & 0xfffff)
        h += bytes16(UInt16(payload.count)) + [proto, ttl] + src + dst
        return h + payload
    }
    let hl = 20 + options.count
    var h: [UInt8] = [0x40 | UInt8(hl / 4), tos] + bytes16(UInt16(hl + payload.count)) + bytes16(id)
    h += (dontFragment ? [0x40, 0] : [0, 0]) + [ttl, proto, 0, 0] + src + dst + options
    put16(&h, 10, referenceChecksum(h))
    return h + payload
}

func udpPacket(v6: Bool = false, payload: [UInt8]) -> [UInt8] {
    let udp = bytes16(1234) + bytes16(53) + bytes16(UInt16(8 + payload.count)) + [0, 0] + payload
    return ipPacket(v6: v6, src: v6 ? v6A : v4A, dst: v6 ? v6B : v4B, proto: 17, payload: udp)
}

/// An Ethernet frame carrying `ip` (an IP packet), EtherType from its version nibble.
func ethernetFrame(_ ip: [UInt8], tags: [(UInt16, UInt16)] = []) -> [UInt8] {
    ethernetHeader(tags: tags, type: ip[0] >> 4 == 6 ? 0x86dd : 0x0800) + ip
}

/// True when the TCP checksum of the IP packet at `ipOffset` of `frame` verifies (RFC 1071 §2: the sum over
/// pseudo-header and segment, checksum included, is all ones).
func tcpChecksumValid(_ frame: [UInt8], ipOffset: Int) -> Bool {
    let v6 = frame[ipOffset] >> 4 == 6
    let ipHL = v6 ? 40 : Int(frame[ipOffset] & 0x0f) * 4
    let ipLen = v6 ? 40 + Int(be16(frame, ipOffset + 4)) : Int(be16(frame, ipOffset + 2))
    let src = Array(frame[(ipOffset + (v6 ? 8 : 12))..<(ipOffset + (v6 ? 24 : 16))])
    let dst = Array(frame[(ipOffset + (v6 ? 24 : 16))..<(ipOffset + (v6 ? 40 : 20))])
    let seg = Array(frame[(ipOffset + ipHL)..<(ipOffset + ipLen)])
    return referenceSum(pseudoHeaderBytes(src: src, dst: dst, proto: 6, length: seg.count) + seg) == 0xffff
}

// MARK: - Running the pointer API on arrays

/// Copies `bytes` into an allocation of exactly their size (so an address sanitizer would see any overread),
/// and runs `body` on it.
func withExactBuffer<R>(_ bytes: [UInt8], _ body: (UnsafeMutableRawPointer, Int) throws -> R) rethrows -> R {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
    defer { p.deallocate() }
    bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: bytes.count) } }
    return try body(p, bytes.count)
}

extension Decoder {
    mutating func decode(_ bytes: [UInt8], from source: PeerAddress, ipHeader: Bool = false) -> Decoded {
        withExactBuffer(bytes) { p, n in decode(UnsafeRawPointer(p), count: n, source: source, ipHeader: ipHeader) }
    }
}

extension Encoder {
    /// Header plus frame, GRE checksum filled in when configured.
    mutating func encapsulate(_ frame: [UInt8], ipVersion: Int = 4, peerSequencing: Bool = false) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: headerLength + frame.count)
        let hl = headerLength
        out.withUnsafeMutableBytes { p in
            writeHeader(p.baseAddress!, ipVersion: ipVersion, peerSequencing: peerSequencing)
            for (k, b) in frame.enumerated() { p[hl + k] = b }
            if needsFinish { finish(p.baseAddress!, length: p.count) }
        }
        return out
    }

    /// The header alone (as written in front of `frameLength` bytes; the GRE checksum is left zero).
    mutating func header(ipVersion: Int = 4, peerSequencing: Bool = false) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: headerLength)
        out.withUnsafeMutableBytes { p in
            if let b = p.baseAddress { writeHeader(b, ipVersion: ipVersion, peerSequencing: peerSequencing) }
            else { var one: UInt8 = 0; writeHeader(&one, ipVersion: ipVersion, peerSequencing: peerSequencing) }
        }
        return out
    }
}

let peerA = PeerAddress(bytes: v4A)!
let peerB = PeerAddress(bytes: v4B)!
let peerC = PeerAddress(bytes: [203, 0, 113, 9])!
let peer6 = PeerAddress(bytes: v6A)!

func session(_ e: Encapsulation, ethernet: Bool = true, peers: [PeerAddress] = [peerA], name: String = "t0") -> SessionConfig {
    SessionConfig(name: name, encapsulation: e, ethernet: ethernet, peers: peers)
}

/// A 60-byte Ethernet frame (minimum size without FCS) with a recognisable payload.
func sampleEthernetFrame(_ fill: UInt8 = 0x5a) -> [UInt8] {
    ethernetFrame(udpPacket(payload: [UInt8](repeating: fill, count: 18)))
}
