/// The nftables table of one segment on one site: what must not cross the tunnel (DHCP, IPv6 router discovery) and
/// the TCP MSS clamp for what does. Pure: it renders nft script text; `SiteAgent.NFTables` applies it.
///
/// Ethernet segments (the tunnel device is a port of `bridge`) get `table bridge isthmus-SEGMENT`:
///
/// ```
/// table bridge isthmus-lab {
///     comment "managed by isthmus: segment lab, rules 428c15b4b0491f82"   # FNV-1a-64 of what follows
///     counter dhcp_blocked { }              # declared only when the rules that use it are present
///     counter ra_blocked { }
///     counter mss_clamped { }
///     chain forward {                       # frames the bridge forwards between two ports
///         type filter hook forward priority filter; policy accept;
///         iifname "tun" jump tunnel
///         oifname "tun" jump tunnel
///     }
///     chain input {                         # frames from the tunnel to this host's own bridge interface
///         type filter hook input priority filter; policy accept;
///         iifname "tun" jump tunnel
///     }
///     chain output {                        # frames this host's bridge interface sends into the tunnel
///         type filter hook output priority filter; policy accept;
///         oifname "tun" jump tunnel
///     }
///     chain tunnel {                        # everything that crosses the tunnel port, in either direction
///         meta protocol ip udp dport { 67, 68 } counter name "dhcp_blocked" drop
///         meta protocol ip6 udp dport { 546, 547 } counter name "dhcp_blocked" drop
///         meta protocol ip6 icmpv6 type { nd-router-solicit, nd-router-advert } counter name "ra_blocked" drop
///         meta protocol ip tcp flags & (syn | rst) == syn tcp option maxseg size > 1410 counter name "mss_clamped" tcp option maxseg size set 1410
///         meta protocol ip6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1390 counter name "mss_clamped" tcp option maxseg size set 1390
///     }
/// }
/// ```
///
/// - Only frames that enter or leave through the tunnel port are looked at; LAN-to-LAN traffic inside one site never
///   reaches the `tunnel` chain. The bridge runs the forward hook once per output port (a flooded broadcast is
///   cloned per port), so a site's own DHCP broadcast still reaches its other LAN ports.
/// - `input`/`output` cover a DHCP server or router advertisement daemon running on the site host itself (on the
///   bridge interface): their traffic is delivered locally or originated locally and never passes the forward hook.
/// - DHCP: matching the destination port catches every message: client → server 68→67, server → client 67→68, relay
///   ↔ server 67→67; DHCPv6 client → server/relay 546→547, server → client 547→546, relay ↔ relay/server 547→547.
/// - `meta protocol` (the frame's protocol after any VLAN tag was taken off) rather than `ether type` (the first
///   EtherType on the wire, 0x8100 for a tagged frame), so tagged VLANs across the tunnel are filtered too.
/// - Router discovery: each site keeps its own IPv6 gateway. A host configures IPv6 from router advertisements (its
///   default router, SLAAC prefixes, and the M/O flags that send it to DHCPv6) and from DHCPv6 (addresses, DNS); if
///   either crosses, hosts at one site pick up the other site's router and prefix and send their traffic through the
///   tunnel (or nowhere when it is down). So RS/RA (133/134) and DHCPv6 are the pair to block. Neighbour
///   solicitations/advertisements (135/136) must cross for the shared segment to work; redirects (137) come only from
///   a router a host already uses, which, with RAs blocked, is never a router at another site.
///   Not covered: what the tunnel device's own IPv6 stack sends (a bridge port keeps its link-local address, and the
///   kernel solicits routers on it at link-up and again after 4 s, 8 s, ...). Those frames leave straight through
///   the port and pass no bridge hook; the other site's table drops them where they enter its bridge.
/// - MSS: SYN and SYN-ACK (SYN set, RST clear) crossing in either direction whose MSS option exceeds the clamp get
///   it lowered (the kernel rewrites the option and updates the TCP checksum incrementally). One counter,
///   `mss_clamped`, counts both families.
///
/// L3 segments (`ipip`, `gre`, `sit`: nothing is bridged) get `table inet isthmus-SEGMENT` with only the clamp: a
/// `forward` chain at `priority mangle` jumping to `tunnel` for `iifname`/`oifname` TUNNEL, where the rules match
/// `meta nfproto ipv4`/`ipv6` instead of `meta protocol`.
///
/// A ruleset with no rules (an L3 segment without a clamp, or an Ethernet segment that allows DHCP and RAs and does
/// not clamp) is no table at all: `script` is empty, `counterNames` is empty, and applying it removes the table.
///
/// `script` creates or replaces the table in one nft transaction (`add table` so that `delete table` cannot fail,
/// then the new definition), so the kernel never runs without the filters during an update.
public struct FilterRuleset: Equatable, Sendable {
    /// The segment name ([A-Za-z0-9._-], as the config validator allows).
    public var segment: String
    /// The bridge the tunnel port belongs to (Ethernet segments); nil for L3 tunnels.
    public var bridge: String?
    /// The tunnel device; with `tunnelPrefix`, the prefix every tunnel port's name begins with.
    public var tunnel: String
    /// A registry's point-to-point segment: one tunnel port per peer, all named `tunnel` + something, matched with
    /// nft's trailing wildcard (so the table does not change when peers come and go).
    public var tunnelPrefix = false
    /// What to block.
    public var filters: SegmentFilters
    /// The IPv4 MSS clamp (1...65535), or nil for none.
    public var mssIPv4: Int?
    /// The IPv6 MSS clamp (1...65535), or nil for none.
    public var mssIPv6: Int?
    /// Ethernet segments on the kernel's VXLAN with outer fragmentation: clear DF on IPv4 packets entering the
    /// tunnel. A kernel VXLAN device that is a bridge port answers a DF packet larger than its route MTU minus 50
    /// with "fragmentation needed" (skb_tunnel_check_pmtu) whatever its own MTU and `df unset`, so full 1500-byte
    /// frames would never cross a smaller underlay; with DF cleared the outer packet is fragmented instead, as for
    /// the other kinds. TCP is not affected: its SYNs are clamped to fit unfragmented. Counted in `df_cleared`.
    public var clearDF: Bool

