import CLinuxUAPI
import Netlink
import NetlinkWire
#if canImport(Glibc)
import Glibc
#endif

/// Dumps shared by the show commands. Each flushes queued (batch) requests first.
enum RTDump {
    /// Name, master and link type of every interface, by ifindex (what the neighbour and fdb shows print and filter on).
    static func linkTables(_ session: Session) throws -> (names: [Int32: String], masters: [Int32: Int32], types: [Int32: UInt16]) {
        var names: [Int32: String] = [:], masters: [Int32: Int32] = [:], types: [Int32: UInt16] = [:]
        for l in try links(session) {
            if let n = l.name { names[l.header.index] = n }
            if let m = l.master { masters[l.header.index] = m }
            types[l.header.index] = l.header.type
        }
        return (names, masters, types)
    }

    /// RTM_GETLINK dump; also teaches the session every name.
    static func links(_ session: Session) throws -> [LinkMessage] {
        try session.flush()
        var w = AttributeWriter()
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_SKIP_STATS))
        let msg = try RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(), attributes: w)
        var out: [LinkMessage] = []
        for r in try session.rtnl().dump(msg, operation: "dump links") where r.type == UInt16(RTM_NEWLINK) {
            guard let l = try? LinkMessage(r) else { continue }
            if let n = l.name { session.learn(name: n, index: l.header.index) }
            out.append(l)
        }
        return out
    }

    /// RTM_GETADDR dump of one family (0 = all); undecodable messages are skipped.
    static func addresses(_ session: Session, family: UInt8) throws -> [AddressMessage] {
        try session.flush()
        let msg = try RTMessage.address(RTM_GETADDR, flags: [], header: IfAddrHeader(family: family))
        return try session.rtnl().dump(msg, operation: "dump addresses").compactMap { r in
            r.type == UInt16(RTM_NEWADDR) ? try? AddressMessage(r) : nil
        }
    }

    /// An interface name for display: from `names`, the session, or "if<N>" as iproute2's ll_index_to_name.
    static func name(_ index: Int32, _ names: [Int32: String], _ session: Session) -> String {
        if let n = names[index] { return n }
        return session.ifname(index) ?? "if\(index)"
    }
}
