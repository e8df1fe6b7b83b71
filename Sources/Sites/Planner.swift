import LinkValues

/// The site planner: what one host must look like for its side of a segment (`DesiredState`), what netlink reports
/// (`ObservedState`), and the ordered changes between them (`Planner.plan`). Pure: the I/O side dumps links, builds an
/// `ObservedState`, plans, prints `Planner.render` for `isthmus plan`, and applies the changes in order.
///
/// Ownership: everything Isthmus creates carries the alias `isthmus:<segment>` (IFLA_IFALIAS, set right after the
/// device is created: the kernel ignores it in the creating request). LAN ports belong to
/// the user: only their master and up state are changed, and `down` releases them (nomaster), never deletes them.
/// An interface with a desired name that is not owned by this segment is a conflict, never taken over.
///
/// Addresses and routes: only configuration is observed (`HostConfiguration`: permanent addresses that are not
/// link-local, administratively added main-table routes) — what the kernel, router advertisements, DHCP clients and
/// routing daemons make is theirs and never seen as drift. Of that, Isthmus adds what the config names and removes
/// nothing the config does not name: an address or route the user put on the bridge (or on the tunnel) stays. The
/// host's own configuration on a LAN port moves to the bridge with `up` and back to the first LAN port with `down`.

/// One `key value` word pair of an `ip`-style command; `value` empty for a bare flag (e.g. `nopmtudisc`).
public typealias Param = LinkWord

/// One interface Isthmus wants (or, for LAN ports, wants enslaved).
public struct InterfaceSpec: Equatable, Sendable {
    /// `bridge`, a kernel link kind (`vxlan`, `l2tpeth`, `gretap`, `ip6gretap`, `gre`, `ip6gre`, `ipip`, `ip6tnl`,
    /// `sit`), `userspace` (an `isthmus tunnel run` process), or `port` (a user's LAN port, never created).
    public var name: String
    public var kind: String
    /// The kind-specific words, in command order; compared as a dictionary. For a tunnel, `link`'s words (after
    /// `type KIND` for a userspace one).
    public var parameters: [Param]
    /// The tunnel's typed value (nil for bridges, ports, and a userspace tunnel restored from unreadable words).
    public var link: SiteLink?
    public var mtu: Int?
    public var master: String?
    /// Addresses (CIDR) and routes (`PREFIX [via GW] [src ADDRESS] [metric N]`) on the device: the bridge's `bridge_address`, the L3
    /// tunnel's `tunnel_address` and routes to the peers' networks.
    public var addresses: [String]
    public var routes: [String]
    /// vxlan with several peers: the default-destination FDB entries (`bridge fdb append 00:00:00:00:00:00 dst X`).
    public var fdb: [String]
    /// A bridge port's `isolated` flag (nil: left as it is): a registry's point-to-point tunnels are bridge ports that
    /// must not forward to one another where that would close a loop (`DesiredState.init(side:pairs:...)`).
    public var isolated: Bool?

    public init(name: String, kind: String, parameters: [Param] = [], mtu: Int? = nil, master: String? = nil,
                addresses: [String] = [], routes: [String] = [], fdb: [String] = []) {
        self.name = name; self.kind = kind; self.parameters = parameters; self.mtu = mtu; self.master = master
        self.addresses = addresses; self.routes = routes; self.fdb = fdb
    }

    /// A tunnel from its value: a kernel link of the value's kind, or (`userspace`) an `isthmus tunnel run NAME type
    /// KIND WORDS` process.
    public init(name: String, link: SiteLink, userspace: Bool, mtu: Int? = nil, fdb: [String] = []) {
        self.init(name: name, kind: userspace ? "userspace" : link.kind,
                  parameters: userspace ? [Param("type", link.userspaceKind)] + link.words : link.words, mtu: mtu, fdb: fdb)
        self.link = link
    }

    /// A userspace tunnel from its process's words (`type KIND WORDS`), as a rollback restores it: restarted with
    /// exactly those words.
    public init(name: String, userspaceWords words: String) {
        let split = words.split(separator: " ").map(String.init)
        self.init(name: name, kind: "userspace", parameters: split.map { Param($0) })
        link = try? SiteLink(userspaceWords: split)
        // Words no value reads (changed by hand, or by another version) still name the process's kind.
        controlProcess = link == nil && split.count > 1 && split[0] == "type" && L2TPControlLink.kinds.contains(split[1])
    }

    public var isPort: Bool { kind == "port" }
    public var isUserspace: Bool { kind == "userspace" }
    /// A pseudowire of the L2TP control protocol (`isthmus tunnel run NAME type l2tp-control ...`): its process
    /// makes the device (l2tp_eth or TAP) only once the session is established, puts it in the bridge and marks it
    /// with the alias itself, and removes it when the session goes. Until then the process running is all there is.
    public var isManaged: Bool {
        guard isUserspace else { return false }
        if case .l2tpControl = link { return true }
        return controlProcess
    }
    /// A control pseudowire's process whose words are not a value (see `init(name:userspaceWords:)`).
    var controlProcess = false
    /// The parameters as netlink reports them.
    public var parameterDictionary: [String: String] {
        var d: [String: String] = [:]
        for p in parameters { d[p.key] = p.value }
        return d
    }
    /// The words after `type KIND` (`ip link add`), or after `isthmus tunnel run NAME` for the userspace data plane.
    public var parameterWords: String { parameters.map(\.words).joined(separator: " ") }
}

/// Which data plane carries the tunnel (`auto` resolved by the caller: kernel when its modules load).
public enum ResolvedDataplane: String, Sendable { case kernel, userspace }

public struct PlanError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String
    public init(message: String, hint: String) { self.message = message; self.hint = hint }
    public var description: String { message + "\n  hint: " + hint }
}

