import CLinuxUAPI
import NetlinkWire

/// `vlan` (802.1Q / 802.1ad) on a lower device (`link DEV`). The words: `[protocol 802.1Q|802.1ad] id N
/// [reorder_hdr|gvrp|mvrp|loose_binding|bridge_binding on|off]`. iplink_vlan.c writes PROTOCOL and ID as it reads
/// them (so their order is kept) and the flags, with the mask of those given, after the last word.
public struct VLANLink: RTLinkValue {
    public enum VLANProtocol: String, CaseIterable, Sendable {
        case dot1Q = "802.1Q", dot1ad = "802.1ad"
        public var ethertype: UInt16 { self == .dot1ad ? UInt16(ETH_P_8021AD) : UInt16(ETH_P_8021Q) }
        /// 802.1ad's ethertype, or 802.1Q for any other.
        public init(ethertype: UInt16) { self = ethertype == UInt16(ETH_P_8021AD) ? .dot1ad : .dot1Q }
    }

    /// `protocol P` or `id N`, in the order given.
    public enum Setting: Equatable, Sendable {
        case `protocol`(VLANProtocol)
        case id(UInt16)
    }

    /// The flag words and their VLAN_FLAG_* bits.
    public static let flagNames: [(name: String, bit: UInt32)] = [
        ("reorder_hdr", UInt32(VLAN_FLAG_REORDER_HDR.rawValue)), ("gvrp", UInt32(VLAN_FLAG_GVRP.rawValue)),
        ("loose_binding", UInt32(VLAN_FLAG_LOOSE_BINDING.rawValue)), ("mvrp", UInt32(VLAN_FLAG_MVRP.rawValue)),
        ("bridge_binding", UInt32(VLAN_FLAG_BRIDGE_BINDING.rawValue)),
    ]
    static var knownFlags: UInt32 { flagNames.reduce(0) { $0 | $1.bit } }

    public static let kinds = ["vlan"]
    public var kernelModules: [String] { ["8021q"] }
    public var kind: String { "vlan" }
    public var settings: [Setting]
    /// IFLA_VLAN_FLAGS: the flags given `on`, among those given (`mask`); no attribute when the mask is 0.
    public var flags: UInt32
    public var mask: UInt32

    public init(_ settings: [Setting] = [], flags: UInt32 = 0, mask: UInt32 = 0) {
        self.settings = settings; self.flags = flags & mask; self.mask = mask
    }

    /// The id last given.
    public var id: UInt16? {
        for case .id(let i) in settings.reversed() { return i }
        return nil
    }

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "vlan" else { throw LinkWordError("\"\(kind)\" is not vlan") }
        self.init()
        for w in words {
            switch w.key {
            case "protocol":
                guard let p = VLANProtocol(rawValue: w.value) ?? (w.value == "802.1q" ? .dot1Q : nil) else {
                    throw LinkWordError("vlan: \"protocol \(w.value)\": expected 802.1Q or 802.1ad")
                }
                settings.append(.protocol(p))
            case "id":
                guard let i = UInt16(w.value), i <= 4094 else { throw LinkWordError("vlan: \"id \(w.value)\": expected 0..4094") }
                settings.append(.id(i))
            default:
                guard let f = Self.flagNames.first(where: { $0.name == w.key }) else {
                    let valid = ["protocol", "id"] + Self.flagNames.map(\.name)
                    throw LinkWordError("vlan: unknown word \"\(w.key)\"; valid: \(valid.joined(separator: ", "))")
                }
                guard w.value == "on" || w.value == "off" else { throw LinkWordError("vlan: \"\(w.key) \(w.value)\": expected on or off") }
                mask |= f.bit
                if w.value == "on" { flags |= f.bit } else { flags &= ~f.bit }
            }
        }
    }

    /// PROTOCOL and ID in the attributes' order; FLAGS with its mask cut to the flags Isthmus names (the kernel reports
    /// a mask of all ones).
    public init?(kind: String, data d: [Attribute]) {
        guard kind == "vlan" else { return nil }
        self.init()
        for a in d {
            if a.type == UInt16(IFLA_VLAN_PROTOCOL), let p = a.be16 { settings.append(.protocol(VLANProtocol(ethertype: p))) }
            if a.type == UInt16(IFLA_VLAN_ID), let i = a.u16 { settings.append(.id(i)) }
            if a.type == UInt16(IFLA_VLAN_FLAGS), let f = a.u32, let m = Bytes.load(UInt32.self, from: a.data, at: 4) {
                mask = m & Self.knownFlags
                flags = f & mask
            }
        }
    }

    public var words: [LinkWord] {
        var w: [LinkWord] = settings.map {
            switch $0 {
            case .protocol(let p): return LinkWord("protocol", p.rawValue)
            case .id(let i): return LinkWord("id", "\(i)")
            }
        }
        for f in Self.flagNames where mask & f.bit != 0 { w.append(LinkWord(f.name, flags & f.bit != 0 ? "on" : "off")) }
        return w
    }

    public func encode(into w: inout AttributeWriter) {
        for s in settings {
            switch s {
            case .protocol(let p): w.be16(IFLA_VLAN_PROTOCOL, p.ethertype)
            case .id(let i): w.u16(IFLA_VLAN_ID, i)
            }
        }
        if mask != 0 {
            var b: [UInt8] = []
            Bytes.append(flags, to: &b); Bytes.append(mask, to: &b)
            w.raw(IFLA_VLAN_FLAGS, b)
        }
    }
}
