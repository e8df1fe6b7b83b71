#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import DataplaneWire
import Netlink

extension TunnelStatus {
    /// The report of a running engine.
    public static func report(_ e: Engine) -> String {
        let c = e.configuration
        var lines = ["tunnel \(c.name)", "kind \(c.kind)", "pid \(getpid())"]
        switch c.transport {
        case .udp: lines.append("transport udp")
        case .ip(let p): lines.append("transport ip \(p)")
        }
        if let l = c.local { lines.append("local \(l)") }
        if let p = e.boundPort { lines.append("port \(p)") }
        for (k, v) in c.details { lines.append("detail \(k) \(v)") }
        if !c.arguments.isEmpty { lines.append("args " + c.arguments.joined(separator: " ")) }
        for (i, s) in c.sessions.enumerated() {
            lines.append("session \(s.name) \(s.ethernet ? "ethernet" : "ip") \(e.deviceMTUs[i])")
            for p in s.peers { lines.append("peer \(s.name) \(p)") }
        }
        func counters(_ who: String, _ k: Counters) {
            let s = k.snapshot
            lines.append("counter \(who) rx_packets \(s.rxPackets)")
            lines.append("counter \(who) rx_bytes \(s.rxBytes)")
            lines.append("counter \(who) tx_packets \(s.txPackets)")
            lines.append("counter \(who) tx_bytes \(s.txBytes)")
            for r in DropReason.allCases { lines.append("counter \(who) drop_\(r.name) \(s.drops[r] ?? 0)") }
        }
        for (i, s) in c.sessions.enumerated() { counters(s.name, e.counters[i]) }
        counters("-", e.engineCounters)
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Serves a tunnel's report (`TunnelStatus.report` of an engine, or another process's own) on the tunnel's Unix
/// socket until closed; removes the socket file at the end.
public final class StatusServer {
    public let fd: Int32
    public let path: String
    let report: () -> String

    /// Serves `TunnelStatus.report(engine)`.
    public convenience init(engine: Engine, namespace: UInt64) throws {
        try self.init(name: engine.configuration.name, namespace: namespace) { TunnelStatus.report(engine) }
    }

    /// Creates the socket in `TunnelStatus.directory`; fails if a live tunnel of that name already answers there.
    /// `report` must give the same line format (`tunnel NAME`, `pid N`, `args WORDS`, ...).
    public convenience init(name: String, namespace: UInt64, report: @escaping () -> String) throws {
        mkdir("/run/isthmus", 0o755)
        mkdir(TunnelStatus.directory, 0o755)
        try Self.ensureNotRunning(name: name, namespace: namespace)
        try self.init(path: TunnelStatus.socketPath(name: name, namespace: namespace), report: report)
    }

    /// Serves `report` on a socket at `path` (its directory must exist; a socket left there is replaced, so check
    /// first that nobody answers on it; any other file there is an error).
    public init(path: String, report: @escaping () -> String) throws {
        self.report = report
        self.path = path
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw WorkerError("the status socket path \(path) is too long for a Unix socket")
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            // Only a socket is replaced (one left by a process that died), never another file.
            guard st.st_mode & S_IFMT == S_IFSOCK else { throw WorkerError("\(path) exists and is not a socket; not replacing it") }
            unlink(path)
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)") }
        var addr = TunnelStatus.unixAddress(path)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0, listen(fd, 8) == 0 else { let e = SystemError("bind/listen \(path)"); Glibc.close(fd); throw e }
        chmod(path, 0o600)
    }

    /// Throws when a live engine of this name answers in this namespace (check before opening anything).
    public static func ensureNotRunning(name: String, namespace: UInt64) throws {
        if case .success(let r) = TunnelStatus.query(path: TunnelStatus.socketPath(name: name, namespace: namespace)) {
            let pid = r.split(separator: "\n").first { $0.hasPrefix("pid ") }.map { String($0.dropFirst(4)) } ?? "?"
            throw WorkerError("a userspace tunnel named \(name) is already running in this namespace (pid \(pid))")
        }
    }

    /// Answers every pending connection.
    public func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            let r = Array(report().utf8)
            var off = 0
            while off < r.count {
                // MSG_NOSIGNAL: a client that gave up (its 2 s timeout) and closed gets nothing; a write would raise
                // SIGPIPE and kill the process (an agent in the middle of its tunnels) without a word.
                let n = r[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                off += n
            }
            Glibc.close(c)
        }
    }

    public func shutdown() {
        Glibc.close(fd)
        unlink(path)
    }
}