/// What this host's side of a segment needs, in creation order.
public struct DesiredState: Equatable, Sendable {
    public var segment: String
    /// Ethernet kinds: the bridge (owned), then the LAN ports (kind `port`, not owned).
    public var bridge: InterfaceSpec?
    public var ports: [InterfaceSpec]
    /// The tunnel devices (owned), or the userspace tunnel processes and their TAP/TUN devices: one for a segment
    /// file; for a registry's point-to-point segment one per peer (`pairPrefix`), none while it has no peer.
    public var tunnels: [InterfaceSpec]
    /// gre-in-udp on the kernel data plane: the FOU receive port (`ip fou add port P ipproto 47`).
    public var fouPort: UInt16?
    /// A registry's point-to-point segment: the prefix of every tunnel name (`pairTunnelName`), so that tunnels
    /// (and userspace processes) of peers that left are known as this segment's, and filters match them all.
    public var pairPrefix: String?

    public var alias: String { Planner.alias(segment) }

    /// The tunnel of a segment with one (a file's, or a registry's vxlan); for a registry's point-to-point segment its
    /// first peer's, and with no peer yet a placeholder of no kind that exists nowhere.
    public var tunnel: InterfaceSpec {
        tunnels.first ?? InterfaceSpec(name: pairPrefix.map { $0 + "*" } ?? DesiredState.tunnelName(segment: segment), kind: "")
    }

    public init(segment: String, bridge: InterfaceSpec?, ports: [InterfaceSpec], tunnel: InterfaceSpec, fouPort: UInt16? = nil) {
        self.segment = segment; self.bridge = bridge; self.ports = ports; self.tunnels = [tunnel]; self.fouPort = fouPort
    }

    /// The tunnel name prefix of a registry's point-to-point segment: "i", 4 hex digits of the segment name's hash,
    /// "." — 6 bytes, leaving 9 of IFNAMSIZ's 15 for the peer.
    public static func pairPrefix(segment: String) -> String {
        "i" + hex4(SiteConfig.fnv1a32("isthmus/pair/" + segment)) + "."
    }

    /// The tunnel to `peer` in a registry's point-to-point segment: the prefix and the peer's name when it fits (9
    /// bytes), else its first 5 bytes and 4 hex digits of its hash — distinct names for distinct peers but for a
    /// 16-bit hash collision between two long names, which `FleetShape` leaves out with the reason.
    public static func pairTunnelName(segment: String, peer: String) -> String {
        let prefix = pairPrefix(segment: segment)
        if peer.utf8.count <= 9 { return prefix + peer }
        return prefix + String(decoding: Array(peer.utf8.prefix(5)), as: UTF8.self) + hex4(SiteConfig.fnv1a32("isthmus/pair-name/" + peer))
    }

    /// The low 16 bits as 4 lowercase hex digits.
    static func hex4(_ v: UInt32) -> String {
        let h = String(v & 0xffff, radix: 16)
        return String(repeating: "0", count: 4 - h.count) + h
    }

    /// A registry's point-to-point segment: `base` is this site's side with no peer (bridge, LAN ports), `pairs` its
    /// side of each pair (`SegmentConfig.pairSides`), each tunnel named by `pairTunnelName` and a port of the bridge,
    /// `isolated` where `isolate(peer)` says (a mesh's ports, a hub's ports to other hubs: no frame from one is
    /// forwarded to another, so no loop).
    public init(side base: SiteSide, pairs: [SiteSide], dataplane: ResolvedDataplane, isolate: (String) -> Bool) throws(PlanError) {
        let seg = base.segment
        let bridgeName = base.bridge ?? SiteConfig.defaultBridge(segment: seg)
        var tunnels: [InterfaceSpec] = []
        for pair in pairs {
            guard let peer = pair.peers.first else { continue }
            var t = try DesiredState(side: pair, dataplane: dataplane).tunnel
            t.name = DesiredState.pairTunnelName(segment: seg, peer: peer.name)
            t.isolated = isolate(peer.name)
            tunnels.append(t)
        }
        self.segment = seg
        self.bridge = InterfaceSpec(name: bridgeName, kind: "bridge", mtu: base.tunnelMTU, addresses: base.bridgeAddresses.map { "\($0)" })
        self.ports = base.lan.map { InterfaceSpec(name: $0, kind: "port", master: bridgeName) }
        self.tunnels = tunnels
        self.pairPrefix = DesiredState.pairPrefix(segment: seg)
    }

    /// The tunnel device's default name for a segment (a site's `tunnel_device` overrides it): "isth-" + segment, cut to
    /// 15 bytes (IFNAMSIZ).
    public static func tunnelName(segment: String) -> String {
        String(decoding: Array(("isth-" + segment).utf8.prefix(15)), as: UTF8.self)
    }

