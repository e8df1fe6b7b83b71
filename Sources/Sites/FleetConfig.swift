import Config
import Addresses

/// How a fleet's sites are joined (`[registry] topology`).
public enum FleetTopology: Equatable, Sendable {
    /// Every site to every other.
    case mesh
    /// Spokes to the named hubs only; hubs to every site.
    case hub([String])
}

/// Where a site's underlay address comes from (`[site] address`).
public enum AddressSource: Equatable, Sendable {
    /// The source address of the route to the first reachable registry endpoint (the default, `"route"`).
    case route
    /// The first global address of an interface (`address = "auto"`, `interface = "eth0"`).
    case interface(String)
    /// Configured.
    case fixed(IPAddress)
}

/// `[registry]`: where the fleet's registry is and how this segment is shaped from it.
public struct RegistryConfig: Equatable, Sendable {
    public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
        public var tls: Bool
        public var host: String
        public var port: UInt16
        public var description: String { (tls ? "https://" : "http://") + (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
    }

    public var endpoints: [Endpoint]
    /// Keys live under it (`RegistryKeys`); begins and ends with "/".
    public var prefix: String = "/isthmus/"
    /// The site's lease, in seconds: a dead agent's site disappears from every peer within it.
    public var ttl: Int = 10
    public var topology: FleetTopology = .mesh
    /// TLS: the CA bundle to check the members against, and the client certificate and key (both or neither).
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    /// Why an endpoint URL was refused.
    public struct EndpointError: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads `http://HOST:PORT` / `https://HOST:PORT` (port default 2379; IPv6 in brackets).
    public static func endpoint(_ s: String) -> Result<Endpoint, EndpointError> {
        func failure(_ why: String) -> Result<Endpoint, EndpointError> { .failure(EndpointError(description: why)) }
        var rest = Substring(s)
        let tls: Bool
        if rest.hasPrefix("http://") { tls = false; rest = rest.dropFirst(7) } else if rest.hasPrefix("https://") { tls = true; rest = rest.dropFirst(8) } else {
            return failure("must begin with http:// or https://")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return failure("has an unclosed [") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return failure("has text after ]") }
                portText = after.dropFirst()
            }
            guard IPAddress(String(host))?.isV6 == true else { return failure("has \"\(host)\" in brackets, not an IPv6 address") }
        } else {
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return failure("has an IPv6 address without brackets") }
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
        }
        guard !host.isEmpty, host.utf8.count <= 253, !host.contains("/"), !host.contains("@") else { return failure("has no host") }
        var port: UInt16 = 2379
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { return failure("has port \"\(portText)\", not 1..65535") }
            port = UInt16(p)
        }
        return .success(Endpoint(tls: tls, host: String(host), port: port))
    }
}

/// A fleet file, validated: the segment's settings (its sites come from the registry), this host's own site, and
/// `[registry]`. Every host of the fleet may load the same file (`--site NAME` or the hostname picks the name).
public struct FleetConfig: Equatable, Sendable {
    /// `[segment]` and `[filters]` with no sites; `FleetShape` adds them.
    public var segment: SegmentConfig
    /// `[site]`: this host's LAN ports, bridge, bridge addresses, tunnel device (its address is a placeholder).
    public var local: SiteDefinition
    /// `[site] name`, if given (else `--site` or the hostname).
    public var siteName: String?
    public var address: AddressSource
    public var registry: RegistryConfig

    /// The site this host is: `explicit` (--site), else `[site] name`, else the hostname up to its first '.'.
    public func pickSite(explicit: String?, hostname: String) -> Result<String, SiteSelectionError> {
        let name = explicit ?? siteName ?? String(hostname.split(separator: ".", maxSplits: 1).first ?? "")
        guard ConfigValidator.validSegmentName(name) else {
            return .failure(SiteSelectionError(message: "site name \"\(name)\" must be 1 to 64 letters, digits, '-', '_' or '.'",
                                               hint: "pass --site NAME, or set name = \"...\" in [site] of \(segment.file)"))
        }
        return .success(name)
    }
}

