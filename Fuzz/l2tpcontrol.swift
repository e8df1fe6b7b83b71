// libFuzzer target for the L2TP control-connection state machine (L2TPProtocol's ControlConnection and its
// ReliableDelivery). Built by Tools/fuzz/run with -sanitize=fuzzer,address from Sources/L2TPProtocol and this file,
// against a module L2TPWire compiled from Sources/L2TPWire first (not through SwiftPM).
//
// Two ControlConnections, an initiator (connection id 11) and a responder (22), are first brought to a starting
// point by an honest exchange (each one's `.send` datagrams fed to the other, in order, 5 ms apart, until every
// message is acknowledged); the fuzz input is then played against one of them, the target; the other, the peer,
// stays honest. Time starts at 0 and only moves forward; every random number comes from a seeded generator, so an
// input always replays the same way.
//
// Byte 0, the mode: bit 0 L2TPv3 (else v2); bit 1 with the shared secret "isthmus" (v3: Message Digest on every
// message; v2: Challenge/Response); bit 2 the target is the responder (else the initiator); bit 3 v3: HMAC-SHA-1
// digests (else MD5), v2: hidden AVPs; bits 4-5 the starting point: 0 connection up and one session up (opened by
// the initiator), 1 connection up, no session, 2 only started (the initiator's SCCRQ is in flight, not delivered),
// 3 connection up and the initiator's ICRQ in flight.
// The rest: records, each an op byte and its operands. Op bits 4-7 move the clock forward first (0, 1 ms, 10 ms,
// 50 ms, 100 ms, 0.5 s, 1, 2, 5, 10, 30, 60, 120, 300, 600 s, 1 h). Op bits 0-3:
//   0, 11-15 a datagram: a 2-byte big-endian length, then that many bytes (fewer at the end), to the target;
//   1        replay: one byte k, then the peer's k-th datagram so far (mod their number) goes to the target again;
//   2        patched replay: bytes k, position, value: the same with one byte overwritten (a digest then fails);
//   3        pump: the datagrams in flight both ways are delivered until the link is quiet (64 at most);
//   4        nothing (only the clock and the timeouts);
//   5        the target opens a session;  6 the peer opens a session;  7 the target closes its first session;
//   8        the target sends StopCCN;  9 the peer sends StopCCN;
//   10       the peer sends a message made from the input through its own connection (so with the right Ns/Nr
//            and, v3 with the secret, a valid digest), then what is in flight to the target is delivered: bytes
//            type (< 240: MessageType.defined[type % 15], else the raw type type - 224), flags (bit 0 the message's
//            required AVPs, bits 1-3 that many more AVPs, each from a byte: < 200 an entry of AVPTable.all, else
//            that undefined type, M set if flag bit 4; bit 5 v2 with the secret: hidden), the v2 header Session
//            ID (< 224: one of the ids below, else itself), then for each AVP a selector byte (ids: either side's
//            session ids, 11, 22, 0, or the next 4 bytes; small numbers; lengths) and what it needs.
// After every record the target's timeout(now:) runs (due or not) and the peer's when due; what either sends
// goes onto the link (to the other side, delivered by the pump). At most 512 records per input.
//
// Checked after every call, on both sides (trap via `require`): the state never moves backwards (idle < waiting <
// established < closing < closed; so nothing leaves closed); once closed a call yields no actions; `.established`
// at most once and before any `.sessionEstablished`; no `.sessionEstablished` after `.closed`; sessions are
// established only while the connection is; the sessions the events say are up are exactly the established ones;
// `.finished` once, last, and only when closed; every datagram either side sends parses (with its secret) as a
// control message carrying its required AVPs (the peer's only until op 10 made it send a hostile one).
// Seeds: Fuzz/corpus/l2tpcontrol, written by this target itself from the honest exchange (datagrams the peer
// really sends next, with valid digests, replays, pumps, clock jumps):
//   ISTHMUS_WRITE_L2TPCONTROL_SEEDS=Fuzz/corpus/l2tpcontrol .build-fuzz/fuzz-l2tpcontrol -runs=0
#if canImport(Glibc)
import Glibc
#endif
import L2TPWire

/// SplitMix64, like TestSupport's SeededRandom.
struct FuzzRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let clockSteps: [Double] = [0, 0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 3600]

/// The ordering states may only move along.
func rank(_ s: ControlConnection.State) -> Int {
    switch s {
    case .idle: 0
    case .waitReply, .waitConnect: 1
    case .established: 2
    case .closing: 3
    case .closed: 4
    }
}