    /// Derives the desired state of `side` (of segment `segment`). `dataplane` defaults to the side's mode, `auto`
    /// planned as kernel. `peersAsFDB` (a registry's vxlan segment, whose peers come and go): every peer is a
    /// default-destination FDB entry, even a single one, and none is allowed — so a peer joining, moving or leaving
    /// changes FDB entries only, never the device.
    public init(side: SiteSide, segment: String? = nil, dataplane: ResolvedDataplane? = nil, peersAsFDB: Bool = false) throws(PlanError) {
        let seg = segment ?? side.segment
        let plane = dataplane ?? (side.dataplane == .userspace ? .userspace : .kernel)
        let name = side.tunnelDevice ?? DesiredState.tunnelName(segment: seg)
        let v6 = side.localAddress.isV6
        let remotes = side.peers.map { "\($0.address)" }
        let fleet = peersAsFDB && side.kind == .vxlan
        guard !remotes.isEmpty || fleet else {
            throw PlanError(message: "segment \(seg) has no peer for site \(side.site)", hint: "add a second [sites.NAME] table")
        }
        let userspace = plane == .userspace
        guard let local = LinkAddress(bytes: side.localAddress.bytes),
              let remote = fleet ? local : side.peers.first.flatMap({ LinkAddress(bytes: $0.address.bytes) }) else {
            throw PlanError(message: "segment \(seg): an address of site \(side.site) is neither IPv4 nor IPv6", hint: "check the config")
        }
        var link: SiteLink
        var fdb: [String] = []
        var fou: UInt16?
        let df = side.outerFragmentation
        switch side.kind {
        case .vxlan:
            var v = VXLANLink(vni: side.vni ?? 0, local: local, destinationPort: side.peerPort ?? 4789)
            if remotes.count == 1 && !fleet {
                v.remote = remote
            } else {
                if userspace {
                    throw PlanError(message: "segment \(seg): the userspace data plane sends to one known peer, but vxlan here has \(remotes.count)",
                                    hint: "use dataplane = \"kernel\" (or \"auto\") for a vxlan segment of more than two sites")
                }
                fdb = remotes
            }
            // The kernel's default, stated so that a hand-made `df set` shows as drift: outer DF must stay off.
            if !userspace { v.df = .unset }
            link = .vxlan(v)
        case .l2tpv3:
            let udp = side.encap != .ip
            link = .l2tpSession(L2TPSessionLink(tunnelID: side.tunnelID ?? 0, peerTunnelID: side.peerTunnelID ?? 0,
                                                sessionID: side.sessionID ?? 0, peerSessionID: side.peerSessionID ?? 0, udp: udp,
                                                local: local, remote: remote,
                                                localPort: udp ? side.localPort ?? 1701 : nil, remotePort: udp ? side.peerPort ?? 1701 : nil,
                                                cookie: side.cookie, peerCookie: side.peerCookie))
        case .gretap, .greInUDP, .gre:
            var g = GRELink(variant: .of(ipv6: v6, ethernet: side.kind != .gre), local: local, remote: remote, key: side.greKey)
            if side.kind == .greInUDP {
                let port = side.peerPort ?? 4754
                g.fou = GRELink.FOU(sourcePort: 0, destinationPort: port)
                if !userspace { fou = port }
            }
            // IPv4 GRE copies the inner DF bit unless ignore-df: with it, a full frame is fragmented outside instead
            // of dropped (with an ICMP error that a bridge cannot act on).
            if !userspace && !v6 { g.pathMTUDiscovery = !df; g.ignoreDF = df }
            link = .gre(g)
        case .ipip:
            link = .ipTunnel(IPTunnelLink(variant: v6 ? .ip6tnl : .ipip, local: local, remote: remote, mode: v6 ? .ipip6 : nil,
                                          pathMTUDiscovery: !userspace && !v6 ? !df : nil))
        case .sit:
            link = .ipTunnel(IPTunnelLink(variant: .sit, local: local, remote: remote, pathMTUDiscovery: !userspace ? !df : nil))
        }
        let controlled = side.kind == .l2tpv3 && side.control
        if controlled {
            // The control protocol's agent for this one pseudowire; the kernel or userspace data plane is its choice
            // to make once the session is up (the words say which).
            let bridgeName = side.bridge ?? SiteConfig.defaultBridge(segment: seg)
            link = .l2tpControl(L2TPControlLink(local: local, remote: remote, role: side.initiator ? .initiator : .responder,
                                                localPort: side.localPort ?? 1701, remotePort: side.peerPort ?? 1701, pseudowire: seg,
                                                cookieLength: side.cookie != nil ? 8 : 0, dataPlane: userspace ? .userspace : .kernel,
                                                bridge: bridgeName, mtu: side.tunnelMTU, alias: Planner.alias(seg), host: side.site,
                                                secretFile: side.secret != nil ? DesiredState.secretPath(segment: seg) : nil))
        }
        // Userspace: `isthmus tunnel run NAME type KIND ARGS`, the same words as the kernel's command (l2tpv3: tunnel
        // and session together); the MTU is set on the device afterwards, so changing it does not restart the process.
        var tunnel = InterfaceSpec(name: name, link: link, userspace: userspace || controlled, mtu: side.tunnelMTU, fdb: fdb)
        if side.kind.isEthernet {
            let bridgeName = side.bridge ?? SiteConfig.defaultBridge(segment: seg)
            tunnel.master = bridgeName
            bridge = InterfaceSpec(name: bridgeName, kind: "bridge", mtu: side.tunnelMTU, addresses: side.bridgeAddresses.map { "\($0)" })
            ports = side.lan.map { InterfaceSpec(name: $0, kind: "port", master: bridgeName) }
        } else {
            bridge = nil
            ports = []
            tunnel.addresses = side.tunnelAddress.map { ["\($0)"] } ?? []
            tunnel.routes = side.routes.map { r in "\(r.prefix)" + (r.gateway.map { " via \($0)" } ?? "") }
        }
        self.segment = seg
        self.tunnels = [tunnel]
        self.fouPort = fou
    }

    /// Every interface Isthmus creates, in creation order.
    public var owned: [InterfaceSpec] { (bridge.map { [$0] } ?? []) + tunnels }

    /// Where a managed L2TPv3 segment's shared secret is written for its agent (mode 0600).
    public static func secretPath(segment: String) -> String { "/run/isthmus/sites/\(segment).secret" }
}

