import DataplaneWire
import TestSupport
import Testing

/// A TCP GSO frame as a TAP/TUN with IFF_VNET_HDR delivers it: one IP packet of up to 64 KB, the TCP checksum
/// field holding the pseudo-header sum (CHECKSUM_PARTIAL), and a virtio_net_hdr describing the segmentation.
struct GSOFrame {
    var frame: [UInt8]
    var header: VirtioNetHeader
    var spec: TCPSpec
    var ethernet: Bool
    var ipOffset: Int
    var l4Offset: Int
    var headerLength: Int
    var payload: [UInt8]

    init(ethernet: Bool, v6: Bool, payload: [UInt8], mss: Int, options: [UInt8] = TCPSpec.timestamps(),
         flags: UInt8 = 0x10, seq: UInt32 = 1_000_000, ipID: UInt16 = 0x1234, tags: [(UInt16, UInt16)] = []) {
        var s = TCPSpec()
        s.v6 = v6; s.src = v6 ? v6A : v4A; s.dst = v6 ? v6B : v4B
        s.options = options; s.flags = flags; s.seq = seq; s.ipID = ipID
        let ip = tcpPacket(s, payload: payload, checksum: .partial)
        frame = ethernet ? ethernetFrame(ip, tags: tags) : ip
        ipOffset = ethernet ? 14 + 4 * tags.count : 0
        l4Offset = ipOffset + (v6 ? 40 : 20)
        headerLength = l4Offset + 20 + options.count
        header = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum, gsoType: v6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4,
                                 headerLength: UInt16(headerLength), gsoSize: UInt16(mss),
                                 checksumStart: UInt16(l4Offset), checksumOffset: 16)
        spec = s; self.ethernet = ethernet; self.payload = payload
    }
}

/// Runs `Offload.segment` into an output buffer pre-filled with 0xA5; returns the result and the whole buffer.
func runSegment(_ g: GSOFrame, header: VirtioNetHeader? = nil, headroom: Int, capacity: Int? = nil,
                frame: [UInt8]? = nil, outputShift: Int = 0) -> (Offload.Segments?, [UInt8]) {
    let input = frame ?? g.frame
    let cap = capacity ?? 70 * 1024 + 1024 * headroom
    let out = UnsafeMutableRawPointer.allocate(byteCount: cap + outputShift + 256, alignment: 16)
    defer { out.deallocate() }
    out.initializeMemory(as: UInt8.self, repeating: 0xa5, count: cap + outputShift + 256)
    let r = withExactBuffer(input) { p, n in
        Offload.segment(UnsafeRawPointer(p), count: n, header: header ?? g.header, ethernet: g.ethernet,
                        into: out + outputShift, capacity: cap, headroom: headroom)
    }
    return (r, Array(UnsafeRawBufferPointer(start: out + outputShift, count: cap + 256)))
}

