#if canImport(Glibc)
import Glibc
#endif
import NetlinkWire

/// A failed netlink request: which operation, the errno, and the kernel's extended-ACK text when it gave one.
public struct NetlinkError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var errno: Int32
    public var extAck: String?
    public var offset: UInt32?

    public init(operation: String, errno: Int32, extAck: String? = nil, offset: UInt32? = nil) {
        self.operation = operation; self.errno = errno; self.extAck = extAck; self.offset = offset
    }

    public var errnoText: String { String(cString: strerror(errno)) }

    public var description: String {
        var s = "\(operation): \(errnoText)"
        if let extAck, !extAck.isEmpty { s += " (kernel: \(extAck))" }
        if errno == EPERM || errno == EACCES {
            s += " — this needs CAP_NET_ADMIN in the network namespace (run as root, or grant the capability)"
        }
        return s
    }
}

/// A system call that failed outside a netlink exchange (socket, bind, setns, open...).
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public var call: String
    public var errno: Int32
    public init(_ call: String, errno: Int32 = Glibc.errno) { self.call = call; self.errno = errno }
    public var description: String {
        var s = "\(call): \(String(cString: strerror(errno)))"
        if errno == EPERM || errno == EACCES { s += " — this needs CAP_NET_ADMIN (and CAP_SYS_ADMIN to enter a named namespace); run as root" }
        return s
    }
}
