#if canImport(Glibc)
import Glibc
#endif
import Netlink
import NetlinkWire

/// `tuntap add|del [dev] NAME mode tun|tap [user U] [group G] [one_queue] [pi] [vnet_hdr] [multi_queue]` and
/// `tuntap show`, as `ip tuntap`.
public enum TunTapCommand {
    static let keywords = ["dev", "mode", "user", "group", "one_queue", "pi", "vnet_hdr", "multi_queue", "name"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(["add", "delete", "show", "list", "lst"], default: "show")
        if verb == "show" || verb == "list" || verb == "lst" {
            var a = Arguments(["type", "tun"])
            try LinkShow.show(&a, session)
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
}
