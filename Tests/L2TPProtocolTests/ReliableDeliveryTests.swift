import L2TPProtocol
import Testing
import TestSupport

private typealias RD = ReliableDelivery<Int>

/// Two endpoints over a simulated network that drops, duplicates and reorders (seeded), with a fake clock that jumps
/// from event to event: the property "everything is delivered exactly once, in order" under loss, as a unit test.
private struct Link {
    struct Packet { var at: Double; var to: Int; var ns: UInt16; var nr: UInt16; var payload: Int? }
    var rng: SeededRandom
    var loss: Int, duplicate: Int, reorder: Int   // percent
    var inTransit: [Packet] = []
    var sentPackets = 0

    mutating func carry(_ a: [RD.Action], from: Int, now: Double) -> [Int] {
        var delivered: [Int] = []
        for x in a {
            switch x {
            case let .transmit(ns, nr, payload, _): put(Packet(at: 0, to: 1 - from, ns: ns, nr: nr, payload: payload), now)
            case let .zlb(ns, nr): put(Packet(at: 0, to: 1 - from, ns: ns, nr: nr, payload: nil), now)
            case let .deliver(p): delivered.append(p)
            case .peerUnreachable: break
            }
        }
        return delivered
    }

    mutating func put(_ p: Packet, _ now: Double) {
        sentPackets += 1
        if rng.below(100) < loss { return }
        var q = p
        q.at = now + 0.01 + (rng.below(100) < reorder ? Double(rng.below(300)) / 1000 : 0)
        inTransit.append(q)
        if rng.below(100) < duplicate { q.at += Double(rng.below(200)) / 1000; inTransit.append(q) }
    }
}

/// Runs two endpoints sending `n` messages each until both delivered all, or the clock passes `limit`.
private func converse(n: Int, loss: Int, duplicate: Int, reorder: Int, seed: UInt64, config: RD.Configuration = .init(),
                      limit: Double = 3600) -> (got: [[Int]], ends: [RD], now: Double, failed: Bool) {
    var ends = [RD(config), RD(config)]
    var link = Link(rng: SeededRandom(seed: seed), loss: loss, duplicate: duplicate, reorder: reorder)
    var got: [[Int]] = [[], []]
    var now = 0.0
    for i in 0..<n {
        for e in 0...1 { got[e] += link.carry(ends[e].send(e * 100_000 + i, now: now), from: e, now: now) }
    }
    var failed = false
    while now < limit && (got[0].count < n || got[1].count < n || !link.inTransit.isEmpty || ends.contains { $0.unacknowledged > 0 }) {
        let nextPacket = link.inTransit.map(\.at).min()
        let nextTimer = ends.compactMap(\.nextDeadline).min()
        guard let t = [nextPacket, nextTimer].compactMap({ $0 }).min() else { break }
        now = max(now, t)
        if let i = link.inTransit.firstIndex(where: { $0.at <= now }) {
            let p = link.inTransit.remove(at: i)
            let a = ends[p.to].receive(ns: p.ns, nr: p.nr, payload: p.payload, now: now)
            got[p.to] += link.carry(a, from: p.to, now: now)
        } else {
            for e in 0...1 where (ends[e].nextDeadline ?? .infinity) <= now {
                let a = ends[e].timeout(now: now)
                if a.contains(where: { if case .peerUnreachable = $0 { true } else { false } }) { failed = true }
                got[e] += link.carry(a, from: e, now: now)
            }
        }
    }
    return (got, ends, now, failed)
}

@Suite("L2TP reliable delivery (RFC 2661 §5.8, RFC 3931 §4.2)")
struct ReliableDeliveryTests {
    @Test("a clean link: in order, exactly once, no retransmissions")
    func clean() {
        let r = converse(n: 100, loss: 0, duplicate: 0, reorder: 0, seed: 1)
        #expect(r.got[1] == Array(0..<100))
        #expect(r.got[0] == Array(100_000..<100_100))
        #expect(r.ends.allSatisfy { $0.counters.retransmits == 0 && $0.unacknowledged == 0 })
    }

    @Test("20% loss, duplicates and reordering: everything arrives exactly once, in order", arguments: [UInt64(7), 42, 1999, 31337])
    func lossy(_ seed: UInt64) {
        let r = converse(n: 200, loss: 20, duplicate: 10, reorder: 30, seed: seed)
        #expect(!r.failed)
        #expect(r.got[1] == Array(0..<200), "seed \(seed)")
        #expect(r.got[0] == Array(100_000..<100_200), "seed \(seed)")
        #expect(r.ends.allSatisfy { $0.counters.retransmits > 0 }, "20% loss without a retransmission?")
        #expect(r.ends.contains { $0.counters.duplicates > 0 })
    }

