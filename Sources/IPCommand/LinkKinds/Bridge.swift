import CLinuxUAPI
import NetlinkWire

/// `type bridge`: the options iproute2's iplink_bridge.c knows that Isthmus needs, each written in the order given.
public struct BridgeKind: LinkKind {
    public let kind = "bridge"
    public init() {}
    enum Width { case u8, u16, u32, u64 }
    static let options: [(String, Int32, Width)] = [
        ("forward_delay", Int32(IFLA_BR_FORWARD_DELAY), .u32), ("hello_time", Int32(IFLA_BR_HELLO_TIME), .u32),
        ("max_age", Int32(IFLA_BR_MAX_AGE), .u32), ("ageing_time", Int32(IFLA_BR_AGEING_TIME), .u32),
        ("stp_state", Int32(IFLA_BR_STP_STATE), .u32), ("priority", Int32(IFLA_BR_PRIORITY), .u16),
        ("vlan_filtering", Int32(IFLA_BR_VLAN_FILTERING), .u8), ("vlan_default_pvid", Int32(IFLA_BR_VLAN_DEFAULT_PVID), .u16),
        ("vlan_stats_enabled", Int32(IFLA_BR_VLAN_STATS_ENABLED), .u8), ("group_fwd_mask", Int32(IFLA_BR_GROUP_FWD_MASK), .u16),
        ("mcast_snooping", Int32(IFLA_BR_MCAST_SNOOPING), .u8), ("mcast_querier", Int32(IFLA_BR_MCAST_QUERIER), .u8),
        ("nf_call_iptables", Int32(IFLA_BR_NF_CALL_IPTABLES), .u8), ("nf_call_ip6tables", Int32(IFLA_BR_NF_CALL_IP6TABLES), .u8),
        ("nf_call_arptables", Int32(IFLA_BR_NF_CALL_ARPTABLES), .u8),
    ]

    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        let names = Self.options.map(\.0) + ["vlan_protocol"]
        while let word = args.next() {
            if word == "vlan_protocol" {
                let p = try args.choice(for: word, ["802.1Q", "802.1ad"])
                w.be16(IFLA_BR_VLAN_PROTOCOL, p == "802.1Q" ? UInt16(ETH_P_8021Q) : UInt16(ETH_P_8021AD))
                continue
            }
            guard let opt = Self.options.first(where: { $0.0 == word }) else { throw args.unknown(word, validChoices: names) }
            switch opt.2 {
            case .u8: w.u8(opt.1, try args.integer(for: word, UInt8.self))
            case .u16: w.u16(opt.1, try args.integer(for: word, UInt16.self))
            case .u32: w.u32(opt.1, try args.integer(for: word, UInt32.self))
            case .u64: w.u64(opt.1, try args.integer(for: word, UInt64.self))
            }
        }
    }

    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        let p = BridgeDetails.bridge(d)
        return (p.text, p.json)
    }
}

/// `type dummy`: no options.
public struct DummyKind: LinkKind {
    public let kind = "dummy"
    public init() {}
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        if let word = args.next() { throw args.unknown(word, validChoices: []) }
    }
}

/// `type veth peer [name] NAME [generic link options]`: VETH_INFO_PEER carries a whole ifinfomsg and its attributes.
public struct VethKind: LinkKind {
    public let kind = "veth"
    public init() {}
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        guard let word = args.next() else { return }
        guard word == "peer" else { throw args.unknown(word, validChoices: ["peer"]) }
        let g = try LinkCommand.parseGeneric(&args, session, isAdd: true, stopAtType: false)
        var peer: [UInt8] = []
        g.header.encode(into: &peer)
        var attrs = g.attributes
        if let name = g.name ?? g.dev { attrs.string(IFLA_IFNAME, name) }
        peer += try attrs.encoded()
        w.raw(VETH_INFO_PEER, peer)
    }
}

