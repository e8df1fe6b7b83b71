#if canImport(Glibc)
import Glibc
#endif
import NetlinkWire

/// A failed L2TP request with a plain-words hint for the errors whose cause is usually a missing kernel module
/// or a missing route/address, wrapping the kernel's answer.
public struct L2TPError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The kernel's answer.
    public var underlying: NetlinkError
    /// What to do about it.
    public var hint: String

    /// Wraps the kernel's answer with a hint.
    public init(underlying: NetlinkError, hint: String) { self.underlying = underlying; self.hint = hint }

    /// The kernel's answer, then the hint.
    public var description: String { "\(underlying) — \(hint)" }
}

/// Creates, changes, lists and deletes the kernel's L2TPv3 tunnels and sessions over the "l2tp" generic-netlink
/// family (Documentation/networking/l2tp.rst, "Netlink API"). The family id is resolved once, on construction.
public final class L2TPClient {
    /// The NETLINK_GENERIC transport requests go over.
    public let transport: NetlinkTransport
    /// The resolved "l2tp" family.
    public let family: GenericFamily

    /// Resolves the l2tp family on `transport`; throws `GenericFamilyUnavailable` when l2tp_netlink is not loaded.
    public init(transport: NetlinkTransport) throws {
        self.transport = transport
        self.family = try resolveFamily(L2TPNetlink.familyName, on: transport)
    }

    /// Uses an already resolved family.
    public init(transport: NetlinkTransport, family: GenericFamily) {
        self.transport = transport
        self.family = family
    }

    // MARK: tunnels

    /// L2TP_CMD_TUNNEL_CREATE. Without `fd`, the kernel opens the tunnel's socket from the addresses and ports.
    public func createTunnel(_ config: L2TPTunnelConfig) throws {
        try create(L2TPNetlink.createTunnel(config, family: family.id), operation: "create L2TP tunnel \(config.tunnelID)") {
            Self.explain($0, creatingTunnel: config)
        }
    }

    /// L2TP_CMD_TUNNEL_DELETE: removes the tunnel and all of its sessions.
    public func deleteTunnel(_ tunnelID: UInt32) throws {
        try transport.request(L2TPNetlink.deleteTunnel(tunnelID, family: family.id), operation: "delete L2TP tunnel \(tunnelID)")
    }

    /// L2TP_CMD_TUNNEL_MODIFY (the kernel only accepts DEBUG, which current kernels ignore).
    public func modifyTunnel(_ tunnelID: UInt32, debug: UInt32? = nil) throws {
        try transport.request(L2TPNetlink.modifyTunnel(tunnelID, debug: debug, family: family.id),
                              operation: "modify L2TP tunnel \(tunnelID)")
    }

    /// Every tunnel in the namespace (L2TP_CMD_TUNNEL_GET dump).
    public func tunnels() throws -> [L2TPTunnelConfig] {
        try all(L2TPNetlink.getTunnel(family: family.id), operation: "list L2TP tunnels")
    }

    /// One tunnel by id, or nil when the kernel has none with that id (ENODEV).
    public func tunnel(_ tunnelID: UInt32) throws -> L2TPTunnelConfig? {
        try one(L2TPNetlink.getTunnel(tunnelID, family: family.id), operation: "get L2TP tunnel \(tunnelID)")
    }

    // MARK: sessions

    /// L2TP_CMD_SESSION_CREATE. For Ethernet pseudowires the kernel creates the l2tpethN (or `ifname`) interface.
    public func createSession(_ config: L2TPSessionConfig) throws {
        try create(L2TPNetlink.createSession(config, family: family.id),
                   operation: "create L2TP session \(config.sessionID) in tunnel \(config.tunnelID)") {
            Self.explain($0, creatingSession: config)
        }
    }

    /// L2TP_CMD_SESSION_DELETE by tunnel and session id.
    public func deleteSession(tunnelID: UInt32, sessionID: UInt32) throws {
        try transport.request(L2TPNetlink.deleteSession(tunnelID: tunnelID, sessionID: sessionID, family: family.id),
                              operation: "delete L2TP session \(sessionID) in tunnel \(tunnelID)")
    }

    /// L2TP_CMD_SESSION_DELETE by pseudowire interface name (L2TPv3 Ethernet sessions).
    public func deleteSession(ifname: String) throws {
        try transport.request(L2TPNetlink.deleteSession(ifname: ifname, family: family.id),
                              operation: "delete L2TP session of \(ifname)")
    }