    @Test("the window bounds what is in flight; acks open it again")
    func window() {
        var c = RD.Configuration(); c.peerWindow = 4
        var a = RD(c)
        var sent: [RD.Action] = []
        for i in 0..<10 { sent += a.send(i, now: 0) }
        // Slow start: one message until the first ack.
        #expect(sent == [.transmit(ns: 0, nr: 0, payload: 0, retransmission: false)])
        #expect(a.unacknowledged == 1 && a.queued == 9)
        let after = a.receive(ns: 0, nr: 1, payload: nil, now: 0.1)   // ZLB acking Ns 0
        #expect(after == [.transmit(ns: 1, nr: 0, payload: 1, retransmission: false), .transmit(ns: 2, nr: 0, payload: 2, retransmission: false)])
        _ = a.receive(ns: 0, nr: 3, payload: nil, now: 0.2)
        #expect(a.unacknowledged == 4, "cwnd 4 = the peer's window")
        _ = a.receive(ns: 0, nr: 7, payload: nil, now: 0.3)
        #expect(a.unacknowledged == 3 && a.queued == 0)
    }

    @Test("back-off: 1, 2, 4, 8, 8 s, then the peer is unreachable")
    func backoff() {
        var a = RD()
        _ = a.send(7, now: 0)
        var times: [Double] = []
        var now = 0.0
        var last: [RD.Action] = []
        while let d = a.nextDeadline {
            now = d
            last = a.timeout(now: now)
            times.append(now)
        }
        #expect(times == [1, 3, 7, 15, 23, 31])
        #expect(last == [.peerUnreachable(retransmits: 5)])
        #expect(a.failed && a.counters.retransmits == 5)
        #expect(a.send(8, now: 40).isEmpty)
    }

    @Test("retransmissions keep their Ns and carry the current Nr")
    func retransmitNr() {
        var a = RD()
        _ = a.send(1, now: 0)
        let d = a.receive(ns: 0, nr: 0, payload: 50, now: 0.5)        // the peer's first message, not acking ours
        #expect(d.first == .deliver(50))
        let r = a.timeout(now: 1)
        #expect(r == [.transmit(ns: 0, nr: 1, payload: 1, retransmission: true)], "the ack rides on the retransmission")
    }

    @Test("a duplicate is acked at once with a ZLB; an early message is held and delivered in order")
    func duplicatesAndOrder() {
        var b = RD()
        #expect(b.receive(ns: 0, nr: 0, payload: 10, now: 0) == [.deliver(10)])
        #expect(b.receive(ns: 0, nr: 0, payload: 10, now: 0.01) == [.zlb(ns: 0, nr: 1)])
        #expect(b.receive(ns: 2, nr: 0, payload: 12, now: 0.02) == [.zlb(ns: 0, nr: 1)])
        #expect(b.receive(ns: 1, nr: 0, payload: 11, now: 0.03) == [.deliver(11), .deliver(12)])
        // The ack for 11 and 12 is delayed (no message of ours to ride on): it goes as a ZLB at the deadline.
        #expect(b.nextDeadline == 0.03 + 0.1)
        #expect(b.timeout(now: 0.13) == [.zlb(ns: 0, nr: 3)])
        // Beyond the receive window (4): dropped and counted.
        #expect(b.receive(ns: 9, nr: 0, payload: 19, now: 0.2).isEmpty)
        #expect(b.counters.outsideWindow == 1 && b.counters.duplicates == 1 && b.counters.outOfOrder == 1)
    }

    @Test("with a receive window's worth of messages waiting for our ack, it goes at once (the sender is blocked)")
    func ackWhenTheWindowIsFull() {
        var b = RD()   // receiveWindow 4
        for i in 0..<3 { #expect(b.receive(ns: UInt16(i), nr: 0, payload: i, now: 0) == [.deliver(i)]) }
        #expect(b.receive(ns: 3, nr: 0, payload: 3, now: 0) == [.deliver(3), .zlb(ns: 0, nr: 4)])
        // The count starts again after an ack: the next three wait for ackDelay (or a message to ride on).
        for i in 4..<7 { #expect(b.receive(ns: UInt16(i), nr: 0, payload: i, now: 0.01) == [.deliver(i)]) }
        #expect(b.send(99, now: 0.02) == [.transmit(ns: 0, nr: 7, payload: 99, retransmission: false)])
        #expect(b.receive(ns: 7, nr: 0, payload: 7, now: 0.03) == [.deliver(7)])
    }

    @Test("sequence numbers wrap at 2^16")
    func wraparound() {
        let r = converse(n: 70_000, loss: 0, duplicate: 0, reorder: 0, seed: 3)
        #expect(r.got[1].count == 70_000 && r.got[1].first == 0 && r.got[1].last == 69_999)
        #expect(r.got[1] == Array(0..<70_000))
    }

    @Test("an Nr beyond what was sent is ignored")
    func bogusAck() {
        var a = RD()
        _ = a.send(1, now: 0)
        _ = a.receive(ns: 0, nr: 40, payload: nil, now: 0.1)
        #expect(a.unacknowledged == 1 && a.counters.acksIgnored == 1)
    }

    @Test("congestion: a loss halves the threshold and restarts slow start")
    func congestion() {
        var c = RD.Configuration(); c.peerWindow = 8
        var a = RD(c)
        for i in 0..<40 { _ = a.send(i, now: 0) }
        var n: UInt16 = 0
        for t in 1...6 { n = n &+ UInt16(a.unacknowledged); _ = a.receive(ns: 0, nr: n, payload: nil, now: Double(t) * 0.1) }
        #expect(a.congestionWindow >= 7)
        let before = a.congestionWindow
        _ = a.timeout(now: 5)
        #expect(a.congestionWindow == 1 && a.threshold == max(before / 2, 1))
    }
}
