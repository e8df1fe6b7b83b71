#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Netlink
import NetlinkWire

/// Puts a pseudowire's interface in a bridge once the session made it (rtnetlink IFLA_MASTER, in this thread's
/// namespace).
enum Bridging {
    static func attach(_ interface: String, to bridge: String) throws {
        let index = if_nametoindex(bridge)
        guard index != 0 else { throw DataPathError("bridge \(bridge) does not exist (create it, or drop `bridge` from the pseudowire)") }
        let route = try NetlinkSocket(protocol: NETLINK_ROUTE)
        var a = AttributeWriter()
        a.string(IFLA_IFNAME, interface)
        a.u32(IFLA_MASTER, index)
        _ = try route.request(RTMessage.link(RTM_NEWLINK, flags: [.request, .ack], header: IfInfoHeader(), attributes: a),
                              operation: "set \(interface) master \(bridge)")
    }
}
