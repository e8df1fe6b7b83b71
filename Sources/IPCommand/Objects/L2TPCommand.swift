import CLinuxUAPI
import Netlink
import NetlinkWire

/// `l2tp add|del|show tunnel|session ...`: iproute2's `ip l2tp` over the kernel's "l2tp" generic-netlink family.
///
/// Keywords, defaults and request attribute order follow iproute2 6.1's ip/ipl2tp.c, so requests are byte-identical
/// (see the l2tp-*.golden fixtures). Two deliberate differences: `show tunnel tunnel_id N` and
/// `show session [tunnel_id N] [session_id N]` filter the listing (iproute2 sends the ids in a dump request, which
/// the kernel ignores, and prints everything), and a session's printed cookies are its own (iproute2 carries a
/// previous session's cookie over to sessions that have none).
public enum L2TPCommand {
    /// The verbs, in iproute2's matching order (a prefix picks the first that matches).
    public static let verbs = ["add", "delete", "show", "list", "lst"]

    /// Every keyword `ip l2tp` accepts after the verb.
    public static let keywords = [
        "tunnel", "session", "tunnel_id", "tid", "peer_tunnel_id", "ptid", "session_id", "sid",
        "peer_session_id", "psid", "encap", "local", "remote", "udp_sport", "udp_dport", "udp_csum",
        "udp6_csum_tx", "udp6_csum_rx", "name", "cookie", "peer_cookie", "l2spec_type", "seq",
        "offset", "peer_offset", "help",
    ]

