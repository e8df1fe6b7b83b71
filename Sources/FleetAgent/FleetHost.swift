import CLinuxUAPI
import Fleet
import Foundation
import IPCommand
import Netlink
import SiteAgent

/// A fleet file loaded on this host: the config, the site it is, where its status goes, and the I/O the agent needs
/// (the underlay address, the capabilities, its identity, the apply through SiteAgent's reconciler).
public struct FleetHost: Sendable {
    public var file: String
    public var fleet: FleetConfig
    public var site: String
    public var netns: String?

    public init(file: String, fleet: FleetConfig, site: String, netns: String?) {
        self.file = file; self.fleet = fleet; self.site = site; self.netns = netns
    }

    /// Whether `text` is a fleet file (it has a `[registry]` table), read with the TOML parser.
    public static func isFleetFile(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
              let root = try? TOML.parse(text, file: path) else { return false }
        return root["registry"] != nil
    }

    public static func load(file: String, site explicit: String?, netns: String?) throws(SiteError) -> FleetHost {
        let fleet = try Site.loadConfig(file: file, SiteConfig.loadFleet)
        switch fleet.pickSite(explicit: explicit, hostname: Site.hostname()) {
        case .success(let n): return FleetHost(file: file, fleet: fleet, site: n, netns: netns)
        case .failure(let e): throw SiteError(e.description)
        }
    }

    public var keys: RegistryKeys { RegistryKeys(prefix: fleet.registry.prefix, segment: fleet.segment.name) }

    /// This site at a registry view: the side derived and resolved (`Site.make`), peers as FDB entries.
    public func site(address: IPAddress, view: RegistryView) throws(SiteError) -> (Site, [FleetShape.Omission]) {
        let (segment, omitted) = FleetShape.segment(fleet, site: site, address: address, view: view)
        return (try make(segment), omitted)
    }

    /// The site a registry's segment makes here: a vxlan's peers are FDB entries of its one device; a point-to-point
    /// kind has a tunnel per peer, as bridge ports that are `isolated` where forwarding between two of them could
    /// close a loop — every port of a mesh; a hub's ports to other hubs (a hub forwards between its spokes and from
    /// a spoke to the other hubs, never from one hub to another).
    public func make(_ segment: SegmentConfig) throws(SiteError) -> Site {
        let isolate: (String) -> Bool
        switch fleet.registry.topology {
        case .mesh: isolate = { _ in true }
        case let .hub(hubs): isolate = { [site] peer in hubs.contains(site) && hubs.contains(peer) }
        }
        return try Site.make(config: segment, site: site, file: file, netns: netns, peersAsFDB: true,
                             isolate: segment.kind.isPointToPoint ? isolate : nil)
    }

    /// Applies this site's segment; the lines applied. A hub's transit table goes first — every site the VXLAN device
    /// will flood to is then already marked, so no frame is ever sent back to the site it came from — and the port's
    /// hairpin mode last (the device exists then).
    public func apply(_ segment: SegmentConfig) throws -> [String] {
        let s = try make(segment)
        let transit = HubTransit.of(fleet, site: site, segment: segment)
        let table = try transitTable(transit)
        let lines = try Reconciler(site: s).up()
        // (A point-to-point segment's tunnels are never in hairpin mode: its hub's bridge forwards between them.)
        return table + lines + (s.desired.pairPrefix != nil ? [] : try hairpin(transit != nil, device: s.desired.tunnel.name))
    }

    /// Hub topology, on a hub with other sites: the transit table (`HubTransit`) and the tunnel's bridge port in
    /// hairpin mode, each only when not already so (the device may have been made again by a drift repair); on any
    /// other site, or a hub alone, neither. Returns the lines of what changed (or, `dryRun`, would).
    public func applyTransit(_ transit: HubTransit?, device: String, dryRun: Bool = false) throws -> [String] {
        try transitTable(transit, dryRun: dryRun) + (device.isEmpty ? [] : try hairpin(transit != nil, device: device, dryRun: dryRun))
    }

