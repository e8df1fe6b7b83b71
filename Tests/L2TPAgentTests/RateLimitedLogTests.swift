import Testing
@testable import L2TPAgent

@Suite("L2TP agent: the rate-limited log of dropped messages")
struct RateLimitedLogTests {
    @Test("the log's rate limit: one line per address per interval, summaries of the rest, a bounded table")
    func rateLimitedLog() {
        var r = RateLimitedLog(interval: 10, capacity: 4)
        #expect(r.note("a", "first", about: "x", now: 0) == "first")
        for t in 1...5 { #expect(r.note("a", "again", about: "x", now: Double(t)) == nil) }
        #expect(r.summaries(now: 9).isEmpty)
        #expect(r.summaries(now: 10) == ["a: 5 more x (suppressed, 10 s)"])
        #expect(r.note("a", "third", about: "x", now: 12) == nil)
        #expect(r.note("a", "fourth", about: "x", now: 21) == "fourth (and 1 more like it suppressed since the last line)")
        // Many addresses: the table holds `capacity`; the others are counted together.
        for i in 0..<1000 { _ = r.note("p\(i)", "line", about: "x", now: 22) }
        #expect(r.entries.count == 4)
        #expect(r.overflow == 997)
        let s = r.summaries(now: 40)
        #expect(s.contains { $0.hasPrefix("997 more lines about other addresses") }, "\(s)")
        // Quiet addresses are forgotten.
        #expect(r.summaries(now: 60).isEmpty)
        #expect(r.entries.isEmpty)
    }
}
