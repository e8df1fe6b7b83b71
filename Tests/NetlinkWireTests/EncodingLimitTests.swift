import CLinuxUAPI
import NetlinkWire
import Testing

/// nla_len is a u16 that counts its 4-byte header: a payload of more than 65,531 bytes cannot be encoded. The
/// writer records it instead of trapping in UInt16(length), and every message builder throws it.
@Suite("Netlink encoding limits")
struct EncodingLimitTests {
    static func text(_ n: Int) -> String { String(repeating: "x", count: n) }

    @Test("a string attribute of 65,531 bytes with its NUL fits; one more byte is a WireLengthError, not a trap")
    func stringBoundary() throws {
        var fits = AttributeWriter()
        fits.string(IFLA_IFALIAS, Self.text(65_530))
        #expect(fits.overflow == nil)
        let bytes = try fits.encoded()
        #expect(bytes.count == 65_536 && bytes[0] == 0xff && bytes[1] == 0xff)
        #expect(try Attribute.parse(bytes[...]).first?.string == Self.text(65_530))

        var over = AttributeWriter()
        over.u32(IFLA_MTU, 1500)
        over.string(IFLA_IFALIAS, Self.text(65_531))
        over.u32(IFLA_TXQLEN, 1000)
        let e = WireLengthError(attributeType: UInt16(IFLA_IFALIAS), length: 65_532, limit: 65_531)
        #expect(over.overflow == e)
        #expect(throws: e) { try over.encoded() }
        #expect("\(e)" == "netlink attribute type \(IFLA_IFALIAS) would carry 65532 bytes; it holds at most 65531")
    }

    @Test("an overflow inside a nest, an appended writer or a kind's data reaches the message builders, which throw")
    func propagation() throws {
        var data = AttributeWriter()
        data.raw(IFLA_INFO_KIND, Array(Self.text(70_000).utf8))
        var nested = AttributeWriter()
        nested.nested(IFLA_LINKINFO) { $0.nested(IFLA_INFO_DATA, data) }
        var appended = AttributeWriter()
        appended.append(nested)
        let e = WireLengthError(attributeType: UInt16(IFLA_INFO_KIND), length: 70_000, limit: 65_531)
        #expect(appended.overflow == e)
        #expect(throws: e) { try RTMessage.link(RTM_NEWLINK, flags: [], header: IfInfoHeader(), attributes: appended) }
        #expect(throws: e) { try GenericMessage.make(family: 30, command: 1, version: 1, attributes: appended) }

        // Children that fit one by one but not together: the nest itself overflows.
        var big = AttributeWriter()
        big.nested(IFLA_LINKINFO) { li in
            li.raw(1, Array(Self.text(40_000).utf8))
            li.raw(2, Array(Self.text(40_000).utf8))
        }
        #expect(big.overflow == WireLengthError(attributeType: UInt16(IFLA_LINKINFO), length: 80_008, limit: 65_531))
        #expect(throws: WireLengthError.self) { try L2TPNetlink.message(.tunnelGet, family: 30, attributes: big) }
    }
}
