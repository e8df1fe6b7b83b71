/// Reliable delivery of L2TP control messages (RFC 2661 §5.8 and Appendix A; RFC 3931 §4.2): sequence numbers Ns/Nr
/// (16 bits, modulo 2^16), a send window set by the peer's Receive Window Size AVP, slow start and congestion
/// avoidance, retransmission with exponential back-off and a cap, duplicate and out-of-order handling, ZLB acks.
///
/// A value with no I/O and no clock: events go in (`send`, `receive`, `timeout` with the current time), actions come out
/// (transmit this message with these Ns/Nr, deliver that payload in order, send a ZLB, the peer is gone). Time is a
/// parameter, so loss, reorder and back-off are unit tests that run in microseconds (quinn-proto's shape).
///
///          send ──▶ [queue] ──(window, cwnd)──▶ in flight ──ack (Nr)──▶ done
///                                                  │  ▲
///                                    timeout ──────┘  └── retransmit, timeout ×2 (≤ cap), cwnd = 1
///
///     receive Ns == Nr ──▶ deliver, Nr += 1, deliver what was queued next, ack (piggybacked, or a ZLB after ackDelay)
///     receive Ns <  Nr ──▶ duplicate: ack at once (our ack was lost)      receive Ns > Nr ──▶ hold (within our window)
public struct ReliableDelivery<Payload: Equatable & Sendable>: Sendable {
    public struct Configuration: Equatable, Sendable {
        /// Messages we accept ahead of Nr (our Receive Window Size AVP); RFC 2661 §5.8 default 4.
        public var receiveWindow: UInt16 = 4
        /// The peer's Receive Window Size (the most we may have unacknowledged).
        public var peerWindow: UInt16 = 4
        /// First retransmission timeout, seconds (RFC 2661 §5.8: 1 s is recommended).
        public var initialTimeout: Double = 1
        /// Cap of the exponential back-off (RFC 2661 §5.8: at least 8 s).
        public var maxTimeout: Double = 8
        /// Retransmissions of one message before the peer is declared gone (RFC 2661 §5.8: 5 recommended).
        public var maxRetransmits: Int = 5
        /// How long an ack may wait for a message to ride on before a ZLB goes alone (RFC 3931 §4.2: "a short time").
        public var ackDelay: Double = 0.1
        public init() {}
    }

    public enum Action: Equatable, Sendable {
        /// Send `payload` with these sequence numbers (a retransmission carries its old Ns and the current Nr).
        case transmit(ns: UInt16, nr: UInt16, payload: Payload, retransmission: Bool)
        /// Send a Zero-Length Body message: an ack alone (Ns is the next Ns, not consumed).
        case zlb(ns: UInt16, nr: UInt16)
        /// `payload` arrived, in order, exactly once.
        case deliver(Payload)
        /// A message went unacknowledged through every retransmission: the control connection must be torn down.
        case peerUnreachable(retransmits: Int)
    }

    public struct Counters: Equatable, Sendable {
        public var sent = 0, retransmits = 0, delivered = 0, duplicates = 0, outOfOrder = 0, outsideWindow = 0, zlbs = 0
        public var acksIgnored = 0
        public init() {}
    }

    public private(set) var configuration: Configuration
    /// Our next Ns.
    public private(set) var ns: UInt16 = 0
    /// The next Ns we expect from the peer (what we send as Nr).
    public private(set) var nr: UInt16 = 0
    /// Congestion window (Appendix A): starts at 1, grows by one per ack up to `threshold`, then by one per window.
    public private(set) var congestionWindow: Double = 1
    public private(set) var threshold: Double
    public private(set) var counters = Counters()
    /// Smoothed round-trip time of first transmissions acknowledged (RFC 6298-style, for status), seconds.
    public private(set) var smoothedRTT: Double?
    /// The peer has failed: nothing more is sent.
    public private(set) var failed = false

