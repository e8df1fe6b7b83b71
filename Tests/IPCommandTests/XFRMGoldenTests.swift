import CLinuxUAPI
import Foundation
import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// One xfrm fixture (Golden/xfrm/NAME.golden, captured by Tools/golden/capture from `ip xfrm ...` under strace):
/// what ip 6.1 sent over NETLINK_XFRM, the command in Isthmus words, and the interface indexes it looked up. The
/// fixtures live in a subfolder the rtnetlink golden tests do not read; this reader is their own.
struct XFRMFixture: CustomStringConvertible, Sendable {
    var name: String
    var ipCommand = ""
    var isthmusWords: [String] = []
    var links: [String: Int32] = [:]
    var messages: [[UInt8]] = []
    var description: String { name }

    init(url: URL) throws {
        name = url.deletingPathExtension().lastPathComponent
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("# ip: ") { ipCommand = String(line.dropFirst(6)) }
            else if line.hasPrefix("# isthmus: ") { isthmusWords = try splitCommandLine(String(line.dropFirst(11))) }
            else if line.hasPrefix("# links: ") {
                for kv in line.dropFirst(9).split(separator: " ") {
                    let p = kv.split(separator: "=")
                    if p.count == 2, let i = Int32(p[1]) { links[String(p[0])] = i }
                }
            }
            else if line.hasPrefix("#") || line.isEmpty { continue }
            else {
                var b: [UInt8] = []
                var it = line.makeIterator()
                while let hi = it.next(), let lo = it.next() {
                    guard let v = UInt8(String([hi, lo]), radix: 16) else { throw WireError("bad hex in \(name)") }
                    b.append(v)
                }
                messages.append(b)
            }
        }
    }
}

enum XFRMFixtures {
    static func loadAll() throws -> [XFRMFixture] {
        guard let dir = Bundle.module.url(forResource: "Golden", withExtension: nil)?.appendingPathComponent("xfrm") else { return [] }
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "golden" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        return try files.map { try XFRMFixture(url: $0) }
    }

    /// A fake rtnetlink that knows the fixture's interfaces (`sel dev lo`).
    static func links(_ f: XFRMFixture) -> FakeNetlink {
        FakeNetlink { m in
            guard m.type == UInt16(RTM_GETLINK) else { return [] }
            let req = try LinkMessage(m)
            guard let name = req.name ?? f.links.first(where: { $0.value == req.header.index })?.key, let index = f.links[name] else {
                throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV)
            }
            var w = AttributeWriter()
            w.string(IFLA_IFNAME, name)
            return [try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(index: index), attributes: w)]
        }
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// A fake NETLINK_XFRM kernel: ACKs everything, answers the count requests with one entry each.
    static func kernel() -> FakeNetlink {
        FakeNetlink { m in
            switch m.type {
            case XFRMMessageType.getSADInfo:
                var w = AttributeWriter()
                w.u32(UInt16(XFRMA_SAD_CNT.rawValue), 1)
                return [try XFRMMessage.make(XFRMMessageType.newSADInfo, flags: [], header: [0, 0, 0, 0], attributes: w)]
            case XFRMMessageType.getSPDInfo:
                var w = AttributeWriter()
                w.raw(UInt16(XFRMA_SPD_INFO.rawValue), [UInt8](repeating: 0, count: 24))
                return [try XFRMMessage.make(XFRMMessageType.newSPDInfo, flags: [], header: [0, 0, 0, 0], attributes: w)]
            default:
                return []
            }
        }
    }

    /// What the capture tool keeps of an xfrm command's messages (Tools/golden/capture's keep_xfrm), seq/pid zeroed.
    /// ip sends `get` and `count` without NLM_F_ACK (rtnl_talk with an answer); Isthmus's transports ask for an ACK
    /// on every request, so that bit is left out of the comparison for those requests only.
    static func kept(_ sent: [NetlinkMessage]) -> [[UInt8]] {
        let info: Set<UInt16> = [XFRMMessageType.getSADInfo, XFRMMessageType.getSPDInfo]
        return sent.filter { m in
            if m.type == XFRMMessageType.getSA || m.type == XFRMMessageType.getPolicy { return m.flags & NetlinkFlags.dump.rawValue == 0 }
            return XFRMMessageType.isMutating(m.type) || info.contains(m.type)
        }.map { m in
            var m = m
            m.seq = 0; m.pid = 0
            if !XFRMMessageType.isMutating(m.type) { m.flags &= ~NetlinkFlags.ack.rawValue }
            // nlmsg_len bytes: ip hands the kernel an unpadded 17-byte XFRM_MSG_FLUSHSA (nlmsg_len 17), which is what
            // strace shows; Isthmus pads the buffer to 4 bytes after it, as NLMSG_ALIGN allows.
            return Array(m.encoded().prefix(NetlinkMessage.headerLength + m.payload.count))
        }
    }
}

