import CLinuxUAPI
import NetlinkWire
import TestSupport
import Testing

/// NetlinkWire's NETLINK_XFRM codec on hostile bytes: short structures throw, short attributes are dropped and
/// counted, over-long key lengths are cut, and no input traps. (ip's own bytes round-trip in XFRMGoldenTests.)
@Suite("XFRM codec")
struct XFRMCodecTests {
    /// A kernel-shaped state: usersa_info, an AEAD algorithm, a mark, a template list (as a policy would carry).
    static func state() throws -> NetlinkMessage {
        var x = XFRMUserSAInfo()
        x.family = UInt16(AF_INET)
        x.id.proto = UInt8(IPPROTO_ESP)
        x.id.spi = 0x1000
        x.lifetime = .unlimited
        var w = AttributeWriter()
        w.raw(XFRMAttributeType.algAEAD, XFRMAlgorithm(kind: .aead(128), name: "rfc4106(gcm(aes))", key: [UInt8](repeating: 0x0f, count: 20)).encoded)
        var m: [UInt8] = []; XFRMMark(value: 1, mask: 0xffff_ffff).encode(into: &m)
        w.raw(XFRMAttributeType.mark, m)
        w.u32(XFRMAttributeType.ifID, 5)
        var esn = XFRMReplayStateESN(); esn.bmpLen = 4; esn.replayWindow = 128; esn.bitmap = [1, 2, 3, 4]
        var e: [UInt8] = []; esn.encode(into: &e)
        w.raw(XFRMAttributeType.replayESNVal, e)
        var h: [UInt8] = []
        x.encode(into: &h)
        return try XFRMMessage.make(XFRMMessageType.newSA, flags: [], header: h, attributes: w)
    }

    @Test("a state decodes, and every structure's encoding has the C layout's size")
    func decodes() throws {
        let s = try XFRMStateMessage(try Self.state())
        #expect(s.info.id.spi == 0x1000 && s.info.family == UInt16(AF_INET))
        #expect(s.attributes.aead?.name == "rfc4106(gcm(aes))" && s.attributes.aead?.kind == .aead(128) && s.attributes.aead?.keyBits == 160)
        #expect(s.attributes.mark == XFRMMark(value: 1, mask: 0xffff_ffff) && s.attributes.ifID == 5)
        #expect(s.attributes.replayESN?.bitmap == [1, 2, 3, 4] && s.attributes.malformed == 0)
        var b: [UInt8] = []
        XFRMUserSAInfo().encode(into: &b); #expect(b.count == 224); b = []
        XFRMUserPolicyInfo().encode(into: &b); #expect(b.count == 168); b = []
        XFRMUserPolicyID().encode(into: &b); #expect(b.count == 64); b = []
        XFRMUserSAID().encode(into: &b); #expect(b.count == 24); b = []
        XFRMUserTemplate().encode(into: &b); #expect(b.count == 64); b = []
        XFRMSelector().encode(into: &b); #expect(b.count == 56); b = []
        XFRMEncapTemplate().encode(into: &b); #expect(b.count == 24)
        #expect(XFRMAddressFilter().encoded.count == 36 && XFRMUserPolicyType(type: 1).encoded.count == 6)
    }

