// PPP in HDLC-like framing, asynchronous (RFC 1662): what pppd reads and writes on a tty or pty. A userspace L2TP
// data plane sits between that byte stream and L2TP data messages, which carry each PPP frame without flags,
// escapes and FCS but with the Address and Control fields FF 03 (RFC 2661 §2; Linux's pppol2tp adds them on
// transmit and strips them when present on receive).
//
//     7E | FF 03 | protocol | information | FCS low, high | 7E
//
// with each 7E, 7D and ACCM-flagged byte below 0x20 between the flags sent as 7D, byte ^ 0x20.
//
// No Foundation, no allocation per frame on the decoding side, nothing here traps on what the peer sends.

/// The 16-bit frame check sequence of RFC 1662 §C.2 (CRC-CCITT, reflected: polynomial 0x8408, initial value
/// 0xFFFF). A sender appends the ones' complement of the running value, least significant byte first; a receiver
/// running it over the data and that FCS gets `goodResidue`.
public enum FCS16 {
    /// The running value before the first byte (PPPINITFCS16).
    public static let initial: UInt16 = 0xffff
    /// The running value over data and its FCS when the frame is intact (PPPGOODFCS16).
    public static let goodResidue: UInt16 = 0xf0b8

    /// The byte-at-a-time table of RFC 1662 §C.2, computed once.
    static let table: [UInt16] = (0..<256).map { i in
        var v = UInt16(i)
        for _ in 0..<8 { v = v & 1 != 0 ? (v >> 1) ^ 0x8408 : v >> 1 }
        return v
    }

    /// `fcs` advanced over `bytes`.
    public static func update(_ fcs: UInt16, _ bytes: UnsafeRawBufferPointer) -> UInt16 {
        table.withUnsafeBufferPointer { t in
            var f = fcs
            for b in bytes { f = (f >> 8) ^ t[Int(UInt8(truncatingIfNeeded: f) ^ b)] }
            return f
        }
    }

    /// `fcs` advanced over `bytes`.
    public static func update(_ fcs: UInt16, _ bytes: [UInt8]) -> UInt16 {
        bytes.withUnsafeBytes { update(fcs, $0) }
    }
}

/// The FCS a sender appends to `bytes` (the complemented running value; on the wire low byte first).
public func fcs16(_ bytes: UnsafeRawBufferPointer) -> UInt16 { ~FCS16.update(FCS16.initial, bytes) }

/// The FCS a sender appends to `bytes` (the complemented running value; on the wire low byte first).
public func fcs16(_ bytes: [UInt8]) -> UInt16 { ~FCS16.update(FCS16.initial, bytes) }

/// The Address and Control fields of a PPP frame, FF 03 (RFC 1662 §3.1), which a peer may leave out once it has
/// negotiated Address-and-Control-Field-Compression (RFC 1661 §6.6).
public enum PPPFrame {
    /// The All-Stations address and the Unnumbered Information control byte.
    public static let addressControl: [UInt8] = [0xff, 0x03]

    /// Whether `frame` starts with FF 03 — the receiver's test of RFC 1661 §6.6: anything else means the fields
    /// were compressed away.
    public static func hasAddressControl(_ frame: UnsafeRawBufferPointer) -> Bool {
        frame.count >= 2 && frame[0] == 0xff && frame[1] == 0x03
    }

    /// Whether `frame` starts with FF 03.
    public static func hasAddressControl(_ frame: [UInt8]) -> Bool {
        frame.count >= 2 && frame[0] == 0xff && frame[1] == 0x03
    }

    /// `frame` with FF 03 in front unless it already starts so (the form L2TP carries, and one every pppd
    /// accepts on its tty).
    public static func withAddressControl(_ frame: UnsafeRawBufferPointer) -> [UInt8] {
        if hasAddressControl(frame) { return Array(frame) }
        var out: [UInt8] = []
        out.reserveCapacity(frame.count + 2)
        out += addressControl
        out += frame
        return out
    }

    /// `frame` with FF 03 in front unless it already starts so.
    public static func withAddressControl(_ frame: [UInt8]) -> [UInt8] {
        hasAddressControl(frame) ? frame : addressControl + frame
    }

    /// `frame` without a leading FF 03 (unchanged when it has none).
    public static func strippingAddressControl(_ frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        hasAddressControl(frame) ? UnsafeRawBufferPointer(rebasing: frame[2...]) : frame
    }

    /// `frame` without a leading FF 03 (unchanged when it has none).
    public static func strippingAddressControl(_ frame: [UInt8]) -> ArraySlice<UInt8> {
        hasAddressControl(frame) ? frame[2...] : frame[...]
    }
}

