#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IsthmusMetrics
import Testing

/// A TCP client of the responder on loopback (blocking, with a receive timeout so a test never hangs).
struct Client {
    let fd: Int32
    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(rc == 0)
    }
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    func send(_ s: String) { send(Array(s.utf8)) }
    /// Everything until the server closes (or the 5 s receive timeout).
    func readAll() -> String {
        var out: [UInt8] = []
        var b = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &b, b.count, 0)
            if n <= 0 { break }
            out += b[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
    func close() { Glibc.close(fd) }
}

let packets = MetricFamily("isthmus_test_packets_total", .counter, "Packets seen.", labels: ["tunnel", "session"])
let up = MetricFamily("isthmus_test_up", .gauge, "Whether it is up.")

func server(_ samples: @escaping @Sendable () -> [MetricSample] = { [packets.sample(["t\"1", "s\n1"], UInt64(42)), up.sample([], 1)] },
            timeout: Double = 1) throws -> MetricsServer {
    let exporter = MetricsExporter()
    let s = try MetricsServer(address: MetricsAddress.parse("127.0.0.1:0"), timeout: timeout) { exporter.render(samples()) }
    s.start()
    return s
}

@Suite("Prometheus metrics: exposition and the HTTP responder")
struct MetricsServerTests {
    @Test("samples render in the text exposition format, label values escaped, stale label sets dropped")
    func exposition() {
        let e = MetricsExporter()
        let text = String(decoding: e.render([packets.sample(["a\"b", "x\\y\nz"], UInt64(7)), up.sample([], 1.0)]), as: UTF8.self)
        #expect(text.contains("# HELP isthmus_test_packets_total Packets seen.\n"))
        #expect(text.contains("# TYPE isthmus_test_packets_total counter\n"))
        #expect(text.contains(#"isthmus_test_packets_total{tunnel="a\"b",session="x\\y\nz"} 7"#))
        #expect(text.contains("# TYPE isthmus_test_up gauge\nisthmus_test_up 1.0\n"))
        // A later scrape sets the counter to the process's own total (not added), and forgets what is gone.
        let again = String(decoding: e.render([packets.sample(["a", "b"], UInt64(9)), packets.sample(["a", "b"], UInt64(1))]), as: UTF8.self)
        #expect(again.contains(#"isthmus_test_packets_total{tunnel="a",session="b"} 9"#))
        #expect(!again.contains("a\\\"b") && !again.contains("isthmus_test_up"))
        // A family that disagrees with the first of its name, or a sample with the wrong label count, is skipped
        // (swift-prometheus would stop the process on it).
        let clash = MetricFamily("isthmus_test_packets_total", .gauge, "Other.", labels: ["tunnel"])
        let skipped = String(decoding: e.render([clash.sample(["a"], 1), packets.sample(["only-one"], 3), packets.sample(["a", "b"], UInt64(10))]), as: UTF8.self)
        #expect(skipped.contains(#"isthmus_test_packets_total{tunnel="a",session="b"} 10"#))
        #expect(!skipped.contains("gauge") && !skipped.contains("only-one"))
        // A label set (and an unlabeled family) that went away and comes back is registered again.
        let back = String(decoding: e.render([packets.sample(["a\"b", "c"], UInt64(1)), up.sample([], 0)]), as: UTF8.self)
        #expect(back.contains(#"isthmus_test_packets_total{tunnel="a\"b",session="c"} 1"#) && back.contains("isthmus_test_up 0.0"), "\(back)")
        // Values a counter cannot take: negative is 0, beyond Int64 is clamped, NaN is skipped.
        let odd = String(decoding: e.render([packets.sample(["n", "n"], -5), packets.sample(["m", "m"], UInt64.max), up.sample([], Double.nan)]), as: UTF8.self)
        #expect(odd.contains(#"{tunnel="n",session="n"} 0"#) && odd.contains(#"{tunnel="m",session="m"} \#(Int64.max)"#) && !odd.contains("nan"), "\(odd)")
    }