@Suite("TCP segmentation (GSO in software)")
struct SegmentTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var ethernet: Bool, v6: Bool, options: [UInt8], headroom: Int, tags: Int
        var testDescription: String { "\(ethernet ? "ethernet" : "tun") IPv\(v6 ? 6 : 4) tcp options \(options.count) headroom \(headroom) tags \(tags)" }
    }

    static let cases: [Case] = [
        Case(ethernet: true, v6: false, options: TCPSpec.timestamps(), headroom: 36, tags: 0),
        Case(ethernet: true, v6: true, options: TCPSpec.timestamps(), headroom: 56, tags: 0),
        Case(ethernet: false, v6: false, options: TCPSpec.timestamps(), headroom: 28, tags: 0),
        Case(ethernet: false, v6: true, options: [], headroom: 0, tags: 0),
        Case(ethernet: true, v6: false, options: [], headroom: 7, tags: 1),
        Case(ethernet: true, v6: true, options: TCPSpec.timestamps() + [1, 1, 1, 0], headroom: 13, tags: 2),
    ]

    @Test("a 40,000-byte GSO frame becomes MSS segments with full checksums (as tcp_gso_segment)", arguments: cases)
    func segments(c: Case) throws {
        var rng = SeededRandom(seed: 1398)
        let mss = 1398
        let payload = rng.bytes(40_000)
        // CWR, PSH and FIN set on the GSO frame: CWR must go only on the first segment, PSH and FIN only on the last
        // (RFC 3168 §6.1.2; as the kernel's tcp_gso_segment).
        let tags: [(UInt16, UInt16)] = [(0x88a8, 0x0064), (0x8100, 0x0005)].suffix(c.tags).map { $0 }
        let g = GSOFrame(ethernet: c.ethernet, v6: c.v6, payload: payload, mss: mss, options: c.options, flags: 0x99,
                         seq: 0xffff_7000, ipID: 0xfff0, tags: tags)
        let (result, out) = runSegment(g, headroom: c.headroom)
        let r = try #require(result)
        let n = (40_000 + mss - 1) / mss
        let lastChunk = 40_000 - (n - 1) * mss
        #expect(r.count == n)
        #expect(r.stride == c.headroom + g.headerLength + mss)
        #expect(r.lastLength == c.headroom + g.headerLength + lastChunk)
        var joined: [UInt8] = []
        for i in 0..<n {
            let start = i * r.stride
            let length = i == n - 1 ? r.lastLength : r.stride
            #expect(out[start..<(start + c.headroom)].allSatisfy { $0 == 0xa5 }, "headroom of segment \(i) untouched")
            let seg = Array(out[(start + c.headroom)..<(start + length)])
            let chunk = i == n - 1 ? lastChunk : mss
            #expect(seg.count == g.headerLength + chunk)
            // Link header as it was.
            #expect(Array(seg[0..<g.ipOffset]) == Array(g.frame[0..<g.ipOffset]))
            let ip = g.ipOffset, tcp = g.l4Offset
            if c.v6 {
                // RFC 8200 §3: payload length excludes the fixed header.
                #expect(Int(be16(seg, ip + 4)) == 20 + c.options.count + chunk)
                var a = Array(seg[ip..<tcp]), b = Array(g.frame[ip..<tcp])
                a[4] = 0; a[5] = 0; b[4] = 0; b[5] = 0
                #expect(a == b)
            } else {
                // RFC 791 §3.1: total length, identification counting up from the GSO frame's, header checksum.
                #expect(Int(be16(seg, ip + 2)) == 20 + 20 + c.options.count + chunk)
                #expect(be16(seg, ip + 4) == 0xfff0 &+ UInt16(truncatingIfNeeded: i))
                #expect(referenceSum(Array(seg[ip..<tcp])) == 0xffff, "IPv4 header checksum of segment \(i)")
                var a = Array(seg[ip..<tcp]), b = Array(g.frame[ip..<tcp])
                for k in [2, 3, 4, 5, 10, 11] { a[k] = 0; b[k] = 0 }
                #expect(a == b)
            }
            // RFC 9293 §3.1: sequence number advances by the payload before it; flags by position.
            #expect(be32(seg, tcp + 4) == 0xffff_7000 &+ UInt32(i * mss))
            let expectedFlags: UInt8 = n == 1 ? 0x99 : i == 0 ? 0x90 : i == n - 1 ? 0x19 : 0x10
            #expect(seg[tcp + 13] == expectedFlags, "flags of segment \(i)")
            for k in [0, 1, 2, 3, 8, 9, 10, 11, 12, 14, 15, 18, 19] + Array(20..<(20 + c.options.count)) {
                #expect(seg[tcp + k] == g.frame[tcp + k], "TCP byte \(k) of segment \(i)")
            }
            #expect(tcpChecksumValid(seg, ipOffset: ip), "TCP checksum of segment \(i)")
            joined += seg[g.headerLength...]
        }
        #expect(joined == payload)
        let end = (n - 1) * r.stride + r.lastLength
        #expect(out[end...].allSatisfy { $0 == 0xa5 }, "nothing written past the last segment")
    }

    @Test("segments into a misaligned output buffer are the same bytes")
    func misalignedOutput() throws {
        var rng = SeededRandom(seed: 3)
        let g = GSOFrame(ethernet: true, v6: false, payload: rng.bytes(5000), mss: 1000)
        let (a, outA) = runSegment(g, headroom: 8)
        let (b, outB) = runSegment(g, headroom: 8, outputShift: 1)
        #expect(a == b)
        #expect(outA == outB)
        #expect(try #require(a).count == 5)
    }

    @Test("a payload of at most one MSS is one segment; exact multiples have a full last segment; ECN GSO type accepted")
    func sizes() throws {
        var rng = SeededRandom(seed: 4)
        for (length, mss, count, last) in [(1, 1398, 1, 1), (1398, 1398, 1, 1398), (1399, 1398, 2, 1), (2796, 1398, 2, 1398), (10, 3, 4, 1)] {
            var g = GSOFrame(ethernet: true, v6: false, payload: rng.bytes(length), mss: mss, flags: 0x18)
            g.header.gsoType |= VirtioNetHeader.gsoECN
            let r = try #require(runSegment(g, headroom: 4).0)
            #expect([r.count, r.stride, r.lastLength] == [count, 4 + g.headerLength + mss, 4 + g.headerLength + last])
        }
        // One segment: the frame with its checksum completed.
        let g = GSOFrame(ethernet: false, v6: true, payload: [1, 2, 3], mss: 1000, flags: 0x18)
        let (r, out) = runSegment(g, headroom: 0)
        #expect(r?.count == 1)
        let seg = Array(out.prefix(g.frame.count))
        #expect(tcpChecksumValid(seg, ipOffset: 0))
        var a = seg, b = g.frame
        a[g.l4Offset + 16] = 0; a[g.l4Offset + 17] = 0; b[g.l4Offset + 16] = 0; b[g.l4Offset + 17] = 0
        #expect(a == b)
    }

    @Test("capacity: exactly enough succeeds, one byte less is nil; at most 1,024 segments")
    func capacity() {
        let g = GSOFrame(ethernet: true, v6: false, payload: [UInt8](repeating: 7, count: 10_000), mss: 1000)
        let need = 9 * (16 + g.headerLength + 1000) + 16 + g.headerLength + 1000
        #expect(runSegment(g, headroom: 16, capacity: need).0?.count == 10)
        #expect(runSegment(g, headroom: 16, capacity: need - 1).0 == nil)
        #expect(runSegment(g, headroom: 16, capacity: 0).0 == nil)
        var tiny = g; tiny.header.gsoSize = 9     // 1,112 segments
        #expect(runSegment(tiny, headroom: 0, capacity: 1 << 20).0 == nil)
        tiny.header.gsoSize = 10                  // 1,000 segments
        #expect(runSegment(tiny, headroom: 0, capacity: 1 << 20).0?.count == 1000)
    }

    @Test("nil, not a trap, when one segment would not fit the 16-bit IP length field")
    func ipLengthLimit() throws {
        // IPv4 total length (RFC 791 §3.1) counts the header: 20 + 20 + 65,495 is the most a segment can hold.
        for (v6, fits) in [(false, 65_495), (true, 65_515)] {
            var g = GSOFrame(ethernet: false, v6: v6, payload: [UInt8](repeating: 3, count: fits), mss: 65_535, options: [])
            #expect(runSegment(g, headroom: 0, capacity: 1 << 17).0?.count == 1, "IPv\(v6 ? 6 : 4) \(fits)")
            g.frame += [3]                       // one byte more than the length field can describe
            #expect(runSegment(g, headroom: 0, capacity: 1 << 17).0 == nil, "IPv\(v6 ? 6 : 4) \(fits + 1)")
            g.header.gsoSize = 40_000            // split, every segment fits
            #expect(runSegment(g, headroom: 0, capacity: 1 << 17).0?.count == 2)
        }
    }

    @Test("nil for a frame that is not TCP GSO or does not parse")
    func rejects() {
        let g = GSOFrame(ethernet: true, v6: false, payload: [UInt8](repeating: 1, count: 3000), mss: 1000)
        var h = g.header
        for t in [VirtioNetHeader.gsoNone, VirtioNetHeader.gsoUDP, VirtioNetHeader.gsoTCPv6, 5, 0x7f] {
            h.gsoType = t
            #expect(runSegment(g, header: h, headroom: 0).0 == nil, "gso type \(t)")
        }
        h = g.header; h.gsoSize = 0
        #expect(runSegment(g, header: h, headroom: 0).0 == nil)
        // An IPv6 frame announced as TCPv4.
        let g6 = GSOFrame(ethernet: true, v6: true, payload: [1, 2, 3], mss: 1000)
        var h6 = g6.header; h6.gsoType = VirtioNetHeader.gsoTCPv4
        #expect(runSegment(g6, header: h6, headroom: 0).0 == nil)
        // UDP, and an IPv4 fragment, under a TCP GSO header.
        let udp = ethernetFrame(udpPacket(payload: [UInt8](repeating: 2, count: 3000)))
        #expect(runSegment(g, headroom: 0, frame: udp).0 == nil)
        var frag = g.frame; frag[14 + 6] |= 0x20     // MF
        #expect(runSegment(g, headroom: 0, frame: frag).0 == nil)
        // Headers only, no payload; a TCP header cut short; a data offset below 5 words.
        #expect(runSegment(g, headroom: 0, frame: Array(g.frame.prefix(g.headerLength))).0 == nil)
        for n in 0..<g.headerLength { #expect(runSegment(g, headroom: 0, frame: Array(g.frame.prefix(n))).0 == nil, "length \(n)") }
        var short = g.frame; short[g.l4Offset + 12] = 0x40
        #expect(runSegment(g, headroom: 0, frame: short).0 == nil)
        // Not IP at all.
        var arp = g.frame; arp[12] = 0x08; arp[13] = 0x06
        #expect(runSegment(g, headroom: 0, frame: arp).0 == nil)
    }
}
