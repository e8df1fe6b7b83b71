#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Netlink
import NetlinkWire

/// `netns list|add|attach|set|delete|identify|pids|exec|list-id` — `ip netns`, on the same /run/netns bind mounts
/// (a namespace made by one is used by the other), with the kernel's namespace ids (RTM_GETNSID/RTM_NEWNSID).
public enum NetnsCommand {
    static let verbs = ["list", "show", "lst", "add", "attach", "set", "delete", "identify", "pids", "exec", "list-id"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "list")
        switch verb {
        case "list", "show", "lst": try list(&args, session)
        case "add":
            let name = try nameArgument(&args)
            do { try NetworkNamespace.create(name) } catch let e as NamespaceError where e == .exists(name) {
                throw UsageError("Cannot create namespace file \"\(path(name))\": File exists")
            }
        case "attach":
            let name = try nameArgument(&args, last: false)
            let pid = try args.integer(for: "attach \(name)", Int32.self, range: 1...Int32.max)
            do { try NetworkNamespace.attach(name, pid: pid) } catch let e as NamespaceError where e == .exists(name) {
                throw UsageError("Cannot create namespace file \"\(path(name))\": File exists")
            }
        case "set":
            let name = try nameArgument(&args, last: false)
            let word = try args.value(for: "set \(name)", expected: "auto or a namespace id (0..2147483647)")
            guard let id = word == "auto" ? -1 : Int32(word), id >= 0 || word == "auto" else {
                throw UsageError("argument \"\(word.prefix(64))\" is wrong: Invalid \"netnsid\" value (auto or 0..2147483647)")
            }
            try setID(name, id, session)
        case "delete":
            let name = try nameArgument(&args)
            do { try NetworkNamespace.delete(name) } catch let e as NamespaceError where e == .notFound(name) {
                throw UsageError("Cannot remove namespace file \"\(path(name))\": No such file or directory")
            }
        case "identify":
            let pid = args.isEmpty ? getpid() : try args.integer(for: "identify", Int32.self, range: 1...Int32.max)
            guard let me = NetworkNamespace.identity(path: "/proc/\(pid)/ns/net") else {
                throw UsageError("Cannot open network namespace: \(String(cString: strerror(errno)))")
            }
            // One name, as ip's netns_identify_pid: the last in directory order that refers to the namespace.
            if let name = NetworkNamespace.names().last(where: { same(NetworkNamespace.identity(path: path($0)), me) }) {
                session.print(name)
            }
        case "pids":
            let name = try nameArgument(&args)
            guard let ns = NetworkNamespace.identity(path: path(name)) else {
                throw UsageError("Cannot open network namespace: No such file or directory")
            }
            for pid in processIDs() where same(NetworkNamespace.identity(path: "/proc/\(pid)/ns/net"), ns) {
                session.print("\(pid)")
            }
        case "exec":
            guard let name = args.next() else { throw UsageError("No netns name specified") }
            let command = args.remaining
            guard !command.isEmpty else { throw UsageError("No command specified") }
            guard NetworkNamespace.exists(name) else {
                throw UsageError("Cannot open network namespace \"\(name)\": No such file or directory")
            }
            // Whatever this process printed so far goes out before it becomes the command.
            try session.flush()
            throw NetnsExec(name: name, command: command)
        default: try listIDs(session)
        }
    }

    /// The NAME of `netns VERB NAME`; with `last`, nothing may follow it.
    static func nameArgument(_ args: inout Arguments, last: Bool = true) throws -> String {
        guard let name = args.next() else { throw UsageError("No netns name specified") }
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", name.utf8.count < 256 else {
            throw UsageError("Invalid netns name \"\(name.prefix(64))\"")
        }
        if last, let extra = args.next() { throw UsageError("unexpected \"\(extra.prefix(64))\" after the namespace name") }
        return name
    }

    static func path(_ name: String) -> String { "\(NetworkNamespace.directory)/\(name)" }

    static func same(_ a: (dev: UInt64, ino: UInt64)?, _ b: (dev: UInt64, ino: UInt64)) -> Bool {
        a.map { $0.dev == b.dev && $0.ino == b.ino } ?? false
    }

    /// /proc's numeric entries, in directory order.
    static func processIDs() -> [Int32] { FileSystem.entries("/proc").compactMap { Int32($0) } }

    static func list(_ args: inout Arguments, _ session: Session) throws {
        if let extra = args.next() { throw args.unknown(extra, validChoices: []) }
        for name in NetworkNamespace.names() {
            var p = FieldPrinter()
            p.field("name", .string(name), text: name)
            if let id = try? nsid(name, session), id >= 0 { p.field("id", JSON(Int(id)), text: " (id: \(id))") }
            session.emit(p)
        }
    }

    /// The rtgenmsg header of the NSID messages (family AF_UNSPEC, padded to 4 bytes).
    static let header: [UInt8] = [0, 0, 0, 0]

    /// The id this namespace gave the named one (-1: none assigned).
    static func nsid(_ name: String, _ session: Session) throws -> Int32 {
        let fd = try NetworkNamespace.open(name)
        defer { close(fd) }
        var w = AttributeWriter()
        w.u32(NETNSA_FD, UInt32(fd))
        let reply = try session.rtnl().request(RTMessage.make(RTM_GETNSID, flags: [], header: header, attributes: w),
                                              operation: "RTM_GETNSID \(name)")
        for m in reply where m.type == UInt16(RTM_NEWNSID) && m.payload.count >= 4 {
            if let id = try Attribute.parse(m.payload[4...]).first(NETNSA_NSID)?.i32 { return id }
        }
        return -1
    }

    static func setID(_ name: String, _ id: Int32, _ session: Session) throws {
        let fd = try NetworkNamespace.open(name)
        defer { close(fd) }
        var w = AttributeWriter()
        w.u32(NETNSA_FD, UInt32(fd))
        w.i32(NETNSA_NSID, id)
        _ = try session.rtnl().request(RTMessage.make(RTM_NEWNSID, flags: [], header: header, attributes: w),
                                       operation: "RTM_NEWNSID \(name)")
    }

    /// `netns list-id`: every id this namespace assigned, with the /run/netns name that has it.
    static func listIDs(_ session: Session) throws {
        let replies = try session.rtnl().dump(RTMessage.make(RTM_GETNSID, flags: [], header: header), operation: "RTM_GETNSID dump")
        var names: [Int32: String] = [:]
        for name in NetworkNamespace.names() { if let id = try? nsid(name, session), id >= 0 { names[id] = name } }
        for m in replies where m.type == UInt16(RTM_NEWNSID) && m.payload.count >= 4 {
            guard let id = try Attribute.parse(m.payload[4...]).first(NETNSA_NSID)?.i32 else { continue }
            var p = FieldPrinter()
            p.field("nsid", JSON(Int(id)), text: "nsid \(id)")
            if let name = names[id] { p.field("name", .string(name), text: " (iproute2 netns name: \(name))") }
            session.emit(p)
        }
    }
}

/// `netns exec NAME COMMAND`: the CLI replaces itself with COMMAND inside NAME (NetworkNamespace.exec) once it has
/// written everything else; the library only validates.
public struct NetnsExec: Error, CustomStringConvertible {
    public var name: String
    public var command: [String]
    public var description: String { "netns exec \(name): not available in -batch (run it as a command of its own)" }
}
