import CLinuxUAPI
#if canImport(Glibc)
import Glibc
#endif
import Netlink
import NetlinkWire

/// Global options, as iproute2's: -j, -d, -s, -n NAME, -force for batches.
public struct Options: Sendable {
    public var json = false
    public var pretty = false
    public var details = false
    /// -s: 1 for the counters, 2 (-s -s) for their error details too.
    public var statistics = 0
    /// -br: one line per link, name, state and addresses.
    public var brief = false
    /// -o: each record on one line, its line breaks written as `\`.
    public var oneline = false
    /// -h with an object (-human): counters in k, M, G.
    public var human = false
    /// -t (1): `monitor` prints "Timestamp: ..." before each event; -ts (2): "[YYYY-MM-DDTHH:MM:SS.uuuuuu] " before it.
    public var timestamp = 0
    public var netns: String?
    public var force = false
    public var family: UInt8 = 0
    public init() {}
}

/// What a command prints: text lines, and for -j the JSON values that iproute2 would print as one array.
public struct Output: Sendable {
    public var lines: [String] = []
    public var json: [JSON] = []
    public init() {}
}

/// The execution context of commands: lazily opened sockets, a pipeline of pending requests (for -batch),
/// and a cache of interface names. Commands submit requests; the session decides when they go out.
public final class Session {
    public let options: Options
    public var output = Output()
    private var rtnlSocket: NetlinkTransport?
    private var genlSocket: NetlinkTransport?
    private var xfrmSocket: NetlinkTransport?
    private let openTransport: (Int32, String?) throws -> NetlinkTransport
    /// Batch mode queues mutating requests and sends them many per sendmsg; otherwise each is sent at once.
    public var pipelining = false
    /// Where errors are reported, e.g. "file:12" in batch mode.
    public var location: String?
    private var pending: [(NetlinkRequest, String?)] = []
    private var indexByName: [String: Int32] = [:]
    /// Errors from requests that were sent later than their command ran (batch mode), with their locations.
    public private(set) var deferredErrors: [(String?, NetlinkError)] = []

    /// `transport` opens a socket for a netlink protocol in a namespace; tests pass a fake.
    /// `tunnel run` (the userspace data plane, in the TunnelHost target above IPCommand), set by the executable that
    /// links it; without it `tunnel run` says it is not available.
    public var tunnelRunner: ((inout Arguments, Session) throws -> Void)?

    public init(options: Options, transport: ((Int32, String?) throws -> NetlinkTransport)? = nil) {
        self.options = options
        self.openTransport = transport ?? { try NetlinkSocket(protocol: $0, netns: $1) }
    }

    /// The NETLINK_ROUTE socket (opened on first use, inside `options.netns`).
    public func rtnl() throws -> NetlinkTransport {
        if let s = rtnlSocket { return s }
        let s = try openTransport(NETLINK_ROUTE, options.netns)
        rtnlSocket = s
        return s
    }

    /// The NETLINK_GENERIC socket.
    public func genl() throws -> NetlinkTransport {
        if let s = genlSocket { return s }
        let s = try openTransport(NETLINK_GENERIC, options.netns)
        genlSocket = s
        return s
    }

    /// The NETLINK_XFRM socket (IPsec states and policies; `xfrm`). Its requests are sent at once, also in batch
    /// mode: only rtnetlink requests are pipelined.
    public func xfrm() throws -> NetlinkTransport {
        if let s = xfrmSocket { return s }
        let s = try openTransport(NETLINK_XFRM, options.netns)
        xfrmSocket = s
        return s
    }

    /// Sends a mutating rtnetlink request now, or queues it in batch mode. Errors surface at once when not batching.
    public func submit(_ request: NetlinkRequest) throws {
        if pipelining {
            pending.append((request, location))
        } else {
            try rtnl().request(request.message, operation: request.operation)
        }
    }

