import L2TPAgent
import Testing

@Suite("L2TP agent: where the status socket is")
struct StatusPathTests {
    @Test("beside a status file under /run/isthmus; for a user's path, in /run/isthmus/l2tp named for the path")
    func socketPaths() {
        #expect(L2TPAgentConfig.statusSocketPath(forStatus: "/run/isthmus/l2tp/lns.json") == "/run/isthmus/l2tp/lns.sock")
        // Tools/scenarios/l2tp-show-watch.py computes the same name (FNV-1a 64 of the path): keep the two in step.
        #expect(L2TPAgentConfig.statusSocketPath(forStatus: "/tmp/x/lac.json") == "/run/isthmus/l2tp/status-361216ea4bd8bf7d.sock")
        // Never beside a path Isthmus does not own (/dev/null.sock would be a file in /dev).
        #expect(L2TPAgentConfig.statusSocketPath(forStatus: "/dev/null").hasPrefix("/run/isthmus/l2tp/status-"))
        #expect(L2TPAgentConfig.statusSocketPath(forStatus: "/run/isthmus/../etc/x.json").hasPrefix("/run/isthmus/l2tp/status-"))
    }
}