/// What one side's events said so far, to check each new batch against.
struct Track {
    var rank = 0
    var established = false
    var closed = false
    var finished = false
    var up: Set<UInt32> = []
}

struct Harness {
    var ends: [ControlConnection]
    var track = [Track(), Track()]
    /// Datagrams in flight to side 0 and to side 1.
    var link: [[[UInt8]]] = [[], []]
    /// Every datagram each side sent.
    var sent: [[[UInt8]]] = [[], []]
    var now = 0.0
    /// Op 10 has run: the peer's datagrams (that one, and its retransmissions) are hostile on purpose, so from then
    /// on only the target's are checked.
    var crafted = false
    let target: Int
    let version: L2TPVersion
    let secret: [UInt8]?

    init(mode: UInt8) {
        version = mode & 1 != 0 ? .v3 : .v2
        secret = mode & 2 != 0 ? Array("isthmus".utf8) : nil
        target = mode & 4 != 0 ? 1 : 0
        var configs: [ControlConnection.Configuration] = []
        for (id, host) in [(UInt32(11), "lac"), (22, "lns")] {
            var c = ControlConnection.Configuration(version: version, localID: id, hostName: host)
            c.secret = secret
            if mode & 8 != 0 { if version == .v3 { c.digest = .hmacSHA1 } else { c.hideAVPs = true } }
            c.helloInterval = 60
            c.tieBreaker = UInt64(id) * 0x0101_0101
            c.routerID = id
            c.maxSessions = 8
            c.sessionSetupTimeout = 30
            configs.append(c)
        }
        ends = [ControlConnection(configs[0], role: .initiator, random: FuzzRandom(state: 1)),
                ControlConnection(configs[1], role: .responder, random: FuzzRandom(state: 2))]
        let depth = (mode >> 4) & 3
        take(ends[0].start(now: now), from: 0)
        if depth == 2 { return }
        settle()
        guard ends[0].state == .established, ends[1].state == .established else {
            fatalError("the honest exchange did not establish \(version) secret \(secret != nil): \(ends[0].state) \(ends[1].state)")
        }
        if depth == 1 { return }
        open(0)
        if depth == 3 { return }
        settle()
        require(ends[0].establishedSessions.count == 1 && ends[1].establishedSessions.count == 1, "setup session not up")
    }

    mutating func take(_ actions: [ControlConnection.Action], from side: Int) {
        let c = ends[side]
        var t = track[side]
        let r = rank(c.state)
        require(r >= t.rank, "side \(side): state went back to \(c.state)")
        if t.finished { require(actions.isEmpty, "side \(side): actions after finished: \(actions)") }
        for (i, a) in actions.enumerated() {
            switch a {
            case .send(let bytes):
                if !(crafted && side != target) {
                    let m: ControlMessage
                    do { m = try ControlMessage.parse(bytes, transport: .udp, secret: secret) } catch {
                        fatalError("side \(side) sent a datagram that does not parse: \(error) \(bytes)")
                    }
                    require(m.validate().isEmpty, "side \(side) sent \(m.messageType.map { "\($0)" } ?? "ZLB") without \(m.validate())")
                }
                sent[side].append(bytes)
                link[1 - side].append(bytes)
            case .established:
                require(!t.established && !t.closed, "side \(side): established twice or after closed")
                t.established = true
            case .sessionAnswered(let info):
                require(t.established && !t.closed, "side \(side): call answered while the connection is not up")
                require(!t.up.contains(info.localID), "side \(side): session \(info.localID) answered while up")
            case .sessionEstablished(let info):
                require(t.established && !t.closed, "side \(side): session up while the connection is not")
                require(t.up.insert(info.localID).inserted, "side \(side): session \(info.localID) up twice")
            case .sessionClosed(let id, _, _):
                t.up.remove(id)
            case .closed:
                require(!t.closed, "side \(side): closed twice")
                t.closed = true
                require(t.up.isEmpty, "side \(side): closed with sessions up: \(t.up)")
            case .finished:
                require(!t.finished && i == actions.count - 1, "side \(side): finished twice or not last")
                t.finished = true
            case .linkInfo, .wanError, .circuitStatus:
                require(t.up.contains(a.localID ?? 0), "side \(side): \(a) for a session that is not up")
            case .authenticationFailed:
                // A message whose digest or hidden AVPs did not check out was dropped: the connection changed nothing.
                require(actions.count == 1, "side \(side): an authentication failure came with other actions: \(actions)")
            }
        }
        require(t.finished == (c.state == .closed), "side \(side): finished \(t.finished) but state \(c.state)")
        if t.closed { require(r >= 3, "side \(side): closed but state \(c.state)") }
        if c.state != .established { require(c.establishedSessions.isEmpty, "side \(side): sessions up in \(c.state)") }
        let established = Set(c.establishedSessions.map(\.localID))
        require(established == t.up, "side \(side): events say \(t.up.sorted()) are up, the connection \(established.sorted())")
        require(c.sessionIDs.count <= c.configuration.maxSessions, "side \(side): more sessions than allowed")
        t.rank = r
        track[side] = t
    }

