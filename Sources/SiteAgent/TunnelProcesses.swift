import Dataplane
import Foundation
import Netlink

/// The userspace tunnels of a site: `isthmus [-n NETNS] tunnel run NAME WORDS` processes, started in a session of
/// their own (so they outlive the `isthmus up` that started them and no terminal hang-up reaches them), with their
/// output appended to the site's log, /run/isthmus/sites/SEGMENT-SITE[-NETNS].log. A tunnel is found through its status
/// socket, which reports its pid and its words; it is stopped with SIGTERM (it then removes its TAP/TUN device),
/// SIGKILL after 5 s.
public struct TunnelProcesses {
    public static let logDirectory = "/run/isthmus/sites"
    public let binary: String
    public let netns: String?
    public let segment: String
    public let site: String

    public init(binary: String, netns: String?, segment: String, site: String) {
        self.binary = binary; self.netns = netns; self.segment = segment; self.site = site
    }

    /// One log per site and namespace: the sites of one segment often share a host (a lab, a test, sites in
    /// namespaces), and each site's tunnel processes must not write over another's. The namespace is named by `-n`,
    /// else — when this is not the host's own namespace (`ip netns exec`) — by its inode.
    public var logPath: String {
        var name = "\(segment)-\(site)"
        if let netns {
            name += "-" + String(netns.map { $0 == "/" ? "_" : $0 })
        } else if let here = Self.namespaceInode(of: "self"), here != Self.namespaceInode(of: "1") {
            name += "-netns\(here)"
        }
        return "\(Self.logDirectory)/\(name).log"
    }

    static func namespaceInode(of pid: String) -> UInt64? {
        var st = stat()
        return stat("/proc/\(pid)/ns/net", &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// The log opened for appending (O_APPEND: every write of every process lands at the end, whatever another
    /// process wrote meanwhile), created (0644) inside Isthmus's own directory when missing; returns the handle and
    /// the size it had, where this start's output begins.
    public static func openLog(_ path: String) throws -> (FileHandle, UInt64) {
        // Opened in place, appending (created if missing), in Isthmus's own directory.
        let fd: Int32
        do {
            try OwnedFiles.makeDirectory(logDirectory)
            fd = try OwnedFiles.openForWriting(path, create: true, append: true)
        } catch { throw SiteError("cannot write the tunnel log \(path): \(error)") }
        var st = stat()
        let size = fstat(fd, &st) == 0 ? UInt64(st.st_size) : 0
        return (FileHandle(fileDescriptor: fd, closeOnDealloc: true), size)
    }

    /// This process's own executable (`isthmus`), to start tunnels with.
    public static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    func namespaceInode() throws -> UInt64 {
        try NetworkNamespace.with(netns) { TunnelStatus.currentNamespace() }
    }

    /// The status report of tunnel `name`, if it runs.
    public func report(name: String) throws -> String? {
        let path = TunnelStatus.socketPath(name: name, namespace: try namespaceInode())
        if case .success(let r) = TunnelStatus.query(path: path) { return r }
        return nil
    }

    /// Starts the tunnel and waits (up to 10 s) until it answers on its status socket.
    public func start(name: String, words: String) throws {
        let (log, offset) = try Self.openLog(logPath)
        defer { try? log.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        p.arguments = [binary] + (netns.map { ["-n", $0] } ?? []) + ["tunnel", "run", name] + words.split(separator: " ").map(String.init)
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = log
        p.standardError = log
        do { try p.run() } catch { throw SiteError("cannot start \(binary) tunnel run \(name): \(error)") }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try report(name: name) != nil { return }
            if !p.isRunning && p.terminationStatus != 0 { break }
            usleep(20_000)
        }
        let tail = (try? String(contentsOfFile: logPath, encoding: .utf8)).map { String($0.utf8.dropFirst(Int(offset))) ?? "" } ?? ""
        throw SiteError("userspace tunnel \(name) did not start: "
                        + (tail.isEmpty ? "no answer on its status socket within 10 s" : tail.trimmingCharacters(in: .whitespacesAndNewlines))
                        + " (log: \(logPath))")
    }

    /// `isthmus [-n NETNS] tunnel run NAME ...` processes of this namespace, found by their command line: a tunnel
    /// that has not opened its status socket yet (an `up` killed while starting it) is still found. With `name` nil,
    /// every tunnel of the namespace.
    public static func processes(netns: String?, name: String?) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let me = getpid()
        var mine = stat()
        let myNS = stat("/proc/self/ns/net", &mine) == 0 ? mine.st_ino : 0
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != me, let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let argv = d.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard let run = argv.firstIndex(of: "run"), run > 0, argv[run - 1] == "tunnel", run + 1 < argv.count,
                  argv[0].hasSuffix("isthmus") || argv.contains(where: { $0.hasSuffix("/isthmus") }) else { return false }
            if let name, argv[run + 1] != name { return false }
            let nsArg = argv.firstIndex(of: "-n").flatMap { $0 + 1 < run ? argv[$0 + 1] : nil }
            if let netns { return nsArg == netns }
            var st = stat()
            return nsArg == nil && stat("/proc/\(pid)/ns/net", &st) == 0 && st.st_ino == myNS
        }
    }

    /// Stops the tunnel (no error if it is not running).
    public func stop(name: String) throws {
        guard let r = try report(name: name) else {
            // Not answering (yet): a process that is still starting is found by its command line.
            for pid in Self.processes(netns: netns, name: name) { Self.terminate(pid) }
            return
        }
        guard let line = r.split(separator: "\n").first(where: { $0.hasPrefix("pid ") }), let pid = Int32(line.dropFirst(4)), pid > 1 else {
            throw SiteError("userspace tunnel \(name): its status report names no pid")
        }
        Self.terminate(pid)
    }

    /// SIGTERM, then SIGKILL after 5 s — and then wait until it is gone: its device (a TAP) goes only when the
    /// process has closed it, and a caller that looks at the host next (a rollback's check, `down`'s "nothing left")
    /// must not find it. Waiting 100 ms after the SIGKILL was too short on a loaded machine (a CI rehearsal: a
    /// rolled-back control pseudowire's TAP still there).
    public static func terminate(_ pid: Int32) {
        kill(pid, SIGTERM)
        if waitGone(pid, seconds: 5) { return }
        kill(pid, SIGKILL)
        _ = waitGone(pid, seconds: 10)
    }

    static func waitGone(_ pid: Int32, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !Self.alive(pid) { return true }
            usleep(20_000)
        }
        return !Self.alive(pid)
    }

    /// Running (a zombie, which a parent has yet to reap, is not).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }
}
