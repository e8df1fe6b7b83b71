@testable import L2TPProtocol
import L2TPWire
import Testing
import TestSupport

/// A simulated address: a host and a UDP port.
struct SimAddress: L2TPEndpointAddress {
    var host: String
    var port: UInt16
    var description: String { "\(host):\(port)" }
    init(_ host: String, _ port: UInt16) { self.host = host; self.port = port }
}

/// Two `L2TPEndpoint`s on a simulated network, the endpoint-level `Pair`: the same clock that jumps from event to
/// event, and sockets as the kernel has them (a datagram goes to the connected socket with its 4-tuple, else to a
/// listener on its port, else nowhere), each side's actions carried out as `L2TPDaemon` does.
struct EndpointPair {
    typealias E = L2TPEndpoint<SimAddress>
    struct Packet { var at: Double; var from: SimAddress; var to: SimAddress; var bytes: [UInt8] }
    var ends: [E]
    var hosts: [String]
    var listening: [[SimAddress]]
    /// Each side's open sockets by connection id: (bound, connected to).
    var sockets: [[UInt32: (local: SimAddress, peer: SimAddress)]] = [[:], [:]]
    var inTransit: [Packet] = []
    var now = 0.0
    /// Everything each side was told to do but send, with when.
    var done: [[(at: Double, action: E.Action)]] = [[], []]
    /// A side is down (receives and does nothing) until this time.
    var upAt: [Double] = [0, 0]
    /// A side that is down from now on (nil: none).
    var deadSide: Int?
    /// The one-way delay of a datagram (nil: lost).
    var delay: (Packet) -> Double? = { _ in 0.005 }
    /// Sides whose sockets cannot be opened.
    var failOpen: Set<Int> = []

    init(_ a: E.Configuration, _ b: E.Configuration, hosts: [String], listening: [[SimAddress]], upAt: [Double] = [0, 0],
         seed: UInt64 = 1) {
        ends = [E(a, now: upAt[0], random: SeededRandom(seed: seed)), E(b, now: upAt[1], random: SeededRandom(seed: seed &+ 7))]
        self.hosts = hosts
        self.listening = listening
        self.upAt = upAt
    }

    func isUp(_ side: Int) -> Bool { side != deadSide && now >= upAt[side] }

    mutating func take(_ actions: [E.Action], from side: Int) {
        var queue = actions[...]
        while let a = queue.popFirst() {
            switch a {
            case .openSocket(let id, let local, let peer):
                done[side].append((now, a))
                if failOpen.contains(side) { queue = ends[side].socketFailed(id, "refused", now: now)[...] + queue }
                else { sockets[side][id] = (local, peer) }
            case .send(let id, let bytes):
                guard let s = sockets[side][id] else { continue }
                let p = Packet(at: now, from: s.local, to: s.peer, bytes: bytes)
                if let d = delay(p) { inTransit.append(Packet(at: now + d, from: p.from, to: p.to, bytes: bytes)) }
            case .removed(let id):
                done[side].append((now, a))
                sockets[side][id] = nil
            default:
                done[side].append((now, a))
            }
        }
    }

    /// What a datagram meets at its destination.
    mutating func deliver(_ p: Packet) {
        guard let side = hosts.firstIndex(of: p.to.host), isUp(side) else { return }
        if let s = sockets[side].values.first(where: { $0.local.port == p.to.port && $0.peer == p.from }) {
            take(ends[side].receive(p.bytes, from: p.from, local: s.local, now: now), from: side)
        } else if let l = listening[side].first(where: { $0.port == p.to.port }) {
            take(ends[side].receive(p.bytes, from: p.from, local: l, now: now), from: side)
        }
    }

    /// Runs until `stop` holds or nothing is left to happen before `limit`.
    mutating func run(until limit: Double, _ stop: (EndpointPair) -> Bool = { _ in false }) {
        while !stop(self) {
            let nextPacket = inTransit.map(\.at).min()
            let nextTimer = (0...1).filter { $0 != deadSide }.compactMap { s in ends[s].nextDeadline.map { max($0, upAt[s]) } }.min()
            guard let t = [nextPacket, nextTimer].compactMap({ $0 }).min(), t <= limit else { now = max(now, limit); return }
            now = max(now, t)
            if let i = inTransit.indices.filter({ inTransit[$0].at <= now }).min(by: { inTransit[$0].at < inTransit[$1].at }) {
                deliver(inTransit.remove(at: i))
            } else {
                for s in 0...1 where isUp(s) && (ends[s].nextDeadline ?? .infinity) <= now {
                    take(ends[s].timeout(now: now), from: s)
                }
            }
        }
    }

