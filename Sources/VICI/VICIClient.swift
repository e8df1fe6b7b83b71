#if canImport(Glibc)
import Glibc
#endif
@_exported import VICIWire

/// What went wrong talking to charon, worded for the person running Isthmus.
public enum VICIClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No socket at the path. `installed` says whether a charon binary exists on this host.
    case notRunning(path: String, installed: Bool)
    /// The socket file exists but nothing listens (charon stopped without removing it).
    case refused(path: String)
    case permissionDenied(path: String)
    case pathTooLong(path: String)
    case system(operation: String, path: String, errno: Int32)
    /// charon closed the connection (it stopped, or dropped a malformed request).
    case closed(path: String)
    case timedOut(command: String, seconds: Double)
    /// charon's bytes did not decode.
    case wire(VICIWireError)
    case encoding(VICIEncodingError)
    case unknownCommand(String)
    case unknownEvent(String)
    /// A command answered `success = no`; `errmsg` is charon's text.
    case commandFailed(command: String, errmsg: String)
    case unexpectedPacket(expected: String, got: String)

    /// The Debian packages that give a charon with VICI.
    public static let packageHint = "install the Debian packages strongswan-charon and strongswan-swanctl (or charon-systemd)"

    public var description: String {
        switch self {
        case .notRunning(let p, true):
            "charon is not running: no VICI socket at \(p) (start it: `systemctl start strongswan-starter` or `charon-systemd`; or point Isthmus at its socket)"
        case .notRunning(let p, false):
            "charon (strongSwan's IKE daemon) is not installed: no VICI socket at \(p) and no charon binary; \(Self.packageHint)"
        case .refused(let p): "charon is not running: the VICI socket \(p) refuses connections (a stale socket of a stopped charon)"
        case .permissionDenied(let p): "no permission to connect to charon's VICI socket \(p) (run as root)"
        case .pathTooLong(let p): "the VICI socket path \(p) is longer than a Unix socket path may be (107 bytes)"
        case .system(let op, let p, let e): "VICI \(p): \(op): \(String(cString: strerror(e)))"
        case .closed(let p): "charon closed the VICI connection \(p)"
        case .timedOut(let c, let s): "charon did not answer \(c) within \(s) s"
        case .wire(let e): "charon's answer is not valid VICI: \(e)"
        case .encoding(let e): e.description
        case .unknownCommand(let c): "charon does not know the VICI command \(c) (too old a strongSwan?)"
        case .unknownEvent(let e): "charon does not know the VICI event \(e) (too old a strongSwan?)"
        case .commandFailed(let c, let m): "charon refused \(c): \(m)"
        case .unexpectedPacket(let want, let got): "VICI: expected \(want), got \(got)"
        }
    }
}

/// A blocking VICI client on charon's Unix socket: commands (request → response), streamed commands (events
/// between the request and its response: list-sas, list-conns, initiate's control-log), and event registration
/// (ike-updown, child-updown, log …). Events that arrive while a command waits are queued for `nextEvent`.
/// One thread at a time.
public final class VICIClient {
    /// The socket strongSwan listens on by default (charon.plugins.vici.socket).
    public static let defaultSocket = "/var/run/charon.vici"
    /// Where a charon binary lives when one of the Debian packages is installed.
    public static let charonBinaries = ["/usr/lib/ipsec/charon", "/usr/sbin/charon-systemd", "/usr/libexec/ipsec/charon"]

    public let path: String
    public var timeout: Double
    private var fd: Int32
    private var framer = VICIFramer()
    private var queued: [(name: String, message: VICIMessage)] = []

    /// Connects to charon's VICI socket at `path`.
    public init(path: String = VICIClient.defaultSocket, timeout: Double = 30) throws(VICIClientError) {
        self.path = path
        self.timeout = timeout
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let room = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.utf8.count < room else { throw .pathTooLong(path: path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in path.utf8.enumerated() { p[i] = b }
        }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw .system(operation: "socket", path: path, errno: errno) }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        if rc != 0 {
            let e = errno
            Glibc.close(s)
            switch e {
            case ENOENT, ENOTDIR: throw .notRunning(path: path, installed: Self.charonInstalled())
            case ECONNREFUSED: throw .refused(path: path)
            case EACCES, EPERM: throw .permissionDenied(path: path)
            default: throw .system(operation: "connect", path: path, errno: e)
            }
        }
        fd = s
    }