    mutating func deliver(_ bytes: [UInt8], to side: Int) {
        take(ends[side].receive(bytes, now: now), from: side)
    }

    /// Pumps, lets the delayed acknowledgements go, pumps again: nothing left unacknowledged.
    mutating func settle() {
        pump()
        now += 0.2
        timeouts(due: true)
        pump()
    }

    /// Delivers what is in flight both ways, 5 ms per step, running due timeouts, until the link is quiet.
    mutating func pump(limit: Int = 64) {
        var n = 0
        while n < limit {
            var moved = false
            for side in 0...1 where !link[side].isEmpty && n < limit {
                let d = link[side].removeFirst()
                now += 0.005
                deliver(d, to: side)
                moved = true
                n += 1
            }
            timeouts(due: true)
            if !moved { break }
        }
    }

    mutating func timeouts(due: Bool) {
        for side in 0...1 where (!due && side == target) || (ends[side].nextDeadline ?? .infinity) <= now {
            take(ends[side].timeout(now: now), from: side)
        }
    }

    mutating func open(_ side: Int) {
        let options = SessionOptions(remoteEndID: Array("pw\(ends[side].sessionIDs.count)".utf8),
                                     cookie: version == .v3 ? [1, 2, 3, 4] : [], l2SpecificSublayer: 0,
                                     tieBreaker: UInt64(side + 1))
        let before = ends[side].state
        if let (_, actions) = ends[side].openSession(options, now: now) {
            take(actions, from: side)
        } else {
            require(before != .established || ends[side].sessionIDs.count >= ends[side].configuration.maxSessions,
                    "side \(side): openSession refused while established and not full")
        }
    }

    mutating func play(_ d: UnsafeBufferPointer<UInt8>) {
        var r = Reader(d: d)
        var records = 0
        while let op = r.byte(), records < 512 {
            records += 1
            now += clockSteps[op >> 4]
            switch op & 0x0f {
            case 1, 2:
                guard let k = r.byte(), !sent[1 - target].isEmpty else { break }
                var bytes = sent[1 - target][k % sent[1 - target].count]
                if op & 0x0f == 2 {
                    guard let at = r.byte(), let v = r.byte() else { break }
                    bytes[at % bytes.count] = UInt8(v)
                }
                deliver(bytes, to: target)
            case 3: pump()
            case 4: break
            case 5: open(target)
            case 6: open(1 - target)
            case 7:
                if let id = ends[target].sessionIDs.first {
                    take(ends[target].closeSession(id, .administrative, now: now), from: target)
                }
            case 8: take(ends[target].stop(.shuttingDown, now: now), from: target)
            case 9: take(ends[1 - target].stop(.clear, now: now), from: 1 - target)
            case 10: craft(&r)
            default:
                guard let hi = r.byte(), let lo = r.byte() else { break }
                deliver(r.bytes(hi << 8 | lo), to: target)
            }
            timeouts(due: false)
        }
    }

    /// Op 10: the peer sends a message of the input's making, sequenced (and signed) by its own connection, so that
    /// it gets past the digest and the sequence numbers; then what is in flight to the target is delivered.
    mutating func craft(_ r: inout Reader) {
        guard let t = r.byte(), let f = r.byte(), let hs = r.byte() else { return }
        let peer = 1 - target
        guard ends[peer].state != .closed else { return }   // a finished connection sends nothing more
        let types = MessageType.defined
        let type = t < 240 ? types[t % types.count] : MessageType(rawValue: UInt16(t - 240) + 16)
        var wanted: [AVPType] = f & 1 != 0 ? RequiredAVPs.of(type, version: version).filter { $0 != .messageType } : []
        for _ in 0..<((f >> 1) & 7) {
            guard let a = r.byte() else { break }
            wanted.append(a < 200 ? AVPTable.all[a % AVPTable.all.count].type : AVPType(UInt16(a)))
        }
        let hide = version == .v2 && secret != nil && f & 0x20 != 0
        var avps = [AVP(.messageType, .messageType(type))]
        for w in wanted {
            avps.append(AVP(w, value(for: w, &r), mandatory: AVPTable.info(w) == nil ? f & 0x10 != 0 : nil,
                            hidden: hide && (AVPTable.info(w)?.hidable ?? false)))
        }
        if avps.contains(where: \.hidden) { avps.insert(AVP(.randomVector, .bytes(r.bytes(16))), at: 1) }
        let ids = self.ids
        let session = hs < 224 ? ids[hs % ids.count] : UInt32(hs)
        crafted = true
        take(ends[peer].queue(type, avps, session: session, now: now), from: peer)
        while !link[target].isEmpty { deliver(link[target].removeFirst(), to: target) }
    }

