/// Segmentation and coalescing of TCP in software, so the TAP/TUN can exchange 64 KB frames with the kernel
/// (IFF_VNET_HDR, TUNSETOFFLOAD) while the wire carries MTU-sized datagrams.
public enum Offload {
    /// Completes a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at
    /// `start + offset` holds the pseudo-header sum; the checksum covers `start ..< count`.
    /// Returns false when the offsets do not fit the frame.
    @discardableResult
    public static func completeChecksum(_ p: UnsafeMutableRawPointer, count: Int, start: Int, offset: Int) -> Bool {
        guard start >= 0, offset >= 0, start + offset + 2 <= count else { return false }
        var c = InternetChecksum()
        c.add(UnsafeRawBufferPointer(start: p + start, count: count - start))
        var v = c.value
        if offset == 6 && v == 0 { v = 0xffff }   // UDP: 0 means "no checksum" (RFC 768)
        p.storeBytes(of: v, toByteOffset: start + offset, as: UInt16.self)
        return true
    }

    /// The result of splitting one GSO frame: `count` segments laid out every `stride` bytes from the output
    /// start, each beginning with `headroom` bytes left for the caller; the last one is `lastLength` bytes long.
    public struct Segments: Equatable, Sendable {
        public var count: Int
        public var stride: Int
        public var lastLength: Int
    }

