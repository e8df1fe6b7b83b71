// libFuzzer target for DataplaneWire's FrameLayout, Offload.segment, Offload.completeChecksum and
// Offload.coalesce. Built by Tools/fuzz/run with -sanitize=fuzzer,address.
//
// Input layout:
//   0..<10  virtio_net_hdr for segment() and completeChecksum() (little-endian, as on a TAP)
//   10      mode: bit 0 Ethernet (else TUN); bit 1 fix IPv4/TCP checksums of the coalesce frames; bit 2 make each
//           coalesce frame continue the one before (sequence number and IPv4 id); bits 3-5 maxSegments - 1
//           (all three set: 64, the default); bits 6-7 how far past an aligned address the frames start
//   11      headroom for segment()
//   12..<14 output capacity for segment(), little-endian, times 4
//   14...   frames, separated by the two bytes F0 0D. The first is the GSO frame for segment(); all go to coalesce().
//
// Checked (trap via `require`, a precondition that prints its message): the segments fit the capacity, add up to
// the frame's payload, and each re-parses as TCP with valid IPv4 header and TCP checksums; the coalesce groups
// partition the input in order, a group without a header is one frame left unchanged, later frames of a run are
// left unchanged, a group's slices stay inside its frames, and a coalesced run's slices add up to the IP length its
// rewritten header claims. Every byte of every slice is read, so ASan also sees a slice that overruns its frame.
// Tools/fuzz/make-seeds.py writes seeds in this layout.

func le16(_ p: UnsafePointer<UInt8>) -> Int { Int(p[0]) | Int(p[1]) << 8 }

/// Sum of the TCP segment of the IP packet at `l`, pseudo-header included (valid when all ones).
func tcpSumValid(_ p: UnsafeRawPointer, _ l: FrameLayout) -> Bool {
    let tcpLength = l.ipOffset + l.ipLength - l.l4Offset
    var c = InternetChecksum.pseudoHeader(src: UnsafeRawBufferPointer(start: p + l.sourceRange.lowerBound, count: l.sourceRange.count),
                                          dst: UnsafeRawBufferPointer(start: p + l.destinationRange.lowerBound, count: l.destinationRange.count),
                                          protocol: 6, length: tcpLength)
    c.add(UnsafeRawBufferPointer(start: p + l.l4Offset, count: tcpLength))
    return c.isValid
}

func segmentChecks(_ frame: UnsafeRawPointer, _ count: Int, _ h: VirtioNetHeader, ethernet: Bool, headroom: Int, capacity: Int) {
    let out = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    defer { out.deallocate() }
    guard let r = Offload.segment(frame, count: count, header: h, ethernet: ethernet, into: out, capacity: capacity, headroom: headroom) else { return }
    require(r.count >= 1 && (r.count - 1) * r.stride + r.lastLength <= capacity, "segments do not fit the capacity")
    let mss = Int(h.gsoSize)
    let hdrLen = r.stride - headroom - mss
    let last = r.lastLength - headroom - hdrLen
    require(hdrLen >= 20 && last >= 1 && last <= mss, "odd segment sizes")
    require((r.count - 1) * mss + last == count - hdrLen, "segments do not add up to the payload")
    for i in 0..<r.count {
        let seg = out + i * r.stride + headroom
        let length = (i == r.count - 1 ? r.lastLength : r.stride) - headroom
        guard let l = FrameLayout.parse(seg, count: length, ethernet: ethernet) else { fatalError("segment does not parse") }
        require(l.l4Protocol == 6 && l.ipOffset + l.ipLength == length, "segment IP length wrong")
        if l.ipVersion == 4 {
            require(InternetChecksum.of(UnsafeRawBufferPointer(start: seg + l.ipOffset, count: l.l4Offset - l.ipOffset)) == 0,
                         "segment IPv4 header checksum wrong")
        }
        require(tcpSumValid(seg, l), "segment TCP checksum wrong")
    }
}

