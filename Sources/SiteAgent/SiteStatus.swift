import CLinuxUAPI
import Foundation
import IPCommand
import Netlink
import NetlinkWire
import Sites

/// `isthmus status`: what this host's side of the segment looks like now — the bridge and its ports, the tunnel (state,
/// counters, drops for userspace tunnels), the MTU and MSS in force against what the config computes, the filter
/// counters, and whether the host has drifted from the config (pending changes).
public struct SiteStatus {
    public struct Port { public var name: String; public var present: Bool; public var up: Bool; public var enslaved: Bool }
    public var site: Site
    public var bridge: (name: String, present: Bool, up: Bool, mtu: Int)?
    public var ports: [Port]
    public var tunnel: (name: String, present: Bool, up: Bool, mtu: Int, kind: String)
    /// A registry's point-to-point segment: its tunnel to each peer (then `tunnel` is the first of them, or with no
    /// peer a placeholder that is not shown).
    public struct PairTunnel {
        public var name: String; public var peer: String; public var present: Bool; public var up: Bool; public var mtu: Int
        public var isolated: Bool?; public var counters: [(String, UInt64)]
    }
    public var pairs: [PairTunnel]? = nil
    /// rx/tx packets and bytes of the tunnel device.
    public var counters: [(String, UInt64)]
    /// Userspace tunnels: drops by reason, from the engine.
    public var drops: [(String, UInt64)]
    public var filterCounters: [(String, UInt64, UInt64)]
    public var filtersPresent: Bool
    public var pending: [String]
    /// A managed L2TPv3 segment: its control connection and session, as its agent reports them.
    public var control: [String] = []
    /// Each peer's liveness: the round trip of an ICMP echo to its underlay address (nil: no answer); for a managed
    /// L2TPv3 segment, whether its control connection is established (HELLOs keep it so).
    public var peers: [(name: String, address: String, rttMS: Double?)] = []
    /// `encryption = "ipsec"`: our IKE SAs as charon lists them; when none has an installed CHILD SA, why not (an
    /// initiation tried by `status` itself, its log classified), or charon's own error.
    public var ipsec: [IKESide.SAStatus] = []
    public var ipsecFailure: (reason: IKEFailure, line: String)?
    public var ipsecError: String?
    public var ipsecUp: Bool { ipsec.contains { $0.state == "ESTABLISHED" && $0.children.contains { $0.state == "INSTALLED" } } }

    /// The verdict `status` exits with, most severe first. 0: up, in sync, every peer answers.
    public enum Health: Int32 {
        case healthy = 0
        /// The bridge, a LAN port or the tunnel is missing or down; with `encryption = "ipsec"`, no CHILD SA is
        /// installed (the trap policies hold the tunnel's packets).
        case down = 4
        /// Changes are pending (drift from the config).
        case drifted = 5
        /// A peer does not answer (no echo reply; for L2TPv3 control, no established connection).
        case peerUnreachable = 6

        public var word: String {
            switch self {
            case .healthy: return "healthy"
            case .down: return "down"
            case .drifted: return "drifted"
            case .peerUnreachable: return "peer unreachable"
            }
        }
    }

    public var health: Health {
        let bridgeDown = bridge.map { !$0.present || !$0.up } ?? false
        let tunnelDown = pairs.map { $0.contains { !$0.present || !$0.up } } ?? (!tunnel.present || !tunnel.up)
        if bridgeDown || tunnelDown || ports.contains(where: { !$0.present || !$0.enslaved }) { return .down }
        // An encrypted segment without its SA carries nothing (the trap policies hold the packets).
        if site.side.ipsec != nil && !ipsecUp { return .down }
        if !pending.isEmpty { return .drifted }
        if peers.contains(where: { $0.rttMS == nil }) { return .peerUnreachable }
        return .healthy
    }

