import Foundation
import IPCommand
import Sites

/// Checks a parsed lab file against `LabConfig`'s layout, collecting every problem (with FILE:LINE:COL) before
/// anything is created.
struct LabValidator: TOMLValidating {
    let file: String
    let directory: String
    var errors: [ConfigError] = []
    /// Every node the file defines with a valid name, even one with errors of its own: references to it are not
    /// reported again as "no node".
    var declared: Set<String> = []
    /// Site configs already validated (their errors are reported once, however many nodes use them).
    var siteConfigs: [String: Result<SegmentConfig, ConfigErrors>] = [:]

    init(file: String, directory: String) { self.file = file; self.directory = directory }

    static func validName(_ s: String, max: Int) -> Bool {
        !s.isEmpty && s.utf8.count <= max && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d }
    }

    mutating func endpoint(_ s: String, _ n: TOMLNode, nodes: [String: LabConfig.Node], reserved: Bool = true) -> LabConfig.Endpoint? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            error(n.position, "endpoint \"\(s)\" must be NODE:INTERFACE", hint: "write it like \"h1:eth0\"")
            return nil
        }
        guard declared.contains(parts[0]) else {
            let m = "endpoint \"\(s)\": no node \"\(parts[0])\"" + Suggestion.didYouMean(parts[0], among: declared.sorted())
            error(n.position, m, hint: "define [nodes.\(parts[0])] or use one of: \(declared.sorted().joined(separator: ", "))")
            return nil
        }
        if let p = InterfaceName.problem(parts[1]) {
            error(n.position, "endpoint \"\(s)\": interface name \"\(parts[1])\" \(p)", hint: "use at most 15 bytes without '/', ':' or spaces")
            return nil
        }
        if reserved && parts[1] == "lo" {
            error(n.position, "endpoint \"\(s)\": every namespace already has `lo`", hint: "name the link's interface otherwise, e.g. eth0")
            return nil
        }
        if reserved && parts[1] == "br0" && nodes[parts[0]]?.type == .switch {
            error(n.position, "endpoint \"\(s)\": `br0` is the switch's own bridge", hint: "name the switch's port otherwise, e.g. p1")
            return nil
        }
        return LabConfig.Endpoint(node: parts[0], interface: parts[1])
    }

    mutating func validate(_ root: TOMLTable) -> LabConfig? {
        checkKeys(root, allowed: LabConfig.topKeys, table: "the top level")
        var name: String?
        var description = ""
        var requires: [String] = []
        if let (lab, _) = table(root, "lab", example: "[lab]") {
            checkKeys(lab, allowed: LabConfig.labKeys, table: "[lab]")
            if let (n, e) = string(lab, "name", example: "name = \"vx\"") {
                if Self.validName(n, max: 16) { name = n } else {
                    error(e.node.position, "lab name \"\(n)\" must be 1 to 16 lowercase letters, digits or '-'",
                          hint: "namespaces are named LAB-NODE; pick a short name such as \"vx\"")
                }
            } else if lab["name"] == nil {
                error(lab.position, "[lab] is missing the required key `name`", hint: "add name = \"vx\"")
            }
            description = string(lab, "description", example: "description = \"...\"")?.0 ?? ""
            requires = stringArray(lab, "requires", example: "requires = [\"vxlan\"]")?.0.map(\.0) ?? []
        } else if root["lab"] == nil {
            error(TOMLPosition(line: 1, column: 1), "the file has no [lab] table", hint: "start it with [lab] and name = \"...\"")
        }

        // Nodes first: everything else refers to them.
        var nodes: [LabConfig.Node] = []
        var byName: [String: LabConfig.Node] = [:]
        if let (nt, _) = table(root, "nodes", example: "[nodes.h1]") {
            for e in nt.entries where e.node.table != nil && Self.validName(e.key, max: 16) { declared.insert(e.key) }
            for e in nt.entries {
                guard let t = e.node.table else { typeError(e, "a table", example: "[nodes.\(e.key)]"); continue }
                if !Self.validName(e.key, max: 16) {
                    error(e.keyPosition, "node name \"\(e.key)\" must be 1 to 16 lowercase letters, digits or '-'", hint: "rename it, e.g. [nodes.h1]")
                    continue
                }
                if let n = node(e.key, t, position: e.keyPosition) { nodes.append(n); byName[n.name] = n }
            }
        }
        if nodes.isEmpty && errors.isEmpty { error(root.position, "the lab has no nodes", hint: "add [nodes.NAME] tables") }

        // Links.
        var links: [LabConfig.Link] = []
        var interfaces: [String: TOMLPosition] = [:]   // "node:if" → where defined
        for t in tables(root, "links", example: "[[links]] endpoints = [\"h1:eth0\", \"r:eth1\"]") {
            checkKeys(t, allowed: LabConfig.linkKeys, table: "[[links]]")
            guard let (eps, e) = stringArray(t, "endpoints", example: "endpoints = [\"h1:eth0\", \"r:eth1\"]") else {
                if t["endpoints"] == nil { error(t.position, "[[links]] is missing the required key `endpoints`", hint: "add endpoints = [\"h1:eth0\", \"r:eth1\"]") }
                continue
            }
            guard eps.count == 2 else {
                error(e.node.position, "`endpoints` must name exactly two ends, found \(eps.count)", hint: "a link is one veth pair: endpoints = [\"h1:eth0\", \"r:eth1\"]")
                continue
            }
            let ends = eps.compactMap { endpoint($0.0, $0.1, nodes: byName) }
            guard ends.count == 2 else { continue }
            var ok = true
            for (i, end) in ends.enumerated() {
                if let first = interfaces[end.description] {
                    error(eps[i].1.position, "interface \(end) is defined twice (first at \(first))", hint: "give each link end its own interface name")
                    ok = false
                } else {
                    interfaces[end.description] = eps[i].1.position
                }
            }
            if ends[0].node == ends[1].node && ok {
                // Allowed (a loop inside one namespace) but usually a mistake only when the names clash, checked above.
            }
            let mtu = integer(t, "mtu", 68...65535, example: "mtu = 1500").map { Int($0.0) }
            if ok { links.append(LabConfig.Link(a: ends[0], b: ends[1], mtu: mtu)) }
        }

        // Macvlans.
        var macvlans: [LabConfig.Macvlan] = []
        for t in tables(root, "macvlans", example: "[[macvlans]] parent = \"sw:uplink\"") {
            checkKeys(t, allowed: LabConfig.macvlanKeys, table: "[[macvlans]]")
            var parent: LabConfig.Endpoint?
            if let (p, e) = string(t, "parent", example: "parent = \"sw:uplink\"") {
                parent = endpoint(p, e.node, nodes: byName, reserved: false)
                if let pe = parent, interfaces[pe.description] == nil {
                    error(e.node.position, "macvlan parent \(pe) is not a link end", hint: "name an interface defined in [[links]]")
                    parent = nil
                }
            } else if t["parent"] == nil { error(t.position, "[[macvlans]] is missing `parent`", hint: "add parent = \"NODE:IF\"") }
            var into: String?
            if let (n, e) = string(t, "node", example: "node = \"h3\"") {
                if !declared.contains(n) { error(e.node.position, "macvlan node \"\(n)\" is not a node", hint: "define [nodes.\(n)]") } else { into = n }
            } else if t["node"] == nil { error(t.position, "[[macvlans]] is missing `node`", hint: "add node = \"h3\"") }
            var mname: String?
            if let (n, e) = string(t, "name", example: "name = \"mv0\"") {
                if let p = InterfaceName.problem(n) { error(e.node.position, "macvlan name \"\(n)\" \(p)", hint: "use at most 15 bytes") }
                else if let i = into, let first = interfaces["\(i):\(n)"] {
                    error(e.node.position, "interface \(i):\(n) is defined twice (first at \(first))", hint: "choose another name")
                } else if let pe = parent, pe.node != into, let first = interfaces["\(pe.node):\(n)"] {
                    // The macvlan is made in its parent's node, then moved: the name must be free there too.
                    error(e.node.position, "macvlan \(n) is created in \(pe.node) first, which already has \(pe.node):\(n) (at \(first))",
                          hint: "choose another name")
                } else { mname = n; if let i = into { interfaces["\(i):\(n)"] = e.node.position } }
            } else if t["name"] == nil { error(t.position, "[[macvlans]] is missing `name`", hint: "add name = \"mv0\"") }
            var mode = "bridge"
            if let (m, e) = string(t, "mode", example: "mode = \"bridge\"") {
                if ["private", "vepa", "bridge", "passthru"].contains(m) { mode = m } else {
                    error(e.node.position, "`mode` must be one of \"private\", \"vepa\", \"bridge\", \"passthru\"; found \"\(m)\"", hint: "write mode = \"bridge\"")
                }
            }
            if let parent, let into, let mname { macvlans.append(LabConfig.Macvlan(parent: parent, node: into, name: mname, mode: mode)) }
        }

        // Switch ports must be link ends of the switch.
        for n in nodes where n.type == .switch {
            for p in n.ports where interfaces["\(n.name):\(p.name)"] == nil {
                error(p.position, "switch \(n.name): port \"\(p.name)\" is not a link end of \(n.name)", hint: "add a [[links]] entry with endpoint \"\(n.name):\(p.name)\"")
            }
        }

        // Checks.
        var checks: [LabConfig.Check] = []
        for t in tables(root, "checks", example: "[[checks]] kind = \"ping\"") {
            if let c = check(t, nodes: byName) { checks.append(c) }
        }
        guard errors.isEmpty, let name else { return nil }
        return LabConfig(file: file, name: name, description: description, requires: requires, nodes: nodes, links: links,
                         macvlans: macvlans, checks: checks)
    }

    mutating func node(_ name: String, _ t: TOMLTable, position: TOMLPosition) -> LabConfig.Node? {
        let label = "[nodes.\(name)]"
        checkKeys(t, allowed: LabConfig.nodeKeys, table: label)
        let before = errors.count
        let type = choice(t, "type", LabConfig.NodeType.self)?.0 ?? .host
        var addresses: [(String, String)] = []
        if let (a, _) = table(t, "addresses", example: "addresses = { eth0 = [\"10.0.0.1/24\"] }") {
            for e in a.entries {
                if let p = InterfaceName.problem(e.key) { error(e.keyPosition, "interface name \"\(e.key)\" \(p)", hint: "use the interface's name"); continue }
                guard let arr = e.node.array else { typeError(e, "an array of CIDR addresses", example: "\(e.key) = [\"10.0.0.1/24\"]"); continue }
                for n in arr {
                    guard let s = n.string, let pfx = IPPrefix(cidr: s) else {
                        error(n.position, "address \(n.string.map { "\"\($0)\"" } ?? n.value.typeNameWithArticle) on \(e.key) must be ADDRESS/LENGTH",
                              hint: "write it like \"10.0.0.1/24\" or \"fd00::1/64\"")
                        continue
                    }
                    _ = pfx
                    addresses.append((e.key, s))
                }
            }
        }
        var routes: [String] = []
        for (r, n) in stringArray(t, "routes", example: "routes = [\"default via 10.0.0.1\"]")?.0 ?? [] {
            let w = r.split(separator: " ").map(String.init)
            let destOK = w.first.map { $0 == "default" || IPPrefix(cidr: $0) != nil || IPAddress($0) != nil } ?? false
            var i = 1, ok = destOK
            while ok && i < w.count {
                switch w[i] {
                case "via", "src": ok = i + 1 < w.count && IPAddress(w[i + 1]) != nil; i += 2
                case "dev": ok = i + 1 < w.count && InterfaceName.problem(w[i + 1]) == nil; i += 2
                case "mtu", "metric": ok = i + 1 < w.count && UInt32(w[i + 1]) != nil; i += 2
                default: ok = false
                }
            }
            if !ok {
                error(n.position, "route \"\(r)\" must be PREFIX|default [via ADDRESS] [dev IF] [src ADDRESS] [mtu N] [metric N]",
                      hint: "write it like \"default via 10.0.1.1\" or \"10.2.0.0/16 via 10.0.1.1\"")
            } else { routes.append(r) }
        }
        // Each command's words are checked now, before anything is created (against no kernel: any device name is
        // taken as existing), so a typo fails the lab file with its line rather than half-way through `lab up`.
        var commands: [String] = []
        for (c, n) in stringArray(t, "commands", example: "commands = [\"link set eth0 up\"]")?.0 ?? [] {
            do {
                try DryRun.check(try splitCommandLine(c))
                commands.append(c)
            } catch let problem {
                error(n.position, "command \"\(c.count > 80 ? String(c.prefix(80)) + "…" : c)\": \(problem)",
                      hint: "the words of `isthmus OBJECT ...` without `isthmus`; see `isthmus help OBJECT`")
            }
        }
        var nat: [String] = []
        for (i, n) in stringArray(t, "nat", example: "nat = [\"eth2\"]")?.0 ?? [] {
            if let p = InterfaceName.problem(i) ?? (i.contains("\"") || i.contains("\\") ? "contains a quote or backslash" : nil) {
                error(n.position, "`nat` interface \"\(i)\" \(p)", hint: "name the interface traffic leaves through, e.g. nat = [\"eth2\"]")
            } else { nat.append(i) }
        }
        let vlanFiltering = boolean(t, "vlan_filtering")?.0 ?? false
        var ports: [LabConfig.SwitchPort] = []
        if let (pt, pe) = table(t, "ports", example: "ports = { p1 = { pvid = 100 } }") {
            if type != .switch { error(pe.keyPosition, "`ports` applies only to type = \"switch\"", hint: "remove `ports` from \(label), or make it a switch") }
            for e in pt.entries {
                guard let x = e.node.table else { typeError(e, "a table", example: "\(e.key) = { pvid = 100 }"); continue }
                checkKeys(x, allowed: ["pvid", "tagged"], table: "port \(e.key) of \(label)")
                let pvid = integer(x, "pvid", 1...4094, example: "pvid = 100").map { Int($0.0) }
                var tagged: [Int] = []
                if let te = x[entry: "tagged"] {
                    if let arr = te.node.array {
                        for n in arr {
                            if let v = n.integer, (1...4094).contains(v) { tagged.append(Int(v)) } else {
                                error(n.position, "VLAN ids in `tagged` must be integers 1..4094", hint: "write tagged = [100, 200]")
                            }
                        }
                    } else { typeError(te, "an array of VLAN ids", example: "tagged = [100, 200]") }
                }
                ports.append(LabConfig.SwitchPort(name: e.key, pvid: pvid, tagged: tagged, position: e.keyPosition))
            }
            if !vlanFiltering && ports.contains(where: { $0.pvid != nil || !$0.tagged.isEmpty }) {
                error(pe.keyPosition, "VLAN membership on \(label)'s ports needs vlan_filtering = true", hint: "add vlan_filtering = true to \(label)")
            }
        }
        var site: LabConfig.Site?
        if let (st, se) = table(t, "site", example: "site = { config = \"segment.toml\", name = \"a\" }") {
            checkKeys(st, allowed: ["config", "name"], table: "`site` of \(label)")
            let cfg = string(st, "config", example: "config = \"segment.toml\"")
            let sname = string(st, "name", example: "name = \"a\"")
            if cfg == nil && st["config"] == nil { error(se.node.position, "`site` needs `config`", hint: "site = { config = \"segment.toml\", name = \"a\" }") }
            if sname == nil && st["name"] == nil { error(se.node.position, "`site` needs `name`", hint: "site = { config = \"segment.toml\", name = \"a\" }") }
            if let (c, ce) = cfg, let (n, ne) = sname {
                let path = c.hasPrefix("/") ? c : directory + "/" + c
                if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                    let known = siteConfigs[path] != nil
                    let loaded = siteConfigs[path] ?? SiteConfig.load(text: text, file: path)
                    siteConfigs[path] = loaded
                    switch loaded {
                    case .success(let sc):
                        if sc.siteNames.contains(n) { site = LabConfig.Site(config: path, name: n) } else {
                            error(ne.node.position, "site \"\(n)\" is not in \(c); its sites are: \(sc.siteNames.joined(separator: ", "))",
                                  hint: "name one of the config's [sites.NAME]")
                        }
                    case .failure(let e):
                        error(ce.node.position, "the site config \(c) is not valid (\(e.errors.count) error\(e.errors.count == 1 ? "" : "s"))",
                              hint: "fix it first; its errors are listed with its own file name")
                        if !known { errors.append(contentsOf: e.errors) }
                    }
                } else {
                    error(ce.node.position, "cannot read the site config \"\(c)\" (looked at \(path))", hint: "paths are relative to the lab file")
                }
            }
        }
        guard errors.count == before else { return nil }
        return LabConfig.Node(name: name, type: type, addresses: addresses, routes: routes, commands: commands, nat: nat,
                              vlanFiltering: vlanFiltering, ports: ports, site: site, position: position)
    }

    mutating func check(_ t: TOMLTable, nodes: [String: LabConfig.Node]) -> LabConfig.Check? {
        checkKeys(t, allowed: LabConfig.checkKeys, table: "[[checks]]")
        let before = errors.count
        guard let (kind, _) = choice(t, "kind", LabConfig.CheckKind.self) else {
            if t["kind"] == nil {
                error(t.position, "[[checks]] is missing `kind`", hint: "one of: " + LabConfig.CheckKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return nil
        }
        func nodeRef(_ key: String) -> String? {
            guard let (n, e) = string(t, key, example: "\(key) = \"h1\"") else {
                if t[key] == nil { error(t.position, "a \(kind.rawValue) check needs `\(key)` (a node)", hint: "add \(key) = \"NODE\"") }
                return nil
            }
            if !declared.contains(n) {
                let m = "`\(key)` \"\(n)\" is not a node" + Suggestion.didYouMean(n, among: declared.sorted())
                error(e.node.position, m, hint: "nodes: \(declared.sorted().joined(separator: ", "))")
                return nil
            }
            return n
        }
        let from = nodeRef("from")
        var to: String?
        if kind == .noCross {
            to = nodeRef("at")
            if let e = t[entry: "to"] { error(e.keyPosition, "a no-cross check names the node that must not see the frame with `at`, not `to`", hint: "write at = \"NODE\"") }
        } else if let (a, e) = string(t, "to", example: "to = \"10.0.0.2\"") {
            if IPAddress(a) == nil { error(e.node.position, "`to` must be an address, found \"\(a)\"", hint: "write it like to = \"10.0.0.2\"") } else { to = a }
        } else if t["to"] == nil {
            error(t.position, "a \(kind.rawValue) check needs `to` (an address)", hint: "add to = \"10.0.0.2\"")
        }
        let size = integer(t, "size", 0...65507, example: "size = 1472").map { Int($0.0) }
        let df = boolean(t, "df")?.0 ?? false
        let count = integer(t, "count", 1...100, example: "count = 3").map { Int($0.0) } ?? 2
        let port = integer(t, "port", 1...65535, example: "port = 5001").map { Int($0.0) } ?? 5001
        let bytes = integer(t, "bytes", 1...1_000_000_000, example: "bytes = 1000000").map { Int($0.0) } ?? 1_000_000
        var frame: String?
        if let (f, e) = string(t, "frame", example: "frame = \"dhcp\"") {
            let okPort = f.hasPrefix("udp:") && Int(f.dropFirst(4)).map { (1...65535).contains($0) } == true
            if ["dhcp", "ra"].contains(f) || okPort { frame = f } else {
                error(e.node.position, "`frame` must be \"dhcp\", \"ra\" or \"udp:PORT\"; found \"\(f)\"", hint: "write frame = \"dhcp\"")
            }
        } else if kind == .noCross && t["frame"] == nil {
            error(t.position, "a no-cross check needs `frame`", hint: "frame = \"dhcp\" | \"ra\" | \"udp:PORT\"")
        }
        var minMbps: Double?
        if let e = t[entry: "min_mbps"] {
            if let d = e.node.float ?? e.node.integer.map(Double.init) {
                if d.isFinite && d > 0 { minMbps = d } else {
                    error(e.node.position, "`min_mbps` must be a positive number, found \(d)", hint: "write min_mbps = 100")
                }
            } else { typeError(e, "a number", example: "min_mbps = 100") }
        } else if kind == .throughput {
            error(t.position, "a throughput check needs `min_mbps`", hint: "add min_mbps = 100")
        }
        let seconds = integer(t, "seconds", 1...60, example: "seconds = 3").map { Int($0.0) } ?? 3
        let expect = integer(t, "expect", 1...65535, example: "expect = 1500").map { Int($0.0) }
        if (kind == .mtu || kind == .mss) && expect == nil && t["expect"] == nil {
            error(t.position, "an \(kind.rawValue) check needs `expect`", hint: kind == .mtu ? "add expect = 1500" : "add expect = 1190")
        }
        let name = string(t, "name", example: "name = \"overlay ping\"")?.0
        guard errors.count == before, let from, let to else { return nil }
        return LabConfig.Check(kind: kind, from: from, to: to, size: size, df: df, count: count, port: port, bytes: bytes,
                               frame: frame, minMbps: minMbps, seconds: seconds, expect: expect, name: name, position: t.position)
    }
}
