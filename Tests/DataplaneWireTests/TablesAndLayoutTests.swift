import DataplaneWire
import TestSupport
import Testing

@Suite("MAC table, counters, virtio header, frame layout")
struct TablesAndLayoutTests {
    func learn(_ t: MACTable, _ mac: [UInt8], _ peer: Int) { mac.withUnsafeBytes { t.learn($0.baseAddress!, peer: peer) } }
    func lookup(_ t: MACTable, _ mac: [UInt8]) -> Int? { mac.withUnsafeBytes { t.lookup($0.baseAddress!) } }

    @Test("MACTable: learned unicast MACs are found, relearning moves them, unknown ones flood")
    func macLearning() {
        let t = MACTable()
        #expect(lookup(t, macA) == nil)
        learn(t, macA, 0)
        learn(t, macB, 3)
        #expect(lookup(t, macA) == 0)
        #expect(lookup(t, macB) == 3)
        learn(t, macA, 2)
        #expect(lookup(t, macA) == 2)
        #expect(lookup(t, [0x02, 0, 0, 0, 0, 0x0c]) == nil)
        // Many MACs: each lookup returns its own peer or nil (a colliding MAC overwrites), never another's.
        var rng = SeededRandom(seed: 48)
        var learned: [[UInt8]: Int] = [:]
        for i in 0..<3000 {
            var m = rng.bytes(6); m[0] &= 0xfe
            learn(t, m, i % 100); learned[m] = i % 100
        }
        var found = 0
        for (m, p) in learned { if let q = lookup(t, m) { #expect(q == p); found += 1 } }
        #expect(found > 1500)
        // Works from an unaligned address (the source MAC is at offset 6 of a frame).
        let frame = [0x77] + macB + [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]
        frame.withUnsafeBytes { t.learn($0.baseAddress! + 7, peer: 9) }
        #expect(lookup(t, [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]) == 9)
    }

    @Test("MACTable: group addresses (IEEE 802 I/G bit) are never learned")
    func macGroups() {
        let t = MACTable()
        for mac: [UInt8] in [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
                             [0x33, 0x33, 0x00, 0x00, 0x00, 0x01], [0x03, 0, 0, 0, 0, 1]] {
            learn(t, mac, 1)
            #expect(lookup(t, mac) == nil, "\(hex(mac))")
        }
    }

    @Test("Counters: add, set, drops by reason from several threads, snapshot")
    func counters() async {
        let c = Counters()
        #expect(c.snapshot == CounterSnapshot(drops: Dictionary(uniqueKeysWithValues: DropReason.allCases.map { ($0, 0) })))
        c.add(.rxPackets, 3); c.add(.rxPackets, 2); c.add(.rxBytes, 1500)
        c.add(.txPackets, 1); c.add(.txBytes, 60)
        c.set(.peerSequencing, 1)
        c.drop(.badCookie); c.drop(.badCookie); c.drop(.malformed, 5)
        #expect(c.get(.rxPackets) == 5)
        #expect(c.get(.peerSequencing) == 1)
        #expect(c.drops(.badCookie) == 2)
        #expect(c.drops(.ioError) == 0)
        await withTaskGroup(of: Void.self) { g in
            for _ in 0..<4 { g.addTask { for _ in 0..<10_000 { c.drop(.tooBig) } } }
        }
        #expect(c.drops(.tooBig) == 40_000)
        let s = c.snapshot
        #expect(s.rxPackets == 5 && s.rxBytes == 1500 && s.txPackets == 1 && s.txBytes == 60)
        #expect(s.drops[.badCookie] == 2 && s.drops[.malformed] == 5 && s.drops[.tooBig] == 40_000 && s.drops[.control] == 0)
        #expect(s.totalDrops == 40_007)
        #expect(s.drops.count == DropReason.allCases.count)
    }

    @Test("VirtioNetHeader: 10 little-endian bytes (virtio spec §5.1.6), written and read back")
    func virtioHeader() {
        #expect(VirtioNetHeader.size == 10)
        #expect(VirtioNetHeader.needsChecksum == 1 && VirtioNetHeader.dataValid == 2)
        #expect(VirtioNetHeader.gsoNone == 0 && VirtioNetHeader.gsoTCPv4 == 1 && VirtioNetHeader.gsoUDP == 3)
        #expect(VirtioNetHeader.gsoTCPv6 == 4 && VirtioNetHeader.gsoECN == 0x80)
        let h = VirtioNetHeader(flags: 1, gsoType: 0x84, headerLength: 0x0142, gsoSize: 0x0576, checksumStart: 0x0022, checksumOffset: 0x0010)
        var b = [UInt8](repeating: 0xcc, count: 12)
        b.withUnsafeMutableBytes { h.write(to: $0.baseAddress! + 1) }
        #expect(b == [0xcc, 0x01, 0x84, 0x42, 0x01, 0x76, 0x05, 0x22, 0x00, 0x10, 0x00, 0xcc])
        let back = b.withUnsafeBytes { VirtioNetHeader($0.baseAddress! + 1) }
        #expect(back == h)
        #expect(back.gsoKind == VirtioNetHeader.gsoTCPv6)
        var rng = SeededRandom(seed: 10)
        for _ in 0..<100 {
            let r = rng.bytes(10)
            let parsed = r.withUnsafeBytes { VirtioNetHeader($0.baseAddress!) }
            var w = [UInt8](repeating: 0, count: 10)
            w.withUnsafeMutableBytes { parsed.write(to: $0.baseAddress!) }
            #expect(w == r)
        }
    }

    func parse(_ f: [UInt8], ethernet: Bool = true) -> FrameLayout? {
        withExactBuffer(f) { p, n in FrameLayout.parse(UnsafeRawPointer(p), count: n, ethernet: ethernet) }
    }
    /// ipOffset, ipVersion, l4Offset, l4Protocol, ipLength.
    func fields(_ f: [UInt8], ethernet: Bool = true) -> [Int]? {
        parse(f, ethernet: ethernet).map { [$0.ipOffset, $0.ipVersion, $0.l4Offset, Int($0.l4Protocol), $0.ipLength] }
    }

    @Test("FrameLayout: untagged, one and two VLAN tags (IEEE 802.1Q/802.1ad), TUN, IPv4 options, fragments")
    func layout() {
        var s = TCPSpec(); s.options = TCPSpec.timestamps()
        let v4 = tcpPacket(s, payload: [1, 2, 3])
        var s6 = s; s6.v6 = true; s6.src = v6A; s6.dst = v6B
        let v6 = tcpPacket(s6, payload: [1, 2, 3])
        #expect(fields(ethernetFrame(v4)) == [14, 4, 34, 6, v4.count])
        #expect(fields(ethernetFrame(v4, tags: [(0x8100, 7)])) == [18, 4, 38, 6, v4.count])
        #expect(fields(ethernetFrame(v6, tags: [(0x88a8, 7), (0x8100, 8)])) == [22, 6, 62, 6, v6.count])
        #expect(parse(ethernetFrame(v4, tags: [(0x8100, 7), (0x8100, 8)]))?.ipOffset == 22)
        #expect(parse(ethernetFrame(v4, tags: [(0x88a8, 1), (0x8100, 2), (0x8100, 3)])) == nil)   // three tags
        #expect(fields(v4, ethernet: false) == [0, 4, 20, 6, v4.count])
        #expect(fields(v6, ethernet: false) == [0, 6, 40, 6, v6.count])
        let udp6 = udpPacket(v6: true, payload: [9])
        #expect(parse(udp6, ethernet: false)?.l4Protocol == 17)
        var withOptions = s; withOptions.ipOptions = [1, 1, 1, 0, 1, 1, 1, 0]
        #expect(parse(ethernetFrame(tcpPacket(withOptions, payload: [])))?.l4Offset == 14 + 28)
        // Fragments (MF set, or an offset) and IPv6 extension headers have no transport to look at.
        var mf = ethernetFrame(v4); mf[14 + 6] |= 0x20
        #expect(parse(mf)?.l4Protocol == 0)
        var later = ethernetFrame(v4); later[14 + 7] = 0x10
        #expect(parse(later)?.l4Protocol == 0)
        var hbh = v6; hbh[6] = 0
        #expect(parse(hbh, ethernet: false)?.l4Protocol == 0)
        // Not IP, or a bad version or IHL.
        #expect(parse(ethernetHeader(type: 0x0806) + [UInt8](repeating: 0, count: 28)) == nil)
        #expect(parse([0x50] + [UInt8](repeating: 0, count: 40), ethernet: false) == nil)
        var ihl = v4; ihl[0] = 0x44
        #expect(parse(ihl, ethernet: false) == nil)
        // Every truncation short of the IP header is nil.
        let tagged = ethernetFrame(v6, tags: [(0x88a8, 7), (0x8100, 8)])
        for n in 0..<(22 + 40) { #expect(parse(Array(tagged.prefix(n))) == nil, "length \(n)") }
        for n in 0..<34 { #expect(parse(Array(ethernetFrame(v4).prefix(n))) == nil, "length \(n)") }
        // Address ranges.
        let l = parse(ethernetFrame(v6))!
        #expect(l.sourceRange == 22..<38 && l.destinationRange == 38..<54)
    }

    func hash(_ f: [UInt8], ethernet: Bool = true) -> UInt32 {
        withExactBuffer(f) { p, n in FrameLayout.flowHash(UnsafeRawPointer(p), count: n, ethernet: ethernet) }
    }

    @Test("flowHash: the same flow hashes the same whatever the payload; other ports usually hash differently")
    func flowHash() {
        var rng = SeededRandom(seed: 77)
        var s = TCPSpec()
        let base = hash(ethernetFrame(tcpPacket(s, payload: rng.bytes(100))))
        s.seq += 100; s.ipID += 1; s.ttl = 3
        #expect(hash(ethernetFrame(tcpPacket(s, payload: rng.bytes(30)))) == base)
        #expect(hash(ethernetFrame(tcpPacket(s, payload: []), tags: [(0x8100, 1)])) == base)   // tags are not hashed
        #expect(hash(tcpPacket(s, payload: [1]), ethernet: false) == base)
        var distinct = Set<UInt32>()
        for port in 0..<1000 as Range<UInt16> {
            var t = TCPSpec(); t.sport = 30000 + port
            distinct.insert(hash(ethernetFrame(tcpPacket(t, payload: []))))
        }
        #expect(distinct.count >= 995)
        var reversed = TCPSpec(); reversed.sport = 5201; reversed.dport = 40000
        #expect(hash(ethernetFrame(tcpPacket(reversed, payload: []))) != base)
        var other = TCPSpec(); other.dst = [198, 51, 100, 3]
        #expect(hash(ethernetFrame(tcpPacket(other, payload: []))) != base)
        // Non-IP frames hash their MAC addresses and EtherType; a short frame hashes what there is.
        let arp = ethernetHeader(type: 0x0806) + [UInt8](repeating: 0, count: 28)
        #expect(hash(arp) == hash(Array(arp.prefix(14)) + [UInt8](repeating: 1, count: 28)))
        #expect(hash(arp) != hash(ethernetHeader(src: macB, type: 0x0806) + [UInt8](repeating: 0, count: 28)))
        _ = hash([]); _ = hash([1, 2, 3]); _ = hash([0x45], ethernet: false)
    }

    @Test("PeerAddress: bytes round trip; text as RFC 5952")
    func peerAddress() {
        #expect(PeerAddress(bytes: v4A)?.bytes == v4A)
        #expect(PeerAddress(bytes: v6A)?.bytes == v6A)
        #expect(PeerAddress(bytes: [1, 2, 3]) == nil)
        #expect(PeerAddress(bytes: v4A) != PeerAddress(bytes: [192, 0, 2, 1] + [UInt8](repeating: 0, count: 12)))
        #expect(PeerAddress(bytes: v4A)?.description == "192.0.2.1")
        #expect(PeerAddress(bytes: v6A)?.description == "2001:db8::1")
        #expect(PeerAddress(bytes: [UInt8](repeating: 0, count: 16))?.description == "::")
        #expect(PeerAddress(bytes: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])?.description == "2001:db8:0:1::1")
        #expect(PeerAddress(bytes: [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1])?.description == "2001:db8:1:0:1:1:1:1")
    }
}