    public static func gather(_ r: Reconciler) throws -> SiteStatus {
        let site = r.site
        let observed = try r.observe()
        let d = site.desired
        let t = observed[d.tunnel.name]
        var st = SiteStatus(
            site: site,
            bridge: d.bridge.map { b in (b.name, observed[b.name] != nil, observed[b.name]?.up ?? false, observed[b.name]?.mtu ?? 0) },
            ports: d.ports.map { p in Port(name: p.name, present: observed[p.name] != nil, up: observed[p.name]?.up ?? false,
                                           enslaved: observed[p.name]?.master == p.master) },
            tunnel: (d.tunnel.name, t != nil, t?.up ?? false, t?.mtu ?? 0, t?.kind ?? ""),
            counters: [], drops: [], filterCounters: [], filtersPresent: false, pending: [])
        if t != nil && d.pairPrefix == nil { st.counters = try Self.linkCounters(d.tunnel.name, site.session()) }
        if d.pairPrefix != nil {
            var pairs: [PairTunnel] = []
            for peer in site.side.peers {
                let name = DesiredState.pairTunnelName(segment: site.config.name, peer: peer.name)
                let o = observed[name]
                pairs.append(PairTunnel(name: name, peer: peer.name, present: o != nil, up: o?.up ?? false, mtu: o?.mtu ?? 0,
                                            isolated: o?.isolated, counters: o != nil ? try Self.linkCounters(name, site.session()) : []))
            }
            st.pairs = pairs
        }
        for tunnel in d.tunnels where tunnel.isUserspace {
            guard let report = try r.processes.report(name: tunnel.name) else { continue }
            for line in report.split(separator: "\n") {
                if tunnel.isManaged, line.hasPrefix("detail control ") || line.hasPrefix("detail session ") {
                    st.control.append(String(line.dropFirst(7)))
                }
                let w = line.split(separator: " ")
                guard w.count == 4, w[0] == "counter", w[2].hasPrefix("drop_"), let v = UInt64(w[3]) else { continue }
                if let i = st.drops.firstIndex(where: { $0.0 == String(w[2]) }) { st.drops[i].1 += v } else { st.drops.append((String(w[2]), v)) }
            }
        }
        try NFTables.inNamespace(site.netns) {
            let n = try NFTables()
            guard try n.ruleset(site.filters) != nil else { return }
            st.filtersPresent = true
            let c = try n.counters(site.filters)
            st.filterCounters = site.filters.counterNames.map { ($0, c[$0]?.packets ?? 0, c[$0]?.bytes ?? 0) }
        }
        if let ike = r.ike {
            do {
                st.ipsec = try ike.status()
                if !st.ipsecUp {
                    if let f = try ike.initiate() { st.ipsecFailure = f } else { st.ipsec = try ike.status() }
                }
            } catch {
                st.ipsecError = error.description
            }
        }
        st.pending = try r.plan().lines
        if d.tunnel.isManaged {
            // The control connection is the liveness signal: HELLOs (RFC 3931 §4.4) end it when the peer is gone.
            let established = st.control.contains { $0.contains("established") }
            st.peers = site.side.peers.map { ($0.name, "\($0.address)", established ? 0 : nil) }
        } else {
            st.peers = site.side.peers.map { ($0.name, "\($0.address)", HostChecks.probe($0.address, netns: site.netns)) }
        }
        return st
    }

