import Sites

/// A lab: a small network of namespaces described in one TOML file — nodes (hosts, routers, switches), veth links
/// between them, addresses, routes, NAT, bridge VLANs, macvlans, Isthmus sites running in nodes, extra `isthmus`
/// commands — and the checks that say the design works. `isthmus lab up|check|down|status|run FILE`.
///
/// ```toml
/// [lab]
/// name = "vx"                     # required; [a-z0-9-], 1..16 bytes: namespaces are "<name>-<node>"
/// description = "VXLAN through a router"
/// requires = ["vxlan"]            # kernel modules; a kernel without them is told so (run with --vm)
///
/// [nodes.h1]
/// type = "host"                   # host (default) | router (forwards IPv4/IPv6) | switch (a bridge "br0")
/// addresses = { eth0 = ["10.0.1.2/24"] }
/// routes = ["default via 10.0.1.1"]
/// commands = ["link add vx0 type vxlan id 100 local 10.0.1.2 remote 10.0.2.2 dstport 4789",
///             "address add 192.168.100.1/24 dev vx0", "link set vx0 up"]   # isthmus words, run last, in order
///
/// [nodes.r]
/// type = "router"
/// nat = ["eth2"]                  # masquerade what leaves through these interfaces (nftables)
///
/// [nodes.sw]
/// type = "switch"
/// vlan_filtering = true
/// ports = { p1 = { pvid = 100 }, p3 = { tagged = [100, 200] } }   # pvid: untagged member; tagged: tagged members
///
/// [nodes.gw]
/// site = { config = "segment.toml", name = "a" }   # an Isthmus site (the `isthmus up` config), path relative to this file
///
/// [[links]]                       # a veth pair; interfaces come up with it
/// endpoints = ["h1:eth0", "r:eth1"]
/// mtu = 1500                      # optional, both ends
///
/// [[macvlans]]                    # a macvlan on PARENT, moved into NODE
/// parent = "sw:uplink"
/// node = "h3"
/// name = "mv0"
/// mode = "bridge"                 # private | vepa | bridge (default) | passthru
///
/// [[checks]]                      # kind: ping | no-ping | tcp | neighbour | no-cross | throughput | mtu | mss
/// kind = "ping"
/// from = "h1"
/// to = "192.168.100.2"
/// size = 1472                     # ping: payload bytes; df = true sets DF (ping -M do)
/// df = true
/// ```
///
/// Check kinds (`from` is a node, `to` an address): `ping`/`no-ping` (from, to, size, df, count); `tcp` (from, to,
/// port, bytes: a transfer that must arrive intact); `neighbour` (from, to: after a ping, `from`'s neighbour table
/// has a link-layer address for `to` — ARP or ND across); `no-cross` (from, at, frame = dhcp | ra | udp:PORT: `from`
/// broadcasts it, node `at` must not see it, while a control broadcast from `from` must reach `at`); `throughput`
/// (from, to, min_mbps, seconds: iperf3 TCP); `mtu` (from, to, expect: the largest IPv4 packet with DF that crosses,
/// found by bisection, must be `expect` bytes); `mss` (from, to, expect, port: the SYN of a connection from `from`
/// arrives at `to`'s node with TCP MSS `expect`, and the SYN-ACK back at `from` too — an MSS clamp at work).
public struct LabConfig: Equatable, Sendable {
    public enum NodeType: String, CaseIterable, Sendable { case host, router, `switch` }

    public struct SwitchPort: Equatable, Sendable {
        public var name: String
        public var pvid: Int?
        public var tagged: [Int]
        public var position: TOMLPosition

        public init(name: String, pvid: Int?, tagged: [Int], position: TOMLPosition = TOMLPosition(line: 1, column: 1)) {
            self.name = name; self.pvid = pvid; self.tagged = tagged; self.position = position
        }

        public static func == (a: SwitchPort, b: SwitchPort) -> Bool { a.name == b.name && a.pvid == b.pvid && a.tagged == b.tagged }
    }

    public struct Site: Equatable, Sendable {
        /// Absolute (resolved against the lab file's directory).
        public var config: String
        public var name: String
    }

