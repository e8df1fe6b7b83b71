#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import L2TPAgent

@Suite("L2TP agent: the status socket")
struct StatusSocketTests {
    /// `l2tp show` and Tools/scenarios/l2tp-show-watch.py give up after 2 s. An agent busy longer than that (starting
    /// pppd in a loaded QEMU guest) then answered a client that had gone, and the write raised SIGPIPE, which killed
    /// it without a word: the peer's messages went unacknowledged until it declared the tunnel dead
    /// (l2tp-ppp-isthmus.sh, now and then). A client that left is the client's loss, never the agent's.
    @Test("a client that closed before its answer: the agent answers into nothing and lives on")
    func clientGoneBeforeTheAnswer() async {
        await #expect(processExitsWith: .success) {
            var c = L2TPAgentConfig(name: "sigpipe", version: .v3, hostName: "h")
            c.statusPath = "/tmp/isthmus-status-sigpipe-\(getpid()).json"
            let d = L2TPDaemon(config: c)
            try? d.openStatusServer()
            defer { d.removeStatus() }
            guard let server = d.statusServer else { exit(2) }
            // A client connects (queued in the backlog: the agent is busy) and gives up before it is answered.
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let path = Array(c.resolvedStatusSocketPath.utf8)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.enumerated() where i < p.count - 1 { p[i] = b } }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { exit(3) }
            close(fd)
            server.serve()   // the answer's write fails (EPIPE); it must not raise SIGPIPE
        }
    }
}
