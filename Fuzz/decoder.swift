// libFuzzer target for DataplaneWire's Decoder. Built by Tools/fuzz/run together with Sources/DataplaneWire
// (not through SwiftPM), with -sanitize=fuzzer,address.
//
// Input: byte 0 picks one of `configurations` (modulo their count), byte 1 picks the source address
// (bits 0-1: A, B, C, an IPv6 peer); the rest is one datagram. The datagram is decoded twice by a fresh decoder,
// so the second decode sees the sequence state the first left.
//
// Checked (trap via `require`, a precondition that prints its message): a `.frame` names an existing session, and
// a peer of it that is the source address; it lies inside the datagram, and in fact ends where the datagram ends;
// an Ethernet frame is at least 14 bytes; a frame that carried a sequence number the session checks is a duplicate
// the second time, any other frame decodes the same the second time; a drop is charged to an existing session.
// Tools/fuzz/make-seeds.py writes seeds in the same layout; keep the two configuration tables in step.

let peerA = PeerAddress(bytes: [192, 0, 2, 1])!
let peerB = PeerAddress(bytes: [198, 51, 100, 2])!
let peerC = PeerAddress(bytes: [203, 0, 113, 9])!
let peer6 = PeerAddress(bytes: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])!
let sources = [peerA, peerB, peerC, peer6]

func s(_ e: Encapsulation, ethernet: Bool = true, peers: [PeerAddress] = [peerA]) -> SessionConfig {
    SessionConfig(name: "f", encapsulation: e, ethernet: ethernet, peers: peers)
}

let udp = Transport.udp(localPort: 4789, remotePort: 4789)
let cookie4: [UInt8] = [0xc0, 0x0c, 0x1e, 0x04]
let cookie8: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]

/// (sessions, transport, ipHeader). Index = selector byte modulo count.
let configurations: [([SessionConfig], Transport, Bool)] = [
    // 0: VXLAN, two VNIs, the second with two peers.
    ([s(.vxlan(vni: 1)), s(.vxlan(vni: 0x12_3456), peers: [peerA, peerB])], udp, false),
    // 1: L2TPv3 over UDP: session 1 plain; session 2 with a 4-byte cookie and required sequencing.
    ([s(.l2tpv3(L2TPv3Options(sessionID: 1, peerSessionID: 1))),
      s(.l2tpv3(L2TPv3Options(sessionID: 2, peerSessionID: 2, peerCookie: cookie4, receiveSequence: true)))], udp, false),
    // 2: L2TPv3 over UDP: session 3 with an 8-byte cookie and no sublayer, from the IPv6 peer or B.
    ([s(.l2tpv3(L2TPv3Options(sessionID: 3, peerSessionID: 3, peerCookie: cookie8, defaultL2SpecificSublayer: false)),
        peers: [peer6, peerB])], udp, false),
    // 3: L2TPv3 over IP (115), the same sessions as 1 and 2.
    ([s(.l2tpv3(L2TPv3Options(sessionID: 1, peerSessionID: 1))),
      s(.l2tpv3(L2TPv3Options(sessionID: 2, peerSessionID: 2, peerCookie: cookie4, receiveSequence: true))),
      s(.l2tpv3(L2TPv3Options(sessionID: 3, peerSessionID: 3, peerCookie: cookie8, defaultL2SpecificSublayer: false)),
        peers: [peer6, peerB])], .ip(protocolNumber: 115), false),
    // 4: as 3 with the IPv4 header in front (IPv4 raw socket).
    ([s(.l2tpv3(L2TPv3Options(sessionID: 1, peerSessionID: 1))),
      s(.l2tpv3(L2TPv3Options(sessionID: 2, peerSessionID: 2, peerCookie: cookie4, receiveSequence: true)))],
     .ip(protocolNumber: 115), true),
    // 5: GRE over IP: keyless gretap.
    ([s(.gre(GREOptions()))], .ip(protocolNumber: 47), false),
    // 6: GRE over IP: key 7 on an IP (TUN) session with checksum and sequence required; key 8 gretap, iseq.
    ([s(.gre(GREOptions(inKey: 7, inChecksum: true, inSequence: true)), ethernet: false),
      s(.gre(GREOptions(inKey: 8, inSequence: true)), peers: [peerA, peerB, peer6])], .ip(protocolNumber: 47), false),
    // 7: as 6 with the IPv4 header in front.
    ([s(.gre(GREOptions(inKey: 7, inChecksum: true, inSequence: true)), ethernet: false),
      s(.gre(GREOptions(inKey: 8, inSequence: true)), peers: [peerA, peerB, peer6])], .ip(protocolNumber: 47), true),
    // 8: GRE in UDP (RFC 8086): keyless IP session plus key 9 gretap.
    ([s(.gre(GREOptions()), ethernet: false), s(.gre(GREOptions(inKey: 9)))], .udp(localPort: 4754, remotePort: 4754), false),
    // 9: IPIP (protocol 4), IPv4-only session from A, dual session from B and the IPv6 peer.
    ([s(.ipInIP(allowIPv4: true, allowIPv6: false), ethernet: false),
      s(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false, peers: [peerB, peer6])], .ip(protocolNumber: 4), false),
    // 10: as 9 with the IPv4 header in front.
    ([s(.ipInIP(allowIPv4: true, allowIPv6: false), ethernet: false),
      s(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false, peers: [peerB, peer6])], .ip(protocolNumber: 4), true),
    // 11: SIT / ip6tnl (protocol 41), same sessions.
    ([s(.ipInIP(allowIPv4: true, allowIPv6: false), ethernet: false),
      s(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false, peers: [peerB, peer6])], .ip(protocolNumber: 41), false),
    // 12: IP in IP cannot come over UDP.
    ([s(.ipInIP(allowIPv4: true, allowIPv6: true), ethernet: false)], udp, false),
    // 13: no sessions at all.
    ([], udp, false),
]