    /// The ruleset for one segment: `bridge` non-nil for Ethernet segments; MSS values nil for no clamp.
    public init(segment: String, bridge: String?, tunnel: String, filters: SegmentFilters, mssIPv4: Int?, mssIPv6: Int?,
                clearDF: Bool = false) {
        self.segment = segment; self.bridge = bridge; self.tunnel = tunnel; self.filters = filters
        self.mssIPv4 = mssIPv4; self.mssIPv6 = mssIPv6; self.clearDF = clearDF && bridge != nil
    }

    /// The table's name: "isthmus-" + segment.
    public var table: String { "isthmus-" + segment }

    /// "bridge" for Ethernet segments, "inet" for L3 tunnels.
    public var family: String { bridge == nil ? "inet" : "bridge" }

    /// The rules of the `tunnel` chain, each with the named counter it uses, in chain order.
    private var rules: [(counter: String, rule: String)] {
        var r: [(String, String)] = []
        let ethernet = bridge != nil
        if ethernet, filters.dhcp == .block {
            r.append(("dhcp_blocked", "meta protocol ip udp dport { 67, 68 } counter name \"dhcp_blocked\" drop"))
            r.append(("dhcp_blocked", "meta protocol ip6 udp dport { 546, 547 } counter name \"dhcp_blocked\" drop"))
        }
        if ethernet, filters.routerAdvertisements == .block {
            r.append(("ra_blocked", "meta protocol ip6 icmpv6 type { nd-router-solicit, nd-router-advert } "
                + "counter name \"ra_blocked\" drop"))
        }
        for (mss, v4) in [(mssIPv4, true), (mssIPv6, false)] {
            guard let mss else { continue }
            let match = ethernet ? (v4 ? "meta protocol ip" : "meta protocol ip6")
                                 : (v4 ? "meta nfproto ipv4" : "meta nfproto ipv6")
            r.append(("mss_clamped", "\(match) tcp flags & (syn | rst) == syn tcp option maxseg size > \(mss) "
                + "counter name \"mss_clamped\" tcp option maxseg size set \(mss)"))
        }
        return r
    }

