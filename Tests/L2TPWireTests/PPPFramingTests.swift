import Foundation
import L2TPWire
import TestSupport
import Testing

/// PPP in asynchronous HDLC-like framing (RFC 1662): the FCS, the encoder's escaping, and the streaming decoder
/// against a reference model of its rules on hostile streams cut at random places.
@Suite("PPP async HDLC framing")
struct PPPFramingTests {
    /// An LCP Configure-Request (RFC 1661 §5.1) as pppd sends it: FF 03 C0 21, code 1, id 1, length 20, options
    /// ACCM 0 (RFC 1662 §7.1), Magic-Number a1b2c3d4, PFC, ACFC.
    static let lcpConfigureRequest = unhex("ff03c021010100140206000000000506a1b2c3d407020802")
    /// It framed with the default ACCM; FCS 0x5347 (low byte first), worked out bit by bit with RFC 1662 §C.2's
    /// polynomial outside this code.
    static let lcpConfigureRequestFramed = unhex(
        "7eff7d23c0217d217d217d207d347d227d267d207d207d207d207d257d26a1b2c3d47d277d227d287d2247537e")

    /// An IPv4 frame (FF 03 00 21) whose data holds 7E, 7D, XON 11, XOFF 13 and bytes that look escaped.
    static let ipFrame = unhex("ff03002145007e7d1113205e")
    /// Its FCS is 0x2182 (sent 82 21).
    static let ipFramedDefault = unhex("7eff7d237d2021457d207d5e7d5d7d317d33205e82217e")
    static let ipFramedACCM0 = unhex("7eff03002145007d5e7d5d1113205e82217e")
    static let ipFramedXonXoff = unhex("7eff03002145007d5e7d5d7d317d33205e82217e")