    /// Values worth trying for ids: either side's session ids, the connection ids, 0.
    var ids: [UInt32] { ends[0].sessionIDs + ends[1].sessionIDs + [11, 22, 0] }

    func value(for type: AVPType, _ r: inout Reader) -> AVPValue {
        let s = r.byte() ?? 0
        switch type {
        case .localSessionID, .remoteSessionID, .assignedControlConnectionID:
            return .u32(s < 224 ? ids[s % ids.count] : r.u32())
        case .assignedSessionID, .assignedTunnelID:
            return .u16(UInt16(truncatingIfNeeded: s < 224 ? ids[s % ids.count] : r.u32()))
        default: break
        }
        guard let info = AVPTable.info(type) else { return .unknown(r.bytes(s % 12)) }
        switch info.kind {
        case .empty: return .empty
        // Small values are the meaningful ones (sublayer, sequencing, circuit status, result codes, pseudowire 5).
        case .u16: return .u16(s < 128 ? UInt16(s % 8) : UInt16(truncatingIfNeeded: r.u32()))
        case .u32: return .u32(s < 128 ? UInt32(s % 8) : r.u32())
        case .u64: return .u64(UInt64(r.u32()) << 32 | UInt64(r.u32()))
        case .string: return .string(String(decoding: r.bytes(s % 16), as: UTF8.self))
        case .bytes:
            return .bytes(r.bytes(type == .assignedCookie ? [0, 4, 8][s % 3] : type == .challengeResponse ? 16 : s % 20))
        case .messageType: return .messageType(MessageType(rawValue: UInt16(s)))
        case .resultCode:
            return .resultCode(result: UInt16(s % 12), error: s & 0x90 != 0 ? UInt16(s >> 5) : nil,
                               message: s & 0x80 != 0 ? "fuzz" : nil)
        case .protocolVersion: return .protocolVersion(version: s & 0x80 != 0 ? UInt8(s & 7) : 1, revision: 0)
        case .q931Cause: return .q931Cause(code: UInt16(s), message: 0, advisory: nil)
        case .callErrors: return .callErrors(CallErrors(crcErrors: UInt32(s)))
        case .accm: return .accm(send: r.u32(), receive: r.u32())
        case .pseudowireCapabilities: return .pseudowireCapabilities(s < 128 ? [5] : [UInt16(s % 8), 5])
        case .messageDigest: return .messageDigest(s & 1 == 0 ? .hmacMD5 : .hmacSHA1, r.bytes(s & 1 == 0 ? 16 : 20))
        case .extendedVendor: return .extendedVendor(vendor: r.u32(), type: UInt16(s), value: r.bytes(s % 8))
        }
    }
}

/// The input after the mode byte, read front to back; past its end every read is empty (nil, zeros).
struct Reader {
    let d: UnsafeBufferPointer<UInt8>
    var p = 0
    mutating func byte() -> Int? {
        guard p < d.count else { return nil }
        defer { p += 1 }
        return Int(d[p])
    }
    mutating func bytes(_ n: Int) -> [UInt8] {
        let k = min(n, d.count - p)
        defer { p += k }
        return Array(d[p..<p + k])
    }
    mutating func u32() -> UInt32 { bytes(4).reduce(0) { $0 << 8 | UInt32($1) } }
}

extension ControlConnection.Action {
    var localID: UInt32? {
        switch self {
        case .linkInfo(let id, _, _), .wanError(let id, _), .circuitStatus(let id, _): id
        default: nil
        }
    }
}

/// The starting points, made once per mode (a ControlConnection is a value: each input starts from a copy).
nonisolated(unsafe) var starts: [UInt8: Harness] = [:]

func start(_ mode: UInt8) -> Harness {
    let key = mode & 0x3f
    if let h = starts[key] { return h }
    let h = Harness(mode: key)
    starts[key] = h
    return h
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    var h = start(data[0])
    h.play(UnsafeBufferPointer(start: data + 1, count: size - 1))
    return 0
}

