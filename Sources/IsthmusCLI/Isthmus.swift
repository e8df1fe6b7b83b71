import ArgumentParser
import Foundation
import IPCommand
import TunnelHost
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// `isthmus [OPTIONS] OBJECT COMMAND ...` — iproute2's command language over Isthmus's netlink library.
@main
struct Isthmus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isthmus",
        abstract: "Join sites into one Ethernet segment through tunnels; drive links, addresses, routes, FDB and L2TP like iproute2.",
        discussion: """
        OBJECT is one of: \(IPCommandRunner.objectNames.joined(separator: ", ")).
        Write `isthmus` where you wrote `ip` (or `bridge` for fdb): `isthmus link add vx0 type vxlan id 100 dstport 4789`.

        Sites: isthmus plan|up|status|down --config FILE [--site NAME]; isthmus service install|uninstall --config FILE.
        Labs: isthmus lab up|check|down|status|run FILE [--vm] [-j].
        L2TP control protocol: isthmus l2tp run --config FILE; isthmus l2tp show [--config FILE] [-j].
        """
    )

    @Flag(name: [.customShort("j"), .customLong("json"), .customLong("json", withSingleDash: true)], help: "Print JSON, like ip -j.")
    var json = false
    @Flag(name: [.customShort("p"), .customLong("pretty"), .customLong("pretty", withSingleDash: true)], help: "Accepted for compatibility with ip -p.")
    var pretty = false
    @Flag(name: [.customShort("d"), .customLong("details"), .customLong("details", withSingleDash: true)], help: "Show details (link kind data).")
    var details = false
    @Flag(name: [.customShort("s"), .customLong("stats"), .customLong("stats", withSingleDash: true),
                 .customLong("statistics", withSingleDash: true)], help: "Show statistics (twice: with error details).")
    var stats: Int
    @Flag(name: [.customLong("br", withSingleDash: true), .customLong("brief", withSingleDash: true), .customLong("brief")],
          help: "Brief: one line per link with its state and addresses, like ip -br.")
    var brief = false
    @Flag(name: [.customShort("o"), .customLong("oneline", withSingleDash: true), .customLong("oneline")],
          help: "One line per record, line breaks written as \\, like ip -o.")
    var oneline = false
    @Flag(name: [.customLong("human", withSingleDash: true), .customLong("human-readable", withSingleDash: true)],
          help: "Counters in k, M, G (ip's -h before an object).")
    var human = false
    @Flag(name: [.customShort("t"), .customLong("timestamp", withSingleDash: true)], help: "monitor: a Timestamp line before each event, like ip -t.")
    var timestamp = false
    @Flag(name: [.customLong("ts", withSingleDash: true), .customLong("tshort", withSingleDash: true)],
          help: "monitor: a short [date.usec] prefix on each event, like ip -ts.")
    var timestampShort = false
    @Flag(name: [.customShort("c"), .customLong("color", withSingleDash: true)], help: "Accepted for compatibility with ip -c; output is never coloured.")
    var color = false
    @Option(name: [.customShort("n"), .customLong("netns")], help: "Run inside the named network namespace, like ip -n.")
    var netns: String?
    @Option(name: [.customLong("batch", withSingleDash: true), .customShort("b")], help: "Read commands from FILE (- for stdin), one netlink socket for all.")
    var batch: String?
    @Flag(name: [.customLong("force", withSingleDash: true), .customShort("f")], help: "With -batch: do not stop at the first error.")
    var force = false
    @Flag(name: .customShort("4"), help: "IPv4 only.")
    var inet4 = false
    @Flag(name: .customShort("6"), help: "IPv6 only.")
    var inet6 = false

    @Argument(parsing: .captureForPassthrough, help: "OBJECT COMMAND [ARGS...]")
    var words: [String] = []

    /// ip's `-h` is -human-readable when an object follows (`isthmus -h -s link`), help otherwise: the arguments are
    /// read with that `-h` spelled `-human`.
    static func main() {
        main(Help.humanReadableFlag(Array(CommandLine.arguments.dropFirst())))
    }

    func run() throws {
        // A parent may have started us with SIGINT/SIGTERM blocked (test runners do); they are inherited through exec,
        // by us and by every tool we start (tcpdump under `timeout` would then never stop). Undo that.
        var set = sigset_t()
        sigemptyset(&set); sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM); sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        if batch == nil, try Self.reportingFailures({ try answerHelp() }) == true { return }
        if batch == nil, words.first == "lab" {
            try Self.reportingFailures {
                var cmd: LabCommand
                do { cmd = try LabCommand.parse(Array(words.dropFirst())) } catch { throw Help.usageFailure(LabCommand.self, "lab", error) }
                cmd.json = cmd.json || json   // the global -j, as for every other command
                try cmd.run()
            }
            return
        }
        if batch == nil, L2TPCommand.handles(words) {
            try Self.reportingFailures {
                var cmd: L2TPCommand
                do { cmd = try L2TPCommand.parse(Array(words.dropFirst())) } catch { throw Help.usageFailure(L2TPCommand.self, "l2tp", error) }
                cmd.json = cmd.json || json
                try cmd.run()
            }
            return
        }
        if batch == nil, let verb = words.first, SiteCommands.verbs.contains(verb) {
            try Self.reportingFailures { try SiteCommands.run(words, netns: netns, json: json) }
            return
        }
        var o = Options()
        o.json = json; o.pretty = pretty; o.details = details; o.statistics = stats
        o.brief = brief; o.oneline = oneline; o.human = human
        o.timestamp = timestampShort ? 2 : timestamp ? 1 : 0
        o.netns = netns; o.force = force
        if inet4 { o.family = UInt8(AF_INET) }
        if inet6 { o.family = UInt8(AF_INET6) }
        let session = Session(options: o)
        session.tunnelRunner = TunnelRun.run
        var failed = false
        if let batch {
            // Bytes, not text: a line that is not UTF-8 or holds a NUL is refused by the runner, naming its line.
            let bytes: [UInt8]
            if batch == "-" {
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
            } else {
                // A FileHandle reads pipes too (`-batch /dev/stdin`, `-batch <(...)`), as ip -batch does.
                guard let h = FileHandle(forReadingAtPath: batch), let d = try? h.readToEnd() ?? Data() else {
                    throw ValidationError("-batch: cannot read \"\(batch)\"")
                }
                bytes = Array(d)
            }
            let failures = IPCommandRunner.runBatch(bytes: bytes, file: batch == "-" ? "stdin" : batch, session: session) {
                FileHandleStderr.write("isthmus: \($0)\n")
            }
            failed = failures > 0
        } else {
            do {
                try IPCommandRunner.run(words, session: session)
            } catch let e as HelpRequested {
                print(e.text)
                return
            } catch let e as NetnsExec {
                flushOutput(session)
                do { try NetworkNamespace.exec(e.name, e.command) } catch {
                    FileHandleStderr.write("isthmus: \(error)\n")
                    throw ExitCode(error is NamespaceError ? 255 : 1)
                }
            } catch {
                FileHandleStderr.write("isthmus: \(error)\n")
                flushOutput(session, failed: true)
                // As ip: 2 when the kernel refused the request, 1 for what was wrong with the words.
                throw ExitCode(error is NetlinkError ? 2 : 1)
            }
        }
        flushOutput(session, failed: failed)
        if failed { throw ExitCode(1) }
    }

    /// What the command printed. With -j a failed command that produced nothing prints nothing, not `[]` (as ip).
    /// Completion, the man page, help and the version: printed, and true, when the words ask for one of them.
    func answerHelp() throws -> Bool {
        if words.first == "__complete" {
            for c in Completions.candidates(Array(words.dropFirst())) { print(c) }
            return true
        }
        if words.first == "completion" {
            guard words.count == 2 else { throw HelpFailure(Help.completionHelp) }
            print(try Completions.script(words[1]), terminator: "")
            return true
        }
        if words == ["man"] { print(ManPage.render(), terminator: ""); return true }
        if let text = try Help.request(words) { print(text); return true }
        return false
    }

    func flushOutput(_ session: Session, failed: Bool = false) {
        if json {
            if !session.output.json.isEmpty || (session.output.lines.isEmpty && !failed) {
                print(JSON.array(session.output.json).serialized())
            }
        } else {
            for l in session.output.lines { print(l) }
        }
    }
}

/// A command's own failure (not the argument parser's): printed as `isthmus: MESSAGE`, exit status 1.
protocol CLIFailure: Error, CustomStringConvertible {}
extension LabFailure: CLIFailure {}
extension L2TPFailure: CLIFailure {}
extension SiteFailure: CLIFailure {}
extension HelpFailure: CLIFailure {}

extension Isthmus {
    /// Runs one of the commands the argument parser reads: its failures are said as every other `isthmus: ...`
    /// error is (exit 1), a help screen it was asked for is printed (exit 0).
    @discardableResult
    static func reportingFailures<T>(_ body: () throws -> T) throws -> T? {
        do { return try body() } catch let e as CLIFailure {
            FileHandleStderr.write("isthmus: \(e)\n")
            throw ExitCode(1)
        } catch let e as HelpScreen {
            print(e.text)
            return nil
        }
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var bytes = Array(s.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
