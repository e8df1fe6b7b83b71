import Foundation
import IPCommand
import LinkValues
import Netlink
import Sites

/// What `isthmus plan` shows and `isthmus up` applies: the interface changes, then the nftables table.
public struct SitePlan {
    public var changes: [Change]
    /// nil: the table is as it should be.
    public var filterChange: String?
    /// `encryption = "ipsec"`: the IKE side's change (loaded before the tunnel on `up`, unloaded after it on `down`).
    public var ipsec: [String] = []
    public var down = false
    public var isEmpty: Bool { changes.isEmpty && filterChange == nil && ipsec.isEmpty }

    public var lines: [String] {
        let rest = changes.map(\.description) + (filterChange.map { [$0] } ?? [])
        return down ? rest + ipsec : ipsec + rest
    }
}

/// Applies a site's plan to the host, all or nothing: before the first change it snapshots the host (interfaces,
/// userspace tunnels, its nftables table); when a step fails it computes `Planner.restore` from the snapshot, undoes
/// what was done, and reports the failing step, the error and what was rolled back.
///
/// A tunnel of a kernel kind is created from its typed value (`LinkCommand.add(name:link:)`: the IFLA_INFO_DATA
/// the value encodes, byte for byte what its words give `ip link add`); the other changes run as iproute2 words
/// through `IPCommandRunner` in this process (the same parsers the golden tests check against iproute2), over
/// netlink; userspace tunnels are `isthmus tunnel run` processes it starts detached and stops with SIGTERM.
public final class Reconciler {
    public let site: Site
    /// Tests: fail (as if the kernel had refused) before change number N (0-based) of an apply.
    public var failBefore: Int?
    /// Each change as it is applied ("+ link add ..."), for progress output.
    public var log: (String) -> Void = { _ in }
    let processes: TunnelProcesses

    public init(site: Site, isthmusBinary: String = TunnelProcesses.currentExecutable()) {
        self.site = site
        self.processes = TunnelProcesses(binary: isthmusBinary, netns: site.netns, segment: site.config.name, site: site.side.site)
    }

    var alias: String { site.desired.alias }

    /// The IKE side, for `encryption = "ipsec"`.
    public var ike: IKESide? {
        site.side.ipsec.map {
            IKESide(connection: $0, keyRecord: IKESide.keyRecordPath(segment: site.config.name, site: site.side.site, netns: site.netns))
        }
    }

    /// Where this site's userspace tunnels write their output (one log per site and namespace).
    public var logPath: String { processes.logPath }

    /// The host as netlink and the status sockets report it.
    public func observe() throws -> ObservedState {
        try HostObserver(session: site.session()).observe(owner: alias, ports: site.desired.ports.map(\.name))
    }

    /// What `up` would do (`desired` nil: what `down` would do).
    public func plan(down: Bool = false) throws -> SitePlan {
        // A site's certificate, key or CA that cannot be used is a config error: named before anything else.
        if !down { _ = try ike?.readCredentials() }
        let observed = try observe()
        let changes: [Change]
        do { changes = try Planner.plan(desired: down ? nil : site.desired, observed: observed, segment: site.config.name, config: site.desired) }
        catch { throw SiteError(error.description) }
        // charon is asked first: if it is missing or refuses, plan and up stop before anything changes.
        let ipsec = try ike.map { try $0.changes(down ? $0.observeForDown() : $0.observe(), down: down) } ?? []
        return SitePlan(changes: changes, filterChange: try filterChange(down: down), ipsec: ipsec, down: down)
    }

    func filterChange(down: Bool) throws -> String? {
        let r = site.filters
        let present = try NFTables.inNamespace(site.netns) { try NFTables().ruleset(r) }
        if down || r.script.isEmpty {
            return present == nil ? nil : "- nft delete table \(r.family) \(r.table)"
        }
        guard let text = present else { return "+ nft table \(r.family) \(r.table): \(r.summary)" }
        return text.contains(r.fingerprint) ? nil : "~ nft table \(r.family) \(r.table): \(r.summary) (changed by hand or by a new config)"
    }

    /// Applies the plan; returns the lines applied. On failure, rolls back and throws.
    @discardableResult
    public func up() throws -> [String] { try run(down: false) }

    /// Removes what this segment owns on this host (interfaces, userspace tunnels, its nftables table); LAN ports are
    /// released, not deleted.
    @discardableResult
    public func down() throws -> [String] { try run(down: true) }

