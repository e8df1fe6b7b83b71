#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import NetlinkWire
import Synchronization

/// The kernel has no generic-netlink family of that name (the controller answered ENOENT):
/// the module that registers it is not loaded, or the kernel was built without it.
public struct GenericFamilyUnavailable: Error, CustomStringConvertible, Equatable, Sendable {
    /// The family name that was asked for ("l2tp").
    public var family: String

    /// The error for family `family`.
    public init(family: String) { self.family = family }

    /// Plain words: what is missing and how to get it (for l2tp: which modules to load, or the userspace data plane).
    public var description: String {
        switch family {
        case "l2tp":
            // Documentation/networking/l2tp.rst: the netlink API lives in l2tp_netlink; Ethernet pseudowires
            // (l2tpethN) in l2tp_eth; L2TPv3 directly over IP (protocol 115) in l2tp_ip / l2tp_ip6.
            return "the kernel has no l2tp generic-netlink family, so it cannot create L2TP tunnels or sessions. "
                + "Load the modules l2tp_netlink, l2tp_eth (Ethernet pseudowires) and l2tp_ip (IP encapsulation): "
                + "`modprobe l2tp_eth l2tp_ip` (l2tp_eth pulls in l2tp_netlink). "
                + "If the kernel has no L2TP modules at all, use Isthmus's userspace data plane instead: "
                + "`isthmus tunnel run NAME type l2tpv3 ...`"
        default:
            return "the kernel has no \"\(family)\" generic-netlink family; load the kernel module that provides it"
        }
    }
}

/// Resolved families per transport object, so a command resolves each family once per socket.
private final class FamilyCache: Sendable {
    /// Holds the transport weakly and only compares its identity, never uses it: safe to share across threads.
    private struct Entry: @unchecked Sendable {
        weak var transport: AnyObject?
        var families: [String: GenericFamily]
    }
    private let state = Mutex<[ObjectIdentifier: Entry]>([:])

    func lookup(_ name: String, on transport: NetlinkTransport) -> GenericFamily? {
        state.withLock { table in
            guard let e = table[ObjectIdentifier(transport)], e.transport === transport else { return nil }
            return e.families[name]
        }
    }

    func store(_ family: GenericFamily, as name: String, on transport: NetlinkTransport) {
        state.withLock { table in
            // Drop entries whose transports are gone (their ObjectIdentifiers may be reused).
            table = table.filter { $0.value.transport != nil }
            let key = ObjectIdentifier(transport)
            var e = table[key].flatMap { $0.transport === transport ? $0 : nil } ?? Entry(transport: transport, families: [:])
            e.families[name] = family
            table[key] = e
        }
    }

    func forget(on transport: NetlinkTransport) {
        _ = state.withLock { $0.removeValue(forKey: ObjectIdentifier(transport)) }
    }
}

private let familyCache = FamilyCache()

/// Asks the generic-netlink controller (CTRL_CMD_GETFAMILY) for a family by name; the answer is cached per
/// transport object. Throws `GenericFamilyUnavailable` when the kernel has no such family (ENOENT).
public func resolveFamily(_ name: String, on transport: NetlinkTransport) throws -> GenericFamily {
    if let f = familyCache.lookup(name, on: transport) { return f }
    let replies: [NetlinkMessage]
    do {
        replies = try transport.request(GenericController.getFamily(named: name),
                                        operation: "CTRL_CMD_GETFAMILY \(name)")
    } catch let e as NetlinkError where e.errno == ENOENT {
        throw GenericFamilyUnavailable(family: name)
    }
    guard let reply = replies.first(where: { $0.type == GenericController.familyID }) else {
        throw NetlinkError(operation: "CTRL_CMD_GETFAMILY \(name)", errno: EBADMSG,
                           extAck: "the controller sent no CTRL_CMD_NEWFAMILY reply")
    }
    let family = try GenericFamily(decoding: reply)
    familyCache.store(family, as: name, on: transport)
    return family
}

/// Forgets the families cached for a transport (after a module was loaded or unloaded, family ids can change).
public func forgetResolvedFamilies(on transport: NetlinkTransport) {
    familyCache.forget(on: transport)
}