extension SiteConfig {
    public static let fleetTopKeys = ["segment", "filters", "registry", "site"]
    public static let registryKeys = ["etcd", "prefix", "ttl", "topology", "hubs", "ca", "cert", "key"]
    public static let fleetSiteKeys = ["name", "address", "interface", "lan", "bridge", "bridge_address", "tunnel_device"]

    /// A fleet file: like a segment file, but `[registry]` and one `[site]` (this host's) instead of `[sites.NAME]`:
    ///
    /// ```toml
    /// [segment]
    /// name = "branches"
    /// tunnel = "vxlan"          # the registry's segments are vxlan (one device, a peer per FDB entry)
    ///
    /// [registry]
    /// etcd = ["http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.0.3:2379"]   # required; https:// with ca/cert/key
    /// prefix = "/isthmus/"      # keys live under it (default)
    /// ttl = 10                  # lease seconds, 2..3600 (default 10): a dead site disappears within it
    /// topology = "mesh"         # mesh (default) | hub
    /// # hubs = ["hq"]           # topology = "hub": the hub sites (spokes join only them)
    /// # ca = "/etc/isthmus/etcd-ca.pem"     # TLS: the members' CA; cert and key: this agent's client certificate
    /// # cert = "/etc/isthmus/etcd.pem"
    /// # key = "/etc/isthmus/etcd-key.pem"
    ///
    /// [site]
    /// # name = "east"           # default: --site, else the hostname up to its first '.'
    /// address = "route"         # route (default: the source address of the route to the registry) | auto (the
    ///                           # first global address of `interface`) | an address
    /// # interface = "eth0"      # with address = "auto"
    /// lan = ["eth1"]
    /// ```
    public static func loadFleet(text: String, file: String) -> Result<FleetConfig, ConfigErrors> {
        var v = ConfigValidator(file: file)
        v.fleet = true
        return v.load(text) { $0.validateFleet($1) }
    }
}