    @Test("FCS-16: the CRC-16/X-25 check value, RFC 1662 §C.2's table, the good residue")
    func fcsVectors() {
        #expect(fcs16(Array("123456789".utf8)) == 0x906e)
        // update(0, [b]) is the table entry for b.
        let entries = [0, 1, 2, 3, 252, 253, 254, 255].map { FCS16.update(0, [UInt8($0)]) }
        #expect(entries == [0x0000, 0x1189, 0x2312, 0x329b, 0x3de3, 0x2c6a, 0x1ef1, 0x0f78])
        let lcp = Self.lcpConfigureRequest
        #expect(fcs16(lcp) == 0x5347)
        #expect(FCS16.update(FCS16.initial, lcp + [0x47, 0x53]) == FCS16.goodResidue)
        #expect(FCS16.update(FCS16.initial, lcp + [0x53, 0x47]) != FCS16.goodResidue)
        #expect(fcs16([]) == 0)
        // In pieces, the same as at once.
        let inPieces = FCS16.update(FCS16.update(FCS16.initial, Array(lcp[..<7])), Array(lcp[7...]))
        #expect(inPieces == FCS16.update(FCS16.initial, lcp))
        lcp.withUnsafeBytes { #expect(fcs16($0) == 0x5347) }
    }

    @Test("An LCP Configure-Request frames to the hand-checked bytes and decodes back")
    func lcpConfigureRequest() {
        #expect(hex(HDLCEncoder().encode(Self.lcpConfigureRequest)) == hex(Self.lcpConfigureRequestFramed))
        var d = HDLCDecoder()
        #expect(d.feed(Self.lcpConfigureRequestFramed) == [Self.lcpConfigureRequest])
        #expect(d.counters == counts(frames: 1))
    }

    @Test("A hand-written escaped frame, under ACCM all, 0 and XON/XOFF")
    func handWrittenEscapes() {
        for (accm, framed) in [(UInt32(0xffff_ffff), Self.ipFramedDefault), (0, Self.ipFramedACCM0),
                               (0x000a_0000, Self.ipFramedXonXoff)] {
            #expect(hex(HDLCEncoder(accm: accm).encode(Self.ipFrame)) == hex(framed), "accm \(accm)")
            var d = HDLCDecoder()
            #expect(d.feed(framed) == [Self.ipFrame], "accm \(accm)")
        }
        // 7D before any byte flips bit 5, escaped or not: 7D 5E, 7D 5D, 7D 31 and a needless 7D 41 (= 61).
        var d = HDLCDecoder()
        let frame = unhex("ff03c0217e7d1161")
        var framed: [UInt8] = [0x7e, 0xff, 0x03, 0xc0, 0x21, 0x7d, 0x5e, 0x7d, 0x5d, 0x7d, 0x31, 0x7d, 0x41]
        let fcs = fcs16(frame)
        framed += [UInt8(fcs & 0xff), UInt8(fcs >> 8), 0x7e]
        #expect(framed.count == 16 && !framed[1..<15].contains(0x7e))
        #expect(d.feed(framed) == [frame])
    }

    @Test("ACCM: each control character escaped exactly when its bit is set; 7E and 7D always; LCP codes 1-7 with all")
    func accm() {
        let everyByte = (0...255).map { UInt8($0) }
        for bit in 0..<32 {
            for accm in [UInt32(1) << UInt32(bit), ~(UInt32(1) << UInt32(bit))] {
                let frame = [0xff, 0x03, 0x00, 0x21] + everyByte
                let framed = HDLCEncoder(accm: accm).encode(frame)
                #expect(escapingIsValid(framed, accm: accm), "accm \(accm)")
                // The frame's part (the FCS's two bytes aside) escapes 7E, 7D and the flagged ones, no more.
                let flagged = frame.filter { $0 == 0x7e || $0 == 0x7d || ($0 < 0x20 && accm & (1 << UInt32($0)) != 0) }
                let frameEscapes = HDLCEncoder.escapes(framed) - HDLCEncoder.fcsEscapes(framed)
                #expect(frameEscapes == flagged.count, "accm \(accm)")
                var d = HDLCDecoder()
                #expect(d.feed(framed) == [frame])
            }
        }
        // LCP Configure-Request ... Code-Reject go out with every control character escaped whatever the ACCM;
        // Echo-Request (9) and other protocols follow it. With or without FF 03.
        var e = HDLCEncoder(accm: 0)
        #expect(e.encode(Self.lcpConfigureRequest) == Self.lcpConfigureRequestFramed)
        for code: UInt8 in 1...7 {
            #expect(e.encode([0xff, 0x03, 0xc0, 0x21, code, 1, 0, 4]).contains(0x7d))
            #expect(e.encode([0xc0, 0x21, code, 1, 0, 4]).contains(0x7d))
        }
        #expect(!e.encode([0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0]).prefix(13).contains(0x7d))
        #expect(!e.encode([0xff, 0x03, 0xc0, 0x23, 1, 1, 0, 4]).prefix(9).contains(0x7d))
        e.accm = 0xffff_ffff
        #expect(e.encode([0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0]).contains(0x7d))
    }

    @Test("encode(into:) appends, within maxEncodedLength; frames back to back decode")
    func appending() {
        var out: [UInt8] = [1, 2, 3]
        let e = HDLCEncoder()
        let worst = [UInt8](repeating: 0x7e, count: 100)
        worst.withUnsafeBytes { e.encode($0, into: &out) }
        #expect(Array(out[..<3]) == [1, 2, 3])
        #expect(out.count - 3 <= HDLCEncoder.maxEncodedLength(100) && out.count - 3 >= 2 + 200 + 2)
        Self.ipFrame.withUnsafeBytes { e.encode($0, into: &out) }
        var d = HDLCDecoder()
        #expect(d.feed(out) == [worst, Self.ipFrame])
        // The empty frame: 7E, FCS 00 00 (escaped), 7E — 2 bytes with the FCS, a runt to any receiver.
        #expect(e.encode([]) == [0x7e, 0x7d, 0x20, 0x7d, 0x20, 0x7e])
    }

    @Test("Round trip: random frames, ACCMs, idle flags and read boundaries")
    func roundTrip() {
        var rng = SeededRandom(seed: 0x1662)
        for _ in 0..<400 {
            let max = rng.choose([HDLCDecoder.defaultMaxFrameLength, 64, 4])
            let accm = rng.choose([0xffff_ffff, 0, 0x000a_0000, UInt32(truncatingIfNeeded: rng.next())])
            let e = HDLCEncoder(accm: accm)
            var frames: [[UInt8]] = []
            var stream: [UInt8] = rng.coin() ? [] : randomBytes(&rng, rng.upTo(10)).filter { $0 != 0x7e }
            for _ in 0..<1 + rng.upTo(12) {
                let f = randomFrame(&rng, length: 2 + rng.upTo(min(max, 300) - 2))
                frames.append(f)
                let framed = e.encode(f)
                #expect(escapingIsValid(framed, accm: HDLCEncoder.isLCPConfig(f) ? 0xffff_ffff : accm))
                stream += framed
                if rng.upTo(3) == 0 { stream += [UInt8](repeating: 0x7e, count: rng.upTo(3)) }
                // Back to back with one shared flag, as pppd does within its flag time.
                if rng.upTo(3) == 0 { stream.removeLast() }
            }
            if stream.last != 0x7e { stream.append(0x7e) }
            var d = HDLCDecoder(maxFrameLength: max)
            let got = feedInPieces(&d, stream, &rng)
            #expect(got == frames)
            #expect(d.counters == counts(frames: UInt64(frames.count)))
            #expect(d.pendingCount == 0)
        }
    }

    @Test("Each reason counted, and the next frame still delivered")
    func dropReasons() {
        let good = HDLCEncoder().encode(Self.ipFrame)
        let lcp = Self.lcpConfigureRequestFramed
        var badFCS = lcp
        badFCS[10] ^= 0x01
        let cases: [(String, [UInt8], HDLCDecoder.Counters)] = [
            ("abort", Array(lcp.dropLast(5)) + [0x7d, 0x7e], counts(aborted: 1)),
            ("abort right after the flag", [0x7e, 0x7d, 0x7e], counts(aborted: 1)),
            ("runt 1", [0x7e, 0x01, 0x7e], counts(tooShort: 1)),
            ("runt 3", [0x7e, 0xff, 0x03, 0xc0, 0x7e], counts(tooShort: 1)),
            ("runt escaped", [0x7e, 0x7d, 0x5e, 0x7d, 0x5d, 0x7e], counts(tooShort: 1)),
            ("bad FCS", badFCS, counts(badFCS: 1)),
            ("FCS bytes swapped", Array(lcp.dropLast(3)) + [0x53, 0x47, 0x7e], counts(badFCS: 1)),
            ("4 bytes, wrong FCS", [0x7e, 1, 2, 3, 4, 0x7e], counts(badFCS: 1)),
            ("too long", [0x7e] + [UInt8](repeating: 0x41, count: 3011) + [0x7e], counts(tooLong: 1)),
            ("too long, then an abort", [0x7e] + [UInt8](repeating: 0x41, count: 4000) + [0x7d, 0x7e], counts(tooLong: 1)),
            ("flags only", [0x7e, 0x7e, 0x7e], counts()),
        ]
        for (name, bytes, expected) in cases {
            var d = HDLCDecoder()
            // The first good frame opens the stream (and syncs the decoder); the case follows, then another.
            var got = d.feed(good)
            got += d.feed(bytes)
            got += d.feed(good)
            #expect(got == [Self.ipFrame, Self.ipFrame], "\(name)")
            var plusTwo = expected
            plusTwo.frames += 2
            #expect(d.counters == plusTwo, "\(name)")
            #expect(d.counters.dropped == expected.dropped, "\(name)")
        }
        // Before the first flag nothing is a frame, not even a would-be abort.
        var d = HDLCDecoder()
        #expect(d.feed([0x01, 0x02, 0x7d] + good) == [Self.ipFrame])
        #expect(d.counters == counts(frames: 1))
    }

    @Test("maxFrameLength: exactly the limit passes, one more is too long; clamped to 0...65535")
    func maxFrameLength() {
        for max in [4, 100, HDLCDecoder.defaultMaxFrameLength, 65535] {
            var d = HDLCDecoder(maxFrameLength: max)
            let fits = randomFrame(length: max), over = randomFrame(length: max + 1)
            let got = d.feed(HDLCEncoder().encode(fits) + HDLCEncoder().encode(over) + HDLCEncoder().encode(fits))
            #expect(got == [fits, fits], "\(max)")
            #expect(d.counters == counts(frames: 2, tooLong: 1), "\(max)")
        }
        #expect(HDLCDecoder(maxFrameLength: -5).maxFrameLength == 0)
        #expect(HDLCDecoder(maxFrameLength: 1 << 40).maxFrameLength == 65535)
        var zero = HDLCDecoder(maxFrameLength: 0)
        #expect(zero.feed(Self.lcpConfigureRequestFramed + Self.ipFramedDefault).isEmpty)
        #expect(zero.counters == counts(tooLong: 2))
    }

    @Test("reset forgets a partial frame and waits for the next flag")
    func reset() {
        var d = HDLCDecoder()
        let framed = Self.lcpConfigureRequestFramed
        #expect(d.feed(Array(framed[..<10])).isEmpty)
        #expect(d.pendingCount > 0)
        d.reset()
        #expect(d.pendingCount == 0)
        // The rest of that frame is skipped up to its closing flag, which opens the next.
        #expect(d.feed(Array(framed[10...]) + Array(framed.dropFirst())) == [Self.lcpConfigureRequest])
        #expect(d.counters == counts(frames: 1))
    }

    @Test("Hostile streams in random pieces: exactly what the reference model of RFC 1662 §3-4 says, no trap")
    func hostileStreams() {
        var rng = SeededRandom(seed: 0x7e7d_2020)
        var total = counts()
        for round in 0..<6000 {
            let max = rng.choose([HDLCDecoder.defaultMaxFrameLength, 40, 8, 3, 0])
            let stream = hostileStream(&rng, round: round)
            var d = HDLCDecoder(maxFrameLength: max)
            let got = feedInPieces(&d, stream, &rng)
            let (frames, expected) = referenceDecode(stream, maxFrameLength: d.maxFrameLength)
            #expect(got == frames, "round \(round): \(hex(stream))")
            #expect(d.counters == expected, "round \(round): \(hex(stream))")
            for f in got {
                #expect(f.count >= 2 && f.count <= d.maxFrameLength)
                var again = HDLCDecoder(maxFrameLength: max)
                #expect(again.feed(HDLCEncoder(accm: 0).encode(f)) == [f])
            }
            total.frames += d.counters.frames; total.badFCS += d.counters.badFCS; total.tooShort += d.counters.tooShort
            total.tooLong += d.counters.tooLong; total.aborted += d.counters.aborted
        }
        // Not vacuous: every outcome reached, many times.
        #expect(total.frames > 1000 && total.badFCS > 1000 && total.tooShort > 1000 && total.tooLong > 1000
                && total.aborted > 1000, "\(total)")
    }

