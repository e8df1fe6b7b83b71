import Netlink
import NetlinkWire

/// A message-level fake of a netlink socket: records every request and answers with a closure.
/// The closure returns the reply messages (for GET/dump), or throws a NetlinkError to fail the request.
public final class FakeNetlink: NetlinkTransport {
    public private(set) var sent: [NetlinkMessage] = []
    public var answer: (NetlinkMessage) throws -> [NetlinkMessage]
    private var seq: UInt32 = 0

    public init(answer: @escaping (NetlinkMessage) throws -> [NetlinkMessage] = { _ in [] }) { self.answer = answer }

    private func stamp(_ m: NetlinkMessage, _ flags: NetlinkFlags) -> NetlinkMessage {
        var m = m
        seq &+= 1
        m.seq = seq
        m.flags |= flags.rawValue
        sent.append(m)
        return m
    }

    public func request(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage] {
        try answer(stamp(message, [.request, .ack]))
    }

    public func dump(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage] {
        try answer(stamp(message, [.request, .dump]))
    }

    public func execute(_ requests: [NetlinkRequest], stopOnError: Bool) throws -> [Result<[NetlinkMessage], NetlinkError>] {
        var out: [Result<[NetlinkMessage], NetlinkError>] = []
        for r in requests {
            do { out.append(.success(try answer(stamp(r.message, [.request, .ack])))) }
            catch let e as NetlinkError { out.append(.failure(e)); if stopOnError { break } }
        }
        return out
    }

    /// Payload bytes of every request sent, with header seq zeroed — what golden tests compare.
    public var sentBytesWithoutSeq: [[UInt8]] {
        sent.map { var m = $0; m.seq = 0; m.pid = 0; return m.encoded() }
    }
}
