import Netlink
import NetlinkWire

/// One iproute2 object ("link", "address", ...): its name, accepted abbreviations and entry point.
public struct ObjectCommand: Sendable {
    public var name: String
    /// The verbs it takes (`add`, `show`, ...), for completion.
    public var verbs: [String]
    public var aliases: [String]
    /// What `isthmus OBJECT help` prints (Usage).
    public var usage: String
    public var run: @Sendable (inout Arguments, Session) throws -> Void
}

/// Parses and runs iproute2-style commands (`link add ...`) and `-batch` files against a Session.
public enum IPCommandRunner {
    public static let objects: [ObjectCommand] = [
        ObjectCommand(name: "link", verbs: LinkCommand.verbs, aliases: ["l", "li", "lin"], usage: Usage.link, run: LinkCommand.run),
        ObjectCommand(name: "address", verbs: AddressCommand.verbs, aliases: ["a", "ad", "add", "addr", "addre", "addres"], usage: Usage.address, run: AddressCommand.run),
        ObjectCommand(name: "route", verbs: RouteCommand.verbs, aliases: ["r", "ro", "rou", "rout"], usage: Usage.route, run: RouteCommand.run),
        ObjectCommand(name: "rule", verbs: RuleCommand.verbs, aliases: ["ru", "rul"], usage: Usage.rule, run: RuleCommand.run),
        ObjectCommand(name: "neighbour", verbs: NeighbourCommand.verbs, aliases: ["n", "ne", "nei", "neigh", "neighbor", "neighb", "neighbo"], usage: Usage.neighbour, run: NeighbourCommand.run),
        ObjectCommand(name: "fdb", verbs: FDBCommand.verbs, aliases: ["f", "fd"], usage: Usage.fdb, run: FDBCommand.run),
        ObjectCommand(name: "l2tp", verbs: L2TPCommand.verbs + ["run"], aliases: ["l2", "l2t"], usage: Usage.l2tp, run: L2TPCommand.run),
        ObjectCommand(name: "tunnel", verbs: TunnelCommand.verbs, aliases: ["t", "tu", "tun", "tunn", "tunne"], usage: Usage.tunnel, run: TunnelCommand.run),
        ObjectCommand(name: "tuntap", verbs: TunTapCommand.verbs, aliases: ["tunt", "tunta", "tap"], usage: Usage.tuntap, run: TunTapCommand.run),
        ObjectCommand(name: "vlan", verbs: VLANCommand.verbs, aliases: ["vl", "vla"], usage: Usage.vlan, run: VLANCommand.run),
        ObjectCommand(name: "monitor", verbs: MonitorCommand.objects, aliases: ["mo", "mon", "moni", "monit", "monito"], usage: Usage.monitor, run: MonitorCommand.run),
        ObjectCommand(name: "netns", verbs: NetnsCommand.verbs, aliases: ["netn", "net"], usage: Usage.netns, run: NetnsCommand.run),
        ObjectCommand(name: "xfrm", verbs: ["state", "policy"], aliases: ["x", "xf", "xfr"], usage: Usage.xfrm, run: XFRMCommand.run),
        // Isthmus's own, not iproute2's:
        ObjectCommand(name: "mtu", verbs: MTUCommand.kinds, aliases: [], usage: Usage.mtu, run: MTUCommand.run),
    ]

    public static var objectNames: [String] { objects.map(\.name) }

    public static func object(named word: String) -> ObjectCommand? {
        objects.first { $0.name == word || $0.aliases.contains(word) }
    }

    /// Runs one command line (the words after the global options).
    public static func run(_ words: [String], session: Session) throws {
        var args = Arguments(words)
        guard let word = args.next() else {
            throw UsageError("no object given; valid: \(objectNames.joined(separator: ", "))")
        }
        guard let obj = object(named: word) else {
            throw UsageError.unknown(word, in: "", validChoices: objectNames)
        }
        if isHelpRequest(words) { throw HelpRequested(obj.usage) }
        do {
            try obj.run(&args, session)
        } catch let e as WireLengthError {
            throw tooLong(e, words: words)
        } catch var e as UsageError {
            // Whatever the message, a long word in it is shown cut (Arguments.shortened), not pages of it.
            // Longest first: a shorter long word may be part of a longer one, which must be found whole.
            for w in Set(words).sorted(by: { $0.utf8.count > $1.utf8.count }) where w.unicodeScalars.count > 64 {
                e.message = replacingAll(w, with: Arguments.shortened(w), in: e.message)
            }
            throw e
        }
    }

    /// A request that could not be encoded, explained in terms of the command line: the word too long for a netlink
    /// attribute (a string's NUL counts) when there is one, else the request as a whole. Nothing was sent.
    static func tooLong(_ e: WireLengthError, words: [String]) -> UsageError {
        if let word = words.max(by: { $0.utf8.count < $1.utf8.count }), word.utf8.count + 1 >= e.length,
           e.attributeType != nil {
            return UsageError.wrong(word, "too long (\(word.utf8.count) bytes): a netlink attribute holds at most \(e.limit) bytes")
        }
        return UsageError("the request is too long to send: \(e)")
    }

