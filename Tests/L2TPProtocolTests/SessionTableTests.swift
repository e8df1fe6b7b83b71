@testable import L2TPProtocol
import Testing
import TestSupport

/// The connection's session table keeps indexes (setup deadlines, peer-initiated ids, sessions awaiting a reply by
/// Remote End ID) so that no per-message path walks every session. Each index must answer exactly what a walk over
/// the records would: checked here against that walk after every step of seeded random sequences of the changes a
/// connection makes (create in any state, answer, establish, re-time, remove, remove all, expire).
@Suite("L2TP session table: indexes agree with a walk over the sessions")
struct SessionTableTests {
    static func record(_ id: UInt32, peer: UInt32, end: [UInt8], local: Bool, state: SessionRecord.State,
                       deadline: Double?) -> SessionRecord {
        SessionRecord(info: SessionInfo(localID: id, peerID: peer, serial: 0, pseudowireType: PseudowireType.ethernet,
                                        remoteEndID: end, cookie: [], peerCookie: [], l2SpecificSublayer: 0,
                                        dataSequencing: 0, initiatedLocally: local, outgoing: false),
                      state: state, tieBreaker: nil, setupDeadline: deadline)
    }

    func check(_ t: SessionTable, _ step: Int) {
        let walkDeadline = t.records.values.compactMap(\.setupDeadline).min()
        #expect(t.nextSetupDeadline == walkDeadline, "step \(step)")
        for pid in UInt32(0)..<8 {
            let walk = t.records.values.contains { $0.info.peerID == pid && !$0.info.initiatedLocally }
            #expect(t.hasPeerInitiated(pid) == walk, "step \(step), peer id \(pid)")
        }
        for e in 0..<4 {
            let end = [UInt8(e)]
            let walk = t.records.filter { $0.value.state == .waitReply && $0.value.info.remoteEndID == end }.keys.min()
            #expect(t.awaitingReply(remoteEndID: end)?.id == walk, "step \(step), end \(e)")
        }
    }

    @Test("random changes, 20 seeds × 400 steps")
    func randomChanges() {
        let states: [SessionRecord.State] = [.waitReply, .waitConnect, .established]
        for seed in UInt64(1)...20 {
            var g = SeededRandom(seed: seed)
            var t = SessionTable()
            var now = 0.0
            for step in 0..<400 {
                let id = UInt32.random(in: 1...12, using: &g)
                switch Int.random(in: 0..<10, using: &g) {
                case 0...3:   // create or replace (a state change keeps or moves the deadline)
                    let state = states.randomElement(using: &g)!
                    let deadline: Double? = state == .established ? nil : now + Double(Int.random(in: 0...5, using: &g))
                    t[id] = Self.record(id, peer: UInt32.random(in: 0..<8, using: &g), end: [UInt8.random(in: 0..<4, using: &g)],
                                        local: Bool.random(using: &g), state: state, deadline: deadline)
                case 4, 5:    // establish in place, as the handlers do (read, change, write back)
                    if var s = t[id] { s.state = .established; s.setupDeadline = nil; t[id] = s }
                case 6:
                    t.removeValue(forKey: id)
                case 7, 8:    // time passes; what expired is exactly what a walk finds expired
                    now += Double(Int.random(in: 0...3, using: &g))
                    let walk = t.records.filter { ($0.value.setupDeadline ?? .infinity) <= now }.sorted {
                        ($0.value.setupDeadline!, $0.key) < ($1.value.setupDeadline!, $1.key)
                    }.map(\.key)
                    let taken = t.takeExpiredSetups(now: now)
                    #expect(taken == walk, "seed \(seed) step \(step)")
                    for id in taken { t.removeValue(forKey: id) }   // the connection clears each one it is given
                default:
                    if Int.random(in: 0..<8, using: &g) == 0 { t.removeAll() }
                }
                check(t, step)
            }
        }
    }
}
