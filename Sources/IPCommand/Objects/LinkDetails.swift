#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI
import NetlinkWire

/// The bridge's and its ports' `-d` details, field by field as iproute2 6.1's bridge_print_opt() and
/// bridge_slave_print_opt() print them.
enum BridgeDetails {
    /// `%.2x%.2x.MAC` of a `struct ifla_bridge_id` (2 priority bytes, 6 address bytes), the address as glibc's
    /// ether_ntoa_r writes it (no leading zeros).
    static func bridgeID(_ a: Attribute?) -> String? {
        guard let d = a?.data, d.count >= 8 else { return nil }
        let b = Array(d)
        func hex2(_ x: UInt8) -> String { (x < 16 ? "0" : "") + String(x, radix: 16) }
        return hex2(b[0]) + hex2(b[1]) + "." + b[2..<8].map { String($0, radix: 16) }.joined(separator: ":")
    }

    static func bridge(_ d: [Attribute]) -> (text: String, json: JSONObject) {
        var p = FieldPrinter()
        func u(_ t: Int32) -> UInt64? {
            guard let a = d.first(t) else { return nil }
            switch a.data.count {
            case 1: return a.u8.map(UInt64.init)
            case 2: return a.u16.map(UInt64.init)
            case 4: return a.u32.map(UInt64.init)
            default: return a.u64
            }
        }
        p.number("forward_delay", "forward_delay", u(Int32(IFLA_BR_FORWARD_DELAY)))
        p.number("hello_time", "hello_time", u(Int32(IFLA_BR_HELLO_TIME)))
        p.number("max_age", "max_age", u(Int32(IFLA_BR_MAX_AGE)))
        p.number("ageing_time", "ageing_time", u(Int32(IFLA_BR_AGEING_TIME)))
        p.number("stp_state", "stp_state", u(Int32(IFLA_BR_STP_STATE)))
        p.number("priority", "priority", u(Int32(IFLA_BR_PRIORITY)))
        p.number("vlan_filtering", "vlan_filtering", u(Int32(IFLA_BR_VLAN_FILTERING)))
        if let proto = d.first(IFLA_BR_VLAN_PROTOCOL)?.be16 {
            p.string("vlan_protocol", "vlan_protocol", proto == UInt16(ETH_P_8021AD) ? "802.1ad" : "802.1Q")
        }
        p.string("bridge_id", "bridge_id", bridgeID(d.first(IFLA_BR_BRIDGE_ID)))
        // iproute2 6.1 prints the bridge id again as the designated root (it formats IFLA_BR_BRIDGE_ID there).
        if d.first(IFLA_BR_ROOT_ID) != nil { p.string("root_id", "designated_root", bridgeID(d.first(IFLA_BR_BRIDGE_ID))) }
        p.number("root_port", "root_port", u(Int32(IFLA_BR_ROOT_PORT)))
        p.number("root_path_cost", "root_path_cost", u(Int32(IFLA_BR_ROOT_PATH_COST)))
        p.number("topology_change", "topology_change", u(Int32(IFLA_BR_TOPOLOGY_CHANGE)))
        p.number("topology_change_detected", "topology_change_detected", u(Int32(IFLA_BR_TOPOLOGY_CHANGE_DETECTED)))
        p.timer("hello_timer", d.first(IFLA_BR_HELLO_TIMER)?.u64)
        p.timer("tcn_timer", d.first(IFLA_BR_TCN_TIMER)?.u64)
        p.timer("topology_change_timer", d.first(IFLA_BR_TOPOLOGY_CHANGE_TIMER)?.u64)
        p.timer("gc_timer", d.first(IFLA_BR_GC_TIMER)?.u64)
        p.number("vlan_default_pvid", "vlan_default_pvid", u(Int32(IFLA_BR_VLAN_DEFAULT_PVID)))
        p.number("vlan_stats_enabled", "vlan_stats_enabled", u(Int32(IFLA_BR_VLAN_STATS_ENABLED)))
        p.number("vlan_stats_per_port", "vlan_stats_per_port", u(Int32(IFLA_BR_VLAN_STATS_PER_PORT)))
        p.hex("group_fwd_mask", "group_fwd_mask", u(Int32(IFLA_BR_GROUP_FWD_MASK)))
        if let g = d.first(IFLA_BR_GROUP_ADDR) { p.string("group_addr", "group_address", formatHardwareAddress(Array(g.data))) }
        p.number("mcast_snooping", "mcast_snooping", u(Int32(IFLA_BR_MCAST_SNOOPING)))
        if let bm = d.first(IFLA_BR_MULTI_BOOLOPT), bm.data.count >= 8,
           let value = Bytes.load(UInt32.self, from: bm.data), let mask = Bytes.load(UInt32.self, from: bm.data.dropFirst(4)) {
            let noLL = UInt32(1) << UInt32(BR_BOOLOPT_NO_LL_LEARN.rawValue)
            let vlanSnooping = UInt32(1) << UInt32(BR_BOOLOPT_MCAST_VLAN_SNOOPING.rawValue)
            if mask & noLL != 0 { p.number("no_linklocal_learn", "no_linklocal_learn", value & noLL != 0 ? UInt64(1) : 0) }
            if mask & vlanSnooping != 0 { p.number("mcast_vlan_snooping", "mcast_vlan_snooping", value & vlanSnooping != 0 ? UInt64(1) : 0) }
        }
        for (key, label, type) in [
            ("mcast_router", "mcast_router", IFLA_BR_MCAST_ROUTER),
            ("mcast_query_use_ifaddr", "mcast_query_use_ifaddr", IFLA_BR_MCAST_QUERY_USE_IFADDR),
            ("mcast_querier", "mcast_querier", IFLA_BR_MCAST_QUERIER),
            ("mcast_hash_elasticity", "mcast_hash_elasticity", IFLA_BR_MCAST_HASH_ELASTICITY),
            ("mcast_hash_max", "mcast_hash_max", IFLA_BR_MCAST_HASH_MAX),
            ("mcast_last_member_cnt", "mcast_last_member_count", IFLA_BR_MCAST_LAST_MEMBER_CNT),
            ("mcast_startup_query_cnt", "mcast_startup_query_count", IFLA_BR_MCAST_STARTUP_QUERY_CNT),
            ("mcast_last_member_intvl", "mcast_last_member_interval", IFLA_BR_MCAST_LAST_MEMBER_INTVL),
            ("mcast_membership_intvl", "mcast_membership_interval", IFLA_BR_MCAST_MEMBERSHIP_INTVL),
            ("mcast_querier_intvl", "mcast_querier_interval", IFLA_BR_MCAST_QUERIER_INTVL),
            ("mcast_query_intvl", "mcast_query_interval", IFLA_BR_MCAST_QUERY_INTVL),
            ("mcast_query_response_intvl", "mcast_query_response_interval", IFLA_BR_MCAST_QUERY_RESPONSE_INTVL),
            ("mcast_startup_query_intvl", "mcast_startup_query_interval", IFLA_BR_MCAST_STARTUP_QUERY_INTVL),
            ("mcast_stats_enabled", "mcast_stats_enabled", IFLA_BR_MCAST_STATS_ENABLED),
            ("mcast_igmp_version", "mcast_igmp_version", IFLA_BR_MCAST_IGMP_VERSION),
            ("mcast_mld_version", "mcast_mld_version", IFLA_BR_MCAST_MLD_VERSION),
            ("nf_call_iptables", "nf_call_iptables", IFLA_BR_NF_CALL_IPTABLES),
            ("nf_call_ip6tables", "nf_call_ip6tables", IFLA_BR_NF_CALL_IP6TABLES),
            ("nf_call_arptables", "nf_call_arptables", IFLA_BR_NF_CALL_ARPTABLES),
        ] {
            p.number(key, label, u(Int32(type)))
        }
        return p.details
    }

