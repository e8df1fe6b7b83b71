import CLinuxUAPI
import Foundation
import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// One fixture file: what iproute2 sent for a command (captured with Tools/golden/capture), and the same
/// command in Isthmus words.
struct GoldenFixture: CustomStringConvertible {
    var name: String
    var ipCommand: String
    var isthmusWords: [String]
    var links: [String: Int32] = [:]
    var genlFamilies: [String: UInt16] = [:]
    var messages: [[UInt8]] = []
    var description: String { name }

    static func loadAll() throws -> [GoldenFixture] {
        guard let dir = Bundle.module.url(forResource: "Golden", withExtension: nil) else { return [] }
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "golden" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        return try files.map { try GoldenFixture(url: $0) }
    }

    init(url: URL) throws {
        name = url.deletingPathExtension().lastPathComponent
        ipCommand = ""
        isthmusWords = []
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("# ip: ") { ipCommand = String(line.dropFirst(6)) }
            else if line.hasPrefix("# isthmus: ") { isthmusWords = try splitCommandLine(String(line.dropFirst(11))) }
            else if line.hasPrefix("# links: ") { links = Self.pairs(line.dropFirst(9)).mapValues { Int32($0)! } }
            else if line.hasPrefix("# genl: ") { genlFamilies = Self.pairs(line.dropFirst(8)).mapValues { UInt16($0)! } }
            else if line.hasPrefix("#") || line.isEmpty { continue }
            else { messages.append(try Self.hex(String(line))) }
        }
    }

    static func pairs(_ s: Substring) -> [String: String] {
        var d: [String: String] = [:]
        for kv in s.split(separator: " ") {
            let p = kv.split(separator: "=", maxSplits: 1)
            if p.count == 2 { d[String(p[0])] = String(p[1]) }
        }
        return d
    }

    static func hex(_ s: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var it = s.makeIterator()
        while let a = it.next() {
            guard let b = it.next(), let v = UInt8(String([a, b]), radix: 16) else { throw WireError("bad hex in fixture") }
            out.append(v)
        }
        return out
    }
}

/// A fake kernel for golden runs: answers name lookups and genl family lookups from the fixture.
func goldenTransport(_ f: GoldenFixture) -> (FakeNetlink, FakeNetlink) {
    let route = FakeNetlink { m in
        guard m.type == UInt16(RTM_GETLINK) else { return [] }
        let req = try LinkMessage(m)
        let name = req.name ?? f.links.first { $0.value == req.header.index }?.key
        guard let name, let index = f.links[name] else { throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, name)
        return [try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(index: index), attributes: w)]
    }
    let generic = FakeNetlink { m in
        guard m.type == UInt16(GENL_ID_CTRL) else { return [] }
        let attrs = try Attribute.parse(m.payload.dropFirst(4))
        guard let name = attrs.first(CTRL_ATTR_FAMILY_NAME)?.string, let id = f.genlFamilies[name] else {
            throw NetlinkError(operation: "CTRL_CMD_GETFAMILY", errno: ENOENT)
        }
        var w = AttributeWriter()
        w.string(CTRL_ATTR_FAMILY_NAME, name)
        w.u16(CTRL_ATTR_FAMILY_ID, id)
        w.u32(CTRL_ATTR_VERSION, 1)
        w.u32(CTRL_ATTR_HDRSIZE, 0)
        w.u32(CTRL_ATTR_MAXATTR, 32)
        return [try RTMessage.make(GENL_ID_CTRL, flags: [], header: [UInt8(CTRL_CMD_NEWFAMILY), 2, 0, 0], attributes: w)]
    }
    return (route, generic)
}

/// Mutating messages only, as the capture tool keeps them.
func mutating(_ sent: [NetlinkMessage], generic: Bool) -> [[UInt8]] {
    sent.filter { m in
        if generic { return m.type != UInt16(GENL_ID_CTRL) && ![UInt8(L2TP_CMD_TUNNEL_GET), UInt8(L2TP_CMD_SESSION_GET)].contains(m.payload.first ?? 0) }
        return m.type >= 16 && (Int(m.type) - 16) % 4 != 2
    }.map { var m = $0; m.seq = 0; m.pid = 0; return m.encoded() }
}

