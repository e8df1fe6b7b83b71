import CLinuxUAPI
import NetlinkWire

/// `vxlan` (RFC 7348). The site-level words: `id VNI [local A] [remote A | group G] [dstport P] [df unset|set|inherit]
/// [dev IFINDEX]`.
public struct VXLANLink: RTLinkValue {
    /// IFLA_VXLAN_DF: the outer header's don't-fragment bit.
    public enum DF: String, CaseIterable, Sendable {
        case unset, set, inherit
        var wire: UInt8 {
            switch self {
            case .unset: return UInt8(VXLAN_DF_UNSET.rawValue)
            case .set: return UInt8(VXLAN_DF_SET.rawValue)
            case .inherit: return UInt8(VXLAN_DF_INHERIT.rawValue)
            }
        }
        init(wire: UInt8) { self = DF.allCases.first { $0.wire == wire } ?? .unset }
    }

    public static let kinds = ["vxlan"]
    public static let userspaceKinds = kinds
    public var kernelModules: [String] { ["vxlan"] }
    public var kind: String { "vxlan" }
    /// nil: not stated (`external` devices have none).
    public var vni: UInt32?
    public var local: LinkAddress?
    /// The default destination: a unicast peer (`remote`) or a multicast group (`group`).
    public var remote: LinkAddress?
    public var destinationPort: UInt16?
    public var df: DF?
    public var device: UInt32?

    public init(vni: UInt32?, local: LinkAddress? = nil, remote: LinkAddress? = nil, destinationPort: UInt16? = nil,
                df: DF? = nil, device: UInt32? = nil) {
        self.vni = vni; self.local = local; self.remote = remote; self.destinationPort = destinationPort
        self.df = df; self.device = device
    }

    static let keywords = ["id", "local", "remote", "group", "dstport", "df", "dev"]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "vxlan" else { throw LinkWordError("\"\(kind)\" is not vxlan") }
        let d = try LinkWords.dictionary(words, kind: kind, known: Self.keywords)
        if d["remote"] != nil && d["group"] != nil { throw LinkWordError("vxlan: both \"remote\" and \"group\"") }
        self.init(vni: try LinkWords.number(d, "id", kind: kind, UInt32.self), local: try LinkWords.address(d, "local", kind: kind),
                  remote: try LinkWords.address(d, d["group"] != nil ? "group" : "remote", kind: kind),
                  destinationPort: try LinkWords.number(d, "dstport", kind: kind, UInt16.self),
                  device: try LinkWords.number(d, "dev", kind: kind, UInt32.self))
        if let v = vni, v > 0xFF_FFFF { throw LinkWordError("vxlan: \"id \(v)\": expected 0..16777215") }
        if let f = d["df"] {
            guard let df = DF(rawValue: f) else { throw LinkWordError("vxlan: \"df \(f)\": expected unset, set or inherit") }
            self.df = df
        }
    }

    public init?(kind: String, data d: [Attribute]) {
        guard kind == "vxlan" else { return nil }
        self.init(vni: d.first(IFLA_VXLAN_ID)?.u32,
                  local: LinkWords.address(d.first(IFLA_VXLAN_LOCAL)) ?? LinkWords.address(d.first(IFLA_VXLAN_LOCAL6)),
                  remote: LinkWords.address(d.first(IFLA_VXLAN_GROUP)) ?? LinkWords.address(d.first(IFLA_VXLAN_GROUP6)),
                  destinationPort: d.first(IFLA_VXLAN_PORT)?.be16, df: d.first(IFLA_VXLAN_DF)?.u8.map(DF.init(wire:)),
                  device: d.first(IFLA_VXLAN_LINK)?.u32.flatMap { $0 == 0 ? nil : $0 })
    }

    public var words: [LinkWord] {
        var w: [LinkWord] = []
        if let vni { w.append(LinkWord("id", "\(vni)")) }
        if let local { w.append(LinkWord("local", "\(local)")) }
        if let remote { w.append(LinkWord(remote.isMulticast ? "group" : "remote", "\(remote)")) }
        if let destinationPort { w.append(LinkWord("dstport", "\(destinationPort)")) }
        if let df { w.append(LinkWord("df", df.rawValue)) }
        if let device { w.append(LinkWord("dev", "\(device)")) }
        return w
    }

    /// As iproute2's iplink_vxlan.c writes these words for `link add`: DF and LINK where given, then ID, LOCAL,
    /// GROUP/REMOTE, LEARNING (on) and a nonzero PORT last.
    public func encode(into w: inout AttributeWriter) {
        if let df { w.u8(IFLA_VXLAN_DF, df.wire) }
        if let device { w.u32(IFLA_VXLAN_LINK, device) }
        if let vni { w.u32(IFLA_VXLAN_ID, vni) }
        if let local { w.raw(local.isV6 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, local.bytes) }
        if let remote { w.raw(remote.isV6 ? IFLA_VXLAN_GROUP6 : IFLA_VXLAN_GROUP, remote.bytes) }
        w.u8(IFLA_VXLAN_LEARNING, 1)
        if let destinationPort, destinationPort != 0 { w.be16(IFLA_VXLAN_PORT, destinationPort) }
    }
}
