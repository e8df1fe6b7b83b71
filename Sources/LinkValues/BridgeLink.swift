import CLinuxUAPI
import NetlinkWire

/// `bridge` (an 802.1D software switch): the options of iproute2's iplink_bridge.c that Isthmus takes, as settings in
/// the order given — iplink_bridge.c writes each attribute as it reads its word, so the order (and a repeated word)
/// is part of the request. The words: `[forward_delay N] [hello_time N] ... [vlan_protocol 802.1Q|802.1ad]`.
public struct BridgeLink: RTLinkValue {
    /// One option: its word, IFLA_BR_* attribute and width.
    public enum Option: String, CaseIterable, Sendable {
        case forwardDelay = "forward_delay", helloTime = "hello_time", maxAge = "max_age", ageingTime = "ageing_time"
        case stpState = "stp_state", priority, vlanFiltering = "vlan_filtering", vlanDefaultPVID = "vlan_default_pvid"
        case vlanStatsEnabled = "vlan_stats_enabled", groupForwardMask = "group_fwd_mask", multicastSnooping = "mcast_snooping"
        case multicastQuerier = "mcast_querier", nfCallIPTables = "nf_call_iptables", nfCallIP6Tables = "nf_call_ip6tables"
        case nfCallARPTables = "nf_call_arptables"
        /// IFLA_BR_VLAN_PROTOCOL, an ethertype (`802.1Q` or `802.1ad`).
        case vlanProtocol = "vlan_protocol"

        public var attribute: Int32 {
            switch self {
            case .forwardDelay: return Int32(IFLA_BR_FORWARD_DELAY)
            case .helloTime: return Int32(IFLA_BR_HELLO_TIME)
            case .maxAge: return Int32(IFLA_BR_MAX_AGE)
            case .ageingTime: return Int32(IFLA_BR_AGEING_TIME)
            case .stpState: return Int32(IFLA_BR_STP_STATE)
            case .priority: return Int32(IFLA_BR_PRIORITY)
            case .vlanFiltering: return Int32(IFLA_BR_VLAN_FILTERING)
            case .vlanDefaultPVID: return Int32(IFLA_BR_VLAN_DEFAULT_PVID)
            case .vlanStatsEnabled: return Int32(IFLA_BR_VLAN_STATS_ENABLED)
            case .groupForwardMask: return Int32(IFLA_BR_GROUP_FWD_MASK)
            case .multicastSnooping: return Int32(IFLA_BR_MCAST_SNOOPING)
            case .multicastQuerier: return Int32(IFLA_BR_MCAST_QUERIER)
            case .nfCallIPTables: return Int32(IFLA_BR_NF_CALL_IPTABLES)
            case .nfCallIP6Tables: return Int32(IFLA_BR_NF_CALL_IP6TABLES)
            case .nfCallARPTables: return Int32(IFLA_BR_NF_CALL_ARPTABLES)
            case .vlanProtocol: return Int32(IFLA_BR_VLAN_PROTOCOL)
            }
        }

        /// The value's width in bytes (the kernel's policy; vlan_protocol is a big-endian u16).
        public var width: Int {
            switch self {
            case .forwardDelay, .helloTime, .maxAge, .ageingTime, .stpState: return 4
            case .priority, .vlanDefaultPVID, .groupForwardMask, .vlanProtocol: return 2
            default: return 1
            }
        }

        /// The largest value the option takes.
        public var maximum: UInt64 { width == 4 ? UInt64(UInt32.max) : width == 2 ? UInt64(UInt16.max) : UInt64(UInt8.max) }
    }

    /// One option and its value (vlan_protocol: the ethertype).
    public struct Setting: Equatable, Sendable {
        public var option: Option
        public var value: UInt64
        public init(_ option: Option, _ value: UInt64) { self.option = option; self.value = value }
    }

    public static let kinds = ["bridge"]
    public var kernelModules: [String] { ["bridge"] }
    public var kind: String { "bridge" }
    /// In the order given (and sent).
    public var settings: [Setting]

    public init(_ settings: [Setting] = []) { self.settings = settings }

    /// The value of `option` (the last given), nil when not given.
    public subscript(option: Option) -> UInt64? { settings.last { $0.option == option }?.value }

    /// `vlan_protocol`'s two names and ethertypes.
    public static let vlanProtocols: [(name: String, ethertype: UInt16)] = [("802.1Q", UInt16(ETH_P_8021Q)), ("802.1ad", UInt16(ETH_P_8021AD))]

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard kind == "bridge" else { throw LinkWordError("\"\(kind)\" is not bridge") }
        var settings: [Setting] = []
        for w in words {
            guard let o = Option(rawValue: w.key) else {
                throw LinkWordError("bridge: unknown word \"\(w.key)\"; valid: \(Option.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            settings.append(Setting(o, try Self.value(of: o, w.value)))
        }
        self.init(settings)
    }

    /// The number a word's text stands for, checked against the option's width.
    public static func value(of o: Option, _ text: String) throws(LinkWordError) -> UInt64 {
        if o == .vlanProtocol {
            guard let p = vlanProtocols.first(where: { $0.name == text }) else {
                throw LinkWordError("bridge: \"vlan_protocol \(text)\": expected 802.1Q or 802.1ad")
            }
            return UInt64(p.ethertype)
        }
        guard let n = UInt64(text), n <= o.maximum else {
            throw LinkWordError("bridge: \"\(o.rawValue) \(text)\": expected a number 0..\(o.maximum)")
        }
        return n
    }

    /// The options among the attributes, in their order (attributes of other IFLA_BR_* types are not this value's).
    public init?(kind: String, data d: [Attribute]) {
        guard kind == "bridge" else { return nil }
        var settings: [Setting] = []
        for a in d {
            guard let o = Option.allCases.first(where: { UInt16($0.attribute) == a.type }) else { continue }
            let v: UInt64?
            switch o.width {
            case 4: v = a.u32.map(UInt64.init)
            case 2: v = (o == .vlanProtocol ? a.be16 : a.u16).map(UInt64.init)
            default: v = a.u8.map(UInt64.init)
            }
            if let v { settings.append(Setting(o, v)) }
        }
        self.init(settings)
    }

    public var words: [LinkWord] {
        settings.map { s in
            if s.option == .vlanProtocol {
                return LinkWord(s.option.rawValue, Self.vlanProtocols.first { UInt64($0.ethertype) == s.value }?.name ?? "\(s.value)")
            }
            return LinkWord(s.option.rawValue, "\(s.value)")
        }
    }

    /// Each setting as iplink_bridge.c writes it, in order.
    public func encode(into w: inout AttributeWriter) {
        for s in settings {
            switch s.option.width {
            case 4: w.u32(s.option.attribute, UInt32(truncatingIfNeeded: s.value))
            case 2 where s.option == .vlanProtocol: w.be16(s.option.attribute, UInt16(truncatingIfNeeded: s.value))
            case 2: w.u16(s.option.attribute, UInt16(truncatingIfNeeded: s.value))
            default: w.u8(s.option.attribute, UInt8(truncatingIfNeeded: s.value))
            }
        }
    }
}
