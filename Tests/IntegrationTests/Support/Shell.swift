import Foundation
import IPCommand
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for privileged tests: run commands, make namespaces that are removed again, compare kernel state.
enum Host {
    static var isRoot: Bool { getuid() == 0 }
    static let notRootReason = "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces"

    /// Repo root, from this file's path.
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The isthmus binary `swift build` produced (the README's test command builds it first); `ISTHMUS_BINARY`
    /// names another one (a build with `--scratch-path`).
    static var isthmusBinary: String? {
        if let p = ProcessInfo.processInfo.environment["ISTHMUS_BINARY"], !p.isEmpty {
            return FileManager.default.isExecutableFile(atPath: p) ? p : nil
        }
        for p in [".build/debug/isthmus", ".build/x86_64-unknown-linux-gnu/debug/isthmus"] {
            let path = repoRoot.appendingPathComponent(p).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func which(_ tool: String) -> Bool {
        ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
    }

    /// Runs a command; returns exit status and combined output.
    @discardableResult
    static func run(_ args: [String], input: String? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        if let input {
            let inPipe = Pipe()
            p.standardInput = inPipe
            try p.run()
            inPipe.fileHandleForWriting.write(input.data(using: .utf8)!)
            inPipe.fileHandleForWriting.closeFile()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs a shell line and throws with its output when it fails.
    @discardableResult
    static func sh(_ line: String) throws -> String {
        let r = try run(["sh", "-c", line])
        if r.status != 0 { throw ShellError(command: line, status: r.status, output: r.output) }
        return r.output
    }

    /// Runs isthmus words in-process (the library path), in a namespace.
    static func isthmus(_ line: String, netns: String, json: Bool = false, details: Bool = false) throws -> Output {
        var o = Options()
        o.netns = netns; o.json = json; o.details = details
        let s = Session(options: o)
        try IPCommandRunner.run(line: line, session: s)
        return s.output
    }
}

struct ShellError: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var output: String
    var description: String { "`\(command)` exited \(status): \(output)" }
}

/// Network namespaces a test creates; `deinit`-free: call `removeAll()` in a defer.
final class Namespaces {
    private(set) var names: [String] = []
    let prefix: String
    init(_ test: String) { prefix = "isth-\(test)-\(getpid())" }

    /// Creates PREFIX-SUFFIX with Netlink's `NetworkNamespace.create`, the implementation the labs use.
    func make(_ suffix: String) throws -> String {
        let name = "\(prefix)-\(suffix)"
        try NetworkNamespace.create(name)
        names.append(name)
        try Host.isthmus("link set lo up", netns: name)
        return name
    }

    func removeAll() {
        for n in names.reversed() { try? NetworkNamespace.delete(n) }
        names.removeAll()
    }
}

/// Kernel state of a namespace as `ip -d -j link show` prints it, with volatile fields removed
/// (indexes, MACs, bridge ids, timers, statistics) so two namespaces built the same way compare equal.
enum KernelState {
    static let volatileKeys: Set<String> = ["ifindex", "link_index", "address", "broadcast", "perm_address", "stats", "stats64",
                                            "bridge_id", "root_id", "designated_root", "designated_bridge",
                                            "port_id", "port_no", "link_netnsid", "inet6_addr_gen_mode", "parentbus", "parentdev",
                                            "prefered_lft", "preferred_life_time", "valid_life_time", "valid_lft", "addr_info_extra"]

    static func links(_ ns: String) throws -> String {
        let out = try Host.sh("ip -n \(ns) -d -j link show")
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8))
        return canonical(normalize(json))
    }

    static func normalize(_ v: Any) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d where !volatileKeys.contains(k) && !k.hasSuffix("_timer") { out[k] = normalize(x) }
            return out
        }
        if let a = v as? [Any] { return a.map(normalize) }
        return v
    }

    /// Deterministic text: sorted keys, one link per line.
    static func canonical(_ v: Any) -> String {
        if let a = v as? [Any] { return a.map { canonical($0) }.joined(separator: "\n") }
        let data = try! JSONSerialization.data(withJSONObject: v, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
