#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Netlink
import NetlinkWire

/// Puts a pseudowire's interface in a bridge and sets its alias once the session made it (rtnetlink IFLA_MASTER and
/// IFLA_IFALIAS, in this thread's namespace).
enum Bridging {
    static func attach(_ interface: String, to bridge: String?, alias: String?) throws {
        guard bridge != nil || alias != nil else { return }
        var a = AttributeWriter()
        a.string(IFLA_IFNAME, interface)
        if let alias { a.string(IFLA_IFALIAS, alias) }
        if let bridge {
            let index = if_nametoindex(bridge)
            guard index != 0 else { throw DataPathError("bridge \(bridge) does not exist (create it, or drop `bridge` from the pseudowire)") }
            a.u32(IFLA_MASTER, index)
        }
        let route = try NetlinkSocket(protocol: NETLINK_ROUTE)
        _ = try route.request(RTMessage.link(RTM_NEWLINK, flags: [.request, .ack], header: IfInfoHeader(), attributes: a),
                              operation: "set \(interface)" + (bridge.map { " master \($0)" } ?? "") + (alias.map { " alias \($0)" } ?? ""))
    }
}