    /// IFLA_STATS64's first four counters.
    static func linkCounters(_ name: String, _ session: Session) throws -> [(String, UInt64)] {
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, name)
        let msg = try RTMessage.link(RTM_GETLINK, flags: .request, header: IfInfoHeader(), attributes: w)
        guard let m = try session.rtnl().request(msg, operation: "RTM_GETLINK \(name)").first, let l = try? LinkMessage(m),
              let s = l.attributes.first(IFLA_STATS64)?.data, s.count >= 32 else { return [] }
        func u64(_ i: Int) -> UInt64 {
            var v: UInt64 = 0
            for b in 0..<8 { v |= UInt64(s[s.startIndex + i * 8 + b]) << (8 * UInt64(b)) }
            return v
        }
        return [("rx_packets", u64(0)), ("tx_packets", u64(1)), ("rx_bytes", u64(2)), ("tx_bytes", u64(3))]
    }

    /// A round trip in milliseconds with three decimals ("0.412 ms").
    static func milliseconds(_ ms: Double, unit: Bool = true) -> String {
        let micro = Int((ms * 1000).rounded())
        let frac = String(micro % 1000)
        return "\(micro / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac + (unit ? " ms" : "")
    }

    /// "rx N pkts SIZE, tx N pkts SIZE" from a device's counters (`linkCounters`), or nil without them.
    static func traffic(_ counters: [(String, UInt64)]) -> String? {
        let k = Dictionary(counters, uniquingKeysWith: +)
        guard let rp = k["rx_packets"], let tp = k["tx_packets"] else { return nil }
        return "rx \(rp) pkts \(TextTable.bytes(k["rx_bytes"] ?? 0)), tx \(tp) pkts \(TextTable.bytes(k["tx_bytes"] ?? 0))"
    }

    static func countersJSON(_ counters: [(String, UInt64)]) -> JSON {
        var k = JSONObject(); for (n, v) in counters { k.set(n, v) }; return k.json
    }

    /// The userspace engines' drops by reason (without the `drop_` prefix), or nil when there are none.
    var dropsJSON: JSON? {
        guard !drops.isEmpty else { return nil }
        var d = JSONObject(); for (n, v) in drops { d.set(String(n.dropFirst(5)), v) }; return d.json
    }

    func state(_ present: Bool, _ up: Bool) -> String { !present ? "MISSING" : up ? "up" : "DOWN" }

    /// The text `status` prints: the verdict first, then a table of the devices (bridge, LAN ports, tunnel, and a
    /// managed tunnel's control connection and session) and one of the peers, then the MTU, filters and drift.
    public var text: [String] {
        let s = site.side, c = site.config
        var out: [String] = []
        let peers = s.peers.map { "\($0.name) \($0.address)" }.joined(separator: ", ")
        out.append("segment \(c.name): \(c.kind.rawValue)\(c.encap.map { "/\($0.rawValue)" } ?? ""), \(site.dataplane.rawValue) data plane"
                   + (site.dataplaneReason.map { " (\($0))" } ?? ""))
        out.append("site \(s.site) \(s.localAddress); peer\(s.peers.count == 1 ? "" : "s") \(peers)")
        out.append("health: \(health.word)" + (health == .healthy ? "" : " (exit status \(health.rawValue))"))
        out.append("")
        var devices = TextTable(["DEVICE", "ROLE", "STATE", "MTU", "DETAIL"])
        if let b = bridge {
            devices.add([b.name, "bridge", state(b.present, b.up), b.present ? "\(b.mtu)" : "", "\(ports.count) LAN port\(ports.count == 1 ? "" : "s") + "
                         + (pairs.map { "\($0.count) tunnel\($0.count == 1 ? "" : "s") (one per peer)" } ?? "the tunnel")])
        }
        for p in ports {
            devices.add([p.name, "LAN port", p.present ? (p.enslaved ? state(true, p.up) : "NOT ENSLAVED") : "MISSING", "",
                         bridge.map { "port of \($0.name)" } ?? ""])
        }
        if let pairs {
            let kind = site.dataplane == .userspace ? "userspace " + c.kind.rawValue : c.kind.rawValue
            for p in pairs {
                let detail = [kind] + (p.isolated == true ? ["isolated"] : []) + [Self.traffic(p.counters)].compactMap { $0 }
                devices.add([p.name, "tunnel to \(p.peer)", state(p.present, p.up), p.present ? "\(p.mtu)" : "", detail.joined(separator: "; ")])
            }
        } else {
            var detail: [String] = []
            if tunnel.present { detail.append(site.desired.tunnel.isManaged ? tunnel.kind : site.desired.tunnel.isUserspace ? "userspace" : tunnel.kind) }
            if site.desired.tunnel.isManaged && !tunnel.present { detail.append("no session yet") }
            if let t = Self.traffic(counters) { detail.append(t) }
            devices.add([tunnel.name, "tunnel", state(tunnel.present, tunnel.up), tunnel.present ? "\(tunnel.mtu)" : "", detail.joined(separator: "; ")])
        }
        if site.desired.tunnel.isManaged {
            // The agent's lines: "control STATE peer ADDR ids L/P [up AGE]", "session STATE ids L/P".
            if control.isEmpty { devices.add(["", "control", "NOT RUNNING", "", "its agent does not answer"]) }
            for line in control {
                let w = line.split(separator: " ", maxSplits: 2).map(String.init)
                guard w.count >= 2 else { continue }
                let waiting = line.hasPrefix("control waiting")
                devices.add(["", w[0], waiting ? "waiting" : w[1], "", waiting ? "for the peer" : w.count > 2 ? w[2] : ""])
            }
        }
        out += devices.lines
        let nonzero = drops.filter { $0.1 > 0 }
        if !drops.isEmpty { out.append("  drops: " + (nonzero.isEmpty ? "none" : nonzero.map { "\($0.0.dropFirst(5)) \($0.1)" }.joined(separator: ", "))) }
        out.append("")
        var peerTable = TextTable(["PEER", "ADDRESS", "STATE", "DETAIL"])
        for p in self.peers {
            let managed = site.desired.tunnel.isManaged
            peerTable.add([p.name, p.address, p.rttMS != nil ? "reachable" : "UNREACHABLE",
                           managed ? (p.rttMS != nil ? "control connection established" : "no established control connection")
                                   : (p.rttMS.map { "echo \(Self.milliseconds($0))" } ?? "no echo reply within 1 s")])
        }
        out += peerTable.lines
        out.append("")
        if let conn = s.ipsec {
            out.append("ipsec: \(conn.summary)")
            if let e = ipsecError { out.append("  ERROR: \(e)") }
            var t = TextTable(["SA", "STATE", "ALGORITHMS", "REKEY IN", "DETAIL"])
            for sa in ipsec {
                t.add(["IKE", sa.state, sa.ikeAlgorithms, sa.rekeyIn.map { "\($0)s" } ?? "", sa.established.map { "established \($0)s ago" } ?? ""])
                for ch in sa.children {
                    t.add(["CHILD", ch.state, "ESP \(ch.algorithm) \(ch.mode.lowercased())", ch.rekeyIn.map { "\($0)s" } ?? "",
                           "spi in \(ch.spiIn) out \(ch.spiOut); in \(ch.packetsIn) pkts \(TextTable.bytes(ch.bytesIn)), out \(ch.packetsOut) pkts \(TextTable.bytes(ch.bytesOut))"])
                }
            }
            if ipsec.isEmpty { t.add(["IKE", "NONE", "", "", ipsecError == nil ? "no IKE SA" : "charon unavailable"]) }
            out += t.lines
            if let f = ipsecFailure { out.append("  IKE FAILED: \(f.reason.rawValue) — charon: \(f.line)") }
            out.append("")
        }
        let p = s.mtuPlan
        out.append("mtu: underlay \(p.underlayMTU) - overhead \(p.totalOverhead) = \(p.tunnelMTU) unfragmented; tunnel mtu \(s.tunnelMTU)"
                   + (s.outerFragmentation ? " (larger packets are fragmented outside)" : "")
                   + (s.mssIPv4.map { "; TCP MSS clamp \($0) (IPv4) / \(s.mssIPv6 ?? 0) (IPv6)" } ?? "; no MSS clamp"))
        if !site.filters.script.isEmpty {
            let fc = filterCounters.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            out.append("filters: nft \(site.filters.family) \(site.filters.table) " + (filtersPresent ? "loaded" + (fc.isEmpty ? "" : "; " + fc) : "MISSING"))
        }
        if pending.isEmpty {
            out.append("state: in sync with \(c.file)")
        } else {
            out.append("state: \(pending.count) change\(pending.count == 1 ? "" : "s") pending (isthmus up applies them):")
            out += pending.map { "  " + $0 }
        }
        return out
    }

    public var json: JSON {
        let s = site.side, c = site.config, p = s.mtuPlan
        var o = JSONObject()
        o.set("segment", c.name); o.set("site", s.site); o.set("kind", c.kind.rawValue)
        if let e = c.encap { o.set("encap", e.rawValue) }
        o.set("dataplane", site.dataplane.rawValue)
        if let r = site.dataplaneReason { o.set("dataplane_reason", r) }
        o.set("local", "\(s.localAddress)")
        o.set("peers", JSON.array(s.peers.map { pe in var j = JSONObject(); j.set("name", pe.name); j.set("address", "\(pe.address)"); return j.json }))
        if let b = bridge {
            var j = JSONObject(); j.set("name", b.name); j.set("present", b.present); j.set("up", b.up); j.set("mtu", b.mtu)
            j.set("ports", JSON.array(ports.map { pt in
                var x = JSONObject(); x.set("name", pt.name); x.set("present", pt.present); x.set("up", pt.up); x.set("enslaved", pt.enslaved); return x.json
            }))
            o.set("bridge", j.json)
        }
        if let pairs {
            o.set("tunnels", JSON.array(pairs.map { p in
                var j = JSONObject()
                j.set("name", p.name); j.set("peer", p.peer); j.set("present", p.present); j.set("up", p.up); j.set("mtu", p.mtu)
                if let i = p.isolated { j.set("isolated", i) }
                j.set("userspace", site.dataplane == .userspace)
                j.set("counters", Self.countersJSON(p.counters))
                return j.json
            }))
            if let d = dropsJSON { o.set("drops", d) }
        } else {
            var t = JSONObject()
            t.set("name", tunnel.name); t.set("present", tunnel.present); t.set("up", tunnel.up); t.set("mtu", tunnel.mtu)
            t.set("userspace", site.desired.tunnel.isUserspace && !site.desired.tunnel.isManaged)
            if site.desired.tunnel.isManaged { t.set("control", JSON.array(control.map { JSON.string($0) })) }
            t.set("counters", Self.countersJSON(counters))
            if let d = dropsJSON { t.set("drops", d) }
            o.set("tunnel", t.json)
        }
        var m = JSONObject()
        m.set("underlay_mtu", p.underlayMTU); m.set("overhead", p.totalOverhead); m.set("unfragmented_mtu", p.tunnelMTU)
        m.set("tunnel_mtu", s.tunnelMTU); m.set("outer_fragmentation", s.outerFragmentation)
        if let v = s.mssIPv4 { m.set("mss_ipv4", v) }
        if let v = s.mssIPv6 { m.set("mss_ipv6", v) }
        o.set("mtu", m.json)
        if let conn = s.ipsec {
            var j = JSONObject()
            j.set("connection", conn.name); j.set("esp", conn.settings.esp.rawValue); j.set("traffic_selector", conn.trafficSelector)
            j.set("established", ipsecUp)
            if let e = ipsecError { j.set("error", e) }
            if let f = ipsecFailure { j.set("failure", f.reason.rawValue); j.set("failure_log", f.line) }
            j.set("ike_sas", JSON.array(ipsec.map { sa in
                var x = JSONObject()
                x.set("state", sa.state); x.set("algorithms", sa.ikeAlgorithms)
                if let r = sa.rekeyIn, let n = Int(r) { x.set("rekey_in_s", n) }
                if let r = sa.established, let n = Int(r) { x.set("established_s", n) }
                x.set("child_sas", JSON.array(sa.children.map { ch in
                    var y = JSONObject()
                    y.set("state", ch.state); y.set("mode", ch.mode); y.set("algorithm", ch.algorithm)
                    y.set("spi_in", ch.spiIn); y.set("spi_out", ch.spiOut)
                    y.set("packets_in", ch.packetsIn); y.set("bytes_in", ch.bytesIn)
                    y.set("packets_out", ch.packetsOut); y.set("bytes_out", ch.bytesOut)
                    if let r = ch.rekeyIn, let n = Int(r) { y.set("rekey_in_s", n) }
                    return y.json
                }))
                return x.json
            }))
            o.set("ipsec", j.json)
        }
        var f = JSONObject()
        f.set("table", "\(site.filters.family) \(site.filters.table)"); f.set("present", filtersPresent)
        var fc = JSONObject()
        for (n, pk, by) in filterCounters { var x = JSONObject(); x.set("packets", pk); x.set("bytes", by); fc.set(n, x.json) }
        f.set("counters", fc.json)
        o.set("filters", f.json)
        o.set("peer_liveness", JSON.array(peers.map { p in
            var j = JSONObject(); j.set("name", p.name); j.set("address", p.address); j.set("reachable", p.rttMS != nil)
            if let r = p.rttMS, !site.desired.tunnel.isManaged { j.set("rtt_ms", JSON.number(Self.milliseconds(r, unit: false))) }
            return j.json
        }))
        o.set("health", health.word)
        o.set("exit_status", Int(health.rawValue))
        o.set("in_sync", pending.isEmpty)
        o.set("pending", JSON.array(pending.map { JSON.string($0) }))
        return o.json
    }
}
