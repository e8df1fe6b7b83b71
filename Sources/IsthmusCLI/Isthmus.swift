import ArgumentParser
import Foundation
import IPCommand
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

    @Flag(name: [.customShort("j"), .customLong("json")], help: "Print JSON, like ip -j.")
    var json = false
    @Flag(name: [.customShort("p"), .customLong("pretty")], help: "Accepted for compatibility with ip -p.")
    var pretty = false
    @Flag(name: [.customShort("d"), .customLong("details")], help: "Show details (link kind data).")
    var details = false
    @Flag(name: [.customShort("s"), .customLong("stats")], help: "Show statistics.")
    var stats = false
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

    func run() throws {
        // A parent may have started us with SIGINT/SIGTERM blocked (test runners do); they are inherited through exec,
        // by us and by every tool we start (tcpdump under `timeout` would then never stop). Undo that.
        var set = sigset_t()
        sigemptyset(&set); sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM); sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        if batch == nil, words.first == "lab" {
            do {
                let cmd = try LabCommand.parse(Array(words.dropFirst()))
                try cmd.run()
            } catch let e as LabFailure {
                FileHandleStderr.write("isthmus: \(e)\n")
                throw ExitCode(1)
            } catch let e as ExitCode {
                throw e
            } catch {
                LabCommand.exit(withError: error)
            }
            return
        }
        if batch == nil, L2TPCommand.handles(words) {
            do {
                let cmd = try L2TPCommand.parse(Array(words.dropFirst()))
                try cmd.run()
            } catch let e as L2TPFailure {
                FileHandleStderr.write("isthmus: \(e)\n")
                throw ExitCode(1)
            } catch let e as ExitCode {
                throw e
            } catch {
                L2TPCommand.exit(withError: error)
            }
            return
        }
        if batch == nil, let verb = words.first, SiteCommands.verbs.contains(verb) {
            do {
                try SiteCommands.run(words, netns: netns, json: json)
            } catch let e as SiteFailure {
                FileHandleStderr.write("isthmus: \(e)\n")
                throw ExitCode(1)
            }
            return
        }
        var o = Options()
        o.json = json; o.pretty = pretty; o.details = details; o.statistics = stats
        o.netns = netns; o.force = force
        if inet4 { o.family = UInt8(AF_INET) }
        if inet6 { o.family = UInt8(AF_INET6) }
        let session = Session(options: o)
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
            } catch {
                FileHandleStderr.write("isthmus: \(error)\n")
                flushOutput(session)
                throw ExitCode(2)
            }
        }
        flushOutput(session)
        if failed { throw ExitCode(1) }
    }

    func flushOutput(_ session: Session) {
        if json {
            if !session.output.json.isEmpty || session.output.lines.isEmpty {
                print(JSON.array(session.output.json).serialized())
            }
        } else {
            for l in session.output.lines { print(l) }
        }
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var bytes = Array(s.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