/// What netlink reports for one interface.
public struct ObservedInterface: Equatable, Sendable {
    public var name: String
    /// The link kind (IFLA_INFO_KIND), `tun` for a TAP/TUN device, empty for a plain device.
    public var kind: String
    /// IFLA_IFALIAS; `isthmus:<segment>` on what Isthmus owns.
    public var alias: String?
    public var master: String?
    public var mtu: Int
    public var up: Bool
    public var parameters: [String: String]
    /// Configuration only (see `HostConfiguration`): permanent, not link-local addresses as CIDR, in the kernel's
    /// order (an IPv4 primary before its secondaries).
    public var addresses: [String]
    /// Configuration only: administratively added main-table unicast routes through the device, as
    /// `PREFIX [via GW] [src ADDRESS] [metric N]` (the metric when not the family's default).
    public var routes: [String]
    public var fdb: [String]
    /// A bridge port's `isolated` flag (nil: not a bridge port, or not reported).
    public var isolated: Bool?

    public init(name: String, kind: String, alias: String? = nil, master: String? = nil, mtu: Int = 1500, up: Bool = false,
                parameters: [String: String] = [:], addresses: [String] = [], routes: [String] = [], fdb: [String] = []) {
        self.name = name; self.kind = kind; self.alias = alias; self.master = master; self.mtu = mtu; self.up = up
        self.parameters = parameters; self.addresses = addresses; self.routes = routes; self.fdb = fdb
    }
}

/// What netlink (and the userspace status sockets) report.
public struct ObservedState: Equatable, Sendable {
    /// By name.
    public var interfaces: [String: ObservedInterface]
    /// Running `isthmus tunnel run` processes: device name → their parameter words.
    public var userspaceTunnels: [String: String]
    /// FOU receive ports (`ip fou show`), as "PORT ipproto N".
    public var fouPorts: Set<String>

    public init(interfaces: [ObservedInterface] = [], userspaceTunnels: [String: String] = [:], fouPorts: Set<String> = []) {
        var d: [String: ObservedInterface] = [:]
        for i in interfaces { d[i.name] = i }
        self.interfaces = d; self.userspaceTunnels = userspaceTunnels; self.fouPorts = fouPorts
    }

    public subscript(name: String) -> ObservedInterface? {
        get { interfaces[name] }
        set { interfaces[name] = newValue }
    }

    /// A fake-OS dump in iproute2 syntax, one line per object, sorted: what tests compare.
    public var dump: [String] {
        var out: [String] = []
        for i in interfaces.values.sorted(by: { $0.name < $1.name }) {
            var l = "link \(i.name)"
            if !i.kind.isEmpty { l += " type \(i.kind)" }
            if let a = i.alias { l += " alias \(a)" }
            l += " mtu \(i.mtu)"
            if let m = i.master { l += " master \(m)" }
            l += i.up ? " up" : " down"
            for k in i.parameters.keys.sorted() { l += " " + (i.parameters[k]!.isEmpty ? k : k + " " + i.parameters[k]!) }
            out.append(l)
            out += i.addresses.sorted().map { "addr \($0) dev \(i.name)" }
            out += i.routes.sorted().map { "route \($0) dev \(i.name)" }
            out += i.fdb.sorted().map { "fdb 00:00:00:00:00:00 dev \(i.name) dst \($0)" }
        }
        out += userspaceTunnels.keys.sorted().map { "run \($0) \(userspaceTunnels[$0]!)" }
        out += fouPorts.sorted().map { "fou port \($0)" }
        return out
    }
}

/// One step, printed in iproute2 style: `+` adds, `~` changes, `-` removes.
public enum Change: Equatable, Sendable, CustomStringConvertible {
    /// `ip link add` (alias set in the same message), or the start of an `isthmus tunnel run` process.
    case create(InterfaceSpec, alias: String, reason: String?)
    /// `ip link del`, or stopping the userspace process (which removes its device).
    case delete(name: String, userspace: Bool, reason: String)
    case setMTU(name: String, mtu: Int, was: Int?)
    /// nil: nomaster.
    case setMaster(name: String, master: String?, was: String?, reason: String?)
    /// `ip link set NAME type bridge_slave isolated on|off`.
    case setIsolated(name: String, on: Bool, reason: String?)
    case setUp(name: String, wasDown: Bool)
    /// Only when rolling back: the interface was down before.
    case setDown(name: String)
    /// `reason`: why, when it is not the config's (a LAN port's configuration moving to or from the bridge).
    case addAddress(dev: String, prefix: String, reason: String? = nil)
    case delAddress(dev: String, prefix: String, reason: String? = nil)
    case addRoute(dev: String, route: String)
    case delRoute(dev: String, route: String, reason: String? = nil)
    case fdbAppend(dev: String, dst: String)
    case fdbDel(dev: String, dst: String)
    case addFou(port: UInt16)
    case delFou(port: UInt16)

