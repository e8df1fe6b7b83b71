import NetlinkWire

/// An L2TPv3 Ethernet pseudowire of the kernel (`l2tpeth`): a static tunnel and one session (`ip l2tp add tunnel` +
/// `ip l2tp add session`, over generic netlink — no IFLA_INFO_DATA; l2tp_eth devices do not even report a kind).
/// The site-level words: `tunnel_id T peer_tunnel_id T session_id S peer_session_id S encap udp|ip [local A]
/// [remote A] [udp_sport P udp_dport P] [cookie HEX] [peer_cookie HEX]`.
public struct L2TPSessionLink: LinkValue {
    public static let kinds = ["l2tpeth"]
    /// `isthmus tunnel run`'s name for it.
    public static let userspaceKind = "l2tpv3"
    public static let userspaceKinds = [userspaceKind]
    /// l2tp_eth, and l2tp_ip or l2tp_ip6 for IP encapsulation.
    public var kernelModules: [String] { ["l2tp_eth"] + (udp ? [] : [local?.isV6 == true || remote?.isV6 == true ? "l2tp_ip6" : "l2tp_ip"]) }
    public var kind: String { "l2tpeth" }
    public var tunnelID: UInt32
    public var peerTunnelID: UInt32
    public var sessionID: UInt32
    public var peerSessionID: UInt32
    /// UDP (true) or IP (protocol 115) encapsulation.
    public var udp: Bool
    public var local: LinkAddress?
    public var remote: LinkAddress?
    /// UDP only.
    public var localPort: UInt16?
    public var remotePort: UInt16?
    public var cookie: [UInt8]?
    public var peerCookie: [UInt8]?

    public init(tunnelID: UInt32, peerTunnelID: UInt32, sessionID: UInt32, peerSessionID: UInt32, udp: Bool,
                local: LinkAddress? = nil, remote: LinkAddress? = nil, localPort: UInt16? = nil, remotePort: UInt16? = nil,
                cookie: [UInt8]? = nil, peerCookie: [UInt8]? = nil) {
        self.tunnelID = tunnelID; self.peerTunnelID = peerTunnelID; self.sessionID = sessionID; self.peerSessionID = peerSessionID
        self.udp = udp; self.local = local; self.remote = remote; self.localPort = localPort; self.remotePort = remotePort
        self.cookie = cookie; self.peerCookie = peerCookie
    }

    /// The tunnel and session as the kernel's l2tp family reports them.
    public init(tunnel t: L2TPTunnelConfig, session s: L2TPSessionConfig) {
        let udp = t.encapsulation == .udp
        self.init(tunnelID: t.tunnelID, peerTunnelID: t.peerTunnelID, sessionID: s.sessionID, peerSessionID: s.peerSessionID,
                  udp: udp, local: t.local, remote: t.remote, localPort: udp ? t.localPort : nil, remotePort: udp ? t.remotePort : nil,
                  cookie: s.cookie.flatMap { $0.isEmpty ? nil : $0 }, peerCookie: s.peerCookie.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The words of `ip l2tp add tunnel` (`tunnel`) and `ip l2tp add session` (`session`).
    public static let tunnelKeywords = ["tunnel_id", "peer_tunnel_id", "encap", "local", "remote", "udp_sport", "udp_dport"]
    public static let sessionKeywords = ["tunnel_id", "session_id", "peer_session_id", "cookie", "peer_cookie"]
    static let keywords = ["tunnel_id", "peer_tunnel_id", "session_id", "peer_session_id", "encap", "local", "remote",
                           "udp_sport", "udp_dport", "cookie", "peer_cookie"]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "l2tpeth" else { throw LinkWordError("\"\(kind)\" is not l2tpeth") }
        let d = try LinkWords.dictionary(words, kind: kind, known: Self.keywords)
        func id(_ k: String) throws(LinkWordError) -> UInt32 {
            guard let v = try LinkWords.number(d, k, kind: kind, UInt32.self) else { throw LinkWordError("l2tpeth: missing \"\(k)\"") }
            return v
        }
        func cookie(_ k: String) throws(LinkWordError) -> [UInt8]? {
            guard let v = d[k] else { return nil }
            guard let b = LinkWords.bytes(hex: v), b.count == 4 || b.count == 8 else {
                throw LinkWordError("l2tpeth: \"\(k) \(v)\": expected 4 or 8 bytes in hex")
            }
            return b
        }
        let encap = d["encap"] ?? "udp"
        guard encap == "udp" || encap == "ip" else { throw LinkWordError("l2tpeth: \"encap \(encap)\": expected udp or ip") }
        self.init(tunnelID: try id("tunnel_id"), peerTunnelID: try id("peer_tunnel_id"), sessionID: try id("session_id"),
                  peerSessionID: try id("peer_session_id"), udp: encap == "udp",
                  local: try LinkWords.address(d, "local", kind: kind), remote: try LinkWords.address(d, "remote", kind: kind),
                  localPort: try LinkWords.number(d, "udp_sport", kind: kind, UInt16.self),
                  remotePort: try LinkWords.number(d, "udp_dport", kind: kind, UInt16.self),
                  cookie: try cookie("cookie"), peerCookie: try cookie("peer_cookie"))
    }

    public var words: [LinkWord] {
        var w = [LinkWord("tunnel_id", "\(tunnelID)"), LinkWord("peer_tunnel_id", "\(peerTunnelID)"),
                 LinkWord("session_id", "\(sessionID)"), LinkWord("peer_session_id", "\(peerSessionID)"),
                 LinkWord("encap", udp ? "udp" : "ip")]
        if let local { w.append(LinkWord("local", "\(local)")) }
        if let remote { w.append(LinkWord("remote", "\(remote)")) }
        if udp {
            if let localPort { w.append(LinkWord("udp_sport", "\(localPort)")) }
            if let remotePort { w.append(LinkWord("udp_dport", "\(remotePort)")) }
        }
        if let cookie { w.append(LinkWord("cookie", LinkWords.hex(cookie))) }
        if let peerCookie { w.append(LinkWord("peer_cookie", LinkWords.hex(peerCookie))) }
        return w
    }

    /// The words of `keywords` among `words`, as one command's (`ip l2tp add tunnel ...`, `... add session ...`).
    public func words(of keywords: [String]) -> [LinkWord] {
        let all = words
        return keywords.compactMap { k in all.first { $0.key == k } }
    }
}

/// A pseudowire of the L2TP control protocol: the words after `isthmus tunnel run NAME type l2tp-control`
/// (`local A remote A role initiator|responder [udp_sport P] [udp_dport P] pseudowire ID [cookie 0|4|8]
/// [dataplane kernel|userspace] [bridge NAME] [mtu MTU] [alias TEXT] [host NAME] [secret-file PATH]`).
/// A device of it is made by its process once the session is up (a site's `control = "l2tpv3"`).
public struct L2TPControlLink: LinkValue {
    public static let kinds = ["l2tp-control"]
    /// Its process makes an l2tp_eth session over UDP once the session is up.
    public var kernelModules: [String] { ["l2tp_eth"] }
    public var kind: String { "l2tp-control" }
    public enum Role: String, Sendable { case initiator, responder }
    public enum DataPlane: String, Sendable { case kernel, userspace }
    public var local: LinkAddress
    public var remote: LinkAddress
    public var role: Role
    public var localPort: UInt16
    public var remotePort: UInt16
    public var pseudowire: String
    /// Cookie length, 0, 4 or 8.
    public var cookieLength: Int
    public var dataPlane: DataPlane
    public var bridge: String?
    public var mtu: Int?
    public var alias: String?
    public var host: String?
    public var secretFile: String?

