import Foundation
import L2TPAgent
#if canImport(Glibc)
import Glibc
#endif

/// `isthmus l2tp run --config FILE` started in a namespace (the built binary, as a user runs it), with its log and
/// its status file, stopped by pid.
final class L2TPAgentProcess {
    let netns: String
    let configPath: String
    let statusPath: String
    let logPath: String
    let process = Process()

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Writes `toml` (an `[l2tp]` table; `status` is added) to `directory/NAME.toml` and starts the agent, with
    /// `arguments` after `l2tp run --config FILE`.
    init(netns: String, name: String, toml: String, directory: String, arguments: [String] = []) throws {
        guard let binary = Host.isthmusBinary else { throw Failure(description: "isthmus is not built (swift build)") }
        self.netns = netns
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        configPath = "\(directory)/\(name).toml"
        statusPath = "\(directory)/\(name).status.json"
        logPath = "\(directory)/\(name).log"
        try? FileManager.default.removeItem(atPath: statusPath)
        var text = toml
        if let r = text.range(of: "[l2tp]\n") { text.insert(contentsOf: "status = \"\(statusPath)\"\n", at: r.upperBound) }
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", netns, binary, "l2tp", "run", "--config", configPath] + arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The agent's status now (asked on its status socket, as `l2tp show` does), else the last one it wrote.
    /// (The file is outside /run/isthmus, so the agent writes it in place: a read that catches it half-written is
    /// made again.)
    var status: [String: Any]? {
        if let s = L2TPDaemon.liveStatus(statusPath: statusPath) { return s }
        for attempt in 0..<5 {
            if attempt > 0 { usleep(10_000) }
            guard let d = FileManager.default.contents(atPath: statusPath) else { return nil }
            if let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] { return o }
        }
        return nil
    }

    var tunnels: [[String: Any]] { (status?["tunnels"] as? [[String: Any]]) ?? [] }

    /// Sessions of every tunnel.
    var sessions: [[String: Any]] { tunnels.flatMap { ($0["sessions"] as? [[String: Any]]) ?? [] } }

    /// Waits until `predicate` holds for the status (polling every 50 ms).
    @discardableResult
    func wait(timeout: Double, _ predicate: (L2TPAgentProcess) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if predicate(self) { return true }
            if !process.isRunning { return predicate(self) }
            usleep(50_000)
        }
        return predicate(self)
    }

    func waitForLog(_ needle: String, timeout: Double) -> Bool {
        wait(timeout: timeout) { $0.log.contains(needle) }
    }

    /// Established tunnels and established sessions, counted.
    var up: (tunnels: Int, sessions: Int) {
        (tunnels.filter { $0["state"] as? String == "established" }.count,
         sessions.filter { $0["state"] as? String == "established" }.count)
    }

    /// SIGTERM (the agent sends StopCCN and exits), SIGKILL after `grace` seconds. Returns the exit status.
    @discardableResult
    func stop(grace: Double = 5) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let end = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < end { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Kills it without a StopCCN (a crashed peer).
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill9() } }
}

/// tcpdump writing a pcap in a namespace, packet by packet (-U), stopped by pid (SIGKILL: a test runner's children
/// may start with SIGTERM blocked).
final class PcapCapture {
    let path: String
    let process = Process()

    init(netns: String, interface: String, filter: String, path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let err = path + ".err"
        FileManager.default.createFile(atPath: err, contents: nil)
        let e = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", netns, "tcpdump", "--immediate-mode", "-U", "-n", "-s", "0", "-i", interface,
                             "-w", path, filter]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = e
        try process.run()
        for _ in 0..<50 {
            if (try? String(contentsOfFile: err, encoding: .utf8))?.contains("listening on") == true { break }
            usleep(100_000)
        }
        try? e.close()
    }

    /// Stops the capture and decodes it with `tshark -V` (with these `-o` preferences).
    func decode(_ preferences: [String] = [], displayFilter: String? = nil) throws -> String {
        usleep(200_000)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        var args = ["tshark", "-r", path, "-V", "-d", "udp.port==1701,l2tp"]
        for p in preferences { args += ["-o", p] }
        if let displayFilter { args += ["-Y", displayFilter] }
        return try Host.run(args).output
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + ".err")
    }
}