    func established(_ side: Int) -> [E.Connection] {
        ends[side].connections.values.filter { $0.connection.state == .established }
    }
    func logs(_ side: Int) -> [String] {
        done[side].compactMap { if case .log(let l) = $0.action { l } else { nil } }
    }
    func sessionsUp(_ side: Int) -> [String] {
        done[side].compactMap { if case .sessionUp(_, _, let name) = $0.action { name } else { nil } }
    }
    /// How many connections each side opened a socket for.
    func opened(_ side: Int) -> [(at: Double, local: SimAddress, peer: SimAddress)] {
        done[side].compactMap { if case .openSocket(_, let l, let p) = $0.action { ($0.at, l, p) } else { nil } }
    }
}

/// The v2 LAC and LNS of Tools/scenarios/l2tp-ppp-isthmus.sh: each listens on 1701 and dials the other, the LNS
/// from its second port 1702; the LAC places a call, the LNS an outgoing call.
enum Scenario {
    static let lac = "10.96.0.1", lns = "10.96.0.2"

    static func config(_ host: String, peer: String, localPort: UInt16, tieBreaker: UInt64?, outgoing: Bool,
                       redialMax: Double = 60, secret: String? = "tunnel s3cret") -> EndpointPair.E.Configuration {
        var c = ControlConnection.Configuration(version: .v2, localID: 0, hostName: host == lac ? "lac-a" : "lns-b")
        c.secret = secret.map { Array($0.utf8) }
        c.helloInterval = 2
        c.tieBreaker = tieBreaker
        var e = EndpointPair.E.Configuration(connection: c, listening: true)
        let name = host == lac ? "to-lns" : "to-lac"
        e.tunnels = [.init(name: name, peer: SimAddress(peer, 1701), peerText: peer, local: SimAddress(host, localPort),
                           localText: "\(host):\(localPort)", redialMax: redialMax)]
        e.calls = [.init(tunnel: name, number: outgoing ? "555" : "", outgoing: outgoing)]
        return e
    }

    static func pair(lacTieBreaker: UInt64, lnsTieBreaker: UInt64, upAt: [Double] = [0, 0]) -> EndpointPair {
        EndpointPair(config(lac, peer: lns, localPort: 1701, tieBreaker: lacTieBreaker, outgoing: false),
                     config(lns, peer: lac, localPort: 1702, tieBreaker: lnsTieBreaker, outgoing: true),
                     hosts: [lac, lns], listening: [[SimAddress(lac, 1701)], [SimAddress(lns, 1701)]], upAt: upAt)
    }
}

@Suite("L2TP endpoint: routing, tie break, adoption, redial, session policy (simulated, fake clock)")
struct EndpointTests {
    typealias E = EndpointPair.E

