import CLinuxUAPI
import Netlink
import NetlinkWire

/// Checks a command line's words without a kernel: the parsers run against a transport that knows every interface
/// name (a new index for each) and accepts every request, so only what is wrong with the words themselves is an
/// error — a lab file's `commands` are checked this way before anything is created.
public enum DryRun {
    /// Throws the usage error `words` would get. Commands that act on the host rather than through netlink (tuntap,
    /// tunnel run, netns, monitor) are checked only for their object and verb.
    public static func check(_ words: [String]) throws {
        guard let first = words.first else { return }
        guard let object = IPCommandRunner.object(named: first) else {
            throw UsageError.unknown(first, in: "", validChoices: IPCommandRunner.objectNames)
        }
        if ["tuntap", "netns", "monitor"].contains(object.name) || (object.name == "tunnel" && words.count > 1 && words[1] == "run") {
            if words.count > 1, !Usage.helpWords.contains(words[1]), Arguments.match(words[1], object.verbs) == nil, object.name != "monitor" {
                throw UsageError.unknown(words[1], in: first, validChoices: object.verbs)
            }
            return
        }
        let transport = Transport()
        let session = Session(options: Options(), transport: { _, _ in transport })
        session.pipelining = true
        try IPCommandRunner.run(words, session: session)
        try session.flush()
    }

    /// Answers name lookups with made-up links and every other request with success.
    final class Transport: NetlinkTransport {
        var indexes: [String: Int32] = [:]

        func request(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage] {
            guard message.type == UInt16(RTM_GETLINK), message.payload.count >= IfInfoHeader.size,
                  let name = try? Attribute.parse(message.payload.dropFirst(IfInfoHeader.size)).first(IFLA_IFNAME)?.string else {
                if message.type == UInt16(GENL_ID_CTRL) {
                    return [try GenericFamily(id: 32, name: "l2tp", version: 1, maxAttribute: 35).replyMessage()]
                }
                return []
            }
            let index = indexes[name] ?? Int32(indexes.count + 2)
            indexes[name] = index
            var w = AttributeWriter()
            w.string(IFLA_IFNAME, name)
            w.u32(IFLA_MTU, 1500)
            return [try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(type: UInt16(ARPHRD_ETHER), index: index), attributes: w)]
        }

        func dump(_ message: NetlinkMessage, operation: String) throws -> [NetlinkMessage] { [] }

        func execute(_ requests: [NetlinkRequest], stopOnError: Bool) throws -> [Result<[NetlinkMessage], NetlinkError>] {
            requests.map { _ in .success([]) }
        }
    }
}
