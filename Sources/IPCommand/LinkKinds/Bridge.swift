import CLinuxUAPI
import LinkValues
import NetlinkWire

/// `type bridge`: the options of iproute2's iplink_bridge.c that Isthmus needs, read into a `BridgeLink` (each
/// setting kept and written in the order given).
public struct BridgeKind: LinkKind {
    public var kind: String { BridgeLink.kinds[0] }
    public init() {}

    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        let names = BridgeLink.Option.allCases.map(\.rawValue)
        var value = BridgeLink()
        while let word = args.next() {
            guard let o = BridgeLink.Option(rawValue: word) else { throw args.unknown(word, validChoices: names) }
            let n: UInt64
            switch o.width {
            case _ where o == .vlanProtocol:
                let p = try args.choice(for: word, BridgeLink.vlanProtocols.map(\.name))
                n = try BridgeLink.value(of: o, p)
            case 4: n = UInt64(try args.integer(for: word, UInt32.self))
            case 2: n = UInt64(try args.integer(for: word, UInt16.self))
            default: n = UInt64(try args.integer(for: word, UInt8.self))
            }
            value.settings.append(BridgeLink.Setting(o, n))
        }
        value.encode(into: &w)
    }

    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        let p = BridgeDetails.bridge(d)
        return (p.text, p.json)
    }
}

/// `type dummy`: no options.
public struct DummyKind: LinkKind {
    public var kind: String { DummyLink.kinds[0] }
    public init() {}
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        if let word = args.next() { throw args.unknown(word, validChoices: []) }
        DummyLink().encode(into: &w)
    }
}

/// `type veth peer [name] NAME [generic link options]`: VETH_INFO_PEER carries a whole ifinfomsg and its attributes,
/// as `VethLink.Peer` (the generic options parsed by `link add`'s own parser).
public struct VethKind: LinkKind {
    public var kind: String { VethLink.kinds[0] }
    public init() {}
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        guard let word = args.next() else { return }
        guard word == "peer" else { throw args.unknown(word, validChoices: ["peer"]) }
        let g = try LinkCommand.parseGeneric(&args, session, isAdd: true, stopAtType: false)
        let value = VethLink(peer: VethLink.Peer(header: g.header, attributes: try g.attributes.encoded(), name: g.name ?? g.dev))
        value.encode(into: &w)
    }
}

/// `type macvlan|macvtap mode private|vepa|bridge|passthru|source [nopromisc]` (needs `link DEV`): one instance per
/// kind, the same IFLA_MACVLAN_* attributes, read into a `MacvlanLink`.
public struct MacvlanKind: LinkKind {
    public let kind: String
    /// `macvlan` or `macvtap`.
    public init(kind: String = "macvlan") { self.kind = kind }
    public init(_ variant: MacvlanLink.Variant) { self.kind = variant.rawValue }
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        var value = MacvlanLink(variant: MacvlanLink.Variant(rawValue: kind) ?? .macvlan)
        while let word = args.next() {
            switch word {
            case "mode":
                let m = try args.choice(for: "mode", MacvlanLink.Mode.allCases.map(\.rawValue))
                guard let mode = MacvlanLink.Mode(rawValue: m) else { throw UsageError.invalid(m, for: "mode", expected: "a macvlan mode") }
                value.settings.append(.mode(mode))
            case "nopromisc": value.settings.append(.noPromisc)
            default: throw args.unknown(word, validChoices: ["mode", "nopromisc"])
            }
        }
        value.encode(into: &w)
    }
    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var j = JSONObject()
        var t: [String] = []
        if let m = d.first(IFLA_MACVLAN_MODE)?.u32.flatMap(MacvlanLink.Mode.init(wire:)) { t.append("mode \(m.rawValue)"); j.set("mode", m.rawValue) }
        let flags = d.first(IFLA_MACVLAN_FLAGS)?.u16 ?? 0
        if flags & UInt16(MACVLAN_FLAG_NOPROMISC) != 0 { t.append("nopromisc"); j.set("nopromisc", true) }
        if flags & UInt16(MACVLAN_FLAG_NODST) != 0 { t.append("nodst"); j.set("nodst", true) }
        if let q = d.first(IFLA_MACVLAN_BC_QUEUE_LEN)?.u32 { t.append("bcqueuelen \(q)"); j.set("bcqueuelen", q) }
        if let q = d.first(IFLA_MACVLAN_BC_QUEUE_LEN_USED)?.u32 { t.append("usedbcqueuelen \(q)"); j.set("usedbcqueuelen", q) }
        if d.first(IFLA_MACVLAN_MODE)?.u32 == UInt32(MACVLAN_MODE_SOURCE.rawValue), let count = d.first(IFLA_MACVLAN_MACADDR_COUNT)?.u32 {
            t.append("remotes (\(count))"); j.set("macaddr_count", count)
            if let list = try? d.first(IFLA_MACVLAN_MACADDR_DATA)?.children() {
                let macs = list.filter { $0.type == UInt16(IFLA_MACVLAN_MACADDR) && $0.data.count >= 6 }.map { formatHardwareAddress(Array($0.data.prefix(6))) }
                t += macs; j.set("macaddr_data", .array(macs.map { .string($0) }))
            }
        }
        return (t.joined(separator: " "), j)
    }
}

/// `type vlan id N [protocol 802.1Q|802.1ad] [reorder_hdr|gvrp|mvrp|loose_binding on|off]` (needs `link DEV`), read
/// into a `VLANLink`.
public struct VLANKind: LinkKind {
    public var kind: String { VLANLink.kinds[0] }
    public init() {}
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        var value = VLANLink()
        let valid = ["protocol", "id"] + VLANLink.flagNames.map(\.name)
        while let word = args.next() {
            switch word {
            case "protocol":
                let p = try args.choice(for: "protocol", ["802.1Q", "802.1ad", "802.1q"])
                value.settings.append(.protocol(p == "802.1ad" ? .dot1ad : .dot1Q))
            case "id":
                value.settings.append(.id(try args.integer(for: "id", UInt16.self, range: 0...4094)))
            default:
                guard let f = VLANLink.flagNames.first(where: { $0.name == word }) else { throw args.unknown(word, validChoices: valid) }
                value.mask |= f.bit
                if try args.choice(for: word, ["on", "off"]) == "on" { value.flags |= f.bit } else { value.flags &= ~f.bit }
            }
        }
        if isAdd && value.id == nil { throw UsageError("vlan: missing \"id N\" (0-4094)") }
        value.encode(into: &w)
    }
    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var j = JSONObject()
        var t: [String] = []
        if let p = d.first(IFLA_VLAN_PROTOCOL)?.be16 {
            let s = VLANLink.VLANProtocol(ethertype: p).rawValue
            t.append("protocol \(s)"); j.set("protocol", s)
        }
        if let id = d.first(IFLA_VLAN_ID)?.u16 { t.append("id \(id)"); j.set("id", id) }
        if let f = d.first(IFLA_VLAN_FLAGS)?.u32 {
            let names = VLANLink.flagNames.filter { f & $0.bit != 0 }.map { $0.name.uppercased() }
            t.append("<\(names.joined(separator: ","))>"); j.set("flags", .array(names.map { .string($0) }))
        }
        return (t.joined(separator: " "), j)
    }
}

extension LinkKinds {
    static let builtin: [any LinkKind] = [BridgeKind(), VethKind(), VXLANKind()] + MacvlanLink.Variant.allCases.map { MacvlanKind($0) }
        + [VLANKind(), DummyKind()]
}
