#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Dataplane
import DataplaneWire
import IPCommand
import IsthmusMetrics
import LinkValues
import Netlink
import NetlinkWire

/// `tunnel run NAME [mtu MTU] type KIND ARGS`: the userspace data plane in the foreground. ARGS are exactly the
/// words of `ip link add NAME type KIND ARGS` (vxlan, gretap, ip6gretap, gre, ip6gre, ipip, sit, ip6tnl), or for
/// `l2tpv3` those of `ip l2tp add tunnel` and `ip l2tp add session` together — so switching between the kernel's
/// data plane and this one changes the command, not the parameters. Creates the TAP/TUN device NAME, runs until
/// SIGINT/SIGTERM, then removes the device (unless it existed before) and its status socket.
public enum TunnelRun {
    public static let kinds = TunnelCommand.runKinds

    static let usage = """
        usage: isthmus tunnel run NAME [ mtu MTU ] [ metrics ADDR:PORT ] [ verbose ] type KIND [ ARGS ]
               KIND := \((kinds + L2TPControlLink.kinds).joined(separator: " | "))
               ARGS: as for `ip link add NAME type KIND ...`; for l2tpv3, as for `ip l2tp add tunnel ...` and
               `ip l2tp add session ...` together (tunnel_id, peer_tunnel_id, session_id, peer_session_id,
               encap udp|ip, local, remote, udp_sport, udp_dport, cookie, peer_cookie, l2spec_type, seq)
               metrics ADDR:PORT: serve Prometheus metrics (GET /metrics) on ADDR:PORT ([ADDR]:PORT for IPv6),
               in the tunnel's namespace; verbose: debug lines in the log (each scrape)
        """

    /// Parses the words after `run` into an engine configuration (no side effects besides name lookups).
    public static func configuration(_ args: inout Arguments, _ session: Session) throws -> EngineConfiguration {
        var name: String?
        var mtu: Int?
        var kind: String?
        var typeIndex = args.index
        while let word = args.next() {
            switch word {
            case "type":
                typeIndex = args.index - 1
                kind = try args.value(for: "type", expected: "one of " + kinds.joined(separator: ", "))
            case "mtu":
                let v = try args.value(for: "mtu", expected: "an MTU (68..65535)")
                guard let m = Int(v), (68...65535).contains(m) else { throw UsageError.invalid(v, for: "mtu", expected: "an MTU (68..65535)") }
                mtu = m
            case "name", "dev":
                name = try args.interfaceName(for: word, expected: "the TAP/TUN device name")
            case "help": throw UsageError(usage)
            default:
                guard name == nil else {
                    throw args.unknown(word, validChoices: ["name", "mtu", "metrics", "verbose", "type"])
                }
                name = word
            }
            if kind != nil { break }
        }
        guard let name else { throw UsageError("tunnel run: missing NAME (the TAP/TUN device to create)\n" + usage) }
        try Arguments.checkInterfaceName(name, for: "name")
        guard let kind else { throw UsageError("tunnel run \(name): missing \"type KIND\" (KIND: \(kinds.joined(separator: ", ")))") }
        guard kinds.contains(kind) else { throw UsageError.invalid(kind, for: "type", expected: "one of " + kinds.joined(separator: ", ")) }
        var c: EngineConfiguration
        if kind == L2TPSessionLink.userspaceKind {
            c = try l2tpv3(name, &args)
        } else {
            // The words are those of `ip link add NAME type KIND`: the kind's parser writes its attributes, which
            // read back as the kind's value (and, for what the value does not carry, as the attributes themselves).
            guard let k = LinkKinds.find(kind) else { throw UsageError.invalid(kind, for: "type", expected: "one of " + kinds.joined(separator: ", ")) }
            let d = try kindData(k, &args, session)
            let value: (any RTLinkValue)? = SiteLink.decode(kind: kind, data: d)
            switch value {
            case let v as VXLANLink: c = try vxlan(name, v, d, session)
            case let g as GRELink: c = try gre(name, g, d, session)
            case let t as IPTunnelLink: c = try ipInIP(name, t, d, session)
            default: throw UsageError.invalid(kind, for: "type", expected: "one of " + kinds.joined(separator: ", "))
            }
        }
        c.mtu = mtu
        c.arguments = Array(args.words[typeIndex..<min(args.index, args.words.count)])
        return c
    }

