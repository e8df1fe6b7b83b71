import Foundation
import Addresses

/// PPP over L2TP calls (RFC 2661; the L2TPv3 PPP pseudowire, RFC 3931): what the agent asks pppd to do for each
/// call, as values. `[l2tp.ppp]` in the agent's file (docs/L2TP.md). The I/O is `PPPCalls`.
public struct PPPConfig: Equatable, Sendable {
    /// What the LNS requires of the peer (pppd's `require-*`); `none`: no authentication (`noauth`); `radius`: the
    /// peer authenticates with what it offers of `RadiusConfig.methods`, checked by the RADIUS servers (`radius`).
    public enum Auth: String, CaseIterable, Equatable, Sendable {
        case none, pap, chap
        case mschapV2 = "mschap-v2"
        case radius
    }

    /// How the kernel's tunnel is made for the PPPoL2TP sockets.
    public enum KernelAPI: String, CaseIterable, Equatable, Sendable {
        /// Netlink when the l2tp generic-netlink family is there, else the tunnel management socket.
        case auto
        /// L2TP_CMD_TUNNEL_CREATE with the tunnel's UDP socket (L2TP_ATTR_FD).
        case netlink
        /// The L2TPv2-only API: a PPPoL2TP socket connected with session 0 creates the tunnel (no netlink needed).
        case socket
    }

    /// LNS: the peer must authenticate this way.
    public var auth: Auth = .none
    /// LNS: our end's IPCP address.
    public var localAddress: IPv4?
    /// LNS: one peer address per call.
    public var pool: AddressPool?
    /// DNS servers offered to the peer (`ms-dns`), at most 2.
    public var dns: [IPv4] = []
    /// A pppd secrets file (chap-secrets format) that pppd reads instead of /etc/ppp/chap-secrets and pap-secrets.
    public var secrets: String?
    /// LAC: the name to authenticate as.
    public var user: String?
    /// LAC: its password (kept out of pppd's command line: written to a 0600 secrets file pppd reads).
    public var password: String?
    public var mtu: Int?
    public var mru: Int?
    /// Calls get interfaces PREFIX0, PREFIX1, ... (the lowest number free).
    public var interfacePrefix: String = "ppp"
    /// The pppd program.
    public var pppd: String = "/usr/sbin/pppd"
    /// pppd's L2TP plugin (the name pppd looks up in its plugin directory, or a path).
    public var plugin: String = "pppol2tp.so"
    /// More pppd words, appended as given.
    public var options: [String] = []
    /// Send and require sequence numbers on data (PPPOL2TP_SO_SENDSEQ / RECVSEQ).
    public var sequencing: Bool = false
    /// Milliseconds to hold out-of-order data for reordering (PPPOL2TP_SO_REORDERTO); 0: none.
    public var reorderTimeout: Int = 0
    /// LCP echo: seconds between echo requests and unanswered ones before the link is dropped (0: off).
    public var lcpEchoInterval: Int = 10
    public var lcpEchoFailure: Int = 3
    public var kernelAPI: KernelAPI = .auto
    /// `auth = .radius`: the servers (`[l2tp.radius]`).
    public var radius: RadiusConfig?

    public init() {}
}

/// An IPv4 address (host order).
public struct IPv4: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    /// A dotted quad, as the rest of the configuration reads one (`IPAddress`).
    public init?(_ text: String) {
        guard let a = IPAddress(text), !a.isV6 else { return nil }
        value = a.bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
    public var description: String { "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)" }
    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }
}

/// The LNS's peer addresses: an inclusive range, one address per call, the lowest free first. An address comes
/// back to the pool when its call ends.
public struct AddressPool: Equatable, Sendable, CustomStringConvertible {
    public let first: IPv4
    public let last: IPv4
    private(set) var used: Set<UInt32> = []

    public init?(first: IPv4, last: IPv4) {
        guard first <= last else { return nil }
        self.first = first; self.last = last
    }

    /// `"A-B"` (both ends included) or `"A/N"` (every host address of the prefix: without the network and
    /// broadcast addresses when N < 31).
    public init?(_ text: String) {
        if let dash = text.firstIndex(of: "-") {
            guard let a = IPv4(String(text[..<dash]).trimmingSpaces), let b = IPv4(String(text[text.index(after: dash)...]).trimmingSpaces)
            else { return nil }
            self.init(first: a, last: b)
        } else if let slash = text.firstIndex(of: "/") {
            guard let a = IPv4(String(text[..<slash])), let n = Int(text[text.index(after: slash)...]), (8...32).contains(n) else { return nil }
            let mask: UInt32 = n == 0 ? 0 : ~UInt32(0) << (32 - n)
            let net = a.value & mask, bcast = net | ~mask
            if n >= 31 { self.init(first: IPv4(net), last: IPv4(bcast)) }
            else { self.init(first: IPv4(net + 1), last: IPv4(bcast - 1)) }
        } else {
            guard let a = IPv4(text) else { return nil }
            self.init(first: a, last: a)
        }
    }