    /// Sends every queued request and waits for the ACKs. Throws the first error unless -force.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll()
        let results = try rtnl().execute(batch.map { $0.0 }, stopOnError: !options.force)
        for (i, r) in results.enumerated() {
            if case .failure(let e) = r {
                deferredErrors.append((batch[i].1, e))
                if !options.force { throw LocatedError(location: batch[i].1, error: e) }
            }
        }
    }

    /// Drops cached names (after deletes, renames or namespace moves).
    public func invalidateNames() { indexByName.removeAll() }

    /// Interface index for a name; queued requests are flushed first when the name is not known yet.
    public func ifindex(_ name: String) throws -> Int32 {
        if let i = indexByName[name] { return i }
        try Session.checkDeviceName(name)
        try flush()
        var h = IfInfoHeader()
        h.index = 0
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, name)
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_SKIP_STATS))
        let msg = try RTMessage.link(RTM_GETLINK, flags: .request, header: h, attributes: w)
        do {
            let replies = try rtnl().request(msg, operation: "RTM_GETLINK \(name)")
            guard let r = replies.first, let l = try? LinkMessage(r) else {
                throw UsageError("cannot find device \"\(name)\"")
            }
            indexByName[name] = l.header.index
            return l.header.index
        } catch let e as NetlinkError where e.errno == 19 /* ENODEV */ {
            throw UsageError("cannot find device \"\(name)\"")
        }
    }

    /// Refuses, before any request, a name no device can have (`Arguments.isInterfaceName`): iproute2's
    /// "Cannot find device" wording, then why.
    static func checkDeviceName(_ name: String) throws {
        guard !Arguments.isInterfaceName(name) else { return }
        throw UsageError("cannot find device \(Arguments.quoted(name)): not a valid interface name (\(Arguments.whyNotInterfaceName(name)))")
    }

    /// Interface name for an index (nil when it is gone), via a cached RTM_GETLINK.
    public func ifname(_ index: Int32) -> String? {
        if let n = indexByName.first(where: { $0.value == index })?.key { return n }
        guard let msg = try? RTMessage.link(RTM_GETLINK, flags: .request, header: IfInfoHeader(index: index)),
              let r = try? rtnl().request(msg, operation: "RTM_GETLINK"), let m = r.first,
              let l = try? LinkMessage(m), let n = l.name else { return nil }
        indexByName[n] = index
        return n
    }

    /// Whether a name is in the cache (without asking the kernel).
    public func knows(name: String) -> Bool { indexByName[name] != nil }
    public func knows(_ name: String) -> Bool { knows(name: name) }
    /// Forget one cached name (it was just created or renamed).
    public func forget(name: String) { indexByName[name] = nil }

    /// An fd for a named namespace, kept open for the session (IFLA_NET_NS_FD, veth peers).
    public func namespaceFD(_ name: String) throws -> Int32 {
        if let fd = namespaceFDs[name] { return fd }
        let fd = try NetworkNamespace.open(name)
        namespaceFDs[name] = fd
        return fd
    }
    private var namespaceFDs: [String: Int32] = [:]

    deinit { for fd in namespaceFDs.values { close(fd) } }

    /// The /run/netns name that has namespace id `nsid` in this session's namespace (ip's get_name_from_nsid), read
    /// once per session.
    public func namespaceName(nsid: Int32) -> String? {
        if namespaceByID == nil {
            var map: [Int32: String] = [:]
            for name in NetworkNamespace.names() { if let id = try? NetnsCommand.nsid(name, self), id >= 0 { map[id] = name } }
            namespaceByID = map
        }
        return namespaceByID?[nsid]
    }
    private var namespaceByID: [Int32: String]?

    /// Remember a name seen in a dump.
    public func learn(name: String, index: Int32) { indexByName[name] = index }

    public func print(_ line: String) { output.lines.append(line) }
    /// One record of several lines (a link, an address): with -o one line, its breaks written as `\` like ip's _SL_.
    public func print(record lines: [String]) {
        if options.oneline { output.lines.append(lines.joined(separator: "\\")) } else { output.lines += lines }
    }
    public func emit(_ value: JSON) { output.json.append(value) }
}

/// An error with the batch location ("FILE:LINE") of the command that caused it.
public struct LocatedError: Error, CustomStringConvertible {
    public var location: String?
    public var error: Error
    public init(location: String?, error: Error) { self.location = location; self.error = error }
    public var description: String { location.map { "\($0): \(error)" } ?? "\(error)" }
}
