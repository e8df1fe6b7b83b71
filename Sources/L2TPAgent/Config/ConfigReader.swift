import Glibc
import L2TPWire
import Config
import Addresses

/// Reads the `[l2tp]` table of a TOML file into an `L2TPAgentConfig`, collecting every problem as
/// `FILE:LINE:COL: message` + hint (the site and lab readers' way, through Config's `TOMLValidating`). The keys are
/// described in docs/L2TP.md.
public enum L2TPConfigReader {
    public static let topKeys = ["l2tp"]
    public static let l2tpKeys = ["name", "version", "host_name", "router_id", "listen", "secret", "digest", "challenge",
                                  "hide_avps", "hello", "retransmit", "window", "data_plane", "status",
                                  "tunnel", "pseudowire", "call", "ppp", "radius", "ipsec"]
    public static let retransmitKeys = ["initial", "max", "count"]
    public static let tunnelKeys = ["name", "peer", "local", "redial", "redial_max"]
    public static let pseudowireKeys = ["name", "type", "interface", "tunnel", "cookie", "sublayer", "sequencing", "mtu", "bridge"]
    public static let callKeys = ["tunnel", "number", "outgoing"]
    public static let pppKeys = ["auth", "local_address", "pool", "dns", "secrets", "user", "password", "mtu", "mru",
                                 "interface", "pppd", "plugin", "options", "sequencing", "reorder_timeout",
                                 "lcp_echo_interval", "lcp_echo_failure", "kernel_api"]
    public static let ipsecKeys = ["psk", "certificate", "private_key", "ca", "require", "vici", "ike_proposals", "esp_proposals"]
    public static let radiusKeys = ["servers", "secret", "accounting_port", "nas_identifier", "timeout", "retries", "methods"]

    /// Parses and validates `text` (read from `file`, the name errors carry). `defaultName`: the agent's name when
    /// `name` is not given (`load` passes the file's base name); `defaultHostName`: the Host Name AVP when
    /// `host_name` is not given. Throws every problem found, sorted by position.
    public static func read(_ text: String, file: String, defaultName: String,
                            defaultHostName: String) throws(ConfigErrors) -> L2TPAgentConfig {
        var v = L2TPConfigValidator(file: file, defaultName: defaultName, defaultHostName: defaultHostName)
        return try v.load(text) { $0.validate($1) }.get()
    }

    /// Reads the file at `path`: the agent's name defaults to the file's base name (`/etc/isthmus/lns.toml`: "lns"),
    /// the host name to this host's (`gethostname`) unless `hostName` is given.
    public static func load(path: String, hostName: String? = nil) throws(ConfigErrors) -> L2TPAgentConfig {
        let text: String
        switch readFile(path) {
        case .success(let t): text = t
        case .failure(let why):
            throw ConfigErrors([ConfigError(file: path, position: TOMLPosition(line: 1, column: 1),
                                            message: "cannot read the config file: \(why.description)",
                                            hint: "give the path of a readable TOML file with an [l2tp] table to --config")])
        }
        return try read(text, file: path, defaultName: baseName(path), defaultHostName: hostName ?? systemHostName())
    }

    /// The file's name without its directory and its last extension: "/etc/isthmus/lns.toml" → "lns".
    public static func baseName(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = last.lastIndex(of: "."), dot != last.startIndex else { return last }
        return String(last[..<dot])
    }

    /// This host's name, or "" when it has none.
    public static func systemHostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Why `text` is not an endpoint (`ADDRESS`, `IPV4:PORT`, `[IPV6]:PORT`; a bare IPv6 address takes no port).
    public enum EndpointProblem: Error, Equatable, Sendable, CustomStringConvertible {
        case notAnAddress
        case v6PortWithoutBrackets
        case notIPv6InBrackets
        case badPort
        public var description: String {
            switch self {
            case .notAnAddress: "is not an IPv4 or IPv6 address (host names are not resolved)"
            case .v6PortWithoutBrackets: "is not an address; an IPv6 address with a port is written in brackets"
            case .notIPv6InBrackets: "has brackets around something that is not an IPv6 address"
            case .badPort: "has a port that is not 1..65535"
            }
        }
    }

    /// Parses an endpoint; the port defaults to `defaultPort`. The address is kept in canonical form (RFC 5952).
    public static func endpoint(_ text: String, defaultPort: UInt16 = 1701) -> Result<L2TPAgentConfig.Endpoint, EndpointProblem> {
        func port(_ s: Substring) -> UInt16? {
            guard !s.isEmpty, s.utf8.count <= 5, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let n = Int(s), (1...65535).contains(n) else { return nil }
            return UInt16(n)
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.notIPv6InBrackets) }
            let inside = String(text[text.index(after: text.startIndex)..<close])
            guard let a = IPAddress(inside), a.isV6 else { return .failure(.notIPv6InBrackets) }
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return .success(.init(address: a.description, port: defaultPort)) }
            guard rest.hasPrefix(":"), let p = port(rest.dropFirst()) else { return .failure(.badPort) }
            return .success(.init(address: a.description, port: p))
        }
        let colons = text.utf8.count(where: { $0 == 0x3a })
        if colons == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard let a = IPAddress(String(parts[0])), !a.isV6 else { return .failure(.notAnAddress) }
            guard let p = port(parts[1]) else { return .failure(.badPort) }
            return .success(.init(address: a.description, port: p))
        }
        guard let a = IPAddress(text) else { return .failure(colons > 1 ? .v6PortWithoutBrackets : .notAnAddress) }
        return .success(.init(address: a.description, port: defaultPort))
    }

    private struct ReadProblem: Error, CustomStringConvertible {
        var description: String
    }

    private static func readFile(_ path: String) -> Result<String, ReadProblem> {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadProblem(description: String(cString: strerror(errno)))) }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadProblem(description: String(cString: strerror(errno))))
            }
            if n == 0 { break }
            bytes += buf[0..<n]
            if bytes.count > 4 << 20 { return .failure(ReadProblem(description: "larger than 4 MiB")) }
        }
        guard let s = String(validating: bytes, as: UTF8.self) else {
            return .failure(ReadProblem(description: "not UTF-8 text"))
        }
        return .success(s)
    }
}