    /// L2TP_CMD_SESSION_MODIFY: sequence numbering, LNS mode, reorder timeout.
    public func modifySession(_ change: L2TPSessionModification) throws {
        try transport.request(L2TPNetlink.modifySession(change, family: family.id),
                              operation: "modify L2TP session \(change.sessionID) in tunnel \(change.tunnelID)")
    }

    /// Every session of every tunnel in the namespace (L2TP_CMD_SESSION_GET dump).
    public func sessions() throws -> [L2TPSessionConfig] {
        try all(L2TPNetlink.getSession(family: family.id), operation: "list L2TP sessions")
    }

    /// One session by ids, or nil when the kernel has none (ENODEV).
    public func session(tunnelID: UInt32, sessionID: UInt32) throws -> L2TPSessionConfig? {
        try one(L2TPNetlink.getSession(tunnelID: tunnelID, sessionID: sessionID, family: family.id),
                operation: "get L2TP session \(sessionID) in tunnel \(tunnelID)")
    }

    /// A CREATE request; the kernel's refusal comes back as `explain` makes it (with a hint).
    private func create(_ m: NetlinkMessage, operation: String, explain: (NetlinkError) -> Error) throws {
        do {
            try transport.request(m, operation: operation)
        } catch let e as NetlinkError {
            throw explain(e)
        }
    }

    /// A dump's replies of this family, decoded.
    private func all<T: L2TPAttributesDecodable>(_ m: NetlinkMessage, operation: String) throws -> [T] {
        let replies = try transport.dump(m, operation: operation)
        return try replies.filter { $0.type == family.id }.map { try T(decoding: $0) }
    }

    /// A GET's reply of this family, decoded, or nil when the kernel has no such object (ENODEV).
    private func one<T: L2TPAttributesDecodable>(_ m: NetlinkMessage, operation: String) throws -> T? {
        do {
            let replies = try transport.request(m, operation: operation)
            return try replies.first { $0.type == family.id }.map { try T(decoding: $0) }
        } catch let e as NetlinkError where e.errno == ENODEV {
            return nil
        }
    }

    // MARK: hints

    static func explain(_ e: NetlinkError, creatingTunnel c: L2TPTunnelConfig) -> Error {
        switch e.errno {
        case EPROTONOSUPPORT where c.encapsulation == .ip:
            let module = (c.local?.isV6 ?? false) ? "l2tp_ip6" : "l2tp_ip"
            return L2TPError(underlying: e, hint: "IP encapsulation needs the \(module) module: `modprobe \(module)`")
        case EEXIST:
            return L2TPError(underlying: e, hint: "tunnel \(c.tunnelID) already exists (or its local address and port are taken by another tunnel)")
        case EADDRINUSE:
            return L2TPError(underlying: e, hint: "the local address and port are already in use")
        case EADDRNOTAVAIL:
            return L2TPError(underlying: e, hint: "the local address \(c.local.map { "\($0)" } ?? "") is not assigned to an interface in this namespace")
        case ENETUNREACH:
            return L2TPError(underlying: e, hint: "there is no route to the remote address \(c.remote.map { "\($0)" } ?? "")")
        case EINVAL where c.fd == nil && (c.local == nil || c.remote == nil || c.local?.isV6 != c.remote?.isV6):
            return L2TPError(underlying: e, hint: "a tunnel needs a local and a remote address of the same family")
        default:
            return e
        }
    }

    static func explain(_ e: NetlinkError, creatingSession s: L2TPSessionConfig) -> Error {
        switch e.errno {
        case EPROTONOSUPPORT where s.pseudowireType == .eth || s.pseudowireType == .ethVLAN:
            return L2TPError(underlying: e, hint: "Ethernet pseudowires need the l2tp_eth module: `modprobe l2tp_eth`")
        case EPROTONOSUPPORT:
            return L2TPError(underlying: e, hint: "the kernel has no handler for this pseudowire type, or the tunnel is L2TPv2")
        case ENODEV:
            return L2TPError(underlying: e, hint: "there is no tunnel \(s.tunnelID)")
        case EEXIST:
            return L2TPError(underlying: e, hint: "session \(s.sessionID) already exists (or the interface name is taken)")
        default:
            return e
        }
    }
}
