import CLinuxUAPI
import Foundation
import Netlink
import NetlinkWire
@testable import SiteAgent
import Sites
import Testing
import TestSupport

/// `down` removes the kernel's key-less ESP states between the site's two addresses (ACQUIREs): an ACQUIRE (SPI 0)
/// gets an SPI by ALLOCSPI with its own sequence number, then DELSA by that SPI; a key-less state with an SPI is
/// deleted directly; keyed states, other addresses and other protocols are never touched.
@Suite("Key-less ESP states removed by down")
struct KeylessStatesTests {
    static let a = IPAddress("10.0.1.2")!, b = IPAddress("10.0.2.2")!

    static func state(src: IPAddress, dst: IPAddress, spi: UInt32, seq: UInt32, keyed: Bool = false, proto: UInt8 = UInt8(IPPROTO_ESP)) throws -> NetlinkMessage {
        var x = XFRMUserSAInfo()
        x.family = UInt16(AF_INET)
        x.id.proto = proto
        x.id.spi = spi
        x.id.daddr = dst.bytes + [UInt8](repeating: 0, count: 12)
        x.saddr = src.bytes + [UInt8](repeating: 0, count: 12)
        x.seq = seq
        x.reqid = 1
        x.mode = 0
        var w = AttributeWriter()
        if keyed {
            w.raw(XFRMAttributeType.algAEAD, XFRMAlgorithm(kind: .aead(128), name: "rfc4106(gcm(aes))", key: [UInt8](repeating: 0x0f, count: 20)).encoded)
        }
        var h: [UInt8] = []
        x.encode(into: &h)
        return try XFRMMessage.make(XFRMMessageType.newSA, flags: [], header: h, attributes: w)
    }

    @Test("ACQUIRE: ALLOCSPI by its seq, then DELSA by the SPI given; a key-less state with an SPI: DELSA; nothing else")
    func removes() throws {
        let dump = [
            try Self.state(src: Self.a, dst: Self.b, spi: 0, seq: 3),                      // ACQUIRE: removed
            try Self.state(src: Self.b, dst: Self.a, spi: 0xc000_0001, seq: 0),            // larval, reverse: removed
            try Self.state(src: Self.a, dst: Self.b, spi: 0xc000_0002, seq: 0, keyed: true), // charon's SA: kept
            try Self.state(src: Self.a, dst: IPAddress("10.0.3.3")!, spi: 0, seq: 4),       // other peer: kept
            try Self.state(src: Self.a, dst: Self.b, spi: 0x1234, seq: 0, proto: UInt8(IPPROTO_AH)), // AH: kept
        ]
        let fake = FakeNetlink { m in
            if m.type == XFRMMessageType.getSA { return dump }
            if m.type == XFRMMessageType.allocSPI { return [try Self.state(src: Self.a, dst: Self.b, spi: 0xc000_0099, seq: 3)] }
            return []
        }
        #expect(try KeylessStates.remove(fake, between: Self.a, and: Self.b) == 2)
        let sent = fake.sent.filter { $0.type != XFRMMessageType.getSA }
        #expect(sent.map(\.type) == [XFRMMessageType.allocSPI, XFRMMessageType.delSA, XFRMMessageType.delSA])
        // xfrm_userspi_info: the ACQUIRE's usersa_info (its seq), then min and max.
        let info = try XFRMUserSAInfo(decoding: sent[0].payload[...])
        #expect(info.seq == 3 && info.id.spi == 0 && info.id.proto == UInt8(IPPROTO_ESP) && info.reqid == 1)
        #expect(sent[0].payload.count == XFRMUserSAInfo.size + 8)
        let del1 = try XFRMUserSAID(decoding: sent[1].payload[...])
        #expect(del1.spi == 0xc000_0099 && Array(del1.daddr.prefix(4)) == Self.b.bytes)
        let del2 = try XFRMUserSAID(decoding: sent[2].payload[...])
        #expect(del2.spi == 0xc000_0001 && Array(del2.daddr.prefix(4)) == Self.a.bytes)
    }

    @Test("a state gone meanwhile (ESRCH) is not an error and not counted")
    func gone() throws {
        let fake = FakeNetlink { m in
            if m.type == XFRMMessageType.getSA { return [try Self.state(src: Self.a, dst: Self.b, spi: 0xc000_0001, seq: 0)] }
            throw NetlinkError(operation: "xfrm state delete", errno: ESRCH)
        }
        #expect(try KeylessStates.remove(fake, between: Self.a, and: Self.b) == 0)
    }
}
