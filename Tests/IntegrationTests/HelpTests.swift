import Foundation
import IPCommand
import Testing

/// The first minutes of a new user: help, version, the man page and shell completion, through the built binary.
@Suite("Help, version, man page, completion", .enabled(if: Host.isthmusBinary != nil, "needs the built isthmus binary"))
struct HelpTests {
    static var binary: String { Host.isthmusBinary ?? "isthmus" }

    /// Runs the binary; standard output and standard error apart.
    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test("isthmus, --help, -h and help print the overview with every object, command and option; exit 0",
          arguments: [[], ["--help"], ["-h"], ["help"], ["-j", "--help"]])
    func overview(_ args: [String]) throws {
        let r = try Self.run(args)
        #expect(r.status == 0, "\(args): \(r.err)")
        #expect(r.err.isEmpty, "\(r.err)")
        #expect(r.out.hasPrefix("Usage: isthmus [ OPTIONS ] OBJECT"), "\(r.out)")
        for word in IPCommandRunner.objectNames + ["plan", "up", "status", "down", "service", "lab", "l2tp run",
                                                   "completion", "--version", "-batch", "--netns", "Exit status"] {
            #expect(r.out.contains(word), "\(args): overview lacks \(word)")
        }
    }

    /// Each command: its own usage with every option it takes, from `COMMAND --help`, `help COMMAND` and (for the
    /// iproute2 objects) `OBJECT help`, never the overview.
    @Test("every command has its own help with all its options", arguments: [
        (["plan"], "USAGE: isthmus plan", ["--config", "--site", "--down", "--exit-code", "--json"]),
        (["up"], "USAGE: isthmus up", ["--config", "--site", "--foreground", "--interval", "--metrics", "--verbose", "-j"]),
        (["status"], "USAGE: isthmus status", ["--config", "--site", "--json"]),
        (["down"], "USAGE: isthmus down", ["--config", "--site"]),
        (["service"], "USAGE: isthmus service", ["install", "--unit-dir", "--no-enable", "--config"]),
        (["lab"], "USAGE: isthmus lab", ["--vm", "--only", "--json", "check"]),
        (["l2tp", "run"], "USAGE: isthmus l2tp", ["--config", "--status", "--json", "--metrics", "--verbose", "StopCCN"]),
        (["tunnel", "run"], "Usage: isthmus tunnel", ["tunnel run NAME", "type KIND", "vxlan", "l2tpv3", "mtu MTU", "metrics ADDR:PORT", "verbose"]),
        (["mtu"], "Usage: isthmus mtu", ["underlay", "lan", "cookie", "gretap", "gre-in-udp"]),
        (["link"], "Usage: isthmus link", ["add", "delete", "set", "show", "type TYPE", "vxlan", "master"]),
        (["address"], "Usage: isthmus address", ["add", "flush", "valid_lft", "noprefixroute"]),
        (["route"], "Usage: isthmus route", ["via", "table", "nexthop", "get"]),
        (["neighbour"], "Usage: isthmus neighbour", ["lladdr", "nud", "flush"]),
        (["fdb"], "Usage: isthmus fdb", ["append", "dst", "vni"]),
        (["l2tp"], "Usage: isthmus l2tp", ["add tunnel", "add session", "run --config"]),
        (["tuntap"], "Usage: isthmus tuntap", ["mode", "multi_queue"]),
        (["netns"], "Usage: isthmus netns", ["add NAME", "exec NAME", "pids", "identify", "list-id"]),
        (["xfrm"], "Usage: isthmus xfrm", ["state", "policy", "aead", "auth-trunc", "tmpl", "encap", "nokeys", "count"]),
    ] as [([String], String, [String])])
    func commandHelp(_ command: [String], _ usage: String, _ options: [String]) throws {
        var forms = [command + ["--help"], command + ["-h"], ["help"] + command]
        if IPCommandRunner.object(named: command[0]) != nil, command.count == 1 { forms.append(command + ["help"]) }
        if command == ["up"] { forms.append(["up", "--config", "x.toml", "--help"]) }
        for args in forms {
            let r = try Self.run(args)
            #expect(r.status == 0, "\(args): \(r.err)")
            #expect(r.out.contains(usage), "\(args): \(r.out)")
            #expect(!r.out.contains("Usage: isthmus [ OPTIONS ] OBJECT"), "\(args) printed the overview")
            for o in options { #expect(r.out.contains(o), "\(args): help lacks \(o)") }
        }
    }

    @Test("-V and --version print the package version and the git commit built")
    func version() throws {
        for flag in ["-V", "--version", "-Version"] {
            let r = try Self.run([flag])
            #expect(r.status == 0)
            #expect(r.out.hasPrefix("isthmus 0."), "\(r.out)")
            // The commit the binary was built from (a later commit leaves it behind until the next build): one of
            // this repository's.
            if Host.which("git"), try Host.run(["git", "-C", Host.repoRoot.path, "rev-parse", "HEAD"]).status == 0 {
                let described = r.out.split(separator: "(git ").last.map { $0.prefix { $0 != ")" } } ?? ""
                let commit = described.split(separator: "-").first { $0.count >= 7 && $0.allSatisfy(\.isHexDigit) }.map(String.init) ?? ""
                #expect(!commit.isEmpty, "\(r.out) names no commit")
                let known = try Host.run(["git", "-C", Host.repoRoot.path, "rev-parse", "--verify", "--quiet", commit + "^{commit}"])
                #expect(known.status == 0, "\(r.out): \(commit) is not a commit of this repository")
            }
        }
    }

    @Test("usage errors name the command, show its usage and point to a help that exists; exit 1")
    func usageErrors() throws {
        for (args, name) in [(["up"], "up"), (["plan", "--confg", "x"], "plan"), (["lab", "up"], "lab"),
                             (["l2tp", "run", "--bogus"], "l2tp")] {
            let r = try Self.run(args)
            #expect(r.status == 1, "\(args): \(r.status)")
            #expect(r.err.hasPrefix("isthmus: \(name): ") && r.err.contains("Usage: isthmus \(name)"), "\(r.err)")
            #expect(r.err.contains("See 'isthmus \(name) --help'."), "\(r.err)")
            #expect(try Self.run([name, "--help"]).status == 0)
        }
        let unknown = try Self.run(["help", "frobnicate"])
        #expect(unknown.status == 1)
        #expect(unknown.err.contains("no topic \"frobnicate\"") && unknown.err.contains("link, address"), "\(unknown.err)")
    }

    @Test("the man page is valid roff with every object and command")
    func manPage() throws {
        let r = try Self.run(["man"])
        #expect(r.status == 0)
        #expect(r.out.hasPrefix(".TH ISTHMUS 8 "), "\(r.out.prefix(80))")
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OBJECTS", "SITES", "LABS", "EXIT STATUS", "SEE ALSO"] {
            #expect(r.out.contains(".SH \(section)"), "no section \(section)")
        }
        for name in IPCommandRunner.objectNames + ["plan", "up", "status", "down", "service"] {
            #expect(r.out.contains(".SS \(name)\n"), "no subsection \(name)")
        }
        // No line that roff would take as a request it does not know; groff warns about everything else.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-man-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("isthmus.8")
        try Data(r.out.utf8).write(to: page)
        if Host.which("groff") {
            let g = try Host.run(["groff", "-man", "-Tutf8", "-ww", "-z", page.path])
            #expect(g.status == 0 && g.output.isEmpty, "groff: \(g.output)")
            let text = try Host.run(["sh", "-c", "groff -man -Tutf8 -P-c \(page.path) | col -b"])
            #expect(text.output.contains("isthmus link add") && text.output.contains("--foreground"), "\(text.output.prefix(400))")
        }
    }

