import CLinuxUAPI
import Netlink
import NetlinkWire

/// `vlan` (bridge-vlan(8)): a bridge port's VLAN membership — `vlan add|del vid VID[-END] dev DEV [pvid] [untagged]
/// [self] [master] [tunnel_info id ID[-END]]` and `vlan show|tunnelshow [dev DEV] [vid VID]`, as `bridge vlan`.
///
/// Requests are AF_BRIDGE RTM_SETLINK / RTM_DELLINK with IFLA_AF_SPEC { [IFLA_BRIDGE_FLAGS], IFLA_BRIDGE_VLAN_INFO
/// (struct bridge_vlan_info: flags, vid; a range as a BEGIN and an END entry) or IFLA_BRIDGE_VLAN_TUNNEL_INFO nests },
/// as iproute2 6.1's vlan_modify() builds them; show dumps AF_BRIDGE links with RTEXT_FILTER_BRVLAN.
public enum VLANCommand {
    static let verbs = ["add", "delete", "show", "lst", "list", "tunnelshow"]
    static let modifyKeywords = ["dev", "vid", "self", "master", "pvid", "untagged", "tunnel_info"]

    public static func run(_ args: inout Arguments, _ session: Session) throws {
        let verb = try args.verb(verbs, default: "show")
        switch verb {
        case "add": try modify(&args, session, type: RTM_SETLINK)
        case "delete": try modify(&args, session, type: RTM_DELLINK)
        case "tunnelshow": try show(&args, session, tunnels: true)
        default: try show(&args, session, tunnels: false)
        }
    }

    /// `VID` or `VID-END`, each 1...4094 (0 and 4095 are reserved by 802.1Q), END above VID.
    static func range(_ word: String, for keyword: String, limit: UInt32) throws -> (UInt32, UInt32?) {
        let parts = word.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        func number(_ s: Substring) throws -> UInt32 {
            guard let n = UInt32(s), n < limit else {
                throw UsageError.invalid(word, for: keyword, expected: limit == 4096 ? "a VLAN ID (1..4094) or a range VID-VID"
                                                                                     : "a tunnel id (0..16777215) or a range ID-ID")
            }
            return n
        }
        let start = try number(parts[0])
        guard parts.count == 2 else { return (start, nil) }
        let end = try number(parts[1])
        guard end > start else { throw UsageError("invalid \(keyword) range \"\(word)\": the end must be above the start") }
        return (start, end)
    }