    static let portStates = ["disabled", "listening", "learning", "forwarding", "blocking"]
    /// Names of the group_fwd_mask bits that have one (the others print as hex).
    static let forwardMaskNames: [Int: String] = [0: "stp", 2: "lacp", 14: "lldp"]

    static func port(_ d: [Attribute], session: Session) -> (text: String, json: JSONObject) {
        var p = FieldPrinter()
        if let st = d.first(IFLA_BRPORT_STATE)?.u8 {
            if Int(st) < portStates.count { p.string("state", "state", portStates[Int(st)]) } else {
                p.field("state_index", JSON(st), text: "state (\(st)) ")
            }
        }
        p.number("priority", "priority", d.first(IFLA_BRPORT_PRIORITY)?.u16.map(UInt64.init))
        p.number("cost", "cost", d.first(IFLA_BRPORT_COST)?.u32.map(UInt64.init))
        p.onOff("hairpin", "hairpin", d.first(IFLA_BRPORT_MODE)?.u8)
        p.onOff("guard", "guard", d.first(IFLA_BRPORT_GUARD)?.u8)
        p.onOff("root_block", "root_block", d.first(IFLA_BRPORT_PROTECT)?.u8)
        p.onOff("fastleave", "fastleave", d.first(IFLA_BRPORT_FAST_LEAVE)?.u8)
        p.onOff("learning", "learning", d.first(IFLA_BRPORT_LEARNING)?.u8)
        p.onOff("flood", "flood", d.first(IFLA_BRPORT_UNICAST_FLOOD)?.u8)
        p.hex("id", "port_id", d.first(IFLA_BRPORT_ID)?.u16.map(UInt64.init))
        p.hex("no", "port_no", d.first(IFLA_BRPORT_NO)?.u16.map(UInt64.init))
        p.number("designated_port", "designated_port", d.first(IFLA_BRPORT_DESIGNATED_PORT)?.u16.map(UInt64.init))
        p.number("designated_cost", "designated_cost", d.first(IFLA_BRPORT_DESIGNATED_COST)?.u16.map(UInt64.init))
        p.string("bridge_id", "designated_bridge", bridgeID(d.first(IFLA_BRPORT_BRIDGE_ID)))
        p.string("root_id", "designated_root", bridgeID(d.first(IFLA_BRPORT_ROOT_ID)))
        p.timer("hold_timer", d.first(IFLA_BRPORT_HOLD_TIMER)?.u64)
        p.timer("message_age_timer", d.first(IFLA_BRPORT_MESSAGE_AGE_TIMER)?.u64)
        p.timer("forward_delay_timer", d.first(IFLA_BRPORT_FORWARD_DELAY_TIMER)?.u64)
        p.number("topology_change_ack", "topology_change_ack", d.first(IFLA_BRPORT_TOPOLOGY_CHANGE_ACK)?.u8.map(UInt64.init))
        p.number("config_pending", "config_pending", d.first(IFLA_BRPORT_CONFIG_PENDING)?.u8.map(UInt64.init))
        p.onOff("proxy_arp", "proxy_arp", d.first(IFLA_BRPORT_PROXYARP)?.u8)
        p.onOff("proxy_arp_wifi", "proxy_arp_wifi", d.first(IFLA_BRPORT_PROXYARP_WIFI)?.u8)
        p.number("multicast_router", "mcast_router", d.first(IFLA_BRPORT_MULTICAST_ROUTER)?.u8.map(UInt64.init))
        // Text only: ip prints fast leave a second time under this name, and not in JSON.
        if let fl = d.first(IFLA_BRPORT_FAST_LEAVE)?.u8 { p.text("mcast_fast_leave \(fl != 0 ? "on" : "off") ") }
        p.onOff("mcast_flood", "mcast_flood", d.first(IFLA_BRPORT_MCAST_FLOOD)?.u8)
        p.onOff("bcast_flood", "bcast_flood", d.first(IFLA_BRPORT_BCAST_FLOOD)?.u8)
        p.onOff("mcast_to_unicast", "mcast_to_unicast", d.first(IFLA_BRPORT_MCAST_TO_UCAST)?.u8)
        p.onOff("neigh_suppress", "neigh_suppress", d.first(IFLA_BRPORT_NEIGH_SUPPRESS)?.u8)
        if let mask = d.first(IFLA_BRPORT_GROUP_FWD_MASK)?.u16 {
            p.hex("group_fwd_mask", "group_fwd_mask", UInt64(mask))
            let names = (0..<16).filter { mask & (1 << $0) != 0 }.map { forwardMaskNames[$0] ?? "0x" + String(1 << $0, radix: 16) }
            p.string("group_fwd_mask_str", "group_fwd_mask_str", names.isEmpty ? "0x0" : names.joined(separator: ","))
        }
        p.onOff("vlan_tunnel", "vlan_tunnel", d.first(IFLA_BRPORT_VLAN_TUNNEL)?.u8)
        p.onOff("isolated", "isolated", d.first(IFLA_BRPORT_ISOLATED)?.u8)
        p.onOff("locked", "locked", d.first(IFLA_BRPORT_LOCKED)?.u8)
        if let backup = d.first(IFLA_BRPORT_BACKUP_PORT)?.u32 {
            p.string("backup_port", "backup_port", session.ifname(Int32(bitPattern: backup)) ?? "if\(backup)")
        }
        return p.details
    }
}