    @Test("Address and Control: added when compressed away, stripped when present")
    func addressControl() {
        let ip = unhex("0021450000")
        #expect(PPPFrame.withAddressControl(ip) == [0xff, 0x03] + ip)
        #expect(PPPFrame.withAddressControl([0xff, 0x03] + ip) == [0xff, 0x03] + ip)
        #expect(PPPFrame.withAddressControl([0xff]) == [0xff, 0x03, 0xff])
        #expect(PPPFrame.withAddressControl([]) == [0xff, 0x03])
        #expect(Array(PPPFrame.strippingAddressControl([0xff, 0x03] + ip)) == ip)
        #expect(Array(PPPFrame.strippingAddressControl(ip)) == ip)
        #expect(Array(PPPFrame.strippingAddressControl([0xff, 0x03])) == [])
        #expect(Array(PPPFrame.strippingAddressControl([0xff, 0x05, 1])) == [0xff, 0x05, 1])
        ([0xff, 0x03] + ip).withUnsafeBytes { b in
            #expect(PPPFrame.hasAddressControl(b))
            #expect(Array(PPPFrame.strippingAddressControl(b)) == ip)
            #expect(PPPFrame.withAddressControl(b) == [0xff, 0x03] + ip)
        }
        ip.withUnsafeBytes { b in
            #expect(!PPPFrame.hasAddressControl(b))
            #expect(Array(PPPFrame.strippingAddressControl(b)) == ip)
            #expect(PPPFrame.withAddressControl(b) == [0xff, 0x03] + ip)
        }
    }