    struct InFlight: Sendable {
        var ns: UInt16
        var payload: Payload
        var firstSent: Double
        var deadline: Double
        var timeout: Double
        var retransmits: Int
    }
    private var queue: [Payload] = []
    private var inFlight: [InFlight] = []
    private var held: [UInt16: Payload] = [:]
    private var ackDue: Double? { didSet { if ackDue == nil { deliveredUnacked = 0 } } }
    /// Messages delivered since our Nr last went out (reset whenever the due ack is sent or rides on a message).
    private var deliveredUnacked = 0

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
        threshold = Double(max(configuration.peerWindow, 1))
    }

    /// The peer's Receive Window Size became known (its SCCRQ or SCCRP): at most that many unacknowledged.
    public mutating func setPeerWindow(_ window: UInt16) {
        configuration.peerWindow = max(window, 1)
        threshold = Double(configuration.peerWindow)
    }

    /// Messages sent and not yet acknowledged, and messages waiting for the window.
    public var unacknowledged: Int { inFlight.count }
    public var queued: Int { queue.count }

    /// When `timeout(now:)` must be called next (a retransmission or a delayed ack is due), or nil.
    public var nextDeadline: Double? {
        let r = inFlight.map(\.deadline).min()
        switch (r, ackDue) {
        case let (a?, b?): return min(a, b)
        case let (a?, nil): return a
        case let (nil, b?): return b
        default: return nil
        }
    }

    /// `a` precedes `b` in 16-bit sequence space (RFC 2661 §5.8: within 32767).
    static func before(_ a: UInt16, _ b: UInt16) -> Bool { a != b && b &- a < 0x8000 }

    /// Queues a message; transmits what the window allows.
    public mutating func send(_ payload: Payload, now: Double) -> [Action] {
        guard !failed else { return [] }
        queue.append(payload)
        return pump(now: now)
    }

    /// A message from the peer: `payload` nil for a ZLB. Acknowledges what `nr` covers, delivers in order.
    public mutating func receive(ns peerNs: UInt16, nr peerNr: UInt16, payload: Payload?, now: Double) -> [Action] {
        guard !failed else { return [] }
        var out: [Action] = []
        acknowledge(upTo: peerNr, now: now)
        if let payload {
            if peerNs == nr {
                out.append(.deliver(payload))
                counters.delivered += 1
                nr &+= 1
                deliveredUnacked += 1
                while let next = held.removeValue(forKey: nr) {
                    out.append(.deliver(next))
                    counters.delivered += 1
                    nr &+= 1
                    deliveredUnacked += 1
                }
                if ackDue == nil { ackDue = now + configuration.ackDelay }
                // The peer may have at most our Receive Window Size unacknowledged: with that many waiting for our
                // ack it can send nothing more, so holding the ack for a message to ride on would only stall it.
                if deliveredUnacked >= Int(configuration.receiveWindow) { ackDue = now }
            } else if Self.before(peerNs, nr) {
                // Already delivered: the peer did not get our ack. Ack at once.
                counters.duplicates += 1
                ackDue = now
            } else if peerNs &- nr < configuration.receiveWindow {
                if held[peerNs] == nil { held[peerNs] = payload; counters.outOfOrder += 1 } else { counters.duplicates += 1 }
                ackDue = now
            } else {
                counters.outsideWindow += 1
            }
        }
        out += pump(now: now)
        if let due = ackDue, due <= now {
            out.append(.zlb(ns: ns, nr: nr))
            counters.zlbs += 1
            ackDue = nil
        }
        return out
    }

    /// Sends a due acknowledgement now instead of after `ackDelay` (nothing will ride on it: a HELLO, a StopCCN).
    public mutating func acknowledgeNow() -> [Action] {
        guard !failed, ackDue != nil else { return [] }
        ackDue = nil
        counters.zlbs += 1
        return [.zlb(ns: ns, nr: nr)]
    }

    /// Time passed: retransmit what timed out (back-off doubling to the cap, congestion window back to 1), send a due
    /// ZLB, or give up on the peer.
    public mutating func timeout(now: Double) -> [Action] {
        guard !failed else { return [] }
        var out: [Action] = []
        var lost = false
        for i in inFlight.indices where inFlight[i].deadline <= now {
            if inFlight[i].retransmits >= configuration.maxRetransmits {
                failed = true
                inFlight.removeAll(); queue.removeAll(); ackDue = nil
                return [.peerUnreachable(retransmits: configuration.maxRetransmits)]
            }
            inFlight[i].retransmits += 1
            inFlight[i].timeout = min(inFlight[i].timeout * 2, configuration.maxTimeout)
            inFlight[i].deadline = now + inFlight[i].timeout
            counters.retransmits += 1
            lost = true
            out.append(.transmit(ns: inFlight[i].ns, nr: nr, payload: inFlight[i].payload, retransmission: true))
        }
        if lost {
            // Appendix A: on a retransmission the threshold halves and slow start begins again.
            threshold = max(congestionWindow / 2, 1)
            congestionWindow = 1
        }
        if !out.isEmpty { ackDue = nil }   // each transmission carries the current Nr
        if let due = ackDue, due <= now {
            out.append(.zlb(ns: ns, nr: nr))
            counters.zlbs += 1
            ackDue = nil
        }
        return out
    }

    private mutating func acknowledge(upTo peerNr: UInt16, now: Double) {
        // Nr acknowledges every Ns before it. An Nr beyond what we sent is bogus: ignore it (RFC 3931 §4.2).
        if Self.before(ns, peerNr) { counters.acksIgnored += 1; return }
        var acked = 0
        while let first = inFlight.first, Self.before(first.ns, peerNr) {
            if first.retransmits == 0 {
                let sample = now - first.firstSent
                smoothedRTT = smoothedRTT.map { 0.875 * $0 + 0.125 * sample } ?? sample
            }
            inFlight.removeFirst()
            acked += 1
        }
        for _ in 0..<acked {
            if congestionWindow < threshold { congestionWindow += 1 } else { congestionWindow += 1 / congestionWindow }
        }
    }

    private mutating func pump(now: Double) -> [Action] {
        var out: [Action] = []
        let limit = min(Double(max(configuration.peerWindow, 1)), congestionWindow.rounded(.down))
        while !queue.isEmpty && Double(inFlight.count) < max(limit, 1) {
            let p = queue.removeFirst()
            inFlight.append(InFlight(ns: ns, payload: p, firstSent: now, deadline: now + configuration.initialTimeout,
                                     timeout: configuration.initialTimeout, retransmits: 0))
            out.append(.transmit(ns: ns, nr: nr, payload: p, retransmission: false))
            counters.sent += 1
            ns &+= 1
            ackDue = nil   // the ack rides on this message
        }
        return out
    }
}