    /// The underlay device (`dev`) of a kind's attributes, by name.
    static func device(_ d: [Attribute], _ type: some BinaryInteger, _ session: Session) throws -> String? {
        guard let i = d.first(type)?.u32, i != 0 else { return nil }
        guard let name = session.ifname(Int32(bitPattern: i)) else { throw UsageError("\"dev\": no interface with index \(i)") }
        return name
    }

    static func peer(_ a: IPAddress?, _ keyword: String, _ kind: String) throws -> PeerAddress {
        guard let a, !a.isUnspecified else {
            throw UsageError("tunnel run type \(kind): \"\(keyword) ADDR\" is required by the userspace data plane (it sends to one known peer)")
        }
        return PeerAddress(bytes: a.bytes)!
    }

    static func kindData(_ kind: any LinkKind, _ args: inout Arguments, _ session: Session) throws -> [Attribute] {
        var w = AttributeWriter()
        try kind.parse(&args, session: session, isAdd: true, into: &w)
        return try Attribute.parse(w.encoded()[...])
    }

    static func unsupported(_ what: String, _ kind: String) -> UsageError {
        UsageError("tunnel run type \(kind): \(what) is not supported by the userspace data plane (use `ip link add ... type \(kind)` with the kernel's)")
    }

    static func vxlan(_ name: String, _ v: VXLANLink, _ d: [Attribute], _ session: Session) throws -> EngineConfiguration {
        guard let vni = v.vni else { throw UsageError("tunnel run type vxlan: missing \"id VNI\"") }
        let remote = try peer(v.remote, "remote", "vxlan")
        if remote.isMulticast { throw unsupported("a multicast group (\(remote))", "vxlan") }
        let local = v.local.flatMap { PeerAddress(bytes: $0.bytes) }
        if let local, local.isV6 != remote.isV6 { throw UsageError("tunnel run type vxlan: \"local\" \(local) and \"remote\" \(remote) must be the same family") }
        let unsupportedAttrs: [(Int32, String)] = [
            (Int32(IFLA_VXLAN_GBP), "gbp"), (Int32(IFLA_VXLAN_GPE), "gpe"), (Int32(IFLA_VXLAN_REMCSUM_TX), "remcsumtx"),
            (Int32(IFLA_VXLAN_REMCSUM_RX), "remcsumrx"), (Int32(IFLA_VXLAN_RSC), "rsc"), (Int32(IFLA_VXLAN_L2MISS), "l2miss"),
            (Int32(IFLA_VXLAN_L3MISS), "l3miss"), (Int32(IFLA_VXLAN_PROXY), "proxy")]
        for (t, word) in unsupportedAttrs where (d.first(UInt16(t))?.u8 ?? 0) != 0 { throw unsupported("\"\(word)\"", "vxlan") }
        if d.first(IFLA_VXLAN_COLLECT_METADATA)?.u8 == 1 { throw unsupported("\"external\"", "vxlan") }
        // The kernel's default destination port is 8472 (iproute2 warns that it is not the IANA 4789).
        var dstport: UInt16 = 8472
        if let p = v.destinationPort, p != 0 { dstport = p }
        else { FileHandleErr.write("isthmus: vxlan: destination port not specified; using Linux kernel default 8472 (IANA: 4789)\n") }
        var range: ClosedRange<UInt16> = 32768...60999
        if let a = d.first(IFLA_VXLAN_PORT_RANGE), a.data.count == 4 {
            let b = Array(a.data)
            let lo = UInt16(b[0]) << 8 | UInt16(b[1]), hi = UInt16(b[2]) << 8 | UInt16(b[3])
            if lo <= hi && lo != 0 { range = lo...hi }
        }
        var ttl: Int? = nil
        if let t = d.first(IFLA_VXLAN_TTL)?.u8, t != 0 { ttl = Int(t) }
        let s = SessionConfig(name: name, encapsulation: .vxlan(vni: vni), ethernet: true, peers: [remote])
        var details: [(String, String)] = [("id", "\(vni)"), ("remote", "\(remote)")]
        if let local { details.append(("local", "\(local)")) }
        details.append(("dstport", "\(dstport)"))
        details.append(("srcport", "\(range.lowerBound) \(range.upperBound)"))
        var c = EngineConfiguration(name: name, kind: "vxlan", transport: .udp(localPort: dstport, remotePort: dstport), local: local,
                                    ipv6: remote.isV6, sessions: [s], sourcePorts: range, ttl: ttl, details: details)
        c.device = try device(d, IFLA_VXLAN_LINK, session)
        if let dev = c.device { c.details.append(("dev", dev)) }
        return c
    }