    func run(down: Bool) throws -> [String] {
        // The IKE side first: unusable credential files, or charon missing or refusing, stop here, before anything
        // changes.
        if !down { _ = try ike?.readCredentials() }
        let ikeBefore = try down ? ike?.observeForDown() : ike?.observe()
        let ikeChange = ike.flatMap { i in ikeBefore.map { i.changes($0, down: down) } } ?? []
        let before = try observe()
        let changes: [Change]
        do { changes = try Planner.plan(desired: down ? nil : site.desired, observed: before, segment: site.config.name, config: site.desired) }
        catch { throw SiteError(error.description) }
        let filterChange = try self.filterChange(down: down)
        let filtersBefore = try NFTables.inNamespace(site.netns) { try NFTables().ruleset(site.filters) }
        var applied: [String] = []
        var state = before
        let total = changes.count + (filterChange == nil ? 0 : 1) + ikeChange.count
        var ikeLoaded = false
        // The userspace tunnels this run started: a rollback stops each one still running, also one its look at the
        // host missed (a managed pseudowire's agent busy bringing its session up may not answer the status query
        // in time — a CI rehearsal: its device was left after "rolled back").
        var started: [String] = []
        var index = 0
        var current = ""
        func begin(_ line: String) throws {
            current = line
            index += 1
            if let f = failBefore, index - 1 == f { throw SiteError("injected failure (test hook --fail-before \(f))") }
            log(line)
        }
        do {
            // Up: the connection and its trap policies before the tunnel exists, so no tunnel packet leaves in clear.
            if !down, let ike, let line = ikeChange.first {
                try begin(line)
                ikeLoaded = true
                try ike.load()
                applied.append(line)
            }
            for c in changes {
                try begin(c.description)
                if case let .create(spec, _, _) = c, spec.isUserspace { started.append(spec.name) }
                try execute(c, state: state)
                state = Planner.apply([c], to: state)
                applied.append(c.description)
            }
            if let f = filterChange {
                try begin(f)
                try NFTables.inNamespace(site.netns) {
                    let n = try NFTables()
                    if down || site.filters.script.isEmpty { try n.delete(site.filters) } else { try n.apply(site.filters) }
                }
                applied.append(f)
            }
            // Down: the tunnel is gone before its policies are, for the same reason.
            if down, let ike, let line = ikeChange.first {
                try begin(line)
                try ike.unload()
                applied.append(line)
            }
            // The kernel's key-less ESP states between the two sites (ACQUIRE entries a trap policy left), which
            // charon's unload does not remove: `down` leaves no state of the tunnel. A failure is reported, not fatal
            // (they expire by themselves).
            if down, let ike {
                let (a, b) = (ike.connection.local, ike.connection.remote)
                do {
                    let n = try KeylessStates.remove(try site.session().xfrm(), between: a, and: b)
                    if n > 0 { log("- ipsec: \(n) key-less ESP state\(n == 1 ? "" : "s") (ACQUIRE, no keys) between \(a) and \(b) removed") }
                } catch {
                    log("ipsec: key-less ESP states between \(a) and \(b) not removed (they expire by themselves): \(error)")
                }
            }
            if down { try? FileManager.default.removeItem(atPath: DesiredState.secretPath(segment: site.config.name)) }
            if !down, let ike {
                // Bringing the SA up does not decide success: the peer may not be up yet (the trap policies retry
                // when traffic flows). What happened is reported; `status` shows it too.
                // (Initiating a CHILD SA that is installed would add a second one: only when there is none.)
                let installed = (try? ike.status())?.contains { $0.children.contains { $0.state == "INSTALLED" } } ?? false
                if !installed {
                    switch Result(catching: { try ike.initiate() }) {
                    case .success(nil): log("ipsec: \(ike.connection.name) established")
                    case .success(let f?): log("ipsec: \(ike.connection.name) not established: \(f.0.rawValue) (charon: \(f.1))")
                    case .failure(let e): log("ipsec: \(ike.connection.name) not established: \(e)")
                    }
                }
            }
            // A cache, not config: failing to clear it fails nothing (the entries age out).
            if !down, site.desired.tunnel.kind == "vxlan" {
                let flushed = (try? flushLearned(device: site.desired.tunnel.name, peers: Set(site.side.peers.map { "\($0.address)" }))) ?? []
                for l in flushed { log(l) }
                applied += flushed
            }
            return applied
        } catch {
            var report = "\(down ? "down" : "up") failed at step \(index) of \(total): \(current)\n  error: \(error)"
            var undone = rollback(to: before, filters: filtersBefore, started: started)
            // The IKE side: what this run loaded into a charon that had none of ours is unloaded again.
            if let ike, ikeLoaded, ikeBefore?.isEmpty == true {
                do { try ike.unload(); undone.append("- ipsec unload \(ike.connection.name)") } catch {
                    undone.append("FAILED - ipsec unload \(ike.connection.name): \(error)")
                }
            }
            report += undone.isEmpty ? "\n  nothing had been changed" : "\n  rolled back:\n" + undone.map { "    " + $0 }.joined(separator: "\n")
            throw SiteError(report)
        }
    }

