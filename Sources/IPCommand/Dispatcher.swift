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
        try obj.run(&args, session)
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
        session.pipelining = true
        var failures = 0
        var lineNo = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let location = "\(file):\(lineNo)"
            session.location = location
            do {
                let words = try splitCommandLine(String(line))
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
