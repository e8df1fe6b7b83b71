import DataplaneWire
import TestSupport
import Testing

/// What `coalesce` emitted for one group, with the bytes a writev of its slices would send.
struct EmittedGroup {
    var range: Range<Int>
    var header: VirtioNetHeader?
    var headerLength: Int
    var bytes: [UInt8]
}

/// Runs `Offload.coalesce` over copies of `frames`, each in its own exact allocation starting `shift` bytes past
/// an aligned address. Returns the groups and the frames' bytes afterwards.
func runCoalesce(_ frames: [[UInt8]], ethernet: Bool, maxSegments: Int = 64, shift: Int = 0) -> ([EmittedGroup], [[UInt8]]) {
    let bases = frames.map { f -> UnsafeMutableRawPointer in
        let p = UnsafeMutableRawPointer.allocate(byteCount: f.count + shift + 1, alignment: 16)
        f.withUnsafeBytes { if let b = $0.baseAddress { (p + shift).copyMemory(from: b, byteCount: f.count) } }
        return p
    }
    defer { for b in bases { b.deallocate() } }
    let list = zip(bases, frames).map { Offload.Frame(base: $0.0 + shift, length: $0.1.count) }
    var groups: [EmittedGroup] = []
    list.withUnsafeBufferPointer { buf in
        Offload.coalesce(buf, ethernet: ethernet, maxSegments: maxSegments) { g in
            var bytes: [UInt8] = []
            for k in g.range {
                let s = g.slice(of: buf[k], first: k == g.range.lowerBound)
                precondition(s.offset >= 0 && s.length >= 0 && s.offset + s.length <= buf[k].length, "slice outside the frame")
                bytes += UnsafeRawBufferPointer(start: buf[k].base + s.offset, count: s.length)
            }
            groups.append(EmittedGroup(range: g.range, header: g.header, headerLength: g.headerLength, bytes: bytes))
        }
    }
    let after = zip(list, frames).map { Array(UnsafeRawBufferPointer(start: $0.0.base, count: $0.1.count)) }
    return (groups, after)
}

/// A train of back-to-back segments of one flow: sequence numbers and IPv4 ids advancing, full checksums.
func segmentTrain(_ spec: TCPSpec, ethernet: Bool, sizes: [Int], rng: inout SeededRandom,
                  tags: [(UInt16, UInt16)] = []) -> (frames: [[UInt8]], payloads: [[UInt8]]) {
    var s = spec
    var frames: [[UInt8]] = [], payloads: [[UInt8]] = []
    for size in sizes {
        let p = rng.bytes(size)
        let ip = tcpPacket(s, payload: p)
        frames.append(ethernet ? ethernetFrame(ip, tags: tags) : ip)
        payloads.append(p)
        s.seq &+= UInt32(size); s.ipID &+= 1
    }
    return (frames, payloads)
}

/// The GSO frame a run of `payloads` should coalesce into: the first segment's headers with the whole length,
/// the pseudo-header sum in the checksum field (CHECKSUM_PARTIAL), PSH if the last one had it.
func expectedGSO(_ spec: TCPSpec, ethernet: Bool, payloads: [[UInt8]], push: Bool = false, tags: [(UInt16, UInt16)] = []) -> [UInt8] {
    var s = spec
    if push { s.flags |= 0x08 }
    let ip = tcpPacket(s, payload: payloads.flatMap { $0 }, checksum: .partial)
    return ethernet ? ethernetFrame(ip, tags: tags) : ip
}

/// The same from the first frame's bytes: its headers, IP length for the whole run (and the IPv4 header checksum
/// again), PSH if asked, the pseudo-header sum for the whole TCP length in the checksum field; then the payloads.
func gsoFrame(first f: [UInt8], ipOffset: Int, payloads: [[UInt8]], push: Bool) -> [UInt8] {
    let v6 = f[ipOffset] >> 4 == 6
    let l4 = ipOffset + (v6 ? 40 : Int(f[ipOffset] & 0x0f) * 4)
    let headerLength = l4 + Int(f[l4 + 12] >> 4) * 4
    var out = Array(f[0..<headerLength]) + payloads.flatMap { $0 }
    let tcpLength = out.count - l4
    if v6 {
        put16(&out, ipOffset + 4, UInt16(tcpLength))
    } else {
        put16(&out, ipOffset + 2, UInt16(out.count - ipOffset))
        put16(&out, ipOffset + 10, 0)
        put16(&out, ipOffset + 10, referenceChecksum(Array(out[ipOffset..<l4])))
    }
    if push { out[l4 + 13] |= 0x08 }
    let src = Array(f[(ipOffset + (v6 ? 8 : 12))..<(ipOffset + (v6 ? 24 : 16))])
    let dst = Array(f[(ipOffset + (v6 ? 24 : 16))..<(ipOffset + (v6 ? 40 : 20))])
    put16(&out, l4 + 16, referenceSum(pseudoHeaderBytes(src: src, dst: dst, proto: 6, length: tcpLength)))
    return out
}

