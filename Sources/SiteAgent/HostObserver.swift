#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Dataplane
import IPCommand
import LinkValues
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
                if info.slaveKind == "bridge" {
                    i.isolated = info.slaveData.first(IFLA_BRPORT_ISOLATED).flatMap { $0.u8 }.map { $0 != 0 } ?? false
                }
            }
            if let (t, s) = sessionsByName[name] {
                let link = L2TPSessionLink(tunnel: t, session: s)
                i.kind = link.kind
                i.parameters = Self.dictionary(link.words)
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
                if let v = try? VXLANLink(kind: out[k].kind, words: out[k].parameters.map { LinkWord($0.key, $0.value) }),
                   v.remote == dst, !dst.isMulticast { continue }
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

    /// Kinds whose parameters the planner compares: those of the link values, and TAP/TUN devices.
    public static let tunnelKinds: Set<String> = Set(SiteLink.kernelKinds + L2TPSessionLink.kinds + TunTapLink.kinds)

    /// IFLA_INFO_DATA of a tunnel kind as the planner's parameter words (the kind's `LinkValue`'s).
    static func parameters(kind: String, data d: [Attribute]) -> [String: String] {
        dictionary(SiteLink.decode(kind: kind, data: d)?.words ?? [])
    }

    static func dictionary(_ words: [LinkWord]) -> [String: String] {
        var p: [String: String] = [:]
        for w in words { p[w.key] = w.value }
        return p
    }
}
