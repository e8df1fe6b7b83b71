import CLinuxUAPI
import Etcd
import Foundation
import Netlink
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// A real 3-member etcd cluster in namespaces for one test (Tools/etcd-cluster), named for the test and this process
/// so parallel tests never share one. `down()` in a defer removes exactly what `up()` made.
///
///     let cluster = try EtcdCluster(test: "etcd-race")
///     defer { cluster.down() }
///     try cluster.up()
///     let client = try cluster.client()          // connects from the cluster's client namespace
///     try cluster.kill(cluster.leader()!)
final class EtcdCluster: @unchecked Sendable {
    let name: String
    /// Client URLs of e1, e2, e3.
    let endpoints: [String]
    /// The client namespace (on the members' bridge; etcdctl and the test's connections run there).
    var clientNamespace: String { "\(name)-c" }
    private var groups: [MultiThreadedEventLoopGroup] = []
    private var clients: [EtcdClient] = []

    static var available: Bool { Host.isRoot && Host.which("etcd") && Host.which("etcdctl") }
    static let unavailableReason = "needs root and Debian's etcd-server and etcd-client"

    init(test: String) {
        name = "isth-\(test)-\(getpid())"
        endpoints = (1...3).map { "http://10.70.0.\($0):2379" }
    }

    private var script: String { Host.repoRoot.appendingPathComponent("Tools/etcd-cluster").path }

    @discardableResult
    func run(_ args: [String]) throws -> String {
        let r = try Host.run(["env", "ETCD_CLUSTER_NAME=\(name)", script] + args)
        if r.status != 0 { throw ShellError(command: "etcd-cluster " + args.joined(separator: " "), status: r.status, output: r.output) }
        return r.output
    }

    func up() throws { try run(["up"]) }

    /// Stops the clients, the members and everything else in the cluster's namespaces; deletes them.
    func down() {
        for c in clients { c.close() }
        clients.removeAll()
        _ = try? run(["down"])
        for g in groups { try? g.syncShutdownGracefully() }
        groups.removeAll()
    }

    /// Members are 1, 2, 3 (e1..e3).
    func start(_ member: Int) throws { try run(["start", "e\(member)"]) }
    func stop(_ member: Int) throws { try run(["stop", "e\(member)"]) }
    func kill(_ member: Int) throws { try run(["kill", "e\(member)"]) }
    func waitWritable(seconds: Int = 30) throws { try run(["wait", "\(seconds)"]) }

    /// The leader's number, from `etcdctl endpoint status`.
    func leader() -> Int? {
        guard let out = try? run(["leader"]) else { return nil }
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst())
    }

    /// etcdctl in the client namespace (the cluster's own view, independent of the client under test).
    func ctl(_ args: String...) throws -> String { try run(["ctl"] + args) }

    /// A client of `members` (default all three), connecting from the client namespace: its event loop thread
    /// enters that namespace before any socket is made.
    func client(members: [Int] = [1, 2, 3], requestTimeout: Duration = .seconds(5)) throws -> EtcdClient {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        groups.append(group)
        let ns = clientNamespace
        try group.next().submit {
            let fd = try NetworkNamespace.open(ns)
            defer { close(fd) }
            guard isthmus_setns(fd, ISTHMUS_CLONE_NEWNET) == 0 else {
                throw ShellError(command: "setns \(ns)", status: errno, output: String(cString: strerror(errno)))
            }
        }.wait()
        let c = try EtcdClient(.init(endpoints: members.map { endpoints[$0 - 1] }, requestTimeout: requestTimeout, eventLoopGroup: group))
        clients.append(c)
        return c
    }
}
