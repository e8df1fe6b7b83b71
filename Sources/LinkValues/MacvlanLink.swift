import CLinuxUAPI
import NetlinkWire

/// `macvlan` and `macvtap` (one type, the same IFLA_MACVLAN_* attributes): virtual devices with their own MAC address
/// on a lower device (`link DEV`). The words: `[mode private|vepa|bridge|passthru|source] [nopromisc]`, kept in the
/// order given, as Isthmus's parser writes each attribute when it reads its word.
public struct MacvlanLink: RTLinkValue {
    public enum Variant: String, CaseIterable, Sendable { case macvlan, macvtap }

    public enum Mode: String, CaseIterable, Sendable {
        case `private`, vepa, bridge, passthru, source
        public var wire: UInt32 {
            switch self {
            case .private: return UInt32(MACVLAN_MODE_PRIVATE.rawValue)
            case .vepa: return UInt32(MACVLAN_MODE_VEPA.rawValue)
            case .bridge: return UInt32(MACVLAN_MODE_BRIDGE.rawValue)
            case .passthru: return UInt32(MACVLAN_MODE_PASSTHRU.rawValue)
            case .source: return UInt32(MACVLAN_MODE_SOURCE.rawValue)
            }
        }
        public init?(wire: UInt32) {
            guard let m = Mode.allCases.first(where: { $0.wire == wire }) else { return nil }
            self = m
        }
    }

    /// One word: `mode M` or `nopromisc` (IFLA_MACVLAN_FLAGS with MACVLAN_FLAG_NOPROMISC).
    public enum Setting: Equatable, Sendable {
        case mode(Mode)
        case noPromisc
    }

    public static let kinds = Variant.allCases.map(\.rawValue)
    public var kernelModules: [String] { variant == .macvtap ? ["macvlan", "macvtap"] : ["macvlan"] }
    public static let flagWords: Set<String> = ["nopromisc"]
    public var variant: Variant
    public var kind: String { variant.rawValue }
    /// In the order given (and sent).
    public var settings: [Setting]

    public init(variant: Variant = .macvlan, _ settings: [Setting] = []) { self.variant = variant; self.settings = settings }

    /// The mode last given.
    public var mode: Mode? {
        for case .mode(let m) in settings.reversed() { return m }
        return nil
    }

    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard let v = Variant(rawValue: kind) else { throw LinkWordError("\"\(kind)\" is not macvlan or macvtap") }
        var settings: [Setting] = []
        for w in words {
            switch w.key {
            case "mode":
                guard let m = Mode(rawValue: w.value) else {
                    throw LinkWordError("\(kind): \"mode \(w.value)\": expected \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                settings.append(.mode(m))
            case "nopromisc":
                guard w.value.isEmpty else { throw LinkWordError("\(kind): \"nopromisc\" takes no value") }
                settings.append(.noPromisc)
            default: throw LinkWordError("\(kind): unknown word \"\(w.key)\"; valid: mode, nopromisc")
            }
        }
        self.init(variant: v, settings)
    }

    /// MODE and a NOPROMISC flag, in the attributes' order (the kernel reports a FLAGS attribute always; only its
    /// NOPROMISC bit is a word).
    public init?(kind: String, data d: [Attribute]) {
        guard let v = Variant(rawValue: kind) else { return nil }
        var settings: [Setting] = []
        for a in d {
            if a.type == UInt16(IFLA_MACVLAN_MODE), let m = a.u32.flatMap(Mode.init(wire:)) { settings.append(.mode(m)) }
            if a.type == UInt16(IFLA_MACVLAN_FLAGS), let f = a.u16, f & UInt16(MACVLAN_FLAG_NOPROMISC) != 0 { settings.append(.noPromisc) }
        }
        self.init(variant: v, settings)
    }

    public var words: [LinkWord] {
        settings.map {
            switch $0 {
            case .mode(let m): return LinkWord("mode", m.rawValue)
            case .noPromisc: return LinkWord("nopromisc")
            }
        }
    }

    public func encode(into w: inout AttributeWriter) {
        for s in settings {
            switch s {
            case .mode(let m): w.u32(IFLA_MACVLAN_MODE, m.wire)
            case .noPromisc: w.u16(IFLA_MACVLAN_FLAGS, UInt16(MACVLAN_FLAG_NOPROMISC))
            }
        }
    }
}