/// Rewrites frame `k` to continue frame `k - 1` (sequence number, IPv4 id) and/or fixes its checksums.
func fixUp(_ frames: [Offload.Frame], ethernet: Bool, chain: Bool, checksums: Bool) {
    var next: (seq: UInt32, id: UInt16)? = nil
    for f in frames {
        let p = f.base
        guard let l = FrameLayout.parse(p, count: f.length, ethernet: ethernet), l.l4Protocol == 6,
              l.ipOffset + l.ipLength <= f.length, l.l4Offset + 20 <= l.ipOffset + l.ipLength else { next = nil; continue }
        if chain, let n = next {
            p.storeBytes(of: n.seq.bigEndian, toByteOffset: l.l4Offset + 4, as: UInt32.self)
            if l.ipVersion == 4 { p.storeBytes(of: n.id.bigEndian, toByteOffset: l.ipOffset + 4, as: UInt16.self) }
        }
        let tcpHL = Int(p.load(fromByteOffset: l.l4Offset + 12, as: UInt8.self) >> 4) * 4
        let payload = max(0, l.ipOffset + l.ipLength - l.l4Offset - tcpHL)
        let seq = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: l.l4Offset + 4, as: UInt32.self))
        let id = l.ipVersion == 4 ? UInt16(bigEndian: p.loadUnaligned(fromByteOffset: l.ipOffset + 4, as: UInt16.self)) : 0
        next = (seq &+ UInt32(payload), id &+ 1)
        if checksums {
            if l.ipVersion == 4 {
                let ipHL = l.l4Offset - l.ipOffset
                p.storeBytes(of: UInt16(0), toByteOffset: l.ipOffset + 10, as: UInt16.self)
                p.storeBytes(of: InternetChecksum.of(UnsafeRawBufferPointer(start: p + l.ipOffset, count: ipHL)),
                             toByteOffset: l.ipOffset + 10, as: UInt16.self)
            }
            p.storeBytes(of: UInt16(0), toByteOffset: l.l4Offset + 16, as: UInt16.self)
            let tcpLength = l.ipOffset + l.ipLength - l.l4Offset
            var c = InternetChecksum.pseudoHeader(
                src: UnsafeRawBufferPointer(start: p + l.sourceRange.lowerBound, count: l.sourceRange.count),
                dst: UnsafeRawBufferPointer(start: p + l.destinationRange.lowerBound, count: l.destinationRange.count),
                protocol: 6, length: tcpLength)
            c.add(UnsafeRawBufferPointer(start: p + l.l4Offset, count: tcpLength))
            p.storeBytes(of: c.value, toByteOffset: l.l4Offset + 16, as: UInt16.self)
        }
    }
}