    static func gre(_ name: String, _ g: GRELink, _ d: [Attribute], _ session: Session) throws -> EngineConfiguration {
        let kind = g.kind
        // Keys in each direction, checksums and sequence numbers: more than a site states, all in the family's codec.
        let p = TunnelParameters(decoding: d, family: g.variant.family)
        if p.external { throw unsupported("\"external\"", kind) }
        let remote = try peer(p.remote, "remote", kind)
        let local = p.local.flatMap { PeerAddress(bytes: $0.bytes) }
        if remote.isMulticast { throw unsupported("a multicast remote (\(remote))", kind) }
        let key = UInt16(ISTHMUS_GRE_KEY), csum = UInt16(ISTHMUS_GRE_CSUM), seq = UInt16(ISTHMUS_GRE_SEQ)
        let o = GREOptions(inKey: p.iflags & key != 0 ? p.ikey : nil, outKey: p.oflags & key != 0 ? p.okey : nil,
                           inChecksum: p.iflags & csum != 0, outChecksum: p.oflags & csum != 0,
                           inSequence: p.iflags & seq != 0, outSequence: p.oflags & seq != 0)
        let ethernet = g.variant.isEthernet
        var transport = Transport.ip(protocolNumber: WireNumbers.ipprotoGRE)
        var sourcePorts: ClosedRange<UInt16>? = nil
        var details: [(String, String)] = [("remote", "\(remote)")]
        if let local { details.append(("local", "\(local)")) }
        if let k = o.inKey { details.append(("ikey", "\(k)")) }
        if let k = o.outKey { details.append(("okey", "\(k)")) }
        for (flag, word) in [(o.inChecksum, "icsum"), (o.outChecksum, "ocsum"), (o.inSequence, "iseq"), (o.outSequence, "oseq")] where flag {
            details.append((word, "on"))
        }
        switch Int(p.encap.type) {
        case Int(TUNNEL_ENCAP_NONE.rawValue): break
        case Int(TUNNEL_ENCAP_FOU.rawValue):
            // GRE directly in UDP: RFC 8086 GRE-in-UDP, the kernel's `encap fou`. We listen on encap-dport, as a
            // peer kernel's `ip fou add port PORT ipproto 47` does.
            guard p.encap.dport != 0 else { throw UsageError("tunnel run type \(kind): \"encap fou\" needs \"encap-dport PORT\" (GRE-in-UDP's IANA port is 4754)") }
            transport = .udp(localPort: p.encap.dport, remotePort: p.encap.dport)
            sourcePorts = p.encap.sport == 0 ? 32768...60999 : p.encap.sport...p.encap.sport
            details.append(("encap", "fou"))
            details.append(("encap-dport", "\(p.encap.dport)"))
            details.append(("encap-sport", p.encap.sport == 0 ? "auto" : "\(p.encap.sport)"))
        default: throw unsupported("\"encap gue\"", kind)
        }
        let s = SessionConfig(name: name, encapsulation: .gre(o), ethernet: ethernet, peers: [remote])
        var c = EngineConfiguration(name: name, kind: kind, transport: transport, local: local, ipv6: remote.isV6, sessions: [s],
                                    sourcePorts: sourcePorts, ttl: p.ttl == 0 ? nil : Int(p.ttl), details: details)
        c.device = try device(d, IFLA_GRE_LINK, session)
        if let dev = c.device { c.details.append(("dev", dev)) }
        return c
    }

