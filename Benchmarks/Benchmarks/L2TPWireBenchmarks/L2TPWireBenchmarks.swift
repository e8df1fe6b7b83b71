// Micro-benchmarks of the userspace PPP data plane's per-packet paths in L2TPWire: PPP in asynchronous HDLC-like
// framing (RFC 1662), as the agent turns L2TPv2 data messages into pppd's byte stream and back
// (Sources/L2TPAgent/PPP/PPPCalls.swift `deliver` / `readable`): the FCS-16, `HDLCEncoder.encode(_:into:)` with the
// default ACCM (every control character escaped) and with ACCM 0, and `HDLCDecoder.feed(_:_:)` over a stream of
// such frames.
//
// Every input is built once, before any measurement, in fixed buffers; the measured code only reads them and
// writes into buffers made before `startMeasurement()`. Results go to `blackHole` so the optimiser keeps the work.
// The point of `mallocCountTotal` here: decoding must allocate nothing per frame, and encoding into a buffer whose
// capacity is kept must not either.
//
// Bytes per iteration, for turning the median time into bytes/s, are in each benchmark's name (the PPP frame's
// bytes: what goes into the encoder and comes out of the decoder).

import Benchmark
import L2TPWire

// MARK: - Frame builders (run once, outside any measurement)

private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(truncatingIfNeeded: v)] }
private func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }

/// Deterministic filler (xorshift64*), so payloads are not all one byte value: compressed or encrypted traffic,
/// or iperf3's default payload (random bytes), has every byte value about equally often.
private func pseudoRandomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var x = seed | 1
    var out = [UInt8](repeating: 0, count: n)
    for i in 0..<n {
        x ^= x >> 12; x ^= x << 25; x ^= x >> 27
        out[i] = UInt8(truncatingIfNeeded: (x &* 0x2545_F491_4F6C_DD1D) >> 56)
    }
    return out
}