@Suite("xfrm golden bytes from ip xfrm")
struct XFRMGoldenTests {
    static let fixtures: [XFRMFixture] = (try? XFRMFixtures.loadAll()) ?? []

    @Test("the xfrm fixtures load, each with the command and at least one message")
    func fixturesLoad() throws {
        let all = try XFRMFixtures.loadAll()
        #expect(all.count >= 20)
        for f in all {
            #expect(!f.isthmusWords.isEmpty, "\(f.name)")
            #expect(!f.messages.isEmpty, "\(f.name)")
        }
    }

    @Test("isthmus xfrm sends the bytes ip xfrm sends", arguments: fixtures)
    func sameBytes(_ f: XFRMFixture) throws {
        let route = XFRMFixtures.links(f)
        let xfrm = XFRMFixtures.kernel()
        var options = Options()
        var words = f.isthmusWords
        if let first = words.first, first == "-4" || first == "-6" {
            options.family = first == "-4" ? UInt8(AF_INET) : UInt8(AF_INET6)
            words.removeFirst()
        }
        let session = Session(options: options) { proto, _ in proto == NETLINK_XFRM ? xfrm : route }
        try IPCommandRunner.run(words, session: session)
        let sent = XFRMFixtures.kept(xfrm.sent)
        #expect(sent.count == f.messages.count, "\(f.name): sent \(sent.count), ip sent \(f.messages.count)")
        for (ours, theirs) in zip(sent, f.messages) {
            #expect(XFRMFixtures.hex(ours) == XFRMFixtures.hex(theirs), "\(f.name) (\(f.ipCommand))")
        }
    }

    @Test("ip's fixed structures decode and re-encode to the same bytes", arguments: fixtures)
    func structuresRoundTrip(_ f: XFRMFixture) throws {
        for bytes in f.messages {
            let m = try #require(try NetlinkMessage.parse(bytes).first)
            let p = m.payload[...]
            switch m.type {
            case XFRMMessageType.newSA, XFRMMessageType.updSA:
                var b: [UInt8] = []
                try XFRMUserSAInfo(decoding: p).encode(into: &b)
                #expect(b == Array(p.prefix(XFRMUserSAInfo.size)), "\(f.name)")
                let attrs = try Attribute.parse(p.dropFirst(XFRMUserSAInfo.size))
                let decoded = XFRMAttributes(attrs)
                #expect(decoded.malformed == 0 && decoded.unknownTypes.isEmpty, "\(f.name)")
                for a in attrs {
                    var again: [UInt8]?
                    switch a.type {
                    case XFRMAttributeType.algAEAD: again = decoded.aead?.encoded
                    case XFRMAttributeType.algCrypt: again = decoded.crypt?.encoded
                    case XFRMAttributeType.algAuthTrunc: again = decoded.authTrunc?.encoded
                    case XFRMAttributeType.algAuth: again = decoded.auth?.encoded
                    case XFRMAttributeType.algComp: again = decoded.comp?.encoded
                    case XFRMAttributeType.encap: var e: [UInt8] = []; decoded.encap?.encode(into: &e); again = e
                    case XFRMAttributeType.replayESNVal: var e: [UInt8] = []; decoded.replayESN?.encode(into: &e); again = e
                    default: continue
                    }
                    #expect(again == Array(a.data), "\(f.name): attribute \(a.type)")
                }
            case XFRMMessageType.newPolicy, XFRMMessageType.updPolicy:
                var b: [UInt8] = []
                try XFRMUserPolicyInfo(decoding: p).encode(into: &b)
                #expect(b == Array(p.prefix(XFRMUserPolicyInfo.size)), "\(f.name)")
                let attrs = try Attribute.parse(p.dropFirst(XFRMUserPolicyInfo.size))
                let decoded = XFRMAttributes(attrs)
                #expect(decoded.malformed == 0 && decoded.unknownTypes.isEmpty, "\(f.name)")
                if let t = attrs.first(XFRMAttributeType.tmpl) {
                    var e: [UInt8] = []
                    for x in decoded.templates ?? [] { x.encode(into: &e) }
                    #expect(e == Array(t.data), "\(f.name)")
                }
            case XFRMMessageType.delSA, XFRMMessageType.getSA:
                var b: [UInt8] = []
                try XFRMUserSAID(decoding: p).encode(into: &b)
                #expect(b == Array(p.prefix(XFRMUserSAID.size)), "\(f.name)")
            case XFRMMessageType.delPolicy, XFRMMessageType.getPolicy:
                var b: [UInt8] = []
                try XFRMUserPolicyID(decoding: p).encode(into: &b)
                #expect(b == Array(p.prefix(XFRMUserPolicyID.size)), "\(f.name)")
            default:
                continue
            }
        }
    }
}
