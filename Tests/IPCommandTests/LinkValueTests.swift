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
        let raw = try l.attributes.first(IFLA_LINKINFO)?.children().first(IFLA_INFO_DATA)
        return (li.kind, li.data, raw.map { Array($0.data) } ?? [])
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

    /// The golden fixtures of kinds with a value (every `link add ... type KIND` fixture).
    static var fixtures: [GoldenFixture] {
        ((try? GoldenFixture.loadAll()) ?? []).filter { f in
            guard let bytes = f.messages.first, let m = try? NetlinkMessage.parse(bytes).first, m.type == UInt16(RTM_NEWLINK),
                  let l = try? LinkMessage(m), let kind = l.linkInfo?.kind else { return false }
            return RTLinkValues.kinds.contains(kind)
        }
    }

    @Test("every golden fixture of a kind with a value: iproute2's bytes → value → words → Isthmus's bytes → the same value",
          arguments: fixtures)
    func golden(_ f: GoldenFixture) throws {
        let bytes = try #require(f.messages.first)
        let m = try #require(try NetlinkMessage.parse(bytes).first)
        let li = try #require(try LinkMessage(m).linkInfo)
        let kind = try #require(li.kind)
        let v = try #require(RTLinkValues.decode(kind: kind, data: li.data))
        #expect(try RTLinkValues.value(kind: kind, words: v.words).words == v.words)
        // The words carry the underlay as an ifindex (as the kernel reports it); the command line names it.
        let names = Dictionary(uniqueKeysWithValues: f.links.map { ("\($0.value)", $0.key) })
        let words = v.words.map { $0.key == "dev" ? LinkWord("dev", names[$0.value] ?? $0.value) : $0 }
        let line = "link add lv0 type \(kind) " + Self.flat(words).joined(separator: " ")
        let sent = try Self.parsed(line, links: f.links)
        #expect(sent.kind == kind)
        let again = try #require(RTLinkValues.decode(kind: kind, data: sent.data))
        #expect(again.words == v.words, "\(f.name): \(line)")
        #expect(Self.same(again, v), "\(f.name): \(line)")
        // The value's words make Isthmus's parser send the value's own attributes ...
        #expect(sent.bytes == Self.encoded(v), "\(f.name): \(line)")
        // ... which, for the kinds whose value holds every option `ip link` takes, are iproute2's bytes.
        let raw = try LinkMessage(m).attributes.first(IFLA_LINKINFO)?.children().first(IFLA_INFO_DATA)
        if Self.completeKinds.contains(kind) { #expect(sent.bytes == (raw.map { Array($0.data) } ?? []), "\(f.name): \(line)") }
    }

    /// The kinds whose value holds everything `ip link add ... type KIND` takes (the tunnel values hold a site's subset).
    static let completeKinds = Set(([BridgeLink.self, VethLink.self, MacvlanLink.self, VLANLink.self, DummyLink.self] as [any RTLinkValue.Type]).flatMap { $0.kinds })

    static func encoded(_ v: any RTLinkValue) -> [UInt8] {
        var w = AttributeWriter()
        v.encode(into: &w)
        return w.bytes
    }

    /// Equality of two values of any kinds.
    static func same(_ a: any RTLinkValue, _ b: any RTLinkValue) -> Bool {
        func open<T: RTLinkValue>(_ x: T) -> Bool { (b as? T) == x }
        return open(a)
    }

    /// A value as a test argument.
    struct Value: Sendable, CustomTestStringConvertible {
        var value: any RTLinkValue
        var testDescription: String { "\(value.kind) " + LinkValueTests.flat(value.words).joined(separator: " ") }
    }

    /// Values of the kinds outside a site's table, every option stated in some value.
    static var moreValues: [any RTLinkValue] {
        var out: [any RTLinkValue] = [BridgeLink(), DummyLink(), VethLink(), VethLink(peer: .init(name: "lv0p", mtu: nil)),
                                      VethLink(peer: .init(name: "lv0-peer", mtu: 1400)), VLANLink([.id(0)]), VLANLink([.id(4094)])]
        var all: [BridgeLink.Setting] = BridgeLink.Option.allCases.filter { $0 != .vlanProtocol }.map { .init($0, $0.maximum) }
        all += BridgeLink.vlanProtocols.map { .init(.vlanProtocol, UInt64($0.ethertype)) }
        out += [BridgeLink(all), BridgeLink(all.reversed()), BridgeLink([.init(.stpState, 0), .init(.forwardDelay, 0)]),
                BridgeLink([.init(.priority, 1), .init(.priority, 2)])]
        for v in MacvlanLink.Variant.allCases {
            out.append(MacvlanLink(variant: v, [.noPromisc]))
            for m in MacvlanLink.Mode.allCases {
                out += [MacvlanLink(variant: v, [.mode(m)]), MacvlanLink(variant: v, [.mode(m), .noPromisc]),
                        MacvlanLink(variant: v, [.noPromisc, .mode(m)])]
            }
        }
        for p in VLANLink.VLANProtocol.allCases {
            out += [VLANLink([.protocol(p), .id(7)]), VLANLink([.id(7), .protocol(p)])]
        }
        let every = VLANLink.flagNames.reduce(UInt32(0)) { $0 | $1.bit }
        for f in VLANLink.flagNames {
            out += [VLANLink([.id(10)], flags: f.bit, mask: f.bit), VLANLink([.id(10)], flags: 0, mask: f.bit),
                    VLANLink([.id(10)], flags: every & ~f.bit, mask: every)]
        }
        for m in TunTapLink.Mode.allCases {
            out += [TunTapLink(mode: m), TunTapLink(mode: m, owner: 0, group: 4_294_967_294, packetInfo: true, vnetHeader: true,
                                                   multiQueue: true, persist: true), TunTapLink(mode: m, owner: 1000, persist: true)]
        }
        return out
    }

    /// Every rtnetlink kind's values: a site's and the others.
    static var everyValue: [Value] {
        (kernelValues.compactMap { $0.value as? any RTLinkValue } + moreValues).map(Value.init)
    }

    @Test("every kind: words → value → attributes → value → words is the identity, and `ip link add ... type KIND WORDS` sends the value's attributes",
          arguments: everyValue)
    func everyKind(_ c: Value) throws {
        let v = c.value
        let fromWords = try RTLinkValues.value(kind: v.kind, words: v.words)
        #expect(Self.same(fromWords, v))
        let attrs = try Attribute.parse(Self.encoded(fromWords)[...])
        let back = try #require(RTLinkValues.decode(kind: v.kind, data: attrs))
        #expect(Self.same(back, v))
        #expect(back.words == v.words)
        // tun devices are made through /dev/net/tun, not `link add`.
        guard LinkKinds.find(v.kind) != nil else { return }
        let line = "link add lv0 type \(v.kind) " + Self.flat(v.words).joined(separator: " ")
        let sent = try Self.parsed(line)
        #expect(sent.kind == v.kind)
        #expect(sent.bytes == Self.encoded(v), "\(line)")
    }

    /// The golden fixtures of `l2tp add tunnel|session`.
    static var l2tpFixtures: [GoldenFixture] {
        ((try? GoldenFixture.loadAll()) ?? []).filter { $0.isthmusWords.starts(with: ["l2tp", "add"]) }
    }

    /// What `words` (`l2tp add tunnel|session ...`) make Isthmus send, as the golden runs see it.
    static func l2tpSent(_ words: [String], _ f: GoldenFixture) throws -> [[UInt8]] {
        let (route, generic) = goldenTransport(f)
        let session = Session(options: Options()) { proto, _ in proto == NETLINK_GENERIC ? generic : route }
        try IPCommandRunner.run(words, session: session)
        try session.flush()
        return mutating(generic.sent, generic: true)
    }

    /// The value an `l2tp add tunnel|session` message stands for: the tunnel's or the session's half of an l2tpeth link
    /// (the other half's identifiers 0), and the words of that command.
    static func l2tpValue(_ bytes: [UInt8]) throws -> (value: L2TPSessionLink, keywords: [String]) {
        let m = try #require(try NetlinkMessage.parse(bytes).first)
        if m.payload.first == UInt8(L2TP_CMD_TUNNEL_CREATE) {
            let t = try L2TPTunnelConfig(decoding: m)
            return (L2TPSessionLink(tunnel: t, session: L2TPSessionConfig(tunnelID: t.tunnelID, sessionID: 0, peerSessionID: 0)),
                    L2TPSessionLink.tunnelKeywords)
        }
        #expect(m.payload.first == UInt8(L2TP_CMD_SESSION_CREATE))
        let s = try L2TPSessionConfig(decoding: m)
        let t = L2TPTunnelConfig(tunnelID: s.tunnelID, peerTunnelID: 0)
        return (L2TPSessionLink(tunnel: t, session: s), L2TPSessionLink.sessionKeywords)
    }

    @Test("every l2tp golden fixture: iproute2's bytes → value → words → Isthmus's bytes → the same value", arguments: l2tpFixtures)
    func l2tpGolden(_ f: GoldenFixture) throws {
        let theirs = try #require(f.messages.first)
        let (v, keywords) = try Self.l2tpValue(theirs)
        let words = v.words(of: keywords)
        let command = Array(f.isthmusWords.prefix(3))
        let sent = try Self.l2tpSent(command + Self.flat(words), f)
        let ours = try #require(sent.first)
        let again = try Self.l2tpValue(ours)
        #expect(again.value.words(of: keywords) == words, "\(f.name)")
        // A command of only the value's words sends iproute2's bytes again.
        let given = Set(f.isthmusWords.dropFirst(3).enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        if given.isSubset(of: keywords) { #expect(hexString(ours) == hexString(theirs), "\(f.name)") }
    }

    @Test("the kinds `tunnel run` hosts come from the values, in the order the usage lists them")
    func userspaceKinds() throws {
        #expect(SiteLink.userspaceKinds == ["vxlan", "gretap", "ip6gretap", "gre", "ip6gre", "ipip", "sit", "ip6tnl", "l2tpv3"])
        #expect(TunnelCommand.runKinds == SiteLink.userspaceKinds)
        for k in SiteLink.userspaceKinds { #expect(throws: Never.self) { _ = try SiteLink(userspaceWords: ["type", k] + Self.minimal(k)) } }
    }

    /// The least words each `tunnel run` kind's value takes.
    static func minimal(_ kind: String) -> [String] {
        switch kind {
        case "vxlan": return ["id", "1"]
        case "l2tpv3": return ["tunnel_id", "1", "peer_tunnel_id", "1", "session_id", "1", "peer_session_id", "1"]
        default: return []
        }
    }

    @Test("every kind `ip link` knows has a value, each kind has one value type, and only tun is not `ip link`'s")
    func registry() {
        let known = Set(LinkKinds.all.map(\.kind))
        for k in SiteLink.kernelKinds { #expect(known.contains(k), "\(k)") }
        #expect(SiteLink.kernelKinds.count == Set(SiteLink.kernelKinds).count)
        #expect(RTLinkValues.kinds.count == Set(RTLinkValues.kinds).count)
        #expect(Set(RTLinkValues.kinds).subtracting(known) == ["tun"])
        for k in known { #expect(RTLinkValues.type(of: k) != nil, "\(k) has no value") }
        for k in SiteLink.kernelKinds {
            #expect(RTLinkValues.type(of: k).map(ObjectIdentifier.init) == SiteLink.kernelTypes.first { $0.kinds.contains(k) }.map(ObjectIdentifier.init))
        }
    }
}