/// Checks a parsed document against the `[l2tp]` layout, collecting every problem before anything runs.
struct L2TPConfigValidator: TOMLValidating {
    let file: String
    let defaultName: String
    let defaultHostName: String
    var errors: [ConfigError] = []
    /// Every tunnel with a valid name, even one with errors of its own: references to it are not reported again.
    var declaredTunnels: [String] = []
    /// Some [[l2tp.pseudowire]] has type = "ppp" ([l2tp.ppp] then applies to v3).
    var hasPPPPseudowire = false

    init(file: String, defaultName: String, defaultHostName: String) {
        self.file = file; self.defaultName = defaultName; self.defaultHostName = defaultHostName
    }

    private enum DigestName: String, CaseIterable {
        case md5, sha1
        var algorithm: DigestAlgorithm { self == .md5 ? .hmacMD5 : .hmacSHA1 }
    }

    private enum Sublayer: String, CaseIterable {
        case none, `default`
    }

    static func validAgentName(_ s: String) -> Bool {
        s != "." && s != ".." && validToken(s, max: 64)
    }

    /// 1...max letters, digits, '-', '_' or '.'.
    static func validToken(_ s: String, max: Int) -> Bool {
        !s.isEmpty && s.utf8.count <= max && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x2e || $0 == 0x5f
        }
    }

    static func versionLabel(_ v: L2TPVersion) -> String { v == .v2 ? "version = 2 (L2TPv2)" : "version = 3 (L2TPv3)" }

    // MARK: - accessors

    /// A number of seconds (integer or float), more than 0 (at least `min` if given) and at most `max`.
    mutating func seconds(_ t: TOMLTable, _ key: String, min: Double? = nil, max: Double, example: String) -> (Double, TOMLTable.Entry)? {
        guard let e = t[entry: key] else { return nil }
        let range = min.map { "\(Self.show($0))..\(Self.show(max))" } ?? "more than 0 and at most \(Self.show(max))"
        guard let d = e.node.float ?? e.node.integer.map(Double.init) else {
            typeError(e, "a number of seconds (\(range))", example: example)
            return nil
        }
        guard d.isFinite, d > 0, d >= (min ?? 0), d <= max else {
            error(e.node.position, "`\(key)` \(Self.show(d)) is out of range: \(range) seconds", hint: "write e.g. \(example)")
            return nil
        }
        return (d, e)
    }

    static func show(_ d: Double) -> String {
        d.isFinite && d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    /// An endpoint string; `role` names it in messages ("`peer`", "`listen` element").
    mutating func endpoint(_ s: String, _ n: TOMLNode, role: String) -> (L2TPAgentConfig.Endpoint, IPAddress)? {
        switch L2TPConfigReader.endpoint(s) {
        case .success(let ep): return (ep, IPAddress(ep.address)!)
        case .failure(let p):
            let hint = switch p {
            case .v6PortWithoutBrackets, .notIPv6InBrackets: "write an IPv6 endpoint like \"[fd00::1]:1701\" or \"fd00::1\" (port 1701)"
            case .badPort: "write the port as 1..65535, e.g. \"10.0.0.1:1701\", or leave it out for 1701"
            case .notAnAddress: "write an address, e.g. \"10.0.0.1\", \"10.0.0.1:1701\" or \"[fd00::1]:1701\""
            }
            error(n.position, "\(role) \"\(s)\" \(p)", hint: hint)
            return nil
        }
    }

    mutating func needsSecret(_ key: String, _ e: TOMLTable.Entry) {
        error(e.keyPosition, "`\(key)` has no effect without `secret`",
              hint: "add secret = \"...\" (the same on both ends), or remove `\(key)`")
    }

    /// A key only one version uses.
    mutating func versionOnly(_ t: TOMLTable, _ key: String, _ only: L2TPVersion, _ actual: L2TPVersion?, table: String, hint: String) {
        guard let actual, actual != only, let e = t[entry: key] else { return }
        error(e.keyPosition, "`\(key)` applies only to \(Self.versionLabel(only)); this file has \(Self.versionLabel(actual))",
              hint: "remove `\(key)` from \(table); " + hint)
    }

    mutating func tunnelReference(_ name: String, _ n: TOMLNode, in label: String) -> String? {
        if declaredTunnels.contains(name) { return name }
        let m = "`tunnel` \"\(name)\" in \(label) names no [[l2tp.tunnel]]" + Suggestion.didYouMean(name, among: declaredTunnels)
        let hint = declaredTunnels.isEmpty
            ? "add a [[l2tp.tunnel]] with name = \"\(name)\" and peer = \"ADDRESS\""
            : "name one of the tunnels: " + declaredTunnels.joined(separator: ", ")
        error(n.position, m, hint: hint)
        return nil
    }

    // MARK: - the document

    mutating func validate(_ root: TOMLTable) -> L2TPAgentConfig? {
        checkKeys(root, allowed: L2TPConfigReader.topKeys, table: "the top level")
        guard let (l2tp, _) = table(root, "l2tp", example: "[l2tp]") else {
            if root["l2tp"] == nil {
                error(TOMLPosition(line: 1, column: 1), "the file has no [l2tp] table",
                      hint: "start it with [l2tp] and version = 2 or version = 3")
            }
            return nil
        }
        let label = "[l2tp]"
        checkKeys(l2tp, allowed: L2TPConfigReader.l2tpKeys, table: label)

        // version first: other keys depend on it.
        var version: L2TPVersion?
        if let e = l2tp[entry: "version"] {
            if let n = e.node.integer {
                if n == 2 { version = .v2 } else if n == 3 { version = .v3 } else {
                    error(e.node.position, "`version` must be 2 (L2TPv2, RFC 2661) or 3 (L2TPv3, RFC 3931), found \(n)",
                          hint: "write version = 2 for PPP over L2TP (LAC/LNS), version = 3 for Ethernet pseudowires")
                }
            } else {
                typeError(e, "an integer (2 or 3)", example: "version = 3")
            }
        } else {
            error(l2tp.position, "\(label) is missing the required key `version`",
                  hint: "add version = 2 (L2TPv2, PPP calls) or version = 3 (L2TPv3, Ethernet pseudowires)")
        }

        var name = defaultName
        if let (n, e) = string(l2tp, "name", example: "name = \"lns\"") {
            name = n
            if !Self.validAgentName(n) {
                error(e.node.position, "`name` \"\(n)\" must be 1 to 64 letters, digits, '-', '_' or '.'",
                      hint: "pick a short name such as \"lns\"; it names the status file")
            }
        } else if l2tp["name"] == nil && !Self.validAgentName(defaultName) {
            error(l2tp.position, "the agent's name defaults to the file's base name \"\(defaultName)\", which is not 1 to 64 letters, digits, '-', '_' or '.'",
                  hint: "add name = \"lns\" to \(label)")
        }

        var hostName = defaultHostName
        if let (h, e) = string(l2tp, "host_name", example: "host_name = \"site-a\"") {
            hostName = h
            if h.isEmpty || h.utf8.count > 255 || h.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                error(e.node.position, "`host_name` \"\(h)\" must be 1 to 255 bytes without control characters",
                      hint: "write the name the peer sees in the Host Name AVP, e.g. host_name = \"site-a\"")
            }
        } else if l2tp["host_name"] == nil && defaultHostName.isEmpty {
            error(l2tp.position, "this host has no host name to send in the Host Name AVP", hint: "add host_name = \"site-a\" to \(label)")
        }

        var config = L2TPAgentConfig(name: name, version: version ?? .v3, hostName: hostName)

        // router_id (v3)
        versionOnly(l2tp, "router_id", .v3, version, table: label, hint: "L2TPv2 has no Router ID")
        if version != .v2, let e = l2tp[entry: "router_id"] {
            let hint = "write router_id = \"10.0.0.1\" (a dotted quad) or an integer 0..4294967295"
            if let n = e.node.integer {
                if (0...4_294_967_295).contains(n) { config.routerID = UInt32(n) } else {
                    error(e.node.position, "`router_id` \(n) is out of range 0..4294967295", hint: hint)
                }
            } else if let s = e.node.string {
                if let a = IPAddress(s), !a.isV6 {
                    config.routerID = a.bytes.reduce(0) { $0 << 8 | UInt32($1) }
                } else {
                    error(e.node.position, "`router_id` \"\(s)\" is not a dotted quad", hint: hint)
                }
            } else {
                typeError(e, "a dotted quad or an integer", example: "router_id = \"10.0.0.1\"")
            }
        }

        // listen: a string or an array of strings.
        var listenNodes: [(String, TOMLNode)] = []
        var listenEntry: TOMLTable.Entry?
        if let e = l2tp[entry: "listen"] {
            listenEntry = e
            if let s = e.node.string { listenNodes = [(s, e.node)] } else if e.node.array != nil {
                listenNodes = stringArray(l2tp, "listen", example: "listen = [\"0.0.0.0\", \"[::]:1701\"]")?.0 ?? []
            } else {
                typeError(e, "an address or an array of addresses", example: "listen = [\"0.0.0.0\", \"[::]:1701\"]")
            }
        }
        var seenListen: [L2TPAgentConfig.Endpoint: TOMLPosition] = [:]
        for (s, n) in listenNodes {
            guard let (ep, a) = endpoint(s, n, role: "`listen` address") else { continue }
            if a.isMulticast {
                error(n.position, "`listen` address \"\(s)\" is a multicast address", hint: "listen on one of this host's addresses, or \"0.0.0.0\" / \"[::]\" for all")
            } else if let first = seenListen[ep] {
                error(n.position, "`listen` address \(ep) is listed twice (first at \(first))", hint: "list each address and port once")
            } else {
                seenListen[ep] = n.position
                config.listen.append(ep)
            }
        }

        // Authentication.
        let secret = string(l2tp, "secret", example: "secret = \"s3cret\"")
        if let (s, e) = secret {
            if s.isEmpty {
                error(e.node.position, "`secret` is empty", hint: "write the secret both ends share, e.g. secret = \"s3cret\", or remove `secret` for no authentication")
            } else { config.secret = s }
        }
        let noSecret = l2tp["secret"] == nil
        versionOnly(l2tp, "digest", .v3, version, table: label, hint: "L2TPv2 authenticates with secret and challenge = true")
        if version != .v2, let (d, e) = choice(l2tp, "digest", DigestName.self) {
            config.digest = d.algorithm
            if noSecret { needsSecret("digest", e) }
        }
        versionOnly(l2tp, "challenge", .v2, version, table: label,
                    hint: "L2TPv3 authenticates every control message with secret and digest = \"md5\" or \"sha1\"")
        if version != .v3, let (c, e) = boolean(l2tp, "challenge") {
            config.challenge = c
            if c && noSecret { needsSecret("challenge", e) }
        }
        versionOnly(l2tp, "hide_avps", .v2, version, table: label, hint: "this agent hides AVPs only in L2TPv2")
        if version != .v3, let (h, e) = boolean(l2tp, "hide_avps") {
            config.hideAVPs = h
            if h && noSecret { needsSecret("hide_avps", e) }
        }

        // Timers and window.
        if let (h, _) = seconds(l2tp, "hello", max: 3600, example: "hello = 60") { config.helloInterval = h }
        if let (rt, _) = table(l2tp, "retransmit", example: "retransmit = { initial = 1, max = 8, count = 5 }") {
            let rl = "`retransmit`"
            checkKeys(rt, allowed: L2TPConfigReader.retransmitKeys, table: rl)
            let initial = seconds(rt, "initial", max: 60, example: "initial = 1")
            let maximum = seconds(rt, "max", max: 3600, example: "max = 8")
            if let (i, _) = initial { config.retransmitInitial = i }
            if let (m, _) = maximum { config.retransmitMax = m }
            if config.retransmitMax < config.retransmitInitial, initial != nil || maximum != nil {
                let at = maximum?.1.node.position ?? initial!.1.node.position
                error(at, "`retransmit` max \(Self.show(config.retransmitMax))\(maximum == nil ? " (the default)" : "") is below initial \(Self.show(config.retransmitInitial))",
                      hint: "the timeout doubles from initial up to max: make max >= initial, e.g. { initial = \(Self.show(config.retransmitInitial)), max = \(Self.show(max(8, config.retransmitInitial))) }")
            }
            if let (c, _) = integer(rt, "count", 1...20, example: "count = 5") { config.retransmitCount = Int(c) }
        }
        if let (w, _) = integer(l2tp, "window", 1...65535, example: "window = 8") { config.window = UInt16(w) }
        if let (d, _) = choice(l2tp, "data_plane", L2TPAgentConfig.DataPlane.self) { config.dataPlane = d }
        if let (s, e) = string(l2tp, "status", example: "status = \"/run/isthmus/l2tp/\(name).json\"") {
            if s.hasPrefix("/") { config.statusPath = s } else {
                error(e.node.position, "`status` \"\(s)\" is not an absolute path", hint: "write e.g. status = \"/run/isthmus/l2tp/\(name).json\"")
            }
        }

        // [[l2tp.tunnel]]
        let tunnelTables = tables(l2tp, "tunnel", example: "[[l2tp.tunnel]]")
        for t in tunnelTables {
            if let n = t["name"]?.string, Self.validToken(n, max: 32), !declaredTunnels.contains(n) { declaredTunnels.append(n) }
        }
        var tunnelNames: [String: TOMLPosition] = [:]
        for t in tunnelTables {
            if let tunnel = tunnel(t, seen: &tunnelNames) { config.tunnels.append(tunnel) }
        }
        if l2tp["tunnel"] == nil && (listenEntry == nil || listenEntry?.node.array?.isEmpty == true) {
            error(listenEntry?.node.position ?? l2tp.position, "the agent neither listens nor opens a tunnel",
                  hint: "add listen = \"0.0.0.0\" (LNS / responder), or a [[l2tp.tunnel]] with name and peer (LAC / initiator)")
        }

        // [[l2tp.pseudowire]] (v3) and [[l2tp.call]] (v2)
        let pwTables = tables(l2tp, "pseudowire", example: "[[l2tp.pseudowire]]")
        if version == .v2 {
            for t in pwTables {
                error(t.position, "[[l2tp.pseudowire]] applies only to \(Self.versionLabel(.v3)); this file has \(Self.versionLabel(.v2))",
                      hint: "L2TPv2 carries PPP: write [[l2tp.call]] with tunnel = \"NAME\" instead, or set version = 3")
            }
        } else {
            var names: [String: TOMLPosition] = [:], interfaces: [String: TOMLPosition] = [:]
            for t in pwTables {
                if let pw = pseudowire(t, names: &names, interfaces: &interfaces) { config.pseudowires.append(pw) }
            }
            hasPPPPseudowire = pwTables.contains { $0["type"]?.string == "ppp" }
        }
        let callTables = tables(l2tp, "call", example: "[[l2tp.call]]")
        if version == .v3 {
            for t in callTables {
                error(t.position, "[[l2tp.call]] applies only to \(Self.versionLabel(.v2)); this file has \(Self.versionLabel(.v3))",
                      hint: "L2TPv3 carries Ethernet: write [[l2tp.pseudowire]] with name, interface and tunnel instead, or set version = 2")
            }
        } else {
            for t in callTables {
                if let c = call(t) { config.calls.append(c) }
            }
        }

        var pppTable: TOMLTable?
        if let (pt, _) = table(l2tp, "ppp", example: "[l2tp.ppp]") {
            pppTable = pt
            config.ppp = ppp(pt, version: version)
        }
        // [l2tp.radius] goes with auth = "radius", and only with it.
        let radiusAuth = pppTable?["auth"]?.string == PPPConfig.Auth.radius.rawValue
        if let (rt, _) = table(l2tp, "radius", example: "[l2tp.radius]") {
            let r = radius(rt)
            if !radiusAuth {
                error(rt.position, "[l2tp.radius] is used only with auth = \"radius\" in [l2tp.ppp]",
                      hint: pppTable == nil ? "add [l2tp.ppp] with auth = \"radius\", or remove [l2tp.radius]"
                                            : "set auth = \"radius\" in [l2tp.ppp], or remove [l2tp.radius]")
            }
            config.ppp?.radius = r
        } else if radiusAuth, let e = pppTable?[entry: "auth"] {
            error(e.node.position, "auth = \"radius\" needs an [l2tp.radius] table with the servers and their secret",
                  hint: "add [l2tp.radius] with servers = [\"10.0.0.5\"] and secret = \"...\" (the server's client entry for this LNS)")
        }

        if let (it, _) = table(l2tp, "ipsec", example: "[l2tp.ipsec]") {
            if version == .v3 {
                error(it.position, "[l2tp.ipsec] is L2TPv2 remote access (L2TP/IPsec, RFC 3193); this file has \(Self.versionLabel(.v3))",
                      hint: "set version = 2 for an LNS that native clients dial, or remove [l2tp.ipsec]")
            } else if listenNodes.isEmpty {
                error(it.position, "[l2tp.ipsec] protects the LNS's listener, and this agent does not listen",
                      hint: "add listen = \"0.0.0.0\" (the LNS's address), or remove [l2tp.ipsec]")
            }
            config.ipsec = ipsec(it)
        }

        guard errors.isEmpty, version != nil else { return nil }
        return config
    }

    /// `[l2tp.ipsec]`: L2TP/IPsec remote access (the IKE connections loaded into charon).
    mutating func ipsec(_ t: TOMLTable) -> L2TPIPsecConfig? {
        let label = "[l2tp.ipsec]"
        checkKeys(t, allowed: L2TPConfigReader.ipsecKeys, table: label)
        let before = errors.count
        func path(_ key: String, example: String) -> String? {
            guard let (s, e) = string(t, key, example: example) else { return nil }
            guard s.hasPrefix("/") else {
                error(e.node.position, "`\(key)` \"\(s)\" is not an absolute path", hint: "write e.g. \(example)")
                return nil
            }
            return s
        }
        var auth: L2TPIPsecConfig.Authentication?
        if let (k, e) = string(t, "psk", example: "psk = \"a long random key\"") {
            if k.utf8.count < L2TPIPsecConfig.minimumPSKLength {
                error(e.node.position, "`psk` is \(k.utf8.count) bytes; at least \(L2TPIPsecConfig.minimumPSKLength) are needed (IKEv1 with a short pre-shared key can be guessed offline from one captured exchange)",
                      hint: "use a long random key, e.g. the output of `openssl rand -base64 24`, and give it to the clients")
            } else if k.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                error(e.node.position, "`psk` has control characters", hint: "use printable characters only: clients type it in")
            } else { auth = .psk(k) }
        }
        let cert = path("certificate", example: "certificate = \"/etc/isthmus/lns.crt\"")
        let key = path("private_key", example: "private_key = \"/etc/isthmus/lns.key\"")
        let ca = path("ca", example: "ca = \"/etc/isthmus/clients-ca.crt\"")
        let certKeys = ["certificate", "private_key", "ca"].filter { t[$0] != nil }
        if t["psk"] != nil && !certKeys.isEmpty, let e = t[entry: certKeys[0]] {
            error(e.keyPosition, "[l2tp.ipsec] has both `psk` and `\(certKeys[0])`",
                  hint: "authenticate with a pre-shared key (psk) or with certificates (certificate, private_key, ca), not both")
        } else if t["psk"] == nil && certKeys.isEmpty {
            error(t.position, "[l2tp.ipsec] needs `psk`, or `certificate`, `private_key` and `ca`",
                  hint: "add psk = \"...\" (what the clients call the pre-shared key), or the LNS's certificate and key and the clients' CA")
        } else if !certKeys.isEmpty && certKeys.count < 3 {
            let missing = ["certificate", "private_key", "ca"].filter { t[$0] == nil }
            error(t[entry: certKeys[0]]!.keyPosition, "[l2tp.ipsec] with certificates also needs " + missing.map { "`\($0)`" }.joined(separator: " and "),
                  hint: "give the LNS's certificate, its private key, and the CA that issued the clients' certificates")
        } else if let cert, let key, let ca { auth = .certificate(certificate: cert, privateKey: key, ca: ca) }
        var c = auth.map { L2TPIPsecConfig(authentication: $0) }
        if let (r, _) = boolean(t, "require") { c?.require = r }
        if let v = path("vici", example: "vici = \"/var/run/charon.vici\"") {
            if v.utf8.count >= 108 {
                error(t[entry: "vici"]!.node.position, "`vici` is \(v.utf8.count) bytes; a Unix socket path has at most 107",
                      hint: "give charon's VICI socket a shorter path (charon.plugins.vici.socket)")
            } else { c?.vici = v }
        }
        for (keyName, esp) in [("ike_proposals", false), ("esp_proposals", true)] {
            let example = esp ? "esp_proposals = [\"aes256-sha1\", \"aes128-sha1\"]" : "ike_proposals = [\"aes256-sha256-modp2048\"]"
            guard let (list, e) = stringArray(t, keyName, example: example) else { continue }
            if list.isEmpty { error(e.node.position, "`\(keyName)` is empty: no client could connect", hint: "list at least one proposal, or leave `\(keyName)` out for the defaults") }
            var good: [String] = []
            for (s, n) in list {
                if let p = L2TPIPsecConfig.proposalProblem(s, esp: esp) {
                    error(n.position, "`\(keyName)` entry \"\(s)\" \(p)", hint: "write strongSwan proposals, e.g. \(example)")
                } else { good.append(s) }
            }
            if esp { c?.espProposals = good } else { c?.ikeProposals = good }
        }
        return errors.count == before ? c : nil
    }

    mutating func tunnel(_ t: TOMLTable, seen: inout [String: TOMLPosition]) -> L2TPAgentConfig.Tunnel? {
        let label = "[[l2tp.tunnel]]"
        checkKeys(t, allowed: L2TPConfigReader.tunnelKeys, table: label)
        let before = errors.count
        var name: String?
        if let (n, e) = string(t, "name", example: "name = \"t1\"") {
            if !Self.validToken(n, max: 32) {
                error(e.node.position, "tunnel name \"\(n)\" must be 1 to 32 letters, digits, '-', '_' or '.'",
                      hint: "pick a short name such as \"t1\"; pseudowires and calls refer to it")
            } else if let first = seen[n] {
                error(e.node.position, "tunnel name \"\(n)\" is used twice (first at \(first))", hint: "give each [[l2tp.tunnel]] its own name")
            } else { seen[n] = e.node.position; name = n }
        } else if t["name"] == nil {
            error(t.position, "\(label) is missing the required key `name`", hint: "add name = \"t1\"")
        }
        var peer: (L2TPAgentConfig.Endpoint, IPAddress)?
        if let (p, e) = string(t, "peer", example: "peer = \"10.0.0.2\"") {
            peer = endpoint(p, e.node, role: "`peer`")
            if let (_, a) = peer, a.isUnspecified || a.isMulticast {
                error(e.node.position, "`peer` \"\(p)\" is not a unicast address", hint: "write the address of the LNS / LCCE to connect to")
                peer = nil
            }
        } else if t["peer"] == nil {
            error(t.position, "\(label) is missing the required key `peer`", hint: "add peer = \"10.0.0.2\" (the other end; port 1701 unless given)")
        }
        var local: L2TPAgentConfig.Endpoint?
        if let (l, e) = string(t, "local", example: "local = \"10.0.0.1\"") {
            if let (ep, a) = endpoint(l, e.node, role: "`local`") {
                if a.isMulticast {
                    error(e.node.position, "`local` \"\(l)\" is a multicast address", hint: "write one of this host's addresses, or remove `local`")
                } else if let (pe, pa) = peer, pa.isV6 != a.isV6 {
                    error(e.node.position, "`local` \"\(l)\" is \(a.familyName) but `peer` \(pe) is \(pa.familyName)",
                          hint: "use an \(pa.familyName) local address, or remove `local`")
                } else { local = ep }
            }
        }
        let redial = boolean(t, "redial")
        let redialMax = seconds(t, "redial_max", min: 1, max: 3600, example: "redial_max = 60")
        if let (r, _) = redial, !r, let e = t[entry: "redial_max"] {
            error(e.keyPosition, "`redial_max` has no effect with redial = false", hint: "remove `redial_max`, or set redial = true")
        }
        guard errors.count == before, let name, let (p, _) = peer else { return nil }
        var tunnel = L2TPAgentConfig.Tunnel(name: name, peer: p, local: local)
        if let (r, _) = redial { tunnel.redial = r }
        if let (m, _) = redialMax { tunnel.redialMax = m }
        return tunnel
    }

    mutating func pseudowire(_ t: TOMLTable, names: inout [String: TOMLPosition],
                             interfaces: inout [String: TOMLPosition]) -> L2TPAgentConfig.Pseudowire? {
        let label = "[[l2tp.pseudowire]]"
        checkKeys(t, allowed: L2TPConfigReader.pseudowireKeys, table: label)
        let before = errors.count
        var name: String?
        if let (n, e) = string(t, "name", example: "name = \"pw1\"") {
            if n.isEmpty || n.utf8.count > 64 || !n.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f }) {
                error(e.node.position, "pseudowire name \"\(n)\" must be 1 to 64 printable ASCII characters",
                      hint: "it is the Remote End ID both ends configure, e.g. name = \"pw1\"")
            } else if let first = names[n] {
                error(e.node.position, "pseudowire name \"\(n)\" is used twice (first at \(first))",
                      hint: "the name is the Remote End ID: give each [[l2tp.pseudowire]] its own")
            } else { names[n] = e.node.position; name = n }
        } else if t["name"] == nil {
            error(t.position, "\(label) is missing the required key `name`", hint: "add name = \"pw1\" (the Remote End ID, the same on both ends)")
        }
        var interface: String?
        if let (i, e) = string(t, "interface", example: "interface = \"l2tpeth0\"") {
            if let p = InterfaceName.problem(i) {
                error(e.node.position, "`interface` \"\(i)\" \(p)", hint: "choose a name of at most 15 bytes without '/', ':' or spaces, e.g. \"l2tpeth0\"")
            } else if let first = interfaces[i] {
                error(e.node.position, "`interface` \"\(i)\" is used twice (first at \(first))", hint: "give each pseudowire its own interface")
            } else { interfaces[i] = e.node.position; interface = i }
        } else if t["interface"] == nil {
            error(t.position, "\(label) is missing the required key `interface`", hint: "add interface = \"l2tpeth0\" (the device the session gets)")
        }
        var tunnel: String?
        if let (n, e) = string(t, "tunnel", example: "tunnel = \"t1\"") { tunnel = tunnelReference(n, e.node, in: label) }
        var cookie = 0
        if let (c, e) = integer(t, "cookie", 0...8, example: "cookie = 8") {
            if c == 0 || c == 4 || c == 8 { cookie = Int(c) } else {
                error(e.node.position, "`cookie` must be 0, 4 or 8 (bytes), found \(c)", hint: "write cookie = 8, or 0 for no cookie")
            }
        }
        let sublayer = choice(t, "sublayer", Sublayer.self)
        let sequencing = boolean(t, "sequencing")
        if let (on, e) = sequencing, on, sublayer?.0 != .default {
            error(e.keyPosition, "`sequencing` needs the default L2-specific sublayer, which carries the sequence numbers (RFC 4719)",
                  hint: "add sublayer = \"default\", or remove sequencing")
        }
        let mtu = integer(t, "mtu", 68...65535, example: "mtu = 1446")
        let kind = choice(t, "type", L2TPAgentConfig.Pseudowire.Kind.self)?.0 ?? .ethernet
        if kind == .ppp {
            // The kernel makes a PPP pseudowire's session from its PPPoL2TP socket: no cookie, no sublayer (RFC 4591's
            // default); pppd makes the interface, so it has no bridge and takes its MTU from [l2tp.ppp].
            for key in ["cookie", "sublayer", "sequencing", "mtu", "bridge"] {
                if let e = t[entry: key] {
                    error(e.keyPosition, "`\(key)` applies to Ethernet pseudowires; this one has type = \"ppp\"",
                          hint: key == "mtu" ? "set mtu in [l2tp.ppp]" : key == "sequencing" ? "set sequencing in [l2tp.ppp]" : "remove `\(key)`")
                }
            }
        }
        var bridge: String?
        if let (b, e) = string(t, "bridge", example: "bridge = \"br0\"") {
            if let p = InterfaceName.problem(b) {
                error(e.node.position, "`bridge` \"\(b)\" \(p)", hint: "name an existing bridge of at most 15 bytes, e.g. \"br0\"")
            } else if b == interface {
                error(e.node.position, "`bridge` \"\(b)\" is the pseudowire's own interface", hint: "name the bridge to put \"\(b)\" in, e.g. \"br0\"")
            } else { bridge = b }
        }
        guard errors.count == before, let name, let interface else { return nil }
        var pw = L2TPAgentConfig.Pseudowire(name: name, interface: interface, tunnel: tunnel)
        pw.type = kind
        pw.cookie = cookie
        pw.sublayer = sublayer?.0 == .default
        pw.sequencing = sequencing?.0 ?? false
        pw.mtu = mtu.map { Int($0.0) }
        pw.bridge = bridge
        return pw
    }

    mutating func call(_ t: TOMLTable) -> L2TPAgentConfig.Call? {
        let label = "[[l2tp.call]]"
        checkKeys(t, allowed: L2TPConfigReader.callKeys, table: label)
        let before = errors.count
        var tunnel: String?
        if let (n, e) = string(t, "tunnel", example: "tunnel = \"t1\"") {
            tunnel = tunnelReference(n, e.node, in: label)
        } else if t["tunnel"] == nil {
            error(t.position, "\(label) is missing the required key `tunnel`", hint: "add tunnel = \"NAME\" of the [[l2tp.tunnel]] to place the call over")
        }
        let number = string(t, "number", example: "number = \"123\"")?.0 ?? ""
        let outgoing = boolean(t, "outgoing")?.0 ?? false
        guard errors.count == before, let tunnel else { return nil }
        return L2TPAgentConfig.Call(tunnel: tunnel, number: number, outgoing: outgoing)
    }

    /// `[l2tp.radius]`: the RADIUS servers of `auth = "radius"` (pppd's radius plugin; its limits are checked here).
    mutating func radius(_ t: TOMLTable) -> RadiusConfig? {
        let label = "[l2tp.radius]"
        checkKeys(t, allowed: L2TPConfigReader.radiusKeys, table: label)
        let before = errors.count
        var servers: [RadiusConfig.Server] = []
        let serverHint = "write ADDRESS or ADDRESS:PORT (IPv4, the port 1812 unless given), e.g. servers = [\"10.0.0.5\", \"10.0.0.6:1812\"]"
        if let (list, e) = stringArray(t, "servers", example: "servers = [\"10.0.0.5\"]") {
            if list.isEmpty { error(e.node.position, "`servers` is empty", hint: serverHint) }
            if list.count > RadiusConfig.maxServers {
                error(e.node.position, "`servers` has \(list.count) entries; pppd's RADIUS client takes at most \(RadiusConfig.maxServers)",
                      hint: "keep \(RadiusConfig.maxServers) servers")
            }
            var seen: [RadiusConfig.Server: TOMLPosition] = [:]
            for (s, n) in list {
                switch L2TPConfigReader.endpoint(s, defaultPort: 1812) {
                case .success(let ep):
                    guard !ep.ipv6, let a = IPv4(ep.address), a.value != 0, a.value >> 28 != 14, a.value != 0xffff_ffff else {
                        error(n.position, "`servers` entry \"\(s)\" is not a unicast IPv4 address"
                              + (ep.ipv6 ? " (pppd's RADIUS client speaks only IPv4)" : ""), hint: serverHint)
                        continue
                    }
                    let server = RadiusConfig.Server(address: a, port: ep.port)
                    if let first = seen[server] {
                        error(n.position, "`servers` entry \(server) is listed twice (first at \(first))", hint: "list each server once")
                    } else { seen[server] = n.position; servers.append(server) }
                case .failure(let p):
                    error(n.position, "`servers` entry \"\(s)\" \(p)", hint: serverHint)
                }
            }
        } else if t["servers"] == nil {
            error(t.position, "\(label) is missing the required key `servers`", hint: "add servers = [\"10.0.0.5\"] (ADDRESS or ADDRESS:PORT, port 1812 unless given)")
        }
        var secret: String?
        if let (s, e) = string(t, "secret", example: "secret = \"radius-secret\"") {
            if let p = RadiusConfig.secretProblem(s) {
                error(e.node.position, "`secret` \(p)",
                      hint: "write the secret of the server's client entry for this LNS: 1 to \(RadiusConfig.maxSecretLength) printable characters, no spaces")
            } else { secret = s }
        } else if t["secret"] == nil {
            error(t.position, "\(label) is missing the required key `secret`", hint: "add secret = \"...\", the secret of the server's client entry for this LNS")
        }
        let accounting = integer(t, "accounting_port", 1...65535, example: "accounting_port = 1813")
        var nas: String?
        if let (s, e) = string(t, "nas_identifier", example: "nas_identifier = \"lns-1\"") {
            if let p = RadiusConfig.nasIdentifierProblem(s) {
                error(e.node.position, "`nas_identifier` \"\(s)\" \(p)", hint: "write e.g. nas_identifier = \"lns-1\", or leave it out for the host name")
            } else { nas = s }
        }
        let timeout = integer(t, "timeout", 1...60, example: "timeout = 3")
        let retries = integer(t, "retries", 1...10, example: "retries = 3")
        var methods: [RadiusConfig.Method]?
        if let (list, e) = stringArray(t, "methods", example: "methods = [\"chap\", \"mschap-v2\"]") {
            let names = RadiusConfig.Method.allCases.map(\.rawValue)
            var got: [RadiusConfig.Method] = []
            for (s, n) in list {
                guard let m = RadiusConfig.Method(rawValue: s) else {
                    error(n.position, "`methods` entry \"\(s)\" is not one of \(names.map { "\"\($0)\"" }.joined(separator: ", "))"
                          + Suggestion.didYouMean(s, among: names), hint: "write e.g. methods = [\"chap\", \"mschap-v2\"]")
                    continue
                }
                if got.contains(m) {
                    error(n.position, "`methods` lists \"\(s)\" twice", hint: "list each method once")
                } else { got.append(m) }
            }
            if list.isEmpty {
                error(e.node.position, "`methods` is empty: no peer could authenticate", hint: "list at least one of \(names.joined(separator: ", ")), or leave `methods` out for all")
            }
            methods = got
        }
        guard errors.count == before, !servers.isEmpty, let secret else { return nil }
        var r = RadiusConfig(servers: servers, secret: secret)
        if let (p, _) = accounting { r.accountingPort = UInt16(p) }
        r.nasIdentifier = nas
        if let (v, _) = timeout { r.timeout = Int(v) }
        if let (v, _) = retries { r.retries = Int(v) }
        if let methods { r.methods = methods }
        return r
    }

    /// `[l2tp.ppp]`: PPP over the calls (v2).
    mutating func ppp(_ t: TOMLTable, version: L2TPVersion?) -> PPPConfig? {
        let label = "[l2tp.ppp]"
        checkKeys(t, allowed: L2TPConfigReader.pppKeys, table: label)
        let before = errors.count
        if version == .v3 && !hasPPPPseudowire {
            error(t.position, "[l2tp.ppp] applies to L2TPv2 calls and to pseudowires with type = \"ppp\"; this file has \(Self.versionLabel(.v3)) and no PPP pseudowire",
                  hint: "add type = \"ppp\" to a [[l2tp.pseudowire]], or set version = 2 and add [[l2tp.call]], or remove [l2tp.ppp]")
        }
        var c = PPPConfig()
        if let (a, _) = choice(t, "auth", PPPConfig.Auth.self) { c.auth = a }
        func address(_ key: String, example: String) -> (IPv4, TOMLTable.Entry)? {
            guard let (s, e) = string(t, key, example: example) else { return nil }
            guard let a = IPv4(s), a.value != 0, a.value >> 28 != 14, a.value != 0xffff_ffff else {
                error(e.node.position, "`\(key)` \"\(s)\" is not a unicast IPv4 address", hint: "write e.g. \(example)")
                return nil
            }
            return (a, e)
        }
        let local = address("local_address", example: "local_address = \"10.9.0.1\"")
        c.localAddress = local?.0
        if let (p, e) = string(t, "pool", example: "pool = \"10.9.0.10-10.9.0.99\"") {
            if let pool = AddressPool(p), pool.first.value != 0 {
                c.pool = pool
                if let (l, le) = local, pool.size == 1, pool.contains(l) {
                    error(le.node.position, "`local_address` \(l) is the only address of `pool` \(pool)",
                          hint: "give the pool more addresses, or take local_address from outside it")
                }
            } else {
                error(e.node.position, "`pool` \"\(p)\" is not a range of IPv4 addresses",
                      hint: "write FIRST-LAST (\"10.9.0.10-10.9.0.99\", FIRST <= LAST) or a prefix (\"10.9.0.0/24\", its host addresses)")
            }
            if local == nil && t["local_address"] == nil {
                error(e.keyPosition, "`pool` needs `local_address`, the LNS's own end of every call",
                      hint: "add local_address = \"10.9.0.1\"")
            }
        }
        if let (list, e) = stringArray(t, "dns", example: "dns = [\"10.9.0.1\"]") {
            for (s, n) in list {
                if let a = IPv4(s) { c.dns.append(a) } else {
                    error(n.position, "`dns` entry \"\(s)\" is not an IPv4 address", hint: "write e.g. dns = [\"10.9.0.1\"] (pppd's ms-dns)")
                }
            }
            if list.count > 2 { error(e.node.position, "`dns` has \(list.count) servers; IPCP offers at most 2", hint: "keep two") }
        }
        if let (s, e) = string(t, "secrets", example: "secrets = \"/etc/isthmus/ppp-secrets\"") {
            if s.hasPrefix("/") { c.secrets = s } else {
                error(e.node.position, "`secrets` \"\(s)\" is not an absolute path", hint: "write the path of a chap-secrets style file, e.g. \"/etc/isthmus/ppp-secrets\"")
            }
        }
        func word(_ key: String, example: String) -> (String, TOMLTable.Entry)? {
            guard let (s, e) = string(t, key, example: example) else { return nil }
            if s.isEmpty || s.utf8.count > 255 || s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                error(e.node.position, "`\(key)` must be 1 to 255 bytes without control characters", hint: "write e.g. \(example)")
                return nil
            }
            return (s, e)
        }
        c.user = word("user", example: "user = \"alice\"")?.0
        if let (p, e) = word("password", example: "password = \"...\"") {
            c.password = p
            if t["user"] == nil { error(e.keyPosition, "`password` needs `user`, the name it belongs to", hint: "add user = \"alice\"") }
        }
        if let (m, _) = integer(t, "mtu", 128...16384, example: "mtu = 1400") { c.mtu = Int(m) }
        if let (m, _) = integer(t, "mru", 128...16384, example: "mru = 1400") { c.mru = Int(m) }
        if let (i, e) = string(t, "interface", example: "interface = \"ppp\"") {
            if let p = InterfaceName.problem(i + "99") {
                error(e.node.position, "`interface` prefix \"\(i)\" \(p) once a call number is added",
                      hint: "write a prefix of at most 11 bytes without '/', ':' or spaces, e.g. \"ppp\" (calls get ppp0, ppp1, ...)")
            } else { c.interfacePrefix = i }
        }
        if let (p, e) = string(t, "pppd", example: "pppd = \"/usr/sbin/pppd\"") {
            if p.hasPrefix("/") { c.pppd = p } else {
                error(e.node.position, "`pppd` \"\(p)\" is not an absolute path", hint: "write e.g. pppd = \"/usr/sbin/pppd\"")
            }
        }
        if let (p, _) = word("plugin", example: "plugin = \"pppol2tp.so\"") { c.plugin = p }
        if let (list, _) = stringArray(t, "options", example: "options = [\"debug\"]") {
            for (s, n) in list {
                if s.isEmpty || s.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                    error(n.position, "`options` entry \"\(s)\" is empty or has control characters", hint: "one pppd word per entry, e.g. [\"lcp-echo-interval\", \"20\"]")
                } else { c.options.append(s) }
            }
        }
        if let (s, _) = boolean(t, "sequencing") { c.sequencing = s }
        if let (r, _) = integer(t, "reorder_timeout", 0...60000, example: "reorder_timeout = 100") { c.reorderTimeout = Int(r) }
        if let (i, _) = integer(t, "lcp_echo_interval", 0...3600, example: "lcp_echo_interval = 10") { c.lcpEchoInterval = Int(i) }
        if let (f, _) = integer(t, "lcp_echo_failure", 1...100, example: "lcp_echo_failure = 3") { c.lcpEchoFailure = Int(f) }
        if let (k, _) = choice(t, "kernel_api", PPPConfig.KernelAPI.self) { c.kernelAPI = k }
        return errors.count == before ? c : nil
    }
}
