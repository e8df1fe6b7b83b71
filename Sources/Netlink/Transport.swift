import NetlinkWire

/// What the rest of Isthmus needs from a netlink socket. `NetlinkSocket` is the real one;
/// TestSupport's `FakeNetlink` answers at the message level, so commands test without a kernel.
public protocol NetlinkTransport: AnyObject {
    /// One request with NLM_F_ACK; returns the non-ACK replies.
    @discardableResult
    func request(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage]
    /// A dump (NLM_F_DUMP) up to NLMSG_DONE.
    func dump(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage]
    /// Many requests pipelined; one result per request sent.
    func execute(_ requests: [NetlinkRequest], stopOnError: Bool) throws -> [Result<[NetlinkMessage], NetlinkError>]
}

extension NetlinkSocket: NetlinkTransport {}
