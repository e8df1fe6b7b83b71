import CLinuxUAPI
import NetlinkWire

/// `tun` (IFLA_INFO_KIND of TUN and TAP devices alike): made through /dev/net/tun (`ip tuntap add`, a `tunnel run`
/// process), never by `link add`; the kernel reports IFLA_TUN_* as `ip -d link show` and `ip tuntap show` print them.
/// The words: `mode tun|tap [user UID] [group GID] [pi] [vnet_hdr] [multi_queue] [persist]`. Queue counts are state,
/// not part of the value.
public struct TunTapLink: RTLinkValue {
    public enum Mode: String, CaseIterable, Sendable {
        case tun, tap
        public var wire: UInt8 { self == .tun ? UInt8(IFF_TUN) : UInt8(IFF_TAP) }
        public init?(wire: UInt8) {
            guard let m = Mode.allCases.first(where: { $0.wire == wire }) else { return nil }
            self = m
        }
    }

    public static let kinds = ["tun"]
    public var kernelModules: [String] { ["tun"] }
    public static let flagWords: Set<String> = ["pi", "vnet_hdr", "multi_queue", "persist"]
    public var kind: String { "tun" }
    /// nil: a type the kernel reports that is neither.
    public var mode: Mode?
    public var owner: UInt32?
    public var group: UInt32?
    /// Packet information (no IFF_NO_PI).
    public var packetInfo: Bool
    public var vnetHeader: Bool
    public var multiQueue: Bool
    public var persist: Bool

    public init(mode: Mode?, owner: UInt32? = nil, group: UInt32? = nil, packetInfo: Bool = false, vnetHeader: Bool = false,
                multiQueue: Bool = false, persist: Bool = false) {
        self.mode = mode; self.owner = owner; self.group = group; self.packetInfo = packetInfo; self.vnetHeader = vnetHeader
        self.multiQueue = multiQueue; self.persist = persist
    }

    static let keywords = ["mode", "user", "group", "pi", "vnet_hdr", "multi_queue", "persist"]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "tun" else { throw LinkWordError("\"\(kind)\" is not tun") }
        let d = try LinkWords.dictionary(words, kind: kind, known: Self.keywords)
        guard let m = d["mode"], let mode = Mode(rawValue: m) else { throw LinkWordError("tun: \"mode\": expected tun or tap") }
        for f in Self.flagWords where d[f].map({ !$0.isEmpty }) ?? false { throw LinkWordError("tun: \"\(f)\" takes no value") }
        self.init(mode: mode, owner: try LinkWords.number(d, "user", kind: kind, UInt32.self),
                  group: try LinkWords.number(d, "group", kind: kind, UInt32.self), packetInfo: d["pi"] != nil,
                  vnetHeader: d["vnet_hdr"] != nil, multiQueue: d["multi_queue"] != nil, persist: d["persist"] != nil)
    }

    public init?(kind: String, data d: [Attribute]) {
        guard kind == "tun" else { return nil }
        func on(_ t: Int32) -> Bool { d.first(t)?.u8 ?? 0 != 0 }
        self.init(mode: d.first(IFLA_TUN_TYPE)?.u8.flatMap(Mode.init(wire:)), owner: d.first(IFLA_TUN_OWNER)?.u32,
                  group: d.first(IFLA_TUN_GROUP)?.u32, packetInfo: on(Int32(IFLA_TUN_PI)), vnetHeader: on(Int32(IFLA_TUN_VNET_HDR)),
                  multiQueue: on(Int32(IFLA_TUN_MULTI_QUEUE)), persist: on(Int32(IFLA_TUN_PERSIST)))
    }

    public var words: [LinkWord] {
        var w: [LinkWord] = []
        if let mode { w.append(LinkWord("mode", mode.rawValue)) }
        if let owner { w.append(LinkWord("user", "\(owner)")) }
        if let group { w.append(LinkWord("group", "\(group)")) }
        if packetInfo { w.append(LinkWord("pi")) }
        if vnetHeader { w.append(LinkWord("vnet_hdr")) }
        if multiQueue { w.append(LinkWord("multi_queue")) }
        if persist { w.append(LinkWord("persist")) }
        return w
    }

    /// As the kernel's tun_fill_info reports them: OWNER and GROUP when set, TYPE, PI, VNET_HDR, PERSIST, MULTI_QUEUE.
    public func encode(into w: inout AttributeWriter) {
        if let owner { w.u32(IFLA_TUN_OWNER, owner) }
        if let group { w.u32(IFLA_TUN_GROUP, group) }
        if let mode { w.u8(IFLA_TUN_TYPE, mode.wire) }
        w.u8(IFLA_TUN_PI, packetInfo ? 1 : 0)
        w.u8(IFLA_TUN_VNET_HDR, vnetHeader ? 1 : 0)
        w.u8(IFLA_TUN_PERSIST, persist ? 1 : 0)
        w.u8(IFLA_TUN_MULTI_QUEUE, multiQueue ? 1 : 0)
    }
}