    public var description: String {
        func why(_ r: String?) -> String { r.map { " (\($0))" } ?? "" }
        switch self {
        case let .create(s, alias, reason):
            if s.isUserspace {
                return "+ run isthmus tunnel run \(s.name) \(s.parameterWords) (alias \(alias))" + why(reason)
            }
            if L2TPSessionLink.kinds.contains(s.kind) {
                return "+ l2tp add tunnel+session name \(s.name) \(s.parameterWords) (alias \(alias))" + why(reason)
            }
            let extra = s.parameters.isEmpty ? "" : " " + s.parameterWords
            return "+ link add \(s.name) alias \(alias) type \(s.kind)\(extra)" + why(reason)
        case let .delete(name, userspace, reason):
            return (userspace ? "- stop isthmus tunnel run \(name)" : "- link del \(name)") + why(reason)
        case let .setMTU(name, mtu, was):
            return "~ link set \(name) mtu \(mtu)" + why(was.map { "was \($0): changed by hand" })
        case let .setMaster(name, master, was, reason):
            let r = reason ?? (master != nil && was != nil ? "was \(was!)" : nil)
            return "~ link set \(name) " + (master.map { "master \($0)" } ?? "nomaster") + why(r)
        case let .setIsolated(name, on, reason):
            return "~ link set \(name) type bridge_slave isolated \(on ? "on" : "off")" + why(reason)
        case let .setUp(name, wasDown):
            return "~ link set \(name) up" + why(wasDown ? "was down: changed by hand" : nil)
        case let .setDown(name): return "~ link set \(name) down"
        case let .addAddress(dev, prefix, reason): return "+ addr add \(prefix) dev \(dev)" + why(reason)
        case let .delAddress(dev, prefix, reason): return "- addr del \(prefix) dev \(dev)" + why(reason)
        case let .addRoute(dev, route): return "+ route add \(route) dev \(dev)"
        case let .delRoute(dev, route, reason): return "- route del \(route) dev \(dev)" + why(reason)
        case let .fdbAppend(dev, dst): return "+ fdb append 00:00:00:00:00:00 dev \(dev) dst \(dst)"
        case let .fdbDel(dev, dst): return "- fdb del 00:00:00:00:00:00 dev \(dev) dst \(dst) (not in the config)"
        case let .addFou(port): return "+ fou add port \(port) ipproto 47"
        case let .delFou(port): return "- fou del port \(port)"
        }
    }
}

public enum Planner {
    /// The IFLA_IFALIAS on everything Isthmus creates for `segment`.
    public static func alias(_ segment: String) -> String { "isthmus:" + segment }

    /// Lowercase hex, as `ip l2tp` takes cookies.
    public static func hex(_ bytes: [UInt8]) -> String { LinkWords.hex(bytes) }

    /// `isthmus plan` output: one line per change, or "no changes".
    public static func render(_ changes: [Change]) -> String {
        changes.isEmpty ? "no changes" : changes.map(\.description).joined(separator: "\n")
    }