    /// The named counters the script declares, in a stable order (dhcp_blocked, ra_blocked, mss_clamped, df_cleared).
    public var counterNames: [String] {
        var names: [String] = []
        for (c, _) in rules where !names.contains(c) { names.append(c) }
        if clearDF { names.append("df_cleared") }
        return names
    }

    /// The nft script that creates or atomically replaces the table; empty when there are no rules (no table).
    public var script: String {
        let body = self.body
        guard !body.isEmpty else { return "" }
        let ft = "\(family) \(table)"
        return "add table \(ft)\ndelete table \(ft)\ntable \(ft) {\n\t\(Self.comment(segment: segment, body: body))\n" + body + "}\n"
    }

    /// The table's `comment` statement, which names the segment and a hash of the rules; nft lists it verbatim, so a
    /// listing of the table contains it exactly when the table was made from this ruleset (a new config changes the
    /// hash). Edits by hand inside the table that leave the comment alone are not seen. Empty when there is no table.
    public var fingerprint: String {
        let body = self.body
        return body.isEmpty ? "" : Self.comment(segment: segment, body: body)
    }

    /// The table's counters and chains, one statement a line (what follows the comment in `script`).
    private var body: String {
        let rules = self.rules
        guard !rules.isEmpty || clearDF else { return "" }
        let port = tunnelPrefix ? "\"" + tunnel + "*\"" : Self.quoted(tunnel)
        var s = ""
        for c in counterNames { s += "\tcounter \(c) {\n\t}\n" }
        let hooks: [(chain: String, hook: String, priority: String, jumps: [String])] = bridge != nil
            ? [("forward", "forward", "filter", ["iifname", "oifname"]),
               ("input", "input", "filter", ["iifname"]),
               ("output", "output", "filter", ["oifname"])]
            : [("forward", "forward", "mangle", ["iifname", "oifname"])]
        for h in hooks {
            s += "\tchain \(h.chain) {\n"
            s += "\t\ttype filter hook \(h.hook) priority \(h.priority); policy accept;\n"
            if !rules.isEmpty { for j in h.jumps { s += "\t\t\(j) \(port) jump tunnel\n" } }
            if clearDF && h.jumps.contains("oifname") {
                s += "\t\toifname \(port) meta protocol ip ip frag-off & 0x4000 != 0 counter name \"df_cleared\" "
                    + "ip frag-off set ip frag-off & 0xbfff\n"
            }
            s += "\t}\n"
        }
        if !rules.isEmpty {
            s += "\tchain tunnel {\n"
            for (_, rule) in rules { s += "\t\t\(rule)\n" }
            s += "\t}\n"
        }
        return s
    }

    /// `comment "managed by isthmus: segment SEG, rules HASH"` (HASH: FNV-1a-64 of the body, 16 hex digits; at most
    /// 116 bytes for a 64-byte segment name, within nft's 128).
    private static func comment(segment: String, body: String) -> String {
        return "comment \"managed by isthmus: segment \(segment), rules \(SiteConfig.fnv1a64Hex(body))\""
    }

    /// The nft script that removes the table (it fails with ENOENT when the table is absent).
    public var deleteScript: String { "delete table \(family) \(table)\n" }

    /// An interface name as an nft string. A trailing `*` would make it a wildcard, so it is escaped; a name with a
    /// double quote cannot be written in nft's syntax at all (nft then reports a syntax error).
    static func quoted(_ name: String) -> String {
        if name.hasSuffix("*") { return "\"" + name.dropLast() + "\\*\"" }
        return "\"" + name + "\""
    }
}
