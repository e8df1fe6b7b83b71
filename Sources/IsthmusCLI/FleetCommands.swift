import ArgumentParser
import Dataplane
import Fleet
import FleetAgent
import Foundation
import IPCommand
import IsthmusMetrics
import Netlink
import SiteAgent

/// The site commands on a fleet file (one with `[registry]`): the sites come from the registry, so `plan` reads it,
/// `up --foreground` runs the registry agent, `status` adds what the agent reports, `down` needs no registry; and
/// `isthmus registry status|sites|drain`.
enum FleetCommands {
    struct Registry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "registry", abstract: "A fleet's registry: status (agents and the revision each applied), sites (who is registered, lease ages), drain SITE.",
            discussion: "status: the store's revision, the last revision that changed the segment's shape, and each agent's applied revision (in sync when it is at least that). sites: every site key, its address, lease and age, or why its value is refused. drain SITE: every agent leaves SITE out (and SITE leaves every peer out) until `drain SITE --undo`.")
        @Argument(help: "status | sites | drain")
        var action: String
        @Argument(help: "drain: the site to drain")
        var target: String?
        @Option(name: .long, help: "The fleet file (TOML with a [registry] table).")
        var config: String
        @Flag(name: .long, help: "drain: bring the site back.")
        var undo = false
        @Flag(name: [.customShort("j"), .long], help: "Print JSON.")
        var json = false
    }

    /// Runs `body` to completion from synchronous code (the CLI's commands are synchronous; the store is async).
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, Error>?
        Task {
            do { result = .success(try await body()) } catch { result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try result!.get()
    }

    static func load(_ file: String, site: String?, netns: String?) throws -> FleetHost {
        do { return try FleetHost.load(file: file, site: site, netns: netns) } catch { throw SiteFailure(message: "\(error)") }
    }

    /// The registry's client. With `-n NETNS` the whole process moves into the namespace first, as under `ip netns
    /// exec`: the client's connections are opened on event-loop threads of its own, which start in the namespace of
    /// the thread that makes them, and the registry is reached through the site's underlay.
    static func open(_ host: FleetHost) throws -> RegistryStore {
        if let ns = host.netns {
            do { try NetworkNamespace.enterForGood(ns) } catch { throw SiteFailure(message: "\(error)") }
        }
        do { return try RegistryStores.open(host.fleet.registry) } catch { throw SiteFailure(message: "\(error)") }
    }

    /// The registry's state now, as a view of this segment.
    static func read(_ host: FleetHost) throws -> (RegistryView, RegistrySnapshot) {
        let store = try open(host)
        let keys = host.keys
        let snapshot = try blocking { try await store.range(prefix: keys.segmentPrefix) }
        var view = RegistryView(keys: keys)
        _ = view.load(snapshot)
        return (view, snapshot)
    }

    static func plan(_ host: FleetHost, json: Bool, exitCode: Bool) throws {
        let (view, _) = try read(host)
        let address: IPAddress
        do { address = try view.entries[host.site]?.address ?? host.resolveAddress() } catch { throw SiteFailure(message: "\(error)") }
        let site: Site, omitted: [FleetShape.Omission]
        do { (site, omitted) = try host.site(address: address, view: view) } catch { throw SiteFailure(message: "\(error)") }
        let r = Reconciler(site: site)
        let p = try r.plan()
        // Hub topology: a hub's transit (hairpin, its table) is the fleet's, after the site's plan.
        let transit = try host.applyTransit(HubTransit.of(host.fleet, site: host.site, segment: site.config), device: site.desired.pairPrefix != nil ? "" : site.desired.tunnel.name, dryRun: true)
        let lines = p.lines + transit, isEmpty = p.isEmpty && transit.isEmpty
        if json {
            var o = JSONObject()
            o.set("segment", site.config.name); o.set("site", site.side.site); o.set("revision", Int(view.revision))
            o.set("dataplane", site.dataplane.rawValue)
            o.set("omitted", JSON.array(omitted.map { JSON.string($0.description) }))
            o.set("changes", JSON.array(lines.map { JSON.string($0) }))
            print(o.json.serialized())
        } else {
            print("registry revision \(view.revision): \(view.entries.count) site\(view.entries.count == 1 ? "" : "s") registered"
                  + (view.entries[host.site] == nil ? " (not \(host.site): planned at \(address))" : ""))
            for o in omitted { print("  left out: \(o)") }
            for l in SiteCommands.header(site) { print(l) }
            print(isEmpty ? "no changes" : lines.joined(separator: "\n"))
        }
        if exitCode && !isEmpty { throw ExitCode(3) }
    }

    static func up(_ host: FleetHost, foreground: Bool, interval: Double, verbose: Bool, metrics: MetricsAddress? = nil) throws {
        guard foreground else {
            throw SiteFailure(message: "\(host.file) is a fleet file: its sites come from the registry, so it runs as an agent\n  hint: isthmus up --config \(host.file) --foreground (or isthmus plan --registry --config \(host.file) to see what it would do)")
        }
        let store = try open(host)
        ProcessLog.shared.verbose = verbose
        let caps = FleetHost.capabilities()
        var conf = FleetAgent.Configuration(fleet: host.fleet, site: host.site, agentID: host.agentID)
        conf.modules = caps.modules
        conf.dataplanes = caps.dataplanes
        conf.driftInterval = interval
        let statusPath = host.statusPath
        // --metrics: the latest status, as the agent publishes it, served from the site's namespace.
        let latest = LatestStatus()
        let server = try metrics.map { address in
            let exporter = MetricsExporter()
            return try NetworkNamespace.with(host.netns) { try MetricsServer(address: address) { exporter.render(latest.value.map(FleetAgent.samples) ?? []) } }
        }
        server?.start()
        defer { server?.stop() }
        if let server { ProcessLog.shared.log(.info, "metrics on http://\(server.bound)/metrics") }
        let agent = FleetAgent(configuration: conf, store: store, apply: { try host.apply($0) },
                               resolveAddress: { try host.resolveAddress() },
                               addressChanges: { try host.addressChanges(fallback: 30) },
                               log: { ProcessLog.shared.log($0, $1) },
                               publish: { s in
                                   latest.set(s)
                                   try? OwnedFiles.makeDirectory(TunnelProcesses.logDirectory)
                                   try? OwnedFiles.replace(statusPath, with: Array((s.jsonObject.serialized() + "\n").utf8))
                               })
        let signals = try StopSignals()
        defer { signals.close() }
        let run = Task { try await agent.run() }
        // SIGTERM/SIGINT end the agent: a thread waits on the signal descriptor and cancels its task.
        let fd = signals.fd
        let waiter = Thread {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, -1) < 0 && errno == EINTR {}
            run.cancel()
        }
        waiter.start()
        let outcome: Result<Void, Error> = (try? blocking { await run.result }) ?? .success(())
        if case let .failure(e) = outcome, !(e is CancellationError) {
            try? blocking { await agent.deregister() }
            throw SiteFailure(message: "\(e)")
        }
        ProcessLog.shared.log(.info, "site \(host.site): stopping; revoking its lease and taking the segment down")
        try? blocking { await agent.deregister() }
        try? FileManager.default.removeItem(atPath: statusPath)
        try down(host, quiet: true)
    }

    static func down(_ host: FleetHost, quiet: Bool = false) throws {
        // Down needs no peers: what the segment owns here goes.
        let site: Site
        do { site = try host.site(address: IPAddress("0.0.0.1")!, view: RegistryView(keys: host.keys)).0 } catch { throw SiteFailure(message: "\(error)") }
        let r = Reconciler(site: site)
        if !quiet { r.log = { print($0) } }
        let done = try r.down() + (try host.removeTransit())
        if quiet { ProcessLog.shared.log(.info, "segment \(site.config.name): down (\(done.count) changes)") } else {
            print(done.isEmpty ? "nothing to remove: \(site.config.name) is down" : "\(site.config.name) is down (\(done.count) changes)")
        }
    }

    static func status(_ host: FleetHost, json: Bool) throws {
        guard let data = FileManager.default.contents(atPath: host.statusPath), let s = FleetAgent.Status(json: Array(data)) else {
            throw SiteFailure(message: "no registry agent is running for site \(host.site) of \(host.fleet.segment.name) (no \(host.statusPath))\n  hint: isthmus up --config \(host.file) --foreground")
        }
        var view = RegistryView(keys: host.keys)
        for (name, a) in s.peers { view.entries[name] = RegistryEntry(name: name, addresses: [a]) }
        let site: Site
        do { site = try host.site(address: s.address ?? IPAddress("0.0.0.1")!, view: view).0 } catch { throw SiteFailure(message: "\(error)") }
        let st = try SiteStatus.gather(Reconciler(site: site))
        if json {
            guard case var .object(fields) = st.json else { print(st.json.serialized()); return }
            fields.append(("registry", s.jsonObject))
            print(JSON.object(fields).serialized())
        } else {
            for l in st.text { print(l) }
            for l in s.lines { print(l) }
        }
        if st.health != .healthy { throw ExitCode(st.health.rawValue) }
    }

    static func registry(_ words: [String], json globalJSON: Bool) throws {
        let cmd = try SiteCommands.parse(Registry.self, "registry", words)
        let json = cmd.json || globalJSON
        let host = try load(cmd.config, site: nil, netns: nil)
        let keys = host.keys
        switch cmd.action {
        case "status", "sites":
            if cmd.target != nil { throw SiteFailure(message: "registry \(cmd.action) takes no site") }
            let (view, snapshot) = try read(host)
            let now = Int64(Date().timeIntervalSince1970)
            var records: [String: AgentSyncRecord] = [:]
            var shapeRevision: Int64 = 0
            for kv in snapshot.items {
                switch keys.classify(kv.key) {
                case let .agent(n)?: records[n] = AgentSyncRecord.decode(kv.value)
                case .site?, .drain?: shapeRevision = max(shapeRevision, kv.modRevision)
                default: break
                }
            }
            let names = Set(view.entries.keys).union(view.refused.keys).union(records.keys).union(view.drained).sorted()
            if cmd.action == "sites" {
                var rows: [JSON] = []
                var table = TextTable(["SITE", "ADDRESS", "LEASE", "AGE", "STATE"])
                for n in names where view.entries[n] != nil || view.refused[n] != nil {
                    let e = view.entries[n]
                    let age = records[n].map { now - $0.since }
                    let state = view.refused[n].map { "refused: \($0)" } ?? (view.drained.contains(n) ? "drained" : "registered")
                    var o = JSONObject()
                    o.set("site", n)
                    o.set("addresses", e.map { JSON.array($0.addresses.map { JSON.string("\($0)") }) })
                    o.set("lan_mtu", e?.lanMTU)
                    o.set("modules", e.map { JSON.array($0.modules.map { JSON.string($0) }) })
                    o.set("lease", view.leases[n].map { EtcdLeaseText.hex($0) })
                    o.set("lease_age_seconds", age.map { Int($0) })
                    o.set("agent", e?.agent)
                    o.set("state", state)
                    rows.append(o.json)
                    table.add([n, e.map { "\($0.address)" } ?? "", view.leases[n].map { $0 == 0 ? "none" : EtcdLeaseText.hex($0) } ?? "",
                               age.map { TextTable.age(Int($0)) } ?? "", state])
                }
                if json { print(JSON.array(rows).serialized()) } else { for l in table.lines { print(l) } }
            } else {
                var rows: [JSON] = []
                var table = TextTable(["AGENT", "REVISION", "CHANGES", "REGISTERED", "SYNC"])
                for n in names where records[n] != nil {
                    let r = records[n]!
                    let sync = r.revision >= shapeRevision
                    var o = JSONObject()
                    o.set("site", n); o.set("revision", Int(r.revision)); o.set("changes_applied", Int(r.changesApplied))
                    o.set("registered_seconds_ago", Int(now - r.since)); o.set("in_sync", sync)
                    rows.append(o.json)
                    table.add([n, "\(r.revision)", "\(r.changesApplied)", TextTable.age(Int(now - r.since)) + " ago", sync ? "in sync" : "behind"])
                }
                if json {
                    var o = JSONObject()
                    o.set("segment", host.fleet.segment.name); o.set("revision", Int(snapshot.revision))
                    o.set("shape_revision", Int(shapeRevision)); o.set("sites", view.entries.count)
                    o.set("drained", JSON.array(view.drained.sorted().map { JSON.string($0) }))
                    o.set("refused", view.refused.count)
                    o.set("agents", JSON.array(rows))
                    print(o.json.serialized())
                } else {
                    print("segment \(host.fleet.segment.name): revision \(snapshot.revision), shape changed at \(shapeRevision); "
                          + "\(view.entries.count) site\(view.entries.count == 1 ? "" : "s") registered"
                          + (view.drained.isEmpty ? "" : ", drained: " + view.drained.sorted().joined(separator: ", "))
                          + (view.refused.isEmpty ? "" : ", \(view.refused.count) refused"))
                    for l in table.lines { print(l) }
                }
            }
        case "drain":
            guard let target = cmd.target else { throw SiteFailure(message: "registry drain needs the site to drain: isthmus registry drain SITE --config FILE") }
            guard RegistryEntry.validName(target) else { throw SiteFailure(message: "\"\(target)\" is not a site name (1-64 bytes of A-Z a-z 0-9 . _ -)") }
            let store = try open(host)
            if cmd.undo {
                _ = try blocking { try await store.delete(key: keys.drain(target)) }
                print(json ? JSON.object([("site", .string(target)), ("drained", .bool(false))]).serialized() : "site \(target): drain undone; peers take it back")
            } else {
                _ = try blocking { try await store.put(key: keys.drain(target), value: [], lease: 0) }
                print(json ? JSON.object([("site", .string(target)), ("drained", .bool(true))]).serialized()
                           : "site \(target): drained; every agent leaves it out (isthmus registry drain \(target) --undo brings it back)")
            }
        default:
            throw SiteFailure(message: "registry: unknown action \"\(cmd.action)\"; valid: status, sites, drain")
        }
    }
}

/// The agent's last published status, for the metrics server's thread.
final class LatestStatus: @unchecked Sendable {
    private let lock = NSLock()
    private var status: FleetAgent.Status?
    func set(_ s: FleetAgent.Status) { lock.lock(); status = s; lock.unlock() }
    /// nil until the agent first published (no samples yet).
    var value: FleetAgent.Status? { lock.lock(); defer { lock.unlock() }; return status }
}