    /// `OBJECT help`, `OBJECT VERB help`, or `-h`/`--help` last on an object's line: the words ask for the object's
    /// usage. (`help` elsewhere may be a name, as in ip.)
    public static func isHelpRequest(_ words: [String]) -> Bool {
        guard words.count >= 2, let last = words.last, Usage.helpWords.contains(last) else { return false }
        return last != "help" || words.count <= 3
    }

    /// Runs one command line (`link set eth0 up`) and waits for the kernel's answer to everything it sent.
    public static func run(line: String, session: Session) throws {
        try run(try splitCommandLine(line), session: session)
        try session.flush()
    }

    /// Runs a batch of lines over one netlink socket, like `ip -batch`: mutating requests are pipelined,
    /// many per sendmsg. Returns the number of failed commands. Without -force the first failure stops the batch.
    public static func runBatch(_ text: String, file: String, session: Session, report: (String) -> Void) -> Int {
        runBatch(bytes: Array(text.utf8), file: file, session: session, report: report)
    }

    /// `runBatch` over the file's bytes: a line (ending at "\n"; a "\r" before it is whitespace) that holds a NUL
    /// or is not UTF-8 is a failed command naming where, as iproute2 cannot take such a line as written either.
    public static func runBatch(bytes: [UInt8], file: String, session: Session, report: (String) -> Void) -> Int {
        session.pipelining = true
        var failures = 0
        var lineNo = 0
        // A line ending in a backslash goes on on the next one (ip's getcmdline); the command is named by its first
        // line.
        var pending: [UInt8] = []
        var firstLine = 0
        for physical in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            var line = physical
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if pending.isEmpty { firstLine = lineNo }
            if line.last == UInt8(ascii: "\\") {
                pending += line.dropLast() + [UInt8(ascii: " ")]
                continue
            }
            let raw = pending.isEmpty ? physical : ArraySlice(pending + physical)
            pending = []
            let location = "\(file):\(firstLine)"
            session.location = location
            do {
                let words = try splitCommandLine(try batchLine(raw))
                if words.isEmpty { continue }
                try run(words, session: session)
            } catch {
                failures += 1
                report(error is LocatedError ? "\(error)" : "\(location): \(error)")
                if !session.options.force { return failures }
            }
        }
        do { try session.flush() } catch {
            failures += 1
            report("\(error)")
        }
        // With -force, deferred errors were collected rather than thrown.
        if session.options.force {
            for (loc, e) in session.deferredErrors { failures += 1; report("\(loc ?? file): \(e)") }
        }
        return failures
    }
}

/// `text` with every occurrence of `word` replaced, in time linear in both (Knuth-Morris-Pratt over UTF-8: the words
/// are up to megabytes of one repeated letter, where a naive search is quadratic). A valid UTF-8 word starts and
/// ends on scalar boundaries, so so does every match.
func replacingAll(_ word: String, with replacement: String, in text: String) -> String {
    let p = Array(word.utf8), t = Array(text.utf8)
    guard !p.isEmpty, t.count >= p.count else { return text }
    var fail = [Int](repeating: 0, count: p.count)
    var k = 0
    for i in 1..<p.count {
        while k > 0 && p[i] != p[k] { k = fail[k - 1] }
        if p[i] == p[k] { k += 1 }
        fail[i] = k
    }
    var out: [UInt8] = []
    out.reserveCapacity(t.count)
    var copied = 0
    k = 0
    for i in 0..<t.count {
        while k > 0 && t[i] != p[k] { k = fail[k - 1] }
        if t[i] == p[k] { k += 1 }
        if k == p.count {
            out += t[copied..<(i + 1 - p.count)]
            out += replacement.utf8
            copied = i + 1
            k = 0
        }
    }
    if copied == 0 { return text }
    out += t[copied...]
    return String(decoding: out, as: UTF8.self)
}

/// One batch line's bytes as text: refused when it holds a NUL (a C string, so iproute2, would end there) or is not
/// UTF-8, naming the column (1-based byte offset).
func batchLine(_ raw: ArraySlice<UInt8>) throws -> String {
    if let nul = raw.firstIndex(of: 0) {
        throw UsageError("the line holds a NUL byte at column \(nul - raw.startIndex + 1)")
    }
    guard let line = String(validating: raw, as: UTF8.self) else {
        var valid = raw.startIndex
        var it = raw.makeIterator()
        var decoder = UTF8()
        decoding: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let c): valid += UTF8.width(c)
            case .emptyInput, .error: break decoding
            }
        }
        throw UsageError("the line is not UTF-8 text (column \(valid - raw.startIndex + 1))")
    }
    return line
}

/// Helpers shared by object commands.
extension Arguments {
    /// Reads the verb of an object ("add", "del", ...), defaulting to `defaultVerb` when none is given.
    public mutating func verb(_ verbs: [String], default defaultVerb: String) throws -> String {
        guard let w = next() else { return defaultVerb }
        if w == "help" { throw UsageError("usage: valid commands: \(verbs.joined(separator: ", "))") }
        guard let v = Arguments.match(w, verbs) else {
            throw UsageError.unknown(w, in: context.split(separator: " ").dropLast().joined(separator: " "), validChoices: verbs)
        }
        return v
    }
}
