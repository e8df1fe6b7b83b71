import Foundation
import Testing

/// The built `isthmus` binary given words too long for netlink: it exits with a status and a message naming the
/// word and the limit — not killed by a runtime trap (SIGILL/SIGTRAP), which is what a 65,531-byte word did before.
@Suite("long words against the isthmus binary",
       .enabled(if: Host.isthmusBinary != nil, "needs the isthmus binary (swift build)"))
struct LongInputBinaryTests {
    /// Runs the binary; its exit status (or the signal that killed it) and stderr. No namespace, no kernel change:
    /// each of these commands is refused before any request.
    static func isthmus(_ args: [String]) throws -> (reason: Process.TerminationReason, status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(Host.isthmusBinary))
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationReason, p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("isthmus link show dev <65,531 a's> exits 1 (a usage error, as ip) with the word and the limit")
    func longDevice() throws {
        let r = try Self.isthmus(["link", "show", "dev", String(repeating: "a", count: 65_531)])
        #expect(r.reason == .exit, "killed by signal \(r.status): \(r.stderr.prefix(300))")
        #expect(r.status == 1)
        #expect(r.stderr == "isthmus: argument \"\(String(repeating: "a", count: 32))…\" is wrong: \"dev\" not a valid ifname (65531 bytes; at most 15)\n")
    }

    @Test("isthmus -batch FILE with a 1 MB line exits 1 naming FILE:1, the word and the limit")
    func megabyteBatchLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-longinput-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("big.batch")
        try Data(("link show dev " + String(repeating: "c", count: 1 << 20) + "\n").utf8).write(to: file)
        let r = try Self.isthmus(["-batch", file.path])
        #expect(r.reason == .exit, "killed by signal \(r.status): \(r.stderr.prefix(300))")
        #expect(r.status == 1)
        #expect(r.stderr == "isthmus: \(file.path):1: argument \"\(String(repeating: "c", count: 32))…\" is wrong: \"dev\" not a valid ifname (1048576 bytes; at most 15)\n")
    }

    @Test("isthmus link add x0 type <70,000 bytes> exits 1: the word does not fit a netlink attribute")
    func longKind() throws {
        let r = try Self.isthmus(["link", "add", "x0", "type", String(repeating: "k", count: 70_000)])
        #expect(r.reason == .exit, "killed by signal \(r.status): \(r.stderr.prefix(300))")
        #expect(r.status == 1)
        #expect(r.stderr == "isthmus: argument \"\(String(repeating: "k", count: 32))…\" is wrong: too long (70000 bytes): a netlink attribute holds at most 65531 bytes\n")
    }

    @Test("isthmus -batch /dev/stdin reads the pipe (the batch is read as bytes through a file handle)")
    func batchFromPipe() throws {
        // The shell writes into the pipe, so a binary that stops reading costs the writer, not this process, a SIGPIPE.
        let bin = try #require(Host.isthmusBinary)
        let r = try Host.run(["sh", "-c", "{ printf 'link show dev '; head -c 70000 /dev/zero | tr '\\0' d; echo; } | '\(bin)' -batch /dev/stdin >/dev/null"])
        #expect(r.status == 1, "\(r.output.prefix(300))")
        #expect(r.output == "isthmus: /dev/stdin:1: argument \"\(String(repeating: "d", count: 32))…\" is wrong: \"dev\" not a valid ifname (70000 bytes; at most 15)\n")
    }
}
