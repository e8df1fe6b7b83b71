#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Dataplane
import IPCommand
import Netlink
import NetlinkWire
import Sites

/// Reads what a host (one network namespace) has, in the planner's vocabulary: every interface with its kind, alias,
/// master, MTU and up state; for tunnel kinds the parameters as `ip link add ... type KIND` words (the same keys the
/// planner writes, so "no drift" is plain dictionary equality); addresses, routes and default-destination FDB entries
/// of the interfaces that a segment owns and of its LAN ports — of addresses and routes only the configured ones
/// (`HostConfiguration`: what the kernel, router advertisements, DHCP clients and routing daemons made is not
/// reported, so it is never drift); the running userspace tunnels and their configuring words.
public struct HostObserver {
    public let session: Session

    public init(session: Session) { self.session = session }

    /// The whole observed state. `owner` limits the address/route/FDB dumps to interfaces whose alias it is, and to
    /// `ports` (a site's LAN ports, whose own configuration `up` moves to the bridge); nil: every tunnel-kind interface.
    public func observe(owner: String? = nil, ports: [String] = []) throws -> ObservedState {
        try session.flush()
        var w = AttributeWriter()
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_SKIP_STATS))
        let msg = try RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
        let links = try session.rtnl().dump(msg, operation: "dump links").compactMap { m -> LinkMessage? in
            m.type == UInt16(RTM_NEWLINK) ? try? LinkMessage(m) : nil
        }
        var names: [Int32: String] = [:]
        for l in links { if let n = l.name { names[l.header.index] = n; session.learn(name: n, index: l.header.index) } }

        // l2tp_eth devices carry no IFLA_INFO_KIND (the module registers no rtnl_link_ops): they are known by being a
        // session's interface in the l2tp family's dump. No l2tp family (no module): no such devices.
        var sessionsByName: [String: (L2TPTunnelConfig, L2TPSessionConfig)] = [:]
        if let client = try? L2TPClient(transport: session.genl()) {
            let tunnels = try client.tunnels()
            for s in try client.sessions() {
                guard let n = s.ifname, let t = tunnels.first(where: { $0.tunnelID == s.tunnelID }) else { continue }
                sessionsByName[n] = (t, s)
            }
        }

        var out: [ObservedInterface] = []
        var indexOf: [String: Int32] = [:]
        for l in links {
            guard let name = l.name else { continue }
            indexOf[name] = l.header.index
            let info = l.linkInfo
            var i = ObservedInterface(name: name, kind: info?.kind ?? "", alias: l.attributes.first(IFLA_IFALIAS)?.string,
                                      master: l.master.flatMap { names[$0] }, mtu: Int(l.mtu ?? 0),
                                      up: l.header.flags & CLinuxUAPI.IFF_UP.rawValue != 0)
            if let info {
                i.parameters = Self.parameters(kind: info.kind ?? "", data: info.data)
            }
            if let (t, s) = sessionsByName[name] {
                i.kind = "l2tpeth"
                i.parameters = Self.l2tpParameters(t, s)
            }
            out.append(i)
        }

        // Addresses, routes and FDB of the interfaces that matter.
        let interesting = Set(out.filter { o in owner.map { o.alias == $0 } ?? Self.tunnelKinds.contains(o.kind) }.map(\.name))
            .union(ports)
        if !interesting.isEmpty {
            var byIndex: [Int32: Int] = [:]
            for (k, o) in out.enumerated() where interesting.contains(o.name) { if let x = indexOf[o.name] { byIndex[x] = k } }
            let amsg = try RTMessage.address(RTM_GETADDR, flags: [], header: IfAddrHeader(family: 0))
            for m in try session.rtnl().dump(amsg, operation: "dump addresses") where m.type == UInt16(RTM_NEWADDR) {
                guard let a = try? AddressMessage(m), let k = byIndex[Int32(bitPattern: a.header.index)], let ip = a.local,
                      HostConfiguration.isConfigured(addressFlags: a.flags, scope: a.header.scope) else { continue }
                out[k].addresses.append("\(ip)/\(a.header.prefixLength)")
            }
            for family in [UInt8(AF_INET), UInt8(AF_INET6)] {
                let rmsg = try RTMessage.route(RTM_GETROUTE, flags: [], header: RouteHeader(family: family))
                for m in try session.rtnl().dump(rmsg, operation: "dump routes") where m.type == UInt16(RTM_NEWROUTE) {
                    guard let r = try? RouteMessage(m),
                          HostConfiguration.isConfigured(routeProtocol: r.header.proto, table: r.table, type: r.header.type,
                                                         expires: (r.cacheExpiresAndError?.expires ?? 0) != 0 || (r.expires ?? 0) != 0),
                          let oif = r.outputInterface, let k = byIndex[oif] else { continue }
                    let v6 = family == UInt8(AF_INET6)
                    let dst = r.destination.map { "\($0)/\(r.header.dstLength)" } ?? (v6 ? "::/0" : "0.0.0.0/0")
                    out[k].routes.append(HostConfiguration.routeWords(destination: dst, gateway: r.gateway.map { "\($0)" },
                                                                      source: r.preferredSource.map { "\($0)" },
                                                                      metric: r.priority, ipv6: v6))
                }
            }
            let nmsg = try RTMessage.neighbour(RTM_GETNEIGH, flags: [], header: NeighbourHeader(family: UInt8(AF_BRIDGE)))
            for m in try session.rtnl().dump(nmsg, operation: "dump fdb") where m.type == UInt16(RTM_NEWNEIGH) {
                guard let n = try? NeighbourMessage(m), let k = byIndex[n.header.ifindex], let dst = n.destination,
                      n.linkLayerAddress == [0, 0, 0, 0, 0, 0] else { continue }
                // A vxlan with `remote` has that default destination as an FDB entry of its own: part of the link.
                if out[k].kind == "vxlan" && out[k].parameters["remote"] == "\(dst)" { continue }
                out[k].fdb.append("\(dst)")
            }
        }

        // Userspace tunnels answering on their status sockets in this namespace.
        var userspace: [String: String] = [:]
        try NetworkNamespace.with(session.options.netns) {
            for (name, report) in TunnelStatus.queryAll(namespace: TunnelStatus.currentNamespace()) {
                let args = report.split(separator: "\n").first { $0.hasPrefix("args ") }.map { String($0.dropFirst(5)) }
                userspace[name] = args ?? ""
            }
        }
        return ObservedState(interfaces: out, userspaceTunnels: userspace, fouPorts: [])
    }

    /// Kinds whose parameters the planner compares.
    public static let tunnelKinds: Set<String> = ["vxlan", "gretap", "ip6gretap", "gre", "ip6gre", "ipip", "sit", "ip6tnl", "l2tpeth", "tun"]

    /// IFLA_INFO_DATA of a tunnel kind as the planner's parameter words.
    static func parameters(kind: String, data d: [Attribute]) -> [String: String] {
        var p: [String: String] = [:]
        func ip(_ a: Attribute?) -> String? {
            guard let a, let x = NetlinkWire.IPAddress(bytes: a.data), !x.isUnspecified else { return nil }
            return "\(x)"
        }
        switch kind {
        case "vxlan":
            if let v = d.first(IFLA_VXLAN_ID)?.u32 { p["id"] = "\(v)" }
            p["local"] = ip(d.first(IFLA_VXLAN_LOCAL)) ?? ip(d.first(IFLA_VXLAN_LOCAL6))
            if let g = ip(d.first(IFLA_VXLAN_GROUP)) ?? ip(d.first(IFLA_VXLAN_GROUP6)) {
                p[NetlinkWire.IPAddress(g)?.isMulticast == true ? "group" : "remote"] = g
            }
            if let port = d.first(IFLA_VXLAN_PORT)?.be16 { p["dstport"] = "\(port)" }
            if let df = d.first(IFLA_VXLAN_DF)?.u8 {
                p["df"] = df == UInt8(VXLAN_DF_SET.rawValue) ? "set" : df == UInt8(VXLAN_DF_INHERIT.rawValue) ? "inherit" : "unset"
            }
            if let link = d.first(IFLA_VXLAN_LINK)?.u32, link != 0 { p["dev"] = "\(link)" }
        case "gretap", "ip6gretap", "gre", "ip6gre":
            p["local"] = ip(d.first(IFLA_GRE_LOCAL))
            p["remote"] = ip(d.first(IFLA_GRE_REMOTE))
            let iflags = d.first(IFLA_GRE_IFLAGS)?.u16 ?? 0
            if iflags & ISTHMUS_GRE_KEY != 0, let k = d.first(IFLA_GRE_IKEY)?.be32 { p["key"] = "\(k)" }
            if let t = d.first(IFLA_GRE_ENCAP_TYPE)?.u16, t == UInt16(TUNNEL_ENCAP_FOU.rawValue) {
                p["encap"] = "fou"
                let sport = d.first(IFLA_GRE_ENCAP_SPORT)?.be16 ?? 0
                p["encap-sport"] = sport == 0 ? "auto" : "\(sport)"
                p["encap-dport"] = "\(d.first(IFLA_GRE_ENCAP_DPORT)?.be16 ?? 0)"
            }
            if !kind.hasPrefix("ip6") {
                if let pm = d.first(IFLA_GRE_PMTUDISC)?.u8 { p[pm == 0 ? "nopmtudisc" : "pmtudisc"] = "" }
                if d.first(IFLA_GRE_IGNORE_DF)?.u8 == 1 { p["ignore-df"] = "" }
            }
            if let link = d.first(IFLA_GRE_LINK)?.u32, link != 0 { p["dev"] = "\(link)" }
        case "ipip", "sit", "ip6tnl":
            p["local"] = ip(d.first(IFLA_IPTUN_LOCAL))
            p["remote"] = ip(d.first(IFLA_IPTUN_REMOTE))
            if kind == "ip6tnl" {
                switch d.first(IFLA_IPTUN_PROTO)?.u8 {
                case UInt8(IPPROTO_IPIP): p["mode"] = "ipip6"
                case UInt8(IPPROTO_IPV6): p["mode"] = "ip6ip6"
                default: p["mode"] = "any"
                }
            } else if let pm = d.first(IFLA_IPTUN_PMTUDISC)?.u8 {
                p[pm == 0 ? "nopmtudisc" : "pmtudisc"] = ""
            }
            if let link = d.first(IFLA_IPTUN_LINK)?.u32, link != 0 { p["dev"] = "\(link)" }
        default:
            break
        }
        return p
    }

    /// An l2tpeth session and its tunnel as the planner's words (those of `ip l2tp add tunnel` + `add session`).
    static func l2tpParameters(_ t: L2TPTunnelConfig, _ s: L2TPSessionConfig) -> [String: String] {
        var p: [String: String] = [
            "tunnel_id": "\(t.tunnelID)", "peer_tunnel_id": "\(t.peerTunnelID)",
            "session_id": "\(s.sessionID)", "peer_session_id": "\(s.peerSessionID)",
            "encap": t.encapsulation == .udp ? "udp" : "ip",
        ]
        if let l = t.local { p["local"] = "\(l)" }
        if let r = t.remote { p["remote"] = "\(r)" }
        if t.encapsulation == .udp {
            if let x = t.localPort { p["udp_sport"] = "\(x)" }
            if let x = t.remotePort { p["udp_dport"] = "\(x)" }
        }
        if let c = s.cookie, !c.isEmpty { p["cookie"] = Planner.hex(c) }
        if let c = s.peerCookie, !c.isEmpty { p["peer_cookie"] = Planner.hex(c) }
        return p
    }
}