    public var size: Int { Int(last.value - first.value) + 1 }
    public var available: Int { size - used.count }
    public func contains(_ a: IPv4) -> Bool { a >= first && a <= last }
    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }

    /// The lowest free address not in `excluding` (e.g. the LNS's own), now in use; nil when none is left.
    public mutating func allocate(excluding: Set<IPv4> = []) -> IPv4? {
        var v = first.value
        while true {
            if !used.contains(v) && !excluding.contains(IPv4(v)) { used.insert(v); return IPv4(v) }
            if v == last.value { return nil }
            v += 1
        }
    }

    public mutating func release(_ a: IPv4) { used.remove(a.value) }

    /// Marks `a` in use when it is in the range and free (an address a call got elsewhere, e.g. from RADIUS);
    /// false when it is outside the range or already in use.
    public mutating func reserve(_ a: IPv4) -> Bool {
        guard contains(a), !used.contains(a.value) else { return false }
        used.insert(a.value)
        return true
    }

    public static func == (a: AddressPool, b: AddressPool) -> Bool { a.first == b.first && a.last == b.last }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// One call's pppd, as words: what `PPPCalls` runs. Pure, so the command line is tested without pppd.
public struct PPPDInvocation: Equatable, Sendable {
    /// LNS mode: this side answered the incoming call (or asked for the outgoing one) and decides on sequencing.
    public var lnsMode: Bool
    public var tunnelID: UInt32
    public var sessionID: UInt32
    /// The interface pppd names the unit.
    public var interface: String
    /// LNS: the peer's address from the pool.
    public var peerAddress: IPv4?
    /// For the `ipparam` pppd hands to its ip-up/ip-down scripts.
    public var callName: String
    /// A secrets file pppd reads as /etc/ppp/*-secrets (bind-mounted in its private mount namespace).
    public var secretsFile: String?
    /// Started before the call is connected (the LNS answering an incoming call): wait for the peer's LCP
    /// (`silent`) instead of sending Configure-Requests into a session the peer has not made yet.
    public var silent = false
    /// `auth = .radius`: the radiusclient file the agent wrote for pppd's radius plugin.
    public var radiusConfigFile: String?

    public init(lnsMode: Bool, tunnelID: UInt32, sessionID: UInt32, interface: String, peerAddress: IPv4? = nil,
                callName: String, secretsFile: String? = nil) {
        self.lnsMode = lnsMode; self.tunnelID = tunnelID; self.sessionID = sessionID; self.interface = interface
        self.peerAddress = peerAddress; self.callName = callName; self.secretsFile = secretsFile
    }

    /// The fd number the channel socket has in pppd (isthmus_spawn_channel puts it there).
    public static let channelFD = 3

    /// pppd's argv (without argv[0]). pppd stays in the foreground (`nodetach`) so the agent sees it exit, logs
    /// to its stderr, and gets the channel as fd 3 from the pppol2tp plugin. The LAC side accepts the addresses
    /// the LNS gives (`noipdefault`, `ipcp-accept-*`) and does not ask the LNS to authenticate itself (`noauth`).
    /// How pppd gets its frames.
    public enum Channel: Sendable {
        /// The kernel's PPPoL2TP socket as fd 3, through the pppol2tp plugin.
        case pppol2tp
        /// Async HDLC on a tty (the slave of the agent's pty), for the userspace data plane.
        case tty(String)
    }