    func hairpin(_ on: Bool, device: String, dryRun: Bool = false) throws -> [String] {
        // (A device not made yet — a plan before the first up — is not in hairpin mode either; one in hairpin mode
        // exists, so turning it off needs no other look.)
        let now = (try? hairpin(device)) ?? false
        guard now != on else { return [] }
        let word = on ? "on" : "off"
        if !dryRun {
            var o = Options()
            o.netns = netns
            try IPCommandRunner.run(line: "link set dev \(device) type bridge_slave hairpin \(word)", session: Session(options: o))
        }
        return ["~ link set dev \(device) type bridge_slave hairpin \(word)" + (on ? " (hub: spoke to spoke through this site)" : "")]
    }

    func transitTable(_ transit: HubTransit?, dryRun: Bool = false) throws -> [String] {
        var lines: [String] = []
        let table = HubTransit.table(segment: fleet.segment.name)
        try NFTables.inNamespace(netns) {
            let nft = try NFTables()
            let listing = try nft.listing(family: "inet", table: table)
            let present = listing != nil
            if let transit {
                if listing?.contains(transit.fingerprint) == true { return }
                if !dryRun { try nft.run(transit.script) }
                lines.append("\(present ? "~" : "+") nft table inet \(table): hub transit for \(transit.spokes.count) spoke\(transit.spokes.count == 1 ? "" : "s")"
                             + (transit.hubs.isEmpty ? "" : " and \(transit.hubs.count) other hub\(transit.hubs.count == 1 ? "" : "s")"))
            } else if present {
                if !dryRun { try nft.run(HubTransit.deleteScript(segment: fleet.segment.name)) }
                lines.append("- nft delete table inet \(table)")
            }
        }
        return lines
    }

    /// Removes the transit table if this segment has one here (`down`).
    public func removeTransit(dryRun: Bool = false) throws -> [String] { try transitTable(nil, dryRun: dryRun) }

    /// Whether the device is a bridge port in hairpin mode (from `-d link show`).
    func hairpin(_ device: String) throws -> Bool {
        var o = Options()
        o.netns = netns
        o.json = true
        o.details = true
        let show = Session(options: o)
        try IPCommandRunner.run(line: "link show dev \(device)", session: show)
        return show.output.json.first?["linkinfo"]?["info_slave_data"]?["hairpin"] == .bool(true)
    }

