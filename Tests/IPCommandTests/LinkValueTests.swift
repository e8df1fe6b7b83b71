import CLinuxUAPI
import Foundation
@testable import IPCommand
import LinkValues
import Netlink
import NetlinkWire
import TestSupport
import Testing

/// The kind-level property of the link values: words → value → attributes → value → words is the identity, for every
/// kind (values in the form the kernel reports, every field stated) and for every golden fixture of a kind with a
/// value (iproute2's bytes → value → words → Isthmus's parser → bytes → the same value); and a value's attributes are
/// the bytes `ip link add NAME type KIND WORDS` sends, so the reconciler creating from the value sends what the
/// words would.
@Suite("Link values: words, value and attributes round trips")
struct LinkValueTests {
    static let a4 = LinkAddress("192.0.2.1")!, b4 = LinkAddress("198.51.100.7")!
    static let a6 = LinkAddress("2001:db8::1")!, b6 = LinkAddress("2001:db8::2")!

    /// Values of every rtnetlink kind with a value, fields stated as the kernel reports them.
    static var kernelValues: [SiteLink] {
        var out: [SiteLink] = [
            .vxlan(VXLANLink(vni: 42, local: a4, remote: b4, destinationPort: 4789, df: .unset)),
            .vxlan(VXLANLink(vni: 16_777_215, local: a6, remote: b6, destinationPort: 8472, df: .set)),
            .vxlan(VXLANLink(vni: 0, remote: b4, df: .inherit)),
        ]
        for v in GRELink.Variant.allCases {
            let v6 = v.family.isV6
            out.append(.gre(GRELink(variant: v, external: true)))
            for key: UInt32? in [nil, 77, 0xFFFF_FFFF] {
                for fou: GRELink.FOU? in [nil, .init(sourcePort: 0, destinationPort: 4754), .init(sourcePort: 5555, destinationPort: 6000)] {
                    for df in [false, true] {
                        out.append(.gre(GRELink(variant: v, local: v6 ? a6 : a4, remote: v6 ? b6 : b4, key: key, fou: fou,
                                                pathMTUDiscovery: v6 ? nil : !df, ignoreDF: !v6 && df)))
                    }
                }
            }
        }
        for v in IPTunnelLink.Variant.allCases {
            out.append(.ipTunnel(IPTunnelLink(variant: v, external: true)))
            if v == .ip6tnl {
                for m in IPTunnelLink.Mode.allCases { out.append(.ipTunnel(IPTunnelLink(variant: v, local: a6, remote: b6, mode: m))) }
            } else {
                for pm in [true, false] { out.append(.ipTunnel(IPTunnelLink(variant: v, local: a4, remote: b4, pathMTUDiscovery: pm))) }
            }
        }
        return out
    }

    /// Values of the kinds without rtnetlink attributes.
    static var otherValues: [SiteLink] {
        [
            .l2tpSession(L2TPSessionLink(tunnelID: 1, peerTunnelID: 2, sessionID: 3, peerSessionID: 4, udp: true, local: a4, remote: b4,
                                         localPort: 1701, remotePort: 1702, cookie: [1, 2, 3, 4], peerCookie: [0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0, 1])),
            .l2tpSession(L2TPSessionLink(tunnelID: 0xFFFF_FFFF, peerTunnelID: 1, sessionID: 1, peerSessionID: 9, udp: false, local: a6, remote: b6)),
            .l2tpControl(L2TPControlLink(local: a4, remote: b4, role: .initiator, pseudowire: "lab")),
            .l2tpControl(L2TPControlLink(local: a6, remote: b6, role: .responder, localPort: 1, remotePort: 65535, pseudowire: "pw-2",
                                         cookieLength: 8, dataPlane: .userspace, bridge: "br-lab", mtu: 1450, alias: "isthmus:lab",
                                         host: "east", secretFile: "/run/isthmus/sites/lab.secret")),
        ]
    }

    static func flat(_ words: [LinkWord]) -> [String] { words.flatMap { $0.value.isEmpty ? [$0.key] : [$0.key, $0.value] } }

    static func attributes(_ v: any RTLinkValue) throws -> [Attribute] {
        var w = AttributeWriter()
        v.encode(into: &w)
        return try Attribute.parse(w.encoded()[...])
    }