    /// What the bash script offers for a command line whose last word is being typed.
    static func bashComplete(_ words: [String]) throws -> [String] {
        let script = try Self.run(["completion", "bash"])
        #expect(script.status == 0)
        let quoted = ([Self.binary] + words).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let line = script.out + "\nCOMP_WORDS=(\(quoted.joined(separator: " "))); COMP_CWORD=\(words.count); _isthmus; "
            + "printf '%s\\n' \"${COMPREPLY[@]}\""
        let r = try Host.run(["bash", "--norc", "--noprofile", "-c", line])
        #expect(r.status == 0, "\(r.output)")
        return r.output.split(separator: "\n").map(String.init)
    }

    @Test("bash completion knows objects, verbs, link kinds, interfaces, commands and their options")
    func bash() throws {
        #expect(try Self.bashComplete(["li"]) == ["link"])
        #expect(try Self.bashComplete(["u"]) == ["up"])
        #expect(try Self.bashComplete(["-j", "ro"]) == ["route"])
        #expect(try Self.bashComplete(["link", "a"]) == ["add"])
        let kinds = try Self.bashComplete(["link", "add", "vx0", "type", ""])
        #expect(kinds.contains("vxlan") && kinds.contains("bridge") && kinds.contains("gretap"), "\(kinds)")
        #expect(try Self.bashComplete(["link", "add", "vx0", "type", "vx"]) == ["vxlan"])
        #expect(try Self.bashComplete(["link", "set", "dev", ""]).contains("lo"))
        #expect(try Self.bashComplete(["tunnel", "run", "t0", "type", "l2"]) == ["l2tpv3", "l2tp-control"])
        #expect(try Self.bashComplete(["tunnel", "run", "t0", "me"]) == ["metrics"])
        #expect(try Self.bashComplete(["up", "--me"]) == ["--metrics"])
        #expect(try Self.bashComplete(["mtu", "gre"]) == ["gretap", "gre-in-udp", "gre"])
        #expect(try Self.bashComplete(["up", "--fo"]) == ["--foreground"])
        #expect(try Self.bashComplete(["plan", "--ex"]) == ["--exit-code"])
        #expect(try Self.bashComplete(["lab", "ch"]) == ["check"])
        #expect(try Self.bashComplete(["help", "tun"]) == ["tunnel", "tuntap"])
        #expect(try Self.bashComplete(["completion", ""]) == ["bash", "zsh", "fish"])
        #expect(try Self.bashComplete(["netns", "ex"]) == ["exec"])
        // A file name after --config (the shell's own file completion).
        let files = try Self.bashComplete(["up", "--config", Host.repoRoot.appendingPathComponent("examples/two-sites.t").path])
        #expect(files == [Host.repoRoot.appendingPathComponent("examples/two-sites.toml").path], "\(files)")
    }