    /// Wakes the agent when an address or route may have changed in this site's namespace: the kernel's netlink
    /// notifications (IPv4/IPv6 address and route groups), and every `fallback` seconds in case one was missed. A
    /// burst of notifications is one wake-up. The watching thread ends with the stream.
    public func addressChanges(fallback: Double) throws -> AsyncStream<Void> {
        let socket = try NetlinkSocket(protocol: NETLINK_ROUTE, netns: netns)
        for g in [RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE] { try socket.join(group: UInt32(g.rawValue)) }
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let stopped = StopFlag()
        continuation.onTermination = { _ in stopped.set() }
        nonisolated(unsafe) let held = socket
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var waited = 0.0
            while !stopped.isSet {
                var p = pollfd(fd: held.fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, 500)   // half a second at a time, to notice the end of the stream
                if r > 0 {
                    // Drain what is queued (an overrun, ENOBUFS, also means something changed).
                    while buffer.withUnsafeMutableBytes({ recv(held.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 || errno == ENOBUFS {}
                    waited = 0
                    continuation.yield()
                } else {
                    waited += 0.5
                    if waited >= fallback { waited = 0; continuation.yield() }
                }
            }
            withExtendedLifetime(held) {}
        }
        thread.name = "isthmus address watch"
        thread.start()
        return stream
    }

    /// The underlay address now: configured; an interface's first global one; or the source of the route to the first
    /// registry endpoint that has one (a UDP socket connected, nothing sent).
    public func resolveAddress() throws(SiteError) -> IPAddress {
        switch fleet.address {
        case let .fixed(a): return a
        case let .interface(name):
            let found: IPAddress?
            do { found = try NetworkNamespace.with(netns) { Self.interfaceAddress(name) } } catch { throw SiteError("\(error)") }
            guard let a = found else { throw SiteError("interface \(name) has no global address (address = \"auto\")") }
            return a
        case .route:
            var why: [String] = []
            for ep in fleet.registry.endpoints {
                do {
                    if let a = try NetworkNamespace.with(netns, { Self.routeSource(to: ep.host, port: ep.port) }) { return a }
                    why.append("\(ep): no route")
                } catch { why.append("\(ep): \(error)") }
            }
            throw SiteError("no route to any registry endpoint gives a source address (address = \"route\"): " + why.joined(separator: "; "))
        }
    }

    static func interfaceAddress(_ name: String) -> IPAddress? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var v4: IPAddress?, v6: IPAddress?
        var p = list
        while let i = p {
            defer { p = i.pointee.ifa_next }
            guard String(cString: i.pointee.ifa_name) == name, let sa = i.pointee.ifa_addr else { continue }
            if sa.pointee.sa_family == UInt16(AF_INET), v4 == nil {
                let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                v4 = withUnsafeBytes(of: a) { IPAddress(bytes: $0) }
            } else if sa.pointee.sa_family == UInt16(AF_INET6), v6 == nil {
                let a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let ip = withUnsafeBytes(of: a) { IPAddress(bytes: $0) }
                if let ip, !(ip.bytes[0] == 0xfe && ip.bytes[1] & 0xc0 == 0x80) { v6 = ip }
            }
        }
        return v4 ?? v6
    }

    /// The source address the kernel picks for `host` (an address, or a name resolved once).
    static func routeSource(to host: String, port: UInt16) -> IPAddress? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(res) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard ok == 0 else { return nil }
        if Int32(storage.ss_family) == AF_INET {
            return withUnsafeBytes(of: &storage) { raw in
                let a = raw.load(fromByteOffset: 4, as: in_addr.self)
                return withUnsafeBytes(of: a) { IPAddress(bytes: $0) }
            }
        }
        return withUnsafeBytes(of: &storage) { raw in IPAddress(bytes: raw[8..<24]) }
    }

    /// What this host offers: the tunnel modules present, and the data planes.
    public static func capabilities() -> (modules: [String], dataplanes: [String]) {
        let modules = ["vxlan", "bridge", "l2tp_eth", "ip_gre", "ipip", "fou"].filter { Site.moduleAvailable($0) }
        return (modules, modules.contains("vxlan") ? ["kernel", "userspace"] : ["userspace"])
    }

    /// This agent's identity: the machine's id and the network namespace it runs in (its inode), so a restart in the
    /// same place takes its site back and an agent anywhere else is refused. Read once the process is in its
    /// namespace (`-n NAME` moves it there first), so `isthmus -n NS up` and `ip netns exec NS isthmus up` are the
    /// same agent (named by `-n`, it was "netns NAME": a restart the other way waited for the old lease).
    public var agentID: String {
        let machine = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        var st = stat()
        let ino = stat("/proc/self/ns/net", &st) == 0 ? UInt64(st.st_ino) : 0
        return "\(machine):net \(ino)"
    }

    /// Where the running agent's status is (beside the site's log): read by `isthmus status`.
    public var statusPath: String {
        TunnelProcesses(binary: "", netns: netns, segment: fleet.segment.name, site: site).logPath
            .replacingOccurrences(of: ".log", with: ".registry.json", options: .backwards)
    }
}