extension ConfigValidator {
    mutating func validateFleet(_ root: TOMLTable) -> FleetConfig? {
        let origin = TOMLPosition(line: 1, column: 1)
        let segment = validate(root)
        // vxlan: one device, every peer an FDB entry. gretap and l2tpv3 over IP: one tunnel per peer, each a bridge
        // port (`SegmentConfig.pairSides`) — they share a host without ports of their own (the kernel tells their
        // traffic apart by address and session id). The others would need a port per pair, or carry no Ethernet.
        let kindEntry = root["segment"]?.table?[entry: "tunnel"]
        let kindName = kindEntry?.node.string
        let pairKinds = [TunnelKind.gretap.rawValue, TunnelKind.l2tpv3.rawValue]
        if let k = kindName, k != TunnelKind.vxlan.rawValue, !pairKinds.contains(k), TunnelKind(rawValue: k) != nil, let e = kindEntry {
            error(e.node.position, "a registry's segment is built with tunnel = \"vxlan\", \"gretap\" or \"l2tpv3\" (encap = \"ip\"); found \"\(k)\"",
                  hint: k == TunnelKind.greInUDP.rawValue
                    ? "use gretap (gre-in-udp's userspace data plane needs a UDP port per peer), or a segment file with [sites.NAME] tables"
                    : "use one of those, or a segment file with [sites.NAME] tables for an L3 kind")
        }
        if kindName == TunnelKind.l2tpv3.rawValue, let seg = root["segment"]?.table {
            if let e = seg[entry: "encap"], e.node.string != L2TPEncap.ip.rawValue {
                error(e.node.position, "a registry's l2tpv3 segment runs over IP (encap = \"ip\"): over UDP each peer's tunnel would need a port of its own on both sites",
                      hint: "write encap = \"ip\", or use tunnel = \"gretap\" or \"vxlan\"")
            } else if seg["encap"] == nil, let e = kindEntry {
                error(e.node.position, "a registry's l2tpv3 segment runs over IP: add encap = \"ip\" (the default, UDP, would need a port per peer)",
                      hint: "add encap = \"ip\" to [segment]")
            }
            if let e = seg[entry: "control"] {
                error(e.keyPosition, "`control` is not supported in a registry's segment yet: its tunnels are static, keyed by the registry",
                      hint: "remove control")
            }
        }
        if let e = root["segment"]?.table?[entry: "encryption"] {
            error(e.keyPosition, "`encryption` is not supported in a registry's segment yet",
                  hint: "remove encryption (and its keys), or use a segment file with [sites.NAME] tables for an encrypted pair")
        }
        if let e = root["segment"]?.table?[entry: "dataplane"], e.node.string == DataplaneMode.userspace.rawValue,
           kindName == nil || kindName == TunnelKind.vxlan.rawValue {
            error(e.node.position, "dataplane = \"userspace\" sends to one known peer; a registry's vxlan segment has many",
                  hint: "use dataplane = \"kernel\" or \"auto\", or tunnel = \"gretap\" (one userspace tunnel per peer)")
        }

        // [registry]
        var registry = RegistryConfig(endpoints: [])
        if let (t, _) = table(root, "registry", example: "[registry]") {
            checkKeys(t, allowed: SiteConfig.registryKeys, table: "[registry]")
            if let (list, e) = stringArray(t, "etcd", example: "etcd = [\"http://10.0.0.1:2379\"]") {
                if list.isEmpty { error(e.node.position, "`etcd` is empty", hint: "list the etcd members' client URLs") }
                for (s, node) in list {
                    switch RegistryConfig.endpoint(s) {
                    case let .success(ep): registry.endpoints.append(ep)
                    case let .failure(why):
                        error(node.position, "etcd endpoint \"\(s)\" \(why)", hint: "write it like \"http://10.0.0.1:2379\" or \"https://[2001:db8::1]:2379\"")
                    }
                }
            } else if t["etcd"] == nil {
                error(t.position, "[registry] is missing the required key `etcd`",
                      hint: "add etcd = [\"http://HOST:2379\", ...] (the cluster's client URLs)")
            }
            if let (p, e) = string(t, "prefix", example: "prefix = \"/isthmus/\"") {
                if !p.hasPrefix("/") || !p.hasSuffix("/") || p.utf8.count > 128 || p.contains("//") || p.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
                    error(e.node.position, "`prefix` \"\(p)\" must begin and end with '/', without '//' or control characters, at most 128 bytes",
                          hint: "write it like prefix = \"/isthmus/\"")
                } else {
                    registry.prefix = p
                }
            }
            if let (n, _) = integer(t, "ttl", 2...3600, example: "ttl = 10") { registry.ttl = Int(n) }
            var hubs: [String] = []
            if let (list, _) = stringArray(t, "hubs", example: "hubs = [\"hq\"]") {
                for (h, node) in list {
                    if !Self.validSegmentName(h) {
                        error(node.position, "hub \"\(h)\" is not a site name (1 to 64 letters, digits, '-', '_' or '.')", hint: "name a site")
                    } else if hubs.contains(h) {
                        error(node.position, "hub \"\(h)\" is listed twice", hint: "list each hub once")
                    } else {
                        hubs.append(h)
                    }
                }
            }
            if let (s, e) = string(t, "topology", example: "topology = \"mesh\"") {
                switch s {
                case "mesh":
                    if let he = t[entry: "hubs"] {
                        error(he.keyPosition, "`hubs` applies only to topology = \"hub\"", hint: "remove hubs, or set topology = \"hub\"")
                    }
                case "hub":
                    if t["hubs"] == nil || hubs.isEmpty {
                        error(e.node.position, "topology = \"hub\" needs the hub sites named", hint: "add hubs = [\"hq\"]")
                    }
                    registry.topology = .hub(hubs)
                default:
                    error(e.node.position, "`topology` must be one of \"mesh\", \"hub\"; found \"\(s)\"" + Suggestion.didYouMean(s, among: ["mesh", "hub"]),
                          hint: "write topology = \"mesh\"")
                }
            } else if let he = t[entry: "hubs"] {
                error(he.keyPosition, "`hubs` applies only to topology = \"hub\"", hint: "add topology = \"hub\", or remove hubs")
            }
            for k in ["ca", "cert", "key"] {
                if let (p, e) = string(t, k, example: "\(k) = \"/etc/isthmus/etcd-\(k).pem\"") {
                    if !p.hasPrefix("/") {
                        error(e.node.position, "`\(k)` \"\(p)\" must be an absolute path", hint: "write the file's full path")
                    } else if k == "ca" { registry.caFile = p } else if k == "cert" { registry.certFile = p } else { registry.keyFile = p }
                }
            }
            if (registry.certFile == nil) != (registry.keyFile == nil), let e = t[entry: registry.certFile == nil ? "key" : "cert"] {
                error(e.keyPosition, "`cert` and `key` go together (the client certificate and its private key)", hint: "give both, or neither")
            }
            if registry.caFile != nil || registry.certFile != nil, registry.endpoints.contains(where: { !$0.tls }), let e = t[entry: "etcd"] {
                error(e.node.position, "TLS files are given, but an etcd endpoint is http://", hint: "use https:// for every endpoint with TLS")
            }
        } else if root["registry"] == nil {
            error(origin, "missing the [registry] table", hint: "add [registry] with etcd = [\"http://HOST:2379\"]")
        }

