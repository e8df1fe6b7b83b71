/// RADIUS for the LNS's calls (`[l2tp.ppp] auth = "radius"` with `[l2tp.radius]`, docs/L2TP.md): pppd's own radius
/// plugin (radius.so, shipped with Debian's ppp) authenticates the peer against the servers, takes the peer's address
/// from Framed-IP-Address and sends accounting Start, Interim (when the server's Access-Accept has
/// Acct-Interim-Interval) and Stop with session time and octets. The agent writes the plugin's configuration — the
/// radiusclient file, the servers file with the shared secret, a dictionary and an empty port map — into a directory
/// of its own (`/run/isthmus/l2tp/NAME.radius/`) and gives each LNS-side pppd `plugin radius.so radius-config-file
/// FILE`. Why the plugin and not a RADIUS client in Swift: docs/ARCHITECTURE.md, "PPP over L2TP".
public struct RadiusConfig: Equatable, Sendable {
    /// An authentication server (IPv4: the plugin's radiusclient keeps server addresses as 32-bit values).
    public struct Server: Equatable, Hashable, Sendable, CustomStringConvertible {
        public var address: IPv4
        public var port: UInt16
        public init(address: IPv4, port: UInt16 = 1812) { self.address = address; self.port = port }
        public var description: String { "\(address):\(port)" }
    }

    /// How the peer may authenticate; pppd asks for them in the order CHAP (MD5), MS-CHAPv2, PAP and takes what the
    /// peer agrees to.
    public enum Method: String, CaseIterable, Equatable, Sendable {
        case chap
        case mschapV2 = "mschap-v2"
        case pap
        /// pppd's word.
        var pppdWord: String {
            switch self {
            case .chap: "require-chap"
            case .mschapV2: "require-mschap-v2"
            case .pap: "require-pap"
            }
        }
    }

    /// Tried in order (the next when one does not answer); at most `maxServers`.
    public var servers: [Server]
    /// The shared secret of every server, 1–`maxSecretLength` printable ASCII bytes without spaces.
    public var secret: String
    /// The accounting port of every server.
    public var accountingPort: UInt16 = 1813
    /// NAS-Identifier in every request; nil: the agent's host name.
    public var nasIdentifier: String?
    /// Seconds to wait for an answer, and how many times to send a request to one server.
    public var timeout: Int = 3
    public var retries: Int = 3
    public var methods: [Method] = Method.allCases

    public init(servers: [Server], secret: String) { self.servers = servers; self.secret = secret }

    /// radiusclient's SERVER_MAX: more entries would overflow its table.
    public static let maxServers = 8
    /// radiusclient's MAX_SECRET_LENGTH (3 × 16): a longer secret is cut silently, so it is refused instead.
    public static let maxSecretLength = 48
    /// The longest NAS-Identifier written (RFC 2865 §5.32: at least 3 octets; an attribute holds at most 253).
    public static let maxNASIdentifierLength = 253

    /// Why `s` cannot be the shared secret (the servers file is split on whitespace), nil when it can.
    public static func secretProblem(_ s: String) -> String? {
        if s.isEmpty { return "is empty" }
        if s.utf8.count > maxSecretLength { return "is \(s.utf8.count) bytes; pppd's RADIUS client keeps at most \(maxSecretLength)" }
        if !s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) { return "must be printable ASCII without spaces (pppd's RADIUS client reads it as one word)" }
        return nil
    }

    /// Why `s` cannot be the NAS-Identifier (one line of the radiusclient file), nil when it can.
    public static func nasIdentifierProblem(_ s: String) -> String? {
        if s.utf8.count < 3 || s.utf8.count > maxNASIdentifierLength { return "must be 3 to \(maxNASIdentifierLength) bytes (RFC 2865 §5.32)" }
        if !s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) || s.hasPrefix(" ") || s.hasSuffix(" ") {
            return "must be printable ASCII without leading or trailing spaces"
        }
        return nil
    }

    /// The longest pppd may spend on one request when no server answers: every server, `retries` times `timeout`.
    public var worstCaseSeconds: Int { servers.count * timeout * retries }
}

/// The files pppd's radius plugin reads, as text: what `PPPCalls` writes into the agent's RADIUS directory. Pure.
public struct RadiusClientFiles: Equatable, Sendable {
    public static let configName = "radiusclient.conf"
    public static let serversName = "servers"
    public static let dictionaryName = "dictionary"
    public static let mapName = "port-id-map"
    /// The plugin's request-id counter; pppd creates and rewrites it.
    public static let sequenceName = "seq"

    /// The radiusclient configuration (pppd's plugins/radius/config.c reads it; every option it requires is set,
    /// or it refuses to start, and the ones it reads without checking are set too).
    public var config: String
    /// `ADDRESS SECRET` per server (0600).
    public var servers: String
    public var dictionary: String
    /// Empty: NAS-Port is the ppp unit's number (the plugin's default, `map-to-ifname`).
    public var map: String = ""