func check(_ r: Decoded, _ d: Decoder, count: Int, source: PeerAddress) {
    guard case .frame(let session, let peer, let offset, let length, _) = r else {
        if case .drop(_, let session?) = r { require(session >= 0 && session < d.sessions.count, "drop charged to no session") }
        return
    }
    require(session >= 0 && session < d.sessions.count, "frame for no session")
    require(peer >= 0 && peer < d.sessions[session].peers.count, "frame from no peer")
    require(d.sessions[session].peers[peer] == source, "frame from another peer than its source")
    require(offset >= 0 && length >= 0 && offset <= count && length <= count - offset, "frame outside the datagram")
    require(offset + length == count, "frame does not end with the datagram")
    if d.sessions[session].ethernet { require(length >= 14, "Ethernet frame shorter than its header") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let (sessions, transport, ipHeader) = configurations[Int(data[0]) % configurations.count]
    let source = sources[Int(data[1] & 3)]
    // The datagram keeps the input's end, so a read past it is past the allocation libFuzzer made.
    let p = UnsafeRawPointer(data + 2)
    let n = size - 2
    var d = Decoder(sessions: sessions, transport: transport)
    let first = d.decode(p, count: n, source: source, ipHeader: ipHeader)
    check(first, d, count: n, source: source)
    let second = d.decode(p, count: n, source: source, ipHeader: ipHeader)
    check(second, d, count: n, source: source)
    if case .frame(let session, _, _, _, let sequenced) = first {
        var checked = sequenced
        if case .gre(let o) = sessions[session].encapsulation { checked = o.inSequence }
        if checked { require(second == .drop(.outOfSequence, session: session), "a repeated sequence number was accepted") }
        else { require(second == first, "the same datagram decoded differently") }
    }
    return 0
}

/// precondition, but with its message printed in -O builds too.
@inline(__always) func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
