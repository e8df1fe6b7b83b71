import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// xl2tpd (1.3.x, Debian's 1.3.18) as an L2TPv2 interop peer inside a network namespace: LAC or LNS, in the
/// foreground (`-D`, log lines on stderr, which goes to a file here), with its own config, secrets, pid file and
/// control pipe in `directory`.
///
/// This host has no /dev/ppp (no ppp or l2tp modules): a real pppd exits with code 4 some milliseconds after xl2tpd
/// starts it, and xl2tpd then tears the call down with a CDN (result 1, "loss of carrier"), leaving the tunnel up.
/// xl2tpd runs `/usr/sbin/pppd` (a compile-time path; no option or config key changes it), so with `fakePPPD` (the
/// default) a shell script is bind-mounted over /usr/sbin/pppd in the mount namespace `ip netns exec` creates for
/// xl2tpd (nothing outside that process tree sees it). The script logs its arguments and reads the pty until xl2tpd
/// closes it: calls stay up until hung up, and no PPP frame is ever sent.
///
/// Signals: SIGTERM ends xl2tpd without a StopCCN (in userspace mode xl2tpd only says goodbye on other signals);
/// SIGINT makes it send StopCCN (result 1, "Server closing") first. xl2tpd is started through
/// `env --default-signal`, so it and its pppd get default dispositions and an empty signal mask even when the test
/// runner's children inherit SIGTERM blocked; `stop()` still escalates to SIGKILL after a second.
final class XL2TPD {
    enum Role {
        /// `[lns default]`: assigns PPP addresses from `ipRange` ("A-B"), its own being `localIP`.
        case lns(localIP: String, ipRange: String)
        /// `[lac NAME]` that dials `lns` (an address, optionally ":port") when told to (`dial()`); no autodial, no redial.
        case lac(name: String, lns: String)
    }

    /// Log lines (substrings) xl2tpd 1.3.18 prints, for `waitForLog`.
    enum Line {
        /// LAC, on SCCRP (as it sends SCCCN): "Connection established to 10.77.0.2, 1701.  Local: 23246, Remote: 53056 (ref=0/0)."
        /// LNS, on SCCCN: the same words, then "  LNS session is 'default'".
        static let tunnelEstablished = "Connection established to "
        static let lnsTunnelEstablished = "LNS session is 'default'"
        /// LAC, on ICRP (as it sends ICCN): "Call established with 10.77.0.2, Local: 52629, Remote: 43979, Serial: 1 (ref=0/0)".
        /// LNS, on ICCN (after starting pppd): "Call established with 10.77.0.1, PID: 20811, Local: 43979, Remote: 52629, Serial: 1".
        static let callEstablished = "Call established with "
        /// The fake pppd, once per call: "fake-pppd: started pid N args: /dev/pts/1 passive nodetach ...".
        static let fakePPPDStarted = "fake-pppd: started"
        /// A real pppd without /dev/ppp: "child_handler : pppd exited for call 52629 with code 4".
        static let pppdExited = "pppd exited for call"
        /// The peer's StopCCN: "control_finish: Connection closed to 10.77.0.1, port 1701 (Goodbye!), Local: .., Remote: ..".
        /// Its own StopCCN: "Connection 53056 closed to 10.77.0.2, port 1701 (Goodbye!)".
        static let tunnelClosed = "closed to "
        /// The peer's CDN: "control_finish: Connection closed to 10.77.0.2, serial 1 (Goodbye!)".
        /// Its own CDN: "call_close: Call 43979 to 10.77.0.1 disconnected".
        static let callClosedByPeer = ", serial "
        static let callClosedHere = "call_close: Call "
        /// Its challenge answered wrongly (then StopCCN result 2, error 6, "Invalid challenge authentication"):
        /// "control_finish: Invalid authentication for host 'vm'".
        static let invalidAuthentication = "Invalid authentication for host"
        /// Challenged without a secret for the peer: "handle_challenge: no secret found for us='vm' and them='vm'".
        static let noSecret = "no secret found for"
        /// Startup, no kernel l2tp_ppp (xl2tpd probes socket(AF_PPPOX, PX_PROTO_OL2TP)):
        /// "L2TP kernel support not detected (try modprobing l2tp_ppp and pppol2tp)".
        static let noKernelSupport = "L2TP kernel support not detected"
        /// Startup complete (control pipe open): "Listening on IP address 0.0.0.0, port 1701".
        static let listening = "Listening on IP address"
    }