    public func arguments(_ c: PPPConfig, hostName: String, channel: Channel = .pppol2tp) -> [String] {
        var a: [String]
        switch channel {
        case .pppol2tp:
            a = ["plugin", c.plugin, "pppol2tp", "\(Self.channelFD)"]
            if lnsMode { a.append("pppol2tp_lns_mode") }
            if c.sequencing { a += ["pppol2tp_send_seq", "pppol2tp_recv_seq"] }
            if c.reorderTimeout > 0 { a += ["pppol2tp_reorderto", "\(c.reorderTimeout)"] }
            a += ["pppol2tp_tunnel_id", "\(tunnelID)", "pppol2tp_session_id", "\(sessionID)"]
        case .tty(let device):
            // No modem lines on a pty; the agent escapes every control character towards pppd, so asyncmap 0.
            a = [device, "local", "asyncmap", "0"]
        }
        a += ["nodetach", "logfd", "2", "ifname", interface, "ipparam", callName, "noccp", "nopcomp", "noaccomp"]
        if silent { a.append("silent") }
        if lnsMode {
            switch c.auth {
            case .none: a.append("noauth")
            case .pap: a += ["auth", "require-pap"]
            case .chap: a += ["auth", "require-chap"]
            case .mschapV2: a += ["auth", "require-mschap-v2"]
            case .radius:
                // Only the methods RADIUS can check: without a require-* pppd would also offer EAP, which the plugin
                // does not handle. pppd asks for CHAP first and moves on to what the peer accepts.
                a.append("auth")
                a += (c.radius?.methods ?? RadiusConfig.Method.allCases).map(\.pppdWord)
                if let f = radiusConfigFile { a += ["plugin", "radius.so", "radius-config-file", f] }
            }
            a += ["name", hostName]
            if let l = c.localAddress, let p = peerAddress { a.append("\(l):\(p)") }
            else if let p = peerAddress { a.append(":\(p)") }
            else if let l = c.localAddress { a.append("\(l):") }
            for d in c.dns { a += ["ms-dns", "\(d)"] }
        } else {
            a += ["noauth", "noipdefault", "ipcp-accept-local", "ipcp-accept-remote"]
            if let u = c.user { a += ["user", u] }
        }
        if c.lcpEchoInterval > 0 { a += ["lcp-echo-interval", "\(c.lcpEchoInterval)", "lcp-echo-failure", "\(c.lcpEchoFailure)"] }
        if let m = c.mtu { a += ["mtu", "\(m)"] }
        if let m = c.mru { a += ["mru", "\(m)"] }
        return a + c.options
    }

    /// What a waitpid status of pppd means: its exit reason, or the signal that killed it; and the exit code.
    /// `radius`: the LNS checked the peer with RADIUS (an authentication failure says where to look).
    public static func waitReason(_ status: Int32, radius: Bool = false) -> (reason: String, exitCode: Int32?) {
        if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff
            if radius && code == 11 {
                return ("the peer failed to authenticate itself: the RADIUS server rejected it or none answered (pppd's lines before this say which; the server's log says why)", code)
            }
            return (exitReason(code), code)
        }
        return ("pppd was killed by signal \(status & 0x7f)", nil)
    }

    /// What pppd's exit status means (pppd(8), EXIT STATUS), for logs and the CDN's message.
    public static func exitReason(_ status: Int32) -> String {
        switch status {
        case 0: "pppd exited (the link was terminated)"
        case 1: "pppd: fatal error"
        case 2: "pppd: an option was wrong"
        case 3: "pppd is not setuid-root and the invoking user is not root"
        case 4: "pppd: the kernel has no PPP support (ppp_generic)"
        case 5: "pppd was stopped by a signal"
        case 6: "pppd could not lock the device"
        case 7: "pppd could not open the device"
        case 8: "pppd: the connect script failed"
        case 10: "PPP negotiation failed"
        case 11: "the peer failed to authenticate itself"
        case 12: "the link was idle"
        case 13: "the connect time limit was reached"
        case 15: "the peer stopped answering LCP echo requests"
        case 16: "the modem hung up"
        case 17: "PPP loopback detected"
        case 18: "pppd's init script failed"
        case 19: "authentication to the peer failed"
        default: "pppd exited with status \(status)"
        }
    }
}

/// The secrets file the agent writes for pppd: the LAC's own user/password, then the lines of `secrets` (if any).
/// chap-secrets format: client server secret [addresses]; each word quoted.
public func pppSecretsText(_ c: PPPConfig, extra: String?) -> String? {
    guard c.password != nil || extra != nil else { return nil }
    var s = "# written by isthmus l2tp run for pppd; do not edit\n"
    if let p = c.password { s += "\(quotePPP(c.user ?? "*")) * \(quotePPP(p)) *\n" }
    if let extra { s += extra; if !extra.hasSuffix("\n") { s += "\n" } }
    return s
}

/// A pppd secrets-file word: in double quotes, with `\` and `"` escaped.
func quotePPP(_ w: String) -> String {
    "\"" + w.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
