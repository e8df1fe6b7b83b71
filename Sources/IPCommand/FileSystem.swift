#if canImport(Glibc)
import Glibc
#endif
import Netlink

/// The few reads of /proc, /sys and /run that the objects make (no Foundation in this target).
enum FileSystem {
    /// A directory's entries without "." and "..", in directory order.
    static func entries(_ path: String) -> [String] { Directory.entries(path) }

    /// A small file's text (at most `limit` bytes), or nil when it cannot be read.
    static func read(_ path: String, limit: Int = 65536) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, limit - total) }
            if n <= 0 { break }
            total += n
        }
        return String(decoding: bytes.prefix(total), as: UTF8.self)
    }

    /// Where a symbolic link points, or nil.
    static func link(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }
}
