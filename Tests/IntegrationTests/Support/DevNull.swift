import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The machine's /dev/null, which a test of code that writes files must find unchanged: the character device 1,3.
enum DevNull {
    static let path = "/dev/null"

    /// glibc's makedev/major/minor (macros Swift does not import): Linux's dev_t layout.
    static func makedev(_ major: UInt64, _ minor: UInt64) -> dev_t {
        dev_t((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32))
    }
    static func major(_ d: dev_t) -> UInt64 { (UInt64(d) >> 8) & 0xfff | (UInt64(d) >> 32) & ~0xfff }
    static func minor(_ d: dev_t) -> UInt64 { UInt64(d) & 0xff | (UInt64(d) >> 12) & ~0xff }

    /// What is wrong with /dev/null (not a character device, or not 1,3), or nil when it is the null device.
    static func problem(_ path: String = path) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return "\(path) is missing: \(String(cString: strerror(errno)))" }
        guard st.st_mode & S_IFMT == S_IFCHR else {
            return "\(path) is no longer a character device (st_mode \(String(st.st_mode, radix: 8)), \(st.st_size) bytes)"
        }
        guard st.st_rdev == makedev(1, 3) else {
            return "\(path) is the character device \(major(st.st_rdev)),\(minor(st.st_rdev)), not 1,3"
        }
        return nil
    }

    /// Checks /dev/null; if it is broken, records the failure (naming `after`) and puts the null device back at once
    /// (`rm -f /dev/null; mknod -m 666 /dev/null c 1 3`), so a red run does not break the machine for everyone else.
    static func expectIntact(after what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let p = problem() else { return }
        Issue.record("\(what) broke /dev/null: \(p)", sourceLocation: sourceLocation)
        restore()
    }

    static func restore() {
        unlink(path)
        let old = umask(0)
        defer { umask(old) }
        if mknod(path, S_IFCHR | 0o666, makedev(1, 3)) != 0 {
            Issue.record("could not restore /dev/null (mknod): \(String(cString: strerror(errno))); run: rm -f /dev/null; mknod -m 666 /dev/null c 1 3")
        }
    }
}
