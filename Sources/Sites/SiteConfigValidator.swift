import Config
import Addresses

/// Checks a parsed TOML document against the segment layout (see `SiteConfig`'s documentation), collecting every
/// problem instead of stopping at the first.
struct ConfigValidator: TOMLValidating {
    let file: String
    var errors: [ConfigError] = []
    var warnings: [ConfigError] = []
    /// A fleet file (`SiteConfig.loadFleet`): `[registry]` and `[site]` instead of `[sites.NAME]`; the sites come
    /// from the registry, so the segment is validated without them.
    var fleet = false

    init(file: String) { self.file = file }

    static func validSegmentName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x2e || $0 == 0x5f
        }
    }

    // MARK: - the document

    mutating func validate(_ root: TOMLTable) -> SegmentConfig? {
        let origin = TOMLPosition(line: 1, column: 1)
        checkKeys(root, allowed: fleet ? SiteConfig.fleetTopKeys : SiteConfig.topKeys, table: "the top level")

        // [segment]
        var seg = TOMLTable(position: origin)
        var segOK = false
        if let e = root[entry: "segment"] {
            if let t = e.node.table { seg = t; segOK = true } else {
                typeError(e, "a table", example: "[segment]")
            }
        } else {
            error(origin, "missing the [segment] table",
                  hint: "add a [segment] table with at least name = \"...\" and tunnel = \"vxlan\" (or another kind)")
        }
        checkKeys(seg, allowed: SiteConfig.segmentKeys, table: "[segment]")
        let name = string(seg, "name", example: "name = \"lab\"")
        if let (n, e) = name, !Self.validSegmentName(n) {
            error(e.node.position, "`name` \"\(n)\" must be 1 to 64 letters, digits, '-', '_' or '.'",
                  hint: "pick a short name such as \"lab\"; it labels the bridge and derives ids")
        }
        if segOK && seg["name"] == nil {
            error(seg.position, "[segment] is missing the required key `name`", hint: "add name = \"lab\"")
        }
        let kind = choice(seg, "tunnel", TunnelKind.self)
        if segOK && seg["tunnel"] == nil {
            error(seg.position, "[segment] is missing the required key `tunnel`",
                  hint: "add tunnel = \"vxlan\" (or l2tpv3, gretap, gre-in-udp, ipip, gre, sit)")
        }
        let k = kind?.0
        let encap = choice(seg, "encap", L2TPEncap.self)
        let dataplane = choice(seg, "dataplane", DataplaneMode.self)
        let vni = integer(seg, "vni", 1...16_777_215, example: "vni = 4242")
        let port = integer(seg, "port", 1...65535, example: "port = \(k?.defaultPort ?? 4789)")
        let cookies = boolean(seg, "cookies")
        let key = integer(seg, "key", 0...4_294_967_295, example: "key = 77")
        let underlay = integer(seg, "underlay_mtu", 68...65535, example: "underlay_mtu = 1500")
        let mtu = integer(seg, "mtu", 68...65535, example: "mtu = 1400")
        let fragment = boolean(seg, "fragment")
        let control = choice(seg, "control", ControlProtocol.self)
        let secret = string(seg, "secret", example: "secret = \"a long shared secret\"")
        if let (_, e) = secret, secret?.0.isEmpty == true {
            error(e.node.position, "`secret` is empty", hint: "write a shared secret, or remove the key")
        }
        let encryption = choice(seg, "encryption", Encryption.self)
        let ipsec = encryption?.0 == .ipsec
        // (An `encryption` that did not parse has its own error; the secret is not blamed for it.)
        let encryptionInvalid = seg["encryption"] != nil && encryption == nil
        if secret != nil, control?.0 != .l2tpv3, !ipsec, !encryptionInvalid, let (_, e) = secret {
            error(e.keyPosition, "`secret` applies only with control = \"l2tpv3\" (static tunnels have no control messages) or encryption = \"ipsec\"",
                  hint: "add control = \"l2tpv3\" or encryption = \"ipsec\", or remove secret")
        }
        let esp = choice(seg, "esp", ESPAlgorithm.self)
        let rekey = integer(seg, "rekey_time", 10...86400, example: "rekey_time = 3600")
        let natT = boolean(seg, "nat_traversal")
        let socketPath = string(seg, "vici_socket", example: "vici_socket = \"/var/run/charon.vici\"")
        var ipsecSettings: IPsecSettings?
        let ca = string(seg, "ca", example: "ca = \"/etc/isthmus/sites-ca.pem\"")
        if let (p, e) = ca, !p.hasPrefix("/") {
            error(e.node.position, "`ca` \"\(p)\" is not an absolute path", hint: "write e.g. ca = \"/etc/isthmus/sites-ca.pem\"")
        }
        // With the control protocol, `secret` is its key: then it may stand beside `ca`.
        let pskGiven = secret != nil && control?.0 != .l2tpv3
        if ipsec, let (_, ee) = encryption {
            if let (_, ce) = ca, pskGiven {
                error(ce.keyPosition, "[segment] has both `secret` and `ca`: encryption = \"ipsec\" authenticates with a pre-shared key or with certificates, not both",
                      hint: "remove secret to use certificates (each site's certificate and private_key), or remove ca to use the pre-shared key")
            } else if ca == nil, let (sv, se) = secret {
                if !sv.isEmpty && sv.utf8.count < IPsecSettings.minimumSecretBytes {
                    error(se.node.position, "`secret` is \(sv.utf8.count) bytes; an IPsec pre-shared key must be at least \(IPsecSettings.minimumSecretBytes)",
                          hint: "use a long random secret, e.g. the output of `openssl rand -base64 32`")
                }
            } else if ca == nil && seg["ca"] == nil {
                error(ee.keyPosition, "encryption = \"ipsec\" needs the pre-shared key `secret`, or certificates (`ca`), in [segment]",
                      hint: "add secret = \"...\" (at least \(IPsecSettings.minimumSecretBytes) bytes, the same file on both sites), or ca = \"/path/ca.pem\" with each site's certificate and private_key")
            }
            if fleet, let (_, ce) = ca {
                error(ce.keyPosition, "`ca` (certificate authentication) is not supported in a fleet file yet",
                      hint: "use a segment file with [sites.NAME] tables, or a pre-shared secret")
            }
            if let (p, pe) = socketPath, !p.hasPrefix("/") || p.utf8.count > 107 || p.utf8.contains(0) {
                error(pe.node.position, "`vici_socket` must be an absolute path of at most 107 bytes (a Unix socket's)",
                      hint: "write e.g. vici_socket = \"/var/run/charon.vici\"")
            }
            var st = IPsecSettings(secret: ca == nil ? secret?.0 ?? "" : "")
            if let (p, e) = ca { st.ca = ConfigFile(path: p, source: file, position: e.node.position) }
            if let (a, _) = esp { st.esp = a }
            st.rekeyTime = rekey.map { Int($0.0) }
            st.natTraversal = natT?.0 ?? false
            if let (p, _) = socketPath { st.viciSocket = p }
            ipsecSettings = st
        } else {
            for k in ["esp", "rekey_time", "nat_traversal", "vici_socket", "ca"] {
                notApplicable(seg, k, "applies only with encryption = \"ipsec\"", table: "[segment]")
            }
        }
        if ipsec, let k, k.isPointToPoint == false, let (_, ee) = encryption {
            error(ee.node.position, "encryption = \"ipsec\" needs a point-to-point tunnel; \"\(k.rawValue)\" may have many sites",
                  hint: "use tunnel = \"l2tpv3\", \"gretap\" or another point-to-point kind with ipsec")
        }
        if let (c, e) = control, c == .l2tpv3 {
            if let k, k != .l2tpv3 {
                error(e.keyPosition, "`control` applies only to tunnel = \"l2tpv3\", not \"\(k.rawValue)\"",
                      hint: "remove control, or use tunnel = \"l2tpv3\"")
            } else if encap?.0 == .ip {
                error(e.keyPosition, "control = \"l2tpv3\" runs over UDP only; this segment has encap = \"ip\"",
                      hint: "use encap = \"udp\" (the default) with control, or remove control")
            }
        }
        if let k {
            let t = "[segment]", kn = "\"\(k.rawValue)\""
            if k != .l2tpv3 {
                notApplicable(seg, "encap", "applies only to tunnel = \"l2tpv3\", not \(kn)", table: t)
                notApplicable(seg, "cookies", "applies only to tunnel = \"l2tpv3\", not \(kn)", table: t)
            }
            if k != .vxlan { notApplicable(seg, "vni", "applies only to tunnel = \"vxlan\", not \(kn)", table: t) }
            if !k.isGRE { notApplicable(seg, "key", "applies only to GRE tunnels (gretap, gre-in-udp, gre), not \(kn)", table: t) }
            if k.defaultPort == nil {
                notApplicable(seg, "port", "applies only to UDP tunnels (vxlan, l2tpv3, gre-in-udp), not \(kn)", table: t)
            } else if k == .l2tpv3, encap?.0 == .ip {
                notApplicable(seg, "port", "applies only to encap = \"udp\"; L2TPv3 over IP has no port", table: t)
            }
        }

        // [filters]
        var filters = SegmentFilters()
        if let e = root[entry: "filters"] {
            if let ft = e.node.table {
                checkKeys(ft, allowed: SiteConfig.filterKeys, table: "[filters]")
                if let (v, _) = choice(ft, "dhcp", FilterAction.self) { filters.dhcp = v }
                if let (v, _) = choice(ft, "router_advertisements", FilterAction.self) { filters.routerAdvertisements = v }
                if let (v, _) = boolean(ft, "mss_clamp") { filters.mssClamp = v }
            } else {
                typeError(e, "a table", example: "[filters]")
            }
        }

        // [sites.NAME]
        var sites: [SiteDefinition] = []
        var sitesPosition = origin
        var siteCount = 0
        if fleet {
            // The sites are the registry's; `[site]` (this host's own) is read by `validateFleet`.
        } else if let e = root[entry: "sites"] {
            if let st = e.node.table {
                sitesPosition = st.position
                siteCount = st.count
                for se in st.entries {
                    if let s = site(se, kind: k, segment: name?.0) { sites.append(s) }
                }
            } else {
                typeError(e, "a table of [sites.NAME] tables", example: "[sites.east]")
            }
        } else {
            error(origin, "no sites: the segment needs at least two [sites.NAME] tables",
                  hint: "add [sites.east] and [sites.west], each with address = \"...\"")
        }
        if !fleet && root["sites"]?.table != nil && siteCount < 2 {
            error(sitesPosition, "the segment needs at least 2 sites, found \(siteCount)",
                  hint: "add another [sites.NAME] table with its underlay address")
        }
        if let (kk, ke) = kind, kk.isPointToPoint, siteCount > 2, let st = root["sites"]?.table {
            let third = st.entries[2]
            error(third.keyPosition, "tunnel = \"\(kk.rawValue)\" is point-to-point: at most 2 sites, found \(siteCount)",
                  hint: "use tunnel = \"vxlan\" (line \(ke.node.position.line)) for more than two sites, or one segment per pair")
        }
        crossSiteChecks(sites, kind: k)
        certificateChecks(sites, certificates: ipsecSettings?.ca != nil, root: root)

        // MTU
        var config: SegmentConfig?
        if let (n, _) = name, let k, errors.isEmpty {
            var c = SegmentConfig(
                file: file, name: n, kind: k, encap: k == .l2tpv3 ? (encap?.0 ?? .udp) : nil,
                dataplane: dataplane?.0 ?? .auto,
                vni: k == .vxlan ? (vni.map { UInt32($0.0) } ?? SiteConfig.defaultVNI(segment: n)) : nil,
                port: k.defaultPort == nil || (k == .l2tpv3 && encap?.0 == .ip) ? nil : (port.map { UInt16($0.0) } ?? k.defaultPort),
                cookies: k == .l2tpv3 ? (cookies?.0 ?? true) : false,
                key: key.map { UInt32($0.0) }, underlayMTU: Int(underlay?.0 ?? 1500), mtu: mtu.map { Int($0.0) },
                fragment: fragment?.0 ?? k.isEthernet, filters: filters,
                sites: sites.sorted { $0.name < $1.name }, warnings: [])
            c.control = k == .l2tpv3 ? (control?.0 ?? .none) : .none
            c.secret = c.control == .l2tpv3 ? secret?.0 : nil
            c.ipsec = ipsecSettings
            let plan = c.mtuPlan
            let upos = underlay?.1.node.position ?? kind!.1.node.position
            if c.ipv6Underlay && c.underlayMTU < 1280 {
                error(upos, "`underlay_mtu` \(c.underlayMTU) is below 1280, the minimum of an IPv6 underlay",
                      hint: "set underlay_mtu to at least 1280")
            } else if plan.tunnelMTU < 68 {
                error(upos, plan.problems.first ?? "underlay MTU too small",
                      hint: "raise underlay_mtu, or choose a tunnel with less overhead (\(plan.totalOverhead) bytes now)")
            } else {
                if let (m, me) = mtu, Int(m) > plan.tunnelMTU, !c.fragment {
                    error(me.node.position,
                          "`mtu` \(m) does not fit: a \(c.underlayMTU)-byte underlay carries at most \(plan.tunnelMTU) through \(plan.overhead.kind.rawValue) (\(plan.totalOverhead) bytes of overhead)",
                          hint: "lower mtu to \(plan.tunnelMTU) or less, or set fragment = true to fragment the outer packets")
                }
                let innerV6 = !k.isEthernet && c.sites.contains { s in s.networks.contains { $0.address.isV6 } || s.tunnelAddress?.address.isV6 == true }
                if innerV6 && c.tunnelMTU < 1280 {
                    error(mtu?.1.node.position ?? upos, "tunnel MTU \(c.tunnelMTU) is below 1280, but the tunnel carries IPv6 networks",
                          hint: "raise underlay_mtu (or mtu with fragment = true) so the tunnel MTU is at least 1280")
                } else if c.tunnelMTU < 1280 && k.isEthernet {
                    // (An L3 segment carrying no IPv6 network has no use for IPv6's minimum: no warning.)
                    for p in MTUPlan(overhead: plan.overhead, underlayMTU: c.underlayMTU - plan.tunnelMTU + c.tunnelMTU).problems {
                        warnings.append(ConfigError(file: file, position: upos, message: p))
                    }
                }
            }
            c.warnings = warnings
            config = c
        }
        return errors.isEmpty ? config : nil
    }

    mutating func site(_ se: TOMLTable.Entry, kind: TunnelKind?, segment: String?, fleetName: String? = nil) -> SiteDefinition? {
        // A fleet file's `[site]`: its address is a source (`validateFleet` reads it), its name the `name` key's.
        let name = fleetName ?? se.key
        let label = fleetName != nil ? "[site]" : "[sites.\(TOML.formatKey(name))]"
        guard let t = se.node.table else {
            typeError(se, "a table", example: label)
            return nil
        }
        let before = errors.count
        if !Self.validSegmentName(name) {
            error(se.keyPosition, "site name \"\(name)\" must be 1 to 64 letters, digits, '-', '_' or '.'",
                  hint: "rename it, e.g. [sites.east]")
        }
        checkKeys(t, allowed: fleetName != nil ? SiteConfig.fleetSiteKeys : SiteConfig.siteKeys, table: label)
        var address: IPAddress?
        if fleetName != nil {
            address = IPAddress(bytes: [0, 0, 0, 0])
        } else if let (s, e) = string(t, "address", example: "address = \"192.0.2.1\"") {
            if let a = IPAddress(s) {
                if a.isUnspecified || a.isMulticast {
                    error(e.node.position, "`address` \(a) is not a unicast address", hint: "use the site's own underlay address")
                } else {
                    address = a
                }
            } else {
                error(e.node.position, "`address` \"\(s)\" is not an IPv4 or IPv6 address",
                      hint: s.contains("/") ? "write the address without a prefix length, e.g. \"\(s.split(separator: "/").first ?? "")\""
                                            : "write a plain address such as \"192.0.2.1\" or \"2001:db8::1\"")
            }
        } else if t["address"] == nil {
            error(t.position, "\(label) is missing the required key `address`",
                  hint: "add address = \"192.0.2.1\" (the site's underlay IP)")
        }
        var hostname: String?
        if let (h, e) = string(t, "hostname", example: "hostname = \"gw-\(name)\"") {
            if h.isEmpty || h.contains(" ") {
                error(e.node.position, "`hostname` \"\(h)\" is not a hostname", hint: "write the host's name as `hostname` prints it")
            } else {
                hostname = h
            }
        }
        // The tunnel device this site's host creates: `tunnel_device`, else "isth-" + segment (cut to 15 bytes).
        var tunnelDevice: String?
        if let (d, e) = string(t, "tunnel_device", example: "tunnel_device = \"isth-lan\"") {
            if let p = InterfaceName.problem(d) {
                error(e.node.position, "`tunnel_device` \"\(d)\" \(p)", hint: "choose a name of at most 15 bytes without '/', ':' or spaces")
            } else {
                tunnelDevice = d
            }
        }
        // Certificate authentication (checked against [segment] ca by `certificateChecks`): paths only; the files
        // are read on this site's own host when it loads its connection.
        func credentialFile(_ key: String, _ example: String) -> ConfigFile? {
            guard let (p, e) = string(t, key, example: "\(key) = \"\(example)\"") else { return nil }
            guard p.hasPrefix("/"), !p.utf8.contains(0) else {
                error(e.node.position, "`\(key)` \"\(p)\" is not an absolute path", hint: "write e.g. \(key) = \"\(example)\"")
                return nil
            }
            return ConfigFile(path: p, source: file, position: e.node.position)
        }
        let certificate = credentialFile("certificate", "/etc/isthmus/\(name).pem")
        let privateKey = credentialFile("private_key", "/etc/isthmus/\(name).key")
        var ikeIdentity: (String, TOMLPosition)?
        if let (i, e) = string(t, "ike_identity", example: "ike_identity = \"CN=\(name)\"") {
            if i.isEmpty || i.utf8.count > 255 || i.hasPrefix("%") || i.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                error(e.node.position, "`ike_identity` \"\(i)\" is not an identity: 1 to 255 printable bytes, not a wildcard such as %any",
                      hint: "write the subject or a subjectAltName of the site's certificate, e.g. ike_identity = \"CN=\(name)\" or \"\(name).example.net\"")
            } else { ikeIdentity = (i, e.node.position) }
        }
        var lan: [String] = []
        var bridge: String?
        var networks: [IPPrefix] = []
        var tunnelAddress: IPPrefix?
        var bridgeAddresses: [IPPrefix] = []
        if kind?.isEthernet ?? true {
            let lanValue = stringArray(t, "lan", example: "lan = [\"eth1\"]")
            var seen: [String: TOMLPosition] = [:]
            for (port, node) in lanValue?.0 ?? [] {
                if let p = InterfaceName.problem(port) {
                    error(node.position, "LAN port \"\(port)\" \(p)", hint: "use the interface name as `ip link` shows it")
                } else if let first = seen[port] {
                    error(node.position, "LAN port \"\(port)\" is listed twice (first at \(first))", hint: "list each port once")
                } else {
                    seen[port] = node.position
                    lan.append(port)
                }
            }
            if let (b, e) = string(t, "bridge", example: "bridge = \"br-lan\"") {
                if let p = InterfaceName.problem(b) {
                    error(e.node.position, "`bridge` \"\(b)\" \(p)", hint: "choose a name of at most 15 bytes without '/', ':' or spaces")
                } else {
                    bridge = b
                }
            }
            let effectiveBridge = bridge ?? segment.map(SiteConfig.defaultBridge)
            if let eb = effectiveBridge, let pos = seen[eb] {
                error(pos, "LAN port \"\(eb)\" is also the bridge's name", hint: "list the bridge's ports, not the bridge")
            }
            // The tunnel device Isthmus creates (`tunnel_device`, else "isth-" + segment): no user interface may share it.
            if let tunnel = tunnelDevice ?? segment.map(DesiredState.tunnelName(segment:)) {
                if let b = effectiveBridge, b == tunnel, let e = t[entry: tunnelDevice != nil ? "tunnel_device" : "bridge"] {
                    error(e.node.position, tunnelDevice != nil ? "`tunnel_device` \"\(b)\" is also the bridge's name"
                                                               : "`bridge` \"\(b)\" is the name of the segment's tunnel device",
                          hint: tunnelDevice != nil ? "the tunnel device is a port of the bridge; give them different names"
                                                    : "choose another bridge name; Isthmus names the tunnel \"isth-\" + the segment name unless `tunnel_device` says otherwise")
                }
                if let pos = seen[tunnel] {
                    error(pos, "LAN port \"\(tunnel)\" is the name of the segment's tunnel device",
                          hint: "list the physical or user-made LAN ports; Isthmus creates \"\(tunnel)\" itself")
                }
            }
            if t["lan"] == nil {
                error(t.position, "\(label) is missing the required key `lan`",
                      hint: "add lan = [\"eth1\"] (the LAN ports to bridge), or lan = [] with bridge = \"...\" for an existing bridge")
            } else if let (l, e) = lanValue, l.isEmpty, t["bridge"] == nil {
                error(e.node.position, "`lan` is empty, and no `bridge` is given: nothing to join",
                      hint: "list the LAN ports, e.g. lan = [\"eth1\"], or name an existing bridge with bridge = \"...\"")
            }
            bridge = effectiveBridge
            var seenAddresses: [IPAddress: TOMLPosition] = [:]
            for (s, node) in stringArray(t, "bridge_address", example: "bridge_address = [\"192.168.1.2/24\"]")?.0 ?? [] {
                guard let p = IPPrefix(cidr: s) else {
                    error(node.position, "bridge_address \"\(s)\" is not an address with a prefix length",
                          hint: s.contains("/") ? "write it like \"192.168.1.2/24\" or \"fd00:1::2/64\""
                                                : "add the LAN's prefix length, e.g. \"\(s)/\(IPAddress(s)?.isV6 == true ? 64 : 24)\"")
                    continue
                }
                let bytes = p.address.bytes
                if p.address.isUnspecified || p.address.isMulticast {
                    error(node.position, "bridge_address \"\(s)\" is not a unicast address", hint: "use this gateway's own address on the LAN")
                } else if p.address.isV6 ? (bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80) || bytes == [UInt8](repeating: 0, count: 15) + [1]
                                            : bytes[0] == 127 {
                    // The kernel makes the bridge's IPv6 link-local address itself (and it is never configuration).
                    error(node.position, "bridge_address \"\(s)\" is a \(p.address.isV6 && bytes[0] == 0xfe ? "link-local" : "loopback") address",
                          hint: "use a global or unique-local address of the LAN (the kernel gives the bridge its fe80:: address itself)")
                } else if p.isNetwork && Int(p.length) < p.address.bytes.count * 8 - 1 {
                    error(node.position, "bridge_address \"\(s)\" is a network address, not a host address",
                          hint: "use this gateway's own address inside \(p), e.g. the one it has on the LAN")
                } else if let first = seenAddresses[p.address] {
                    error(node.position, "bridge_address \(p.address) is listed twice (first at \(first))", hint: "list each address once")
                } else {
                    seenAddresses[p.address] = node.position
                    bridgeAddresses.append(p)
                }
            }
            if let kind {
                notApplicable(t, "networks", "applies only to L3 tunnels (ipip, gre, sit), not \"\(kind.rawValue)\"", table: label)
                notApplicable(t, "tunnel_address", "applies only to L3 tunnels (ipip, gre, sit), not \"\(kind.rawValue)\"", table: label)
            }
        }
        if kind.map({ !$0.isEthernet }) ?? true {
            for (s, node) in stringArray(t, "networks", example: "networks = [\"10.1.0.0/16\"]")?.0 ?? [] {
                guard let p = IPPrefix(cidr: s) else {
                    error(node.position, "network \"\(s)\" is not a CIDR prefix", hint: "write it like \"10.1.0.0/16\" or \"2001:db8:1::/48\"")
                    continue
                }
                guard p.isNetwork else {
                    error(node.position, "network \"\(s)\" has host bits set", hint: "did you mean \"\(p.network)\"?")
                    continue
                }
                if let kind, let why = innerFamilyProblem(kind, p.address) {
                    error(node.position, "network \"\(s)\" \(why)", hint: "use \(kind == .sit ? "IPv6" : "IPv4") networks, or tunnel = \"gre\"")
                    continue
                }
                networks.append(p)
            }
            if let (s, e) = string(t, "tunnel_address", example: "tunnel_address = \"10.255.0.1/30\"") {
                if let p = IPPrefix(cidr: s) {
                    if let kind, let why = innerFamilyProblem(kind, p.address) {
                        error(e.node.position, "`tunnel_address` \"\(s)\" \(why)", hint: "use an address of the family the tunnel carries")
                    } else if p.isNetwork && Int(p.length) < p.address.bytes.count * 8 - 1 {
                        error(e.node.position, "`tunnel_address` \"\(s)\" is a network address, not a host address",
                              hint: "use a host address inside it, e.g. the first usable one")
                    } else {
                        tunnelAddress = p
                    }
                } else {
                    error(e.node.position, "`tunnel_address` \"\(s)\" is not an address with a prefix length",
                          hint: "write it like \"10.255.0.1/30\"")
                }
            }
            if let kind {
                notApplicable(t, "lan", "applies only to Ethernet tunnels, not \"\(kind.rawValue)\"", table: label)
                notApplicable(t, "bridge", "applies only to Ethernet tunnels, not \"\(kind.rawValue)\"", table: label)
                notApplicable(t, "bridge_address", "applies only to Ethernet tunnels (the bridge is theirs), not \"\(kind.rawValue)\"; use tunnel_address", table: label)
            }
        }
        guard errors.count == before, let address else { return nil }
        return SiteDefinition(name: name, address: address, lan: lan, bridge: bridge, bridgeAddresses: bridgeAddresses,
                              hostname: hostname, networks: networks, tunnelAddress: tunnelAddress, tunnelDevice: tunnelDevice,
                              certificate: certificate, privateKey: privateKey, ikeIdentity: ikeIdentity?.0,
                              ikeIdentityPosition: ikeIdentity?.1, position: t.position)
    }

    /// With `[segment] ca` every site names its certificate and key; without it, none does.
    mutating func certificateChecks(_ sites: [SiteDefinition], certificates: Bool, root: TOMLTable) {
        for s in sites {
            let label = "[sites.\(TOML.formatKey(s.name))]"
            if certificates {
                let missing = [("certificate", s.certificate == nil), ("private_key", s.privateKey == nil)].filter(\.1).map { "`\($0.0)`" }
                if !missing.isEmpty {
                    error(s.position, "\(label) needs \(missing.joined(separator: " and ")): the segment authenticates with certificates ([segment] ca)",
                          hint: "add certificate = \"/etc/isthmus/\(s.name).pem\" and private_key = \"/etc/isthmus/\(s.name).key\" (read only on \(s.name)'s own host)")
                }
            } else {
                let given = [("certificate", s.certificate?.position), ("private_key", s.privateKey?.position), ("ike_identity", s.ikeIdentityPosition)]
                for (key, position) in given {
                    guard let position else { continue }
                    error(position, "`\(key)` in \(label) applies only with certificate authentication: encryption = \"ipsec\" and [segment] ca",
                          hint: "add ca = \"/path/ca.pem\" to [segment] (instead of secret), or remove \(key)")
                }
            }
        }
        for (i, s) in sites.enumerated() {
            for o in sites[..<i] where s.ikeIdentity != nil && s.ikeIdentity == o.ikeIdentity {
                error(s.ikeIdentityPosition ?? s.position, "sites \(o.name) and \(s.name) have the same ike_identity \"\(s.ikeIdentity!)\"",
                      hint: "each site proves its own identity: give each its own certificate and identity")
            }
        }
    }

    func innerFamilyProblem(_ kind: TunnelKind, _ a: IPAddress) -> String? {
        switch kind {
        case .ipip where a.isV6: "is IPv6, but ipip carries only IPv4"
        case .sit where !a.isV6: "is IPv4, but sit carries only IPv6"
        default: nil
        }
    }

    /// Checks across sites (over the sites that validated on their own).
    mutating func crossSiteChecks(_ sites: [SiteDefinition], kind: TunnelKind?) {
        if let first = sites.first {
            for s in sites.dropFirst() where s.address.isV6 != first.address.isV6 {
                error(s.position, "site \(s.name) has an \(s.address.familyName) address (\(s.address)), but site \(first.name) has \(first.address.familyName) (\(first.address))",
                      hint: "all sites must use the same underlay family; give every site an \(first.address.familyName) address")
            }
            if kind == .sit, first.address.isV6 {
                error(first.position, "sit needs an IPv4 underlay, but the sites have IPv6 addresses",
                      hint: "use tunnel = \"gre\" or \"ipip\" over IPv6, or IPv4 addresses")
            }
        }
        for (i, s) in sites.enumerated() {
            for o in sites[..<i] {
                if o.address == s.address {
                    error(s.position, "sites \(o.name) and \(s.name) have the same address \(s.address) (first at \(o.position))",
                          hint: "each site needs its own underlay address")
                }
                if let h = s.hostname, h == o.hostname {
                    error(s.position, "sites \(o.name) and \(s.name) have the same hostname \"\(h)\"",
                          hint: "hostnames pick the local site; give each site its own")
                }
                for a in s.bridgeAddresses where o.bridgeAddresses.contains(where: { $0.address == a.address }) {
                    error(s.position, "sites \(o.name) and \(s.name) have the same bridge_address \(a.address): the segment joins their LANs into one",
                          hint: "give each site's bridge its own address on the LAN")
                }
                if let a = s.tunnelAddress, let b = o.tunnelAddress, a.address == b.address {
                    error(s.position, "sites \(o.name) and \(s.name) have the same tunnel_address \(a.address)",
                          hint: "give each site its own address inside the tunnel")
                }
                for n in s.networks {
                    for m in o.networks where n.overlaps(m) {
                        error(s.position, "network \(n) of site \(s.name) overlaps network \(m) of site \(o.name)",
                              hint: "each prefix can be routed to only one site; split or remove one of them")
                    }
                }
            }
            for (j, n) in s.networks.enumerated() {
                for m in s.networks[..<j] where n.overlaps(m) {
                    error(s.position, "site \(s.name) lists overlapping networks \(m) and \(n)", hint: "list each prefix once")
                }
            }
        }
    }
}