    /// IFLA_INFO_KIND and IFLA_INFO_DATA of the RTM_NEWLINK that `line` makes Isthmus's parser send.
    static func parsed(_ line: String, links: [String: Int32] = [:]) throws -> (kind: String?, data: [Attribute], bytes: [UInt8]) {
        let k = TunnelKindTests.Kernel()
        k.links = links.map { (name: $0.key, index: $0.value, type: 1, kind: "", data: []) }
        try TunnelKindTests.run(line, kernel: k)
        let m = try #require(k.sent.last)
        let l = try LinkMessage(m)
        let li = try #require(l.linkInfo)
        let raw = try #require(try l.attributes.first(IFLA_LINKINFO)?.children().first(IFLA_INFO_DATA))
        return (li.kind, li.data, Array(raw.data))
    }

    @Test("words → value → words, and a process's flat words → value, for every kind", arguments: kernelValues + otherValues)
    func words(_ v: SiteLink) throws {
        #expect(try SiteLink(kind: v.kind, words: v.words) == v)
        #expect(try SiteLink(kind: v.kind, words: v.words.reversed()) == v, "words in any order")
        #expect(try SiteLink(userspaceWords: ["type", v.userspaceKind] + Self.flat(v.words)) == v)
    }

    @Test("value → attributes → value → words, and the attributes are what `ip link add ... type KIND WORDS` sends",
          arguments: kernelValues)
    func attributes(_ v: SiteLink) throws {
        let value = try #require(v.value as? any RTLinkValue)
        let attrs = try Self.attributes(value)
        let back = try #require(SiteLink.decode(kind: v.kind, data: attrs))
        #expect(back.kind == v.kind)
        #expect(back.words == v.words)
        #expect(try SiteLink(kind: back.kind, words: back.words) == v)

        var w = AttributeWriter()
        value.encode(into: &w)
        let line = "link add lv0 type \(v.kind) " + Self.flat(v.words).joined(separator: " ")
        let sent = try Self.parsed(line)
        #expect(sent.kind == v.kind)
        #expect(sent.bytes == w.bytes, "\(line)")
    }

    /// The golden fixtures of kinds with a value.
    static var fixtures: [GoldenFixture] {
        ((try? GoldenFixture.loadAll()) ?? []).filter { f in
            guard let bytes = f.messages.first, let m = try? NetlinkMessage.parse(bytes).first, m.type == UInt16(RTM_NEWLINK),
                  let l = try? LinkMessage(m), let kind = l.linkInfo?.kind else { return false }
            return SiteLink.kernelKinds.contains(kind)
        }
    }

    @Test("every golden fixture of a kind with a value: iproute2's bytes → value → words → Isthmus's bytes → the same value",
          arguments: fixtures)
    func golden(_ f: GoldenFixture) throws {
        let bytes = try #require(f.messages.first)
        let m = try #require(try NetlinkMessage.parse(bytes).first)
        let li = try #require(try LinkMessage(m).linkInfo)
        let kind = try #require(li.kind)
        let v = try #require(SiteLink.decode(kind: kind, data: li.data))
        #expect(try SiteLink(kind: kind, words: v.words).words == v.words)
        // The words carry the underlay as an ifindex (as the kernel reports it); the command line names it.
        let names = Dictionary(uniqueKeysWithValues: f.links.map { ("\($0.value)", $0.key) })
        let words = v.words.map { $0.key == "dev" ? LinkWord("dev", names[$0.value] ?? $0.value) : $0 }
        let line = "link add lv0 type \(kind) " + Self.flat(words).joined(separator: " ")
        let sent = try Self.parsed(line, links: f.links)
        #expect(sent.kind == kind)
        let again = try #require(SiteLink.decode(kind: kind, data: sent.data))
        #expect(again.words == v.words, "\(f.name): \(line)")
    }

    @Test("the kinds with values are the tunnel kinds `ip link` knows, and each kind has one value type")
    func registry() {
        let known = Set(LinkKinds.all.map(\.kind))
        for k in SiteLink.kernelKinds { #expect(known.contains(k), "\(k)") }
        #expect(SiteLink.kernelKinds.count == Set(SiteLink.kernelKinds).count)
    }
}