    static func ipInIP(_ name: String, _ t: IPTunnelLink, _ d: [Attribute], _ session: Session) throws -> EngineConfiguration {
        let kind = t.kind
        let p = TunnelParameters(decoding: d, family: t.variant.family)
        if p.external { throw unsupported("\"external\"", kind) }
        if p.encap.type != UInt16(TUNNEL_ENCAP_NONE.rawValue) { throw unsupported("\"encap fou|gue\"", kind) }
        let remote = try peer(p.remote, "remote", kind)
        let local = p.local.flatMap { PeerAddress(bytes: $0.bytes) }
        let proto = d.first(IFLA_IPTUN_PROTO)?.u8
        let v4: Bool, v6: Bool
        switch t.variant {
        case .ipip:
            // 0 ("any") also carries MPLS in the kernel; here IPv4 only.
            guard proto == nil || proto == UInt8(IPPROTO_IPIP) || proto == 0 else { throw unsupported("\"mode mplsip\"", kind) }
            v4 = true; v6 = false
        case .sit:
            v4 = proto == UInt8(IPPROTO_IPIP) || proto == 0
            v6 = proto == nil || proto == UInt8(IPPROTO_IPV6) || proto == 0
        case .ip6tnl:   // ip6ip6 by default
            v4 = proto == UInt8(IPPROTO_IPIP) || proto == 0
            v6 = proto == nil || proto == UInt8(IPPROTO_IPV6) || proto == 0
        }
        let s = SessionConfig(name: name, encapsulation: .ipInIP(allowIPv4: v4, allowIPv6: v6), ethernet: false, peers: [remote])
        var details: [(String, String)] = [("remote", "\(remote)")]
        if let local { details.append(("local", "\(local)")) }
        details.append(("mode", v4 && v6 ? "any" : v4 ? "ipip" : "ipv6"))
        var c = EngineConfiguration(name: name, kind: kind, transport: .ip(protocolNumber: v6 && !v4 ? WireNumbers.ipprotoIPv6 : WireNumbers.ipprotoIPIP),
                                    local: local, ipv6: remote.isV6, sessions: [s], ttl: p.ttl == 0 ? nil : Int(p.ttl), details: details)
        c.device = try device(d, IFLA_IPTUN_LINK, session)
        if let dev = c.device { c.details.append(("dev", dev)) }
        return c
    }

    static func l2tpv3(_ name: String, _ args: inout Arguments) throws -> EngineConfiguration {
        var p = try L2TPParameters.parse(&args)
        p.tunnel = true; p.session = true
        if let n = p.ifname, n != name {
            throw UsageError("tunnel run \(name) type l2tpv3: \"name \(n)\" differs from the device name \(name)")
        }
        for (v, kw) in [(p.tunnelID, "tunnel_id"), (p.peerTunnelID, "peer_tunnel_id"), (p.sessionID, "session_id"), (p.peerSessionID, "peer_session_id")] where v == 0 {
            throw p.missing(kw, "ID (1..4294967295)")
        }
        guard let remoteIP = p.remote else { throw p.missing("remote", "the remote IPv4 or IPv6 address") }
        guard let localIP = p.local else { throw p.missing("local", "the local IPv4 or IPv6 address") }
        guard localIP.isV6 == remoteIP.isV6 else { throw UsageError("\"local\" \(localIP) and \"remote\" \(remoteIP) must both be IPv4 or both IPv6") }
        if p.encap == .udp {
            guard p.localPort != 0 else { throw p.missing("udp_sport", "the local UDP port (1..65535)") }
            guard p.remotePort != 0 else { throw p.missing("udp_dport", "the remote UDP port (1..65535)") }
        }
        if p.sendSeq && p.l2specType == .none {
            throw UsageError("tunnel run type l2tpv3: \"seq send\" needs \"l2spec_type default\" (sequence numbers live in the L2-specific sublayer)")
        }
        let remote = PeerAddress(bytes: remoteIP.bytes)!, local = PeerAddress(bytes: localIP.bytes)!
        let o = L2TPv3Options(sessionID: p.sessionID, peerSessionID: p.peerSessionID, cookie: p.cookie ?? [], peerCookie: p.peerCookie ?? [],
                              defaultL2SpecificSublayer: p.l2specType != .none, sendSequence: p.sendSeq, receiveSequence: p.recvSeq)
        let s = SessionConfig(name: name, encapsulation: .l2tpv3(o), ethernet: true, peers: [remote])
        var details: [(String, String)] = [("tunnel_id", "\(p.tunnelID)"), ("peer_tunnel_id", "\(p.peerTunnelID)"),
                                           ("session_id", "\(p.sessionID)"), ("peer_session_id", "\(p.peerSessionID)"),
                                           ("encap", p.encap == .udp ? "udp" : "ip"), ("local", "\(local)"), ("remote", "\(remote)")]
        if p.encap == .udp { details += [("udp_sport", "\(p.localPort)"), ("udp_dport", "\(p.remotePort)")] }
        if let c = p.cookie { details.append(("cookie", L2TPCommand.hex(c))) }
        if let c = p.peerCookie { details.append(("peer_cookie", L2TPCommand.hex(c))) }
        details.append(("l2spec_type", p.l2specType == .none ? "none" : "default"))
        details.append(("seq", p.sendSeq && p.recvSeq ? "both" : p.sendSeq ? "send" : p.recvSeq ? "recv" : "none"))
        let transport: Transport = p.encap == .udp ? .udp(localPort: p.localPort, remotePort: p.remotePort) : .ip(protocolNumber: WireNumbers.ipprotoL2TP)
        return EngineConfiguration(name: name, kind: "l2tpv3", transport: transport, local: local, ipv6: remote.isV6,
                                   sessions: [s], details: details)
    }

