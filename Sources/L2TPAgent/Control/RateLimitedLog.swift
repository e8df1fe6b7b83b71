/// Log lines about what a peer address sends, rate-limited so that a flood cannot flood the log: at most one line
/// per address per `interval`; what is held back is counted and summed up in one line per address and interval
/// ("N more ... suppressed"). The table of addresses is bounded (`capacity`): addresses beyond it are only counted,
/// together, and summed up the same way. Pure: the caller gives the time and logs what comes back.
struct RateLimitedLog {
    struct Entry {
        var last: Double
        var suppressed = 0
        /// What the suppressed lines were about (the last one's subject).
        var about: String
    }

    let interval: Double
    let capacity: Int
    private(set) var entries: [String: Entry] = [:]
    /// Lines about addresses that found the table full, since `overflowSince`.
    private(set) var overflow = 0
    var overflowSince = 0.0

    init(interval: Double = 10, capacity: Int = 64) {
        self.interval = interval
        self.capacity = capacity
    }

    /// The line to log now about `key` (a peer address), or nil when it is held back. `about` names what is
    /// summed up for the key later ("SCCRQs dropped: Message Digest does not verify...").
    mutating func note(_ key: String, _ line: String, about: String, now: Double) -> String? {
        if var e = entries[key] {
            guard now - e.last >= interval else {
                e.suppressed += 1
                e.about = about
                entries[key] = e
                return nil
            }
            let more = e.suppressed
            entries[key] = Entry(last: now, about: about)
            return more == 0 ? line : "\(line) (and \(more) more like it suppressed since the last line)"
        }
        if entries.count >= capacity {
            // Addresses that have been quiet for an interval and have nothing to report make room.
            for (k, e) in entries where now - e.last >= interval && e.suppressed == 0 { entries[k] = nil }
        }
        guard entries.count < capacity else {
            if overflow == 0 { overflowSince = now }
            overflow += 1
            return nil
        }
        entries[key] = Entry(last: now, about: about)
        return line
    }

    /// The summaries due now: one per address with suppressed lines whose interval is over (its entry then starts
    /// a new interval; a quiet one is forgotten), and one for the addresses that did not fit.
    mutating func summaries(now: Double) -> [String] {
        guard !entries.isEmpty || overflow > 0 else { return [] }   // the usual case, on every turn of the loop
        var out: [String] = []
        for (k, e) in entries.sorted(by: { $0.key < $1.key }) where now - e.last >= interval {
            if e.suppressed > 0 {
                out.append("\(k): \(e.suppressed) more \(e.about) (suppressed, \(Self.seconds(now - e.last)) s)")
                entries[k] = Entry(last: now, about: e.about)
            } else {
                entries[k] = nil
            }
        }
        if overflow > 0, now - overflowSince >= interval {
            out.append("\(overflow) more lines about other addresses suppressed in \(Self.seconds(now - overflowSince)) s "
                       + "(\(capacity) addresses are being tracked)")
            overflow = 0
        }
        return out
    }

    static func seconds(_ d: Double) -> String { "\(Int(d.rounded()))" }
}
