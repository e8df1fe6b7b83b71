// Micro-benchmarks of the userspace data plane's per-packet paths in DataplaneWire: the Internet checksum, TCP
// segmentation (GSO in software) and coalescing (GRO in software), and the VXLAN / L2TPv3 header codecs.
//
// Every input is built once, before any measurement, in fixed buffers (as the engine's threads own theirs); the
// measured code only reads and writes those. Results go to `blackHole` so the optimiser keeps the work.
// The point of `mallocCountTotal` here: these paths must allocate nothing per packet.
//
// Bytes per iteration, for turning the median time into bytes/s, are in each benchmark's name.

import Benchmark
import DataplaneWire

// MARK: - Frame builders (run once, outside any measurement)

private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(truncatingIfNeeded: v)] }
private func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
private func put16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v >> 8); b[at + 1] = UInt8(truncatingIfNeeded: v) }

/// RFC 1071 folded one's-complement sum of big-endian words, as a number (not inverted). Written independently of
/// `InternetChecksum` so the fixtures do not depend on the code under measurement.
private func onesSum(_ bytes: [UInt8]) -> UInt16 {
    var s: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count { s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); s = (s & 0xffff) + (s >> 16); i += 2 }
    if i < bytes.count { s += UInt32(bytes[i]) << 8; s = (s & 0xffff) + (s >> 16) }
    return UInt16(s)
}

/// Deterministic filler (xorshift64*), so payloads are not all one byte value.
private func pseudoRandomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var x = seed | 1
    var out = [UInt8](repeating: 0, count: n)
    for i in 0..<n {
        x ^= x >> 12; x ^= x << 25; x ^= x >> 27
        out[i] = UInt8(truncatingIfNeeded: (x &* 0x2545_F491_4F6C_DD1D) >> 56)
    }
    return out
}

private let macA: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]
private let macB: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b]
private let innerSrc: [UInt8] = [10, 0, 0, 1]
private let innerDst: [UInt8] = [10, 0, 0, 2]
private let underlayPeer: [UInt8] = [192, 0, 2, 1]   // RFC 5737

/// Ethernet + IPv4 (DF, correct header checksum) + TCP with the timestamps option (32-byte header) + payload.
/// `partial`: the TCP checksum field holds the folded pseudo-header sum over the whole segment (what the kernel
/// leaves for TSO / CHECKSUM_PARTIAL); otherwise a complete checksum.
private func tcpFrame(payload: [UInt8], flags: UInt8, seq: UInt32, ipID: UInt16, partial: Bool) -> [UInt8] {
    let options: [UInt8] = [1, 1, 8, 10] + be32(0x0102_0304) + be32(0x0506_0708)
    var tcp = be16(40000) + be16(5201) + be32(seq) + be32(77_777)
    tcp += [UInt8((20 + options.count) / 4) << 4, flags] + be16(501) + [0, 0, 0, 0] + options
    let tcpLength = tcp.count + payload.count
    let pseudo = innerSrc + innerDst + [0, 6] + be16(UInt16(truncatingIfNeeded: tcpLength))
    if partial {
        put16(&tcp, 16, onesSum(pseudo))
    } else {
        put16(&tcp, 16, ~onesSum(pseudo + tcp + payload))
    }
    var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + tcpLength)) + be16(ipID) + [0x40, 0, 64, 6, 0, 0] + innerSrc + innerDst
    put16(&ip, 10, ~onesSum(ip))
    return macB + macA + be16(0x0800) + ip + tcp + payload
}

/// A fixed, never-freed buffer holding `bytes` (the benchmark process lives only for the run).
private func buffer(_ bytes: [UInt8], capacity: Int? = nil) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(capacity ?? bytes.count, bytes.count, 1), alignment: 64)
    bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return p
}

// MARK: - Fixtures

/// Everything the benchmarks read, built once.
private final class Fixtures: @unchecked Sendable {
    // Checksum inputs.
    static let checksumLarge = 64 * 1024
    static let checksumSmall = 1448
    let checksumLargeBuf: UnsafeRawPointer
    let checksumSmallBuf: UnsafeRawPointer