    /// Wraps a connected stream socket (tests use a socketpair); the client owns and closes it.
    public init(connected fd: Int32, path: String, timeout: Double) {
        self.fd = fd
        self.path = path
        self.timeout = timeout
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    public static func charonInstalled() -> Bool {
        charonBinaries.contains { access($0, X_OK) == 0 }
    }

    // MARK: commands

    /// Sends a command and returns charon's response as is (`success = no` is not an error here).
    public func request(_ command: String, _ message: VICIMessage = [:]) throws(VICIClientError) -> VICIMessage {
        try send(.request(command: command, message: message))
        return try awaitResponse(command)
    }

    /// Sends a command and returns its response; a response with `success = no` throws `commandFailed` with errmsg.
    @discardableResult
    public func call(_ command: String, _ message: VICIMessage = [:]) throws(VICIClientError) -> VICIMessage {
        let r = try request(command, message)
        try Self.check(command, r)
        return r
    }

    public static func check(_ command: String, _ r: VICIMessage) throws(VICIClientError) {
        if let s = r.string("success"), s != "yes" {
            throw .commandFailed(command: command, errmsg: r.string("errmsg") ?? "(no errmsg)")
        }
    }

    /// A streamed command: registers `event`, sends the command, collects the events charon streams before the
    /// response, unregisters. The response is returned unchecked (list commands have no `success`).
    public func stream(_ command: String, _ message: VICIMessage = [:], event: String) throws(VICIClientError)
        -> (events: [VICIMessage], response: VICIMessage) {
        try register(event)
        try send(.request(command: command, message: message))
        var events: [VICIMessage] = []
        let deadline = Self.now() + timeout
        var response: VICIMessage?
        while response == nil {
            switch try receive(until: deadline, what: command) {
            case .event(let name, let m) where name == event: events.append(m)
            case .event(let name, let m): queued.append((name, m))
            case .response(let m): response = m
            case .unknownCommand: throw .unknownCommand(command)
            case let p: throw .unexpectedPacket(expected: "a response to \(command)", got: "\(p.type)")
            }
        }
        try unregister(event)
        return (events, response!)
    }

    public func register(_ event: String) throws(VICIClientError) {
        try send(.registerEvent(event))
        try awaitConfirm(event)
    }

    public func unregister(_ event: String) throws(VICIClientError) {
        try send(.unregisterEvent(event))
        try awaitConfirm(event)
    }

    /// The next event of those registered (queued ones first); nil when `timeout` seconds pass without one.
    public func nextEvent(timeout seconds: Double) throws(VICIClientError) -> (name: String, message: VICIMessage)? {
        if !queued.isEmpty { return queued.removeFirst() }
        let deadline = Self.now() + seconds
        while true {
            let p: VICIPacket
            do { p = try receive(until: deadline, what: "an event") } catch .timedOut { return nil }
            if case .event(let n, let m) = p { return (n, m) }
            throw .unexpectedPacket(expected: "an event", got: "\(p.type)")
        }
    }

    // MARK: I/O

    private func awaitResponse(_ command: String) throws(VICIClientError) -> VICIMessage {
        let deadline = Self.now() + timeout
        while true {
            switch try receive(until: deadline, what: command) {
            case .response(let m): return m
            case .unknownCommand: throw .unknownCommand(command)
            case .event(let n, let m): queued.append((n, m))
            case let p: throw .unexpectedPacket(expected: "a response to \(command)", got: "\(p.type)")
            }
        }
    }

    private func awaitConfirm(_ event: String) throws(VICIClientError) {
        let deadline = Self.now() + timeout
        while true {
            switch try receive(until: deadline, what: "registration of \(event)") {
            case .eventConfirm: return
            case .unknownEvent: throw .unknownEvent(event)
            case .event(let n, let m): queued.append((n, m))
            case let p: throw .unexpectedPacket(expected: "an event confirmation", got: "\(p.type)")
            }
        }
    }

    private func send(_ packet: VICIPacket) throws(VICIClientError) {
        guard fd >= 0 else { throw .closed(path: path) }
        let bytes: [UInt8]
        do { bytes = try packet.encoded() } catch { throw .encoding(error) }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { throw .closed(path: path) }
                throw .system(operation: "send", path: path, errno: errno)
            }
            off += n
        }
    }

    private func receive(until deadline: Double, what: String) throws(VICIClientError) -> VICIPacket {
        guard fd >= 0 else { throw .closed(path: path) }
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let payload: [UInt8]?
            do { payload = try framer.next() } catch { throw .wire(error) }
            if let payload {
                do { return try VICIPacket(payload: payload, base: 4) } catch { throw .wire(error) }
            }
            let left = deadline - Self.now()
            guard left > 0 else { throw .timedOut(command: what, seconds: timeout) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let pr = poll(&pfd, 1, Int32(min(left, 3600) * 1000) + 1)
            if pr < 0 { if errno == EINTR { continue }; throw .system(operation: "poll", path: path, errno: errno) }
            if pr == 0 { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { throw .closed(path: path) }
                throw .system(operation: "recv", path: path, errno: errno)
            }
            if n == 0 { throw .closed(path: path) }
            framer.append(buf[0..<n])
        }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
