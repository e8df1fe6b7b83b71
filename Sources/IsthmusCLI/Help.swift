import ArgumentParser
import Foundation
import IPCommand

/// Help, version and the man page. One set of texts: `isthmus help TOPIC`, `isthmus TOPIC --help`, `isthmus OBJECT
/// help`, the man page isthmus(8) and the completion scripts all read the same ones — the objects' `Usage`, the
/// argument parser's screens for the commands it parses, and the overview below.
enum Help {
    /// The package's version; `isthmus --version` adds the `git describe` of the checkout it was built from.
    static let packageVersion = "0.14.0"

    static var versionLine: String {
        "isthmus \(packageVersion)" + (buildGitDescription.isEmpty ? "" : " (git \(buildGitDescription))")
    }

    static let versionWords: Set<String> = ["-V", "--version", "-Version", "-version"]

    /// The commands the argument parser reads, in one tree so that their help screens and usage lines say
    /// `isthmus up ...` rather than `up ...`.
    struct Tree: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "isthmus",
            subcommands: [SiteCommands.Plan.self, SiteCommands.Up.self, SiteCommands.Status.self, SiteCommands.Down.self,
                          SiteCommands.ServiceCommand.self, FleetCommands.Registry.self, LabCommand.self, L2TPCommand.self])
    }

    /// The columns help screens wrap at: a terminal's 80, whatever the terminal (the man page reflows nothing).
    static let columns = 100

    static let overview = """
        Usage: isthmus [ OPTIONS ] OBJECT { COMMAND | help }
               isthmus [ OPTIONS ] -batch FILE [ -force ]
               isthmus { plan | up | status | down } --config FILE [ --site NAME ] [ -j ] ...
               isthmus service { install | uninstall } --config FILE [ --site NAME ]
               isthmus registry { status | sites | drain SITE [ --undo ] } --config FILE [ -j ]
               isthmus lab { up | check | down | status | run } FILE [ --vm ] [ -j ]
               isthmus l2tp { run | show } [ --config FILE ] [ -j ]
               isthmus help [ TOPIC ... ]
               isthmus completion { bash | zsh | fish }
               isthmus man
               isthmus { -V | --version }

        Isthmus joins separate sites into one Ethernet segment (and links Layer-3 networks) through tunnels: VXLAN,
        L2TPv3, GRETAP, GRE-in-UDP, IPIP, on the kernel's data plane or its own userspace one.

        OBJECT := { \(IPCommandRunner.objectNames.joined(separator: " | ")) }
            iproute2's command language, over netlink: write `isthmus` where you wrote `ip` (or `bridge` for fdb).
            `mtu` (what a tunnel costs in MTU, and the MSS to clamp) is Isthmus's own.

        OPTIONS := { -j | -p | -d | -s | -4 | -6 | -n NAME | -batch FILE | -force | -V }
            -j, --json          JSON output, like ip -j
            -p, --pretty        accepted for compatibility with ip -p
            -d, --details       details: a link's kind data
            -s, --stats         statistics
            -4, -6              IPv4 or IPv6 only
            -n, --netns NAME    run inside the named network namespace, like ip -n
            -b, -batch FILE     read commands from FILE (- for standard input) over one netlink socket
            -f, -force          with -batch: go on after a failed command
            -V, --version       print the version

        Sites: one TOML file describes the whole segment; each site's host loads the same file.
            plan       what `up` would change (or `down`, with --down), and the MTU arithmetic
            up         apply the config (idempotent, rolled back on failure); --foreground keeps repairing drift
            status     bridge, ports, tunnel, counters, MTU/MSS in force, filter counters, drift
            down       remove what Isthmus created for the segment on this host
            service    install or uninstall the systemd unit that runs `up --foreground` at boot
            registry   a fleet file's registry (etcd): who is registered, which agents are in sync; drain a site
        Labs: `isthmus lab` builds a network of namespaces from a lab file, checks it and tears it down.
        L2TP: `isthmus l2tp run` runs the control protocol (LAC, LNS, LCCE); `isthmus l2tp show` shows it.

        Help: `isthmus help TOPIC`, `isthmus OBJECT help` and `isthmus COMMAND --help` print a topic's usage.
            TOPIC := { \(topicNames.joined(separator: " | ")) }

        Exit status: 0 success; 1 a usage error, a failed batch or lab check; 2 a command the kernel refused;
        3 `plan --exit-code` with changes to make.
        """

    /// Every topic `isthmus help TOPIC` knows.
    static var topicNames: [String] {
        IPCommandRunner.objectNames + SiteCommands.verbs + ["lab", "completion", "man", "help"]
    }

    static let completionHelp = """
        Usage: isthmus completion { bash | zsh | fish }

        Prints the completion script for the shell; it completes objects, verbs, link kinds, interface names,
        subcommands and options by asking `isthmus` itself. Install it once, e.g.:
            isthmus completion bash > /etc/bash_completion.d/isthmus
            isthmus completion zsh  > /usr/local/share/zsh/site-functions/_isthmus
            isthmus completion fish > /etc/fish/completions/isthmus.fish
        Tools/install does this (and installs the binary and the man page).
        """

    static let manHelp = """
        Usage: isthmus man

        Prints the manual page isthmus(8) (roff), made from the same texts as this help. Install it with e.g.
            isthmus man > /usr/local/share/man/man8/isthmus.8
        or Tools/install; then `man isthmus`.
        """

    static let helpHelp = """
        Usage: isthmus help [ TOPIC ... ]
               isthmus OBJECT help
               isthmus COMMAND ... --help

        TOPIC := { \(topicNames.joined(separator: " | ")) }
        """

    /// What the words ask for, if they ask for help or the version: the text to print (standard output, exit 0).
    /// Throws when they ask for help on something that has none.
    static func request(_ words: [String]) throws -> String? {
        guard let first = words.first else { return overview }
        if versionWords.contains(first) { return versionLine }
        if Usage.helpWords.contains(first) { return try topic(Array(words.dropFirst())) }
        // `OBJECT help` and `OBJECT VERB help` as ip has them; `--help`/`-h` anywhere on a command's line.
        if IPCommandRunner.object(named: first) != nil, IPCommandRunner.isHelpRequest(words) {
            return try topic(Array(words.prefix(2)))
        }
        if words.contains(where: { $0 == "--help" || $0 == "-h" }) {
            return try topic(Array(words.prefix { !$0.hasPrefix("-") }.prefix(2)))
        }
        return nil
    }

    /// The arguments with each `-h` before an iproute2 object spelled `-human` (ip's -h[uman-readable]); `-h` alone or
    /// before anything else stays a request for help.
    static func humanReadableFlag(_ args: [String]) -> [String] {
        var i = 0
        while i < args.count, args[i].hasPrefix("-") {
            i += Completions.globalOptionsWithValue.contains(args[i]) ? 2 : 1
        }
        guard i < args.count, IPCommandRunner.object(named: args[i]) != nil else { return args }
        return args.enumerated().map { $0.offset < i && $0.element == "-h" ? "-human" : $0.element }
    }

    /// The help of one topic: `[]` the overview, `["up"]`, `["link"]`, `["l2tp", "run"]` ...
    static func topic(_ words: [String]) throws -> String {
        guard let first = words.first else { return overview }
        switch first {
        case "plan": return screen(SiteCommands.Plan.self)
        case "up": return screen(SiteCommands.Up.self)
        case "status": return screen(SiteCommands.Status.self)
        case "down": return screen(SiteCommands.Down.self)
        case "service": return screen(SiteCommands.ServiceCommand.self)
        case "registry": return screen(FleetCommands.Registry.self)
        case "lab": return screen(LabCommand.self)
        case "completion": return completionHelp
        case "man": return manHelp
        case "help": return helpHelp
        case "version": return versionLine
        default: break
        }
        if first == "l2tp" || IPCommandRunner.object(named: first)?.name == "l2tp",
           words.count > 1, words[1] == "run" || words[1] == "show" && words.count == 2 {
            return screen(L2TPCommand.self)
        }
        if let object = IPCommandRunner.object(named: first) { return object.usage }
        throw HelpFailure("help: no topic \"\(first)\"; topics: \(topicNames.joined(separator: ", "))")
    }

    /// The argument parser's help screen of one of the commands it reads, as `isthmus COMMAND`.
    static func screen(_ command: ParsableCommand.Type) -> String {
        Tree.helpMessage(for: command, columns: columns)
    }

    /// A parse error of one of those commands: the parser's message, the command's usage, where to read more.
    static func usageFailure(_ command: ParsableCommand.Type, _ name: String, _ error: Error) -> Error {
        if error is CleanExit { return HelpScreen(text: screen(command)) }
        return HelpFailure("\(name): \(command.message(for: error))\nUsage: \(Tree.usageString(for: command))\n"
                           + "See 'isthmus \(name) --help'.")
    }
}

