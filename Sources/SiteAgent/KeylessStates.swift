import CLinuxUAPI
import Foundation
import IPCommand
import Netlink
import NetlinkWire

/// What `down` removes of the kernel's own IPsec state for an `encryption = "ipsec"` site: ESP states between exactly
/// the site's two addresses that hold no keys. The kernel makes one (an ACQUIRE: spi 0) for a packet a trap policy
/// held until charon installs the SA, and keeps it past the policy (30 s, `net.core.xfrm_acq_expires`; charon was
/// seen extending it to 165 s after a failed IKE); charon may have given it an SPI (ALLOCSPI) and never keyed it.
/// Keyed states are charon's, removed when it unloads; a state with any algorithm is never touched.
///
/// XFRM_MSG_DELSA finds an ESP state by (daddr, SPI, proto) only (`xfrm_user_state_lookup`: the by-address lookup
/// with XFRMA_SRCADDR is for the non-IPsec protocols), and a state with SPI 0 is not in the SPI hash: an ACQUIRE
/// cannot be deleted as it is (ESRCH, checked in Debian's 6.1). So it is given an SPI first: XFRM_MSG_ALLOCSPI with
/// the ACQUIRE's own sequence number finds exactly that state (`xfrm_find_acq_byseq`, its daddr checked) and puts it
/// in the SPI hash; then DELSA with that SPI removes it.
enum KeylessStates {
    /// The states to remove: ESP, the two addresses (either direction), no algorithm.
    static func matches(_ s: XFRMStateMessage, _ a: IPAddress, _ b: IPAddress) -> Bool {
        guard s.info.id.proto == UInt8(IPPROTO_ESP), s.info.family == UInt16(a.isV6 ? AF_INET6 : AF_INET) else { return false }
        let attrs = s.attributes
        guard attrs.aead == nil, attrs.crypt == nil, attrs.auth == nil, attrs.authTrunc == nil, attrs.comp == nil else { return false }
        let n = a.bytes.count
        let src = Array(s.info.saddr.prefix(n)), dst = Array(s.info.id.daddr.prefix(n))
        return (src == a.bytes && dst == b.bytes) || (src == b.bytes && dst == a.bytes)
    }

    /// Removes them; returns how many. A state gone meanwhile (ESRCH) is not an error.
    static func remove(_ sock: NetlinkTransport, between a: IPAddress, and b: IPAddress) throws -> Int {
        let states = try sock.dump(try XFRMMessage.make(XFRMMessageType.getSA, flags: [.request, .dump], header: []), operation: "xfrm state dump")
            .compactMap { try? XFRMStateMessage($0) }.filter { matches($0, a, b) }
        var removed = 0
        for s in states {
            var spi = s.info.id.spi
            if spi == 0 {
                // struct xfrm_userspi_info: the state (its seq picks it), then min and max of the SPI range.
                var info = XFRMUserSAInfo()
                info.selector = s.info.selector; info.id = s.info.id; info.saddr = s.info.saddr
                info.family = s.info.family; info.mode = s.info.mode; info.reqid = s.info.reqid; info.seq = s.info.seq
                var h: [UInt8] = []
                info.encode(into: &h)
                for v: UInt32 in [0x100, 0xffff_ffff] { withUnsafeBytes(of: v) { h += $0 } }
                var w = AttributeWriter()
                if let m = s.attributes.mark { var b: [UInt8] = []; m.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
                do {
                    let r = try sock.request(try XFRMMessage.make(XFRMMessageType.allocSPI, flags: [.request], header: h, attributes: w),
                                             operation: "xfrm state allocspi")
                    guard let given = r.compactMap({ try? XFRMStateMessage($0) }).first?.info.id.spi, given != 0 else { continue }
                    spi = given
                } catch let e as NetlinkError where e.errno == ENOENT || e.errno == ESRCH { continue }
            }
            var sid = XFRMUserSAID()
            sid.family = s.info.family; sid.daddr = s.info.id.daddr; sid.spi = spi; sid.proto = s.info.id.proto
            var h: [UInt8] = []
            sid.encode(into: &h)
            var w = AttributeWriter()
            w.raw(XFRMAttributeType.srcAddr, s.info.saddr)
            if let m = s.attributes.mark { var b: [UInt8] = []; m.encode(into: &b); w.raw(XFRMAttributeType.mark, b) }
            do {
                try sock.request(try XFRMMessage.make(XFRMMessageType.delSA, flags: [.request], header: h, attributes: w), operation: "xfrm state delete")
                removed += 1
            } catch let e as NetlinkError where e.errno == ESRCH { continue }
        }
        return removed
    }
}