    /// Splits the TCP GSO frame at `frame` (`count` bytes, described by `header`) into MSS-sized segments with
    /// complete IP and TCP checksums (as the kernel's tcp_gso_segment would). Returns nil for a frame that is not
    /// TCP GSO, whose headers do not parse, or that does not fit `capacity`.
    public static func segment(_ frame: UnsafeRawPointer, count: Int, header: VirtioNetHeader, ethernet: Bool,
                               into out: UnsafeMutableRawPointer, capacity: Int, headroom: Int) -> Segments? {
        let kind = header.gsoKind
        guard kind == VirtioNetHeader.gsoTCPv4 || kind == VirtioNetHeader.gsoTCPv6 else { return nil }
        guard let l = FrameLayout.parse(frame, count: count, ethernet: ethernet), l.l4Protocol == FrameLayout.tcp,
              (kind == VirtioNetHeader.gsoTCPv4) == (l.ipVersion == 4), count >= l.l4Offset + 20 else { return nil }
        let tcpHL = Int(frame.load(fromByteOffset: l.l4Offset + 12, as: UInt8.self) >> 4) * 4
        let hdrLen = l.l4Offset + tcpHL
        let mss = Int(header.gsoSize)
        guard tcpHL >= 20, count > hdrLen, mss > 0 else { return nil }
        let payload = count - hdrLen
        let n = (payload + mss - 1) / mss
        let stride = headroom + hdrLen + mss
        let lastLength = headroom + hdrLen + (payload - (n - 1) * mss)
        guard n <= 1024, (n - 1) * stride + lastLength <= capacity else { return nil }
        // The largest segment's IPv4 total length / IPv6 payload length must fit in 16 bits.
        guard hdrLen - l.ipOffset - (l.ipVersion == 6 ? 40 : 0) + min(mss, payload) <= 65535 else { return nil }

        let seq0 = UInt32(bigEndian: frame.loadUnaligned(fromByteOffset: l.l4Offset + 4, as: UInt32.self))
        let flags0 = frame.load(fromByteOffset: l.l4Offset + 13, as: UInt8.self)
        let id0 = l.ipVersion == 4 ? UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: l.ipOffset + 4, as: UInt16.self)) : 0
        let ipHL = l.l4Offset - l.ipOffset
        for i in 0..<n {
            let seg = out + i * stride + headroom
            let chunk = i == n - 1 ? payload - i * mss : mss
            seg.copyMemory(from: frame, byteCount: hdrLen)
            (seg + hdrLen).copyMemory(from: frame + hdrLen + i * mss, byteCount: chunk)
            let ip = seg + l.ipOffset
            if l.ipVersion == 4 {
                ip.storeBytes(of: UInt16(ipHL + tcpHL + chunk).bigEndian, toByteOffset: 2, as: UInt16.self)
                ip.storeBytes(of: (id0 &+ UInt16(truncatingIfNeeded: i)).bigEndian, toByteOffset: 4, as: UInt16.self)
                ip.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self)
                ip.storeBytes(of: InternetChecksum.of(UnsafeRawBufferPointer(start: ip, count: ipHL)), toByteOffset: 10, as: UInt16.self)
            } else {
                ip.storeBytes(of: UInt16(ipHL - 40 + tcpHL + chunk).bigEndian, toByteOffset: 4, as: UInt16.self)
            }
            let tcp = seg + l.l4Offset
            tcp.storeBytes(of: (seq0 &+ UInt32(truncatingIfNeeded: i * mss)).bigEndian, toByteOffset: 4, as: UInt32.self)
            var f = flags0
            if i < n - 1 { f &= ~0x09 }   // FIN and PSH only on the last segment
            if i > 0 { f &= ~0x80 }       // CWR only on the first
            tcp.storeBytes(of: f, toByteOffset: 13, as: UInt8.self)
            tcp.storeBytes(of: UInt16(0), toByteOffset: 16, as: UInt16.self)
            var c = InternetChecksum.pseudoHeader(
                src: UnsafeRawBufferPointer(start: seg + l.sourceRange.lowerBound, count: l.sourceRange.count),
                dst: UnsafeRawBufferPointer(start: seg + l.destinationRange.lowerBound, count: l.destinationRange.count),
                protocol: FrameLayout.tcp, length: tcpHL + chunk)
            c.add(UnsafeRawBufferPointer(start: tcp, count: tcpHL + chunk))
            tcp.storeBytes(of: c.value, toByteOffset: 16, as: UInt16.self)
        }
        return Segments(count: n, stride: stride, lastLength: lastLength)
    }

    /// A received inner frame, for coalescing.
    public struct Frame: @unchecked Sendable {
        public var base: UnsafeMutableRawPointer
        public var length: Int
        public init(base: UnsafeMutableRawPointer, length: Int) { self.base = base; self.length = length }
    }

    /// A run of frames to write as one: `frames[range]`. With `header` (a GSO header) the first frame's headers were
    /// rewritten to describe the whole run, and each later frame contributes only its TCP payload, from
    /// `payloadOffset` for `payloadLengths` bytes. Without `header` the single frame is written as it is.
    public struct Group: Sendable {
        public init(range: Range<Int>, header: VirtioNetHeader?, headerLength: Int, firstLength: Int = 0, ipOffset: Int = 0, ipVersion: Int = 0) {
            self.range = range; self.header = header; self.headerLength = headerLength; self.firstLength = firstLength
            self.ipOffset = ipOffset; self.ipVersion = ipVersion
        }
        public var range: Range<Int>
        public var header: VirtioNetHeader?
        /// Link + IP + TCP header bytes of every frame in the run.
        public var headerLength: Int
        /// Bytes of the first frame to write.
        public var firstLength: Int = 0
        var ipOffset: Int = 0
        var ipVersion: Int = 0

        /// Bytes of `frame` (a member of this run) that go out: the whole first frame up to the end of its IP
        /// packet, then only the TCP payload of each later frame.
        public func slice(of frame: Frame, first: Bool) -> (offset: Int, length: Int) {
            if first { return (0, header == nil ? frame.length : firstLength) }
            let ipLength = ipVersion == 4
                ? Int(UInt16(bigEndian: frame.base.loadUnaligned(fromByteOffset: ipOffset + 2, as: UInt16.self)))
                : 40 + Int(UInt16(bigEndian: frame.base.loadUnaligned(fromByteOffset: ipOffset + 4, as: UInt16.self)))
            let end = min(ipOffset + ipLength, frame.length)
            return (headerLength, max(0, end - headerLength))
        }
    }

    /// What `coalesce` needs to know about a candidate frame.
    struct Candidate {
        var layout: FrameLayout
        var tcpHL: Int
        var payload: Int
        var seq: UInt32
        var flags: UInt8
    }

    /// Verifies the TCP/UDP checksum of the IP packet in a frame; when it is wrong only because it was left partial
    /// — the field holds the pseudo-header sum, as a sender on this host (a kernel tunnel over veth) leaves it for
    /// checksum offload that never runs — completes it. Returns false for a checksum that is simply wrong, true
    /// otherwise (also for frames without a TCP/UDP checksum to check).
    @discardableResult
    public static func verifyOrCompleteChecksum(_ p: UnsafeMutableRawPointer, count: Int, ethernet: Bool) -> Bool {
        guard let l = FrameLayout.parse(p, count: count, ethernet: ethernet),
              l.l4Protocol == FrameLayout.tcp || l.l4Protocol == FrameLayout.udp else { return true }
        let ipEnd = l.ipOffset + l.ipLength
        let field = l.l4Protocol == FrameLayout.tcp ? 16 : 6
        guard ipEnd <= count, l.l4Offset + field + 2 <= ipEnd else { return true }
        let stored = p.loadUnaligned(fromByteOffset: l.l4Offset + field, as: UInt16.self)
        if l.l4Protocol == FrameLayout.udp && l.ipVersion == 4 && stored == 0 { return true }   // no UDP checksum
        let pseudo = InternetChecksum.pseudoHeader(
            src: UnsafeRawBufferPointer(start: p + l.sourceRange.lowerBound, count: l.sourceRange.count),
            dst: UnsafeRawBufferPointer(start: p + l.destinationRange.lowerBound, count: l.destinationRange.count),
            protocol: l.l4Protocol, length: ipEnd - l.l4Offset)
        var c = pseudo
        c.add(UnsafeRawBufferPointer(start: p + l.l4Offset, count: ipEnd - l.l4Offset))
        if c.isValid { return true }
        guard stored == pseudo.folded else { return false }
        return completeChecksum(p, count: ipEnd, start: l.l4Offset, offset: field)
    }

    static func candidate(_ f: Frame, ethernet: Bool) -> Candidate? {
        let p = f.base
        guard let l = FrameLayout.parse(p, count: f.length, ethernet: ethernet), l.l4Protocol == FrameLayout.tcp else {
            verifyOrCompleteChecksum(p, count: f.length, ethernet: ethernet)   // UDP from a same-host sender
            return nil
        }
        let ipEnd = l.ipOffset + l.ipLength
        guard ipEnd <= f.length, l.l4Offset + 20 <= ipEnd else { return nil }
        // The checksum is verified (or a partial one completed) first: the coalesced frame goes to the kernel as
        // already checked, and a lone frame must not carry a partial checksum either.
        guard verifyOrCompleteChecksum(p, count: f.length, ethernet: ethernet) else { return nil }
        if l.ipVersion == 4 {
            // No fragments (checked by parse), no IP options, and the IP header checksum must be right.
            guard l.l4Offset - l.ipOffset == 20,
                  InternetChecksum.of(UnsafeRawBufferPointer(start: p + l.ipOffset, count: 20)) == 0 else { return nil }
        }
        let tcpHL = Int(p.load(fromByteOffset: l.l4Offset + 12, as: UInt8.self) >> 4) * 4
        guard tcpHL >= 20, l.l4Offset + tcpHL <= ipEnd else { return nil }
        let payload = ipEnd - l.l4Offset - tcpHL
        let flags = p.load(fromByteOffset: l.l4Offset + 13, as: UInt8.self)
        // Only plain data segments: ACK, optionally PSH; nothing else (SYN, FIN, RST, URG, ECE, CWR end a run).
        guard payload > 0, flags & ~0x08 == 0x10 else { return nil }
        let seq = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: l.l4Offset + 4, as: UInt32.self))
        return Candidate(layout: l, tcpHL: tcpHL, payload: payload, seq: seq, flags: flags)
    }

    /// True when `b` continues `a`'s segment train: same link and IP header fields that GRO compares, same ports,
    /// ack, window and options, and the next sequence number.
    static func continues(_ a: Frame, _ ca: Candidate, next expectedSeq: UInt32, _ b: Frame, _ cb: Candidate, ipID: UInt16) -> Bool {
        guard ca.layout.l4Offset == cb.layout.l4Offset, ca.layout.ipVersion == cb.layout.ipVersion,
              ca.tcpHL == cb.tcpHL, cb.seq == expectedSeq else { return false }
        let pa = a.base, pb = b.base
        let l = ca.layout
        // Link header (MACs, tags, EtherType) identical.
        if l.ipOffset > 0 && memcmpBytes(pa, pb, l.ipOffset) == false { return false }
        let ia = pa + l.ipOffset, ib = pb + l.ipOffset
        if l.ipVersion == 4 {
            // Version/IHL/TOS, then flags (DF), TTL, protocol, addresses; the id must advance by one.
            guard ia.loadUnaligned(as: UInt16.self) == ib.loadUnaligned(as: UInt16.self),
                  ia.loadUnaligned(fromByteOffset: 6, as: UInt16.self) == ib.loadUnaligned(fromByteOffset: 6, as: UInt16.self),
                  ia.loadUnaligned(fromByteOffset: 8, as: UInt16.self) == ib.loadUnaligned(fromByteOffset: 8, as: UInt16.self),
                  memcmpBytes(ia + 12, ib + 12, 8),
                  UInt16(bigEndian: ib.loadUnaligned(fromByteOffset: 4, as: UInt16.self)) == ipID else { return false }
        } else {
            guard ia.loadUnaligned(as: UInt32.self) == ib.loadUnaligned(as: UInt32.self),
                  ia.loadUnaligned(fromByteOffset: 6, as: UInt16.self) == ib.loadUnaligned(fromByteOffset: 6, as: UInt16.self),
                  memcmpBytes(ia + 8, ib + 8, 32) else { return false }
        }
        let ta = pa + l.l4Offset, tb = pb + l.l4Offset
        // Ports, ack number, window, and every option byte (timestamps included) identical.
        guard ta.loadUnaligned(as: UInt32.self) == tb.loadUnaligned(as: UInt32.self),
              ta.loadUnaligned(fromByteOffset: 8, as: UInt32.self) == tb.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
              ta.loadUnaligned(fromByteOffset: 14, as: UInt16.self) == tb.loadUnaligned(fromByteOffset: 14, as: UInt16.self),
              ca.tcpHL == 20 || memcmpBytes(ta + 20, tb + 20, ca.tcpHL - 20) else { return false }
        return true
    }

    static func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// Groups consecutive frames of one TCP flow into GSO frames (the kernel's GRO, in userspace), and calls
    /// `emit` for every group in order. Frames that are not plain TCP data, or whose checksum is wrong, go alone
    /// and unchanged (the kernel then checks and drops them as usual). At most `maxSegments` frames and 64 KB of
    /// IP packet per group.
    public static func coalesce(_ frames: UnsafeBufferPointer<Frame>, ethernet: Bool, maxSegments: Int = 64,
                                emit: (Group) -> Void) {
        var i = 0
        let n = frames.count
        while i < n {
            let first = frames[i]
            guard let c0 = candidate(first, ethernet: ethernet), c0.flags & 0x08 == 0 else {
                emit(Group(range: i..<(i + 1), header: nil, headerLength: 0)); i += 1; continue
            }
            let l = c0.layout
            let headerBytes = l.l4Offset + c0.tcpHL
            let ipHeaders = headerBytes - l.ipOffset
            var total = c0.payload
            var nextSeq = c0.seq &+ UInt32(c0.payload)
            var ipID = l.ipVersion == 4 ? UInt16(bigEndian: first.base.loadUnaligned(fromByteOffset: l.ipOffset + 4, as: UInt16.self)) &+ 1 : 0
            var push = false
            var j = i + 1
            while j < n && j - i < maxSegments {
                let f = frames[j]
                guard let c = candidate(f, ethernet: ethernet), c.payload <= c0.payload,
                      ipHeaders + total + c.payload <= 65535,
                      continues(first, c0, next: nextSeq, f, c, ipID: ipID) else { break }
                total += c.payload
                nextSeq = nextSeq &+ UInt32(c.payload)
                ipID &+= 1
                j += 1
                if c.flags & 0x08 != 0 { push = true; break }
                if c.payload < c0.payload { break }
            }
            if j - i == 1 {
                emit(Group(range: i..<(i + 1), header: nil, headerLength: 0)); i += 1; continue
            }
            // Rewrite the first frame's headers for the whole train.
            let p = first.base
            if l.ipVersion == 4 {
                p.storeBytes(of: UInt16(ipHeaders + total).bigEndian, toByteOffset: l.ipOffset + 2, as: UInt16.self)
                p.storeBytes(of: UInt16(0), toByteOffset: l.ipOffset + 10, as: UInt16.self)
                p.storeBytes(of: InternetChecksum.of(UnsafeRawBufferPointer(start: p + l.ipOffset, count: 20)),
                             toByteOffset: l.ipOffset + 10, as: UInt16.self)
            } else {
                p.storeBytes(of: UInt16(ipHeaders - 40 + total).bigEndian, toByteOffset: l.ipOffset + 4, as: UInt16.self)
            }
            if push { p.storeBytes(of: c0.flags | 0x08, toByteOffset: l.l4Offset + 13, as: UInt8.self) }
            let pseudo = InternetChecksum.pseudoHeader(
                src: UnsafeRawBufferPointer(start: p + l.sourceRange.lowerBound, count: l.sourceRange.count),
                dst: UnsafeRawBufferPointer(start: p + l.destinationRange.lowerBound, count: l.destinationRange.count),
                protocol: FrameLayout.tcp, length: c0.tcpHL + total)
            p.storeBytes(of: pseudo.folded, toByteOffset: l.l4Offset + 16, as: UInt16.self)
            let h = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum,
                                    gsoType: l.ipVersion == 4 ? VirtioNetHeader.gsoTCPv4 : VirtioNetHeader.gsoTCPv6,
                                    headerLength: UInt16(headerBytes), gsoSize: UInt16(c0.payload),
                                    checksumStart: UInt16(l.l4Offset), checksumOffset: 16)
            // The first frame's IP length now covers the run; its own bytes are its original packet.
            emit(Group(range: i..<j, header: h, headerLength: headerBytes, firstLength: headerBytes + c0.payload,
                       ipOffset: l.ipOffset, ipVersion: l.ipVersion))

            i = j
        }
    }
}
