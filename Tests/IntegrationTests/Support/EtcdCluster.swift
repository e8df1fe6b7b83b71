import CLinuxUAPI
import Etcd
import Foundation
import Netlink
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
    /// The namespace holding the members' bridge `br0`.
    var bridgeNamespace: String { "\(name)-br" }
    private var executors: [NamespaceExecutor] = []
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
        for e in executors { e.stop() }
        executors.removeAll()
    }

    /// Members are 1, 2, 3 (e1..e3).
    func start(_ member: Int) throws { try run(["start", "e\(member)"]) }
    func stop(_ member: Int) throws { try run(["stop", "e\(member)"]) }
    func kill(_ member: Int) throws { try run(["kill", "e\(member)"]) }
    func waitWritable(seconds: Int = 30) throws { try run(["wait", "\(seconds)"]) }

    /// Gives another namespace (a site agent's) a port on the members' bridge: interface `interface` with `address`
    /// (10.70.0.11-254/24 are free). It goes away with the cluster (`down` deletes the bridge's namespace).
    func attach(namespace: String, address: String, interface: String = "etcd0") throws {
        try run(["attach", namespace, address, interface])
    }

    /// The leader's number, from `etcdctl endpoint status`.
    func leader() -> Int? {
        guard let out = try? run(["leader"]) else { return nil }
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst())
    }

    /// etcdctl in the client namespace (the cluster's own view, independent of the client under test).
    func ctl(_ args: String...) throws -> String { try run(["ctl"] + args) }

    /// A client of `members` (default all three), connecting from the client namespace: its connections' tasks run
    /// on a thread that entered that namespace, where their sockets are created.
    func client(members: [Int] = [1, 2, 3], requestTimeout: Duration = .seconds(5)) throws -> EtcdClient {
        let executor = try NamespaceExecutor(namespace: clientNamespace)
        executors.append(executor)
        let c = try EtcdClient(.init(endpoints: members.map { endpoints[$0 - 1] }, requestTimeout: requestTimeout,
                                     connectionExecutor: executor))
        clients.append(c)
        return c
    }
}

/// A task executor with one thread of its own that entered a network namespace first: sockets made by tasks running
/// on it (NIO creates a connection's socket on the thread that asks to connect) belong to that namespace. With no
/// namespace the thread stays where it started: tasks preferring it (and the default actors they call) run there, not
/// on the cooperative pool, which the suite's blocking tests may hold for minutes (FleetKernelTests' agents).
final class NamespaceExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(namespace: String?) throws {
        let fd = try namespace.map { try NetworkNamespace.open($0) }
        let entered = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Int32 = 0
        let thread = Thread { [self] in
            if let fd {
                if isthmus_setns(fd, ISTHMUS_CLONE_NEWNET) != 0 { failure = errno }
                close(fd)
            }
            entered.signal()
            if failure == 0 { run() }
        }
        thread.name = namespace.map { "netns \($0)" } ?? "executor"
        thread.start()
        entered.wait()
        if failure != 0 {
            throw ShellError(command: "setns \(namespace ?? "")", status: failure, output: String(cString: strerror(failure)))
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the queued jobs ran.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty { condition.unlock(); return }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