    /// VXLAN learns behind which peer each remote MAC is (an FDB entry with the peer's underlay address). A peer that
    /// moved or left leaves such entries behind: frames to its hosts go to the old address until a frame from the new
    /// one corrects the entry or it ages out (5 minutes) — a host that only answered other sites was unreachable from
    /// here (FleetRegistryTests; with a segment file, 26 of 50 hosts in Tools/bench/fleet.sh). They are removed by
    /// every `up` (and drift check) after the peer's default entry or remote changed; entries a user made (permanent)
    /// stay.
    func flushLearned(device: String, peers: Set<String>) throws -> [String] {
        var o = Options()
        o.netns = site.netns
        o.json = true
        let show = Session(options: o)
        try IPCommandRunner.run(line: "fdb show dev \(device)", session: show)
        var lines: [String] = []
        for e in show.output.json {
            guard case let .string(mac)? = e["mac"], mac != "00:00:00:00:00:00", case let .string(dst)? = e["dst"],
                  !peers.contains(dst), e["state"] != .string("permanent") else { continue }
            var d = Options()
            d.netns = site.netns
            try IPCommandRunner.run(line: "fdb del \(mac) dev \(device) dst \(dst)", session: Session(options: d))
            lines.append("- fdb del \(mac) dev \(device) dst \(dst) (learned behind a peer that moved or left)")
        }
        return lines
    }

    /// Puts the host back as `before` was; returns the lines done (and any that failed, marked).
    func rollback(to before: ObservedState, filters: String?, started: [String] = []) -> [String] {
        var out: [String] = []
        do {
            let now = try observe()
            let restore = Planner.restore(to: before, from: now, segment: site.config.name)
            for c in restore {
                do {
                    try execute(c, state: now)
                    out.append(c.description)
                } catch {
                    out.append("FAILED \(c.description): \(error)")
                }
            }
            // Started by this run, not running before, and not stopped above (the look missed it): found by its
            // command line and stopped, which takes its device with it.
            let stopped = Set(restore.compactMap { c -> String? in if case let .delete(n, true, _) = c { return n }; return nil })
            for name in started where before.userspaceTunnels[name] == nil && !stopped.contains(name) {
                let pids = TunnelProcesses.processes(netns: site.netns, name: name)
                if pids.isEmpty { continue }
                for pid in pids { TunnelProcesses.terminate(pid) }
                out.append("- stop isthmus tunnel run \(name) (rollback: started by this run)")
            }
        } catch {
            out.append("FAILED to read the host state for rollback: \(error)")
        }
        do {
            try NFTables.inNamespace(site.netns) {
                let n = try NFTables()
                let now = try n.ruleset(site.filters)
                if now != filters {
                    try n.delete(site.filters)
                    if let filters { _ = try n.run(filters) }
                    out.append(filters == nil ? "- nft delete table \(site.filters.family) \(site.filters.table)"
                                              : "~ nft table \(site.filters.family) \(site.filters.table) restored")
                }
            }
        } catch {
            out.append("FAILED to restore nftables table \(site.filters.table): \(error)")
        }
        return out
    }

