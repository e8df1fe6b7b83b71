import ArgumentParser
import FleetAgent
import IPCommand
import IsthmusMetrics
import Netlink
import SiteAgent
import Sites

/// `isthmus plan|up|status|down|service ...`: the site commands. Global options that apply: `-n NETNS` (the host's
/// side lives in that namespace: labs, tests) and `-j` (JSON).
enum SiteCommands {
    static let verbs = ["plan", "up", "status", "down", "service", "registry"]

    struct Common: ParsableArguments {
        @Option(name: .long, help: "The segment's config file (TOML), the same on every site.")
        var config: String
        @Option(name: .long, help: "This host's site (default: the site whose hostname, or name, is this host's name).")
        var site: String?
        @Flag(name: [.customShort("j"), .long], help: "Print JSON.")
        var json = false
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "plan", abstract: "Show what `up` would change (or `down`, with --down), and the MTU arithmetic.")
        @OptionGroup var common: Common
        @Flag(name: .long, help: "Plan taking the segment down instead.")
        var down = false
        @Flag(name: .customLong("exit-code"), help: "Exit 3 when there are changes to make.")
        var exitCode = false
        @Flag(name: .long, help: "A fleet file: what the registry's current state would change here (a fleet file's plan always reads it).")
        var registry = false
    }

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "up", abstract: "Apply the config (idempotent; rolled back on failure).")
        @OptionGroup var common: Common
        @Flag(name: .long, help: "Stay running: repair drift every --interval seconds; take the segment down on SIGTERM/SIGINT.")
        var foreground = false
        @Option(name: .long, help: "With --foreground: seconds between drift checks.")
        var interval: Double = 30
        @Option(name: .long, help: "With --foreground: serve Prometheus metrics (GET /metrics) on ADDR:PORT ([ADDR]:PORT for IPv6), in the site's namespace.")
        var metrics: String?
        @Flag(name: .long, help: "With --foreground: debug lines in the log (every drift check, every scrape).")
        var verbose = false
        @Option(name: .customLong("fail-before"), help: .hidden)
        var failBefore: Int?
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "down", abstract: "Remove what Isthmus created for this segment on this host.")
        @OptionGroup var common: Common
        @Option(name: .customLong("fail-before"), help: .hidden)
        var failBefore: Int?
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Bridge, ports, tunnel state and counters, MTU/MSS in force, filter counters, drift, peer liveness.",
            discussion: "Exit status, to alert on: 0 healthy; 4 down (the bridge, a LAN port or the tunnel is missing or down); 5 drifted (changes pending: isthmus up applies them); 6 a peer does not answer (no ICMP echo reply to its underlay address; for L2TPv3 control, no established connection).")
        @OptionGroup var common: Common
    }

    struct ServiceCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "service", abstract: "install | uninstall the systemd unit that runs the segment at boot.")
        @Argument(help: "install or uninstall")
        var action: String
        @OptionGroup var common: Common
        @Option(name: .customLong("unit-dir"), help: "Where to write the unit.")
        var unitDirectory: String = Service.defaultDirectory
        @Flag(name: .customLong("no-enable"), help: "Write the unit only.")
        var noEnable = false
    }

    /// A command's arguments, or a usage failure that names the command and shows its usage line.
    static func parse<C: ParsableCommand>(_ command: C.Type, _ name: String, _ words: [String]) throws -> C {
        do { return try C.parse(words) } catch { throw Help.usageFailure(command, name, error) }
    }

    static func run(_ words: [String], netns: String?, json globalJSON: Bool) throws {
        let verb = words[0], rest = Array(words.dropFirst())
        func load(_ c: Common) throws -> Reconciler {
            do { return Reconciler(site: try Site.load(file: c.config, site: c.site, netns: netns)) } catch {
                throw SiteFailure(message: "\(error)")
            }
        }
        if verb == "registry" { return try FleetCommands.registry(rest, json: globalJSON) }
        // A fleet file (with [registry]): the sites come from the registry.
        if verb != "service", let i = rest.firstIndex(of: "--config").map({ $0 + 1 }) ?? rest.firstIndex(where: { $0.hasPrefix("--config=") }),
           let file = i < rest.count ? (rest[i].hasPrefix("--config=") ? String(rest[i].dropFirst(9)) : rest[i]) : nil,
           FleetHost.isFleetFile(file) {
            switch verb {
            case "plan":
                let cmd = try parse(Plan.self, "plan", rest)
                if cmd.down { throw SiteFailure(message: "plan --down on a fleet file: isthmus down takes the segment down; nothing to read from the registry") }
                try FleetCommands.plan(try FleetCommands.load(file, site: cmd.common.site, netns: netns), json: cmd.common.json || globalJSON, exitCode: cmd.exitCode)
            case "up":
                let cmd = try parse(Up.self, "up", rest)
                if cmd.metrics != nil && !cmd.foreground { throw ValidationError("--metrics needs --foreground (only the running agent serves metrics)") }
                let address = try cmd.metrics.map { text in
                    do { return try MetricsAddress.parse(text) } catch { throw ValidationError("\(error)") }
                }
                try FleetCommands.up(try FleetCommands.load(file, site: cmd.common.site, netns: netns), foreground: cmd.foreground,
                                     interval: cmd.interval, verbose: cmd.verbose, metrics: address)
            case "down":
                let cmd = try parse(Down.self, "down", rest)
                try FleetCommands.down(try FleetCommands.load(file, site: cmd.common.site, netns: netns))
            default:
                let cmd = try parse(Status.self, "status", rest)
                try FleetCommands.status(try FleetCommands.load(file, site: cmd.common.site, netns: netns), json: cmd.common.json || globalJSON)
            }
            return
        }
        do {
            switch verb {
            case "plan":
                let cmd = try parse(Plan.self, "plan", rest)
                if cmd.registry { throw SiteFailure(message: "plan --registry needs a fleet file (one with a [registry] table); \(cmd.common.config) has none") }
                let r = try load(cmd.common)
                if !cmd.down { for w in HostChecks.warnings(r.site) { stderr("warning: \(w)") } }
                let p = try r.plan(down: cmd.down)
                if cmd.common.json || globalJSON {
                    var o = JSONObject()
                    o.set("segment", r.site.config.name); o.set("site", r.site.side.site)
                    o.set("dataplane", r.site.dataplane.rawValue)
                    o.set("changes", JSON.array(p.lines.map { JSON.string($0) }))
                    print(o.json.serialized())
                } else {
                    for l in header(r.site) { print(l) }
                    print(p.isEmpty ? "no changes" : p.lines.joined(separator: "\n"))
                }
                if cmd.exitCode && !p.isEmpty { throw ExitCode(3) }
            case "up":
                let cmd = try parse(Up.self, "up", rest)
                let r = try load(cmd.common)
                r.failBefore = cmd.failBefore
                for w in r.site.config.warnings { stderr("warning: \(w)") }
                for w in HostChecks.warnings(r.site) { stderr("warning: \(w)") }
                if cmd.foreground {
                    let stats = Agent.Stats()
                    let site = r.site.config.name
                    let server = try cmd.metrics.map { text in
                        let address: MetricsAddress
                        do { address = try MetricsAddress.parse(text) } catch { throw ValidationError("\(error)") }
                        let exporter = MetricsExporter()
                        return try NetworkNamespace.with(netns) { try MetricsServer(address: address) { exporter.render(stats.samples(site: site)) } }
                    }
                    ProcessLog.shared.verbose = cmd.verbose
                    try Agent.run(r, interval: cmd.interval, stats: stats, metrics: server) { ProcessLog.shared.log($0, $1) }
                } else if cmd.metrics != nil {
                    throw ValidationError("--metrics needs --foreground (only the running agent serves metrics)")
                } else {
                    r.log = { print($0) }
                    let done = try r.up()
                    print(done.isEmpty ? "no changes: \(r.site.config.name) is up" : "\(r.site.config.name) is up (\(done.count) changes)")
                }
            case "down":
                let cmd = try parse(Down.self, "down", rest)
                let r = try load(cmd.common)
                r.failBefore = cmd.failBefore
                r.log = { print($0) }
                let done = try r.down()
                print(done.isEmpty ? "nothing to remove: \(r.site.config.name) is down" : "\(r.site.config.name) is down (\(done.count) changes)")
            case "status":
                let cmd = try parse(Status.self, "status", rest)
                let r = try load(cmd.common)
                let s = try SiteStatus.gather(r)
                if cmd.common.json || globalJSON { print(s.json.serialized()) } else { for l in s.text { print(l) } }
                // Something to alert on: 4 down, 5 drifted, 6 a peer does not answer.
                if s.health != .healthy { throw ExitCode(s.health.rawValue) }
            default:
                let cmd = try parse(ServiceCommand.self, "service", rest)
                let site = try Site.load(file: cmd.common.config, site: cmd.common.site, netns: netns)
                let lines: [String]
                switch cmd.action {
                case "install":
                    lines = try Service.install(segment: site.config.name, site: site.side.site, configPath: cmd.common.config,
                                                binary: TunnelProcesses.currentExecutable(), netns: try netns ?? Service.enclosingNamespace(),
                                                directory: cmd.unitDirectory, enable: !cmd.noEnable)
                case "uninstall":
                    lines = try Service.uninstall(segment: site.config.name, directory: cmd.unitDirectory)
                default:
                    throw SiteFailure(message: "service: unknown action \"\(cmd.action)\"; valid: install, uninstall")
                }
                for l in lines { print(l) }
            }
        } catch let e as SiteError {
            throw SiteFailure(message: e.description)
        }
    }

    /// The side and the MTU arithmetic, as `plan` prints them before the changes.
    static func header(_ site: Site) -> [String] {
        let s = site.side
        var out = ["segment \(site.config.name), site \(s.site): \(site.config.kind.rawValue) to "
                   + s.peers.map { "\($0.name) (\($0.address))" }.joined(separator: ", ")
                   + ", \(site.dataplane.rawValue) data plane" + (site.dataplaneReason.map { " (\($0))" } ?? "")]
        // Below IPv6's 1280 only unfragmented: with outer fragmentation the tunnel carries full frames.
        out += s.mtuPlan.explanation.filter { !(s.outerFragmentation && s.tunnelMTU >= 1280 && $0.contains("IPv6's minimum")) }.map { "  " + $0 }
        out.append("  tunnel MTU in use: \(s.tunnelMTU)" + (s.outerFragmentation ? " (outer fragmentation on: DF off, ignore-df where the kind has it)" : ""))
        return out
    }

    static func stderr(_ s: String) { FileHandleStderr.write(s + "\n") }
}

/// A site command's failure: printed as it is, exit status 1.
struct SiteFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