func ranges(_ g: [EmittedGroup]) -> [Range<Int>] { g.map(\.range) }

@Suite("TCP coalescing (GRO in software)")
struct CoalesceTests {
    @Test("segments of a GSO frame coalesce back into exactly that frame",
          arguments: [(true, false), (true, true), (false, false), (false, true)])
    func roundTrip(ethernet: Bool, v6: Bool) throws {
        var rng = SeededRandom(seed: 2)
        let payload = rng.bytes(40_000)
        // ACK|PSH: PSH lands on the last segment and comes back on the coalesced header.
        let g = GSOFrame(ethernet: ethernet, v6: v6, payload: payload, mss: 1398, flags: 0x18)
        let (result, out) = runSegment(g, headroom: 0)
        let r = try #require(result)
        let frames = (0..<r.count).map { i in Array(out[(i * r.stride)..<(i * r.stride + (i == r.count - 1 ? r.lastLength : r.stride))]) }
        let (groups, after) = runCoalesce(frames, ethernet: ethernet)
        try #require(groups.count == 1)
        let group = groups[0]
        #expect(group.range == 0..<r.count)
        #expect(group.headerLength == g.headerLength)
        #expect(group.header == VirtioNetHeader(flags: VirtioNetHeader.needsChecksum,
                                                gsoType: v6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4,
                                                headerLength: UInt16(g.headerLength), gsoSize: 1398,
                                                checksumStart: UInt16(g.l4Offset), checksumOffset: 16))
        // The whole reassembled frame is the GSO frame: IP length covers the run, IPv4 id and header checksum are
        // the first segment's, and the TCP checksum field holds the folded pseudo-header sum, not inverted.
        #expect(group.bytes.count == g.frame.count)
        #expect(group.bytes == g.frame)
        let first = after[0]
        #expect(Int(be16(first, g.ipOffset + (v6 ? 4 : 2))) == (v6 ? 0 : 20) + 32 + 40_000)
        let pseudo = pseudoHeaderBytes(src: v6 ? v6A : v4A, dst: v6 ? v6B : v4B, proto: 6, length: 32 + 40_000)
        #expect(be16(first, g.l4Offset + 16) == referenceSum(pseudo))
        if !v6 { #expect(referenceSum(Array(first[g.ipOffset..<(g.ipOffset + 20)])) == 0xffff) }
        // Later frames are left as they were.
        #expect(Array(after[1...]) == Array(frames[1...]))
    }

    let spec: TCPSpec = { var s = TCPSpec(); s.options = TCPSpec.timestamps(); return s }()

    func check(_ frames: [[UInt8]], payloads: [[UInt8]], expect expected: [(Range<Int>, push: Bool)],
               ethernet: Bool = true, maxSegments: Int = 64, shift: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) {
        let (groups, _) = runCoalesce(frames, ethernet: ethernet, maxSegments: maxSegments, shift: shift)
        #expect(ranges(groups) == expected.map(\.0), sourceLocation: sourceLocation)
        guard ranges(groups) == expected.map(\.0) else { return }
        for (g, e) in zip(groups, expected) {
            if g.range.count == 1 {
                #expect(g.header == nil, sourceLocation: sourceLocation)
                #expect(g.bytes == frames[g.range.lowerBound], "a lone frame goes out unchanged", sourceLocation: sourceLocation)
            } else {
                #expect(g.header != nil, sourceLocation: sourceLocation)
                let want = gsoFrame(first: frames[g.range.lowerBound], ipOffset: ethernet ? 14 : 0,
                                    payloads: Array(payloads[g.range]), push: e.push)
                #expect(g.bytes == want, "group \(g.range)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("a clean train coalesces; aligned or not; VLAN-tagged; TUN")
    func baseline() {
        var rng = SeededRandom(seed: 10)
        let (frames, payloads) = segmentTrain(spec, ethernet: true, sizes: [1000, 1000, 1000, 1000, 1000, 1000], rng: &rng)
        check(frames, payloads: payloads, expect: [(0..<6, false)])
        check(frames, payloads: payloads, expect: [(0..<6, false)], shift: 1)
        check(frames, payloads: payloads, expect: [(0..<6, false)], shift: 2)
        let (tun, tunPayloads) = segmentTrain(spec, ethernet: false, sizes: [500, 500, 500], rng: &rng)
        check(tun, payloads: tunPayloads, expect: [(0..<3, false)], ethernet: false)
        check(tun, payloads: tunPayloads, expect: [(0..<3, false)], ethernet: false, shift: 3)
        let tags: [(UInt16, UInt16)] = [(0x8100, 42)]
        let (tagged, taggedPayloads) = segmentTrain(spec, ethernet: true, sizes: [700, 700, 700], rng: &rng, tags: tags)
        let (groups, _) = runCoalesce(tagged, ethernet: true)
        #expect(ranges(groups) == [0..<3])
        #expect(groups.first?.bytes == expectedGSO(spec, ethernet: true, payloads: taggedPayloads, tags: tags))
        #expect(groups.first?.header?.checksumStart == UInt16(18 + 20))
        // A single frame, and no frames.
        check([frames[0]], payloads: [payloads[0]], expect: [(0..<1, false)])
        check([], payloads: [], expect: [])
    }

    @Test("Ethernet padding after short segments is not part of the run")
    func padding() {
        var rng = SeededRandom(seed: 11)
        var s = spec; s.options = []
        let (frames, payloads) = segmentTrain(s, ethernet: true, sizes: [4, 4, 2], rng: &rng)
        let padded = frames.map { $0 + [UInt8](repeating: 0, count: 60 - $0.count) }
        #expect(padded.allSatisfy { $0.count == 60 })
        check(padded, payloads: payloads, expect: [(0..<3, false)])
    }

    @Test("run breakers: bad checksum, sequence gap, other ports or ack, SYN/FIN/RST/URG/ECE/CWR, IP fields")
    func breakers() {
        var rng = SeededRandom(seed: 12)
        let sizes = [Int](repeating: 1000, count: 6)
        let (frames, payloads) = segmentTrain(spec, ethernet: true, sizes: sizes, rng: &rng)
        let tcp = 14 + 20

        // A bad TCP checksum: that frame goes alone (the kernel drops it), the run restarts after it.
        var bad = frames; bad[3][tcp + 16] ^= 1
        check(bad, payloads: payloads, expect: [(0..<3, false), (3..<4, false), (4..<6, false)])
        // A bad IPv4 header checksum, and IPv4 options: alone.
        var badIP = frames; badIP[3][14 + 10] ^= 1
        check(badIP, payloads: payloads, expect: [(0..<3, false), (3..<4, false), (4..<6, false)])

        // A gap in the sequence: frames from 3 on start a new run.
        var gapSpec = spec; gapSpec.seq &+= 3000 + 1; gapSpec.ipID &+= 3
        let gap = Array(frames[0..<3]) + segmentTrain(gapSpec, ethernet: true, sizes: [1000, 1000, 1000], rng: &rng).frames
        var gapPayloads = Array(payloads[0..<3])
        for f in gap[3...] { gapPayloads.append(Array(f[(tcp + 32)...])) }
        check(gap, payloads: gapPayloads, expect: [(0..<3, false), (3..<6, false)])

        // Other ports, another ack, from frame 3 on.
        for change in [{ (s: inout TCPSpec) in s.sport += 1 }, { $0.dport += 1 }, { $0.ack += 1 }, { $0.window += 1 },
                       { $0.options = TCPSpec.timestamps(0x0102_0305) }] as [(inout TCPSpec) -> Void] {
            var s = spec; s.seq &+= 3000; s.ipID &+= 3
            change(&s)
            let other = segmentTrain(s, ethernet: true, sizes: [1000, 1000, 1000], rng: &rng)
            check(Array(frames[0..<3]) + other.frames, payloads: Array(payloads[0..<3]) + other.payloads,
                  expect: [(0..<3, false), (3..<6, false)])
        }

        // IP header fields GRO compares, from frame 3 on: TTL, TOS, destination; IPv4 id not advancing.
        for change in [{ (s: inout TCPSpec) in s.ttl -= 1 }, { $0.tos = 0x10 }, { $0.dst = [198, 51, 100, 3] }, { $0.ipID &-= 1 }]
                as [(inout TCPSpec) -> Void] {
            var s = spec; s.seq &+= 3000; s.ipID &+= 3
            change(&s)
            let other = segmentTrain(s, ethernet: true, sizes: [1000, 1000, 1000], rng: &rng)
            check(Array(frames[0..<3]) + other.frames, payloads: Array(payloads[0..<3]) + other.payloads,
                  expect: [(0..<3, false), (3..<6, false)])
        }

        // SYN, FIN, RST, URG, ECE, CWR (with ACK) on frame 3: it goes alone.
        for flag: UInt8 in [0x02, 0x01, 0x04, 0x20, 0x40, 0x80] {
            var s = spec; s.seq &+= 3000; s.ipID &+= 3; s.flags = 0x10 | flag
            var f = frames; f[3] = ethernetFrame(tcpPacket(s, payload: payloads[3]))
            check(f, payloads: payloads, expect: [(0..<3, false), (3..<4, false), (4..<6, false)])
        }
        // No ACK at all, and a pure ACK without payload.
        var noAck = spec; noAck.seq &+= 3000; noAck.ipID &+= 3; noAck.flags = 0
        var f = frames; f[3] = ethernetFrame(tcpPacket(noAck, payload: payloads[3]))
        check(f, payloads: payloads, expect: [(0..<3, false), (3..<4, false), (4..<6, false)])
        var pure = spec; pure.seq &+= 3000; pure.ipID &+= 3
        let pureAck = ethernetFrame(tcpPacket(pure, payload: []))
        check(Array(frames[0..<3]) + [pureAck], payloads: Array(payloads[0..<3]) + [[]], expect: [(0..<3, false), (3..<4, false)])
        // Not TCP.
        let udp = ethernetFrame(udpPacket(payload: [1, 2, 3]))
        check([udp] + frames, payloads: [[]] + payloads, expect: [(0..<1, false), (1..<7, false)])
    }

    @Test("a shorter segment ends the run and is its last; a longer one starts a new run; PSH ends the run after it")
    func sizesAndPush() {
        var rng = SeededRandom(seed: 13)
        let (short, shortPayloads) = segmentTrain(spec, ethernet: true, sizes: [1000, 1000, 500, 1000, 1000, 1000], rng: &rng)
        check(short, payloads: shortPayloads, expect: [(0..<3, false), (3..<6, false)])
        let (long, longPayloads) = segmentTrain(spec, ethernet: true, sizes: [1000, 1000, 1000, 1200, 1000, 1000], rng: &rng)
        // 1200 > 1000 breaks; 1200 then starts a run that the next (shorter) 1000 ends; the last 1000 is alone.
        check(long, payloads: longPayloads, expect: [(0..<3, false), (3..<5, false), (5..<6, false)])

        var s = spec
        var frames: [[UInt8]] = [], payloads: [[UInt8]] = []
        for i in 0..<6 {
            let p = rng.bytes(1000)
            s.flags = i == 2 ? 0x18 : 0x10
            frames.append(ethernetFrame(tcpPacket(s, payload: p))); payloads.append(p)
            s.seq &+= 1000; s.ipID &+= 1
        }
        check(frames, payloads: payloads, expect: [(0..<3, true), (3..<6, false)])
        let (groups, _) = runCoalesce(frames, ethernet: true)
        #expect(groups.first?.bytes[14 + 20 + 13] == 0x18)
        // PSH on the first frame: it goes alone.
        var first = frames
        var s0 = spec; s0.flags = 0x18
        first[0] = ethernetFrame(tcpPacket(s0, payload: payloads[0]))
        check(first, payloads: payloads, expect: [(0..<1, false), (1..<3, true), (3..<6, false)])
    }

    @Test("at most maxSegments frames and 64 KB of IP packet per group")
    func limits() {
        var rng = SeededRandom(seed: 14)
        let (frames, payloads) = segmentTrain(spec, ethernet: true, sizes: [Int](repeating: 100, count: 10), rng: &rng)
        check(frames, payloads: payloads, expect: [(0..<4, false), (4..<8, false), (8..<10, false)], maxSegments: 4)
        check(frames, payloads: payloads, expect: (0..<10).map { ($0..<($0 + 1), false) }, maxSegments: 1)
        // 50 segments of 1,400 bytes: 52 bytes of IP+TCP header, so 46 fit in 65,535.
        let (big, bigPayloads) = segmentTrain(spec, ethernet: true, sizes: [Int](repeating: 1400, count: 50), rng: &rng)
        check(big, payloads: bigPayloads, expect: [(0..<46, false), (46..<50, false)])
        let (groups, _) = runCoalesce(big, ethernet: true)
        #expect(groups.first.map { be16($0.bytes, 14 + 2) } == UInt16(52 + 46 * 1400))
        // 70 segments: the default maxSegments of 64.
        let (many, manyPayloads) = segmentTrain(spec, ethernet: true, sizes: [Int](repeating: 10, count: 70), rng: &rng)
        check(many, payloads: manyPayloads, expect: [(0..<64, false), (64..<70, false)])
    }

    @Test("interleaved flows do not merge; consecutive runs of each do")
    func flows() {
        var rng = SeededRandom(seed: 15)
        var other = spec; other.sport = 40001; other.seq = 5_000_000; other.ipID = 9
        let a = segmentTrain(spec, ethernet: true, sizes: [800, 800, 800, 800], rng: &rng)
        let b = segmentTrain(other, ethernet: true, sizes: [800, 800, 800, 800], rng: &rng)
        let interleaved = (0..<4).flatMap { [a.frames[$0], b.frames[$0]] }
        let interleavedPayloads = (0..<4).flatMap { [a.payloads[$0], b.payloads[$0]] }
        check(interleaved, payloads: interleavedPayloads, expect: (0..<8).map { ($0..<($0 + 1), false) })
        check(a.frames + b.frames, payloads: a.payloads + b.payloads, expect: [(0..<4, false), (4..<8, false)])
        // IPv6: another flow label is another flow.
        var v6 = spec; v6.v6 = true; v6.src = v6A; v6.dst = v6B
        var v6b = v6; v6b.flowLabel = 0x54321; v6b.seq &+= 1600
        let c = segmentTrain(v6, ethernet: true, sizes: [800, 800], rng: &rng)
        let d = segmentTrain(v6b, ethernet: true, sizes: [800, 800], rng: &rng)
        let (groups, _) = runCoalesce(c.frames + d.frames, ethernet: true)
        #expect(ranges(groups) == [0..<2, 2..<4])
    }

    @Test("random frames and mutated trains: never trap, groups partition the input, slices stay inside frames")
    func random() {
        var rng = SeededRandom(seed: 16)
        let (train, _) = segmentTrain(spec, ethernet: true, sizes: [64, 64, 64, 64, 64, 30], rng: &rng)
        let (tun, _) = segmentTrain(spec, ethernet: false, sizes: [64, 64, 64], rng: &rng)
        for round in 0..<4000 {
            let ethernet = round % 2 == 0
            let source = ethernet ? train : tun
            let count = Int.random(in: 0...10, using: &rng)
            var frames: [[UInt8]] = []
            for k in 0..<count {
                if rng.next() % 3 == 0 {
                    frames.append(rng.bytes(Int.random(in: 0...160, using: &rng)))
                } else {
                    var f = source[k % source.count]
                    for _ in 0..<Int.random(in: 0...2, using: &rng) {
                        f[Int.random(in: 0..<f.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    }
                    if rng.next() % 4 == 0 { f = Array(f.prefix(Int.random(in: 0...f.count, using: &rng))) }
                    frames.append(f)
                }
            }
            let (groups, after) = runCoalesce(frames, ethernet: ethernet, maxSegments: Int.random(in: 1...8, using: &rng),
                                              shift: Int.random(in: 0...3, using: &rng))
            var next = 0
            for g in groups {
                #expect(g.range.lowerBound == next && !g.range.isEmpty)
                next = g.range.upperBound
                if let h = g.header {
                    #expect(g.range.count > 1)
                    #expect(h.gsoSize > 0 && Int(h.checksumStart) + 20 <= g.headerLength && h.checksumOffset == 16)
                } else {
                    #expect(g.range.count == 1)
                    #expect(after[g.range.lowerBound] == frames[g.range.lowerBound])
                }
                for k in g.range.dropFirst() { #expect(after[k] == frames[k]) }
            }
            #expect(next == frames.count)
        }
    }
}
