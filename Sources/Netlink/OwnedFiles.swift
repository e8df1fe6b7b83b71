#if canImport(Glibc)
import Glibc
#endif

/// Writing files without ever replacing a path that is not Isthmus's.
///
/// Two ways to write, and nothing else in Isthmus writes files:
/// - `replace(_:with:mode:within:)`: a file of Isthmus's own inside one of its own directories (under `root`, or a
///   directory the caller made for itself): a temporary file beside it, then renamed over it, so a reader sees the old
///   or the new contents, never half. It refuses a path outside that directory, and a path that holds anything but a
///   regular file (a device, a FIFO, a symbolic link, a directory stays as it is).
/// - `openForWriting(_:create:truncate:append:mode:)` and `overwrite(_:with:create:)`: a path opened in place with
///   open(2). Whatever is there — a regular file, /dev/null, a FIFO, a symbolic link to any of them — stays that
///   object; only its contents change. Nothing is ever renamed over it.
///
/// `FileManager.createFile(atPath:)` and `String.write(toFile:atomically:)` are not used: on Linux they write a
/// temporary file and rename it over the path, which turns /dev/null (or a user's symbolic link) into a regular file.
public enum OwnedFiles {
    /// The directory under which every directory Isthmus owns lives: labs/, sites/, l2tp/, tunnels/.
    public static let root = "/run/isthmus"

    /// Whether `path` is inside `directory` (both absolute; no "." or ".." components, no empty ones except a
    /// trailing slash of the directory).
    public static func isInside(_ path: String, _ directory: String = root) -> Bool {
        func components(_ p: String) -> [Substring]? {
            guard p.hasPrefix("/") else { return nil }
            let c = p.split(separator: "/", omittingEmptySubsequences: true)
            return c.contains { $0 == "." || $0 == ".." } ? nil : c
        }
        guard let p = components(path), let d = components(directory), p.count > d.count else { return false }
        return Array(p.prefix(d.count)) == d
    }

    /// Creates `directory` and its missing parents (mode 0755); an existing directory is fine, anything else at
    /// that path is an error.
    public static func makeDirectory(_ directory: String) throws {
        var path = ""
        for c in directory.split(separator: "/") {
            path += "/" + c
            if mkdir(path, 0o755) != 0 && errno != EEXIST { throw FileWriteError(path, "cannot create the directory") }
        }
        var st = stat()
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw FileWriteError(directory, "is not a directory")
        }
    }

    /// Writes `bytes` to `path`, a file of Isthmus's own inside `directory` (which it creates): into a new temporary
    /// file beside it (O_EXCL, mode `mode` from the start), then renamed over `path`. Refuses a `path` outside
    /// `directory` and a `path` that exists and is not a regular file.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644, within directory: String = root) throws {
        guard isInside(path, directory) else {
            throw FileWriteError(path, "is not inside \(directory), Isthmus's own directory: it is never replaced")
        }
        let parent = String(path[..<path.lastIndex(of: "/")!])
        try makeDirectory(parent.isEmpty ? "/" : parent)
        var st = stat()
        if lstat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw FileWriteError(path, "exists and is not a regular file (\(kind(st.st_mode))); Isthmus leaves it alone")
        }
        var random = SystemRandomNumberGenerator()
        let tmp = "\(parent)/.\(path[path.index(after: path.lastIndex(of: "/")!)...]).\(getpid()).\(random.next() as UInt32).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileWriteError(tmp, "cannot create") }
        var ok = fchmod(fd, mode) == 0 && writeAll(fd, bytes)
        ok = close(fd) == 0 && ok
        guard ok, rename(tmp, path) == 0 else {
            let e = FileWriteError(path, "cannot write")
            unlink(tmp)
            throw e
        }
    }

    /// Opens `path` for writing in place (O_WRONLY, close-on-exec); the caller closes the descriptor. Whatever is
    /// at the path stays that object: a device or FIFO is written to, a symbolic link is followed. `create` makes a
    /// regular file (mode `mode`) when nothing is there — only for a path Isthmus owns or one the user named as
    /// Isthmus's output; `truncate` empties a regular file first; `append` writes at its end (O_APPEND).
    public static func openForWriting(_ path: String, create: Bool, truncate: Bool = false, append: Bool = false,
                                      mode: mode_t = 0o644) throws -> Int32 {
        var flags = O_WRONLY | O_CLOEXEC | O_NOCTTY
        if create { flags |= O_CREAT }
        if truncate { flags |= O_TRUNC }
        if append { flags |= O_APPEND }
        let fd = open(path, flags, mode)
        guard fd >= 0 else { throw FileWriteError(path, "cannot open for writing") }
        return fd
    }

    /// Writes `bytes` over the contents of `path` in place (see `openForWriting`): a regular file ends up holding
    /// exactly `bytes` (written from its start, then cut to their length, so it is never seen empty); a device or
    /// FIFO just gets them.
    public static func overwrite(_ path: String, with bytes: [UInt8], create: Bool, mode: mode_t = 0o644) throws {
        let fd = try openForWriting(path, create: create, mode: mode)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileWriteError(path, "cannot stat") }
        if st.st_mode & S_IFMT == S_IFREG {
            guard pwriteAll(fd, bytes), ftruncate(fd, off_t(bytes.count)) == 0 else { throw FileWriteError(path, "cannot write") }
        } else {
            guard writeAll(fd, bytes) else { throw FileWriteError(path, "cannot write") }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFLNK: return "a symbolic link"
        case S_IFDIR: return "a directory"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }
}

/// A file Isthmus could not write (or refused to): the path, what went wrong and, for a failed call, errno's text.
public struct FileWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var problem: String
    public var errno: Int32?

    init(_ path: String, _ problem: String, errno: Int32? = Glibc.errno) {
        self.path = path; self.problem = problem
        self.errno = problem.hasPrefix("cannot") ? errno : nil
    }

    public var description: String {
        "\(path): \(problem)" + (errno.map { ": \(String(cString: strerror($0)))" } ?? "")
    }
}
