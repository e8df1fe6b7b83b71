import CLinuxUAPI
import IPCommand
import Netlink
import NetlinkWire
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `isthmus xfrm` over a fake NETLINK_XFRM: bad input, the kernel's refusal, and ip's text and Isthmus's JSON for
/// states and policies the fake reports.
@Suite("xfrm command")
struct XFRMCommandTests {
    static func session(_ options: Options = Options(), kernel: FakeNetlink) -> Session {
        let route = FakeNetlink { m in
            guard m.type == UInt16(RTM_GETLINK) else { return [] }
            let req = try LinkMessage(m)
            guard req.name == "lo" || req.header.index == 1 else { throw NetlinkError(operation: "RTM_GETLINK", errno: ENODEV) }
            var w = AttributeWriter()
            w.string(IFLA_IFNAME, "lo")
            return [try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(index: 1), attributes: w)]
        }
        return Session(options: options) { proto, _ in proto == NETLINK_XFRM ? kernel : route }
    }

    static let key = "0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"

    @Test("bad input is refused naming what is wrong, and nothing is sent", arguments: [
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1", "\"enc\" or \"aead\""),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto bogus spi 1", "\"proto\""),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) 0xzz 128", "0xzz"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) \(key)", "ALGO-ICV-LEN"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 enc cbc(aes) 0x" + String(repeating: "ab", count: 513), "at most 512"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 reqid 99999999999 enc cbc(aes) 0x00", "\"reqid\""),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 0x1 mode sideways enc cbc(aes) 0x00", "\"mode\""),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp enc cbc(aes) 0x00 comp deflate", "\"comp\""),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp aead rfc4106(gcm(aes)) \(key) 128 enc cbc(aes) 0x00", "\"enc\""),
        ("xfrm state add src 10.1.1.1 dst 2001:db8::1 proto esp aead rfc4106(gcm(aes)) \(key) 128", "same address family"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) \(key) 128 flag esn", "replay-window"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) \(key) 128 replay-window 5000", "replay-window"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) \(key) 128 encap espinudp 4500", "encap DPORT"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) \(key) 128 limit time-soft x", "\"time-soft\""),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 aead rfc4106(gcm(aes)) \(key) 128 bogus", "\"bogus\""),
        ("xfrm state add mode transport", "ID"),
        ("xfrm state delete src 10.1.1.1 dst 10.1.2.1 spi 1", "\"proto\""),
        ("xfrm state flush proto gre", "\"proto\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1", "\"dir\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 dir sideways", "\"dir\""),
        ("xfrm policy add src 300.1.1.1 dst 10.1.2.1 dir out", "\"src\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 proto tcp type 3 dir out", "\"type\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 proto icmp sport 3 dir out", "\"sport\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 proto udp key 5 dir out", "\"key\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 proto udp sport 70000 dir out", "\"sport\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 dir out tmpl mode transport", "\"proto\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 dir out tmpl proto esp level sometimes", "\"level\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 dir out action maybe", "\"action\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 dir out src 10.0.0.1", "\"src\""),
        ("xfrm policy add dev nosuch dir out", "nosuch"),
        ("xfrm policy delete dir out", "SELECTOR"),
        ("xfrm policy delete src 10.1.1.1 index 8 dir out", "\"index\""),
        ("xfrm policy flush ptype other", "\"ptype\""),
        ("xfrm sideways", "\"sideways\""),
        ("xfrm policy add src 10.1.1.1 dst 10.1.2.1 dir out ctx " + String(repeating: "c", count: 256), "at most 255"),
        ("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 1 enc cbc(aes) 0x00 ctx " + String(repeating: "c", count: 300), "at most 255"),
    ])
    func badInput(_ line: String, _ mention: String) throws {
        let kernel = FakeNetlink()
        let s = Self.session(kernel: kernel)
        do {
            try IPCommandRunner.run(try splitCommandLine(line), session: s)
            Issue.record("\(line): accepted")
        } catch let e as UsageError {
            #expect(e.message.contains(mention), "\(line): \(e.message)")
        }
        #expect(kernel.sent.isEmpty, "\(line): sent \(kernel.sent.count) message(s)")
    }

    @Test("the kernel's refusal comes back as its netlink error with the extended ACK text")
    func kernelRefusal() throws {
        let kernel = FakeNetlink { _ in
            throw NetlinkError(operation: "xfrm state add", errno: ENOSYS, extAck: "Requested AEAD algorithm not found")
        }
        let s = Self.session(kernel: kernel)
        #expect(throws: NetlinkError(operation: "xfrm state add", errno: ENOSYS, extAck: "Requested AEAD algorithm not found")) {
            try IPCommandRunner.run(try splitCommandLine("xfrm state add src 10.1.1.1 dst 10.1.2.1 proto esp spi 0x1000 aead rfc4106(gcm(aes)) \(Self.key) 128"), session: s)
        }
        #expect(kernel.sent.count == 1)
    }

    /// A state as the kernel would dump it: the selftest's transport-mode AEAD state with a selector, a mark, an
    /// if_id and ESN replay state.
    static func stateDump() throws -> NetlinkMessage {
        var x = XFRMUserSAInfo()
        x.family = UInt16(AF_INET)
        x.saddr = [10, 1, 1, 1] + [UInt8](repeating: 0, count: 12)
        x.id.daddr = [10, 1, 2, 1] + [UInt8](repeating: 0, count: 12)
        x.id.spi = 0x1000
        x.id.proto = UInt8(IPPROTO_ESP)
        x.reqid = 7
        x.mode = 0
        x.flags = UInt8(XFRM_STATE_AF_UNSPEC)
        x.lifetime = .unlimited
        x.selector.family = UInt16(AF_INET)
        x.selector.saddr = x.saddr; x.selector.prefixlenS = 32
        x.selector.daddr = x.id.daddr; x.selector.prefixlenD = 32
        x.selector.proto = 115
        var w = AttributeWriter()
        let key: [UInt8] = Array(repeating: 0x0f, count: 20)
        w.raw(XFRMAttributeType.algAEAD, XFRMAlgorithm(kind: .aead(128), name: "rfc4106(gcm(aes))", key: key).encoded)
        var m: [UInt8] = []; XFRMMark(value: 7, mask: 0xff).encode(into: &m)
        w.raw(XFRMAttributeType.mark, m)
        w.u32(XFRMAttributeType.ifID, 9)
        var h: [UInt8] = []
        x.encode(into: &h)
        return try XFRMMessage.make(XFRMMessageType.newSA, flags: [.multi], header: h, attributes: w)
    }

    static func policyDump() throws -> NetlinkMessage {
        var p = XFRMUserPolicyInfo()
        p.selector.family = UInt16(AF_INET)
        p.selector.saddr = [10, 1, 1, 1] + [UInt8](repeating: 0, count: 12); p.selector.prefixlenS = 32
        p.selector.daddr = [10, 1, 2, 1] + [UInt8](repeating: 0, count: 12); p.selector.prefixlenD = 32
        p.selector.proto = UInt8(IPPROTO_UDP)
        p.selector.sport = 1701; p.selector.sportMask = 0xffff
        p.selector.dport = 1701; p.selector.dportMask = 0xffff
        p.dir = UInt8(XFRM_POLICY_OUT)
        p.index = 1
        p.lifetime = .unlimited
        var t = XFRMUserTemplate()
        t.family = UInt16(AF_INET)
        t.id.proto = UInt8(IPPROTO_ESP)
        t.reqid = 7
        t.optional = 1
        var tb: [UInt8] = []
        t.encode(into: &tb)
        var w = AttributeWriter()
        w.raw(XFRMAttributeType.tmpl, tb)
        w.raw(XFRMAttributeType.policyType, XFRMUserPolicyType(type: 0).encoded)
        var h: [UInt8] = []
        p.encode(into: &h)
        return try XFRMMessage.make(XFRMMessageType.newPolicy, flags: [.multi], header: h, attributes: w)
    }

    /// The text is what ip/ipxfrm.c prints for these values (xfrm_state_info_print, xfrm_policy_info_print): the
    /// trailing spaces, the tab prefixes and the flag and mark formats are ip's.
    @Test("xfrm state and policy print as ip xfrm prints them")
    func text() throws {
        let kernel = FakeNetlink { m in
            m.type == XFRMMessageType.getSA ? [try Self.stateDump()] : m.type == XFRMMessageType.getPolicy ? [try Self.policyDump()] : []
        }
        var s = Self.session(kernel: kernel)
        try IPCommandRunner.run(["xfrm", "state"], session: s)
        #expect(s.output.lines == [
            "src 10.1.1.1 dst 10.1.2.1",
            "\tproto esp spi 0x00001000 reqid 7 mode transport",
            "\treplay-window 0 flag af-unspec",
            "\tmark 0x7/0xff ",
            "\taead rfc4106(gcm(aes)) 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f 128",
            "\tif_id 0x9",
            "\tsel src 10.1.1.1/32 dst 10.1.2.1/32 proto l2tp ",
        ])
        s = Self.session(kernel: kernel)
        try IPCommandRunner.run(["xfrm", "state", "list", "nokeys"], session: s)
        #expect(s.output.lines.contains("\taead rfc4106(gcm(aes)) <<Keys hidden>> 128"))
        s = Self.session(kernel: kernel)
        try IPCommandRunner.run(["xfrm", "policy"], session: s)
        #expect(s.output.lines == [
            "src 10.1.1.1/32 dst 10.1.2.1/32 proto udp sport 1701 dport 1701 ",
            "\tdir out priority 0 ptype main ",
            "\ttmpl src 0.0.0.0 dst 0.0.0.0",
            "\t\tproto esp reqid 7 mode transport",
            "\t\tlevel use ",
        ])
        var o = Options(); o.oneline = true
        s = Self.session(o, kernel: kernel)
        try IPCommandRunner.run(["xfrm", "policy"], session: s)
        #expect(s.output.lines == ["src 10.1.1.1/32 dst 10.1.2.1/32 proto udp sport 1701 dport 1701 \\\tdir out priority 0 ptype main \\\ttmpl src 0.0.0.0 dst 0.0.0.0\\\t\tproto esp reqid 7 mode transport\\\t\tlevel use \\"])
        // Filters are ip's, on the client side: nothing matches dir in.
        s = Self.session(kernel: kernel)
        try IPCommandRunner.run(["xfrm", "policy", "list", "dir", "in"], session: s)
        #expect(s.output.lines.isEmpty)
    }

    @Test("-j prints one object per state and policy (docs/COMPATIBILITY.md)")
    func json() throws {
        let kernel = FakeNetlink { m in
            m.type == XFRMMessageType.getSA ? [try Self.stateDump()] : m.type == XFRMMessageType.getPolicy ? [try Self.policyDump()] : []
        }
        var o = Options(); o.json = true
        var s = Self.session(o, kernel: kernel)
        try IPCommandRunner.run(["xfrm", "state"], session: s)
        #expect(s.output.json.count == 1)
        let st = try #require(s.output.json.first)
        #expect(st["src"] == "10.1.1.1" && st["dst"] == "10.1.2.1" && st["proto"] == "esp" && st["spi"] == JSON(4096))
        #expect(st["mode"] == "transport" && st["reqid"] == JSON(7) && st["if_id"] == JSON(9))
        #expect(st["flags"] == .array(["af-unspec"]))
        #expect(st["algorithms"] == .array([.object([("type", "aead"), ("name", "rfc4106(gcm(aes))"),
                                                   ("key", "0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"), ("key_bits", JSON(160)), ("icv_bits", JSON(128))])]))
        #expect(st["sel"]?["proto"] == "l2tp" && st["sel"]?["src"] == "10.1.1.1/32")
        #expect(st["mark"] == .object([("value", JSON(7)), ("mask", JSON(255))]))
        s = Self.session(o, kernel: kernel)
        try IPCommandRunner.run(["xfrm", "state", "list", "nokeys"], session: s)
        #expect(s.output.json.first?["algorithms"]?.serialized().contains("key\"") == false)
        s = Self.session(o, kernel: kernel)
        try IPCommandRunner.run(["xfrm", "policy"], session: s)
        let p = try #require(s.output.json.first)
        #expect(p["dir"] == "out" && p["action"] == "allow" && p["priority"] == JSON(0) && p["ptype"] == "main" && p["index"] == JSON(1))
        #expect(p["sel"]?["sport"] == JSON(1701) && p["sel"]?["proto"] == "udp")
        #expect(p["tmpl"] == .array([.object([("src", "0.0.0.0"), ("dst", "0.0.0.0"), ("proto", "esp"), ("spi", JSON(0)),
                                              ("reqid", JSON(7)), ("mode", "transport"), ("level", "use")])]))
    }

    @Test("deleteall deletes what the dump shows, one XFRM_MSG_DELSA/DELPOLICY each, until the dump is empty")
    func deleteAll() throws {
        var states = [try Self.stateDump()]
        var policies = [try Self.policyDump()]
        var deleted: [UInt16] = []
        let kernel = FakeNetlink { m in
            switch m.type {
            case XFRMMessageType.getSA: return states
            case XFRMMessageType.getPolicy: return policies
            case XFRMMessageType.delSA: deleted.append(m.type); states = []; return []
            case XFRMMessageType.delPolicy: deleted.append(m.type); policies = []; return []
            default: return []
            }
        }
        try IPCommandRunner.run(["xfrm", "state", "deleteall"], session: Self.session(kernel: kernel))
        try IPCommandRunner.run(["xfrm", "policy", "deleteall"], session: Self.session(kernel: kernel))
        #expect(deleted == [XFRMMessageType.delSA, XFRMMessageType.delPolicy])
        let del = try #require(kernel.sent.first { $0.type == XFRMMessageType.delSA })
        let id = try XFRMUserSAID(decoding: del.payload[...])
        #expect(id.spi == 0x1000 && id.proto == UInt8(IPPROTO_ESP) && id.family == UInt16(AF_INET))
        let attrs = XFRMAttributes(try Attribute.parse(del.payload[...].dropFirst(XFRMUserSAID.size)))
        #expect(attrs.sourceAddress?.prefix(4) == [10, 1, 1, 1] && attrs.mark == XFRMMark(value: 7, mask: 0xff))
    }
}