    /// The ordered changes taking `observed` to `desired` (nil: `down`, removing what this segment owns). Throws when
    /// an interface Isthmus needs exists but is not its own (conflicts are reported all at once), or a LAN port is missing.
    ///
    /// `config` is the site's desired state also when `desired` is nil: `down` gives the host's own addresses and
    /// routes on the bridge back to the first of its LAN ports in the config's order (else the first by name), and
    /// lets the config's `bridge_address`es go with the bridge (without it, every address goes back to the port).
    public static func plan(desired: DesiredState?, observed: ObservedState, segment: String,
                            config: DesiredState? = nil) throws(PlanError) -> [Change] {
        let mine = alias(segment)
        var problems: [String] = []
        var hints: [String] = []
        if let d = desired {
            for s in d.owned {
                // A managed pseudowire's agent sets the alias a moment after it made the device.
                if s.isManaged, observed.userspaceTunnels[s.name] == s.parameterWords, observed[s.name]?.alias == nil { continue }
                if let o = observed[s.name], o.alias != mine {
                    let owner = o.alias.map { "alias \"\($0)\"" } ?? "no alias"
                    problems.append("interface \(s.name) exists but is not Isthmus's for segment \(segment) (\(owner))")
                    hints.append("delete it (ip link del \(s.name)), rename it, or choose another name in the config; "
                                 + "to adopt it, ip link set \(s.name) alias \(mine)")
                }
            }
            for p in d.ports {
                guard let o = observed[p.name] else {
                    problems.append("LAN port \(p.name) does not exist")
                    hints.append("create or rename the interface, or remove \"\(p.name)\" from lan in the config")
                    continue
                }
                if o.alias?.hasPrefix("isthmus:") == true {
                    problems.append("LAN port \(p.name) is an Isthmus interface (\(o.alias!))")
                    hints.append("list a physical or user-managed interface in lan")
                } else if let m = o.master, m != p.master, !(observed[m]?.alias == mine && !d.owned.contains { $0.name == m }) {
                    problems.append("LAN port \(p.name) is enslaved to \(m), not to \(p.master!)")
                    hints.append("release it first (ip link set \(p.name) nomaster), or remove it from lan in the config")
                }
            }
        }
        if !problems.isEmpty {
            throw PlanError(message: problems.joined(separator: "\n"), hint: hints.joined(separator: "\n  hint: "))
        }

        var cur = observed
        var out: [Change] = []
        func emit(_ c: Change) { out.append(c); cur = apply([c], to: cur) }
        let wanted = Set(desired?.owned.map(\.name) ?? [])

        // 1. What this segment owns but no longer wants: release user ports from owned bridges, then delete tunnels
        //    (and userspace processes), then bridges.
        let stale = observed.interfaces.values.filter { $0.alias == mine && !wanted.contains($0.name) }
            .sorted { $0.name < $1.name }
        let staleBridges = stale.filter { $0.kind == "bridge" }
        let site = desired ?? config
        let isthmusAddresses = Set(site?.bridge?.addresses ?? [])
        for b in staleBridges {
            let members = cur.interfaces.values.filter { $0.master == b.name && $0.alias != mine }.map(\.name).sorted()
            // The host's own configuration on the bridge (moved there from a LAN port, or put there by the user) goes
            // back to a LAN port: added there while the port is still enslaved, so the address exists the moment the
            // port works on its own again; then the routes, re-added through the port once it is released.
            let home = site?.ports.map(\.name).first { members.contains($0) } ?? members.first
            let hostAddresses = home == nil ? [] : (cur[b.name]?.addresses ?? []).filter { !isthmusAddresses.contains($0) }
            let hostRoutes = home == nil ? [] : cur[b.name]?.routes ?? []
            if let home {
                for a in hostAddresses where cur[home]?.addresses.contains(a) == false {
                    emit(.addAddress(dev: home, prefix: a, reason: "moving from \(b.name)"))
                }
            }
            for s in members {
                emit(.setMaster(name: s, master: nil, was: b.name, reason: "releasing from \(b.name)"))
            }
            if let home {
                // A route whose gateway the port cannot reach (a DHCP client's on the bridge) goes with the bridge.
                for r in hostRoutes where HostConfiguration.gatewayReachable(r, through: cur[home]?.addresses ?? []) {
                    emit(.delRoute(dev: b.name, route: r, reason: "moving to \(home)"))
                    if cur[home]?.routes.contains(r) == false { emit(.addRoute(dev: home, route: r)) }
                }
            }
        }
        for t in stale where t.kind != "bridge" {
            let reason = desired == nil ? "segment down" : "no longer in the config"
            emit(.delete(name: t.name, userspace: observed.userspaceTunnels[t.name] != nil, reason: reason))
        }
        // A userspace tunnel whose device is gone (it is stopped with the device above when it is there).
        let known = desired ?? config
        for name in observed.userspaceTunnels.keys.sorted()
        where observed[name] == nil && !wanted.contains(name)
            && (known.map { k in k.tunnels.contains { $0.name == name } || k.pairPrefix.map { name.hasPrefix($0) } == true }
                ?? (name == DesiredState.tunnelName(segment: segment))) {
            emit(.delete(name: name, userspace: true, reason: desired == nil ? "segment down" : "no longer in the config"))
        }
        for b in staleBridges {
            emit(.delete(name: b.name, userspace: false, reason: desired == nil ? "segment down" : "no longer in the config"))
        }
        // FOU ports our deleted tunnels received on, unless something left still uses them (or we still want them).
        for t in stale {
            guard t.parameters["encap"] == "fou", let p = t.parameters["encap-dport"].flatMap({ UInt16($0) }) else { continue }
            let inUse = cur.interfaces.values.contains { $0.parameters["encap-dport"] == "\(p)" } || desired?.fouPort == p
            if !inUse && cur.fouPorts.contains("\(p) ipproto 47") { emit(.delFou(port: p)) }
        }
        guard let d = desired else { return out }

        // 2. Create what is missing; replace what drifted (kind or parameters changed).
        var created = Set<String>()
        // A bridge that is replaced takes the host's configuration on it along: put back on the new one below.
        var replacedBridge: ObservedInterface?
        if let p = d.fouPort, !cur.fouPorts.contains("\(p) ipproto 47") { emit(.addFou(port: p)) }
        for s in d.owned {
            if let o = cur[s.name] {
                if let why = drift(s, o, process: cur.userspaceTunnels[s.name]) {
                    if s.kind == "bridge" { replacedBridge = o }
                    emit(.delete(name: s.name, userspace: cur.userspaceTunnels[s.name] != nil, reason: why))
                    emit(.create(s, alias: mine, reason: why))
                    created.insert(s.name)
                }
            } else {
                // A managed pseudowire's device appears when its session is up: its process running with the right
                // words is all that can be asked for.
                if s.isManaged, cur.userspaceTunnels[s.name] == s.parameterWords { continue }
                if s.isUserspace, let words = cur.userspaceTunnels[s.name] {
                    emit(.delete(name: s.name, userspace: true,
                                 reason: s.isManaged ? "parameters changed: was \"\(words)\"" : "its device is missing"))
                }
                // Other interfaces of this segment exist: either the config changed (something stale was removed above)
                // or this one was deleted by hand.
                let others = observed.interfaces.values.contains { $0.alias == mine }
                emit(.create(s, alias: mine, reason: !others ? nil : stale.isEmpty ? "missing: deleted by hand" : "new in the config"))
                created.insert(s.name)
            }
        }

        // 3. Attributes: bridge, LAN ports, tunnel — mtu, master, up; then addresses, routes, fdb. Addresses and
        //    routes the config does not name are not Isthmus's (the user's, or moved from a LAN port): never removed.
        for s in (d.bridge.map { [$0] } ?? []) + d.ports + d.tunnels {
            guard let o = cur[s.name] else { continue }
            let fresh = created.contains(s.name)
            // A port of a bridge created just now was never set up by us: its state is not a change by hand.
            let byHand = !fresh && !(s.master.map { created.contains($0) } ?? false)
            if let m = s.mtu, o.mtu != m || fresh { emit(.setMTU(name: s.name, mtu: m, was: fresh ? nil : o.mtu)) }
            if let m = s.master, o.master != m {
                emit(.setMaster(name: s.name, master: m, was: o.master,
                                reason: byHand && o.master == nil ? "not enslaved: changed by hand" : nil))
            }
            // Isolation before the port is up: a port that forwards to its siblings for a moment can start a loop.
            if let want = s.isolated, s.master != nil, cur[s.name]?.isolated ?? false != want {
                emit(.setIsolated(name: s.name, on: want, reason: fresh || o.master != s.master ? nil : "changed by hand"))
            }
            if !o.up { emit(.setUp(name: s.name, wasDown: byHand)) }
            for a in s.addresses where !o.addresses.contains(a) { emit(.addAddress(dev: s.name, prefix: a)) }
            if s.kind == "bridge" {
                for a in replacedBridge?.addresses ?? [] where cur[s.name]?.addresses.contains(a) == false {
                    emit(.addAddress(dev: s.name, prefix: a, reason: "kept from the replaced \(s.name)"))
                }
                // The host's own addresses on its LAN ports stop working once a port is enslaved (its frames go to
                // the bridge): they are added on the bridge first, so the host keeps them throughout.
                for p in d.ports {
                    for a in cur[p.name]?.addresses ?? [] where cur[s.name]?.addresses.contains(a) == false {
                        emit(.addAddress(dev: s.name, prefix: a, reason: "moving from \(p.name)"))
                    }
                }
            }
            if s.isPort, let b = s.master, let port = cur[s.name] {
                // Enslaved and up: its routes through the bridge now (a route through the port no longer carries
                // anything), then its copies of the addresses go — secondaries before their primary.
                // A route whose gateway is reached through an address that does not move (a DHCP client's lease on
                // the port) stays where its address is.
                for r in port.routes where HostConfiguration.gatewayReachable(r, through: cur[b]?.addresses ?? []) {
                    emit(.delRoute(dev: s.name, route: r, reason: "moving to \(b)"))
                    if cur[b]?.routes.contains(r) == false { emit(.addRoute(dev: b, route: r)) }
                }
                for a in port.addresses.reversed() { emit(.delAddress(dev: s.name, prefix: a, reason: "moved to \(b)")) }
            }
            for r in s.routes where !o.routes.contains(r) { emit(.addRoute(dev: s.name, route: r)) }
            for f in s.fdb where !o.fdb.contains(f) { emit(.fdbAppend(dev: s.name, dst: f)) }
            for f in o.fdb.sorted() where !s.fdb.contains(f) { emit(.fdbDel(dev: s.name, dst: f)) }
        }
        if let old = replacedBridge {
            for r in old.routes where cur[old.name]?.routes.contains(r) == false { emit(.addRoute(dev: old.name, route: r)) }
        }
        return out
    }