    // MARK: running

    /// Runs the engine until SIGINT or SIGTERM.
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        // `NAME type l2tp-control ...`: a pseudowire of the L2TP control protocol, not an engine.
        let r = args.remaining
        if let t = r.firstIndex(of: "type"), t + 1 < r.count, r[t + 1] == "l2tp-control" {
            let before = r[..<t].filter { $0 != "name" && $0 != "dev" }
            guard before.count == 1, let name = before.first, Arguments.isInterfaceName(name) else {
                throw UsageError("usage: isthmus tunnel run NAME type l2tp-control ARGS (see TunnelRunControl)")
            }
            var rest = Arguments(Array(r[(t + 2)...]))
            try TunnelRunControl.run(name: name, &rest, session)
            return
        }
        let metrics = try takeMetrics(&args)
        ProcessLog.shared.verbose = takeVerbose(&args)
        let config = try configuration(&args, session)
        try session.flush()
        let signals = try StopSignals()
        defer { signals.close() }

        // The metrics socket is opened in the tunnel's namespace before anything else (an address in use changes
        // nothing); its thread reads the engine's counters at scrape time, once started below.
        let running = RunningEngine()
        let metricsServer = try metrics.map { address in
            try NetworkNamespace.with(session.options.netns) {
                let exporter = MetricsExporter()
                return try MetricsServer(address: address) { exporter.render(running.engine.map(samples) ?? []) }
            }
        }
        defer { metricsServer?.stop() }
        let (engine, server) = try NetworkNamespace.with(session.options.netns) { () throws -> (Engine, StatusServer) in
            try StatusServer.ensureNotRunning(name: config.name, namespace: TunnelStatus.currentNamespace())
            let e = try Engine(config)
            let s = try StatusServer(engine: e, namespace: TunnelStatus.currentNamespace())
            return (e, s)
        }
        defer { server.shutdown() }
        warnAboutKernelHandlers(config)
        try engine.start()
        if let m = metricsServer {
            running.engine = engine   // set before the thread starts, read only by it
            m.start()
            ProcessLog.info("tunnel \(config.name): metrics on http://\(m.bound)/metrics")
        }
        let s0 = config.sessions[0]
        var where_ = config.local.map { "\($0)" } ?? "*"
        if let p = engine.boundPort { where_ += ":\(p)" }
        ProcessLog.info("userspace \(config.kind) tunnel \(config.name) running: \(s0.ethernet ? "TAP" : "TUN") \(s0.name) mtu \(engine.deviceMTUs[0]), local \(where_), peer \(s0.peers.map(\.description).joined(separator: ",")); SIGINT or SIGTERM stops it")
        var fds = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: server.fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let r = poll(&fds, 2, -1)
            if r < 0 { if errno == EINTR { continue }; break }
            if fds[0].revents != 0 { break }
            if fds[1].revents != 0 { server.serve() }
        }
        engine.stop()
        ProcessLog.info("tunnel \(config.name) stopped")
    }
}