/// RFC 1662's octet values.
enum HDLC {
    /// Flag Sequence: starts and ends every frame.
    static let flag: UInt8 = 0x7e
    /// Control Escape: the next byte was XORed with 0x20.
    static let escape: UInt8 = 0x7d
    /// What an escaped byte was XORed with.
    static let flip: UInt8 = 0x20
}

/// Writes PPP frames in asynchronous HDLC-like framing (RFC 1662 §4): an opening flag, the frame and its FCS
/// with 7E, 7D and every control character the ACCM flags sent as 7D, byte ^ 0x20 (§4.2), and a closing flag.
/// The frame goes out as given, with or without FF 03.
public struct HDLCEncoder: Hashable, Sendable {
    /// The Async-Control-Character-Map the peer asked for (RFC 1662 §7.1): bit n set means byte n (0x00–0x1F) is
    /// escaped. The default escapes them all, which every receiver accepts.
    public var accm: UInt32

    /// An encoder escaping the control characters `accm` flags.
    public init(accm: UInt32 = 0xffff_ffff) { self.accm = accm }

    /// The most bytes `encode` appends for a frame of `frameLength` bytes: flags, and every byte of frame and FCS
    /// escaped.
    public static func maxEncodedLength(_ frameLength: Int) -> Int { 2 + 2 * (max(frameLength, 0) + 2) }

    /// Appends `frame`, framed, to `out`. LCP packets with codes 1–7 (Configure-Request to Code-Reject) use the
    /// default ACCM whatever `accm` says: RFC 1661 §5 sends them as if no option had been negotiated.
    public func encode(_ frame: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let map = Self.isLinkConfiguration(frame) ? 0xffff_ffff : accm
        let start = out.count
        let reserved = Self.maxEncodedLength(frame.count)
        out.append(contentsOf: repeatElement(0, count: reserved))
        let written = FCS16.table.withUnsafeBufferPointer { table in
            out.withUnsafeMutableBufferPointer { buffer -> Int in
                var i = start
                @inline(__always) func put(_ b: UInt8) {
                    if b == HDLC.flag || b == HDLC.escape || (b < 0x20 && map & (1 << UInt32(b)) != 0) {
                        buffer[i] = HDLC.escape
                        buffer[i + 1] = b ^ HDLC.flip
                        i += 2
                    } else {
                        buffer[i] = b
                        i += 1
                    }
                }
                buffer[i] = HDLC.flag
                i += 1
                var fcs = FCS16.initial
                for b in frame {
                    put(b)
                    fcs = (fcs >> 8) ^ table[Int(UInt8(truncatingIfNeeded: fcs) ^ b)]
                }
                fcs = ~fcs
                put(UInt8(truncatingIfNeeded: fcs))
                put(UInt8(fcs >> 8))
                buffer[i] = HDLC.flag
                return i + 1 - start
            }
        }
        out.removeLast(reserved - written)
    }

    /// `frame`, framed.
    public func encode(_ frame: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.maxEncodedLength(frame.count))
        frame.withUnsafeBytes { encode($0, into: &out) }
        return out
    }

    /// Whether `frame` (FF 03 optional) is an LCP packet (protocol C0 21, never compressed for LCP) with code 1–7.
    static func isLinkConfiguration(_ frame: UnsafeRawBufferPointer) -> Bool {
        let p = PPPFrame.hasAddressControl(frame) ? 2 : 0
        return frame.count >= p + 3 && frame[p] == 0xc0 && frame[p + 1] == 0x21 && (1...7).contains(frame[p + 2])
    }
}

/// Reads PPP frames out of an asynchronous HDLC-like byte stream (RFC 1662 §4), as it arrives in pieces.
///
/// Bytes before the first flag are skipped (a frame's start is unknown until then); flags back to back are idle
/// fill. Every byte other than 7E and 7D is taken as data, including unescaped control characters (a pty has no
/// equipment that inserts any, and a peer that negotiated ACCM 0 sends them bare). Frames that are not delivered
/// are counted in `counters`: an abort (7D 7E), fewer than 4 bytes with the FCS (§3), more than
/// `maxFrameLength` bytes before the FCS (counted when the limit is passed; the rest up to the next flag is
/// skipped), and a bad FCS.
public struct HDLCDecoder: Sendable {
    /// Frames delivered and frames dropped, by reason.
    public struct Counters: Hashable, Sendable {
        /// Good frames delivered.
        public var frames: UInt64 = 0
        /// Frames whose FCS did not check.
        public var badFCS: UInt64 = 0
        /// Frames of 1–3 bytes with the FCS (RFC 1662 §3: silently discarded, not an FCS error).
        public var tooShort: UInt64 = 0
        /// Frames longer than `maxFrameLength` before the FCS.
        public var tooLong: UInt64 = 0
        /// Frames ended by 7D 7E, the abort sequence (RFC 1662 §4.2, §3).
        public var aborted: UInt64 = 0

