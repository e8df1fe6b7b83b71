import L2TPProtocol
import L2TPWire
import Testing

/// What a secret mismatch looks like from each end, in the pure protocol (fake clock): the responder is told each
/// time a message fails authentication (the agent logs it, rate-limited), the initiator's give-up names the likely
/// cause, and a listener can tell an unauthentic SCCRQ before it creates anything.
@Suite struct AuthenticationFailureTests {
    @Test func v3WrongSecretIsReportedOnBothEnds() throws {
        var p = Pair(config(.v3, id: 1, host: "a", secret: "one"), config(.v3, id: 2, host: "b", secret: "two"))
        p.start()
        p.run(until: 0.01)
        // The first SCCRQ already: dropped, counted, and said.
        #expect(p.events[1] == [.authenticationFailed(.badDigest)])
        #expect(p.ends[1].state == .idle && p.sent[1].isEmpty)
        p.run(until: 120) { $0.finished(0) }
        #expect(p.closeReason(0) == .unreachable(retransmits: 5))
        #expect(p.events[1].allSatisfy { $0 == .authenticationFailed(.badDigest) } && p.events[1].count == 6)
        let cause = try #require(p.ends[0].likelyCause)
        #expect(cause.contains("shared secrets probably differ") && cause.contains("digest does not verify"))
        #expect(ControlConnection.AuthenticationFailure.badDigest.description
                == "Message Digest does not verify: the shared secrets differ or the message was altered")
    }

    @Test func likelyCauseOnlyWhenASecretCouldExplainIt() {
        // No secret: an unanswered SCCRQ is the network's doing.
        var p = Pair(config(.v3, id: 1, host: "a"), config(.v3, id: 2, host: "b"))
        p.deadSide = 1
        p.start()
        p.run(until: 120) { $0.finished(0) }
        #expect(p.closeReason(0) == .unreachable(retransmits: 5) && p.ends[0].likelyCause == nil)
        // A peer that answered and died later: not a secret mismatch.
        var q = Pair(config(.v3, id: 1, host: "a", secret: "k"), config(.v3, id: 2, host: "b", secret: "k"))
        q.start()
        q.run(until: 5) { $0.bothUp }
        q.deadSide = 1
        q.run(until: 200) { $0.finished(0) }
        #expect(q.closeReason(0) == .unreachable(retransmits: 5) && q.ends[0].likelyCause == nil)
    }

    @Test func v2HiddenAVPsWithWrongSecret() throws {
        var a = config(.v2, id: 1, host: "a", secret: "one"), b = config(.v2, id: 2, host: "b", secret: "two")
        a.hideAVPs = true
        b.hideAVPs = true
        var p = Pair(a, b)
        p.start()
        let sccrq = try #require(p.sent[0].first)
        #expect(ControlConnection.screenSCCRQ(sccrq, secret: Array("two".utf8)) == .unauthenticated(.hiddenAVP))
        #expect(ControlConnection.screenSCCRQ(sccrq, secret: nil) == .unauthenticated(.hiddenWithoutSecret))
        guard case .sccrq(.v2, 1, _) = ControlConnection.screenSCCRQ(sccrq, secret: Array("one".utf8)) else {
            Issue.record("not screened as an SCCRQ"); return
        }
        // The responder drops it (a connection that exists sees the same) and the initiator's give-up says why.
        p.run(until: 120) { $0.finished(0) }
        #expect(p.events[1].first == .authenticationFailed(.hiddenAVP))
        #expect(p.ends[0].likelyCause?.contains("hidden AVPs do not decode") == true)
    }

    @Test func screeningAV3SCCRQChecksItsDigestWithoutNonces() throws {
        var p = Pair(config(.v3, id: 1, host: "a", secret: "one"), config(.v3, id: 2, host: "b", secret: "one"))
        p.start()
        let sccrq = try #require(p.sent[0].first)
        guard case .sccrq(.v3, 1, _) = ControlConnection.screenSCCRQ(sccrq, secret: Array("one".utf8)) else {
            Issue.record("the authentic SCCRQ was not accepted"); return
        }
        #expect(ControlConnection.screenSCCRQ(sccrq, secret: Array("two".utf8)) == .unauthenticated(.badDigest))
        // Without a digest, when a secret is configured.
        var q = Pair(config(.v3, id: 1, host: "a"), config(.v3, id: 2, host: "b", secret: "one"))
        q.start()
        let plain = try #require(q.sent[0].first)
        #expect(ControlConnection.screenSCCRQ(plain, secret: Array("one".utf8)) == .unauthenticated(.missingDigest))
        // One altered byte (the Host Name) is caught too.
        var altered = sccrq
        if let i = altered.indices.last(where: { altered[$0] == UInt8(ascii: "a") }) { altered[i] = UInt8(ascii: "z") }
        #expect(ControlConnection.screenSCCRQ(altered, secret: Array("one".utf8)) == .unauthenticated(.badDigest))
        #expect(ControlConnection.screenSCCRQ([0xc8, 0x03, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0], secret: nil) == .notSCCRQ)
    }
}