    @Test("--metrics addresses: ADDR:PORT, [ADDR]:PORT, :PORT; bad ones are errors naming the value")
    func addresses() throws {
        let a = try MetricsAddress.parse("127.0.0.1:9550")
        #expect(a.host == "127.0.0.1" && a.port == 9550 && !a.isV6)
        #expect(try MetricsAddress.parse("[::1]:80").description == "[::1]:80")
        #expect(try MetricsAddress.parse(":9550").host == "0.0.0.0")
        #expect(try MetricsAddress.parse("127.0.0.1:0").port == 0)   // any free port
        for bad in ["", "9550", "127.0.0.1", "127.0.0.1:65536", "host:80", "::1:80", "[::1]80", "1.2.3.4:x", "[1.2.3.4]:80"] {
            #expect(throws: MetricsError.self, "\(bad)") { try MetricsAddress.parse(bad) }
            do { _ = try MetricsAddress.parse(bad) } catch { #expect(bad.isEmpty || "\(error)".contains(bad)) }
        }
    }

    @Test("GET /metrics answers 200 with the exposition; other requests get 4xx")
    func requests() throws {
        let s = try server()
        defer { s.stop() }
        let c = try Client(port: s.bound.port)
        c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = c.readAll(); c.close()
        #expect(r.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(r.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(r.contains(#"isthmus_test_packets_total{tunnel="t\"1",session="s\n1"} 42"#))
        for (req, status) in [("POST /metrics HTTP/1.0\r\n\r\n", "405"), ("GET /nope HTTP/1.0\r\n\r\n", "404"),
                              ("garbage\r\n\r\n", "400"), ("GET /metrics SPDY/9\n\n", "400")] {
            let c = try Client(port: s.bound.port)
            c.send(req)
            let r = c.readAll(); c.close()
            #expect(r.hasPrefix("HTTP/1.0 \(status) "), "\(req.debugDescription) -> \(r.prefix(40))")
        }
    }

    @Test("hostile clients: huge headers, binary garbage, a slow client, a client that never reads; the server still answers")
    func hostile() throws {
        let s = try server(timeout: 0.5)
        defer { s.stop() }
        // Headers beyond the bound: 431, without reading them all.
        let big = try Client(port: s.bound.port)
        big.send("GET /metrics HTTP/1.0\r\nX: " + String(repeating: "a", count: 100_000))
        #expect(big.readAll().hasPrefix("HTTP/1.0 431 "))
        big.close()
        // Random bytes, including NUL and invalid UTF-8, then the end of headers.
        let junk = try Client(port: s.bound.port)
        var g = SystemRandomNumberGenerator()
        junk.send((0..<3000).map { _ in UInt8.random(in: 0...255, using: &g) } + Array("\r\n\r\n".utf8))
        #expect(junk.readAll().hasPrefix("HTTP/1.0 4"))
        junk.close()
        // A slow client (half a request, then nothing): cut off after the timeout, no answer.
        let slow = try Client(port: s.bound.port)
        slow.send("GET /metr")
        #expect(slow.readAll() == "")
        slow.close()
        // A client that closes at once, and one that sends a request and never reads (its answer is small enough to
        // sit in the socket buffer; the server does not wait for it).
        try Client(port: s.bound.port).close()
        let deaf = try Client(port: s.bound.port)
        deaf.send("GET /metrics HTTP/1.0\r\n\r\n")
        // After all that, a proper scrape still works.
        let ok = try Client(port: s.bound.port)
        ok.send("GET /metrics HTTP/1.0\r\n\r\n")
        #expect(ok.readAll().contains("isthmus_test_up 1.0"))
        ok.close(); deaf.close()
    }

    @Test("a loop answers scrapes through LoopSampler on its own thread; no answer in time is nil")
    func loopSampler() throws {
        let sampler = try LoopSampler()
        #expect(sampler.request(timeout: 0.2) == nil)   // nobody answers
        let stop = LockedFlag()
        let loop = Thread {
            while !stop.value {
                var p = pollfd(fd: sampler.fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 50) > 0 { sampler.answer { [up.sample([], 1)] } }
            }
        }
        loop.start()
        defer { stop.set() }
        let r = sampler.request(timeout: 5)
        #expect(r?.count == 1 && r?.first?.value == 1)
    }
}

final class LockedFlag: @unchecked Sendable {
    let lock = NSLock()
    var v = false
    var value: Bool { lock.lock(); defer { lock.unlock() }; return v }
    func set() { lock.lock(); v = true; lock.unlock() }
}

@Suite("Process logs: time and level, journald priorities under systemd, --verbose")
struct ProcessLogTests {
    /// What `log` writes to a pipe.
    static func written(_ environment: (Int32) -> [String: String], verbose: Bool = false, _ body: (ProcessLog) -> Void) -> String {
        var p: [Int32] = [0, 0]
        _ = pipe(&p)
        defer { close(p[0]) }
        let log = ProcessLog(fd: p[1], environment: environment(p[1]))
        log.verbose = verbose
        body(log)
        close(p[1])
        var out: [UInt8] = [], b = [UInt8](repeating: 0, count: 4096)
        while true { let n = read(p[0], &b, b.count); if n <= 0 { break }; out += b[0..<n] }
        return String(decoding: out, as: UTF8.self)
    }

    @Test("a terminal or file gets an ISO 8601 UTC stamp and a level word; debug only with verbose; each line prefixed")
    func plain() throws {
        let out = Self.written({ _ in [:] }) { $0.log(.info, "up"); $0.log(.debug, "hidden"); $0.log(.error, "a\nb") }
        let lines = out.split(separator: "\n").map(String.init)
        try #require(lines.count == 3, "\(out)")
        #expect(lines[0].wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info up/) != nil, "\(lines[0])")
        #expect(lines[1].hasSuffix(" error a") && lines[2].hasSuffix(" error b"))
        #expect(Self.written({ _ in [:] }, verbose: true) { $0.log(.debug, "shown") }.hasSuffix(" debug shown\n"))
        let fixed = ProcessLog(fd: -1, environment: [:]).format(.warning, "w", at: Date(timeIntervalSince1970: 1_796_629_973.25))
        #expect(fixed == "2026-12-07T07:52:53.250Z warning w")
    }

    @Test("JOURNAL_STREAM naming this stream: <N> priority prefixes, no stamp; naming another: plain")
    func journald() {
        func stream(_ fd: Int32) -> [String: String] {
            var st = stat(); fstat(fd, &st)
            return ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]
        }
        #expect(Self.written(stream) { $0.log(.warning, "drift"); $0.log(.info, "ok"); $0.log(.error, "bad") } == "<4>drift\n<6>ok\n<3>bad\n")
        let other = Self.written({ _ in ["JOURNAL_STREAM": "1:2"] }) { $0.log(.info, "x") }
        #expect(other.hasSuffix("Z info x\n"))
        #expect(Self.written({ _ in ["JOURNAL_STREAM": "garbage"] }) { $0.log(.info, "x") }.hasSuffix(" info x\n"))
    }
}
