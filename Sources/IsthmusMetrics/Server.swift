#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A bad `--metrics` value or a socket that cannot be opened, said with what was given.
public struct MetricsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Where metrics are served: `ADDR:PORT` (IPv4), `[ADDR]:PORT` (IPv6) or `:PORT` (every IPv4 address).
public struct MetricsAddress: Equatable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: UInt16
    public let isV6: Bool

    /// `option` names the option or keyword in errors ("--metrics", "metrics").
    public static func parse(_ text: String, option: String = "--metrics") throws -> MetricsAddress {
        let expected = "ADDR:PORT (e.g. 127.0.0.1:9550 or [::1]:9550), PORT 0..65535"
        var host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw MetricsError("\(option) \(text): expected \(expected)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw MetricsError("\(option) \(text): expected \(expected)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let p = UInt16(portText) else { throw MetricsError("\(option) \(text): invalid port \"\(portText)\" (expected 0..65535; 0: any free port, logged)") }
        let v6 = text.hasPrefix("[")
        if host.isEmpty { host = v6 ? "::" : "0.0.0.0" }
        var buf = [UInt8](repeating: 0, count: 16)
        guard inet_pton(v6 ? AF_INET6 : AF_INET, String(host), &buf) == 1 else {
            throw MetricsError("\(option) \(text): \"\(host)\" is not an IPv\(v6 ? 6 : 4) address (names are not resolved)")
        }
        return MetricsAddress(host: String(host), port: p, isV6: v6)
    }

    public var description: String { isV6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A small blocking HTTP/1.0 responder for `GET /metrics`, on its own thread so that neither a data path nor a
/// control loop ever waits for a client. One connection at a time: a request is read for at most `timeout` seconds
/// and `maxRequest` bytes (a slow or endless client is cut off, then the next is served), the answer written within
/// the same deadline, and the connection closed. Anything but `GET /metrics` gets a 4xx answer; no bytes can trap it.
/// (Why not SwiftNIO or Hummingbird: see docs/ARCHITECTURE.md, "Metrics".)
public final class MetricsServer: @unchecked Sendable {
    public let fd: Int32
    /// The address bound (the port the kernel chose when 0 was asked for).
    public let bound: MetricsAddress
    public static let maxRequest = 8192
    let timeout: Double
    let body: @Sendable () -> [UInt8]
    let lock = NSLock()
    var stopping = false
    var thread: Thread?
    let done = DispatchSemaphore(value: 0)

    /// Opens the listening socket in the calling thread's network namespace. `body` is called on the server's thread
    /// for every scrape.
    public init(address: MetricsAddress, timeout: Double = 2, body: @escaping @Sendable () -> [UInt8]) throws {
        self.timeout = timeout
        self.body = body
        let family = address.isV6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw MetricsError("metrics \(address): socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = sockaddr_storage()
        var len: socklen_t
        if address.isV6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = address.port.bigEndian
            _ = inet_pton(AF_INET6, address.host, &a.sin6_addr)
            len = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: a, as: sockaddr_in6.self) }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = address.port.bigEndian
            _ = inet_pton(AF_INET, address.host, &a.sin_addr)
            len = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: a, as: sockaddr_in.self) }
        }
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0, listen(fd, 16) == 0 else {
            let e = MetricsError("metrics \(address): cannot listen: \(String(cString: strerror(errno)))")
            close(fd)
            throw e
        }
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = withUnsafeBytes(of: &storage) { address.isV6 ? $0.load(as: sockaddr_in6.self).sin6_port : $0.load(as: sockaddr_in.self).sin_port }
        bound = MetricsAddress(host: address.host, port: UInt16(bigEndian: port), isV6: address.isV6)
    }

    /// Serves on a thread of its own until `stop`.
    public func start() {
        let t = Thread { [self] in
            serveLoop()
            done.signal()
        }
        t.name = "metrics"
        thread = t
        t.start()
    }

    /// Stops serving and closes the socket (waits for the thread: at most one connection's read, answer and linger).
    public func stop() {
        lock.lock(); stopping = true; lock.unlock()
        if thread != nil { _ = done.wait(timeout: .now() + 2 * timeout + 1) }
        close(fd)
    }

    var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    func serveLoop() {
        while !isStopping {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, 200)
            guard n > 0 else { continue }
            let c = accept(fd, nil, nil)
            guard c >= 0 else { continue }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
            let status = serve(connection: c)
            ProcessLog.debug("metrics: \(Self.peer(c)): \(status)")
            linger(c, until: Self.now() + timeout)
            close(c)
        }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// The client's address, for the debug log.
    static func peer(_ c: Int32) -> String {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(c, $0, &len) } }
        guard rc == 0 else { return "?" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST)), serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let g = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getnameinfo($0, len, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV) } }
        guard g == 0 else { return "?" }
        return String(cString: host) + " port " + String(cString: serv)
    }

    /// Reads one request (non-blocking socket, bounded in bytes and time) and answers it; says what happened.
    @discardableResult
    func serve(connection c: Int32) -> String {
        let deadline = Self.now() + timeout
        var request: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 2048)
        var complete = false
        while !complete {
            let left = deadline - Self.now()
            guard left > 0 else { return "too slow, closed" }
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(max(1, (left * 1000).rounded(.up))))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return "too slow, closed" }
            let r = recv(c, &buf, buf.count, 0)
            if r < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard r > 0 else { break }   // the client finished sending (HTTP/0.9-like) or failed
            request.append(contentsOf: buf[0..<r])
            complete = Self.headersEnd(request) != nil
            if !complete && request.count > Self.maxRequest {
                write(c, Self.response(431, "request header fields too large\n"), deadline)
                return "431 (request over \(Self.maxRequest) bytes)"
            }
        }
        let a = answer(request)
        write(c, a, deadline)
        return String(decoding: a.prefix(12).dropFirst(9), as: UTF8.self)
    }

    /// Closing with unread bytes makes the kernel send a reset, which can destroy the answer before the client reads
    /// it: so say we are done (FIN), then read and discard what the client still sends (at most 1 MiB, until the
    /// deadline) before closing.
    func linger(_ c: Int32, until deadline: Double) {
        shutdown(c, Int32(SHUT_WR))
        var buf = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < 1 << 20 {
            let left = deadline - Self.now()
            guard left > 0 else { return }
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(max(1, (left * 1000).rounded(.up))))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            let r = recv(c, &buf, buf.count, 0)
            if r < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard r > 0 else { return }
            total += r
        }
    }

    /// The answer to a request's bytes.
    func answer(_ request: [UInt8]) -> [UInt8] {
        guard let end = Self.headersEnd(request) ?? (request.isEmpty ? nil : request.count), end <= Self.maxRequest else {
            return Self.response(400, "bad request\n")
        }
        let lineEnd = request.firstIndex(of: UInt8(ascii: "\n")) ?? end
        let line = request[..<lineEnd].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard line.count == 3, line[2].hasPrefix("HTTP/1.") else { return Self.response(400, "bad request\n") }
        guard line[0] == "GET" || line[0] == "HEAD" else { return Self.response(405, "only GET /metrics\n") }
        let path = line[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard path == "/metrics" || path == "/" else { return Self.response(404, "not found: try /metrics\n") }
        let r = Self.response(200, body(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        guard line[0] == "HEAD" else { return r }
        return Array(r[..<(Self.headersEnd(r) ?? r.count)])
    }

    /// The index just past the blank line that ends a request's headers.
    static func headersEnd(_ b: [UInt8]) -> Int? {
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\n") {
                if i + 1 < b.count && b[i + 1] == UInt8(ascii: "\n") { return i + 2 }
                if i + 2 < b.count && b[i + 1] == UInt8(ascii: "\r") && b[i + 2] == UInt8(ascii: "\n") { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    static func response(_ status: Int, _ body: String) -> [UInt8] { response(status, Array(body.utf8), contentType: "text/plain; charset=utf-8") }

    static func response(_ status: Int, _ body: [UInt8], contentType: String) -> [UInt8] {
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                      431: "Request Header Fields Too Large"][status] ?? "Error"
        let head = "HTTP/1.0 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }

    /// Writes within the deadline (a client that does not read is cut off); never raises SIGPIPE.
    func write(_ c: Int32, _ bytes: [UInt8], _ deadline: Double) {
        var off = 0
        while off < bytes.count {
            let left = deadline - Self.now()
            guard left > 0 else { return }
            var p = pollfd(fd: c, events: Int16(POLLOUT), revents: 0)
            let n = poll(&p, 1, Int32(max(1, (left * 1000).rounded(.up))))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            let w = bytes[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if w < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard w > 0 else { return }
            off += w
        }
    }
}

/// Hands a scrape from the metrics thread to a single-threaded loop (the L2TP agent's) and back: the loop watches
/// `fd` and, when it is readable, calls `answer` with samples taken on its own thread, so its state is read only
/// there. The metrics thread waits at most `timeout` seconds for the answer.
public final class LoopSampler: @unchecked Sendable {
    let pipeFDs: [Int32]
    let condition = NSCondition()
    var result: [MetricSample]?
    var generation = 0

    public init() throws {
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { throw MetricsError("metrics: pipe: \(String(cString: strerror(errno)))") }
        for f in p { _ = fcntl(f, F_SETFD, FD_CLOEXEC); _ = fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK) }
        pipeFDs = p
    }
    deinit { close(pipeFDs[0]); close(pipeFDs[1]) }

    /// What the loop watches.
    public var fd: Int32 { pipeFDs[0] }

    /// On the loop's thread: drains the wake-up and publishes `samples()`.
    public func answer(_ samples: () -> [MetricSample]) {
        var b = [UInt8](repeating: 0, count: 64)
        while read(pipeFDs[0], &b, b.count) > 0 {}
        let s = samples()
        condition.lock()
        result = s
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    /// On the metrics thread: asks the loop, waits for its samples; nil when it did not answer in time.
    public func request(timeout: Double = 1.5) -> [MetricSample]? {
        condition.lock()
        defer { condition.unlock() }
        let before = generation
        var one: UInt8 = 1
        _ = write(pipeFDs[1], &one, 1)
        let until = Date(timeIntervalSinceNow: timeout)
        while generation == before {
            if !condition.wait(until: until) { return nil }
        }
        return result
    }
}