/// IFLA_INET6_ADDR_GEN_MODE names, as ip's print_af_spec().
enum AddressGenerationMode {
    static func name(_ link: LinkMessage) -> String? {
        guard let spec = try? link.attributes.first(IFLA_AF_SPEC)?.children(),
              let inet6 = try? spec.first(UInt16(AF_INET6))?.children(),
              let mode = inet6.first(IFLA_INET6_ADDR_GEN_MODE)?.u8 else { return nil }
        switch Int32(mode) {
        case Int32(IN6_ADDR_GEN_MODE_EUI64.rawValue): return "eui64"
        case Int32(IN6_ADDR_GEN_MODE_NONE.rawValue): return "none"
        case Int32(IN6_ADDR_GEN_MODE_STABLE_PRIVACY.rawValue): return "stable_secret"
        case Int32(IN6_ADDR_GEN_MODE_RANDOM.rawValue): return "random"
        default: return "0x" + (mode < 16 ? "0" : "") + String(mode, radix: 16)
        }
    }
}

/// `tun` devices (made by `tuntap add`, never by `link add`): their IFLA_TUN_* data as ip's tun_print_opt().
enum TunDetails {
    static func describe(_ d: [Attribute]) -> (text: String, json: JSONObject) {
        var p = FieldPrinter()
        if let t = d.first(IFLA_TUN_TYPE)?.u8 {
            p.string("type", "type", t == UInt8(IFF_TUN) ? "tun" : t == UInt8(IFF_TAP) ? "tap" : "UNKNOWN:\(t)")
        }
        p.onOff("pi", "pi", d.first(IFLA_TUN_PI)?.u8)
        p.onOff("vnet_hdr", "vnet_hdr", d.first(IFLA_TUN_VNET_HDR)?.u8)
        if d.first(IFLA_TUN_MULTI_QUEUE)?.u8 ?? 0 != 0 {
            p.field("multi_queue", .bool(true), text: "multi_queue ")
            p.number("numqueues", "numqueues", d.first(IFLA_TUN_NUM_QUEUES)?.u32.map(UInt64.init))
            p.number("numdisabled", "numdisabled", d.first(IFLA_TUN_NUM_DISABLED_QUEUES)?.u32.map(UInt64.init))
        } else {
            p.jsonOnly("multi_queue", .bool(false))
        }
        p.onOff("persist", "persist", d.first(IFLA_TUN_PERSIST)?.u8)
        if let uid = d.first(IFLA_TUN_OWNER)?.u32 {
            if let pw = getpwuid(uid) { p.string("user", "user", String(cString: pw.pointee.pw_name)) } else { p.number("user", "user", UInt64(uid)) }
        }
        if let gid = d.first(IFLA_TUN_GROUP)?.u32 {
            if let gr = getgrgid(gid) { p.string("group", "group", String(cString: gr.pointee.gr_name)) } else { p.number("group", "group", UInt64(gid)) }
        }
        return p.details
    }
}
