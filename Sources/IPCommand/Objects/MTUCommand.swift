import Sites

/// `mtu KIND [underlay MTU] [ipv6] [cookie 0|4|8] [l2spec_type none|default] [key] [csum] [seq] [lan MTU] [esp [nat-t]]`:
/// explains what a tunnel adds, its MTU, whether full-size LAN packets need outer fragmentation, and the TCP MSS
/// clamp. Not an iproute2 object: Isthmus's own.
public enum MTUCommand {
    /// The encapsulations `mtu KIND` explains.
    static let kinds = TunnelOverhead.Kind.allCases.map(\.rawValue)
    static let keywords = ["underlay", "ipv6", "cookie", "l2spec_type", "key", "csum", "seq", "lan", "esp", "nat-t"]
    static var usage: String { Usage.mtu }

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        guard let word = args.next(), word != "help" else { throw UsageError(usage) }
        guard let kind = TunnelOverhead.Kind(rawValue: word) else {
            throw UsageError.invalid(word, for: "mtu", expected: "one of " + TunnelOverhead.Kind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var o = TunnelOverhead(kind: kind)
        var underlay = 1500, lan = 1500
        func mtu(_ kw: String) throws -> Int {
            let v = try args.value(for: kw, expected: "an MTU (68..65535)")
            guard let n = Int(v), (68...65535).contains(n) else { throw UsageError.invalid(v, for: kw, expected: "an MTU (68..65535)") }
            return n
        }
        while let w = args.next() {
            switch w {
            case "underlay": underlay = try mtu(w)
            case "lan": lan = try mtu(w)
            case "ipv6": o.ipv6Underlay = true
            case "cookie":
                let v = try args.value(for: w, expected: "0, 4 or 8")
                guard let n = Int(v), [0, 4, 8].contains(n) else { throw UsageError.invalid(v, for: w, expected: "0, 4 or 8 (bytes)") }
                o.cookie = n
            case "l2spec_type": o.l2specDefault = try args.choice(for: w, ["default", "none"]) == "default"
            case "key", "csum", "seq": o.greOptions += 1
            case "esp": o.esp = true
            case "nat-t": o.natTraversal = true
            default: throw args.unknown(w, validChoices: keywords)
            }
        }
        if o.cookie > 0 && !(kind == .l2tpv3UDP || kind == .l2tpv3IP) { throw UsageError("\"cookie\" applies to l2tpv3-udp and l2tpv3-ip only") }
        if o.greOptions > 0 && !(kind == .gretap || kind == .gre || kind == .greInUDP) { throw UsageError("\"key\", \"csum\" and \"seq\" apply to GRE kinds only") }
        if o.ipv6Underlay && !kind.allowsIPv6Underlay {
            throw UsageError("\"ipv6\" does not apply to sit: it carries IPv6 over an IPv4 underlay (over IPv6, use gre)")
        }
        if o.natTraversal && !o.esp { throw UsageError("\"nat-t\" applies with \"esp\" only (ESP in UDP 4500)") }
        let p = MTUPlan(overhead: o, underlayMTU: underlay, lanMTU: lan)
        // An underlay that cannot carry even a minimal IPv4 packet through the tunnel is an error, not a plan.
        if p.tunnelMTU < 68 {
            let least = MTUPlan(overhead: o, underlayMTU: o.bytes + 68).totalOverhead + 68
            throw UsageError("underlay MTU \(underlay) cannot carry the \(p.totalOverhead) bytes of \(kind.rawValue)\(o.esp ? " + ESP" : "") overhead plus a minimal IPv4 packet (68): it must be at least \(least)")
        }
        if session.options.json {
            var j = JSONObject()
            j.set("kind", kind.rawValue)
            j.set("underlay_mtu", underlay)
            j.set("underlay_family", o.ipv6Underlay ? "ipv6" : "ipv4")
            j.set("overhead", .array(o.parts.map { part in
                var x = JSONObject(); x.set("header", part.name); x.set("bytes", part.bytes); return x.json }))
            j.set("overhead_bytes", p.totalOverhead)
            if o.esp {
                j.set("esp", true)
                j.set("nat_traversal", o.natTraversal)
                j.set("esp_padding", p.espPadding)
            }
            j.set("tunnel_mtu", p.tunnelMTU)
            j.set("lan_mtu", lan)
            j.set("carries", .array((kind.carriesIPv4 ? [JSON.string("ipv4")] : []) + (kind.carriesIPv6 ? [JSON.string("ipv6")] : [])))
            // Ethernet tunnels fragment the outer packets of full frames; routed ones answer with ICMP instead.
            j.set("outer_fragmentation", kind.isEthernet && p.needsOuterFragmentation)
            j.set("icmp_too_big", !kind.isEthernet && p.needsOuterFragmentation)
            if kind.carriesIPv4 { j.set("mss_ipv4", p.mssIPv4) }
            if kind.carriesIPv6 { j.set("mss_ipv6", p.mssIPv6) }
            j.set("problems", .array(p.problems.map { .string($0) }))
            session.emit(j.json)
        } else {
            p.explanation.forEach(session.print)
        }
    }
}
