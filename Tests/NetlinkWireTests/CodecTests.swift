import CLinuxUAPI
import NetlinkWire
import TestSupport
import Testing


@Suite("Netlink codecs")
struct CodecTests {
    @Test("attribute writer pads to 4 bytes and nests")
    func writerLayout() throws {
        var w = AttributeWriter()
        w.string(IFLA_IFNAME, "vx0")
        w.nested(IFLA_LINKINFO) { li in
            li.raw(IFLA_INFO_KIND, Array("vxlan".utf8))
            li.nested(IFLA_INFO_DATA) { $0.u32(IFLA_VXLAN_ID, 100) }
        }
        // IFLA_IFNAME: len 8, type 3, "vx0\0"
        #expect(Array(w.bytes.prefix(8)) == [8, 0, 3, 0, 0x76, 0x78, 0x30, 0])
        let attrs = try Attribute.parse(w.bytes[...])
        #expect(attrs.count == 2)
        #expect(attrs.first(IFLA_IFNAME)?.string == "vx0")
        let li = try #require(attrs.first(IFLA_LINKINFO)).children()
        #expect(li.first(IFLA_INFO_KIND)?.string == "vxlan")
        let data = try #require(li.first(IFLA_INFO_DATA)).children()
        #expect(data.first(IFLA_VXLAN_ID)?.u32 == 100)
        #expect(w.bytes.count % 4 == 0)
    }

    @Test("message split and encode round trip, padding included")
    func messageRoundTrip() throws {
        let a = NetlinkMessage(type: 16, flags: 0x605, seq: 7, pid: 0, payload: [1, 2, 3])
        let b = NetlinkMessage(type: 17, flags: 5, seq: 8, pid: 0, payload: Array(repeating: 9, count: 16))
        let bytes = a.encoded() + b.encoded()
        #expect(a.encoded().count == 20)  // 16 + 3, padded to 20
        let parsed = try NetlinkMessage.parse(bytes)
        #expect(parsed == [a, b])
    }

    @Test("NLMSG_ERROR with extended ACK decodes errno, text and offset")
    func extAck() throws {
        let e = NetlinkErrorPayload(errno: 17, requestSeq: 42, requestType: 16, extAckMessage: "A VXLAN device with the specified VNI already exists", extAckOffset: 36)
        let m = e.message(seq: 42)
        let back = try NetlinkErrorPayload(message: try NetlinkMessage.parse(m.encoded())[0])
        #expect(back == e)
    }

    @Test("truncated and lying lengths throw, never trap")
    func hostileLengths() {
        #expect(throws: WireError.self) { try NetlinkMessage.parse([0xff, 0, 0, 0] + Array(repeating: 0, count: 12)) }
        #expect(throws: WireError.self) { try NetlinkMessage.parse([8, 0, 0, 0] + Array(repeating: 0, count: 12)) }
        #expect(throws: WireError.self) { try Attribute.parse([200, 0, 1, 0, 0, 0][...]) }
        #expect(throws: WireError.self) { try Attribute.parse([2, 0, 1, 0][...]) }
        #expect(throws: WireError.self) { try LinkMessage(NetlinkMessage(type: 16, flags: 0, payload: [0, 0, 0])) }
        #expect(throws: WireError.self) { try NetlinkErrorPayload(message: NetlinkMessage(type: 2, flags: 0, payload: [1, 2])) }
    }

    @Test("random bytes: every decoder returns or throws (100,000 inputs)")
    func randomBytes() {
        var rng = SeededRandom(seed: 0x1575_4d05)
        var decoded = 0
        for _ in 0..<100_000 {
            let n = Int.random(in: 0...96, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Bias lengths toward plausible values so the decoders get past the first check.
            if n >= 4 && Bool.random(using: &rng) { b[0] = UInt8(n - Int.random(in: 0...4, using: &rng)); b[1] = 0 }
            if let msgs = try? NetlinkMessage.parse(b) {
                decoded += 1
                for m in msgs {
                    _ = try? NetlinkErrorPayload(message: m)
                    if let l = try? LinkMessage(m) { _ = l.name; _ = l.linkInfo; _ = l.mtu }
                }
            }
            if let attrs = try? Attribute.parse(b[...]) {
                for a in attrs { _ = a.string; _ = a.u64; _ = a.be32; _ = try? a.children() }
            }
        }
        #expect(decoded > 0)
    }

    @Test("addresses parse and print")
    func addresses() {
        #expect(IPAddress("10.0.0.1")?.bytes == [10, 0, 0, 1])
        #expect(IPAddress("fd00::1")?.description == "fd00::1")
        #expect(IPAddress("10.0.0.256") == nil)
        #expect(IPPrefix("192.168.1.0/24")?.length == 24)
        #expect(IPPrefix("192.168.1.0/33") == nil)
        #expect(MACAddress("02:00:00:00:00:01")?.description == "02:00:00:00:00:01")
        #expect(MACAddress("02:00:00:00:00") == nil)
        #expect(IPAddress("239.1.1.1")?.isMulticast == true)
    }
}
