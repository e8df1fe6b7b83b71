#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import LinkValues
import Netlink
import NetlinkWire

/// `tuntap add|del [dev] NAME mode tun|tap [user U] [group G] [one_queue] [pi] [vnet_hdr] [multi_queue]` and
/// `tuntap show`, as `ip tuntap`.
public enum TunTapCommand {
    static let verbs = ["add", "delete", "show", "list", "lst"]
    static let keywords = ["dev", "mode", "user", "group", "one_queue", "pi", "vnet_hdr", "multi_queue", "name"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        if verb == "show" || verb == "list" || verb == "lst" {
            try show(&args, session)
            return
        }
        var name: String?, mode: TunTap.Mode?, user: UInt32?, group: UInt32?
        var flags: TunTap.Flags = [.noPacketInfo]
        while let w = args.next() {
            switch w {
            case "dev", "name": name = try args.interfaceName(for: w)
            case "mode":
                let m = try args.choice(for: "mode", ["tun", "tap"])
                mode = TunTap.Mode(rawValue: m)
            case "user":
                let u = try args.value(for: "user", expected: "a user name or uid")
                guard let uid = UInt32(u) ?? getpwnam(u).map({ $0.pointee.pw_uid }) else { throw UsageError.invalid(u, for: "user", expected: "a user name or uid") }
                user = uid
            case "group":
                let g = try args.value(for: "group", expected: "a group name or gid")
                guard let gid = UInt32(g) ?? getgrnam(g).map({ $0.pointee.gr_gid }) else { throw UsageError.invalid(g, for: "group", expected: "a group name or gid") }
                group = gid
            case "one_queue": flags.insert(.oneQueue)
            case "pi": flags.remove(.noPacketInfo)
            case "vnet_hdr": flags.insert(.vnetHeader)
            case "multi_queue": flags.insert(.multiQueue)
            default:
                if name == nil && !w.hasPrefix("-") && Arguments.match(w, keywords) == nil { name = w }
                else { throw args.unknown(w, validChoices: keywords) }
            }
        }
        guard let name else { throw UsageError("\"tuntap \(verb)\" needs a device name") }
        guard let mode else { throw UsageError("\"tuntap \(verb) \(name)\" needs \"mode tun\" or \"mode tap\"") }
        try session.flush()
        if verb == "add" {
            try TunTap.create(name: name, mode: mode, owner: user, group: group, flags: flags, netns: session.options.netns)
        } else {
            try TunTap.delete(name: name, mode: mode, flags: flags, netns: session.options.netns)
            session.invalidateNames()
        }
    }

    /// `tuntap show`: each tun/tap device as `NAME: FLAGS [user U] [group G]`, like ip's print_tuntap(); the flags
    /// from the device's IFLA_TUN_* data (what ip reads from sysfs's tun_flags). With -d, the processes that have
    /// it open (`Attached to processes:`).
    static func show(_ args: inout Arguments, _ session: Session) throws {
        if let extra = args.next() { throw args.unknown(extra, validChoices: []) }
        try session.flush()
        for l in try LinkShow.dumpLinks(session, dev: nil) {
            guard let name = l.name, let info = l.linkInfo, info.kind == "tun",
                  Int32(l.header.type) == ARPHRD_ETHER || Int32(l.header.type) == ARPHRD_NONE else { continue }
            guard let v = TunTapLink(kind: info.kind ?? "", data: info.data) else { continue }
            var flags: [String] = []
            if let mode = v.mode { flags.append(mode.rawValue) }
            // IFF_NO_PI and IFF_NOFILTER are the same bit: a device with packet information also shows "filter".
            if v.packetInfo { flags.append("pi") }
            if v.multiQueue { flags.append("multi_queue") }
            if v.vnetHeader { flags.append("vnet_hdr") }
            if v.persist { flags.append("persist") }
            if v.packetInfo { flags.append("filter") }
            let owner = v.owner, group = v.group
            let processes = session.options.details ? attachedProcesses(name) : []
            var p = FieldPrinter()
            p.field("ifname", .string(name), text: "\(name):")
            p.field("flags", .array(flags.map { .string($0) }), text: flags.map { " " + $0 }.joined())
            if let owner { p.field("user", JSON(owner), text: " user \(owner)") }
            if let group { p.field("group", JSON(group), text: " group \(group)") }
            if session.options.details {
                p.field("processes", .array(processes.map { proc in var j = JSONObject(); j.set("name", proc.name); j.set("pid", proc.pid); return j.json }),
                        text: "\n\tAttached to processes:" + processes.map { "\($0.name)(\($0.pid))" }.joined())
            }
            session.emit(p)
        }
    }

    /// Processes with /dev/net/tun open on `name` (their fdinfo's `iff:` line), as ip's show_processes().
    static func attachedProcesses(_ name: String) -> [(name: String, pid: Int32)] {
        var out: [(String, Int32)] = []
        for pid in NetnsCommand.processIDs() where pid != getpid() {
            let fdDir = "/proc/\(pid)/fd"
            for fd in FileSystem.entries(fdDir) where FileSystem.link("\(fdDir)/\(fd)") == "/dev/net/tun" {
                guard let info = FileSystem.read("/proc/\(pid)/fdinfo/\(fd)"),
                      info.split(separator: "\n").contains(where: { $0.hasPrefix("iff:") && $0.split(separator: "\t").last.map(String.init) == name })
                else { continue }
                let comm = FileSystem.read("/proc/\(pid)/comm")?.split(separator: "\n").first.map(String.init) ?? "<NULL>"
                out.append((comm, pid))
            }
        }
        return out
    }
}