    // MARK: - The fuzz corpus

    static let corpusDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus/ppphdlc").standardizedFileURL

    /// The seeds of the `ppphdlc` fuzz target (Fuzz/ppphdlc.swift): its mode byte (bits 0-1 the decoder's limit:
    /// default, 256, 16, 4; bits 2-3 the re-encoding ACCM; all of it seeds the read boundaries), then the stream.
    /// (file name, mode, stream, frames the default-limit decoder delivers).
    static func seeds() -> [(String, UInt8, [UInt8], Int)] {
        let e = HDLCEncoder(), e0 = HDLCEncoder(accm: 0)
        let echo = unhex("ff03c02109020008a1b2c3d4")
        var seeds: [(String, UInt8, [UInt8], Int)] = [
            ("lcp-confreq", 0x10, lcpConfigureRequestFramed, 1),
            ("ip-escapes", 0x20, ipFramedDefault + Array(ipFramedACCM0.dropFirst()) + ipFramedXonXoff, 3),
            ("echo-accm0-shared-flags", 0x34, Array(e0.encode(echo).dropLast()) + e0.encode(echo) + [0x7e, 0x7e], 2),
            ("acfc-pfc", 0x48, e.encode(unhex("21450000140000")) + e.encode(unhex("c02105010004")), 2),
            ("drops", 0x51, [0x01, 0x02] + Array(lcpConfigureRequestFramed.dropLast(5)) + [0x7d, 0x7e, 1, 2, 0x7e]
                + Array(ipFramedDefault.dropLast(2)) + [0x7e] + ipFramedDefault, 1),
            ("too-long-16", 0x62, e.encode([UInt8](repeating: 0x7e, count: 17)) + e.encode(Array(repeating: 0x11, count: 16)), 2),
        ]
        seeds.append(("garbage", 0x73, Array(randomBytes(seed: 0x9a9b, 200)), 0))
        return seeds
    }

