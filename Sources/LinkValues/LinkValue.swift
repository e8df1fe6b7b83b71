import NetlinkWire

/// The outer and inner addresses of link values: NetlinkWire's, under a name that does not collide with the
/// config model's own `IPAddress` in the targets that use both.
public typealias LinkAddress = NetlinkWire.IPAddress

/// One `key value` word pair of an `ip link add NAME type KIND ...`-style command; `value` empty for a bare flag
/// (`nopmtudisc`).
public struct LinkWord: Equatable, Sendable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String = "") { self.key = key; self.value = value }
    /// `key value`, or `key` for a flag.
    public var words: String { value.isEmpty ? key : key + " " + value }
}

/// A word list that is not a link value's: names the word and what was expected.
public struct LinkWordError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One link's meaning as a value, the single place a kind's knowledge lives: words → value (`init(kind:words:)`)
/// and value → words (`words`). The words are the canonical subset a site states and compares (what the planner
/// writes, the host observer reads back and `isthmus tunnel run` is started with): `words → value → words` is an
/// identity on them.
public protocol LinkValue: Equatable, Sendable {
    /// The kind names (IFLA_INFO_KIND, or `tunnel run`'s `type`) this type describes.
    static var kinds: [String] { get }
    /// This value's kind.
    var kind: String { get }
    /// Parses the canonical words (as `words` writes them, in any order).
    init(kind: String, words: [LinkWord]) throws(LinkWordError)
    /// The canonical words, in command order.
    var words: [LinkWord] { get }
    /// The words that stand alone (take no value), for reading a flat word list.
    static var flagWords: Set<String> { get }
    /// The kernel modules this link needs on the kernel's data plane (what `dataplane = "auto"` checks for).
    var kernelModules: [String] { get }
    /// The kinds `isthmus tunnel run` hosts on the userspace data plane, by the name it takes them (in `type KIND`).
    static var userspaceKinds: [String] { get }
}

extension LinkValue {
    public static var flagWords: Set<String> { [] }
    public static var userspaceKinds: [String] { [] }
}

/// A link value of an rtnetlink kind, also attributes → value (`init(kind:data:)`, IFLA_INFO_DATA as the kernel
/// reports it; never traps, absent attributes read as unset) and value → attributes (`encode(into:)`, IFLA_INFO_DATA
/// in iproute2's order, so that `ip link add NAME type KIND WORDS` and the value of WORDS send the same bytes).
/// `value → attributes → value` is an identity on values the kernel reports (every field stated).
public protocol RTLinkValue: LinkValue {
    /// Reads IFLA_INFO_DATA; nil when `kind` is not one of `kinds`.
    init?(kind: String, data: [Attribute])
    /// IFLA_INFO_DATA (without the nest itself).
    func encode(into w: inout AttributeWriter)
}

/// Every link value a site uses, by kind: the one table the host observer, the planner and the reconciler consult
/// (a switch over these cases is a switch over value types, never over kind names).
public enum SiteLink: Equatable, Sendable {
    case vxlan(VXLANLink)
    case gre(GRELink)
    case ipTunnel(IPTunnelLink)
    /// An L2TPv3 Ethernet pseudowire made by `ip l2tp add tunnel` + `add session` (generic netlink, no IFLA_INFO_DATA).
    case l2tpSession(L2TPSessionLink)
    /// A pseudowire of the L2TP control protocol (an `isthmus tunnel run NAME type l2tp-control` process).
    case l2tpControl(L2TPControlLink)

    /// The value types with rtnetlink attributes.
    public static let kernelTypes: [any RTLinkValue.Type] = [VXLANLink.self, GRELink.self, IPTunnelLink.self]

    /// Every kind name a link value describes.
    public static var kernelKinds: [String] { kernelTypes.flatMap { $0.kinds } }

    /// IFLA_INFO_DATA of `kind` as its value; nil for kinds without one.
    public static func decode(kind: String, data: [Attribute]) -> (any RTLinkValue)? {
        guard let t = kernelTypes.first(where: { $0.kinds.contains(kind) }) else { return nil }
        return t.init(kind: kind, data: data)
    }

    /// The value inside.
    public var value: any LinkValue {
        switch self {
        case .vxlan(let v): return v
        case .gre(let v): return v
        case .ipTunnel(let v): return v
        case .l2tpSession(let v): return v
        case .l2tpControl(let v): return v
        }
    }

    public var kind: String { value.kind }
    public var words: [LinkWord] { value.words }

    /// The kinds `isthmus tunnel run` hosts (besides `l2tp-control`, its control protocol's process), in usage order.
    public static var userspaceKinds: [String] { kernelTypes.flatMap { $0.userspaceKinds } + L2TPSessionLink.userspaceKinds }

    /// Every value type, kernel or not.
    static let allTypes: [any LinkValue.Type] = kernelTypes + [L2TPSessionLink.self, L2TPControlLink.self]

    /// The `type` of `isthmus tunnel run` for this link on the userspace data plane.
    public var userspaceKind: String {
        if case .l2tpSession = self { return L2TPSessionLink.userspaceKind }
        return kind
    }