    public struct Node: Equatable, Sendable {
        public var name: String
        public var type: NodeType
        public var addresses: [(interface: String, prefix: String)]
        public var routes: [String]
        public var commands: [String]
        public var nat: [String]
        public var vlanFiltering: Bool
        public var ports: [SwitchPort]
        public var site: Site?
        public var position: TOMLPosition

        public static func == (a: Node, b: Node) -> Bool {
            a.name == b.name && a.type == b.type && a.addresses.map(\.interface) == b.addresses.map(\.interface)
                && a.addresses.map(\.prefix) == b.addresses.map(\.prefix) && a.routes == b.routes && a.commands == b.commands
                && a.nat == b.nat && a.vlanFiltering == b.vlanFiltering && a.ports == b.ports && a.site == b.site
        }
    }

    public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
        public var node: String
        public var interface: String
        public var description: String { "\(node):\(interface)" }
    }

    public struct Link: Equatable, Sendable {
        public var a: Endpoint
        public var b: Endpoint
        public var mtu: Int?
    }

    public struct Macvlan: Equatable, Sendable {
        public var parent: Endpoint
        public var node: String
        public var name: String
        public var mode: String
    }

    public enum CheckKind: String, CaseIterable, Sendable {
        case ping, noPing = "no-ping", tcp, neighbour, noCross = "no-cross", throughput, mtu, mss
    }

    public struct Check: Equatable, Sendable {
        public var kind: CheckKind
        public var from: String
        /// An address (ping, no-ping, tcp, throughput, mtu, neighbour) or, for no-cross, the node that must not see it.
        public var to: String
        public var size: Int?
        public var df: Bool
        public var count: Int
        public var port: Int
        public var bytes: Int
        public var frame: String?
        public var minMbps: Double?
        public var seconds: Int
        public var expect: Int?
        public var name: String?
        public var position: TOMLPosition

        /// What the check table calls it.
        public var title: String {
            if let name { return name }
            switch kind {
            case .ping, .noPing:
                return "\(kind == .ping ? "ping" : "no ping") \(from) → \(to)" + (size.map { " \($0) B" } ?? "") + (df ? " DF" : "")
            case .tcp: return "tcp \(from) → \(to):\(port), \(bytes) B"
            case .neighbour: return "neighbour \(to) seen from \(from)"
            case .noCross: return "\(frame ?? "?") from \(from) not seen at \(to)"
            case .throughput: return "throughput \(from) → \(to) ≥ \(minMbps.map { $0 == $0.rounded() ? "\(Int($0))" : "\($0)" } ?? "?") Mbit/s"
            case .mtu: return "path MTU \(from) → \(to) = \(expect ?? 0)"
            case .mss: return "TCP SYN \(from) → \(to) arrives with MSS \(expect ?? 0)"
            }
        }
    }

    public var file: String
    public var name: String
    public var description: String
    public var requires: [String]
    /// In file order.
    public var nodes: [Node]
    public var links: [Link]
    public var macvlans: [Macvlan]
    public var checks: [Check]

    public func node(_ name: String) -> Node? { nodes.first { $0.name == name } }

    /// The namespace of a node.
    public func namespace(_ node: String) -> String { "\(name)-\(node)" }

    public static let topKeys = ["lab", "nodes", "links", "macvlans", "checks"]
    public static let labKeys = ["name", "description", "requires"]
    public static let nodeKeys = ["type", "addresses", "routes", "commands", "nat", "vlan_filtering", "ports", "site"]
    public static let linkKeys = ["endpoints", "mtu"]
    public static let macvlanKeys = ["parent", "node", "name", "mode"]
    public static let checkKeys = ["kind", "name", "from", "to", "at", "size", "df", "count", "port", "bytes",
                                   "frame", "min_mbps", "seconds", "expect"]

    /// Parses and validates; every problem at once, sorted by position. `directory`: where relative site config paths
    /// are resolved (the lab file's folder).
    public static func load(text: String, file: String, directory: String) -> Result<LabConfig, ConfigErrors> {
        // The lab file's errors first, then those of site configs it names, each in file order.
        var v = LabValidator(file: file, directory: directory)
        return v.load(text) { $0.validate($1) }
    }
}