    /// Why an existing owned interface must be replaced, or nil if it matches.
    static func drift(_ s: InterfaceSpec, _ o: ObservedInterface, process: String?) -> String? {
        if s.isUserspace {
            let kinds = s.isManaged ? TunTapLink.kinds + L2TPSessionLink.kinds : TunTapLink.kinds
            if !kinds.contains(o.kind) { return "kind changed: was \(o.kind.isEmpty ? "a plain device" : o.kind)" }
            guard let words = process else { return "its tunnel run process is not running" }
            return words == s.parameterWords ? nil : "parameters changed: was \"\(words)\""
        }
        if o.kind != s.kind { return "kind changed: was \(o.kind.isEmpty ? "a plain device" : o.kind)" }
        let want = s.parameterDictionary
        guard want != o.parameters else { return nil }
        var diffs: [String] = []
        for k in Set(want.keys).union(o.parameters.keys).sorted() where want[k] != o.parameters[k] {
            diffs.append("\(k) \(o.parameters[k].map { $0.isEmpty ? "set" : $0 } ?? "unset") → \(want[k].map { $0.isEmpty ? "set" : $0 } ?? "unset")")
        }
        return "parameters changed: " + diffs.joined(separator: ", ")
    }

    /// The fake OS: what the kernel (and the process supervisor) would report after `changes`. A kernel-faithful
    /// subset: deleting a bridge releases its ports; deleting a device drops its addresses, routes and FDB; a
    /// userspace process brings its TAP/TUN device (the I/O side sets the alias right after the start).
    public static func apply(_ changes: [Change], to observed: ObservedState) -> ObservedState {
        var s = observed
        for c in changes {
            switch c {
            case let .create(spec, alias, _):
                var i = ObservedInterface(name: spec.name, kind: spec.isUserspace ? "tun" : spec.kind, alias: alias)
                if spec.isUserspace {
                    s.userspaceTunnels[spec.name] = spec.parameterWords
                } else {
                    i.parameters = spec.parameterDictionary
                }
                // A managed pseudowire's process brings its device later (when the session is up), itself.
                if !spec.isManaged { s[spec.name] = i }
            case let .delete(name, userspace, _):
                s[name] = nil
                if userspace { s.userspaceTunnels[name] = nil }
                for (k, v) in s.interfaces where v.master == name { s.interfaces[k]!.master = nil }
            case let .setMTU(name, mtu, _): s.interfaces[name]?.mtu = mtu
            case let .setMaster(name, master, _, _):
                // A new bridge port starts not isolated (the kernel's default); a released one has no such flag.
                let was = s.interfaces[name]?.isolated
                s.interfaces[name]?.master = master
                s.interfaces[name]?.isolated = master == nil ? nil : was ?? false
            case let .setIsolated(name, on, _): s.interfaces[name]?.isolated = on
            case let .setUp(name, _): s.interfaces[name]?.up = true
            case let .setDown(name): s.interfaces[name]?.up = false
            case let .addAddress(dev, p, _): s.interfaces[dev]?.addresses.append(p)
            case let .delAddress(dev, p, _): s.interfaces[dev]?.addresses.removeAll { $0 == p }
            case let .addRoute(dev, r): s.interfaces[dev]?.routes.append(r)
            case let .delRoute(dev, r, _): s.interfaces[dev]?.routes.removeAll { $0 == r }
            case let .fdbAppend(dev, dst): s.interfaces[dev]?.fdb.append(dst)
            case let .fdbDel(dev, dst): s.interfaces[dev]?.fdb.removeAll { $0 == dst }
            case let .addFou(port): s.fouPorts.insert("\(port) ipproto 47")
            case let .delFou(port): s.fouPorts.remove("\(port) ipproto 47")
            }
        }
        return s
    }