    @Test("both open at once: one tunnel survives on both sides, the loser's calls go over the winner's", arguments: [true, false])
    func simultaneousOpen(lacLoses: Bool) throws {
        var p = Scenario.pair(lacTieBreaker: lacLoses ? 9 : 5, lnsTieBreaker: lacLoses ? 5 : 9)
        p.run(until: 20)
        let (loser, winner) = lacLoses ? (0, 1) : (1, 0)
        #expect(p.ends[0].connections.count == 1 && p.ends[1].connections.count == 1,
                "\(p.ends[0].connections.count) and \(p.ends[1].connections.count) connections")
        let w = try #require(p.established(winner).first), l = try #require(p.established(loser).first)
        // The winner's tunnel is the one it opened; the loser answered it and adopted its own tunnel's calls.
        #expect(w.spec == 0 && w.adopted == nil)
        #expect(l.spec == nil && l.adopted == 0)
        #expect(w.connection.peer.connectionID == p.ends[loser].connections.keys.first)
        #expect(p.ends[winner].dropped[.lostTieBreakSCCRQ] == 1, "\(p.ends[winner].dropped)")
        #expect(p.logs(loser).contains { $0.contains("wins the tie break") })
        // Both calls (the LAC's incoming call, the LNS's outgoing call) are up on each side, over the one tunnel.
        #expect(p.sessionsUp(0).count == 2 && p.sessionsUp(1).count == 2, "\(p.sessionsUp(0)) / \(p.sessionsUp(1))")
        #expect(w.connection.establishedSessions.count == 2 && l.connection.establishedSessions.count == 2)
        // The loser's own tunnel is not redialled while the adopted one is up.
        #expect(p.opened(loser).count == 2 && p.opened(winner).count == 1)
        #expect(p.ends[loser].dialAt.isEmpty)
    }

    /// Tools/scenarios/l2tp-ppp-isthmus.sh, seen failing now and then: the LAC's SCCRQ is lost (the LNS is not up
    /// yet) and retransmitted; the LNS comes up and dials from 1702 just after; the LAC loses the tie break to that
    /// SCCRQ and answers it, but its retransmission was already on its way, slow, and reaches the LNS after the LNS's
    /// own tunnel is up. Answering it made a second tunnel whose SCCRP went to a connection the LAC no longer had:
    /// the LNS retransmitted into nothing and gave up ~30 s later ("peer unreachable").
    @Test("a losing SCCRQ still in flight when the peer yielded is dropped, not answered with a tunnel nobody completes")
    func staleLosingSCCRQ() throws {
        var p = Scenario.pair(lacTieBreaker: 9, lnsTieBreaker: 5, upAt: [0, 3.1])
        // LAC → LNS:1701 (the LAC's SCCRQs) is slow; everything else is quick.
        p.delay = { $0.from.host == Scenario.lac && $0.to.port == 1701 ? 0.3 : 0.005 }
        p.run(until: 60)
        let unreachable = p.logs(1).filter { $0.contains("peer unreachable") }
        #expect(unreachable.isEmpty, "\(unreachable)")
        #expect(p.opened(1).count == 1, "the LNS opened \(p.opened(1).count) connections: \(p.opened(1))")
        #expect(p.ends[0].connections.count == 1 && p.ends[1].connections.count == 1)
        #expect(p.established(0).count == 1 && p.established(1).count == 1)
        #expect(p.ends[1].dropped[.lostTieBreakSCCRQ, default: 0] >= 1, "\(p.ends[1].dropped)")
        #expect(p.sessionsUp(0).count == 2 && p.sessionsUp(1).count == 2)
    }

    @Test("an SCCRQ that wins against ours, or comes long after ours was answered, is answered as before")
    func laterSCCRQsAreAnswered() throws {
        // The LNS's tunnel is up; the LAC (restarted, say) dials again 30 s later: a second tunnel, answered.
        var p = Scenario.pair(lacTieBreaker: 9, lnsTieBreaker: 5, upAt: [0, 0])
        p.run(until: 10)
        #expect(p.established(1).count == 1)
        var fresh = Scenario.config(Scenario.lac, peer: Scenario.lns, localPort: 1701, tieBreaker: 9, outgoing: false)
        fresh.listening = false
        p.ends[0] = E(fresh, now: 30, random: SeededRandom(seed: 99))
        p.sockets[0] = [:]
        p.run(until: 40)
        #expect(p.established(1).count == 2, "\(p.ends[1].connections.values.map(\.connection.state))")
    }

    @Test("adoption: when the adopted tunnel fails, the loser dials its own tunnel again")
    func adoptedTunnelFailsAndIsRedialled() throws {
        var p = Scenario.pair(lacTieBreaker: 9, lnsTieBreaker: 5)
        p.run(until: 10)
        #expect(try #require(p.established(0).first).adopted == 0)
        p.deadSide = 1
        p.run(until: 60) { $0.ends[0].connections.values.contains { $0.spec == 0 } }
        #expect(p.logs(0).contains { $0.contains("down: peer unreachable") }, "\(p.logs(0))")
        #expect(p.logs(0).contains("tunnel to-lns: redial in 1 s"), "\(p.logs(0))")
        #expect(p.ends[0].connections.values.contains { $0.spec == 0 }, "the LAC dialled to-lns again")
    }

    @Test("redial back-off: 1 s doubling up to redial_max, and reset by a tunnel that comes up")
    func redialBackoff() throws {
        var lac = Scenario.config(Scenario.lac, peer: Scenario.lns, localPort: 1701, tieBreaker: nil, outgoing: false, redialMax: 5)
        lac.listening = false
        var lns = Scenario.config(Scenario.lns, peer: Scenario.lac, localPort: 1702, tieBreaker: nil, outgoing: false)
        lns.tunnels = []
        lns.calls = []
        var p = EndpointPair(lac, lns, hosts: [Scenario.lac, Scenario.lns], listening: [[], [SimAddress(Scenario.lns, 1701)]])
        p.deadSide = 1
        func redials(_ p: EndpointPair) -> [String] {
            p.logs(0).filter { $0.hasPrefix("tunnel to-lns: redial in") }.map { String($0.dropFirst("tunnel to-lns: redial in ".count)) }
        }
        p.run(until: 300) { redials($0).count >= 5 }
        #expect(redials(p) == ["1 s", "2 s", "4 s", "5 s", "5 s"])
        // The dials themselves are that far apart from each failure.
        #expect(p.ends[0].backoff[0] == 5)
        // The peer comes back: the next dial succeeds, and the back-off is forgotten.
        p.deadSide = nil
        p.run(until: p.now + 10) { $0.established(0).count == 1 }
        #expect(p.established(0).count == 1 && p.ends[0].backoff[0] == nil)
        // It fails again: the first redial is 1 s again.
        p.deadSide = 1
        let before = redials(p).count
        p.run(until: p.now + 120) { redials($0).count > before }
        #expect(redials(p).dropFirst(before) == ["1 s"], "\(redials(p))")
    }

    @Test("a socket that cannot be opened: the dial is retried with back-off, an answer leaves nothing")
    func socketFailures() {
        var p = Scenario.pair(lacTieBreaker: 5, lnsTieBreaker: 9, upAt: [0, 100])
        p.failOpen = [0]
        p.run(until: 5)
        #expect(p.ends[0].connections.isEmpty)
        #expect(p.logs(0).filter { $0.contains("redial in") }.prefix(2) == ["tunnel to-lns: redial in 1 s", "tunnel to-lns: redial in 2 s"],
                "\(p.logs(0))")
        #expect(p.done[0].contains { if case .warn(let w) = $0.action { w == "tunnel to-lns: refused; retrying" } else { false } })
        // The LNS side: an SCCRQ arrives, the socket to answer it cannot be opened.
        var q = Scenario.pair(lacTieBreaker: 5, lnsTieBreaker: 9, upAt: [0, 0])
        q.failOpen = [1]
        q.run(until: 0.5)
        #expect(q.ends[1].connections.isEmpty && q.ends[1].dropped[.socketFailed, default: 0] >= 1, "\(q.ends[1].dropped)")
    }

    /// v3: pseudowires by name; B accepts what it has configured as asked, and refuses the rest.
    @Test("session acceptance: a configured pseudowire is accepted, an unknown one or another type refused, a second claim refused")
    func sessionAcceptance() throws {
        func v3(_ host: String, peer: String, tunnels: Bool, _ pws: [E.PseudowireSpec]) -> E.Configuration {
            var c = ControlConnection.Configuration(version: .v3, localID: 0, hostName: host)
            c.pseudowires = [L2TPProtocol.PseudowireType.ethernet, L2TPProtocol.PseudowireType.ppp]
            var e = E.Configuration(connection: c, listening: !tunnels)
            if tunnels {
                e.tunnels = [.init(name: "t", peer: SimAddress(peer, 1701), peerText: peer, local: SimAddress(host, 1701), localText: host)]
            }
            e.pseudowires = pws
            return e
        }
        let a = v3("a", peer: "b", tunnels: true, [.init(name: "pw1", tunnel: "t"), .init(name: "nope", tunnel: "t"),
                                                    .init(name: "pw2", tunnel: "t"), .init(name: "pw3", tunnel: "t", sublayer: true)])
        let b = v3("b", peer: "a", tunnels: false, [.init(name: "pw1", tunnel: nil, cookie: 4), .init(name: "pw2", tunnel: nil, ppp: true),
                                                     .init(name: "pw3", tunnel: nil)])
        var p = EndpointPair(a, b, hosts: ["a", "b"], listening: [[], [SimAddress("b", 1701)]])
        p.run(until: 5)
        #expect(p.sessionsUp(0) == ["pw1"] && p.sessionsUp(1) == ["pw1"], "\(p.sessionsUp(0)) / \(p.sessionsUp(1))")
        let downs = p.logs(0).filter { $0.contains("down:") }
        #expect(downs.contains { $0.contains("session nope down") && $0.contains("no pseudowire \"nope\" is configured here") }, "\(downs)")
        #expect(downs.contains { $0.contains("session pw2 down") && $0.contains("type = \"ppp\"") }, "\(downs)")
        #expect(downs.contains { $0.contains("session pw3 down") && $0.contains("sublayer = \"none\"") }, "\(downs)")
        // The up one carries B's 4-byte cookie; the refused ones are asked for again after 1 s.
        #expect(try #require(p.established(0).first).connection.establishedSessions.first?.peerCookie.count == 4)
        #expect(Set(p.ends[0].reopen.map(\.item)) == [1, 2, 3])
        // The policy itself: a pseudowire already up is refused; v2 takes every call.
        let claims = E.Claims(random: SeededRandom(seed: 3))
        let configured = { (n: String) in b.pseudowires.first { $0.name == n } }
        var r = SessionRequest(peerSessionID: 1, serial: 1, pseudowireType: L2TPProtocol.PseudowireType.ethernet, remoteEndID: Array("pw1".utf8),
                               peerCookie: [], l2SpecificSublayer: 0, dataSequencing: 0, outgoing: false, number: nil)
        guard case .accept(let cookie) = E.decide(r, version: .v3, pseudowire: configured, claims: claims) else {
            Issue.record("pw1 refused"); return
        }
        #expect(cookie.count == 4)
        #expect(E.decide(r, version: .v3, pseudowire: configured, claims: claims) == .reject(.permanentLackOfFacilities("pseudowire \"pw1\" is already up")))
        r.remoteEndID = []
        #expect(E.decide(r, version: .v2, pseudowire: { _ in nil }, claims: claims) == .accept(cookie: []))
    }

    @Test("routing: by connection id; what no connection takes is dropped with its reason")
    func routing() throws {
        var c = ControlConnection.Configuration(version: .v3, localID: 0, hostName: "r")
        c.secret = Array("k".utf8)
        var e = E(E.Configuration(connection: c, listening: true), now: 0, random: SeededRandom(seed: 1))
        let from = SimAddress("x", 40000), local = SimAddress("r", 1701)
        // A control header for connection 12345, which nobody has.
        let header = try ControlHeader(version: .v3, connectionID: 12345).encode(bodyLength: 0, transport: .udp)
        #expect(e.receive(header, from: from, local: local, now: 0).isEmpty)
        #expect(e.dropped == [.unknownConnectionID: 1])
        #expect(e.receive(Array(header.prefix(11)), from: from, local: local, now: 0).isEmpty)
        #expect(e.dropped[.tooShort] == 1)
        // Connection 0: a ZLB is not an SCCRQ; v2 is not spoken here; an SCCRQ needs a source address.
        let zero = try ControlHeader(version: .v3, connectionID: 0).encode(bodyLength: 0, transport: .udp)
        _ = e.receive(zero, from: from, local: local, now: 0)
        #expect(e.dropped[.notSCCRQ] == 1)
        _ = e.receive(try ControlHeader(version: .v2, connectionID: 0).encode(bodyLength: 0, transport: .udp), from: from, local: local, now: 0)
        #expect(e.dropped[.wrongVersion] == 1)
        var ci = c
        ci.localID = 77
        var initiator = ControlConnection(ci, role: .initiator, random: SeededRandom(seed: 2))
        guard case .send(let sccrq)? = initiator.start(now: 0).first else { Issue.record("no SCCRQ"); return }
        _ = e.receive(sccrq, from: nil, local: local, now: 0)
        #expect(e.dropped[.noSourceAddress] == 1)
        // The SCCRQ makes a responder, and the initiator's next message is routed to it by our id.
        let answer = e.receive(sccrq, from: from, local: local, now: 0)
        let id = try #require(e.connections.keys.first)
        #expect(answer.first == .openSocket(id, local: local, peer: from))
        var replies: [ControlConnection.Action] = []
        for case .send(_, let b) in answer { replies += initiator.receive(b, now: 0.01) }
        let scccn = replies.compactMap { if case .send(let b) = $0 { b } else { nil } }
        #expect(L2TPPeek.udp(try #require(scccn.first))?.connectionID == id)
        for b in scccn { _ = e.receive(b, from: from, local: local, now: 0.2) }
        #expect(e.connections[id]?.connection.state == .established && initiator.state == .established)
        // Data is not the endpoint's.
        _ = e.receive(V3DataHeader(sessionID: 7).encode(transport: .udp) + [0, 0, 0, 0], from: from, local: local, now: 1)
        #expect(e.dropped[.dataWithoutSession] == 1)
    }

    @Test("peek reads ids where the header has them, and never traps on any prefix")
    func peek() throws {
        let v2 = try ControlHeader(version: .v2, connectionID: 0x1234, sessionID: 0x5678).encode(bodyLength: 0, transport: .udp)
        #expect(L2TPPeek.udp(v2) == L2TPPeek(version: 2, isControl: true, connectionID: 0x1234, sessionID: 0x5678))
        let v3 = try ControlHeader(version: .v3, connectionID: 0xdead_beef).encode(bodyLength: 0, transport: .udp)
        #expect(L2TPPeek.udp(v3) == L2TPPeek(version: 3, isControl: true, connectionID: 0xdead_beef, sessionID: nil))
        let v3data = V3DataHeader(sessionID: 0x0102_0304).encode(transport: .udp)
        #expect(L2TPPeek.udp(v3data) == L2TPPeek(version: 3, isControl: false, connectionID: nil, sessionID: 0x0102_0304))
        let v2short = try V2DataHeader(tunnelID: 9, sessionID: 10).encode(payloadLength: 0)
        #expect(L2TPPeek.udp(v2short) == L2TPPeek(version: 2, isControl: false, connectionID: 9, sessionID: 10))
        let v2long = try V2DataHeader(tunnelID: 9, sessionID: 10, hasLength: true).encode(payloadLength: 0)
        #expect(L2TPPeek.udp(v2long) == L2TPPeek(version: 2, isControl: false, connectionID: 9, sessionID: 10))
        for d in [v2, v3, v3data, v2short, v2long] {
            for n in 0..<d.count { _ = L2TPPeek.udp(Array(d.prefix(n))) }
        }
        #expect(L2TPPeek.udp(Array(v3.prefix(11))) == nil && L2TPPeek.udp([0x00]) == nil)
    }

    @Test("hostile datagrams: random and mangled bytes are dropped and counted, never trap, and create nothing")
    func hostileDatagrams() throws {
        var c = ControlConnection.Configuration(version: .v3, localID: 0, hostName: "r")
        c.secret = Array("k".utf8)
        var e = E(E.Configuration(connection: c, listening: true), now: 0, random: SeededRandom(seed: 1))
        var ci = c
        ci.localID = 77
        var initiator = ControlConnection(ci, role: .initiator, random: SeededRandom(seed: 2))
        guard case .send(let sccrq)? = initiator.start(now: 0).first else { Issue.record("no SCCRQ"); return }
        var rng = SeededRandom(seed: 42)
        let local = SimAddress("r", 1701)
        var fed = 0
        for i in 0..<20_000 {
            var d: [UInt8]
            if i % 2 == 0 {
                d = (0..<rng.below(80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if !d.isEmpty && i % 4 == 0 { d[0] |= 0x80 }   // most with the T bit: the control path
            } else {
                d = sccrq   // the SCCRQ with a byte or two changed: its digest no longer verifies
                for _ in 0...rng.below(2) { d[rng.below(d.count)] ^= UInt8(1 + rng.below(255)) }
                if d == sccrq { continue }
            }
            fed += 1
            _ = e.receive(d, from: SimAddress("h\(i % 50)", UInt16(1024 + i % 1000)), local: local, now: Double(i) / 1000)
        }
        let counted = e.dropped.values.reduce(0, +)
        // A byte flip may leave an SCCRQ that still verifies only where the digest does not cover it (none here):
        // every datagram is dropped and counted, nothing is answered.
        #expect(e.connections.isEmpty, "\(e.connections.count) connections")
        #expect(counted == fed, "\(counted) counted of \(fed): \(e.dropped)")
        #expect(e.dropped[.badDigest, default: 0] > 0 && e.dropped[.unknownConnectionID, default: 0] > 0, "\(e.dropped)")
    }
}