extension FleetAgent.Status {
    /// The status file's JSON (and `status -j`'s `registry` member).
    public var jsonObject: JSON {
        var o = JSONObject()
        o.set("site", site); o.set("segment", segment)
        if let address { o.set("address", "\(address)") }
        o.set("lease", EtcdLeaseText.hex(lease))
        o.set("registered", registered)
        o.set("reachable", reachable)
        if let unreachableReason { o.set("unreachable_reason", unreachableReason) }
        o.set("revision", Int(revision))
        o.set("applies", applies)
        o.set("changes_applied", changesApplied)
        o.set("range_reads", rangeReads)
        var p = JSONObject()
        for k in peers.keys.sorted() { p.set(k, "\(peers[k]!)") }
        o.set("peers", p.json)
        o.set("omitted", JSON.array(omitted.map { JSON.string($0) }))
        var r = JSONObject()
        for k in refused.keys.sorted() { r.set(k, refused[k]!) }
        o.set("refused", r.json)
        if let lastError { o.set("last_error", lastError) }
        return o.json
    }

    /// `isthmus status`'s lines about the registry.
    public var lines: [String] {
        var out: [String] = []
        if reachable {
            out.append("registry: reachable, revision \(revision); \(peers.count) peer\(peers.count == 1 ? "" : "s"); \(changesApplied) changes applied in \(applies) applies")
        } else {
            out.append("registry: UNREACHABLE (\(unreachableReason ?? "not yet reached")); keeping the applied state of revision \(revision) (\(peers.count) peers)")
        }
        if !registered { out.append("  not registered (registering again)") }
        for k in peers.keys.sorted() { out.append("  peer \(k) \(peers[k]!)") }
        for o in omitted { out.append("  left out: \(o)") }
        if !refused.isEmpty { out.append("  refused values: " + refused.keys.sorted().map { "\($0) \(refused[$0]!)" }.joined(separator: ", ")) }
        if let lastError { out.append("  last error: \(lastError)") }
        return out
    }
}

/// Lease ids as etcdctl prints them (hex).
public enum EtcdLeaseText {
    public static func hex(_ id: Int64) -> String { String(UInt64(bitPattern: id), radix: 16) }
}

extension FleetAgent.Status {
    /// Reads the status file back (`isthmus status`); nil for anything that is not one.
    public init?(json bytes: [UInt8]) {
        guard case let .success(v) = JSONValue.parse(bytes, limits: { var l = JSONValue.Limits(); l.elements = 100_000; return l }()),
              case let .string(site)? = v["site"], case let .string(segment)? = v["segment"] else { return nil }
        self.init(site: site, segment: segment)
        if case let .string(a)? = v["address"] { address = IPAddress(a) }
        if case let .string(l)? = v["lease"] { lease = Int64(bitPattern: UInt64(l, radix: 16) ?? 0) }
        if case let .bool(b)? = v["registered"] { registered = b }
        if case let .bool(b)? = v["reachable"] { reachable = b }
        if case let .string(s)? = v["unreachable_reason"] { unreachableReason = s }
        if case let .integer(n)? = v["revision"] { revision = n }
        if case let .integer(n)? = v["applies"] { applies = Int(truncatingIfNeeded: n) }
        if case let .integer(n)? = v["changes_applied"] { changesApplied = Int(truncatingIfNeeded: n) }
        if case let .integer(n)? = v["range_reads"] { rangeReads = Int(truncatingIfNeeded: n) }
        if case let .object(m)? = v["peers"] {
            for (k, a) in m { if case let .string(s) = a, let ip = IPAddress(s) { peers[k] = ip } }
        }
        if case let .array(a)? = v["omitted"] { omitted = a.compactMap { if case let .string(s) = $0 { s } else { nil } } }
        if case let .object(m)? = v["refused"] {
            for (k, n) in m { if case let .integer(c) = n { refused[k] = Int(truncatingIfNeeded: c) } }
        }
        if case let .string(s)? = v["last_error"] { lastError = s }
    }
}

/// The registry a fleet file names: etcd (`EtcdRegistryStore`).
public enum RegistryStores {
    public static func open(_ c: RegistryConfig) throws -> RegistryStore { try EtcdRegistryStore(c) }
}

/// A flag set once from any thread.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
