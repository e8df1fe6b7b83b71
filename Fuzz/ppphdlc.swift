// libFuzzer target for L2TPWire's PPP async HDLC framing (Sources/L2TPWire/PPPFraming.swift, RFC 1662). Built by
// Tools/fuzz/run together with Sources/L2TPWire (not through SwiftPM), with -sanitize=fuzzer,address.
//
// Input: byte 0 is the mode — bits 0-1 pick the decoder's maxFrameLength (the default, 256, 16, 4), bits 2-3 the
// ACCM frames are re-encoded with (all, 0, XON/XOFF, 0xA5A5A5A5); the whole byte seeds the generator that cuts the
// rest, the byte stream pppd would write, into reads of 0 to 80 bytes.
//
// Checked (trap via `require`, a precondition that prints its message): the stream fed in those pieces delivers
// the same frames and counts as fed at once; as many frames as counted, each 2 to maxFrameLength bytes; each
// frame re-encodes to one well-formed frame (7E only at its ends; 7E, 7D and the ACCM's control characters — all
// of them for LCP codes 1-7 — escaped, nothing else), within maxEncodedLength, and that decodes, in one piece
// and byte by byte, to exactly the frame with nothing dropped.
// Seeds: Fuzz/corpus/ppphdlc, written by Tests/L2TPWireTests/PPPFramingTests.swift (ISTHMUS_WRITE_PPPHDLC_SEEDS=1).

let limits = [HDLCDecoder.defaultMaxFrameLength, 256, 16, 4]
let accms: [UInt32] = [0xffff_ffff, 0, 0x000a_0000, 0xa5a5_a5a5]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let mode = data[0]
    let limit = limits[Int(mode & 3)]
    let encoder = HDLCEncoder(accm: accms[Int(mode >> 2 & 3)])
    let stream = UnsafeRawBufferPointer(start: data + 1, count: size - 1)

    // In pieces.
    var pieces = HDLCDecoder(maxFrameLength: limit)
    var frames: [[UInt8]] = []
    var rng = UInt64(mode) &+ 0x9e37_79b9_7f4a_7c15
    var i = 0
    while i < stream.count {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
        let n = min(Int(rng % 81), stream.count - i)
        pieces.feed(UnsafeRawBufferPointer(rebasing: stream[i..<i + n])) { frames.append(Array($0)) }
        i += n
        require(pieces.pendingCount <= limit + 2, "a partial frame past the limit")
    }
    // At once.
    var whole = HDLCDecoder(maxFrameLength: limit)
    var wholeFrames: [[UInt8]] = []
    whole.feed(stream) { wholeFrames.append(Array($0)) }
    require(frames == wholeFrames, "read boundaries changed the frames")
    require(pieces.counters == whole.counters, "read boundaries changed the counts")
    require(pieces.counters.frames == UInt64(frames.count), "frames delivered and counted differ")

    for f in frames {
        require(f.count >= 2 && f.count <= limit, "a frame of \(f.count) bytes, limit \(limit)")
        var framed: [UInt8] = [0xaa]
        f.withUnsafeBytes { encoder.encode($0, into: &framed) }
        require(framed.first == 0xaa, "encode(into:) overwrote what was there")
        framed.removeFirst()
        require(framed.count <= HDLCEncoder.maxEncodedLength(f.count), "longer than maxEncodedLength")
        require(framed == encoder.encode(f), "the two encode methods differ")
        require(wellFormed(framed, accm: isLinkConfiguration(f) ? 0xffff_ffff : encoder.accm), "badly escaped")
        var again = HDLCDecoder(maxFrameLength: limit)
        require(again.feed(framed) == [f], "re-encoded frame decodes differently")
        var byByte = HDLCDecoder(maxFrameLength: limit)
        var byByteFrames: [[UInt8]] = []
        for b in framed { byByteFrames += byByte.feed([b]) }
        require(byByteFrames == [f], "re-encoded frame decodes differently byte by byte")
        var one = HDLCDecoder.Counters()
        one.frames = 1
        require(again.counters == one && byByte.counters == one, "re-encoded frame counted as dropped")
    }
    return 0
}

/// One frame, 7E only at its ends, each byte escaped exactly when it is 7E, 7D or a control character `accm` flags.
func wellFormed(_ framed: [UInt8], accm: UInt32) -> Bool {
    guard framed.count >= 4, framed.first == 0x7e, framed.last == 0x7e else { return false }
    func mustEscape(_ b: UInt8) -> Bool { b == 0x7e || b == 0x7d || (b < 0x20 && accm & (1 << UInt32(b)) != 0) }
    var i = 1
    while i < framed.count - 1 {
        if framed[i] == 0x7e { return false }
        if framed[i] == 0x7d {
            guard i + 2 < framed.count, mustEscape(framed[i + 1] ^ 0x20) else { return false }
            i += 2
        } else {
            if mustEscape(framed[i]) { return false }
            i += 1
        }
    }
    return true
}

/// LCP (C0 21, FF 03 optional) with code 1-7: sent with the default ACCM.
func isLinkConfiguration(_ f: [UInt8]) -> Bool {
    let p = f.count >= 2 && f[0] == 0xff && f[1] == 0x03 ? 2 : 0
    return f.count >= p + 3 && f[p] == 0xc0 && f[p + 1] == 0x21 && (1...7).contains(f[p + 2])
}

/// precondition, but with its message printed in -O builds too.
@inline(__always) func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
