import Foundation
import Glibc
import Testing
@testable import VICI

/// A charon of this test's own: a private mount namespace with a directory bound over /run (charon hard-codes
/// /var/run/charon.pid) and a new, empty network namespace (so it binds no port of the host's), its VICI socket
/// reached through that directory. Needs root and strongSwan; skipped with a reason otherwise. No ESP is needed for
/// VICI: connections and secrets are loaded, listed and unloaded; nothing is initiated.
final class PrivateCharon {
    let dir: String
    let process: Process
    var socket: String { "\(dir)/charon.vici" }

    static var unavailable: String? {
        if getuid() != 0 { return "needs root (a private mount and network namespace for charon)" }
        if !VICIClient.charonInstalled() { return "charon is not installed (strongswan-charon)" }
        return nil
    }

    init(tag: String) throws {
        dir = "/tmp/isthmus-vici-\(tag)-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let conf = "\(dir)/strongswan.conf"
        try "charon {\n  plugins { vici { socket = unix:///run/charon.vici } }\n  filelog { t { path = /run/charon.log\n default = 1 } }\n}\ninclude /etc/strongswan.conf\n"
            .write(toFile: conf, atomically: false, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "-n", "--propagation", "private", "sh", "-c",
                             "mount --bind \"$0\" /run && exec /usr/lib/ipsec/charon", dir]
        process.environment = ["STRONGSWAN_CONF": conf, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<300 {
            if let c = try? VICIClient(path: socket, timeout: 5), (try? c.request("version")) != nil { return }
            usleep(100_000)
        }
        stop()
        throw VICIClientError.notRunning(path: socket, installed: true)
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}

@Suite("VICI client against a real charon", .serialized)
struct VICIClientCharonTests {
    @Test("version, load-shared, load-conn, list-conns (streamed), unload; a failed command carries charon's errmsg",
          .enabled(if: PrivateCharon.unavailable == nil, "\(PrivateCharon.unavailable ?? "")"))
    func conversation() throws {
        let charon = try PrivateCharon(tag: "conv")
        defer { charon.stop() }
        let c = try VICIClient(path: charon.socket, timeout: 10)
        let v = try c.request("version")
        #expect(v.string("daemon") == "charon")

        try c.call("load-shared", ["id": "isthmus-test", "type": "ike", "data": "0123456789abcdef0123",
                                   "owners": ["10.9.0.1", "10.9.0.2"]])
        try c.call("load-conn", [
            "isthmus-test": .section([
                "version": "2", "local_addrs": ["10.9.0.1"], "remote_addrs": ["10.9.0.2"],
                "local": .section(["auth": "psk", "id": "10.9.0.1"]),
                "remote": .section(["auth": "psk", "id": "10.9.0.2"]),
                "children": .section(["isthmus-test": .section([
                    "mode": "transport", "esp_proposals": ["aes128gcm16"],
                    "local_ts": ["dynamic[47]"], "remote_ts": ["dynamic[47]"]])]),
            ]),
        ])
        let listed = try c.stream("list-conns", [:], event: "list-conn")
        let found = listed.events.compactMap { $0["isthmus-test"]?.section }.first
        let conn = try #require(found)
        #expect(conn["remote_addrs"]?.strings == ["10.9.0.2"])
        let shared = try c.request("get-shared")
        #expect(shared["keys"]?.strings?.contains("isthmus-test") == true)

        try c.call("unload-conn", ["name": "isthmus-test"])
        try c.call("unload-shared", ["id": "isthmus-test"])
        #expect(try c.stream("list-conns", [:], event: "list-conn").events.allSatisfy { $0["isthmus-test"] == nil })

        #expect(throws: VICIClientError.commandFailed(command: "unload-conn", errmsg: "unload: connection 'isthmus-test' not found")) {
            try c.call("unload-conn", ["name": "isthmus-test"])
        }
        #expect(throws: VICIClientError.unknownCommand("no-such-command")) { try c.request("no-such-command") }
        #expect(throws: VICIClientError.unknownEvent("no-such-event")) { try c.register("no-such-event") }
        // The connection is still usable after each of those.
        #expect(try c.request("version").string("daemon") == "charon")
    }
}

@Suite("VICI client errors")
struct VICIClientErrorTests {
    @Test("no socket: charon not running, or not installed naming the Debian packages")
    func missing() {
        let path = "/tmp/isthmus-vici-missing-\(getpid())/charon.vici"
        #expect(throws: VICIClientError.notRunning(path: path, installed: VICIClient.charonInstalled())) {
            try VICIClient(path: path)
        }
        let text = VICIClientError.notRunning(path: path, installed: false).description
        #expect(text.contains("strongswan-charon") && text.contains("strongswan-swanctl") && text.contains("not installed"))
        #expect(VICIClientError.notRunning(path: path, installed: true).description.contains("not running"))
    }

    @Test("a socket nobody listens on: refused")
    func refused() throws {
        let path = "/tmp/isthmus-vici-refused-\(getpid()).sock"
        unlink(path)
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s); unlink(path) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(rc == 0)
        #expect(throws: VICIClientError.refused(path: path)) { try VICIClient(path: path) }
    }

    @Test("a path longer than sun_path is an error, not a truncated connect")
    func longPath() {
        let path = "/tmp/" + String(repeating: "x", count: 200)
        #expect(throws: VICIClientError.pathTooLong(path: path)) { try VICIClient(path: path) }
    }

    @Test("a peer that sends garbage or closes is an error, and a silent one times out")
    func hostilePeer() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let c = VICIClient(connected: fds[0], path: "pair", timeout: 0.3)
        #expect(throws: VICIClientError.timedOut(command: "version", seconds: 0.3)) { try c.request("version") }
        let junk: [UInt8] = [0, 0, 0, 2, 9, 9]
        _ = junk.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        #expect(throws: VICIClientError.wire(VICIWireError(.unknownPacketType, at: 4))) { try c.request("version") }
        close(fds[1])
        #expect(throws: VICIClientError.closed(path: "pair")) { try c.request("version") }
    }
}