    public init(_ r: RadiusConfig, directory: String, hostName: String) {
        let auth = r.servers.map { "\($0.address):\($0.port)" }.joined(separator: ",")
        let acct = r.servers.map { "\($0.address):\(r.accountingPort)" }.joined(separator: ",")
        let nas = r.nasIdentifier ?? Self.nasIdentifier(fromHostName: hostName)
        config = """
            # written by isthmus l2tp run for pppd's radius plugin; do not edit
            auth_order radius
            login_tries 4
            login_timeout 60
            nologin \(directory)/nologin
            authserver \(auth)
            acctserver \(acct)
            servers \(directory)/\(Self.serversName)
            dictionary \(directory)/\(Self.dictionaryName)
            seqfile \(directory)/\(Self.sequenceName)
            mapfile \(directory)/\(Self.mapName)
            radius_timeout \(r.timeout)
            radius_retries \(r.retries)
            nas_identifier \(nas)
            bindaddr *

            """
        var seen = Set<IPv4>()
        servers = "# written by isthmus l2tp run; server secret\n"
            + r.servers.filter { seen.insert($0.address).inserted }.map { "\($0.address) \(r.secret)\n" }.joined()
        dictionary = Self.dictionaryText
    }

    /// The host name as a NAS-Identifier: what `nasIdentifierProblem` accepts (control characters dropped, padded
    /// to 3 bytes, cut to 253).
    static func nasIdentifier(fromHostName h: String) -> String {
        var s = String(decoding: h.utf8.filter { $0 > 0x20 && $0 < 0x7f }.prefix(RadiusConfig.maxNASIdentifierLength), as: UTF8.self)
        while s.utf8.count < 3 { s += "-" }
        return s
    }

    /// The attributes the plugin sends and reads (RFC 2865, 2866, 2869; Microsoft's vendor attributes of RFC 2548
    /// for MS-CHAP), in radiusclient's dictionary format. Debian's ppp ships the plugin without its dictionary, and
    /// FreeRADIUS's dictionaries use a syntax radiusclient does not read, so the agent writes its own.
    static let dictionaryText: String = {
        let standard: [(String, Int, String)] = [
            ("User-Name", 1, "string"), ("User-Password", 2, "string"), ("CHAP-Password", 3, "string"),
            ("NAS-IP-Address", 4, "ipaddr"), ("NAS-Port", 5, "integer"), ("Service-Type", 6, "integer"),
            ("Framed-Protocol", 7, "integer"), ("Framed-IP-Address", 8, "ipaddr"), ("Framed-IP-Netmask", 9, "ipaddr"),
            ("Filter-Id", 11, "string"), ("Framed-MTU", 12, "integer"), ("Reply-Message", 18, "string"),
            ("Framed-Route", 22, "string"), ("State", 24, "string"), ("Class", 25, "string"),
            ("Session-Timeout", 27, "integer"), ("Idle-Timeout", 28, "integer"), ("Called-Station-Id", 30, "string"),
            ("Calling-Station-Id", 31, "string"), ("NAS-Identifier", 32, "string"), ("Acct-Status-Type", 40, "integer"),
            ("Acct-Delay-Time", 41, "integer"), ("Acct-Input-Octets", 42, "integer"), ("Acct-Output-Octets", 43, "integer"),
            ("Acct-Session-Id", 44, "string"), ("Acct-Authentic", 45, "integer"), ("Acct-Session-Time", 46, "integer"),
            ("Acct-Input-Packets", 47, "integer"), ("Acct-Output-Packets", 48, "integer"),
            ("Acct-Terminate-Cause", 49, "integer"), ("Acct-Input-Gigawords", 52, "integer"),
            ("Acct-Output-Gigawords", 53, "integer"), ("CHAP-Challenge", 60, "string"), ("NAS-Port-Type", 61, "integer"),
            ("Acct-Interim-Interval", 85, "integer"),
        ]
        let microsoft: [(String, Int, String)] = [
            ("MS-CHAP-Response", 1, "string"), ("MS-CHAP-Error", 2, "string"), ("MS-MPPE-Encryption-Policy", 7, "integer"),
            ("MS-MPPE-Encryption-Types", 8, "integer"), ("MS-CHAP-Challenge", 11, "string"), ("MS-CHAP-MPPE-Keys", 12, "string"),
            ("MS-MPPE-Send-Key", 16, "string"), ("MS-MPPE-Recv-Key", 17, "string"), ("MS-CHAP2-Response", 25, "string"),
            ("MS-CHAP2-Success", 26, "string"), ("MS-Primary-DNS-Server", 28, "ipaddr"), ("MS-Secondary-DNS-Server", 29, "ipaddr"),
            ("MS-Primary-NBNS-Server", 30, "ipaddr"), ("MS-Secondary-NBNS-Server", 31, "ipaddr"),
        ]
        var s = "# written by isthmus l2tp run for pppd's radius plugin (radiusclient format); do not edit\n"
        for (n, v, t) in standard { s += "ATTRIBUTE \(n) \(v) \(t)\n" }
        s += "VENDOR Microsoft 311\n"
        for (n, v, t) in microsoft { s += "ATTRIBUTE \(n) \(v) \(t) Microsoft\n" }
        return s
    }()
}
