#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import DataplaneWire
import Netlink
import NetlinkWire

/// A TAP or TUN device opened for the data plane: IFF_VNET_HDR so that 64 KB TCP frames travel with their
/// offload metadata, offloads enabled with TUNSETOFFLOAD, non-blocking.
public struct DataplaneDevice {
    public let fd: Int32
    public let name: String
    public let index: Int32
    /// The device existed before (a persistent TAP/TUN the user made): it is left in place at the end.
    public let preexisting: Bool

    public static func open(name: String, ethernet: Bool) throws -> DataplaneDevice {
        let preexisting = if_nametoindex(name) != 0
        let fd: Int32
        do {
            fd = try TunTap.open(name: name, mode: ethernet ? .tap : .tun, flags: [.noPacketInfo, .vnetHeader])
        } catch let e as SystemError where e.errno == EINVAL || e.errno == EBUSY {
            throw SystemError("\(name) exists and is not a free \(ethernet ? "TAP" : "TUN") device (TUNSETIFF)", errno: e.errno)
        }
        var ok = false
        defer { if !ok { close(fd) } }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var size: Int32 = Int32(VirtioNetHeader.size)
        _ = isthmus_ioctl_ptr(fd, ISTHMUS_TUNSETVNETHDRSZ, &size)
        // Checksum offload and TSO: the kernel hands us 64 KB TCP frames with partial checksums (segmented and
        // checksummed here), and accepts coalesced ones from us.
        let offloads = UInt(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
        if isthmus_ioctl_int(fd, ISTHMUS_TUNSETOFFLOAD, offloads) != 0 {
            _ = isthmus_ioctl_int(fd, ISTHMUS_TUNSETOFFLOAD, UInt(TUN_F_CSUM))
        }
        let index = Int32(bitPattern: if_nametoindex(name))
        guard index > 0 else { throw SystemError("if_nametoindex \(name)") }
        ok = true
        return DataplaneDevice(fd: fd, name: name, index: index, preexisting: preexisting)
    }

    /// Sets MTU (if given), the largest GSO frame, and brings the device up, over rtnetlink.
    public func configure(mtu: Int?, gsoMaxSize: Int?) throws {
        let nl = try NetlinkSocket()
        if let gsoMaxSize {
            // Best effort: kernels before 5.19 cannot change it.
            var a = AttributeWriter()
            a.u32(IFLA_GSO_MAX_SIZE, UInt32(gsoMaxSize))
            _ = try? nl.request(RTMessage.link(RTM_NEWLINK, flags: [.request, .ack], header: IfInfoHeader(index: index), attributes: a),
                                operation: "set gso_max_size of \(name)")
        }
        var a = AttributeWriter()
        if let mtu { a.u32(IFLA_MTU, UInt32(mtu)) }
        let up = UInt32(IFF_UP.rawValue)
        _ = try nl.request(RTMessage.link(RTM_NEWLINK, flags: [.request, .ack], header: IfInfoHeader(index: index, flags: up, change: up), attributes: a),
                           operation: "set \(name) up" + (mtu.map { " mtu \($0)" } ?? ""))
    }
}