    public init(local: LinkAddress, remote: LinkAddress, role: Role, localPort: UInt16 = 1701, remotePort: UInt16 = 1701,
                pseudowire: String, cookieLength: Int = 0, dataPlane: DataPlane = .kernel, bridge: String? = nil, mtu: Int? = nil,
                alias: String? = nil, host: String? = nil, secretFile: String? = nil) {
        self.local = local; self.remote = remote; self.role = role; self.localPort = localPort; self.remotePort = remotePort
        self.pseudowire = pseudowire; self.cookieLength = cookieLength; self.dataPlane = dataPlane; self.bridge = bridge
        self.mtu = mtu; self.alias = alias; self.host = host; self.secretFile = secretFile
    }

    static let keywords = ["local", "remote", "role", "udp_sport", "udp_dport", "pseudowire", "cookie", "dataplane", "bridge",
                           "mtu", "alias", "host", "secret-file"]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "l2tp-control" else { throw LinkWordError("\"\(kind)\" is not l2tp-control") }
        let d = try LinkWords.dictionary(words, kind: kind, known: Self.keywords)
        guard let local = try LinkWords.address(d, "local", kind: kind) else { throw LinkWordError("l2tp-control: missing \"local\"") }
        guard let remote = try LinkWords.address(d, "remote", kind: kind) else { throw LinkWordError("l2tp-control: missing \"remote\"") }
        guard let r = d["role"], let role = Role(rawValue: r) else { throw LinkWordError("l2tp-control: \"role\": expected initiator or responder") }
        guard let pw = d["pseudowire"] else { throw LinkWordError("l2tp-control: missing \"pseudowire\"") }
        let plane = d["dataplane"] ?? "kernel"
        guard let dataPlane = DataPlane(rawValue: plane) else { throw LinkWordError("l2tp-control: \"dataplane \(plane)\": expected kernel or userspace") }
        let cookie = try LinkWords.number(d, "cookie", kind: kind, Int.self) ?? 0
        guard [0, 4, 8].contains(cookie) else { throw LinkWordError("l2tp-control: \"cookie \(cookie)\": expected 0, 4 or 8") }
        self.init(local: local, remote: remote, role: role, localPort: try LinkWords.number(d, "udp_sport", kind: kind) ?? 1701,
                  remotePort: try LinkWords.number(d, "udp_dport", kind: kind) ?? 1701, pseudowire: pw, cookieLength: cookie,
                  dataPlane: dataPlane, bridge: d["bridge"], mtu: try LinkWords.number(d, "mtu", kind: kind, Int.self),
                  alias: d["alias"], host: d["host"], secretFile: d["secret-file"])
    }

    public var words: [LinkWord] {
        var w = [LinkWord("local", "\(local)"), LinkWord("remote", "\(remote)"), LinkWord("role", role.rawValue),
                 LinkWord("udp_sport", "\(localPort)"), LinkWord("udp_dport", "\(remotePort)"), LinkWord("pseudowire", pseudowire),
                 LinkWord("cookie", "\(cookieLength)"), LinkWord("dataplane", dataPlane.rawValue)]
        if let bridge { w.append(LinkWord("bridge", bridge)) }
        if let mtu { w.append(LinkWord("mtu", "\(mtu)")) }
        if let alias { w.append(LinkWord("alias", alias)) }
        if let host { w.append(LinkWord("host", host)) }
        if let secretFile { w.append(LinkWord("secret-file", secretFile)) }
        return w
    }
}
