import CLinuxUAPI
import Foundation
import IPCommand
import Netlink
import NetlinkWire
import SiteAgent
import Sites

public struct LabError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Builds a lab's namespaces and tears them down. What `up` creates is recorded on disk before it is created
/// (/run/isthmus/labs/NAME.json), so `down` removes exactly that — also after `up` was killed half-way — and nothing
/// else: a namespace of the same name that this lab did not create is refused, never taken over.
public final class LabRunner {
    public static let stateDirectory = "/run/isthmus/labs"
    public let lab: LabConfig
    /// Progress lines ("created namespace vx-h1", ...).
    public var log: (String) -> Void = { _ in }

    public init(lab: LabConfig) { self.lab = lab }

    /// Loads and validates a lab file.
    public static func load(_ path: String) throws -> LabConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LabError("\(path): cannot read the lab file")
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        switch LabConfig.load(text: text, file: path, directory: dir) {
        case .success(let l): return l
        case .failure(let e):
            throw LabError(e.description + "\n\(e.errors.count) error\(e.errors.count == 1 ? "" : "s") in \(path); nothing was created")
        }
    }

    var statePath: String { "\(Self.stateDirectory)/\(lab.name).json" }

    struct State: Codable {
        var file: String
        var namespaces: [String] = []
        var sites: [String] = []   // node names with an Isthmus site up
    }

    func readState() -> State? {
        guard let d = FileManager.default.contents(atPath: statePath) else { return nil }
        return try? JSONDecoder().decode(State.self, from: d)
    }

    func write(_ s: State) throws {
        let d = try JSONEncoder().encode(s)
        do { try OwnedFiles.replace(statePath, with: Array(d), within: Self.stateDirectory) } catch {
            throw LabError("cannot write the lab's state: \(error)")
        }
    }

    /// Kernel modules the lab names in `requires` that this kernel has not.
    public var missingModules: [String] { lab.requires.filter { !Site.moduleAvailable($0) } }

    /// Builds everything. On failure what was built is removed again, and the error says which step failed.
    public func up() throws {
        if !missingModules.isEmpty {
            throw LabError("lab \(lab.name) needs the kernel module\(missingModules.count == 1 ? "" : "s") \(missingModules.joined(separator: ", ")), which this kernel (\(Site.kernelRelease())) does not have; "
                           + "run it inside Debian's full kernel under QEMU: isthmus lab run --vm \(lab.file)")
        }
        if let s = readState() {
            throw LabError("lab \(lab.name) is already up (state \(statePath), from \(s.file)); run isthmus lab down \(s.file) first")
        }
        for n in lab.nodes where NetworkNamespace.exists(lab.namespace(n.name)) {
            throw LabError("network namespace \(lab.namespace(n.name)) exists but this lab did not create it; remove it or rename the lab")
        }
        var state = State(file: lab.file)
        try write(state)
        do {
            try build(&state)
        } catch {
            log("failed: \(error); removing what was built")
            _ = try? down()
            let text = "\(error)"
            if text.contains("Operation not supported") || text.contains("Unknown device type") || text.contains("not supported") {
                throw LabError(text + "\n  this kernel (\(Site.kernelRelease())) lacks a feature the lab needs; run it inside Debian's full kernel under QEMU: isthmus lab run --vm \(lab.file)")
            }
            throw error
        }
    }

    func build(_ state: inout State) throws {
        for n in lab.nodes {
            let ns = lab.namespace(n.name)
            state.namespaces.append(ns)
            try write(state)
            try NetworkNamespace.create(ns)
            try ip("link set lo up", n.name)
            try sysctl(n.name, "net/ipv6/conf/all/accept_dad", "0")
            try sysctl(n.name, "net/ipv6/conf/default/accept_dad", "0")
            if n.type == .router {
                try sysctl(n.name, "net/ipv4/ip_forward", "1")
                try sysctl(n.name, "net/ipv6/conf/all/forwarding", "1")
            }
            if n.type == .switch {
                try ip("link add br0 type bridge" + (n.vlanFiltering ? " vlan_filtering 1" : ""), n.name)
                try ip("link set br0 up", n.name)
            }
            log("node \(n.name) (\(n.type.rawValue)): namespace \(ns)")
        }
        for l in lab.links {
            let mtu = l.mtu.map { " mtu \($0)" } ?? ""
            try ip("link add \(l.a.interface)\(mtu) type veth peer name \(l.b.interface)\(mtu) netns \(lab.namespace(l.b.node))", l.a.node)
            for e in [l.a, l.b] {
                if lab.node(e.node)?.type == .switch { try ip("link set \(e.interface) master br0", e.node) }
                try ip("link set \(e.interface) up", e.node)
            }
            log("link \(l.a) — \(l.b)\(mtu)")
        }
        for n in lab.nodes where n.type == .switch && n.vlanFiltering {
            // Through `isthmus vlan` (bridge vlan): the default VLAN 1 goes, so that a port is only in what the lab says.
            for p in n.ports {
                try ip("vlan del vid 1 dev \(p.name)", n.name)
                if let pvid = p.pvid { try ip("vlan add vid \(pvid) dev \(p.name) pvid untagged", n.name) }
                for v in p.tagged where v != p.pvid { try ip("vlan add vid \(v) dev \(p.name)", n.name) }
            }
            if !n.ports.isEmpty { log("switch \(n.name): VLANs " + n.ports.map { p in "\(p.name) " + (p.pvid.map { "pvid \($0)" } ?? "") + (p.tagged.isEmpty ? "" : " tagged \(p.tagged.map(String.init).joined(separator: ","))") }.joined(separator: "; ")) }
        }
        for m in lab.macvlans {
            try ip("link add \(m.name) link \(m.parent.interface) type macvlan mode \(m.mode)", m.parent.node)
            if m.node != m.parent.node { try ip("link set \(m.name) netns \(lab.namespace(m.node))", m.parent.node) }
            try ip("link set \(m.name) up", m.node)
            log("macvlan \(m.node):\(m.name) on \(m.parent) (\(m.mode))")
        }
        for n in lab.nodes {
            for a in n.addresses { try ip("address add \(a.prefix) dev \(a.interface)", n.name) }
            for r in n.routes { try ip("route add \(r)", n.name) }
            if !n.nat.isEmpty {
                let rules = n.nat.map { "\t\toifname \"\($0)\" masquerade" }.joined(separator: "\n")
                let script = "table inet isthmus-nat {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\(rules)\n\t}\n}\n"
                try NFTables.inNamespace(lab.namespace(n.name)) { _ = try NFTables().run(script) }
                log("node \(n.name): NAT (masquerade) out of \(n.nat.joined(separator: ", "))")
            }
            for c in n.commands { try ip(c, n.name) }
        }
        for n in lab.nodes {
            guard let s = n.site else { continue }
            state.sites.append(n.name)
            try write(state)
            let r = try reconciler(n, s)
            let done = try r.up()
            log("node \(n.name): isthmus up --site \(s.name) (\(done.count) changes, \(r.site.dataplane.rawValue) data plane)")
        }
    }

    func reconciler(_ n: LabConfig.Node, _ s: LabConfig.Site) throws -> Reconciler {
        do { return Reconciler(site: try Site.load(file: s.config, site: s.name, netns: lab.namespace(n.name))) } catch {
            throw LabError("node \(n.name): \(error)")
        }
    }

    /// Removes what the state file says `up` created: sites taken down, processes left in the lab's namespaces
    /// ended, namespaces deleted. Returns what it removed.
    @discardableResult
    public func down() throws -> [String] {
        guard let state = readState() else { return [] }
        var out: [String] = []
        for name in state.sites {
            guard let n = lab.node(name), let s = n.site, NetworkNamespace.exists(lab.namespace(name)) else { continue }
            do { try reconciler(n, s).down(); out.append("isthmus down on \(name)") } catch { out.append("isthmus down on \(name) failed: \(error)") }
        }
        // Tunnels started for the lab's namespaces (`isthmus -n NS tunnel run`) live in the host's namespace, with
        // their devices and sockets in NS: found by command line.
        for ns in state.namespaces {
            for pid in TunnelProcesses.processes(netns: ns, name: nil) {
                TunnelProcesses.terminate(pid)
                out.append("ended tunnel process \(pid) of \(ns)")
            }
        }
        let inodes = Set(state.namespaces.compactMap { NetworkNamespace.inode($0) })
        for pid in Self.processes(in: inodes) {
            kill(pid, SIGTERM)
            out.append("ended process \(pid)")
        }
        if !inodes.isEmpty {
            for _ in 0..<50 where !Self.processes(in: inodes).isEmpty { usleep(100_000) }
            for pid in Self.processes(in: inodes) { kill(pid, SIGKILL) }
        }
        for ns in state.namespaces.reversed() where NetworkNamespace.exists(ns) {
            try NetworkNamespace.delete(ns)
            out.append("deleted namespace \(ns)")
        }
        try? FileManager.default.removeItem(atPath: statePath)
        try? FileManager.default.removeItem(atPath: "\(Self.stateDirectory)/\(lab.name).d")   // the checks' scratch files
        return out
    }

    /// Whether the state file says the lab is up, and which of its namespaces exist.
    public func status() -> (up: Bool, namespaces: [(String, Bool)]) {
        guard let s = readState() else { return (false, []) }
        return (true, s.namespaces.map { ($0, NetworkNamespace.exists($0)) })
    }

    /// pids whose network namespace is one of `inodes`.
    static func processes(in inodes: Set<UInt64>) -> [Int32] {
        guard !inodes.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let me = getpid()
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != me else { return false }
            var st = stat()
            return stat("/proc/\(pid)/ns/net", &st) == 0 && inodes.contains(UInt64(st.st_ino))
        }
    }

    func session(_ node: String) -> Session {
        var o = Options()
        o.netns = lab.namespace(node)
        return Session(options: o)
    }

    /// Runs isthmus words in a node; errors name the node and the command.
    func ip(_ line: String, _ node: String) throws {
        do {
            try IPCommandRunner.run(line: line, session: session(node))
        } catch {
            throw LabError("node \(node): `\(line)`: \(error)")
        }
    }

    func sysctl(_ node: String, _ key: String, _ value: String) throws {
        try NetworkNamespace.with(lab.namespace(node)) {
            let fd = open("/proc/sys/\(key)", O_WRONLY)
            guard fd >= 0 else { throw LabError("node \(node): cannot open /proc/sys/\(key)") }
            defer { close(fd) }
            var b = Array(value.utf8)
            guard Glibc.write(fd, &b, b.count) == b.count else { throw LabError("node \(node): cannot write \(key)") }
        }
    }
}