    static func modify(_ args: inout Arguments, _ session: Session, type: Int) throws {
        var dev: String?
        var vid: (UInt32, UInt32?)?
        var tunnel: (UInt32, UInt32?)?
        var flags: UInt16 = 0, bridgeFlags: UInt16 = 0
        while let word = args.next() {
            switch word {
            case "dev": dev = try args.value(for: word, expected: "a bridge port or bridge")
            case "vid": vid = try range(try args.value(for: word, expected: "a VLAN ID"), for: "vid", limit: 4096)
            case "self": bridgeFlags |= UInt16(BRIDGE_FLAGS_SELF)
            case "master": bridgeFlags |= UInt16(BRIDGE_FLAGS_MASTER)
            case "pvid": flags |= UInt16(BRIDGE_VLAN_INFO_PVID)
            case "untagged": flags |= UInt16(BRIDGE_VLAN_INFO_UNTAGGED)
            case "tunnel_info":
                let id = try args.value(for: word, expected: "id TUNNEL_ID")
                guard id == "id" else { throw UsageError.invalid(id, for: "tunnel_info", expected: "id TUNNEL_ID") }
                tunnel = try range(try args.value(for: "tunnel_info id", expected: "a tunnel id"), for: "tunnel_info id", limit: 1 << 24)
            default: throw args.unknown(word, validChoices: modifyKeywords)
            }
        }
        guard let dev, let vid else { throw UsageError("Device and VLAN ID are required arguments (dev DEV vid VID)") }
        guard vid.0 >= 1 && vid.0 <= 4094 && (vid.1 ?? 1) <= 4094 else {
            throw UsageError.invalid(vid.1.map { "\(vid.0)-\($0)" } ?? "\(vid.0)", for: "vid", expected: "a VLAN ID (1..4094)")
        }
        if vid.1 != nil && flags & UInt16(BRIDGE_VLAN_INFO_PVID) != 0 { throw UsageError("pvid cannot be configured for a vlan range") }
        // Ranges have end > start (range() checks), so the widths below cannot underflow.
        if let t = tunnel, (t.1 == nil) != (vid.1 == nil) || (t.1.map { $0 - t.0 } != vid.1.map { $0 - vid.0 }) {
            throw UsageError("tunnel_info id range must match the vid range (\(vid.0)\(vid.1.map { "-\($0)" } ?? ""))")
        }
        var h = IfInfoHeader(index: try session.ifindex(dev))
        h.family = UInt8(AF_BRIDGE)
        var w = AttributeWriter()
        w.nested(IFLA_AF_SPEC) { spec in
            if bridgeFlags != 0 { spec.u16(IFLA_BRIDGE_FLAGS, bridgeFlags) }
            func info(_ vid: UInt32, _ f: UInt16) -> [UInt8] {
                var b: [UInt8] = []
                Bytes.append(f, to: &b); Bytes.append(UInt16(vid), to: &b)
                return b
            }
            func tunnelInfo(_ vid: UInt32, _ id: UInt32, _ f: UInt16) {
                spec.nested(IFLA_BRIDGE_VLAN_TUNNEL_INFO) {
                    $0.u32(IFLA_BRIDGE_VLAN_TUNNEL_ID, id); $0.u16(IFLA_BRIDGE_VLAN_TUNNEL_VID, UInt16(vid)); $0.u16(IFLA_BRIDGE_VLAN_TUNNEL_FLAGS, f)
                }
            }
            if let t = tunnel {
                if let end = vid.1, let tend = t.1 {
                    tunnelInfo(vid.0, t.0, UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN))
                    tunnelInfo(end, tend, UInt16(BRIDGE_VLAN_INFO_RANGE_END))
                } else {
                    tunnelInfo(vid.0, t.0, 0)
                }
            } else if let end = vid.1 {
                spec.raw(IFLA_BRIDGE_VLAN_INFO, info(vid.0, flags | UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN)))
                spec.raw(IFLA_BRIDGE_VLAN_INFO, info(end, flags | UInt16(BRIDGE_VLAN_INFO_RANGE_END)))
            } else {
                spec.raw(IFLA_BRIDGE_VLAN_INFO, info(vid.0, flags))
            }
        }
        let what = "vlan \(type == RTM_DELLINK ? "del" : "add") vid \(vid.0)\(vid.1.map { "-\($0)" } ?? "") dev \(dev)"
        try session.submit(NetlinkRequest(RTMessage.link(type, flags: [], header: h, attributes: w), operation: what))
    }

    /// One entry of a port's VLAN list: a VID (or range) with its flags, or a VID range with its tunnel ids.
    struct Entry { var vid: UInt16; var vidEnd: UInt16; var flags: UInt16; var tunnel: UInt32 = 0; var tunnelEnd: UInt32 = 0 }

    static func show(_ args: inout Arguments, _ session: Session, tunnels: Bool) throws {
        var dev: String?, vlan: UInt16?
        while let word = args.next() {
            switch word {
            case "dev": dev = try args.value(for: word, expected: "a bridge port or bridge")
            case "vid":
                let v = try args.value(for: word, expected: "a VLAN ID")
                guard let n = UInt16(v), n < 4096 else { throw UsageError.invalid(v, for: "vid", expected: "a VLAN ID (1..4094)") }
                vlan = n
            default: throw args.unknown(word, validChoices: ["dev", "vid"])
            }
        }
        try session.flush()
        let filterIndex = try dev.map { try session.ifindex($0) }
        var w = AttributeWriter()
        w.u32(IFLA_EXT_MASK, UInt32(RTEXT_FILTER_BRVLAN))
        var h = IfInfoHeader()
        h.family = UInt8(AF_BRIDGE)
        let replies = try session.rtnl().dump(RTMessage.link(RTM_GETLINK, flags: [], header: h, attributes: w), operation: "vlan show dump")
        if !session.options.json {
            session.print("port".padding(16) + "  " + "vlan-id".padding(9) + (tunnels ? "  tunnel-id" : ""))
        }
        for m in replies where m.type == UInt16(RTM_NEWLINK) {
            guard let link = try? LinkMessage(m), link.header.family == UInt8(AF_BRIDGE),
                  filterIndex == nil || link.header.index == filterIndex,
                  let spec = try? link.attributes.first(IFLA_AF_SPEC)?.children() else { continue }
            let entries = tunnels ? tunnelEntries(spec) : vlanEntries(spec)
            let shown = select(entries, vlan: vlan)
            guard !shown.isEmpty else { continue }
            let name = link.name ?? session.ifname(link.header.index) ?? "if\(link.header.index)"
            // A line per entry (the port named on the first), an object per port with an array of entries.
            var lines: [String] = [], array: [JSON] = []
            for (i, e) in shown.enumerated() {
                var p = FieldPrinter()
                p.text((i == 0 ? name : "").padding(16) + "  ")
                let vids = "\(e.vid)" + (e.vidEnd != e.vid ? "-\(e.vidEnd)" : "")
                p.field("vlan", JSON(e.vid), text: tunnels ? vids.padding(9) + "  " : vids)
                if e.vidEnd != e.vid { p.jsonOnly("vlanEnd", JSON(e.vidEnd)) }
                if tunnels {
                    p.field("tunid", JSON(e.tunnel), text: "\(e.tunnel)" + (e.tunnelEnd != e.tunnel ? "-\(e.tunnelEnd)" : ""))
                    if e.tunnelEnd != e.tunnel { p.jsonOnly("tunidEnd", JSON(e.tunnelEnd)) }
                } else if let f = flagNames(e.flags) {
                    p.field("flags", .array(f.map { .string($0) }), text: f.map { " " + $0 }.joined())
                }
                lines.append(p.text); array.append(p.json.json)
            }
            if session.options.json {
                session.emit(JSONObject([("ifname", .string(name)), (tunnels ? "tunnels" : "vlans", .array(array))]).json)
            } else {
                lines.forEach { session.print($0) }
            }
        }
    }

    /// "PVID" and "Egress Untagged", as bridge prints them; nil for no flags (no JSON "flags" then).
    static func flagNames(_ flags: UInt16) -> [String]? {
        var out: [String] = []
        if flags & UInt16(BRIDGE_VLAN_INFO_PVID) != 0 { out.append("PVID") }
        if flags & UInt16(BRIDGE_VLAN_INFO_UNTAGGED) != 0 { out.append("Egress Untagged") }
        return flags == 0 ? nil : out
    }

    /// IFLA_BRIDGE_VLAN_INFO entries, a BEGIN/END pair folded into one range.
    static func vlanEntries(_ spec: [Attribute]) -> [Entry] {
        var out: [Entry] = []
        var start: UInt16?
        for a in spec where a.type == UInt16(IFLA_BRIDGE_VLAN_INFO) && a.data.count >= 4 {
            guard let flags = Bytes.load(UInt16.self, from: a.data), let vid = Bytes.load(UInt16.self, from: a.data.dropFirst(2)) else { continue }
            if flags & UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN) != 0 { start = vid; continue }
            let first = flags & UInt16(BRIDGE_VLAN_INFO_RANGE_END) != 0 ? (start ?? vid) : vid
            out.append(Entry(vid: first, vidEnd: vid, flags: flags & ~UInt16(BRIDGE_VLAN_INFO_RANGE_END)))
            start = nil
        }
        return out
    }

    static func tunnelEntries(_ spec: [Attribute]) -> [Entry] {
        var out: [Entry] = []
        var start: (UInt16, UInt32)?
        for a in spec where a.type == UInt16(IFLA_BRIDGE_VLAN_TUNNEL_INFO) {
            guard let kids = try? a.children(), let vid = kids.first(IFLA_BRIDGE_VLAN_TUNNEL_VID)?.u16 else { continue }
            let id = kids.first(IFLA_BRIDGE_VLAN_TUNNEL_ID)?.u32 ?? 0
            let flags = kids.first(IFLA_BRIDGE_VLAN_TUNNEL_FLAGS)?.u16 ?? 0
            if flags & UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN) != 0 { start = (vid, id); continue }
            let first = flags & UInt16(BRIDGE_VLAN_INFO_RANGE_END) != 0 ? (start ?? (vid, id)) : (vid, id)
            out.append(Entry(vid: first.0, vidEnd: vid, flags: 0, tunnel: first.1, tunnelEnd: id))
            start = nil
        }
        return out
    }

    /// `vid VID`: the entries that contain it, as bridge's filter_vlan_check (a range is shown whole).
    static func select(_ entries: [Entry], vlan: UInt16?) -> [Entry] {
        guard let vlan, vlan != 0 else { return entries }
        return entries.filter { $0.vid <= vlan && vlan <= $0.vidEnd }
    }
}