    /// The changes that take `current` back to `before` (a snapshot taken before an apply that failed part-way):
    /// what this segment created is deleted, what it deleted is recreated from the snapshot (kind, parameters,
    /// userspace words), and the MTU, master, up state, addresses, routes and FDB entries of every interface the
    /// snapshot and `current` both have are put back. Interfaces of the user or of other segments are only ever
    /// re-enslaved, re-MTU'd or brought up/down as they were — never created or deleted.
    public static func restore(to before: ObservedState, from current: ObservedState, segment: String) -> [Change] {
        let mine = alias(segment)
        var out: [Change] = []
        var cur = current
        func emit(_ c: Change) { out.append(c); cur = apply([c], to: cur) }
        func isUserspace(_ name: String, in s: ObservedState) -> Bool { s.userspaceTunnels[name] != nil }

        // Ports first: release everything from bridges this rollback deletes or that did not hold them before.
        for i in cur.interfaces.values.sorted(by: { $0.name < $1.name }) {
            guard let m = i.master, before[i.name] != nil, before[i.name]?.master != m else { continue }
            emit(.setMaster(name: i.name, master: nil, was: m, reason: "rollback"))
        }
        // Created (or replaced) by this segment: delete — tunnels before bridges.
        let created = cur.interfaces.values.filter { i in
            i.alias == mine && (before[i.name] == nil || before[i.name]!.kind != i.kind || before[i.name]!.parameters != i.parameters
                                || before.userspaceTunnels[i.name] != cur.userspaceTunnels[i.name])
        }.sorted { ($0.kind == "bridge" ? 1 : 0, $0.name) < ($1.kind == "bridge" ? 1 : 0, $1.name) }
        for i in created { emit(.delete(name: i.name, userspace: isUserspace(i.name, in: cur), reason: "rollback")) }
        for name in cur.userspaceTunnels.keys.sorted() where cur[name] == nil && before.userspaceTunnels[name] == nil {
            emit(.delete(name: name, userspace: true, reason: "rollback"))
        }
        // A managed pseudowire's process whose session was not up (no device, before or now): put back the process
        // that ran, with its words.
        for name in Set(before.userspaceTunnels.keys).union(cur.userspaceTunnels.keys).sorted()
        where before[name] == nil && cur[name] == nil && before.userspaceTunnels[name] != cur.userspaceTunnels[name] {
            if cur.userspaceTunnels[name] != nil { emit(.delete(name: name, userspace: true, reason: "rollback")) }
            if let words = before.userspaceTunnels[name] {
                emit(.create(InterfaceSpec(name: name, userspaceWords: words), alias: mine, reason: "rollback"))
            }
        }
        for p in before.fouPorts.subtracting(cur.fouPorts).sorted() { if let n = UInt16(p.split(separator: " ")[0]) { emit(.addFou(port: n)) } }
        for p in cur.fouPorts.subtracting(before.fouPorts).sorted() { if let n = UInt16(p.split(separator: " ")[0]) { emit(.delFou(port: n)) } }
        // Deleted by this segment: recreate from the snapshot — bridges before tunnels.
        let gone = before.interfaces.values.filter { $0.alias == mine && cur[$0.name] == nil }
            .sorted { ($0.kind == "bridge" ? 0 : 1, $0.name) < ($1.kind == "bridge" ? 0 : 1, $1.name) }
        // A TAP/TUN device is its process's: without the process's words it cannot be remade (nor is it of use).
        for i in gone where i.kind != "tun" || before.userspaceTunnels[i.name] != nil {
            let spec: InterfaceSpec
            if let words = before.userspaceTunnels[i.name] {
                spec = InterfaceSpec(name: i.name, userspaceWords: words)
            } else {
                var s = InterfaceSpec(name: i.name, kind: i.kind, parameters: i.parameters.keys.sorted().map { Param($0, i.parameters[$0]!) })
                s.link = try? SiteLink(kind: i.kind, words: s.parameters)
                spec = s
            }
            emit(.create(spec, alias: mine, reason: "rollback"))
        }
        // Attributes of everything the snapshot had: links first; then addresses and routes in the order that keeps
        // the host reachable and the kernel agreeable when a LAN port's configuration was moving to or from the
        // bridge — addresses added, routes removed (an IPv4 route of the same prefix and metric through another
        // device would be a duplicate), routes added (their gateways reachable through the addresses), addresses
        // removed; then FDB entries.
        let snapshot = before.interfaces.values.sorted { ($0.kind == "bridge" ? 0 : 1, $0.name) < ($1.kind == "bridge" ? 0 : 1, $1.name) }
        for b in snapshot {
            guard let o = cur[b.name] else { continue }
            if o.mtu != b.mtu { emit(.setMTU(name: b.name, mtu: b.mtu, was: nil)) }
            if o.master != b.master { emit(.setMaster(name: b.name, master: b.master, was: o.master, reason: "rollback")) }
            if let i = b.isolated, b.master != nil, cur[b.name]?.isolated ?? false != i { emit(.setIsolated(name: b.name, on: i, reason: "rollback")) }
            if o.up != b.up { emit(b.up ? .setUp(name: b.name, wasDown: false) : .setDown(name: b.name)) }
        }
        for b in snapshot {
            for a in b.addresses where cur[b.name]?.addresses.contains(a) == false { emit(.addAddress(dev: b.name, prefix: a)) }
        }
        for b in snapshot {
            for r in cur[b.name]?.routes.sorted() ?? [] where !b.routes.contains(r) { emit(.delRoute(dev: b.name, route: r, reason: "rollback")) }
        }
        for b in snapshot {
            for r in b.routes where cur[b.name]?.routes.contains(r) == false { emit(.addRoute(dev: b.name, route: r)) }
        }
        for b in snapshot {
            for a in (cur[b.name]?.addresses ?? []).reversed() where !b.addresses.contains(a) {
                emit(.delAddress(dev: b.name, prefix: a, reason: "rollback"))
            }
        }
        for b in snapshot {
            guard let o = cur[b.name] else { continue }
            for f in o.fdb.sorted() where !b.fdb.contains(f) { emit(.fdbDel(dev: b.name, dst: f)) }
            for f in b.fdb where !o.fdb.contains(f) { emit(.fdbAppend(dev: b.name, dst: f)) }
        }
        return out
    }
}