    /// Runs one `l2tp` command line (the words after "l2tp").
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        guard let first = args.peek else { throw UsageError(Usage.l2tp) }
        if !first.isEmpty && "help".hasPrefix(first) { throw UsageError(Usage.l2tp) }
        let verb = try args.verb(verbs, default: "show")
        let p = try L2TPParameters.parse(&args)
        switch verb {
        case "add": try add(p, session)
        case "delete": try delete(p, session)
        default: try show(p, session)
        }
    }

    // MARK: verbs

    static func client(_ session: Session) throws -> L2TPClient {
        // Queued rtnetlink requests (batch mode) go first: an address added earlier may be the tunnel's local one.
        try session.flush()
        return try L2TPClient(transport: session.genl())
    }

    static func add(_ p: L2TPParameters, _ session: Session) throws {
        guard p.tunnel || p.session else { throw L2TPParameters.missingObject("add") }
        guard p.tunnelID != 0 else { throw p.missing("tunnel_id", "ID (1..4294967295)") }
        if p.session {
            guard p.peerSessionID != 0 else { throw p.missing("peer_session_id", "ID (1..4294967295)") }
            guard p.sessionID != 0 else { throw p.missing("session_id", "ID (1..4294967295)") }
        }
        var tunnel: L2TPTunnelConfig?
        if p.tunnel {
            guard p.peerTunnelID != 0 else { throw p.missing("peer_tunnel_id", "ID (1..4294967295)") }
            guard let local = p.local else { throw p.missing("local", "the local IPv4 or IPv6 address") }
            guard let remote = p.remote else { throw p.missing("remote", "the remote IPv4 or IPv6 address") }
            guard local.isV6 == remote.isV6 else {
                throw UsageError("\"local\" \(local) and \"remote\" \(remote) must both be IPv4 or both IPv6")
            }
            if p.encap == .udp {
                guard p.localPort != 0 else { throw p.missing("udp_sport", "the local UDP port (1..65535)") }
                guard p.remotePort != 0 else { throw p.missing("udp_dport", "the remote UDP port (1..65535)") }
            }
            tunnel = L2TPTunnelConfig(
                tunnelID: p.tunnelID, peerTunnelID: p.peerTunnelID, protocolVersion: 3, encapsulation: p.encap,
                local: local, remote: remote, localPort: p.localPort, remotePort: p.remotePort,
                udpChecksum: p.udpChecksum, udp6ZeroChecksumTX: !p.udp6ChecksumTX, udp6ZeroChecksumRX: !p.udp6ChecksumRX)
        }
        let client = try client(session)
        if let tunnel { try client.createTunnel(tunnel) }
        if p.session {
            // Only Ethernet pseudowires, like ip l2tp.
            try client.createSession(L2TPSessionConfig(
                tunnelID: p.tunnelID, peerTunnelID: p.peerTunnelID, sessionID: p.sessionID, peerSessionID: p.peerSessionID,
                pseudowireType: .eth, l2specType: p.l2specType, l2specLength: p.l2specLength,
                recvSeq: p.recvSeq ? true : nil, sendSeq: p.sendSeq ? true : nil,
                cookie: p.cookie, peerCookie: p.peerCookie, ifname: p.ifname))
        }
    }

    static func delete(_ p: L2TPParameters, _ session: Session) throws {
        guard p.tunnel || p.session else { throw L2TPParameters.missingObject("del") }
        if p.tunnel { guard p.tunnelID != 0 else { throw p.missing("tunnel_id", "ID (1..4294967295)") } }
        if p.session {
            guard p.sessionID != 0 else { throw p.missing("session_id", "ID (1..4294967295)") }
            guard p.tunnelID != 0 else { throw p.missing("tunnel_id", "the session's tunnel ID (1..4294967295)") }
        }
        let client = try client(session)
        // As ip l2tp: a session id selects the session, even after "tunnel".
        if p.sessionID != 0 {
            try client.deleteSession(tunnelID: p.tunnelID, sessionID: p.sessionID)
        } else {
            try client.deleteTunnel(p.tunnelID)
        }
        session.invalidateNames()
    }

    static func show(_ p: L2TPParameters, _ session: Session) throws {
        guard p.tunnel || p.session else { throw L2TPParameters.missingObject("show") }
        let client = try client(session)
        if p.session {
            for s in try client.sessions() {
                if p.tunnelID != 0 && s.tunnelID != p.tunnelID { continue }
                if p.sessionID != 0 && s.sessionID != p.sessionID { continue }
                if session.options.json { session.emit(sessionJSON(s)) } else { sessionText(s).forEach(session.print) }
            }
        } else {
            for t in try client.tunnels() {
                if p.tunnelID != 0 && t.tunnelID != p.tunnelID { continue }
                if session.options.json { session.emit(tunnelJSON(t)) } else { tunnelText(t).forEach(session.print) }
            }
        }
    }

    // MARK: output (ipl2tp.c print_tunnel / print_session)

    /// The lines `ip l2tp show tunnel` prints for a tunnel.
    public static func tunnelText(_ t: L2TPTunnelConfig) -> [String] {
        var out = ["Tunnel \(t.tunnelID), encap \(t.encapsulation)",
                   "  From \(t.local.map { "\($0)" } ?? "::") to \(t.remote.map { "\($0)" } ?? "::")",
                   "  Peer tunnel \(t.peerTunnelID)"]
        if t.encapsulation == .udp {
            out.append("  UDP source / dest ports: \(t.localPort ?? 0)/\(t.remotePort ?? 0)")
            if t.local?.isV6 ?? true {
                let tx = !t.udp6ZeroChecksumTX, rx = !t.udp6ZeroChecksumRX
                out.append("  UDP checksum: " + (tx && rx ? "enabled" : tx ? "tx" : rx ? "rx" : "disabled"))
            } else {
                out.append("  UDP checksum: " + (t.udpChecksum ? "enabled" : "disabled"))
            }
        }
        return out
    }

    /// The object `ip -j l2tp show tunnel` prints for a tunnel.
    public static func tunnelJSON(_ t: L2TPTunnelConfig) -> JSON {
        var o = JSONObject()
        o.set("tunnel_id", t.tunnelID)
        o.set("encap", t.encapsulation.description)
        o.set("local", t.local.map { "\($0)" } ?? "::")
        o.set("peer", t.remote.map { "\($0)" } ?? "::")
        o.set("peer_tunnel", t.peerTunnelID)
        if t.encapsulation == .udp {
            o.set("local_port", t.localPort ?? 0)
            o.set("peer_port", t.remotePort ?? 0)
            if t.local?.isV6 ?? true {
                o.set("checksum_tx", !t.udp6ZeroChecksumTX)
                o.set("checksum_rx", !t.udp6ZeroChecksumRX)
            } else {
                o.set("checksum", t.udpChecksum)
            }
        }
        return o.json
    }

    /// The lines `ip l2tp show session` prints for a session (a blank line ends a session without cookies or
    /// sequencing, as in iproute2).
    public static func sessionText(_ s: L2TPSessionConfig) -> [String] {
        var text = "Session \(s.sessionID) in tunnel \(s.tunnelID)\n"
        text += "  Peer session \(s.peerSessionID), tunnel \(s.peerTunnelID)\n"
        if let ifname = s.ifname { text += "  interface name: \(ifname)\n" }
        // Offsets are gone from the kernel; iproute2 keeps printing zeros for legacy scripts.
        text += "  offset 0, peer offset 0\n"
        if let c = s.cookie, !c.isEmpty { text += "  cookie \(hex(c))" }
        if let c = s.peerCookie, !c.isEmpty { text += "  peer cookie \(hex(c))" }
        if let t = s.reorderTimeout, t != 0 { text += "  reorder timeout: \(t)" }
        let send = s.sendSeq ?? false, recv = s.recvSeq ?? false
        if send || recv {
            text += "\n  sequence numbering:"
            if send { text += " send" }
            if recv { text += " recv" }
        }
        text += "\n"
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// The object `ip -j l2tp show session` prints for a session.
    public static func sessionJSON(_ s: L2TPSessionConfig) -> JSON {
        var o = JSONObject()
        o.set("session_id", s.sessionID)
        o.set("tunnel_id", s.tunnelID)
        o.set("peer_session_id", s.peerSessionID)
        o.set("peer_tunnel_id", s.peerTunnelID)
        o.set("interface", s.ifname)
        if let c = s.cookie, !c.isEmpty { o.set("cookie", hex(c)) }
        if let c = s.peerCookie, !c.isEmpty { o.set("peer_cookie", hex(c)) }
        if let t = s.reorderTimeout, t != 0 { o.set("reorder_timeout", t) }
        if s.sendSeq ?? false { o.set("send_seq", JSON.null) }
        if s.recvSeq ?? false { o.set("recv_seq", JSON.null) }
        return o.json
    }

    package static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// The words of an `ip l2tp` command, parsed like ipl2tp.c's parse_args: every keyword is accepted by every verb.
package struct L2TPParameters {
    package var tunnel = false
    package var session = false
    package var tunnelID: UInt32 = 0
    package var peerTunnelID: UInt32 = 0
    package var sessionID: UInt32 = 0
    package var peerSessionID: UInt32 = 0
    package var encap: L2TPEncapType = .udp
    package var local: IPAddress?
    package var remote: IPAddress?
    package var localPort: UInt16 = 0
    package var remotePort: UInt16 = 0
    package var udpChecksum = false
    package var udp6ChecksumTX = true
    package var udp6ChecksumRX = true
    package var cookie: [UInt8]?
    package var peerCookie: [UInt8]?
    package var l2specType: L2TPL2SpecType = .default
    package var l2specLength: UInt8 = 4
    package var recvSeq = false
    package var sendSeq = false
    package var ifname: String?
    /// The command words, for error messages.
    package var context = ""

    package static func parse(_ args: inout Arguments) throws -> L2TPParameters {
        var p = L2TPParameters()
        p.context = args.context
        while let word = args.next() {
            switch word {
            case "tunnel": p.tunnel = true
            case "session": p.session = true
            case "tunnel_id", "tid": p.tunnelID = try id(&args, word)
            case "peer_tunnel_id", "ptid": p.peerTunnelID = try id(&args, word)
            case "session_id", "sid": p.sessionID = try id(&args, word)
            case "peer_session_id", "psid": p.peerSessionID = try id(&args, word)
            case "encap":
                let v = try args.value(for: word, expected: "ip or udp")
                switch v {
                case "ip": p.encap = .ip
                case "udp": p.encap = .udp
                default: throw UsageError.invalid(v, for: word, expected: "one of ip, udp")
                }
            case "local": p.local = try address(&args, word)
            case "remote": p.remote = try address(&args, word)
            case "udp_sport": p.localPort = try port(&args, word)
            case "udp_dport": p.remotePort = try port(&args, word)
            case "udp_csum": p.udpChecksum = try onOff(&args, word)
            case "udp6_csum_tx": p.udp6ChecksumTX = try onOff(&args, word)
            case "udp6_csum_rx": p.udp6ChecksumRX = try onOff(&args, word)
            case "name":
                p.ifname = try args.interfaceName(for: word)
            case "cookie": p.cookie = try cookie(&args, word)
            case "peer_cookie": p.peerCookie = try cookie(&args, word)
            case "l2spec_type":
                let v = try args.value(for: word, expected: "none or default")
                switch v.lowercased() {
                case "default": p.l2specType = .default; p.l2specLength = 4
                case "none": p.l2specType = .none; p.l2specLength = 0
                default: throw UsageError.invalid(v, for: word, expected: "one of none, default")
                }
            case "seq":
                let v = try args.value(for: word, expected: "none, send, recv or both")
                switch v.lowercased() {
                case "both": p.recvSeq = true; p.sendSeq = true
                case "recv": p.recvSeq = true
                case "send": p.sendSeq = true
                case "none": p.recvSeq = false; p.sendSeq = false
                default: throw UsageError.invalid(v, for: word, expected: "one of none, send, recv, both")
                }
            case "offset", "peer_offset":
                // Accepted and ignored, as iproute2 does since kernels dropped offsets.
                _ = try args.value(for: word, expected: "an offset (ignored)")
            default:
                if !word.isEmpty && "help".hasPrefix(word) { throw UsageError(Usage.l2tp) }
                throw args.unknown(word, validChoices: L2TPCommand.keywords)
            }
        }
        return p
    }

    package func missing(_ keyword: String, _ expected: String) -> UsageError {
        let object = tunnel && session ? "tunnel and session" : tunnel ? "tunnel" : "session"
        return UsageError("\"\(context) \(object)\" needs \"\(keyword)\": \(expected)")
    }

    static func missingObject(_ verb: String) -> UsageError {
        UsageError("\"l2tp \(verb)\" needs \"tunnel\" or \"session\"")
    }

    static func id(_ args: inout Arguments, _ keyword: String) throws -> UInt32 {
        let v = try args.value(for: keyword, expected: "an ID (1..4294967295)")
        guard let n = cUnsigned(v, UInt32.self) else { throw UsageError.invalid(v, for: keyword, expected: "an ID (1..4294967295)") }
        return n
    }

    static func port(_ args: inout Arguments, _ keyword: String) throws -> UInt16 {
        let v = try args.value(for: keyword, expected: "a UDP port (0..65535)")
        guard let n = cUnsigned(v, UInt16.self) else { throw UsageError.invalid(v, for: keyword, expected: "a UDP port (0..65535)") }
        return n
    }

    static func onOff(_ args: inout Arguments, _ keyword: String) throws -> Bool {
        let v = try args.value(for: keyword, expected: "on or off")
        switch v {
        case "on": return true
        case "off": return false
        default: throw UsageError.invalid(v, for: keyword, expected: "one of on, off")
        }
    }

    /// An IPv4 or IPv6 address; "any", "all" and "default" leave it unset, as iproute2's get_addr does.
    static func address(_ args: inout Arguments, _ keyword: String) throws -> IPAddress? {
        let v = try args.value(for: keyword, expected: "an IPv4 or IPv6 address")
        if v == "any" || v == "all" || v == "default" { return nil }
        guard let a = IPAddress(v) else { throw UsageError.invalid(v, for: keyword, expected: "an IPv4 or IPv6 address") }
        return a
    }

    /// 8 or 16 hex digits: a 4 or 8 byte cookie.
    static func cookie(_ args: inout Arguments, _ keyword: String) throws -> [UInt8] {
        let v = try args.value(for: keyword, expected: "8 or 16 hex digits")
        let digits = Array(v.utf8)
        guard digits.count == 8 || digits.count == 16 else {
            throw UsageError.invalid(v, for: keyword, expected: "8 or 16 hex digits (a 4 or 8 byte cookie), got \(digits.count)")
        }
        var out: [UInt8] = []
        var i = 0
        while i < digits.count {
            guard let hi = hexValue(digits[i]), let lo = hexValue(digits[i + 1]) else {
                throw UsageError.invalid(v, for: keyword, expected: "8 or 16 hex digits (0-9, a-f)")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// An unsigned number the way iproute2's get_u32/get_u16 read it (strtoul base 0: 0x hex, leading-0 octal,
    /// else decimal), refusing anything that does not fit.
    static func cUnsigned<T: FixedWidthInteger & UnsignedInteger>(_ s: String, _: T.Type) -> T? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return T(s.dropFirst(2), radix: 16) }
        if s.count > 1 && s.hasPrefix("0") { return T(s.dropFirst(), radix: 8) }
        return T(s, radix: 10)
    }
}
