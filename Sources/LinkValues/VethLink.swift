import CLinuxUAPI
import NetlinkWire

/// `veth`: a pair of Ethernet devices; IFLA_INFO_DATA is VETH_INFO_PEER, the peer's ifinfomsg and IFLA_* attributes
/// (iproute2's `peer [name] NAME [generic link options]`). The words: `[peer NAME [mtu N]]`; the peer's other generic
/// options (address, txqueuelen, netns...) are IPCommand's link parser's and travel as its attribute bytes.
public struct VethLink: RTLinkValue {
    /// The other end.
    public struct Peer: Equatable, Sendable {
        /// The peer's ifinfomsg (all zeros unless `ip` was told `up`, an index...).
        public var header: IfInfoHeader
        /// The peer's IFLA_* attributes other than its name, in the order given (IFLA_MTU among them).
        public var attributes: [UInt8]
        public var name: String?

        public init(header: IfInfoHeader = IfInfoHeader(), attributes: [UInt8] = [], name: String? = nil) {
            self.header = header; self.attributes = attributes; self.name = name
        }

        /// The peer's name and MTU only.
        public init(name: String?, mtu: UInt32?) {
            var w = AttributeWriter()
            if let mtu { w.u32(IFLA_MTU, mtu) }
            self.init(attributes: w.bytes, name: name)
        }

        /// IFLA_MTU among the attributes.
        public var mtu: UInt32? { ((try? Attribute.parse(attributes[...])) ?? []).first(IFLA_MTU)?.u32 }
    }

    public static let kinds = ["veth"]
    public var kernelModules: [String] { ["veth"] }
    public var kind: String { "veth" }
    /// nil: no `peer` (the kernel names it vethN).
    public var peer: Peer?

    public init(peer: Peer? = nil) { self.peer = peer }

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "veth" else { throw LinkWordError("\"\(kind)\" is not veth") }
        let d = try LinkWords.dictionary(words, kind: kind, known: ["peer", "mtu"])
        if d["mtu"] != nil && d["peer"] == nil { throw LinkWordError("veth: \"mtu\" is the peer's and needs \"peer NAME\"") }
        guard let name = d["peer"] else { self.init(); return }
        self.init(peer: Peer(name: name, mtu: try LinkWords.number(d, "mtu", kind: kind, UInt32.self)))
    }

    /// VETH_INFO_PEER as sent (the kernel does not report it back): header, attributes, IFLA_IFNAME.
    public init?(kind: String, data d: [Attribute]) {
        guard kind == "veth" else { return nil }
        guard let p = d.first(VETH_INFO_PEER) else { self.init(); return }
        guard let header = try? IfInfoHeader(decoding: p.data.prefix(IfInfoHeader.size)) else { self.init(); return }
        let rest = p.data.dropFirst(IfInfoHeader.size)
        // The other attributes' bytes as they came (flags and padding kept): each runs from its header to its
        // padded end, inside `rest`.
        var other: [UInt8] = []
        var name: String?
        for a in (try? Attribute.parse(rest)) ?? [] {
            if a.type == UInt16(IFLA_IFNAME) { name = a.string; continue }
            let start = a.data.startIndex - 4
            let end = min(rest.endIndex, start + ((a.data.count + 4 + 3) & ~3))
            other += rest[start..<end]
        }
        self.init(peer: Peer(header: header, attributes: other, name: name))
    }

    public var words: [LinkWord] {
        guard let peer, let name = peer.name else { return [] }
        var w = [LinkWord("peer", name)]
        if let mtu = peer.mtu { w.append(LinkWord("mtu", "\(mtu)")) }
        return w
    }

    /// As iproute2's veth_parse_opt: the peer's ifinfomsg, its generic attributes, then its name.
    public func encode(into w: inout AttributeWriter) {
        guard let peer else { return }
        var b: [UInt8] = []
        peer.header.encode(into: &b)
        b += peer.attributes
        if let name = peer.name {
            var n = AttributeWriter()
            n.string(IFLA_IFNAME, name)
            b += n.bytes
        }
        w.raw(VETH_INFO_PEER, b)
    }
}