        /// Zero counts.
        public init() {}

        /// All frames dropped.
        public var dropped: UInt64 { badFCS &+ tooShort &+ tooLong &+ aborted }
    }

    /// 1500 bytes (the default MRU, RFC 1661 §6.1), FF 03 and a 2-byte protocol, and as much again as margin for
    /// peers that overshoot.
    public static let defaultMaxFrameLength = 3008
    /// The largest `maxFrameLength` honoured: an L2TP data message has no room for more.
    public static let maxFrameLengthCap = 65535

    /// The longest frame delivered, without the FCS, with FF 03 if sent.
    public let maxFrameLength: Int
    /// What was delivered and dropped so far.
    public private(set) var counters = Counters()

    /// The bytes of the current frame, unescaped, FCS included; `maxFrameLength + 2` long.
    private var buffer: [UInt8]
    /// How many of `buffer` hold the current frame.
    private var count = 0
    /// The FCS running over them.
    private var fcs = FCS16.initial
    /// The last byte was 7D.
    private var escaped = false
    /// Skipping to the next flag: before the first, and after a frame outgrew the limit.
    private var hunting = true

    /// A decoder delivering frames of up to `maxFrameLength` bytes (clamped to 0...65535).
    public init(maxFrameLength: Int = HDLCDecoder.defaultMaxFrameLength) {
        self.maxFrameLength = min(max(maxFrameLength, 0), Self.maxFrameLengthCap)
        buffer = [UInt8](repeating: 0, count: self.maxFrameLength + 2)
    }

    /// Bytes of a frame begun and not yet ended (0 between frames and while skipping to a flag).
    public var pendingCount: Int { hunting ? 0 : count }

    /// Forgets a partial frame (uncounted) and skips to the next flag, as after reopening the tty.
    public mutating func reset() {
        count = 0; fcs = FCS16.initial; escaped = false; hunting = true
    }

    /// Takes the next bytes of the stream and calls `frame` with each good frame they complete, FCS removed. The
    /// buffer handed over is valid only during the call.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ frame: (UnsafeRawBufferPointer) -> Void) {
        if bytes.isEmpty { return }
        // Everything in locals, the buffer moved out of self: the loop touches no stored property.
        var buffer = self.buffer
        self.buffer = []
        var count = self.count, fcs = self.fcs, escaped = self.escaped, hunting = self.hunting
        var c = counters
        let limit = maxFrameLength + 2
        FCS16.table.withUnsafeBufferPointer { table in
            buffer.withUnsafeMutableBufferPointer { out in
                for byte in bytes {
                    if byte == HDLC.flag {
                        if hunting {
                            hunting = false
                        } else if escaped {
                            c.aborted &+= 1
                        } else if count == 0 {
                            // Idle fill, or the opening flag after a closing one.
                        } else if count < 4 {
                            c.tooShort &+= 1
                        } else if fcs != FCS16.goodResidue {
                            c.badFCS &+= 1
                        } else {
                            c.frames &+= 1
                            frame(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: out[0..<count - 2])))
                        }
                        count = 0; fcs = FCS16.initial; escaped = false
                        continue
                    }
                    if hunting { continue }
                    var b = byte
                    if escaped {
                        b ^= HDLC.flip
                        escaped = false
                    } else if b == HDLC.escape {
                        escaped = true
                        continue
                    }
                    if count == limit {
                        c.tooLong &+= 1
                        hunting = true
                        count = 0; fcs = FCS16.initial
                        continue
                    }
                    out[count] = b
                    count += 1
                    fcs = (fcs >> 8) ^ table[Int(UInt8(truncatingIfNeeded: fcs) ^ b)]
                }
            }
        }
        self.buffer = buffer
        self.count = count; self.fcs = fcs; self.escaped = escaped; self.hunting = hunting
        counters = c
    }

    /// Takes the next bytes of the stream and returns the good frames they complete, FCS removed.
    public mutating func feed(_ bytes: [UInt8]) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        bytes.withUnsafeBytes { feed($0) { frames.append(Array($0)) } }
        return frames
    }
}