    // Segmentation: a 64 KB TCP/IPv4 GSO frame as a TAP with IFF_VNET_HDR and TSO delivers it.
    static let mss = 1398          // inner MSS on a 1500-byte underlay, VXLAN over IPv4: 1500-20-8-8-14-20-32
    static let segments = 46       // what tcp_tso_autosize gives for gso_max_size 64 KiB: (65536-1-320)/1398
    static let headroom = 8        // VXLAN header written in front of each segment
    static let arenaSize = 512 * 1024   // the engine's transmit arena
    let gsoFrame: UnsafeRawPointer
    let gsoFrameLength: Int
    let gsoHeader: VirtioNetHeader
    let arena: UnsafeMutableRawPointer

    // Coalescing: the segments (2) produces, in receive buffers of their own, and a copy of the first one's
    // headers (coalesce rewrites them in place).
    let rxFrames: UnsafeMutableBufferPointer<Offload.Frame>
    let rxFramesBytes: Int
    let firstHeaders: UnsafeRawPointer
    let firstHeaderLength: Int

    // Codecs.
    let peer: PeerAddress
    let vxlanSession: SessionConfig
    let l2tpSession: SessionConfig
    let udp = Transport.udp(localPort: 4789, remotePort: 4789)
    let l2tpUDP = Transport.udp(localPort: 1701, remotePort: 1701)
    let vxlanDatagram: UnsafeRawPointer
    let vxlanDatagramLength: Int
    let l2tpDatagram: UnsafeRawPointer
    let l2tpDatagramLength: Int
    let headerScratch: UnsafeMutableRawPointer

