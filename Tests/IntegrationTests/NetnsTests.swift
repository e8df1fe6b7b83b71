import Foundation
import Testing

/// `isthmus netns` against `ip netns`: the same /run/netns mounts, ids, exec environment and errors.
@Suite("netns like ip netns", .serialized, .enabled(if: Host.isRoot && Host.isthmusBinary != nil, "needs root and the isthmus binary"))
struct NetnsTests {
    static var binary: String { Host.isthmusBinary ?? "isthmus" }
    static let prefix = "isth-netns-\(getpid())"

    @discardableResult
    static func isthmus(_ args: [String], check: Bool = true) throws -> (status: Int32, output: String) {
        let r = try Host.run([binary] + args)
        if check && r.status != 0 { throw ShellError(command: "isthmus \(args.joined(separator: " "))", status: r.status, output: r.output) }
        return r
    }

    /// The lines of a namespace listing that name this test's namespaces (other tests make their own meanwhile).
    static func ours(_ text: String) -> [String] { text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) } }

    static func oursJSON(_ text: String) throws -> String {
        let all = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
        let mine = all.filter { ($0["name"] as? String)?.hasPrefix(prefix) ?? false }
        return String(decoding: try JSONSerialization.data(withJSONObject: mine, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("add, list, set, list-id, identify, pids, attach and delete agree with ip netns")
    func lifecycle() throws {
        let a = "\(Self.prefix)-a", b = "\(Self.prefix)-b", c = "\(Self.prefix)-c"
        defer { for n in [a, b, c] { _ = try? Host.run(["ip", "netns", "delete", n]) } }
        try Self.isthmus(["netns", "add", a])
        try Host.sh("ip netns add \(b)")
        // Made by one, seen and entered by the other.
        #expect(Self.ours(try Host.sh("ip netns list")) == Self.ours(try Self.isthmus(["netns", "list"]).output))
        #expect(try Host.sh("ip netns exec \(a) ip -o link show").contains("lo:"))
        #expect(Self.ours(try Self.isthmus(["netns", "list"]).output).sorted() == [a, b])
        try Self.isthmus(["netns", "set", a, "41"])
        try Host.sh("ip netns set \(b) 42")
        #expect(Self.ours(try Host.sh("ip netns list")) == Self.ours(try Self.isthmus(["netns", "list"]).output))
        #expect(Self.ours(try Self.isthmus(["netns", "list"]).output).contains("\(a) (id: 41)"))
        #expect(try Self.oursJSON(Host.sh("ip -j netns list")) == Self.oursJSON(Self.isthmus(["-j", "netns", "list"]).output))
        let idsIP = try Host.sh("ip netns list-id").split(separator: "\n").filter { $0.contains(Self.prefix) }
        let idsUs = try Self.isthmus(["netns", "list-id"]).output.split(separator: "\n").filter { $0.contains(Self.prefix) }
        #expect(idsIP == idsUs && idsUs.contains("nsid 41 (iproute2 netns name: \(a))"), "\(idsUs)")

        // A process inside: pids and identify, then attach a second name to its namespace.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sleeper.arguments = ["ip", "netns", "exec", a, "sleep", "30"]
        try sleeper.run()
        // SIGKILL: the test runner starts children with SIGTERM blocked.
        defer { if sleeper.isRunning { kill(sleeper.processIdentifier, SIGKILL) }; sleeper.waitUntilExit() }
        var pidsUs = "", pidsIP = ""
        for _ in 0..<50 {
            pidsIP = try Host.sh("ip netns pids \(a)")
            if !pidsIP.isEmpty { break }
            usleep(100_000)
        }
        pidsUs = try Self.isthmus(["netns", "pids", a]).output
        #expect(!pidsIP.isEmpty && pidsUs == pidsIP, "ip: \(pidsIP) isthmus: \(pidsUs)")
        let pid = pidsIP.split(separator: "\n").first.map(String.init) ?? "0"
        #expect(try Self.isthmus(["netns", "identify", pid]).output == Host.sh("ip netns identify \(pid)"))
        try Self.isthmus(["netns", "attach", c, pid])
        #expect(try Host.sh("ip netns pids \(c)") == pidsIP)

        try Self.isthmus(["netns", "delete", a])
        try Self.isthmus(["netns", "delete", b])
        try Self.isthmus(["netns", "delete", c])
        #expect(Self.ours(try Host.sh("ip netns list")).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(a)"))
    }

    @Test("exec runs the command in the namespace with its /sys and /etc/netns files, and returns its status")
    func exec() throws {
        let n = "\(Self.prefix)-x"
        let etc = "/etc/netns/\(n)"
        defer {
            _ = try? Host.run(["ip", "netns", "delete", n])
            try? FileManager.default.removeItem(atPath: etc)
        }
        try Self.isthmus(["netns", "add", n])
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        try Data("127.0.0.1 isthmus-netns-test\n".utf8).write(to: URL(fileURLWithPath: etc + "/hosts"))
        let r = try Self.isthmus(["netns", "exec", n, "sh", "-c", "ls /sys/class/net; cat /etc/hosts; exit 7"], check: false)
        #expect(r.status == 7, "\(r.output)")
        #expect(r.output == "lo\n127.0.0.1 isthmus-netns-test\n", "\(r.output)")
        // The host's own /etc/hosts is untouched: the bind mount lived in the command's mount namespace only.
        #expect(!(try String(contentsOfFile: "/etc/hosts", encoding: .utf8)).contains("isthmus-netns-test"))
        let ip = try Host.run(["ip", "netns", "exec", n, "sh", "-c", "ls /sys/class/net; cat /etc/hosts; exit 7"])
        #expect(ip.status == r.status && ip.output == r.output)
    }

    @Test("errors say what ip says and change nothing")
    func errors() throws {
        let n = "\(Self.prefix)-e"
        defer { _ = try? Host.run(["ip", "netns", "delete", n]) }
        try Self.isthmus(["netns", "add", n])
        let cases: [([String], String)] = [
            (["netns", "add", n], "Cannot create namespace file \"/run/netns/\(n)\": File exists"),
            (["netns", "delete", "\(n)-none"], "Cannot remove namespace file \"/run/netns/\(n)-none\": No such file or directory"),
            (["netns", "exec", "\(n)-none", "true"], "Cannot open network namespace \"\(n)-none\": No such file or directory"),
            (["netns", "exec"], "No netns name specified"),
            (["netns", "exec", n], "No command specified"),
            (["netns", "exec", n, "isthmus-no-such-command"], "exec of \"isthmus-no-such-command\" failed: No such file or directory"),
            (["netns", "add", "a/b"], "Invalid netns name \"a/b\""),
            (["netns", "set", n, "x"], "argument \"x\" is wrong: Invalid \"netnsid\" value"),
        ]
        for (args, message) in cases {
            let r = try Self.isthmus(args, check: false)
            #expect(r.status != 0, "\(args)")
            #expect(r.output.contains(message), "\(args): \(r.output)")
        }
        #expect(Self.ours(try Host.sh("ip netns list")) == [n])
    }

    @Test("a veth peer in a named namespace with an id is printed as `link-netns NAME`, as ip does")
    func linkNetns() throws {
        let a = "\(Self.prefix)-p", b = "\(Self.prefix)-q"
        defer { for n in [a, b] { _ = try? Host.run(["ip", "netns", "delete", n]) } }
        try Self.isthmus(["netns", "add", a]); try Self.isthmus(["netns", "add", b])
        try Self.isthmus(["-n", a, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", b])
        for show in [["link"], ["-j", "link"], ["address"], ["-d", "link", "show", "v0"]] {
            let ours = try Self.isthmus(["-n", a] + show).output
            #expect(ours == (try Host.sh("ip -n \(a) \(show.joined(separator: " "))")), "\(show)")
        }
        #expect(try Self.isthmus(["-n", a, "link"]).output.contains("link-netns \(b)"))
    }
}
