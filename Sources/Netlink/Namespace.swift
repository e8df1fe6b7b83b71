import Foundation
#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI

/// Named network namespaces, as `ip netns` keeps them under /run/netns.
public enum NetworkNamespace {
    public static let directory = "/run/netns"

    /// Opens /run/netns/NAME (or an explicit path / pid) and returns an fd referring to that namespace.
    public static func open(_ name: String) throws -> Int32 {
        let path: String
        if name.hasPrefix("/") { path = name }
        else if let pid = Int32(name) { path = "/proc/\(pid)/ns/net" }
        else {
            guard !name.contains("/"), !name.isEmpty else { throw NamespaceError.badName(name) }
            path = "\(directory)/\(name)"
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { throw NamespaceError.notFound(name) }
            throw SystemError("open \(path)")
        }
        return fd
    }

    /// Creates the named namespace /run/netns/NAME, as `ip netns add NAME` does.
    public static func create(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else { throw NamespaceError.badName(name) }
        if isthmus_netns_create(directory, "\(directory)/\(name)") != 0 {
            if errno == EEXIST { throw NamespaceError.exists(name) }
            throw SystemError("create network namespace \(name)")
        }
    }

    /// Removes the named namespace, as `ip netns delete NAME` does (processes still in it keep it alive).
    public static func delete(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/") else { throw NamespaceError.badName(name) }
        if isthmus_netns_delete("\(directory)/\(name)") != 0 {
            if errno == ENOENT { throw NamespaceError.notFound(name) }
            throw SystemError("delete network namespace \(name)")
        }
    }

    /// Names /run/netns/NAME after the namespace of process `pid`, as `ip netns attach NAME PID` does.
    public static func attach(_ name: String, pid: Int32) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else { throw NamespaceError.badName(name) }
        if isthmus_netns_attach(directory, "\(directory)/\(name)", "/proc/\(pid)/ns/net") != 0 {
            if errno == EEXIST { throw NamespaceError.exists(name) }
            throw SystemError("attach network namespace \(name) to process \(pid)")
        }
    }

    /// Runs `command` inside the named namespace in place of this process, as `ip netns exec NAME COMMAND` does:
    /// a private mount namespace with that namespace's /sys and /etc/netns/NAME bound over /etc. Returns only by
    /// throwing (the namespace or the command could not be entered).
    public static func exec(_ name: String, _ command: [String]) throws -> Never {
        guard !name.isEmpty, !name.contains("/") else { throw NamespaceError.badName(name) }
        guard exists(name) else { throw NamespaceError.notFound(name) }
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        _ = isthmus_netns_exec("\(directory)/\(name)", name, &argv)
        throw SystemError("exec of \"\(command.first ?? "")\" failed")
    }

    /// The names in /run/netns, in directory order (as `ip netns list` prints them).
    public static func names() -> [String] { Directory.entries(directory) }

    /// The device and inode that identify a namespace file (/run/netns/NAME, /proc/PID/ns/net), or nil.
    public static func identity(path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        return stat(path, &st) == 0 ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
    }

    /// Whether /run/netns/NAME exists.
    public static func exists(_ name: String) -> Bool { access("\(directory)/\(name)", F_OK) == 0 }

    /// The inode of a named namespace (what /proc/PID/ns/net of its processes points at), or nil.
    public static func inode(_ name: String) -> UInt64? {
        var st = stat()
        return stat("\(directory)/\(name)", &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// Runs `body` on the current thread while it is inside namespace `name`, then switches back.
    /// Sockets and devices created in `body` stay in that namespace. `body` must not suspend.
    /// Moves the whole process into namespace `name` for good, as `ip netns exec` runs a program there — for a process
    /// whose libraries open sockets on threads of their own (the registry agent's gRPC event loops): a thread starts in
    /// the namespace of the thread that made it, so this must happen while the calling thread is the only one. Throws
    /// (changing nothing) when other threads already run.
    public static func enterForGood(_ name: String) throws {
        let target = try open(name)
        defer { close(target) }
        // Already there (a second call): nothing to do.
        var here = stat(), there = stat()
        if stat("/proc/thread-self/ns/net", &here) == 0, fstat(target, &there) == 0, here.st_ino == there.st_ino, here.st_dev == there.st_dev { return }
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
        guard threads == 1 else { throw NamespaceError.threaded(name, threads) }
        guard isthmus_setns(target, ISTHMUS_CLONE_NEWNET) == 0 else { throw SystemError("setns into \(name)") }
    }

    public static func with<T>(_ name: String?, _ body: () throws -> T) throws -> T {
        guard let name else { return try body() }
        let target = try open(name)
        defer { close(target) }
        let original = Glibc.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw SystemError("open /proc/thread-self/ns/net") }
        defer { close(original) }
        guard isthmus_setns(target, ISTHMUS_CLONE_NEWNET) == 0 else { throw SystemError("setns into \(name)") }
        defer {
            if isthmus_setns(original, ISTHMUS_CLONE_NEWNET) != 0 {
                fatalError("could not return to the original network namespace: \(String(cString: strerror(errno)))")
            }
        }
        return try body()
    }
}

public enum NamespaceError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case badName(String)
    case exists(String)
    case threaded(String, Int)
    public var description: String {
        switch self {
        case .notFound(let n): return "network namespace \"\(n)\" not found (no \(NetworkNamespace.directory)/\(n); create it with `ip netns add \(n)`)"
        case .badName(let n): return "invalid network namespace name \"\(n)\""
        case .exists(let n): return "network namespace \"\(n)\" already exists"
        case .threaded(let n, let t): return "cannot move this process into network namespace \"\(n)\": \(t) threads already run (run it as `ip netns exec \(n) isthmus ...`)"
        }
    }
}
