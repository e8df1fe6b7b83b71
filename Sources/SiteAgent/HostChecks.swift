#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import Foundation
import IPCommand
import Netlink
import NetlinkWire
import Sites

/// What the config assumes about this host, checked against the host: the site's `address` is one of its own, and
/// the path to each peer carries `underlay_mtu`. And whether each peer answers (an ICMP echo to its underlay
/// address), for `status`.
public enum HostChecks {
    /// Warnings for `plan` and `up`: each names what was measured and what to change.
    public static func warnings(_ site: Site) -> [String] {
        var out: [String] = []
        let session = site.session()
        let local = site.side.localAddress
        let family = UInt8(local.isV6 ? AF_INET6 : AF_INET)
        var header: [UInt8] = []
        IfAddrHeader(family: family).encode(into: &header)
        if let replies = try? session.rtnl().dump(try RTMessage.make(RTM_GETADDR, flags: [], header: header), operation: "RTM_GETADDR dump") {
            let mine = replies.compactMap { try? AddressMessage($0) }.compactMap { $0.local?.bytes }
            if !mine.contains(local.bytes) {
                out.append("site \(site.side.site)'s address \(local) is not on this host\(site.netns.map { " (namespace \($0))" } ?? ""): "
                           + "the tunnel would send from another address and its peers would drop it; check `address` of [sites.\(site.side.site)]")
            }
        }
        for peer in site.side.peers {
            guard let path = pathMTU(to: peer.address, session: session) else {
                out.append("no route to peer \(peer.name) (\(peer.address)) from this host: the tunnel cannot reach it")
                continue
            }
            if site.config.underlayMTU > path.mtu {
                out.append("underlay_mtu \(site.config.underlayMTU) is above the path MTU \(path.mtu) to peer \(peer.name) (\(peer.address)) "
                           + "via \(path.device): larger outer packets are dropped or fragmented; set underlay_mtu = \(path.mtu)")
            }
        }
        return out
    }

    /// The MTU of the route to `address` (a route's `mtu` metric, else its device's MTU) and the device's name.
    static func pathMTU(to address: Sites.IPAddress, session: Session) -> (mtu: Int, device: String)? {
        var w = AttributeWriter()
        w.raw(UInt16(RTA_DST.rawValue), address.bytes)
        let family = UInt8(address.isV6 ? AF_INET6 : AF_INET)
        var h = RouteHeader(family: family)
        h.dstLength = UInt8(address.bytes.count * 8)
        guard let reply = try? session.rtnl().request(try RTMessage.route(RTM_GETROUTE, flags: [], header: h, attributes: w), operation: "route get \(address)"),
              let route = reply.compactMap({ try? RouteMessage($0) }).first, let oif = route.outputInterface else { return nil }
        var lw = AttributeWriter()
        lw.u32(IFLA_EXT_MASK, 0)
        let link = try? session.rtnl().request(try RTMessage.link(RTM_GETLINK, flags: [], header: IfInfoHeader(index: oif), attributes: lw),
                                               operation: "RTM_GETLINK \(oif)").compactMap { try? LinkMessage($0) }.first
        let device = link?.name ?? "if\(oif)"
        if let m = route.metrics.first(where: { $0.type == UInt16(RTAX_MTU) }) { return (Int(m.value), device) }
        guard let mtu = link?.mtu else { return nil }
        return (Int(mtu), device)
    }

    /// An ICMP echo to `address` from the site's namespace: the round trip in milliseconds, or nil when no answer
    /// came within `timeout` seconds (three requests are sent, a third of the time apart).
    public static func probe(_ address: Sites.IPAddress, netns: String?, timeout: Double = 1) -> Double? {
        let v6 = address.isV6
        guard let fd = try? NetworkNamespace.with(netns, {
            socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
        }), fd >= 0 else { return nil }
        defer { close(fd) }
        let id = UInt16(truncatingIfNeeded: getpid() ^ Int32(truncatingIfNeeded: Int(address.bytes.last ?? 0) << 8))
        var storage = sockaddr_storage()
        let length: socklen_t = withUnsafeMutableBytes(of: &storage) { raw in
            if v6 {
                var a = sockaddr_in6(); a.sin6_family = sa_family_t(AF_INET6)
                withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: address.bytes) }
                raw.copyBytes(from: withUnsafeBytes(of: a) { Array($0) }); return socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
            var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: address.bytes) }
            raw.copyBytes(from: withUnsafeBytes(of: a) { Array($0) }); return socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        let start = Date()
        var sent: [UInt16: Date] = [:]
        for seq in UInt16(1)...3 {
            // Echo request: type, code, checksum, id, sequence, 8 bytes of payload. ICMPv6's checksum is the kernel's.
            var packet: [UInt8] = [v6 ? 128 : 8, 0, 0, 0, UInt8(id >> 8), UInt8(id & 0xff), UInt8(seq >> 8), UInt8(seq & 0xff)]
            packet += Array("isthmus!".utf8)
            if !v6 {
                // RFC 1071: the one's complement of the one's-complement sum of the 16-bit words.
                var sum: UInt32 = 0
                for i in stride(from: 0, to: packet.count, by: 2) { sum += UInt32(packet[i]) << 8 | UInt32(packet[i + 1]) }
                while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
                let c = ~UInt16(sum)
                packet[2] = UInt8(c >> 8); packet[3] = UInt8(c & 0xff)
            }
            let n = packet.withUnsafeBytes { p in
                withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, p.baseAddress, p.count, 0, $0, length) } }
            }
            if n == packet.count { sent[seq] = Date() }
            // Wait up to a third of the timeout for any answer to what was sent.
            let until = start.addingTimeInterval(timeout * Double(seq) / 3)
            while Date() < until {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ms = Int32(max(1, until.timeIntervalSinceNow * 1000))
                guard poll(&pfd, 1, ms) > 0 else { break }
                var buf = [UInt8](repeating: 0, count: 1500)
                let got = recv(fd, &buf, buf.count, 0)
                guard got > 0 else { continue }
                // A raw IPv4 socket gets the IP header too; an IPv6 one does not.
                let offset = v6 ? 0 : Int(buf[0] & 0x0f) * 4
                guard got >= offset + 8, buf[offset] == (v6 ? 129 : 0),
                      UInt16(buf[offset + 4]) << 8 | UInt16(buf[offset + 5]) == id else { continue }
                let s = UInt16(buf[offset + 6]) << 8 | UInt16(buf[offset + 7])
                if let t = sent[s] { return Date().timeIntervalSince(t) * 1000 }
            }
        }
        return nil
    }
}