/// The engine the metrics thread reads, once there is one.
final class RunningEngine: @unchecked Sendable {
    var engine: Engine?
}

extension TunnelRun {
    /// Where `keyword` is among the words before `type` (so it never collides with a kind's own keywords), unless it
    /// is the value of `name`/`dev` (a device named "metrics" is `name metrics`).
    static func keywordIndex(_ keyword: String, in words: [String]) -> Int? {
        let end = words.firstIndex(of: "type") ?? words.count
        return words[..<end].indices.first { words[$0] == keyword && ($0 == 0 || !["name", "dev"].contains(words[$0 - 1])) }
    }

    /// Takes `metrics ADDR:PORT` from the words before `type`.
    package static func takeMetrics(_ args: inout Arguments) throws -> MetricsAddress? {
        var words = args.remaining
        let end = words.firstIndex(of: "type") ?? words.count
        guard let m = keywordIndex("metrics", in: words) else { return nil }
        guard m + 1 < end else { throw UsageError("tunnel run: \"metrics\" needs ADDR:PORT (e.g. 127.0.0.1:9550)") }
        let address: MetricsAddress
        do { address = try MetricsAddress.parse(words[m + 1], option: "metrics") } catch { throw UsageError("tunnel run: \(error)") }
        words.removeSubrange(m...(m + 1))
        args = Arguments(words)
        return address
    }

    /// Takes `verbose` from the words before `type`.
    package static func takeVerbose(_ args: inout Arguments) -> Bool {
        var words = args.remaining
        guard let v = keywordIndex("verbose", in: words) else { return false }
        words.remove(at: v)
        args = Arguments(words)
        return true
    }

    /// The engine's counters as metric samples: per session and the engine's own (session "-").
    static func samples(_ e: Engine) -> [MetricSample] {
        let c = e.configuration
        var out: [MetricSample] = []
        for (i, s) in c.sessions.enumerated() { out += Families.dataplane(tunnel: c.name, session: s.name, e.counters[i].snapshot) }
        out += Families.dataplane(tunnel: c.name, session: "-", e.engineCounters.snapshot)
        return out
    }

    /// Over raw IP, this host's kernel still sees every datagram: when a module that handles the protocol is loaded
    /// and no kernel tunnel claims the packet, the kernel answers the peer with ICMP errors (seen with ip_gre and
    /// ipip), which can break the peer's traffic. Say so, with the fix.
    static func warnAboutKernelHandlers(_ c: EngineConfiguration) {
        guard case .ip(let proto) = c.transport else { return }
        let modules: [String]
        switch proto {
        case WireNumbers.ipprotoGRE: modules = ["ip_gre", "ip6_gre"]
        case WireNumbers.ipprotoIPIP, WireNumbers.ipprotoIPv6: modules = ["ipip", "sit", "ip6_tunnel"]
        default: modules = ["l2tp_ip", "l2tp_ip6"]
        }
        let loaded = modules.filter { access("/sys/module/\($0)", F_OK) == 0 }
        guard !loaded.isEmpty else { return }
        FileHandleErr.write("""
            isthmus: note: the kernel module\(loaded.count > 1 ? "s" : "") \(loaded.joined(separator: ", ")) \(loaded.count > 1 ? "are" : "is") loaded: \
            the kernel may answer IP protocol \(proto) packets that no kernel tunnel claims with ICMP errors to the peer; \
            unload \(loaded.count > 1 ? "them" : "it") or drop those ICMP errors (nftables) if the peer's traffic suffers

            """)
    }
}

/// Unbuffered writes to standard error.
enum FileHandleErr {
    static func write(_ s: String) {
        var b = Array(s.utf8)
        _ = b.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

extension PeerAddress {
    var isMulticast: Bool { isV6 ? (high >> 56) == 0xff : (high >> 60) == 0xe }
}
