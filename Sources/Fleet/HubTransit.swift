/// Hub topology, on a hub: the hub forwards frames between spokes (a spoke's tunnel goes to its hub only).
///
/// A hub has one VXLAN device whose flood list is every other site. Its bridge would not send a frame back out the
/// port it came in on, so a spoke's frame for another spoke would stop at the hub: the tunnel port is put in
/// **hairpin** mode. Hairpin alone would echo a spoke's broadcasts back to that spoke (the VXLAN device sends a
/// flooded frame to every remote in its list), and the spoke's bridge would then learn its own hosts' addresses
/// behind the tunnel. So this table of the hub's own, `inet isthmus-hub-SEGMENT`, gives the outer datagrams a mark by
/// their source before the VXLAN device decapsulates them (the mark stays on the inner frame through the bridge and on
/// each copy the VXLAN device sends), and drops, on the way out, a copy going back to the site it came from — and
/// every copy of a frame that came from another hub (that hub sent it to every site itself, and echoing it between
/// hubs would loop).
///
/// Marks are `0x49530000 + n` (n: the spoke's place in name order, from 1) and `0x4953ffff` for hubs; they are the
/// packet's whole mark (nft cannot set part of it from a map), only on VXLAN datagrams from known sites. Pure: the
/// agent applies `script` with libnftables.
public struct HubTransit: Equatable, Sendable {
    public struct Spoke: Equatable, Sendable {
        public var name: String
        public var address: IPAddress
        public var mark: UInt32
    }

    public var segment: String
    public var port: UInt16
    public var spokes: [Spoke]
    /// The other hubs' addresses.
    public var hubs: [IPAddress]

    public static let hubMark: UInt32 = 0x4953_ffff
    public static let spokeMarkBase: UInt32 = 0x4953_0000

    public static func table(segment: String) -> String { "isthmus-hub-\(segment)" }
    public var table: String { Self.table(segment: segment) }

    /// The transit of `site` in `segment` (as `FleetShape.segment` made it), or nil when the site is not a hub of a
    /// hub fleet, or is alone.
    public static func of(_ fleet: FleetConfig, site: String, segment: SegmentConfig) -> HubTransit? {
        // A point-to-point segment's hub forwards in its bridge (a port per spoke): no table, no hairpin.
        guard segment.kind == .vxlan, case let .hub(hubNames) = fleet.registry.topology, hubNames.contains(site) else { return nil }
        var spokes: [Spoke] = []
        var hubs: [IPAddress] = []
        for s in segment.sites.sorted(by: { $0.name < $1.name }) where s.name != site {
            if hubNames.contains(s.name) { hubs.append(s.address); continue }
            spokes.append(Spoke(name: s.name, address: s.address, mark: spokeMarkBase + UInt32(spokes.count + 1)))
        }
        guard !spokes.isEmpty || !hubs.isEmpty else { return nil }
        return HubTransit(segment: segment.name, port: segment.port ?? 4789, spokes: spokes, hubs: hubs)
    }

    /// The whole table, replaced atomically (declare, delete, define).
    public var script: String {
        "table inet \(table)\ndelete table inet \(table)\ntable inet \(table) {\n  \(fingerprint)\n" + body + "}\n"
    }

    /// The table's comment: the segment and a hash of the rules. nft lists it verbatim, so a listing that contains it
    /// is this table (a spoke that came, moved or left changes the hash).
    public var fingerprint: String {
        return "comment \"managed by isthmus: segment \(segment), hub transit \(SiteConfig.fnv1a64Hex(body))\""
    }

    var body: String {
        var pre = "", out = ""
        for (family, ipx) in [("v4", "ip"), ("v6", "ip6")] {
            let s = spokes.filter { ($0.address.isV6 ? "v6" : "v4") == family }
            let h = hubs.filter { ($0.isV6 ? "v6" : "v4") == family }
            guard !s.isEmpty || !h.isEmpty else { continue }
            let map = (s.map { "\($0.address) : \(hex($0.mark))" } + h.map { "\($0) : \(hex(Self.hubMark))" }).joined(separator: ", ")
            pre += "    udp dport \(port) meta mark set \(ipx) saddr map { \(map) }\n"
            if !s.isEmpty {
                let pairs = s.map { "\($0.address) . \(hex($0.mark))" }.joined(separator: ", ")
                out += "    udp dport \(port) \(ipx) daddr . meta mark { \(pairs) } counter name \"echo_dropped\" drop\n"
            }
        }
        return """
              counter echo_dropped { }
              counter hub_dropped { }
              chain transit-in {
                type filter hook prerouting priority raw; policy accept;
            \(pre)  }
              chain transit-out {
                type filter hook output priority raw; policy accept;
                udp dport \(port) meta mark \(hex(Self.hubMark)) counter name "hub_dropped" drop
            \(out)  }

            """
    }

    public static func deleteScript(segment: String) -> String {
        "table inet \(table(segment: segment))\ndelete table inet \(table(segment: segment))\n"
    }

    func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
}
