#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI

/// TUN/TAP devices through /dev/net/tun (linux/if_tun.h): create persistent devices like `ip tuntap add`,
/// or open one for a userspace data plane.
public enum TunTap {
    public enum Mode: String, Sendable { case tun, tap }

    /// Options of TUNSETIFF beyond the mode.
    public struct Flags: OptionSet, Sendable {
        public var rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let noPacketInfo = Flags(rawValue: Int16(IFF_NO_PI))
        public static let vnetHeader = Flags(rawValue: Int16(IFF_VNET_HDR))
        public static let multiQueue = Flags(rawValue: Int16(IFF_MULTI_QUEUE))
        public static let oneQueue = Flags(rawValue: Int16(IFF_ONE_QUEUE))
    }

    /// Opens /dev/net/tun and attaches (creating if needed) device `name`; returns the fd. The device lives in the
    /// namespace the calling thread is in (use `NetworkNamespace.with`).
    public static func open(name: String, mode: Mode, flags: Flags = [.noPacketInfo]) throws -> Int32 {
        guard name.utf8.count < Int(CLinuxUAPI.IFNAMSIZ) else { throw SystemError("interface name \"\(name)\" too long", errno: EINVAL) }
        let fd = Glibc.open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw SystemError(errno == ENOENT ? "open /dev/net/tun (the tun module is not loaded: modprobe tun)" : "open /dev/net/tun")
        }
        var ifr = [UInt8](repeating: 0, count: 40)   // struct ifreq: name[IFNAMSIZ], then the union (flags first)
        for (i, b) in name.utf8.enumerated() { ifr[i] = b }
        let f = (mode == .tun ? Int16(IFF_TUN) : Int16(IFF_TAP)) | flags.rawValue
        withUnsafeBytes(of: f.littleEndian) { for i in 0..<2 { ifr[16 + i] = $0[i] } }
        let rc = ifr.withUnsafeMutableBytes { isthmus_ioctl_ptr(fd, ISTHMUS_TUNSETIFF, $0.baseAddress) }
        if rc != 0 { let e = SystemError("TUNSETIFF \(name)"); close(fd); throw e }
        return fd
    }

    /// Creates a persistent device (like `ip tuntap add dev NAME mode tap user U group G`).
    public static func create(name: String, mode: Mode, owner: UInt32? = nil, group: UInt32? = nil,
                              flags: Flags = [.noPacketInfo], netns: String? = nil) throws {
        try NetworkNamespace.with(netns) {
            let fd = try open(name: name, mode: mode, flags: flags)
            defer { close(fd) }
            if let owner, isthmus_ioctl_int(fd, ISTHMUS_TUNSETOWNER, UInt(owner)) != 0 { throw SystemError("TUNSETOWNER \(owner)") }
            if let group, isthmus_ioctl_int(fd, ISTHMUS_TUNSETGROUP, UInt(group)) != 0 { throw SystemError("TUNSETGROUP \(group)") }
            if isthmus_ioctl_int(fd, ISTHMUS_TUNSETPERSIST, 1) != 0 { throw SystemError("TUNSETPERSIST \(name)") }
        }
    }

    /// Removes a persistent device (attach, then clear persist; the device goes when the fd closes).
    public static func delete(name: String, mode: Mode, flags: Flags = [.noPacketInfo], netns: String? = nil) throws {
        try NetworkNamespace.with(netns) {
            let fd = try open(name: name, mode: mode, flags: flags)
            defer { close(fd) }
            if isthmus_ioctl_int(fd, ISTHMUS_TUNSETPERSIST, 0) != 0 { throw SystemError("TUNSETPERSIST 0 \(name)") }
        }
    }
}