func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

@Suite("Golden bytes from iproute2")
struct GoldenTests {
    static let fixtures: [GoldenFixture] = (try? GoldenFixture.loadAll()) ?? []

    @Test("fixtures load")
    func fixturesLoad() throws {
        let all = try GoldenFixture.loadAll()
        #expect(!all.isEmpty)
        for f in all {
            #expect(!f.isthmusWords.isEmpty, "\(f.name): no isthmus line")
            #expect(!f.messages.isEmpty, "\(f.name): no messages")
        }
    }

    @Test("isthmus sends the bytes iproute2 sends", arguments: fixtures)
    func sameBytes(_ f: GoldenFixture) throws {
        let (route, generic) = goldenTransport(f)
        // A leading -4/-6 in the isthmus words is the global family option, as on the command line.
        var options = Options()
        var words = f.isthmusWords
        if let first = words.first, first == "-4" || first == "-6" {
            options.family = first == "-4" ? UInt8(AF_INET) : UInt8(AF_INET6)
            words.removeFirst()
        }
        let session = Session(options: options) { proto, _ in proto == NETLINK_GENERIC ? generic : route }
        try IPCommandRunner.run(words, session: session)
        try session.flush()
        let sent = mutating(route.sent, generic: false) + mutating(generic.sent, generic: true)
        #expect(sent.count == f.messages.count, "\(f.name): sent \(sent.count) messages, iproute2 sent \(f.messages.count)")
        for (ours, theirs) in zip(sent, f.messages) {
            #expect(hexString(ours) == hexString(theirs), "\(f.name) (\(f.ipCommand))")
        }
    }

    @Test("fixture bytes decode and re-encode unchanged", arguments: fixtures)
    func roundTrip(_ f: GoldenFixture) throws {
        for bytes in f.messages {
            let msgs = try NetlinkMessage.parse(bytes)
            #expect(msgs.count == 1)
            guard let m = msgs.first else { continue }
            #expect(m.encoded() == bytes)
            // Attribute stream after the family header re-encodes to the same bytes, nests included.
            let headerLength = Self.familyHeaderLength(type: m.type, generic: f.genlFamilies.values.contains(m.type))
            let attrs = try Attribute.parse(m.payload.dropFirst(headerLength)[...])
            var w = AttributeWriter()
            for a in attrs { Self.reencode(a, into: &w) }
            #expect(Array(m.payload.prefix(headerLength)) + w.bytes == m.payload, "\(f.name)")
        }
    }

    /// Re-encodes an attribute, recursing into payloads that parse exactly as attribute streams.
    static func reencode(_ a: Attribute, into w: inout AttributeWriter) {
        var flags: UInt16 = 0
        if a.nested { flags |= UInt16(NLA_F_NESTED) }
        if a.netByteOrder { flags |= UInt16(NLA_F_NET_BYTEORDER) }
        if a.data.count >= 4, let kids = try? a.children(), !kids.isEmpty {
            var inner = AttributeWriter()
            for k in kids { reencode(k, into: &inner) }
            if inner.bytes == Array(a.data) { w.raw(a.type, inner.bytes, flags: flags); return }
        }
        w.raw(a.type, a.data, flags: flags)
    }

    static func familyHeaderLength(type: UInt16, generic: Bool) -> Int {
        if generic { return 4 }
        switch Int32(type) {
        case Int32(RTM_NEWLINK), Int32(RTM_DELLINK), Int32(RTM_SETLINK): return 16   // ifinfomsg
        case Int32(RTM_NEWADDR), Int32(RTM_DELADDR): return 8                        // ifaddrmsg
        case Int32(RTM_NEWROUTE), Int32(RTM_DELROUTE): return 12                     // rtmsg
        case Int32(RTM_NEWNEIGH), Int32(RTM_DELNEIGH): return 12                     // ndmsg
        case Int32(RTM_NEWRULE), Int32(RTM_DELRULE): return 12                       // fib_rule_hdr
        default: return 0
        }
    }
}