        // [site]
        var local: SiteDefinition?
        var siteName: String?
        var address = AddressSource.route
        if let (t, e) = table(root, "site", example: "[site]") {
            if let (n, ne) = string(t, "name", example: "name = \"east\"") {
                if Self.validSegmentName(n) { siteName = n } else {
                    error(ne.node.position, "site name \"\(n)\" must be 1 to 64 letters, digits, '-', '_' or '.'", hint: "rename it, e.g. name = \"east\"")
                }
            }
            let segName = root["segment"]?.table?["name"]?.string
            local = site(e, kind: .vxlan, segment: segName, fleetName: siteName ?? "site")
            let interface = string(t, "interface", example: "interface = \"eth0\"")
            if let (i, ie) = interface, let p = InterfaceName.problem(i) {
                error(ie.node.position, "`interface` \"\(i)\" \(p)", hint: "use the interface name as `ip link` shows it")
            }
            if let (a, ae) = string(t, "address", example: "address = \"route\"") {
                switch a {
                case "route": address = .route
                case "auto":
                    if let (i, _) = interface { address = .interface(i) } else {
                        error(ae.node.position, "address = \"auto\" reads an interface's address, but no `interface` is given",
                              hint: "add interface = \"eth0\" (the underlay interface), or use address = \"route\"")
                    }
                default:
                    if let ip = IPAddress(a), !ip.isUnspecified, !ip.isMulticast { address = .fixed(ip) } else {
                        error(ae.node.position, "`address` \"\(a)\" is not \"route\", \"auto\" or a unicast IP address",
                              hint: "write address = \"route\" (found from the route to the registry), \"auto\" with interface, or e.g. \"192.0.2.1\"")
                    }
                }
            }
            if interface != nil, case .interface = address {} else if let ie = t[entry: "interface"] {
                error(ie.keyPosition, "`interface` applies only to address = \"auto\"", hint: "remove interface, or set address = \"auto\"")
            }
        } else if root["site"] == nil {
            error(origin, "missing the [site] table (this host's LAN ports)", hint: "add [site] with lan = [\"eth1\"]")
        }
        guard errors.isEmpty, let segment, let local else { return nil }
        return FleetConfig(segment: segment, local: local, siteName: siteName, address: address, registry: registry)
    }
}