/// `type macvlan|macvtap mode private|vepa|bridge|passthru|source [nopromisc]` (needs `link DEV`): one instance per
/// kind, the same IFLA_MACVLAN_* attributes.
public struct MacvlanKind: LinkKind {
    public let kind: String
    /// `macvlan` or `macvtap`.
    public init(kind: String = "macvlan") { self.kind = kind }
    static let modes: [(String, UInt32)] = [
        ("private", UInt32(MACVLAN_MODE_PRIVATE.rawValue)), ("vepa", UInt32(MACVLAN_MODE_VEPA.rawValue)),
        ("bridge", UInt32(MACVLAN_MODE_BRIDGE.rawValue)), ("passthru", UInt32(MACVLAN_MODE_PASSTHRU.rawValue)),
        ("source", UInt32(MACVLAN_MODE_SOURCE.rawValue)),
    ]
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        while let word = args.next() {
            switch word {
            case "mode":
                let m = try args.choice(for: "mode", Self.modes.map(\.0))
                w.u32(IFLA_MACVLAN_MODE, Self.modes.first { $0.0 == m }!.1)
            case "nopromisc": w.u16(IFLA_MACVLAN_FLAGS, UInt16(MACVLAN_FLAG_NOPROMISC))
            default: throw args.unknown(word, validChoices: ["mode", "nopromisc"])
            }
        }
    }
    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var j = JSONObject()
        var t: [String] = []
        if let m = d.first(IFLA_MACVLAN_MODE)?.u32, let name = Self.modes.first(where: { $0.1 == m })?.0 { t.append("mode \(name)"); j.set("mode", name) }
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

/// `type vlan id N [protocol 802.1Q|802.1ad] [reorder_hdr|gvrp|mvrp|loose_binding on|off]` (needs `link DEV`).
public struct VLANKind: LinkKind {
    public let kind = "vlan"
    public init() {}
    static let flagKeywords: [(String, UInt32)] = [
        ("reorder_hdr", UInt32(VLAN_FLAG_REORDER_HDR.rawValue)), ("gvrp", UInt32(VLAN_FLAG_GVRP.rawValue)),
        ("loose_binding", UInt32(VLAN_FLAG_LOOSE_BINDING.rawValue)), ("mvrp", UInt32(VLAN_FLAG_MVRP.rawValue)),
        ("bridge_binding", UInt32(VLAN_FLAG_BRIDGE_BINDING.rawValue)),
    ]
    public func parse(_ args: inout Arguments, session: Session, isAdd: Bool, into w: inout AttributeWriter) throws {
        var flags: UInt32 = 0, mask: UInt32 = 0
        var haveID = false
        let valid = ["protocol", "id"] + Self.flagKeywords.map(\.0)
        while let word = args.next() {
            switch word {
            case "protocol":
                let p = try args.choice(for: "protocol", ["802.1Q", "802.1ad", "802.1q"])
                w.be16(IFLA_VLAN_PROTOCOL, p == "802.1ad" ? UInt16(ETH_P_8021AD) : UInt16(ETH_P_8021Q))
            case "id":
                w.u16(IFLA_VLAN_ID, try args.integer(for: "id", UInt16.self, range: 0...4094))
                haveID = true
            default:
                guard let f = Self.flagKeywords.first(where: { $0.0 == word }) else { throw args.unknown(word, validChoices: valid) }
                mask |= f.1
                if try args.choice(for: word, ["on", "off"]) == "on" { flags |= f.1 } else { flags &= ~f.1 }
            }
        }
        if isAdd && !haveID { throw UsageError("vlan: missing \"id N\" (0-4094)") }
        if mask != 0 {
            var b: [UInt8] = []
            Bytes.append(flags, to: &b); Bytes.append(mask, to: &b)
            w.raw(IFLA_VLAN_FLAGS, b)
        }
    }
    public func describe(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var j = JSONObject()
        var t: [String] = []
        if let p = d.first(IFLA_VLAN_PROTOCOL)?.be16 {
            let s = p == UInt16(ETH_P_8021AD) ? "802.1ad" : "802.1Q"
            t.append("protocol \(s)"); j.set("protocol", s)
        }
        if let id = d.first(IFLA_VLAN_ID)?.u16 { t.append("id \(id)"); j.set("id", id) }
        if let f = d.first(IFLA_VLAN_FLAGS)?.u32 {
            let names = Self.flagKeywords.filter { f & $0.1 != 0 }.map { $0.0.uppercased() }
            t.append("<\(names.joined(separator: ","))>"); j.set("flags", .array(names.map { .string($0) }))
        }
        return (t.joined(separator: " "), j)
    }
}

extension LinkKinds {
    static let builtin: [any LinkKind] = [BridgeKind(), VethKind(), VXLANKind(), MacvlanKind(), MacvlanKind(kind: "macvtap"),
                                          VLANKind(), DummyKind()]
}
