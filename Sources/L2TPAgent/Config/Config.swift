import Netlink
import L2TPWire

/// A standalone L2TP agent's configuration (`isthmus l2tp run --config FILE`): an LAC/LNS or an L2TPv3 LCCE that
/// listens for control connections, opens its own, and gives Ethernet pseudowires a data path. Read from the
/// `[l2tp]` table of a TOML file by `L2TPConfigReader` (file:line:col errors); see docs/L2TP.md for the keys.
public struct L2TPAgentConfig: Equatable, Sendable {
    /// An address and UDP port; the address may be empty (the wildcard).
    public struct Endpoint: Equatable, Hashable, Sendable, CustomStringConvertible {
        public var address: String
        public var port: UInt16
        public init(address: String, port: UInt16 = 1701) { self.address = address; self.port = port }
        public var ipv6: Bool { address.contains(":") }
        public var description: String { ipv6 ? "[\(address)]:\(port)" : "\(address.isEmpty ? "*" : address):\(port)" }
    }

    /// The data plane of Ethernet pseudowires.
    public enum DataPlane: String, CaseIterable, Equatable, Sendable {
        /// The kernel's when its l2tp_eth family is there, else the userspace one.
        case auto
        case kernel
        case userspace
        /// Control only: sessions are established and no interface is made (v2 calls, tests, benchmarks).
        case none
    }

    /// A control connection this side opens (LAC / initiator).
    public struct Tunnel: Equatable, Sendable {
        public var name: String
        public var peer: Endpoint
        /// Local address and port to send from; nil: the wildcard and port 1701.
        public var local: Endpoint?
        /// Open it again after it fails, with back-off from 1 s doubling to `redialMax`.
        public var redial: Bool = true
        public var redialMax: Double = 60
        public init(name: String, peer: Endpoint, local: Endpoint? = nil) { self.name = name; self.peer = peer; self.local = local }
    }

    /// A v3 Ethernet pseudowire (RFC 4719). The side naming a `tunnel` opens it (ICRQ) over that tunnel; the other
    /// side accepts an ICRQ whose Remote End ID is `name` from any peer.
    public struct Pseudowire: Equatable, Sendable {
        /// What the pseudowire carries (RFC 4719 Ethernet, or PPP as in RFC 4591).
        public enum Kind: String, CaseIterable, Equatable, Sendable { case ethernet, ppp }
        /// The Remote End ID both ends configure.
        public var name: String
        public var type: Kind = .ethernet
        /// The interface the session gets (l2tpeth or TAP).
        public var interface: String
        /// Open over this tunnel (by name); nil: accept only.
        public var tunnel: String?
        /// Length of the cookie we assign (0, 4 or 8 bytes, random per session).
        public var cookie: Int = 0
        /// The default L2-specific sublayer (RFC 4719 §3.2.2) instead of none.
        public var sublayer: Bool = false
        /// Ask for sequenced data (Data Sequencing AVP 2, all packets; needs the sublayer). The side that opens the
        /// pseudowire decides: both directions are then sent with sequence numbers and required to have them.
        public var sequencing: Bool = false
        /// The interface's MTU; nil: the data plane's default.
        public var mtu: Int?
        /// A bridge to put the interface in once it exists.
        public var bridge: String?
        /// An interface alias (IFLA_IFALIAS) to set once it exists: a site's `isthmus:SEGMENT` ownership mark (not
        /// in the file format).
        public var alias: String?
        public init(name: String, interface: String, tunnel: String? = nil) {
            self.name = name; self.interface = interface; self.tunnel = tunnel
        }
    }

    /// A v2 call this side places once `tunnel` is up, kept up (placed again after a CDN, with back-off).
    public struct Call: Equatable, Sendable {
        public var tunnel: String
        public var number: String = ""
        /// An outgoing call (OCRQ: this side, as the LNS, asks the LAC to place it) instead of an incoming one (ICRQ).
        public var outgoing: Bool = false
        public init(tunnel: String, number: String = "", outgoing: Bool = false) {
            self.tunnel = tunnel; self.number = number; self.outgoing = outgoing
        }
    }

    /// For the status file and logs.
    public var name: String
    public var version: L2TPVersion
    public var hostName: String
    /// v3 Router ID; nil: from the first local or listen IPv4 address, else 0.
    public var routerID: UInt32?
    /// Where SCCRQs are accepted (LNS / responder). Empty: this side only initiates.
    public var listen: [Endpoint] = []
    public var secret: String?
    public var digest: DigestAlgorithm = .hmacMD5
    /// v2: challenge the peer when a secret is set.
    public var challenge: Bool = true
    /// v2: hide the ids with the secret.
    public var hideAVPs: Bool = false
    /// Seconds of silence before a HELLO.
    public var helloInterval: Double = 60
    /// Retransmission: first timeout, cap, and count before the peer is declared dead.
    public var retransmitInitial: Double = 1
    public var retransmitMax: Double = 8
    public var retransmitCount: Int = 5
    /// Our Receive Window Size.
    public var window: UInt16 = 8
    public var dataPlane: DataPlane = .auto
    public var tunnels: [Tunnel] = []
    public var pseudowires: [Pseudowire] = []
    public var calls: [Call] = []
    /// v2: PPP over every call; v3: the PPP settings of `type = "ppp"` pseudowires. nil: v2 calls are control only.
    public var ppp: PPPConfig?
    /// v2 LNS: L2TP/IPsec remote access (`[l2tp.ipsec]`): the IKE connections loaded into charon.
    public var ipsec: L2TPIPsecConfig?
    /// Where status JSON is written; nil: /run/isthmus/l2tp/NAME.json.
    public var statusPath: String?

    public init(name: String, version: L2TPVersion, hostName: String) {
        self.name = name; self.version = version; self.hostName = hostName
    }

    /// Isthmus's own directory for agents' files: default status files and the PPP secrets files.
    public static let runDirectory = "/run/isthmus/l2tp"

    /// The status file.
    public var resolvedStatusPath: String { statusPath ?? "\(Self.runDirectory)/\(name).json" }
    /// Where the running agent answers status queries (`l2tp show`).
    public var resolvedStatusSocketPath: String { Self.statusSocketPath(forStatus: resolvedStatusPath) }

    /// The status socket that goes with the status file `path`: beside it (`.sock` for `.json`) when it is in
    /// Isthmus's own /run/isthmus; for a `status` anywhere else (the user's path, which may be /dev/null) in
    /// /run/isthmus/l2tp, named for the path, so that nothing is created beside a path Isthmus does not own.
    public static func statusSocketPath(forStatus path: String) -> String {
        if OwnedFiles.isInside(path) {
            return path.hasSuffix(".json") ? String(path.dropLast(5)) + ".sock" : path + ".sock"
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a
        for b in path.utf8 { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return "\(runDirectory)/status-" + String(repeating: "0", count: 16 - hex.count) + hex + ".sock"
    }
}