    init() {
        checksumLargeBuf = UnsafeRawPointer(buffer(pseudoRandomBytes(Self.checksumLarge, seed: 0x1071)))
        checksumSmallBuf = UnsafeRawPointer(buffer(pseudoRandomBytes(Self.checksumSmall, seed: 0x1448)))

        // (2) The GSO frame: 46 × 1398 bytes of payload, ACK|PSH, IPv4 total length of the whole, TCP checksum
        // field holding the pseudo-header sum (CHECKSUM_PARTIAL), and the virtio_net_hdr the TAP gives with it.
        let payload = pseudoRandomBytes(Self.segments * Self.mss, seed: 0x6455)
        let frame = tcpFrame(payload: payload, flags: 0x18, seq: 0xfff0_0000, ipID: 0x1234, partial: true)
        let headerLength = 14 + 20 + 32
        gsoFrame = UnsafeRawPointer(buffer(frame))
        gsoFrameLength = frame.count
        gsoHeader = VirtioNetHeader(flags: VirtioNetHeader.needsChecksum, gsoType: VirtioNetHeader.gsoTCPv4,
                                    headerLength: UInt16(headerLength), gsoSize: UInt16(Self.mss),
                                    checksumStart: 34, checksumOffset: 16)
        arena = UnsafeMutableRawPointer.allocate(byteCount: Self.arenaSize, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: Self.arenaSize)
        guard let segs = Offload.segment(gsoFrame, count: gsoFrameLength, header: gsoHeader, ethernet: true,
                                         into: arena, capacity: Self.arenaSize, headroom: Self.headroom),
              segs.count == Self.segments else {
            fatalError("fixture: Offload.segment did not give \(Self.segments) segments")
        }

        // (3) Each segment (without the headroom) copied into a 2 KiB receive slot of its own, as the receive
        // side's datagrams sit after their tunnel headers.
        let slot = 2048
        let rx = UnsafeMutableRawPointer.allocate(byteCount: slot * segs.count, alignment: 64)
        rxFrames = .allocate(capacity: segs.count)
        var total = 0
        for k in 0..<segs.count {
            let len = (k == segs.count - 1 ? segs.lastLength : segs.stride) - Self.headroom
            (rx + k * slot).copyMemory(from: arena + k * segs.stride + Self.headroom, byteCount: len)
            rxFrames[k] = Offload.Frame(base: rx + k * slot, length: len)
            total += len
        }
        rxFramesBytes = total
        firstHeaderLength = headerLength
        let saved = UnsafeMutableRawPointer.allocate(byteCount: headerLength, alignment: 64)
        saved.copyMemory(from: rx, byteCount: headerLength)
        firstHeaders = UnsafeRawPointer(saved)

        // (4) Sessions and datagrams (UDP payloads, as recvmmsg returns them) carrying a full-size inner frame.
        peer = PeerAddress(bytes: underlayPeer)!
        vxlanSession = SessionConfig(name: "vx0", encapsulation: .vxlan(vni: 42), ethernet: true, peers: [peer])
        let cookie: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        let peerCookie: [UInt8] = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        l2tpSession = SessionConfig(
            name: "l2tpeth0",
            encapsulation: .l2tpv3(L2TPv3Options(sessionID: 0x0000_1001, peerSessionID: 0x0000_2002,
                                                 cookie: cookie, peerCookie: peerCookie)),
            ethernet: true, peers: [peer])
        // VXLAN (RFC 7348): I flag, VNI 42; inner frame one MSS-sized TCP segment (1464 bytes).
        let vxInner = tcpFrame(payload: pseudoRandomBytes(Self.mss, seed: 7), flags: 0x10, seq: 1, ipID: 1, partial: false)
        let vx = [0x08, 0, 0, 0] + be32(42 << 8) + vxInner
        vxlanDatagram = UnsafeRawPointer(buffer(vx)); vxlanDatagramLength = vx.count
        // L2TPv3 over UDP (RFC 3931 §4.1.2.1): flags/version 0x0003, reserved, session id, the 8-byte cookie the
        // receiver expects (its peerCookie), the default L2-specific sublayer without a sequence number
        // (RFC 4719); inner frame sized for the 1500-byte underlay: MSS 1386.
        let l2Inner = tcpFrame(payload: pseudoRandomBytes(1386, seed: 8), flags: 0x10, seq: 1, ipID: 1, partial: false)
        let l2 = [0x00, 0x03, 0, 0] + be32(0x1001) + peerCookie + [0, 0, 0, 0] + l2Inner
        l2tpDatagram = UnsafeRawPointer(buffer(l2)); l2tpDatagramLength = l2.count
        headerScratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    }
}

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // Not .instructions: this VM has no hardware counters, and asking for them made the harness itself
        // allocate 16 times per sample (seen in an empty benchmark), which would read as the code's mallocs.
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    let fx = Fixtures()

    // The harness's own cost per sample (clock reads, malloc counters), for reading the others against.
    Benchmark("Calibration: empty sample") { _ in }

    // 1. The Internet checksum (RFC 1071) of a whole 64 KiB buffer and of one 1,448-byte segment payload.
    Benchmark("InternetChecksum 64KiB (65536 B/iter)") { benchmark in
        let bytes = UnsafeRawBufferPointer(start: fx.checksumLargeBuf, count: Fixtures.checksumLarge)
        for _ in benchmark.scaledIterations {
            blackHole(InternetChecksum.of(bytes))
        }
    }
    Benchmark("InternetChecksum 1448B (1448 B/iter)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        let bytes = UnsafeRawBufferPointer(start: fx.checksumSmallBuf, count: Fixtures.checksumSmall)
        for _ in benchmark.scaledIterations {
            blackHole(InternetChecksum.of(bytes))
        }
    }

    // 2. Software TSO: one 64 KB TCP/IPv4 GSO frame into 46 MSS-sized segments with full checksums, each with
    // 8 bytes of headroom for the VXLAN header, into the transmit arena. The input is only read.
    Benchmark("Offload.segment TCPv4 GSO 46x1398 (\(fx.gsoFrameLength) B/iter)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Offload.segment(fx.gsoFrame, count: fx.gsoFrameLength, header: fx.gsoHeader, ethernet: true,
                                      into: fx.arena, capacity: Fixtures.arenaSize, headroom: Fixtures.headroom))
        }
    }

    // 3. Software GRO: the 46 segments of (2), checksums verified, coalesced into one GSO frame. coalesce
    // rewrites the first frame's headers in place, so each sample first puts back its 66 original header bytes —
    // before startMeasurement(), so that copy is not measured.
    Benchmark("Offload.coalesce 46 TCPv4 segments (\(fx.rxFramesBytes) B/iter)") { benchmark in
        fx.rxFrames[0].base.copyMemory(from: fx.firstHeaders, byteCount: fx.firstHeaderLength)
        var merged = 0
        benchmark.startMeasurement()
        Offload.coalesce(UnsafeBufferPointer(fx.rxFrames), ethernet: true) { group in
            merged = group.range.count
            blackHole(group)
        }
        benchmark.stopMeasurement()
        // Every sample must have done the whole job (one group of all the segments), not a no-op on a frame left
        // rewritten by the previous sample.
        if merged != Fixtures.segments { fatalError("coalesce merged \(merged) frames, not \(Fixtures.segments)") }
    } setup: {
        // Once, before the samples: the fixture coalesces into one group of all 46 frames.
        fx.rxFrames[0].base.copyMemory(from: fx.firstHeaders, byteCount: fx.firstHeaderLength)
        var groups: [Offload.Group] = []
        Offload.coalesce(UnsafeBufferPointer(fx.rxFrames), ethernet: true) { groups.append($0) }
        guard groups.count == 1, groups[0].range == 0..<Fixtures.segments, groups[0].header != nil else {
            fatalError("fixture: coalesce gave \(groups.map(\.range))")
        }
    }

    // 4. Receive: find the session of a datagram and check it. Transmit: write the encapsulation header.
    // The codecs are made once, as an engine thread makes its own. Each sample works on a local copy (a struct
    // copy: retains, no allocation; nothing here writes to their arrays, so no copy-on-write either), made
    // before startMeasurement(): a captured `var` would cost a dynamic exclusivity check
    // (swift_beginAccess/endAccess) on every call, which is the harness's, not the codec's.
    let vxlanDecoder = Decoder(sessions: [fx.vxlanSession], transport: fx.udp)
    let l2tpDecoder = Decoder(sessions: [fx.l2tpSession], transport: fx.l2tpUDP)
    let vxlanEncoder = Encoder(fx.vxlanSession, transport: fx.udp)
    let l2tpEncoder = Encoder(fx.l2tpSession, transport: fx.l2tpUDP)

    Benchmark("Decoder.decode VXLAN (\(fx.vxlanDatagramLength) B datagram)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        var decoder = vxlanDecoder
        let p = fx.vxlanDatagram, n = fx.vxlanDatagramLength, source = fx.peer
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(decoder.decode(p, count: n, source: source))
        }
    } setup: {
        var decoder = vxlanDecoder
        guard case .frame(0, 0, 8, fx.vxlanDatagramLength - 8, false) = decoder.decode(
            fx.vxlanDatagram, count: fx.vxlanDatagramLength, source: fx.peer) else { fatalError("fixture: VXLAN decode") }
    }
    Benchmark("Decoder.decode L2TPv3/UDP cookie8 (\(fx.l2tpDatagramLength) B datagram)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        var decoder = l2tpDecoder
        let p = fx.l2tpDatagram, n = fx.l2tpDatagramLength, source = fx.peer
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(decoder.decode(p, count: n, source: source))
        }
    } setup: {
        var decoder = l2tpDecoder
        guard case .frame(0, 0, 20, fx.l2tpDatagramLength - 20, false) = decoder.decode(
            fx.l2tpDatagram, count: fx.l2tpDatagramLength, source: fx.peer) else { fatalError("fixture: L2TPv3 decode") }
    }
    Benchmark("Encoder.writeHeader VXLAN (8 B header)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        var encoder = vxlanEncoder
        let out = fx.headerScratch
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            encoder.writeHeader(out, ipVersion: 0)
            blackHole(out)
        }
    }
    Benchmark("Encoder.writeHeader L2TPv3/UDP cookie8 (20 B header)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        var encoder = l2tpEncoder
        let out = fx.headerScratch
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            encoder.writeHeader(out, ipVersion: 0)
            blackHole(out)
        }
    } setup: {
        var encoder = l2tpEncoder
        guard encoder.headerLength == 20 else { fatalError("fixture: L2TPv3 header length \(encoder.headerLength)") }
        encoder.writeHeader(fx.headerScratch, ipVersion: 0)
        let written = Array(UnsafeRawBufferPointer(start: fx.headerScratch, count: 20))
        guard written == [0x00, 0x03, 0, 0, 0, 0, 0x20, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 0] else {
            fatalError("fixture: L2TPv3 header \(written)")
        }
    }

    // The same VXLAN header write as the engine's transmit thread does it: the encoder a `var` stored property
    // of a final class (TxWorker.encoder), so each call pays a dynamic exclusivity check. The difference from
    // "Encoder.writeHeader VXLAN" is that check's cost per packet.
    final class EncoderHolder: @unchecked Sendable {
        var encoder: Encoder
        init(_ e: Encoder) { encoder = e }
    }
    let holder = EncoderHolder(vxlanEncoder)
    Benchmark("Encoder.writeHeader VXLAN, class-held var as in TxWorker (8 B header)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        let out = fx.headerScratch
        for _ in benchmark.scaledIterations {
            holder.encoder.writeHeader(out, ipVersion: 0)
            blackHole(out)
        }
    }
}
