import Netlink

/// The running userspace tunnels (`tunnel run`) of a namespace, as `tunnel show` lists them after the kernel's.
struct UserspaceTunnelReport: Equatable {
    struct SessionReport: Equatable {
        var name: String
        var ethernet: Bool
        var mtu: Int
        var peers: [String] = []
        var counters: [(String, UInt64)] = []
        static func == (a: SessionReport, b: SessionReport) -> Bool {
            a.name == b.name && a.ethernet == b.ethernet && a.mtu == b.mtu && a.peers == b.peers
                && a.counters.map(\.0) == b.counters.map(\.0) && a.counters.map(\.1) == b.counters.map(\.1)
        }
    }
    var name = ""
    var kind = ""
    var pid = 0
    var transport = ""
    var local: String?
    var port: Int?
    var details: [(String, String)] = []
    var sessions: [SessionReport] = []
    var engineCounters: [(String, UInt64)] = []

    static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.kind == b.kind && a.pid == b.pid && a.transport == b.transport && a.local == b.local
            && a.port == b.port && a.details.map(\.0) == b.details.map(\.0) && a.details.map(\.1) == b.details.map(\.1)
            && a.sessions == b.sessions && a.engineCounters.map(\.0) == b.engineCounters.map(\.0)
            && a.engineCounters.map(\.1) == b.engineCounters.map(\.1)
    }

    /// Parses the line format `TunnelStatus.report` writes; unknown lines are skipped.
    init(parsing text: String) {
        for line in text.split(separator: "\n") {
            let w = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard w.count >= 2 else { continue }
            switch w[0] {
            case "tunnel": name = w[1]
            case "kind": kind = w[1]
            case "pid": pid = Int(w[1]) ?? 0
            case "transport": transport = w[1] == "ip" && w.count > 2 ? "ip/\(w[2])" : w[1]
            case "local": local = w[1]
            case "port": port = Int(w[1])
            case "detail" where w.count >= 3: details.append((w[1], w[2...].joined(separator: " ")))
            case "session" where w.count >= 4: sessions.append(SessionReport(name: w[1], ethernet: w[2] == "ethernet", mtu: Int(w[3]) ?? 0))
            case "peer" where w.count >= 3:
                if let i = sessions.firstIndex(where: { $0.name == w[1] }) { sessions[i].peers.append(w[2]) }
            case "counter" where w.count >= 4:
                let v = UInt64(w[3]) ?? 0
                if w[1] == "-" { engineCounters.append((w[2], v)) }
                else if let i = sessions.firstIndex(where: { $0.name == w[1] }) { sessions[i].counters.append((w[2], v)) }
            default: continue
            }
        }
    }

    static func counter(_ list: [(String, UInt64)], _ key: String) -> UInt64 { list.first { $0.0 == key }?.1 ?? 0 }

    var text: [String] {
        var head = "\(name): \(kind)/\(transport)"
        for (k, v) in details { head += " \(k) \(v)" }
        head += " (userspace, pid \(pid))"
        var out = [head]
        for s in sessions {
            out.append("    dev \(s.name) \(s.ethernet ? "tap" : "tun") mtu \(s.mtu) peer \(s.peers.joined(separator: " "))")
            let c = s.counters
            out.append("    RX: packets \(Self.counter(c, "rx_packets")) bytes \(Self.counter(c, "rx_bytes"))")
            out.append("    TX: packets \(Self.counter(c, "tx_packets")) bytes \(Self.counter(c, "tx_bytes"))")
            let drops = c.filter { $0.0.hasPrefix("drop_") && $0.1 > 0 }.map { "\($0.0.dropFirst(5)) \($0.1)" }
            out.append("    drops: " + (drops.isEmpty ? "none" : drops.joined(separator: ", ")))
        }
        let other = engineCounters.filter { $0.0.hasPrefix("drop_") && $0.1 > 0 }.map { "\($0.0.dropFirst(5)) \($0.1)" }
        if !other.isEmpty { out.append("    other drops: " + other.joined(separator: ", ")) }
        return out
    }

    var json: JSON {
        var o = JSONObject()
        o.set("ifname", name)
        o.set("kind", kind)
        o.set("dataplane", "userspace")
        o.set("pid", pid)
        o.set("transport", transport)
        o.set("local", local)
        o.set("port", port)
        // Numbers stay numbers (ids, ports); cookies, addresses and words stay strings.
        let numeric: Set<String> = ["id", "tunnel_id", "peer_tunnel_id", "session_id", "peer_session_id", "udp_sport",
                                    "udp_dport", "dstport", "ikey", "okey", "encap-dport"]
        for (k, v) in details where k != "local" {
            o.set(k, numeric.contains(k) ? (UInt64(v).map { JSON($0) } ?? .string(v)) : .string(v))
        }
        func stats(_ c: [(String, UInt64)]) -> JSON {
            var s = JSONObject()
            for k in ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes"] { s.set(k, counter(c, k)) }
            var d = JSONObject()
            for (k, v) in c where k.hasPrefix("drop_") { d.set(String(k.dropFirst(5)), v) }
            s.set("drops", d.json)
            return s.json
        }
        func counter(_ c: [(String, UInt64)], _ k: String) -> UInt64 { Self.counter(c, k) }
        o.set("sessions", .array(sessions.map { s in
            var j = JSONObject()
            j.set("ifname", s.name)
            j.set("link_type", s.ethernet ? "ether" : "none")
            j.set("mtu", s.mtu)
            j.set("peers", .array(s.peers.map { .string($0) }))
            j.set("stats", stats(s.counters))
            return j.json
        }))
        var e = JSONObject()
        for (k, v) in engineCounters where k.hasPrefix("drop_") { e.set(String(k.dropFirst(5)), v) }
        o.set("other_drops", e.json)
        return o.json
    }

    /// The reports of the tunnels running in `netns` (nil: the current namespace).
    static func all(netns: String?) throws -> [UserspaceTunnelReport] {
        let ns = try NetworkNamespace.with(netns) { TunnelStatus.currentNamespace() }
        return TunnelStatus.queryAll(namespace: ns).map { UserspaceTunnelReport(parsing: $0.report) }
    }
}
