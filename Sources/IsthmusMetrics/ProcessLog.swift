#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The log of a long-running process (`tunnel run`, `l2tp run`, `up --foreground`): one line per event on standard
/// error, with a level. Under systemd (standard error is the journal: `JOURNAL_STREAM` names its device and inode)
/// a line is `<N>text`, N the syslog priority, which journald turns into the entry's priority and stamps itself;
/// elsewhere `2026-12-07T05:52:53.123Z info text` (UTC, milliseconds). `debug` lines appear only with `--verbose`.
public final class ProcessLog: @unchecked Sendable {
    public enum Level: Int, Sendable, Comparable {
        case error = 3, warning = 4, info = 6, debug = 7
        public var word: String { switch self { case .error: "error"; case .warning: "warning"; case .info: "info"; case .debug: "debug" } }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public static let shared = ProcessLog()

    let lock = NSLock()
    var verboseFlag = false
    let journal: Bool
    let fd: Int32

    /// `fd` is where lines go (standard error); `environment` decides the journald format.
    public init(fd: Int32 = 2, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.fd = fd
        journal = Self.isJournal(fd: fd, environment["JOURNAL_STREAM"])
    }

    /// Whether `fd` is the stream systemd connected to the journal (JOURNAL_STREAM=DEV:INODE, as sd_journal_stream).
    static func isJournal(fd: Int32, _ value: String?) -> Bool {
        guard let value, let colon = value.firstIndex(of: ":"),
              let dev = UInt64(value[..<colon]), let ino = UInt64(value[value.index(after: colon)...]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// With `--verbose`: debug lines too.
    public var verbose: Bool {
        get { lock.lock(); defer { lock.unlock() }; return verboseFlag }
        set { lock.lock(); verboseFlag = newValue; lock.unlock() }
    }

    /// The line as written (without the newline).
    public func format(_ level: Level, _ text: String, at date: Date = Date()) -> String {
        if journal { return "<\(level.rawValue)>\(text)" }
        var t = timespec(tv_sec: Int(date.timeIntervalSince1970), tv_nsec: 0)
        var tm = tm()
        gmtime_r(&t.tv_sec, &tm)
        let ms = Int((date.timeIntervalSince1970 - Double(t.tv_sec)) * 1000) % 1000
        func d(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        let stamp = "\(d(tm.tm_year + 1900, 4))-\(d(tm.tm_mon + 1, 2))-\(d(tm.tm_mday, 2))T\(d(tm.tm_hour, 2)):\(d(tm.tm_min, 2)):\(d(tm.tm_sec, 2)).\(d(Int32(ms), 3))Z"
        return "\(stamp) \(level.word) \(text)"
    }

    /// Writes one line (each line of a multi-line text gets the prefix); debug only when verbose.
    public func log(_ level: Level, _ text: String) {
        if level == .debug && !verbose { return }
        let now = Date()
        var out = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            out += format(level, String(line), at: now) + "\n"
        }
        var b = Array(out.utf8)
        lock.lock(); defer { lock.unlock() }
        var off = 0
        while off < b.count {
            let n = b[off...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            off += n
        }
    }

    public static func error(_ s: String) { shared.log(.error, s) }
    public static func warning(_ s: String) { shared.log(.warning, s) }
    public static func info(_ s: String) { shared.log(.info, s) }
    public static func debug(_ s: String) { shared.log(.debug, s) }
}