/// A help request that could not be met (an unknown topic), or a command line its parser refused: printed to
/// standard error, exit status 1 (a usage error, as ip's).
struct HelpFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A help screen to print to standard output, exit status 0.
struct HelpScreen: Error { var text: String }

/// isthmus(8): the overview and every topic's text, as roff. Preformatted blocks keep the help's own layout.
enum ManPage {
    static func render() -> String {
        var out = [".TH ISTHMUS 8 \"\" \"\(roff(Help.versionLine))\" \"System Manager's Manual\"",
                   ".SH NAME",
                   "isthmus \\- join sites into one Ethernet segment through tunnels; iproute2's command language over netlink"]
        // The overview's parts: its usage lines are the synopsis, its first paragraph the description.
        let parts = Help.overview.components(separatedBy: "\n\n")
        out += [".SH SYNOPSIS"] + block(parts[0])
        out += [".SH DESCRIPTION"] + block(parts.dropFirst().prefix(2).joined(separator: "\n\n"))
        out += [".SH OPTIONS"] + block(parts.dropFirst(3).prefix(1).joined())
        out += [".SH OBJECTS"]
        for object in IPCommandRunner.objects { out += [".SS \(object.name)"] + block(object.usage) }
        out += [".SH SITES"] + block(parts.dropFirst(4).prefix(1).joined())
        for verb in SiteCommands.verbs {
            out += [".SS \(verb)"] + block(Help.screen(Completions.command(forSiteVerb: verb)))
        }
        out += [".SH LABS"] + block(Help.screen(LabCommand.self))
        out += [".SH L2TP AGENT"] + block(Help.screen(L2TPCommand.self))
        out += [".SH HELP, COMPLETION, VERSION"] + block(Help.helpHelp) + block(Help.completionHelp) + block(Help.manHelp)
        out += [".SH EXIT STATUS"] + block(parts.last ?? "")
        out += [".SH FILES"] + block("""
            /run/isthmus/            state: labs, userspace tunnels' status sockets, the L2TP agents' status
            /etc/systemd/system/isthmus-SEGMENT.service    the unit `isthmus service install` writes
            """)
        out += [".SH SEE ALSO", "ip(8), bridge(8), nft(8), pppd(8), xl2tpd(8)"]
        return out.joined(separator: "\n") + "\n"
    }

    /// A preformatted block: no filling, no adjusting; roff's escape and control characters made literal.
    static func block(_ text: String) -> [String] {
        [".nf"] + text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let l = roff(String(line))
            return l.hasPrefix(".") || l.hasPrefix("'") ? "\\&" + l : l
        } + [".fi"]
    }

    /// Backslashes doubled as `\e`, hyphens as `\-` (so that options copy and paste as ASCII).
    static func roff(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\e").replacingOccurrences(of: "-", with: "\\-")
    }
}