    @Test("every truncation of a state either decodes or throws")
    func truncations() throws {
        let m = try Self.state()
        for n in 0...m.payload.count {
            let cut = NetlinkMessage(type: m.type, flags: 0, payload: Array(m.payload.prefix(n)))
            if let s = try? XFRMStateMessage(cut) {
                #expect(n >= XFRMUserSAInfo.size)
                if let a = s.attributes.aead { #expect(a.key.count <= Int(a.keyBits / 8)) }
            } else {
                // Too short for usersa_info, or an attribute header cut in the middle.
                #expect(n < m.payload.count)
            }
        }
    }

    @Test("a short attribute is dropped and counted; a key shorter than alg_key_len says is cut and marked")
    func malformed() throws {
        var x = XFRMUserSAInfo()
        x.family = UInt16(AF_INET)
        var h: [UInt8] = []
        x.encode(into: &h)
        var w = AttributeWriter()
        w.raw(XFRMAttributeType.mark, [1, 2, 3])                       // xfrm_mark needs 8 bytes
        w.raw(XFRMAttributeType.encap, [UInt8](repeating: 0, count: 10)) // xfrm_encap_tmpl needs 24
        var alg = XFRMAlgorithm(kind: .plain, name: "cbc(aes)", key: [1, 2, 3, 4]).encoded
        alg.removeLast(2)                                              // alg_key_len says 32 bits; 2 bytes remain
        w.raw(XFRMAttributeType.algCrypt, alg)
        w.u32(XFRMAttributeType.ifID, 3)
        w.raw(XFRMAttributeType.tmpl, [UInt8](repeating: 0, count: 64 + 20)) // one whole template and a tail
        w.u16(999, 1)                                                 // not an xfrm attribute
        let s = try XFRMStateMessage(try XFRMMessage.make(XFRMMessageType.newSA, flags: [], header: h, attributes: w))
        #expect(s.attributes.malformed == 2)
        #expect(s.attributes.mark == nil && s.attributes.encap == nil && s.attributes.ifID == 3)
        #expect(s.attributes.crypt?.truncatedKey == true && s.attributes.crypt?.key == [1, 2])
        #expect(s.attributes.templates?.count == 1)
        #expect(s.attributes.unknownTypes == [999])
        // DELSA without the state it deletes, a policy message read as a state: errors, not traps.
        #expect(throws: WireError.self) { try XFRMStateMessage(NetlinkMessage(type: XFRMMessageType.delSA, flags: 0, payload: [UInt8](repeating: 0, count: 24))) }
        #expect(throws: WireError.self) { try XFRMStateMessage(NetlinkMessage(type: XFRMMessageType.newPolicy, flags: 0, payload: h)) }
        #expect(throws: WireError.self) { try XFRMPolicyMessage(NetlinkMessage(type: XFRMMessageType.newPolicy, flags: 0, payload: [1, 2, 3])) }
    }

    @Test("random bytes as any xfrm message never trap", arguments: [XFRMMessageType.newSA, XFRMMessageType.delSA, XFRMMessageType.expire,
                                                                      XFRMMessageType.newPolicy, XFRMMessageType.delPolicy, XFRMMessageType.polExpire,
                                                                      XFRMMessageType.newSADInfo, XFRMMessageType.newSPDInfo])
    func random(_ type: UInt16) throws {
        var rng = SeededRandom(seed: UInt64(type) &* 7919)
        let base = try Self.state().payload
        for i in 0..<2000 {
            var p: [UInt8]
            if i % 2 == 0 {
                p = rng.bytes(rng.below(600))
            } else {
                // A valid state with a few bytes flipped: reaches the attribute decoders.
                p = base
                for _ in 0..<(1 + rng.below(6)) { p[rng.below(p.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            let m = NetlinkMessage(type: type, flags: 0, payload: p)
            _ = try? XFRMStateMessage(m)
            _ = try? XFRMPolicyMessage(m)
            _ = try? XFRMSADInfo(m)
            _ = try? XFRMSPDInfo(m)
        }
    }

    @Test("SAD and SPD info decode the kernel's counts")
    func info() throws {
        var w = AttributeWriter()
        w.u32(UInt16(XFRMA_SAD_CNT.rawValue), 3)
        var hinfo: [UInt8] = []; Bytes.append(UInt32(8), to: &hinfo); Bytes.append(UInt32(1024), to: &hinfo)
        w.raw(UInt16(XFRMA_SAD_HINFO.rawValue), hinfo)
        let sad = try XFRMSADInfo(try XFRMMessage.make(XFRMMessageType.newSADInfo, flags: [], header: [0, 0, 0, 0], attributes: w))
        #expect(sad.count == 3 && sad.buckets == 8 && sad.maxBuckets == 1024)
        var v = AttributeWriter()
        var counts: [UInt8] = []
        for c: UInt32 in [1, 2, 3, 4, 5, 6] { Bytes.append(c, to: &counts) }
        v.raw(UInt16(XFRMA_SPD_INFO.rawValue), counts)
        v.raw(UInt16(XFRMA_SPD_IPV4_HTHRESH.rawValue), [32, 24])
        let spd = try XFRMSPDInfo(try XFRMMessage.make(XFRMMessageType.newSPDInfo, flags: [], header: [0, 0, 0, 0], attributes: v))
        #expect(spd.counts == [1, 2, 3, 4, 5, 6] && spd.thresholds4.map { [$0.0, $0.1] } == [32, 24] && spd.thresholds6 == nil)
        #expect(throws: WireError.self) { try XFRMSPDInfo(NetlinkMessage(type: XFRMMessageType.newSPDInfo, flags: 0, payload: [0])) }
    }
}