// MARK: Seeds

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let dir = getenv("ISTHMUS_WRITE_L2TPCONTROL_SEEDS").map({ String(cString: $0) }) else { return 0 }
    var written = 0
    for (name, input) in seeds() {
        let path = dir + "/" + name
        guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
        _ = input.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        written += 1
    }
    print("wrote \(written) seeds to \(dir)")
    exit(0)
}

/// A raw-datagram record (op 0).
func record(_ bytes: [UInt8], clock: UInt8 = 0) -> [UInt8] {
    [clock << 4, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes
}

/// The next datagram the honest peer would send after `body` is done to a copy of the harness (nil if none).
func peerDatagram(_ h: Harness, _ body: (inout Harness) -> Void) -> [UInt8]? {
    var copy = h
    let before = copy.link[copy.target].count
    body(&copy)
    return copy.link[copy.target].count > before ? copy.link[copy.target][before] : nil
}

func seeds() -> [(String, [UInt8])] {
    var out: [(String, [UInt8])] = []
    for version in [0, 1] as [UInt8] {
        for secret in [0, 2] as [UInt8] {
            let tag = "v\(version + 2)\(secret != 0 ? "-secret" : "")"
            // Responder target, connection up: the peer's real ICRQ, then the pump finishes the session; then
            // the peer's CDN, its HELLO an hour later, a duplicate, and its StopCCN.
            var mode = version | secret | 4 | 0x10
            let h = start(mode)
            if let icrq = peerDatagram(h, { $0.open(0) }) {
                out.append(("\(tag)-responder-icrq", [mode] + record(icrq) + [0x33]))
                out.append(("\(tag)-responder-icrq-dup", [mode] + record(icrq) + record(icrq, clock: 2) + [0x01, 0] + [0x53]))
            }
            if let stop = peerDatagram(h, { $0.take($0.ends[0].stop(.clear, now: $0.now), from: 0) }) {
                out.append(("\(tag)-responder-stopccn", [mode] + record(stop) + [0xb4, 0xf3]))
            }
            if let hello = peerDatagram(h, { $0.now += 61; $0.timeouts(due: true) }) {
                out.append(("\(tag)-responder-hello", [mode] + record(hello, clock: 0xb) + [0x03, 0xf3]))
            }
            // Initiator target with a session up: the peer's CDN for it, its SLI/WEN-free HELLO, replays.
            mode = version | secret | 0x00
            let s = start(mode)
            if let cdn = peerDatagram(s, { h in
                if let id = h.ends[1].sessionIDs.first { h.take(h.ends[1].closeSession(id, now: h.now), from: 1) }
            }) {
                out.append(("\(tag)-initiator-cdn", [mode] + record(cdn) + [0x43]))
            }
            out.append(("\(tag)-initiator-replays", [mode, 0x01, 0, 0x01, 1, 0x21, 2, 0x02, 1, 20, 0xff, 0x63, 0xf3]))
            out.append(("\(tag)-initiator-sessions", [mode, 0x05, 0x33, 0x06, 0x33, 0x07, 0x33, 0x08, 0xa3, 0xf3]))
            // Responder target before SCCRQ: the initiator's real SCCRQ, duplicated, then SCCCN via the pump.
            mode = version | secret | 4 | 0x20
            let i = start(mode)
            if let sccrq = i.link[1].first {
                out.append(("\(tag)-responder-sccrq", [mode] + record(sccrq) + record(sccrq, clock: 5) + [0x33, 0x09, 0x63]))
            }
            // Every message type from the peer with its required AVPs (ids: the first session's), both targets.
            for m in [version | secret | 0x00, version | secret | 4] {
                var input: [UInt8] = [m]
                for t in 0..<UInt8(MessageType.defined.count) {
                    let required = RequiredAVPs.of(MessageType.defined[Int(t)], version: version == 0 ? .v2 : .v3)
                    input += [0x0a, t, 0x01, 0] + [UInt8](repeating: 0, count: max(required.count - 1, 0))
                    input += [0x13]
                }
                out.append(("\(tag)-\(m & 4 != 0 ? "responder" : "initiator")-crafted", input))
            }
            // Initiator target with its ICRQ in flight: time out the retransmissions until the peer is dead.
            mode = version | secret | 0x30
            out.append(("\(tag)-initiator-retransmit", [mode, 0x64, 0x74, 0x84, 0x94, 0xa4, 0xb3]))
        }
    }
    return out
}

/// precondition, but with its message printed in -O builds too.
@inline(__always) func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
