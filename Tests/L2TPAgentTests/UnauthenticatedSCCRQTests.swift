#if canImport(Glibc)
import Glibc
#endif
import L2TPProtocol
import L2TPWire
import Testing
import TestSupport
@testable import L2TPAgent

/// The listener of a real `L2TPDaemon` (a loopback socket, no loop running) fed SCCRQs by hand on a fake clock:
/// what an unauthenticated SCCRQ leaves behind (nothing), what is counted and what is logged.
@Suite("L2TP agent: unauthenticated SCCRQs create nothing")
struct UnauthenticatedSCCRQTests {
    final class Lines: @unchecked Sendable { var all: [String] = [] }

    /// A listening daemon (not running) with `secret`, its listener socket, and its log.
    static func responder(_ version: L2TPVersion, secret: String?) throws -> (L2TPDaemon, ControlSocket, Lines) {
        var c = L2TPAgentConfig(name: "auth-test", version: version, hostName: "responder")
        c.secret = secret
        c.dataPlane = .none
        let listener = try ControlSocket(local: try #require(UDPAddress("127.0.0.1", port: 0)))
        c.listen = [L2TPAgentConfig.Endpoint(address: "127.0.0.1", port: listener.local.port)]
        let d = L2TPDaemon(config: c)
        d.listeners = [listener]
        let lines = Lines()
        d.log = { lines.all.append($0) }
        return (d, listener, lines)
    }

    static func initiator(_ version: L2TPVersion, secret: String?, id: UInt32, hide: Bool = false,
                          seed: UInt64) -> ControlConnection {
        var c = ControlConnection.Configuration(version: version, localID: id, hostName: "initiator")
        c.secret = secret.map { Array($0.utf8) }
        c.hideAVPs = hide
        return ControlConnection(c, role: .initiator, random: SeededRandom(seed: seed))
    }

    static func datagrams(_ actions: [ControlConnection.Action]) -> [[UInt8]] {
        actions.compactMap { if case .send(let b) = $0 { b } else { nil } }
    }

    /// The daemon's timers, as its loop runs them.
    static func tick(_ d: L2TPDaemon, now: Double) { d.timers(now) }

    @Test("v3, secrets differ: 60 s of SCCRQs and redials leave no tunnel; the first is logged with the peer")
    func wrongSecretLeavesNoState() throws {
        let (d, listener, lines) = try Self.responder(.v3, secret: "one")
        let peer = try #require(UDPAddress("127.0.0.1", port: 40_001))
        var now = 0.0, seed: UInt64 = 1
        var initiator = Self.initiator(.v3, secret: "two", id: 7, seed: seed)
        var pending = initiator.start(now: now)
        var redialAt: Double?
        var sccrqs = 0, firstLogged: Double?
        while now <= 60 {
            for b in Self.datagrams(pending) {
                sccrqs += 1
                d.route(b, from: peer, socket: listener, now: now)
            }
            if firstLogged == nil, lines.all.contains(where: { $0.contains("Message Digest does not verify") }) { firstLogged = now }
            pending = []
            Self.tick(d, now: now)
            now += 0.25
            if initiator.isFinished {
                // The initiator's redial (a new connection, a new id), as the agent does it.
                if redialAt == nil { redialAt = now + 1 }
                if let r = redialAt, now >= r {
                    seed += 1
                    initiator = Self.initiator(.v3, secret: "two", id: UInt32(seed) + 7, seed: seed)
                    pending = initiator.start(now: now)
                    redialAt = nil
                }
            } else if (initiator.nextDeadline ?? .infinity) <= now {
                pending = initiator.timeout(now: now)
            }
        }
        #expect(sccrqs > 6, "the initiator kept trying: \(sccrqs) SCCRQs")
        #expect(d.tunnels.isEmpty, "\(d.tunnels.count) tunnel records after \(sccrqs) rejected SCCRQs")
        #expect(d.dropped["bad_digest"] == sccrqs, "\(d.dropped)")
        // Said at once (the first SCCRQ), naming the peer; not once per SCCRQ.
        #expect(firstLogged == 0, "\(lines.all)")
        let digestLines = lines.all.filter { $0.contains("Message Digest does not verify") }
        #expect(digestLines.first?.contains("127.0.0.1") == true, "\(lines.all)")
        #expect(digestLines.first?.contains("the shared secrets differ or the message was altered") == true, "\(lines.all)")
        #expect(digestLines.count <= 8, "\(digestLines.count) lines for \(sccrqs) SCCRQs:\n\(lines.all.joined(separator: "\n"))")
    }

    @Test("v3: 10,000 forged SCCRQs with random digests from one address: no tunnel, all counted, a few log lines")
    func forgedFloodIsFlat() throws {
        let (d, listener, lines) = try Self.responder(.v3, secret: "one")
        var rng = SeededRandom(seed: 99)
        for i in 0..<10_000 {
            // A fresh connection id and a random secret each: the digest is as good as random.
            let secret = String((0..<12).map { _ in Character(UnicodeScalar(UInt8(97 + rng.below(26)))) })
            var c = Self.initiator(.v3, secret: secret, id: UInt32(i + 1), seed: UInt64(i))
            let from = try #require(UDPAddress("127.0.0.1", port: UInt16(20_000 + i % 30_000)))
            for b in Self.datagrams(c.start(now: Double(i) / 1000)) { d.route(b, from: from, socket: listener, now: Double(i) / 1000) }
        }
        Self.tick(d, now: 10)
        #expect(d.tunnels.isEmpty, "\(d.tunnels.count) tunnel records")
        #expect(d.dropped["bad_digest"] == 10_000, "\(d.dropped)")
        #expect(lines.all.count <= 3, "\(lines.all.count) log lines:\n\(lines.all.prefix(20).joined(separator: "\n"))")
    }

    @Test("v2 with hidden AVPs, secrets differ: the SCCRQ's hidden AVPs do not decode; logged with the peer, nothing kept")
    func v2HiddenAVPsWithWrongSecret() throws {
        let (d, listener, lines) = try Self.responder(.v2, secret: "one")
        let peer = try #require(UDPAddress("127.0.0.1", port: 40_002))
        var c = Self.initiator(.v2, secret: "two", id: 9, hide: true, seed: 5)
        for b in Self.datagrams(c.start(now: 0)) { d.route(b, from: peer, socket: listener, now: 0) }
        #expect(d.tunnels.isEmpty)
        #expect(d.dropped["bad_hidden_length"] == 1, "\(d.dropped)")
        #expect(lines.all.contains { $0.contains("127.0.0.1:40002") && $0.contains("hidden AVP does not decode") }, "\(lines.all)")
    }

    @Test("v2 SCCRQs (authenticated only later, by SCCCN): a flood from one address holds at most 16 connections")
    func v2PendingConnectionsAreBounded() throws {
        let (d, listener, _) = try Self.responder(.v2, secret: "one")
        for i in 0..<100 {
            var c = Self.initiator(.v2, secret: "one", id: UInt32(i + 1), seed: UInt64(i))
            let from = try #require(UDPAddress("127.0.0.1", port: UInt16(30_000 + i)))
            for b in Self.datagrams(c.start(now: 0)) { d.route(b, from: from, socket: listener, now: 0) }
        }
        #expect(d.tunnels.count == 16, "\(d.tunnels.count) connections")
        #expect(d.dropped["too_many_pending_sccrq"] == 84, "\(d.dropped)")
        // They time out like any unanswered connection: nothing outlives the retransmissions.
        for t in stride(from: 0.0, through: 120, by: 0.5) { Self.tick(d, now: t) }
        #expect(d.tunnels.isEmpty, "\(d.tunnels.count) connections after 120 s")
    }
}