/// RFC 1071 checksum of `bytes` (for a plausible IPv4 header; nothing here checks it).
private func ipChecksum(_ bytes: [UInt8]) -> UInt16 {
    var s: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count { s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
    while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
    return ~UInt16(s)
}

/// A PPP frame as an L2TPv2 data message carries it (FF 03, protocol 0x0021 = IPv4) around a `length`-byte
/// IPv4/TCP packet (20-byte IPv4 header, 20-byte TCP header, pseudo-random payload).
private func pppIPv4Frame(length: Int, seed: UInt64, ipID: UInt16) -> [UInt8] {
    var ip: [UInt8] = [0x45, 0] + be16(UInt16(length)) + be16(ipID) + [0x40, 0, 64, 6, 0, 0] + [10, 9, 0, 10] + [10, 9, 0, 1]
    let c = ipChecksum(ip)
    ip[10] = UInt8(c >> 8); ip[11] = UInt8(truncatingIfNeeded: c)
    let tcp = be16(40000) + be16(5201) + be32(0x1000_0000 &+ UInt32(ipID) &* 1360) + be32(77_777)
        + [0x50, 0x10] + be16(501) + [0, 0, 0, 0]
    return [0xff, 0x03, 0x00, 0x21] + ip + tcp + pseudoRandomBytes(length - 40, seed: seed)
}

/// A fixed, never-freed buffer holding `bytes` (the benchmark process lives only for the run).
private func buffer(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
    bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return UnsafeRawBufferPointer(start: p, count: bytes.count)
}

/// Bytes of `frame` (with its FCS) that `accm` makes the encoder escape: 7E, 7D and the flagged ones below 0x20.
private func escapes(_ bytes: [UInt8], accm: UInt32) -> Int {
    bytes.reduce(0) { n, b in n + ((b == 0x7e || b == 0x7d || (b < 0x20 && accm & (1 << UInt32(b)) != 0)) ? 1 : 0) }
}

// MARK: - Fixtures

/// Everything the benchmarks read, built once.
private final class Fixtures: @unchecked Sendable {
    /// The IPv4 packet inside the PPP frame: a full-size TCP segment on a PPP link of MTU 1,400 (about what a PPP
    /// call over a 1500-byte underlay gets: 1500 less IPv4, UDP, the L2TPv2 header and FF 03 + protocol).
    static let ipLength = 1400
    /// Frames in the decoded stream: about what one 64 KiB `read` of pppd's output holds.
    static let streamFrames = 32

    /// One PPP frame (FF 03 00 21 + 1,400-byte IPv4/TCP packet): 1,404 bytes.
    let frame: UnsafeRawBufferPointer
    /// It framed with ACCM 0xFFFFFFFF and with ACCM 0: lengths, and how many bytes were escaped.
    let encodedAllLength: Int
    let encodedZeroLength: Int
    let escapedAll: Int
    let escapedZero: Int

    /// `streamFrames` different frames (payload seeds differ), encoded back to back, each between its own flags, as
    /// pppd writes them: with ACCM 0xFFFFFFFF and with ACCM 0.
    let streamAll: UnsafeRawBufferPointer
    let streamZero: UnsafeRawBufferPointer
    /// The frames' bytes in total (what the decoder hands over).
    let streamFrameBytes: Int

    init() {
        let f = pppIPv4Frame(length: Self.ipLength, seed: 0x1662, ipID: 1)
        frame = buffer(f)
        let all = HDLCEncoder(accm: 0xffff_ffff), zero = HDLCEncoder(accm: 0)
        let encodedAll = all.encode(f), encodedZero = zero.encode(f)
        encodedAllLength = encodedAll.count
        encodedZeroLength = encodedZero.count
        let fcs = fcs16(f)
        let withFCS = f + [UInt8(truncatingIfNeeded: fcs), UInt8(fcs >> 8)]
        escapedAll = escapes(withFCS, accm: 0xffff_ffff)
        escapedZero = escapes(withFCS, accm: 0)
        guard encodedAll.count == withFCS.count + escapedAll + 2, encodedZero.count == withFCS.count + escapedZero + 2 else {
            fatalError("fixture: encoded lengths \(encodedAll.count) / \(encodedZero.count) do not match the escapes counted")
        }

        var sAll: [UInt8] = [], sZero: [UInt8] = []
        var total = 0
        for k in 0..<Self.streamFrames {
            let g = pppIPv4Frame(length: Self.ipLength, seed: 0x2000 + UInt64(k), ipID: UInt16(k + 1))
            sAll += all.encode(g)
            sZero += zero.encode(g)
            total += g.count
        }
        streamAll = buffer(sAll)
        streamZero = buffer(sZero)
        streamFrameBytes = total
    }
}

/// Feeds `stream` to a fresh decoder once and checks that every frame came out intact.
private func checkDecodes(_ stream: UnsafeRawBufferPointer, frames: Int, bytes: Int) {
    var decoder = HDLCDecoder()
    var n = 0, b = 0
    decoder.feed(stream) { n += 1; b += $0.count }
    guard n == frames, b == bytes, decoder.counters.dropped == 0, decoder.pendingCount == 0 else {
        fatalError("fixture: decoded \(n) frames, \(b) bytes, counters \(decoder.counters)")
    }
}

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // Not .instructions: this VM has no hardware counters, and asking for them made the harness itself
        // allocate per sample (see DataplaneWireBenchmarks), which would read as the code's mallocs.
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    let fx = Fixtures()
    let frameLength = fx.frame.count

    // The harness's own cost per sample (clock reads, malloc counters), for reading the others against.
    Benchmark("Calibration: empty sample") { _ in }

    // 1. The FCS-16 (RFC 1662 §C.2, a table lookup per byte) over one frame: the encoder and the decoder each run
    // it over every byte, so it is the floor under both.
    Benchmark("fcs16 (\(frameLength) B/iter)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let f = fx.frame
        for _ in benchmark.scaledIterations {
            blackHole(fcs16(f))
        }
    }

    // 2. Encoding one frame, appended to a buffer that is emptied with its capacity kept before each frame (what a
    // data plane that reuses one output buffer does). ACCM 0xFFFFFFFF (the default, and what PPPCalls.deliver uses:
    // 0x00-0x1F, 7D and 7E escaped) and ACCM 0 (only 7D and 7E; what pppd asks for by default). The encoder first
    // appends the worst case (2 + 2 × (n + 2) zero bytes) and then trims it, so both do that memset as well.
    let accms: [(name: String, accm: UInt32, encoded: Int, escaped: Int)] = [
        ("0xFFFFFFFF", 0xffff_ffff, fx.encodedAllLength, fx.escapedAll),
        ("0", 0, fx.encodedZeroLength, fx.escapedZero),
    ]
    for a in accms {
        Benchmark("HDLCEncoder.encode ACCM \(a.name) (\(frameLength) B/iter -> \(a.encoded) B, \(a.escaped) escaped)",
                  configuration: .init(scalingFactor: .kilo)) { benchmark in
            let encoder = HDLCEncoder(accm: a.accm)
            let f = fx.frame
            var out: [UInt8] = []
            out.reserveCapacity(HDLCEncoder.maxEncodedLength(f.count))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                out.removeAll(keepingCapacity: true)
                encoder.encode(f, into: &out)
                blackHole(out.count)
            }
            benchmark.stopMeasurement()
            if out.count != a.encoded { fatalError("encode gave \(out.count) bytes, not \(a.encoded)") }
        }
    }

    // 3. The same as PPPCalls.deliver does it today: a new, empty [UInt8] for every frame (so the encoder's
    // worst-case append allocates it), ACCM 0xFFFFFFFF. The difference from (2) is that allocation's cost.
    Benchmark("HDLCEncoder.encode ACCM 0xFFFFFFFF, new [UInt8] per frame as in PPPCalls.deliver (\(frameLength) B/iter)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        let encoder = HDLCEncoder()
        let f = fx.frame
        for _ in benchmark.scaledIterations {
            var out: [UInt8] = []
            encoder.encode(f, into: &out)
            blackHole(out)
        }
    }

    // 4. Decoding a stream of 32 frames (FCS checked, unescaped into the decoder's buffer, each handed to the
    // closure), fed in one piece as one 64 KiB read of pppd's output would give it. The decoder is made before
    // startMeasurement() (its frame buffer is its one allocation) and then reused: one iteration is the whole
    // stream, so the decoder ends every iteration between frames.
    let streams: [(name: String, stream: UnsafeRawBufferPointer)] = [
        ("ACCM 0xFFFFFFFF", fx.streamAll),
        ("ACCM 0", fx.streamZero),
    ]
    for s in streams {
        Benchmark("HDLCDecoder.feed \(Fixtures.streamFrames) frames, \(s.name) (\(fx.streamFrameBytes) B/iter out of \(s.stream.count) B)") { benchmark in
            var decoder = HDLCDecoder()
            let stream = s.stream
            var frames = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                decoder.feed(stream) { frame in
                    frames &+= 1
                    blackHole(frame.count)
                }
            }
            benchmark.stopMeasurement()
            if frames != Fixtures.streamFrames * benchmark.scaledIterations.count || decoder.counters.dropped != 0 {
                fatalError("decoded \(frames) frames, counters \(decoder.counters)")
            }
        } setup: {
            checkDecodes(s.stream, frames: Fixtures.streamFrames, bytes: fx.streamFrameBytes)
        }
    }
}