    /// Local and remote ids as xl2tpd logs them ("Local: L, Remote: R").
    struct IDs: Equatable, CustomStringConvertible {
        var local: Int
        var remote: Int
        var description: String { "local \(local), remote \(remote)" }
    }

    static let binary = "/usr/sbin/xl2tpd"
    /// The path xl2tpd execs for each call (PPPD in its source).
    static let pppdPath = "/usr/sbin/pppd"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }
    /// The fake pppd is bind-mounted over the real one, which must therefore exist (package ppp).
    static var canFakePPPD: Bool { FileManager.default.fileExists(atPath: pppdPath) }
    static var unavailableReason: String? {
        if !isInstalled { return "xl2tpd is not installed (apt-get install xl2tpd ppp, or Tools/setup)" }
        if !canFakePPPD { return "ppp is not installed: the harness bind-mounts its fake pppd over \(pppdPath) (apt-get install ppp)" }
        return nil
    }

    let netns: String
    let role: Role
    let directory: String
    let process = Process()
    let configPath: String, secretsPath: String, pppOptionsPath: String, fakePPPDPath: String
    let pidPath: String, controlPath: String, logPath: String
    private var finalLog: String?

    /// Writes the files (named after `netns` and the role) and starts xl2tpd in `netns`; returns once it listens.
    /// - secret: the tunnel secret (a `* * SECRET` line in the secrets file; xl2tpd matches "us them" against its
    ///   own and the peer's Host Name, `*` matches any). Used only when a side challenges.
    /// - challenge: `challenge = yes`: send a Challenge AVP (LNS in SCCRP, LAC in SCCRQ) and require the right
    ///   Challenge Response (MD5 of the message-type byte, the secret and the challenge).
    /// - hiddenBit: `hidden bit = yes`. xl2tpd then adds a Random Vector AVP (M=1) after the Message Type of every
    ///   message, but hides nothing (its only hiding code is behind TEST_HIDDEN).
    /// - hostname: `hostname = ...` (the Host Name AVP; default the machine's name).
    /// - extra: more `key = value` lines for the role's section.
    /// There is no hello option: xl2tpd 1.3.x sends HELLO every 60 s (HELLO_DELAY, compiled in).
    init(netns: String, role: Role, secret: String? = nil, challenge: Bool = false, hiddenBit: Bool = false,
         hostname: String? = nil, port: Int = 1701, fakePPPD: Bool = true, extra: [String] = [],
         directory: String, timeout: Double = 5) throws {
        self.netns = netns; self.role = role; self.directory = directory
        let tag: String
        switch role {
        case .lns: tag = "\(netns)-lns"
        case .lac(let name, _): tag = "\(netns)-lac-\(name)"
        }
        let base = "\(directory)/xl2tpd-\(tag)"
        configPath = base + ".conf"; secretsPath = base + ".secrets"; pppOptionsPath = base + ".ppp"
        fakePPPDPath = base + ".fake-pppd"; pidPath = base + ".pid"; controlPath = base + ".control"; logPath = base + ".log"

        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for p in [pidPath, controlPath] { try? FileManager.default.removeItem(atPath: p) }
        var section: [String]
        switch role {
        case .lns(let localIP, let ipRange):
            section = ["[lns default]", "ip range = \(ipRange)", "local ip = \(localIP)", "require authentication = no"]
        case .lac(let name, let lns):
            section = ["[lac \(name)]", "lns = \(lns)", "autodial = no", "redial = no"]
        }
        section += ["ppp debug = yes", "pppoptfile = \(pppOptionsPath)", "length bit = yes",
                    "challenge = \(challenge ? "yes" : "no")", "hidden bit = \(hiddenBit ? "yes" : "no")"]
        if let hostname { section.append("hostname = \(hostname)") }
        section += extra
        let config = (["[global]", "port = \(port)", "auth file = \(secretsPath)"] + section).joined(separator: "\n") + "\n"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        try (secret.map { "* * \($0)\n" } ?? "").write(toFile: secretsPath, atomically: true, encoding: .utf8)
        chmod(secretsPath, 0o600)
        try "noauth\nnodefaultroute\n".write(toFile: pppOptionsPath, atomically: true, encoding: .utf8)
        try "".write(toFile: logPath, atomically: true, encoding: .utf8)

        let xl2tpd = "exec env --default-signal \(Self.binary) -D -c \(configPath) -p \(pidPath) -C \(controlPath) -s \(secretsPath)"
        let script: String
        if fakePPPD {
            try """
                #!/bin/sh
                # Stands in for pppd (no /dev/ppp here): stdin/stdout are the call's pty; read it until xl2tpd closes it.
                echo "fake-pppd: started pid $$ args: $*" >&2
                exec cat >/dev/null
                """.write(toFile: fakePPPDPath, atomically: true, encoding: .utf8)
            chmod(fakePPPDPath, 0o755)
            // `ip netns exec` runs the command in a new mount namespace (/ made a slave): the bind mount stays there.
            script = "mount --bind \(fakePPPDPath) \(Self.pppdPath) && \(xl2tpd)"
        } else {
            script = xl2tpd
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", netns, "sh", "-c", script]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        // Every step of the chain execs, so the process's pid ends up being xl2tpd's.
        if !waitForLog(Line.listening, timeout: timeout) {
            let output = self.log
            stop()
            throw XL2TPDError(message: "xl2tpd in \(netns) did not start (\(process.isRunning ? "still running" : "exited \(process.terminationStatus)")):\n\(output)")
        }
    }

    var pid: pid_t { process.processIdentifier }

    /// LAC: dials (`c NAME` on the control pipe): SCCRQ unless the tunnel is up, then ICRQ.
    func dial() throws {
        guard case .lac(let name, _) = role else { throw XL2TPDError(message: "dial: xl2tpd in \(netns) is an LNS") }
        try control("c \(name)")
    }

    /// Tears the tunnel down (StopCCN, result 1 "Goodbye!"; xl2tpd sends no CDN first): `d NAME` on a LAC,
    /// `d LOCAL-TUNNEL-ID` (the last one logged) on an LNS.
    func hangup() throws {
        switch role {
        case .lac(let name, _):
            try control("d \(name)")
        case .lns:
            guard let t = tunnelIDs else { throw XL2TPDError(message: "hangup: no tunnel established in \(netns)") }
            try control("d \(t.local)")
        }
    }

    /// Hangs up one call (`h LOCAL-CALL-ID`, default the last one logged): xl2tpd SIGTERMs its pppd and sends a
    /// CDN (result 1, "Goodbye!"); the tunnel stays.
    func hangupCall(_ localID: Int? = nil) throws {
        guard let id = localID ?? callIDs?.local else { throw XL2TPDError(message: "hangupCall: no call established in \(netns)") }
        try control("h \(id)")
    }

    /// Writes one command to the control pipe. xl2tpd reads a command, then closes and reopens the pipe, so an
    /// open without a reader (ENXIO) is retried for a moment.
    func control(_ command: String) throws {
        let bytes = Array((command + "\n").utf8)
        let deadline = Date().addingTimeInterval(2)
        while true {
            let fd = open(controlPath, O_WRONLY | O_NONBLOCK)
            if fd >= 0 {
                defer { close(fd) }
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n == bytes.count { return }
                throw XL2TPDError(message: "writing \"\(command)\" to \(controlPath): \(String(cString: strerror(errno)))")
            }
            let e = errno
            if (e != ENXIO && e != ENOENT) || Date() > deadline || !process.isRunning {
                throw XL2TPDError(message: "opening \(controlPath) for \"\(command)\": \(String(cString: strerror(e)))")
            }
            usleep(20_000)
        }
    }

    /// Polls the log until it contains `needle`; false after `timeout` seconds or once xl2tpd has exited without it.
    func waitForLog(_ needle: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if log.contains(needle) { return true }
            if Date() > deadline || !process.isRunning { return log.contains(needle) }
            usleep(50_000)
        }
    }

    /// Everything xl2tpd (and its pppd) printed; after `stop()`, what they had printed.
    var log: String { finalLog ?? (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The last "Connection established ... Local: L, Remote: R" (tunnel ids) and "Call established ..." (session
    /// ids), or nil.
    var tunnelIDs: IDs? { Self.ids(in: log, after: Line.tunnelEstablished) }
    var callIDs: IDs? { Self.ids(in: log, after: Line.callEstablished) }

    static func ids(in log: String, after marker: String) -> IDs? {
        for line in log.split(separator: "\n").reversed() where line.contains(marker) {
            func number(_ key: String) -> Int? {
                guard let r = line.range(of: key) else { return nil }
                return Int(line[r.upperBound...].prefix(while: \.isNumber))
            }
            if let l = number("Local: "), let r = number("Remote: ") { return IDs(local: l, remote: r) }
        }
        return nil
    }

    /// Sends `signal` (SIGTERM: exit without StopCCN; SIGINT: StopCCN first), SIGKILL after a second, kills any
    /// pppd it left behind (by pid), and removes the files it wrote (the log is kept in memory for `log`).
    func stop(signal: Int32 = SIGTERM) {
        if finalLog != nil { return }
        var children: [pid_t] = []
        if process.isRunning {
            children = Self.children(of: pid)
            kill(pid, signal)
            for _ in 0..<20 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        for c in children { kill(c, SIGKILL) }
        finalLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        for p in [configPath, secretsPath, pppOptionsPath, fakePPPDPath, pidPath, controlPath, logPath] {
            try? FileManager.default.removeItem(atPath: p)
        }
    }

    static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { t in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    deinit { stop() }
}

struct XL2TPDError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Two namespaces `lac` (10.77.0.1) and `lns` (10.77.0.2) joined by a veth; a directory for the daemons' files.
struct L2TPBed {
    let namespaces: Namespaces
    let lac: String, lns: String
    let directory: String

    init(_ test: String) throws {
        namespaces = Namespaces("x2d\(test)")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("isth-xl2tpd-\(getpid())-\(test)").path
        do {
            lac = try namespaces.make("lac"); lns = try namespaces.make("lns")
            try Host.sh("""
                ip link add xa netns \(lac) type veth peer name xb netns \(lns) &&
                ip -n \(lac) addr add 10.77.0.1/24 dev xa && ip -n \(lns) addr add 10.77.0.2/24 dev xb &&
                ip -n \(lac) link set xa up && ip -n \(lns) link set xb up
                """)
        } catch { namespaces.removeAll(); throw error }
    }

    func startLNS(secret: String? = nil, challenge: Bool = false) throws -> XL2TPD {
        try XL2TPD(netns: lns, role: .lns(localIP: "192.168.77.1", ipRange: "192.168.77.10-192.168.77.20"),
                   secret: secret, challenge: challenge, directory: directory)
    }

    func startLAC(secret: String? = nil, challenge: Bool = false, fakePPPD: Bool = true) throws -> XL2TPD {
        try XL2TPD(netns: lac, role: .lac(name: "peer", lns: "10.77.0.2"), secret: secret, challenge: challenge,
                   fakePPPD: fakePPPD, directory: directory)
    }

    func remove() {
        namespaces.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