    @Test("zsh and fish scripts load; fish completes through isthmus")
    func otherShells() throws {
        let zsh = try Self.run(["completion", "zsh"])
        #expect(zsh.status == 0 && zsh.out.hasPrefix("#compdef isthmus"))
        if Host.which("zsh") {
            let r = try Host.run(["zsh", "-n", "-c", zsh.out])
            #expect(r.status == 0, "zsh: \(r.output)")
        }
        let fish = try Self.run(["completion", "fish"])
        #expect(fish.status == 0 && fish.out.contains("complete -c isthmus"))
        if Host.which("fish") {
            // fish resolves `isthmus` through PATH: a directory with only a link to the binary under test.
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-fish-\(getpid())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("isthmus").path, withDestinationPath: Self.binary)
            let script = dir.appendingPathComponent("isthmus.fish")
            try Data(fish.out.utf8).write(to: script)
            let r = try Host.run(["env", "PATH=\(dir.path):/usr/bin:/bin", "HOME=\(dir.path)", "fish", "--no-config", "-c",
                                  "source \(script.path); complete -C'isthmus link add x type vx'; complete -C'isthmus li'"])
            #expect(r.status == 0, "fish: \(r.output)")
            let words = r.output.split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
            #expect(words == ["vxlan", "link"], "fish: \(r.output)")
        }
        let bad = try Self.run(["completion", "tcsh"])
        #expect(bad.status == 1 && bad.err.contains("valid: bash, zsh, fish"), "\(bad.err)")
    }

    @Test("Tools/install puts the binary, the man page and the three completions under a prefix")
    func install() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-install-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Host.run([Host.repoRoot.appendingPathComponent("Tools/install").path, "--prefix", dir.path, "--binary", Self.binary])
        #expect(r.status == 0, "\(r.output)")
        for f in ["sbin/isthmus", "share/man/man8/isthmus.8", "share/bash-completion/completions/isthmus",
                  "share/zsh/site-functions/_isthmus", "share/fish/vendor_completions.d/isthmus.fish"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) missing")
        }
        if Host.which("man") {
            let page = try Host.run(["env", "MANPATH=\(dir.path)/share/man", "MANPAGER=cat", "man", "-P", "cat", "isthmus"])
            #expect(page.status == 0 && page.output.contains("ISTHMUS(8)") && page.output.contains("isthmus link add"), "\(page.output.prefix(300))")
        }
    }
}