    @Test("Fuzz/corpus/ppphdlc holds every seed, byte for byte; each delivers its frames")
    func corpus() throws {
        let write = ProcessInfo.processInfo.environment["ISTHMUS_WRITE_PPPHDLC_SEEDS"] != nil
        if write { try FileManager.default.createDirectory(at: Self.corpusDirectory, withIntermediateDirectories: true) }
        for (name, mode, stream, frames) in Self.seeds() {
            let url = Self.corpusDirectory.appendingPathComponent(name)
            if write { try Data([mode] + stream).write(to: url) }
            let stored = (try? Data(contentsOf: url)).map { [UInt8]($0) }
            #expect(stored == [mode] + stream, "\(name): stale or missing; rerun with ISTHMUS_WRITE_PPPHDLC_SEEDS=1")
            var d = HDLCDecoder()
            #expect(d.feed(stream).count == frames, "\(name)")
        }
    }
}

// MARK: - Helpers

func counts(frames: UInt64 = 0, badFCS: UInt64 = 0, tooShort: UInt64 = 0, tooLong: UInt64 = 0,
            aborted: UInt64 = 0) -> HDLCDecoder.Counters {
    var c = HDLCDecoder.Counters()
    c.frames = frames; c.badFCS = badFCS; c.tooShort = tooShort; c.tooLong = tooLong; c.aborted = aborted
    return c
}

