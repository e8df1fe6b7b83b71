import ArgumentParser
import Foundation
import IPCommand
import Lab
import SiteAgent

/// `isthmus lab up|check|down|status|run FILE`: namespace topologies from a TOML file, and their checks.
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Build a network of namespaces from a lab file, check it, tear it down.",
        discussion: """
        up: build it (state kept in /run/isthmus/labs).
        check: run its checks, print a table, exit 1 if any failed.
        down: remove exactly what up created (also after a crash).
        status: is it up.
        run: up, check, down.
        --vm (run, check): do it inside Debian's full kernel under QEMU (Tools/vm/isthmus-vm), for labs that need kernel modules this kernel lacks.
        The file format is documented on LabConfig (Sources/Lab/LabConfig.swift); examples/ has one lab per scenario.
        """)

    @Argument(help: "up | check | down | status | run")
    var action: String
    @Argument(help: "The lab file (TOML).")
    var file: String
    @Flag(name: [.customShort("j"), .long], help: "Print JSON (check, run).")
    var json = false
    @Flag(name: .long, help: "Run inside the QEMU guest with Debian's kernel (run, check).")
    var vm = false
    @Option(name: .long, help: "Run only these checks (1-based, comma-separated).")
    var only: String?

    func run() throws {
        let actions = ["up", "check", "down", "status", "run"]
        guard actions.contains(action) else {
            throw LabFailure("lab: unknown action \"\(action)\"; valid: \(actions.joined(separator: ", "))")
        }
        if vm {
            guard action == "run" || action == "check" else { throw LabFailure("lab \(action): --vm goes with run (a VM is thrown away afterwards)") }
            throw ExitCode(try runInVM())
        }
        let lab: LabConfig
        do { lab = try LabRunner.load(file) } catch { throw LabFailure("\(error)") }
        let runner = LabRunner(lab: lab)
        // With -j standard output is one JSON document: the progress goes to standard error.
        let json = self.json
        func say(_ line: String) { if json { FileHandleStderr.write(line + "\n") } else { print(line) } }
        func emit(_ object: [String: Any]) {
            if let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) { print(String(decoding: d, as: UTF8.self)) }
        }
        runner.log = { say("  " + $0) }
        var failed = false
        func up() throws {
            say("lab \(lab.name)\(lab.description.isEmpty ? "" : ": \(lab.description)")")
            do { try runner.up() } catch { throw LabFailure("\(error)") }
            say("lab \(lab.name) is up: \(lab.nodes.count) namespaces (\(lab.name)-NODE)")
        }
        func check() {
            let filter = only.map { Set($0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }) }
            let results = LabChecks(lab: lab).run(only: filter)
            if json { print(LabChecks.json(lab, results).serialized()) } else { for l in LabChecks.table(results) { print(l) } }
            failed = failed || results.contains { !$0.passed }
        }
        switch action {
        case "up":
            try up()
            if json { emit(["lab": lab.name, "up": true, "namespaces": lab.nodes.map { lab.namespace($0.name) }]) }
        case "check":
            guard runner.status().up else { throw LabFailure("lab \(lab.name) is not up; run isthmus lab up \(file) first") }
            check()
        case "down":
            let done = try runner.down()
            if json { emit(["lab": lab.name, "up": false, "removed": done]) } else {
                print(done.isEmpty ? "lab \(lab.name): nothing to remove" : done.joined(separator: "\n") + "\nlab \(lab.name) is down")
            }
        case "status":
            let s = runner.status()
            if json {
                emit(["lab": lab.name, "up": s.up, "namespaces": s.namespaces.map { ["name": $0.0, "present": $0.1] as [String: Any] }])
            } else if !s.up { print("lab \(lab.name) is down") } else {
                print("lab \(lab.name) is up")
                for (n, exists) in s.namespaces { print("  \(n) \(exists ? "" : "(MISSING)")") }
            }
        default:
            try up()
            check()
            let done = (try? runner.down()) ?? []
            say("lab \(lab.name) is down (\(done.count) things removed)")
        }
        if failed { throw ExitCode(1) }
    }

    /// Boots the QEMU guest and runs this same command (without --vm) inside it; returns its exit status.
    func runInVM() throws -> Int32 {
        let exe = TunnelProcesses.currentExecutable()
        guard let harness = Self.findHarness(from: [URL(fileURLWithPath: exe).deletingLastPathComponent(),
                                                    URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]) else {
            throw LabFailure("lab --vm: Tools/vm/isthmus-vm not found above \(exe) or the current directory (it is part of the Isthmus repository)")
        }
        let lab: LabConfig
        do { lab = try LabRunner.load(file) } catch { throw LabFailure("\(error)") }
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        var inner = "\(exe) lab run \(path)" + (json ? " --json" : "") + (only.map { " --only \($0)" } ?? "")
        if !lab.requires.isEmpty { inner = "modprobe -a \(lab.requires.joined(separator: " ")) && " + inner }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: harness)
        p.arguments = ["--timeout", "900", "--", "/bin/sh", "-c", inner]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    static func findHarness(from starts: [URL]) -> String? {
        for start in starts {
            var dir = start
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("Tools/vm/isthmus-vm").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }
}

struct LabFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
