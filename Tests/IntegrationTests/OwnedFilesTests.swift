import Foundation
@testable import L2TPAgent
import Netlink
import SiteAgent
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14: Isthmus writes only files of its own (replaced by rename inside its own directories) and opens
/// everything else in place — a character device, or a symbolic link to one, stays what it was.
@Suite("Files Isthmus writes: never renamed over a path it does not own", .enabled(if: Host.isRoot, Comment(rawValue: Host.notRootReason)))
struct OwnedFilesTests {
    /// A fresh directory for one test, removed afterwards; `null` in it is a character device 1,3 made with mknod
    /// (the same device as /dev/null, so writing to it is harmless), `link` a symbolic link to /dev/null.
    final class Scratch {
        let dir: String
        var null: String { dir + "/null" }
        var link: String { dir + "/link" }

        init(_ test: String) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("isth-owned-\(test)-\(getpid())").path
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            guard mknod(null, S_IFCHR | 0o666, DevNull.makedev(1, 3)) == 0 else { throw SystemError("mknod \(null)") }
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: DevNull.path)
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        /// What the directory holds other than the files a test made on purpose (temporary files left behind).
        func leftovers(besides names: Set<String>) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !names.contains($0) }
        }

        func isLinkToDevNull(_ path: String) -> Bool {
            var st = stat()
            return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
                && (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == DevNull.path
        }
    }

    @Test("isInside: only paths strictly below the directory, no dot-dot escapes")
    func inside() {
        #expect(OwnedFiles.isInside("/run/isthmus/l2tp/a.json"))
        #expect(OwnedFiles.isInside("/run/isthmus//labs/x.json"))
        #expect(!OwnedFiles.isInside("/run/isthmus"))
        #expect(!OwnedFiles.isInside("/run/isthmus/"))
        #expect(!OwnedFiles.isInside("/run/isthmusx/a"))
        #expect(!OwnedFiles.isInside("/run/isthmus/../../dev/null"))
        #expect(!OwnedFiles.isInside("/run/isthmus/./a"))
        #expect(!OwnedFiles.isInside("run/isthmus/a"))
        #expect(!OwnedFiles.isInside("/dev/null"))
        #expect(OwnedFiles.isInside("/tmp/d/f", "/tmp/d/"))
    }

    @Test("replace: a file of its own is replaced whole with its mode; a device, a link or a path outside is refused and left")
    func replace() throws {
        let s = try Scratch("replace")
        let file = s.dir + "/state.json"
        try OwnedFiles.replace(file, with: Array("first, longer contents\n".utf8), mode: 0o600, within: s.dir)
        try OwnedFiles.replace(file, with: Array("second\n".utf8), mode: 0o600, within: s.dir)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "second\n")
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(s.leftovers(besides: ["state.json", "null", "link"]).isEmpty, "no temporary file is left")

        for path in [s.null, s.link] {
            #expect(throws: FileWriteError.self) { try OwnedFiles.replace(path, with: [1, 2, 3], within: s.dir) }
        }
        #expect(DevNull.problem(s.null) == nil, "the device is still the device")
        #expect(s.isLinkToDevNull(s.link), "the link is still a link to /dev/null")
        do {
            try OwnedFiles.replace("/dev/null", with: [1], within: s.dir)
            Issue.record("a path outside the directory must be refused")
        } catch let e as FileWriteError {
            #expect(e.description.contains("/dev/null") && e.description.contains("not inside \(s.dir)"), "\(e)")
        }
        #expect(throws: FileWriteError.self) { try OwnedFiles.replace(s.dir + "/../escape", with: [1], within: s.dir) }
        #expect(s.leftovers(besides: ["state.json", "null", "link"]).isEmpty)
        DevNull.expectIntact(after: "OwnedFiles.replace")
    }

    @Test("overwrite and openForWriting keep a character device and a link to /dev/null what they are")
    func inPlace() throws {
        let s = try Scratch("inplace")
        for path in [s.null, s.link, DevNull.path] {
            try OwnedFiles.overwrite(path, with: Array("status\n".utf8), create: true)
            let fd = try OwnedFiles.openForWriting(path, create: true, truncate: true)
            #expect(write(fd, "log\n", 4) == 4)
            close(fd)
        }
        #expect(DevNull.problem(s.null) == nil)
        #expect(s.isLinkToDevNull(s.link))
        DevNull.expectIntact(after: "OwnedFiles.overwrite of /dev/null and of a link to it")

        // A regular file holds exactly the new bytes, shorter or longer than before; a missing one is created only on request.
        let file = s.dir + "/status.json"
        try OwnedFiles.overwrite(file, with: Array("a long first version".utf8), create: true)
        try OwnedFiles.overwrite(file, with: Array("short".utf8), create: false)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "short")
        #expect(throws: FileWriteError.self) { try OwnedFiles.overwrite(s.dir + "/absent", with: [1], create: false) }
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/absent"))
        let fd = try OwnedFiles.openForWriting(file, create: false, append: true)
        #expect(write(fd, "+", 1) == 1)
        close(fd)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "short+")
    }

    @Test("l2tp status: replaced whole under /run/isthmus; a user's path (/dev/null, a device, a link to it) written in place")
    func l2tpStatus() throws {
        let s = try Scratch("l2tpstatus")
        func write(_ path: String?) -> L2TPAgentConfig {
            var c = L2TPAgentConfig(name: "owned-files-\(getpid())", version: .v3, hostName: "t")
            c.statusPath = path
            L2TPDaemon(config: c).writeStatus(L2TPDaemon.now())
            return c
        }
        for path in [s.link, s.null, DevNull.path] { _ = write(path) }
        #expect(DevNull.problem(s.null) == nil)
        #expect(s.isLinkToDevNull(s.link))
        DevNull.expectIntact(after: "an L2TP agent's status written to /dev/null")

        func name(_ path: String) -> String? {
            let o = FileManager.default.contents(atPath: path).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            return o?["name"] as? String
        }
        let file = s.dir + "/status.json"
        let c = write(file)
        #expect(name(file) == c.name, "a user's regular file gets the status in place")
        let own = write(nil).resolvedStatusPath
        defer { unlink(own) }
        #expect(own.hasPrefix(L2TPAgentConfig.runDirectory + "/") && name(own) == c.name)
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: L2TPAgentConfig.runDirectory)) ?? []).contains { $0.contains("owned-files-\(getpid())") && $0.hasSuffix(".tmp") })
    }

    @Test("service install leaves a masked unit (a link to /dev/null) and a user's own unit alone; uninstall too")
    func serviceUnit() throws {
        let s = try Scratch("unit")
        let name = Service.unitName(segment: "lab")
        let unit = "\(s.dir)/\(name)"
        func install() throws -> [String] {
            try Service.install(segment: "lab", site: "a", configPath: "/etc/isthmus/lab.toml", binary: "/usr/local/bin/isthmus",
                                netns: nil, directory: s.dir, enable: true)
        }
        // Masked: `systemctl mask` made the unit a link to /dev/null.
        try FileManager.default.createSymbolicLink(atPath: unit, withDestinationPath: DevNull.path)
        do {
            _ = try install()
            Issue.record("installing over a masked unit must be refused")
        } catch {
            #expect("\(error)".contains("masked"), "\(error)")
        }
        #expect(s.isLinkToDevNull(unit), "the mask stays")
        #expect(try Service.uninstall(segment: "lab", directory: s.dir).contains { $0.contains("left \(unit) alone") })
        #expect(s.isLinkToDevNull(unit), "uninstall does not remove a mask")
        DevNull.expectIntact(after: "service install over a masked unit")

        // A unit of the same name that isthmus did not write.
        try FileManager.default.removeItem(atPath: unit)
        try "[Unit]\nDescription=mine\n".write(toFile: unit, atomically: false, encoding: .utf8)
        #expect(throws: SiteError.self) { try install() }
        #expect(try String(contentsOfFile: unit, encoding: .utf8) == "[Unit]\nDescription=mine\n")
        _ = try Service.uninstall(segment: "lab", directory: s.dir)
        #expect(FileManager.default.fileExists(atPath: unit))

        // Isthmus's own unit: written, rewritten in place, enabled, removed with its link.
        try FileManager.default.removeItem(atPath: unit)
        _ = try install()
        _ = try install()
        #expect(try String(contentsOfFile: unit, encoding: .utf8).contains("ExecStart=/usr/local/bin/isthmus up --foreground"))
        let wants = "\(s.dir)/multi-user.target.wants/\(name)"
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: wants)) == unit)
        _ = try Service.uninstall(segment: "lab", directory: s.dir)
        #expect(!FileManager.default.fileExists(atPath: unit) && (try? FileManager.default.destinationOfSymbolicLink(atPath: wants)) == nil)
    }
}