func coalesceChecks(_ pieces: [UnsafeBufferPointer<UInt8>], ethernet: Bool, chain: Bool, checksums: Bool, maxSegments: Int, shift: Int) {
    // Each frame in its own allocation of exactly its length (after `shift` bytes), so ASan sees overreads.
    let bases = pieces.map { piece -> UnsafeMutableRawPointer in
        let b = UnsafeMutableRawPointer.allocate(byteCount: shift + piece.count + (piece.count == 0 && shift == 0 ? 1 : 0), alignment: 16)
        if piece.count > 0 { (b + shift).copyMemory(from: piece.baseAddress!, byteCount: piece.count) }
        return b
    }
    defer { for b in bases { b.deallocate() } }
    let frames = zip(bases, pieces).map { Offload.Frame(base: $0.0 + shift, length: $0.1.count) }
    if chain || checksums { fixUp(frames, ethernet: ethernet, chain: chain, checksums: checksums) }
    let before = frames.map { Array(UnsafeRawBufferPointer(start: $0.base, count: $0.length)) }
    var nextIndex = 0
    var sink: UInt8 = 0
    frames.withUnsafeBufferPointer { buf in
        Offload.coalesce(buf, ethernet: ethernet, maxSegments: maxSegments) { g in
            require(g.range.lowerBound == nextIndex && g.range.upperBound > g.range.lowerBound && g.range.upperBound <= buf.count,
                         "groups do not partition the frames")
            nextIndex = g.range.upperBound
            var total = 0
            for k in g.range {
                let sl = g.slice(of: buf[k], first: k == g.range.lowerBound)
                require(sl.offset >= 0 && sl.length >= 0 && sl.offset + sl.length <= buf[k].length, "slice outside its frame")
                for i in 0..<sl.length { sink ^= buf[k].base.load(fromByteOffset: sl.offset + i, as: UInt8.self) }
                total += sl.length
                if k > g.range.lowerBound {
                    require(unchangedButChecksum(before[k], buf[k], ethernet: ethernet), "a later frame was changed")
                }
            }
            if let h = g.header {
                require(g.range.count >= 2 && g.range.count <= maxSegments, "group size")
                require(Int(h.headerLength) == g.headerLength && h.gsoSize > 0 && h.checksumOffset == 16, "GSO header")
                guard let l = FrameLayout.parse(buf[g.range.lowerBound].base, count: buf[g.range.lowerBound].length, ethernet: ethernet) else {
                    fatalError("coalesced first frame does not parse")
                }
                require(l.ipOffset + l.ipLength == total, "coalesced IP length is not the bytes sent")
                require(total - g.headerLength <= 65535, "coalesced packet over 64 KB")
            } else {
                require(g.range.count == 1, "a group without a header has one frame")
                let k = g.range.lowerBound
                require(unchangedButChecksum(before[k], buf[k], ethernet: ethernet), "a lone frame was changed")
            }
        }
    }
    require(nextIndex == frames.count, "frames left out of every group")
    if sink == 0x5a && frames.count == 255 { print("") }   // keep the reads
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 14 else { return 0 }
    let header = VirtioNetHeader(UnsafeRawPointer(data))
    let mode = data[10]
    let ethernet = mode & 1 != 0
    let headroom = Int(data[11])
    let capacity = le16(data + 12) * 4
    // Split the rest at F0 0D.
    var pieces: [UnsafeBufferPointer<UInt8>] = []
    var start = 14, i = 14
    while i + 1 < size && pieces.count < 80 {
        if data[i] == 0xf0 && data[i + 1] == 0x0d {
            pieces.append(UnsafeBufferPointer(start: data + start, count: i - start)); i += 2; start = i
        } else { i += 1 }
    }
    pieces.append(UnsafeBufferPointer(start: data + start, count: size - start))

    // The first frame, where libFuzzer put it when it is the last piece (exact end), else copied to its own buffer.
    let first = pieces[0]
    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(first.count, 1), alignment: 16)
    defer { copy.deallocate() }
    if first.count > 0 { copy.copyMemory(from: first.baseAddress!, byteCount: first.count) }
    if let l = FrameLayout.parse(copy, count: first.count, ethernet: ethernet) {
        require(l.l4Offset <= first.count && l.sourceRange.upperBound <= first.count && l.destinationRange.upperBound <= first.count,
                     "layout outside the frame")
        require(l.ipVersion == 4 || l.ipVersion == 6, "IP version")
    }
    _ = FrameLayout.flowHash(copy, count: first.count, ethernet: ethernet)
    segmentChecks(copy, first.count, header, ethernet: ethernet, headroom: headroom, capacity: capacity)
    Offload.completeChecksum(copy, count: first.count, start: Int(header.checksumStart), offset: Int(header.checksumOffset))

    coalesceChecks(pieces, ethernet: ethernet, chain: mode & 4 != 0, checksums: mode & 2 != 0,
                   maxSegments: Int((mode >> 3) & 7) + 1 + (mode & 0x38 == 0x38 ? 56 : 0), shift: Int(mode >> 6))
    return 0
}

/// A frame coalescing did not merge may differ from the original only by a TCP/UDP checksum that was left partial
/// (the field held the pseudo-header sum) and is now complete and valid.
func unchangedButChecksum(_ original: [UInt8], _ f: Offload.Frame, ethernet: Bool) -> Bool {
    let now = Array(UnsafeRawBufferPointer(start: f.base, count: f.length))
    if now == original { return true }
    guard let l = FrameLayout.parse(f.base, count: f.length, ethernet: ethernet),
          l.l4Protocol == FrameLayout.tcp || l.l4Protocol == FrameLayout.udp else { return false }
    let field = l.l4Offset + (l.l4Protocol == FrameLayout.tcp ? 16 : 6)
    guard field + 2 <= now.count else { return false }
    for i in 0..<now.count where (i < field || i >= field + 2) && now[i] != original[i] { return false }
    // Valid now: checking again changes nothing.
    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(1, now.count), alignment: 8)
    defer { copy.deallocate() }
    now.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: now.count) }
    return Offload.verifyOrCompleteChecksum(copy, count: now.count, ethernet: ethernet)
        && Array(UnsafeRawBufferPointer(start: copy, count: now.count)) == now
}

/// precondition, but with its message printed in -O builds too.
@inline(__always) func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