/// Bytes where the framing's special values are common.
private let interesting: [UInt8] = [0x7e, 0x7d, 0x5e, 0x5d, 0x00, 0x11, 0x13, 0x1f, 0x20, 0xff, 0x03]

private func randomBytes(_ rng: inout SeededRandom, _ n: Int) -> [UInt8] {
    (0..<n).map { _ in rng.upTo(3) == 0 ? rng.choose(interesting) : UInt8(truncatingIfNeeded: rng.next()) }
}

private func randomBytes(seed: UInt64, _ n: Int) -> [UInt8] {
    var rng = SeededRandom(seed: seed)
    return randomBytes(&rng, n)
}

/// A frame of `length` bytes, FF 03 in front most of the time.
private func randomFrame(_ rng: inout SeededRandom, length: Int) -> [UInt8] {
    var f = randomBytes(&rng, length)
    if length >= 2 && rng.upTo(3) > 0 { f[0] = 0xff; f[1] = 0x03 }
    return f
}

private func randomFrame(length: Int) -> [UInt8] {
    var rng = SeededRandom(seed: UInt64(length))
    return randomFrame(&rng, length: length)
}

/// Feeds `stream` in pieces of random sizes (empty ones included), through both feed methods.
private func feedInPieces(_ d: inout HDLCDecoder, _ stream: [UInt8], _ rng: inout SeededRandom) -> [[UInt8]] {
    var got: [[UInt8]] = []
    var i = 0
    while i < stream.count {
        let n = min(stream.count - i, rng.choose([0, 1, 1, 2, 3, 7, 64, 1000, rng.upTo(stream.count)]))
        let piece = Array(stream[i..<i + n])
        if rng.coin() {
            got += d.feed(piece)
        } else {
            piece.withUnsafeBytes { d.feed($0) { got.append(Array($0)) } }
        }
        i += n
    }
    return got
}

/// A stream of good, damaged and random pieces, with and without flags between them.
private func hostileStream(_ rng: inout SeededRandom, round: Int) -> [UInt8] {
    if round % 10 == 0 { return randomBytes(&rng, rng.upTo(300)) }
    if round % 10 == 1 { return (0..<rng.upTo(100)).map { _ in rng.choose([0x7e, 0x7d, 0x7d, 0x5e, 0x01, 0x00]) } }
    var s: [UInt8] = []
    for _ in 0..<rng.upTo(8) {
        var framed = HDLCEncoder(accm: rng.coin() ? 0 : 0xffff_ffff).encode(randomFrame(&rng, length: rng.upTo(50)))
        switch rng.upTo(9) {
        case 0: framed[rng.upTo(framed.count - 1)] ^= UInt8(1 << rng.upTo(7))   // any bit, flags included
        case 1: framed.removeSubrange(rng.upTo(framed.count - 1)..<framed.count)  // cut short
        case 2: framed.insert(0x7d, at: 1 + rng.upTo(framed.count - 2))          // a stray escape
        case 3: framed.insert(0x7d, at: framed.count - 1)                        // an abort
        case 4: framed = randomBytes(&rng, rng.upTo(20))
        case 5: framed.removeFirst()                                              // shared flag
        default: break
        }
        s += framed
    }
    return s
}