    /// One change, as iproute2 words run in-process (or a process started or stopped).
    func execute(_ c: Change, state: ObservedState) throws {
        switch c {
        case let .create(spec, alias, _):
            if spec.isManaged {
                // The agent sets the alias (and the bridge, MTU, up) on the device it makes once the session is up.
                if let secret = site.config.secret {
                    let path = DesiredState.secretPath(segment: site.config.name)
                    do { try OwnedFiles.replace(path, with: Array((secret + "\n").utf8), mode: 0o600, within: TunnelProcesses.logDirectory) } catch {
                        throw SiteError("cannot write the segment's secret: \(error)")
                    }
                }
                try processes.start(name: spec.name, words: spec.parameterWords)
            } else if spec.isUserspace {
                try processes.start(name: spec.name, words: spec.parameterWords)
                try ip("link set \(spec.name) alias \(alias)")
            } else if case .l2tpSession(let l) = spec.link {
                func words(_ keys: [String]) -> String { l.words(of: keys).map(\.words).joined(separator: " ") }
                try ip("l2tp add tunnel " + words(L2TPSessionLink.tunnelKeywords))
                do {
                    try ip("l2tp add session name \(spec.name) " + words(L2TPSessionLink.sessionKeywords))
                    try ip("link set \(spec.name) alias \(alias)")
                } catch {
                    try? ip("l2tp del tunnel tunnel_id \(l.tunnelID)")
                    throw error
                }
            } else {
                // The kernel ignores IFLA_IFALIAS in a request that creates a device: the alias follows at once, and
                // a device that cannot be tagged as ours is not left behind.
                if let link = spec.link?.value as? any RTLinkValue {
                    try LinkCommand.add(name: spec.name, link: link, site.session())
                } else {
                    try ip("link add \(spec.name) type \(spec.kind)" + (spec.parameters.isEmpty ? "" : " " + spec.parameterWords))
                }
                do { try ip("link set \(spec.name) alias \(alias)") } catch {
                    try? ip("link del \(spec.name)")
                    throw error
                }
            }
        case let .delete(name, userspace, _):
            if userspace {
                try processes.stop(name: name)
            } else if let o = state[name], L2TPSessionLink.kinds.contains(o.kind), let t = o.parameters["tunnel_id"] {
                try ip("l2tp del tunnel tunnel_id \(t)")
                if let id = UInt32(t) { try waitUntilDeleted(l2tpTunnel: id) }
            } else {
                try ip("link del \(name)")
            }
        case let .setMTU(name, mtu, _): try ip("link set \(name) mtu \(mtu)")
        case let .setMaster(name, master, _, _): try ip("link set \(name) " + (master.map { "master \($0)" } ?? "nomaster"))
        case let .setIsolated(name, on, _): try ip("link set dev \(name) type bridge_slave isolated \(on ? "on" : "off")")
        case let .setUp(name, _): try ip("link set \(name) up")
        case let .setDown(name): try ip("link set \(name) down")
        case let .addAddress(dev, prefix, _): try ip("address add \(prefix) dev \(dev)")
        case let .delAddress(dev, prefix, _): try ip("address del \(prefix) dev \(dev)")
        case let .addRoute(dev, route): try ip("route add \(route) dev \(dev)")
        case let .delRoute(dev, route, _): try ip("route del \(route) dev \(dev)")
        case let .fdbAppend(dev, dst): try ip("fdb append 00:00:00:00:00:00 dev \(dev) dst \(dst)")
        case let .fdbDel(dev, dst): try ip("fdb del 00:00:00:00:00:00 dev \(dev) dst \(dst)")
        case .addFou, .delFou:
            throw SiteError("FOU receive ports (ip fou) are not configured by Isthmus; use dataplane = \"userspace\" for gre-in-udp")
        }
    }

    /// The kernel deletes an L2TP tunnel in a work item that runs after the request has returned: until it has, the
    /// tunnel's id, its sessions' ids (global in the namespace for L2TPv3 over IP) and its IP socket's binding stay
    /// taken, and a tunnel made again at once with the same ids — a replace, when a registry's peer moved and the
    /// kernel tunnel's addresses cannot change — is refused with EEXIST. So a delete returns once the tunnel is gone
    /// (it takes milliseconds; 5 s is a bound for a loaded host, not an expected wait).
    func waitUntilDeleted(l2tpTunnel id: UInt32, seconds: Double = 5) throws {
        let client = try L2TPClient(transport: site.session().genl())
        let deadline = Date().addingTimeInterval(seconds)
        while try client.tunnel(id) != nil {
            guard Date() < deadline else {
                throw SiteError("L2TP tunnel \(id) is still being deleted by the kernel \(Int(seconds)) s after `l2tp del tunnel`")
            }
            usleep(10_000)
        }
    }

    /// Runs one iproute2 command line in this site's namespace.
    func ip(_ line: String) throws {
        try IPCommandRunner.run(line: line, session: site.session())
    }
}