    /// The value of `isthmus tunnel run NAME`'s words: `type KIND WORDS` (a flat list, as a process reports it).
    public init(userspaceWords words: [String]) throws(LinkWordError) {
        guard words.count >= 2, words[0] == "type" else { throw LinkWordError("expected \"type KIND ...\"") }
        let kind = words[1] == L2TPSessionLink.userspaceKind ? "l2tpeth" : words[1]
        guard let t = Self.allTypes.first(where: { $0.kinds.contains(kind) }) else {
            throw LinkWordError("unknown kind \"\(words[1])\"")
        }
        var pairs: [LinkWord] = []
        var i = 2
        while i < words.count {
            if t.flagWords.contains(words[i]) { pairs.append(LinkWord(words[i])); i += 1; continue }
            guard i + 1 < words.count else { throw LinkWordError("\(kind): \"\(words[i])\" needs a value") }
            pairs.append(LinkWord(words[i], words[i + 1]))
            i += 2
        }
        try self.init(kind: kind, words: pairs)
    }

    /// The value of `kind` with `words` (a kernel link's, or `l2tpeth`, `l2tp-control`).
    public init(kind: String, words: [LinkWord]) throws(LinkWordError) {
        guard let t = Self.allTypes.first(where: { $0.kinds.contains(kind) }) else { throw LinkWordError("unknown kind \"\(kind)\"") }
        switch try t.init(kind: kind, words: words) {
        case let v as VXLANLink: self = .vxlan(v)
        case let v as GRELink: self = .gre(v)
        case let v as IPTunnelLink: self = .ipTunnel(v)
        case let v as L2TPSessionLink: self = .l2tpSession(v)
        case let v as L2TPControlLink: self = .l2tpControl(v)
        default: throw LinkWordError("unknown kind \"\(kind)\"")
        }
    }
}

/// Every rtnetlink kind with a value, a site's or not (bridge, veth, macvlan, vlan, dummy, tun as well as the site's
/// tunnel kinds): what `ip link` parses through and the kind-level tests run over.
public enum RTLinkValues {
    public static let types: [any RTLinkValue.Type] = SiteLink.kernelTypes
        + [BridgeLink.self, VethLink.self, MacvlanLink.self, VLANLink.self, DummyLink.self, TunTapLink.self]

    /// Every kind name these describe.
    public static var kinds: [String] { types.flatMap { $0.kinds } }

    /// The value type of `kind`, nil for kinds without one.
    public static func type(of kind: String) -> (any RTLinkValue.Type)? { types.first { $0.kinds.contains(kind) } }

    /// IFLA_INFO_DATA of `kind` as its value; nil for kinds without one.
    public static func decode(kind: String, data: [Attribute]) -> (any RTLinkValue)? { type(of: kind)?.init(kind: kind, data: data) }

    /// The value of `kind` with `words`.
    public static func value(kind: String, words: [LinkWord]) throws(LinkWordError) -> any RTLinkValue {
        guard let t = type(of: kind) else { throw LinkWordError("unknown kind \"\(kind)\"") }
        return try t.init(kind: kind, words: words)
    }
}

/// Helpers the values share for reading and writing their words.
public enum LinkWords {
    /// The words as a dictionary (the last of a repeated key wins), checked against `known`.
    public static func dictionary(_ words: [LinkWord], kind: String, known: [String]) throws(LinkWordError) -> [String: String] {
        var d: [String: String] = [:]
        for w in words {
            guard known.contains(w.key) else {
                throw LinkWordError("\(kind): unknown word \"\(w.key)\"; valid: \(known.joined(separator: ", "))")
            }
            d[w.key] = w.value
        }
        return d
    }

    /// An address word's value.
    public static func address(_ d: [String: String], _ key: String, kind: String) throws(LinkWordError) -> LinkAddress? {
        guard let v = d[key] else { return nil }
        guard let a = LinkAddress(v) else { throw LinkWordError("\(kind): \"\(key) \(v)\": expected an IP address") }
        return a
    }

    /// A number word's value.
    public static func number<T: FixedWidthInteger>(_ d: [String: String], _ key: String, kind: String, _: T.Type = T.self) throws(LinkWordError) -> T? {
        guard let v = d[key] else { return nil }
        guard let n = T(v) else { throw LinkWordError("\(kind): \"\(key) \(v)\": expected a number \(T.min)..\(T.max)") }
        return n
    }

    /// An address from IFLA_*_LOCAL/REMOTE-style bytes: nil when absent, malformed or all zeros (unset).
    public static func address(_ a: Attribute?) -> LinkAddress? {
        guard let a, let x = LinkAddress(bytes: a.data), !x.isUnspecified else { return nil }
        return x
    }

    /// Lowercase hex, as `ip l2tp` takes cookies.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// Bytes from lowercase or uppercase hex (an even number of digits), nil otherwise.
    public static func bytes(hex s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
            i += 2
        }
        return out
    }
}