/// RFC 1662's rules written plainly: the stream cut at every 7E; what precedes the first flag and follows the
/// last is no frame (the latter unfinished, but counted too long once it is); each piece between two flags is
/// unescaped, and is too long (more than the limit plus the FCS), an abort (ends in a lone 7D), idle (empty), a
/// runt (under 4 bytes), a bad FCS or a frame, in that order.
private func referenceDecode(_ stream: [UInt8], maxFrameLength: Int) -> ([[UInt8]], HDLCDecoder.Counters) {
    var pieces = stream.split(separator: 0x7e, omittingEmptySubsequences: false).map(Array.init)
    var frames: [[UInt8]] = []
    var c = HDLCDecoder.Counters()
    guard pieces.count >= 2 else { return ([], c) }
    pieces.removeFirst()
    let last = pieces.removeLast()
    func unescape(_ p: [UInt8]) -> (bytes: [UInt8], lone: Bool) {
        var out: [UInt8] = [], escaped = false
        for b in p {
            if escaped { out.append(b ^ 0x20); escaped = false } else if b == 0x7d { escaped = true } else { out.append(b) }
        }
        return (out, escaped)
    }
    for p in pieces {
        let (bytes, lone) = unescape(p)
        if bytes.count > maxFrameLength + 2 { c.tooLong += 1 }
        else if lone { c.aborted += 1 }
        else if bytes.isEmpty {}
        else if bytes.count < 4 { c.tooShort += 1 }
        else if !referenceFCSIsGood(bytes) { c.badFCS += 1 }
        else { c.frames += 1; frames.append(Array(bytes.dropLast(2))) }
    }
    if unescape(last).bytes.count > maxFrameLength + 2 { c.tooLong += 1 }
    return (frames, c)
}

/// The FCS bit by bit (RFC 1662 §C.2's polynomial, no table), checked against the good residue.
private func referenceFCSIsGood(_ bytes: [UInt8]) -> Bool {
    var f: UInt16 = 0xffff
    for b in bytes {
        f ^= UInt16(b)
        for _ in 0..<8 { f = f & 1 != 0 ? (f >> 1) ^ 0x8408 : f >> 1 }
    }
    return f == 0xf0b8
}

/// Whether `framed` is one frame whose escapes follow RFC 1662 §4.2 and `accm`: flags only at the ends, and each
/// byte escaped exactly when it is 7E, 7D or a control character the ACCM flags.
private func escapingIsValid(_ framed: [UInt8], accm: UInt32) -> Bool {
    guard framed.count >= 2, framed.first == 0x7e, framed.last == 0x7e else { return false }
    func mustEscape(_ b: UInt8) -> Bool { b == 0x7e || b == 0x7d || (b < 0x20 && accm & (1 << UInt32(b)) != 0) }
    var i = 1
    while i < framed.count - 1 {
        let b = framed[i]
        if b == 0x7e { return false }
        if b == 0x7d {
            guard i + 1 < framed.count - 1, mustEscape(framed[i + 1] ^ 0x20) else { return false }
            i += 2
        } else {
            if mustEscape(b) { return false }
            i += 1
        }
    }
    return true
}

extension HDLCEncoder {
    /// 7D bytes in a framed frame.
    static func escapes(_ framed: [UInt8]) -> Int { framed.filter { $0 == 0x7d }.count }

    /// How many of those belong to the FCS: the last two bytes before the closing flag, each escaped or not.
    static func fcsEscapes(_ framed: [UInt8]) -> Int {
        var n = 0, i = framed.count - 2
        for _ in 0..<2 {
            if i >= 1 && framed[i - 1] == 0x7d { n += 1; i -= 2 } else { i -= 1 }
        }
        return n
    }

    /// An LCP packet sent with every control character escaped whatever the ACCM (codes 1-7).
    static func isLCPConfig(_ f: [UInt8]) -> Bool {
        let p = PPPFrame.hasAddressControl(f) ? 2 : 0
        return f.count >= p + 3 && f[p] == 0xc0 && f[p + 1] == 0x21 && (1...7).contains(f[p + 2])
    }
}
