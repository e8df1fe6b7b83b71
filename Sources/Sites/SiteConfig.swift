// Sites' API is written in Config's types (TOMLPosition, ConfigErrors) and Addresses' (IPAddress, IPPrefix); its
// users read them through `import Sites`.
@_exported import Config
@_exported import Addresses

/// The tunnel encapsulation named by `[segment] tunnel`.
public enum TunnelKind: String, CaseIterable, Sendable {
    case vxlan, l2tpv3, gretap, greInUDP = "gre-in-udp", ipip, gre, sit

    public var isEthernet: Bool { [.vxlan, .l2tpv3, .gretap, .greInUDP].contains(self) }
    public var isPointToPoint: Bool { self != .vxlan }
    public var isGRE: Bool { [.gretap, .greInUDP, .gre].contains(self) }
    public var defaultPort: UInt16? {
        switch self {
        case .vxlan: 4789
        case .l2tpv3: 1701
        case .greInUDP: 4754
        default: nil
        }
    }
}

public enum L2TPEncap: String, CaseIterable, Sendable { case udp, ip }
/// How an L2TPv3 segment's tunnel is set up: `none`, static ids (like `ip l2tp`); `l2tpv3`, the L2TPv3 control
/// protocol (RFC 3931) negotiates ids and cookies, HELLO notices a dead peer, a shared secret authenticates.
public enum ControlProtocol: String, CaseIterable, Sendable { case none, l2tpv3 }
public enum DataplaneMode: String, CaseIterable, Sendable { case auto, kernel, userspace }
public enum FilterAction: String, CaseIterable, Sendable { case block, allow }

public struct SegmentFilters: Equatable, Sendable {
    public var dhcp: FilterAction = .block
    public var routerAdvertisements: FilterAction = .block
    public var mssClamp: Bool = true
    public init() {}
}

/// One `[sites.NAME]` table, validated.
public struct SiteDefinition: Equatable, Sendable {
    public var name: String
    public var address: IPAddress
    /// Ethernet kinds: LAN ports to bridge.
    public var lan: [String]
    /// Ethernet kinds: the bridge (explicit or the default); nil for L3 kinds.
    public var bridge: String?
    /// Ethernet kinds: addresses (CIDR) Isthmus puts on the bridge, e.g. the gateway's own LAN address.
    public var bridgeAddresses: [IPPrefix] = []
    public var hostname: String?
    /// L3 kinds: prefixes routed to this site.
    public var networks: [IPPrefix]
    /// L3 kinds: this site's address inside the tunnel.
    public var tunnelAddress: IPPrefix?
    /// The tunnel device's name on this site's host (`tunnel_device`); nil: "isth-" + segment, cut to 15 bytes.
    public var tunnelDevice: String? = nil
    /// `encryption = "ipsec"` with `[segment] ca`: this site's certificate and private key (PEM files, read only on
    /// this site's host) and its IKE identity (nil: the certificate's subject).
    public var certificate: ConfigFile? = nil
    public var privateKey: ConfigFile? = nil
    public var ikeIdentity: String? = nil
    public var ikeIdentityPosition: TOMLPosition? = nil
    /// Where `[sites.NAME]` is defined.
    public var position: TOMLPosition
}

/// A validated segment: everything the planner needs. Build it with `SiteConfig.load(text:file:)`.
public struct SegmentConfig: Equatable, Sendable {
    public var file: String
    public var name: String
    public var kind: TunnelKind
    /// l2tpv3 only.
    public var encap: L2TPEncap?
    public var dataplane: DataplaneMode
    /// vxlan only (explicit or derived).
    public var vni: UInt32?
    /// UDP kinds only (explicit or the default).
    public var port: UInt16?
    /// l2tpv3 only: 8-byte cookies (derived from the names, or with `control`, random per session).
    public var cookies: Bool
    /// l2tpv3 only: static ids, or the control protocol.
    public var control: ControlProtocol = .none
    /// With `control`: the shared secret authenticating control messages (Message Digest, HMAC-SHA-1).
    public var secret: String?
    /// GRE kinds only, optional.
    public var key: UInt32?
    public var underlayMTU: Int
    /// Explicit tunnel MTU, if given.
    public var mtu: Int?
    /// Outer packets may be fragmented so that tunnel MTUs above what the underlay carries work. Default: true for
    /// Ethernet kinds (full 1500-byte LAN frames cross; TCP is MSS-clamped to the unfragmented size), false for L3.
    public var fragment: Bool
    public var filters: SegmentFilters
    /// `encryption = "ipsec"`: ESP transport mode keyed by charon over VICI; nil: cleartext (the default).
    public var ipsec: IPsecSettings? = nil
    /// Sorted by name.
    public var sites: [SiteDefinition]
    /// Things that work but deserve a look (e.g. a tunnel MTU below 1280).
    public var warnings: [ConfigError]

    public var siteNames: [String] { sites.map(\.name) }
    public var ipv6Underlay: Bool { sites.first?.address.isV6 ?? false }

    public var overhead: TunnelOverhead {
        let k: TunnelOverhead.Kind = switch kind {
        case .vxlan: .vxlan
        case .l2tpv3: encap == .ip ? .l2tpv3IP : .l2tpv3UDP
        case .gretap: .gretap
        case .greInUDP: .greInUDP
        case .ipip: .ipip
        case .gre: .gre
        case .sit: .sit
        }
        return TunnelOverhead(kind: k, cookie: kind == .l2tpv3 && cookies ? 8 : 0,
                              greOptions: kind.isGRE && key != nil ? 1 : 0, ipv6Underlay: ipv6Underlay,
                              esp: ipsec != nil, natTraversal: ipsec?.natTraversal ?? false)
    }

    /// The plan for the underlay: `tunnelMTU` here is what crosses without fragmenting the outer packet.
    public var mtuPlan: MTUPlan { MTUPlan(overhead: overhead, underlayMTU: underlayMTU) }

    /// The tunnel device MTU: the explicit `mtu`; else, for Ethernet kinds with `fragment` (the default), the LAN's
    /// 1500 — a bridge silently drops frames larger than a port's MTU and sends no ICMP, so every port of one
    /// Ethernet segment must carry full frames and the outer packets are fragmented instead; else (L3 kinds, or
    /// `fragment = false`) what the underlay carries unfragmented, which routers signal with ICMP as usual.
    public var tunnelMTU: Int {
        if let mtu { return mtu }
        if kind.isEthernet && fragment { return max(MTUPlan.ethernetLANMTU, mtuPlan.tunnelMTU) }
        return mtuPlan.tunnelMTU
    }
}

/// The segment configuration: one TOML file describes the whole segment once, every host loads the same file, picks
/// its own site (`--site`, else its hostname) and derives its side of the tunnel (`SegmentConfig.side(for:)`).
///
/// Layout — a `[segment]` table, an optional `[filters]` table, and one `[sites.NAME]` table per site:
///
/// ```toml
/// [segment]
/// name = "lab"              # required; [A-Za-z0-9._-], at most 64 bytes
/// tunnel = "l2tpv3"         # required: vxlan | l2tpv3 | gretap | gre-in-udp | ipip | gre | sit
/// encap = "udp"             # l2tpv3 only: udp (default) | ip
/// dataplane = "auto"        # auto (default) | kernel | userspace
/// port = 1701               # UDP kinds only; defaults: l2tpv3 1701, vxlan 4789, gre-in-udp 4754
/// cookies = true            # l2tpv3 only; default true: 8-byte cookies derived from the names
/// # control = "l2tpv3"      # l2tpv3 over udp only: none (default: static ids) | l2tpv3 (the control protocol sets the
///                           # tunnel up: ids and random cookies negotiated, HELLO keepalives, redial)
/// # secret = "..."          # with control: shared secret for control message authentication (HMAC-SHA-1); with
///                           # encryption = "ipsec": the IKEv2 pre-shared key (at least 16 bytes)
/// # encryption = "none"     # none (default) | ipsec: ESP transport mode around the tunnel's packets, keyed by
///                           # strongSwan's charon over VICI (IKEv2, PSK `secret` or certificates: `ca` here and
///                           # each site's `certificate` and `private_key`); the MTU plan counts ESP
/// # ca = "/etc/isthmus/sites-ca.pem"   # with ipsec, instead of secret: the CA (PEM) that issued both sites'
///                           # certificates; each site checks its peer's certificate against it
/// # esp = "aes128gcm16"     # with ipsec: aes128gcm16 (default) | aes256gcm16 | chacha20poly1305
/// # rekey_time = 3600       # with ipsec: CHILD SA rekey time in seconds (10..86400; default charon's, 1 hour)
/// # nat_traversal = false   # with ipsec: force ESP in UDP 4500 (a NAT between the sites; the plan counts 8 bytes)
/// # vici_socket = "/var/run/charon.vici"   # with ipsec: charon's VICI socket
/// # vni = 4242              # vxlan only; 1..16777215; default derived from the segment name
/// # key = 77                # gretap | gre-in-udp | gre only; 0..4294967295; default: no key
/// underlay_mtu = 1280       # MTU of the path the tunnel packets take; default 1500 (1280: a VPN overlay)
/// # mtu = 1400              # explicit tunnel MTU; must fit the underlay unless fragment = true
/// # fragment = true         # outer fragmentation allowed: Ethernet kinds default to true and a 1500 tunnel MTU (the
///                           # LAN's), so full frames cross any underlay; false: tunnel MTU = what the underlay carries
///                           # unfragmented (LAN hosts must then use that MTU). L3 kinds default to false.
///
/// [filters]
/// dhcp = "block"                    # DHCPv4/DHCPv6 across the tunnel: block (default) | allow
/// router_advertisements = "block"   # ICMPv6 RS/RA across the tunnel: block (default) | allow
/// mss_clamp = true                  # clamp TCP MSS to the tunnel MTU (default true)
///
/// [sites.east]
/// address = "192.0.2.1"     # required: the site's underlay address (all sites: the same family)
/// lan = ["eth1"]            # Ethernet kinds: LAN ports to bridge (required; may be [] only if bridge is given)
/// bridge = "br-lab"         # Ethernet kinds: default "br-" + segment name, cut to 15 bytes
/// # bridge_address = ["192.168.1.2/24", "fd00:1::2/64"]   # Ethernet kinds, optional: addresses (CIDR, host bits
///                           # set; not link-local or loopback; each on one site only) Isthmus puts on the bridge,
///                           # e.g. this gateway's own LAN address
/// hostname = "gw-east"      # optional: the hostname that selects this site when --site is not given
/// # tunnel_device = "isth-lab"   # optional: the tunnel device's name on this host (default "isth-" + segment name,
///                           # cut to 15 bytes); any kind
/// # certificate = "/etc/isthmus/east.pem"   # with [segment] ca (required then): this site's certificate (PEM)
/// # private_key = "/etc/isthmus/east.key"   # and its private key (PEM, unencrypted; RSA or ECDSA). Both are read
///                           # only on this site's own host (its peer never needs them), at plan and up
/// # ike_identity = "CN=east"   # with ca, optional: this site's IKE identity, which its certificate must contain
///                           # (subject or subjectAltName; charon checks). Default: the certificate's subject, and
///                           # the peer accepts any certificate the CA issued from this site's address
///
/// [sites.west]
/// address = "198.51.100.7"
/// lan = ["eth1", "eth2"]
/// ```
///
/// L3 kinds (`ipip`, `gre`, `sit`) have no `lan`/`bridge`; instead each site has `networks` (CIDR prefixes routed to
/// it, no host bits) and optionally `tunnel_address` (its address inside the tunnel, CIDR):
///
/// ```toml
/// [sites.a]
/// address = "192.0.2.1"
/// tunnel_address = "10.255.0.1/30"
/// networks = ["10.1.0.0/16"]
/// ```
///
/// The gateway's own addresses on the LAN (Ethernet kinds). The bridge is a host on its LAN: the addresses and routes
/// the kernel gives it (IPv6 link-local, SLAAC and privacy addresses and the default route from the LAN router's
/// advertisements, prefix routes — anything with a lifetime or of protocol kernel, ra, dhcp or a routing daemon) and
/// any address or route the user puts on it are not Isthmus's: they are never reported as drift nor removed. Isthmus
/// manages only what the config names (`bridge_address`, `tunnel_address`, the peers' `networks`): it adds what is
/// missing, and `down` removes it with the device; an entry removed from the config stays on the device until `down`,
/// as Isthmus cannot tell it from one the user added. A LAN port that carries the host's own configuration (static
/// addresses, and routes through it: the set-up `ip link set eth0 master br0` needs) has it moved to the bridge by
/// `up` — addresses added on the bridge before the port is enslaved, routes through the port re-added through the
/// bridge, then the port's copies removed, so the gateway keeps its LAN and its default route — and `down` moves the
/// bridge's addresses and routes (other than `bridge_address`) back to the first port of `lan` before it releases it. A
/// failed `up` or `down` puts them back where they were.
///
/// Point-to-point kinds (everything but `vxlan`) have exactly two sites; `vxlan` has two or more.
/// `ipip` carries IPv4 networks, `sit` carries IPv6 networks over an IPv4 underlay, `gre` carries either.
///
/// Derived values (identical on every host, from the file alone):
/// - sites sorted by name get L2TPv3 tunnel and session ids 1...n, so a site's `peer_tunnel_id` is its peer's own id;
/// - a site's 8-byte L2TPv3 cookie is FNV-1a-64 of `"isthmus/l2tpv3-cookie/" + segment + "/" + site` (big-endian):
///   what it sends, and what its peer expects (`peer_cookie`);
/// - the default VNI is 1 + (FNV-1a-32 of `"isthmus/vni/" + segment`) mod 16777215.
public enum SiteConfig {
    public static let segmentKeys = ["name", "tunnel", "encap", "dataplane", "vni", "port", "cookies", "key",
                                     "underlay_mtu", "mtu", "fragment", "control", "secret",
                                     "encryption", "esp", "rekey_time", "nat_traversal", "vici_socket", "ca"]
    public static let filterKeys = ["dhcp", "router_advertisements", "mss_clamp"]
    public static let siteKeys = ["address", "lan", "bridge", "bridge_address", "hostname", "networks", "tunnel_address",
                                  "tunnel_device", "certificate", "private_key", "ike_identity"]
    public static let topKeys = ["segment", "filters", "sites"]

    /// Parses and validates completely; on failure returns every problem found, sorted by position.
    public static func load(text: String, file: String) -> Result<SegmentConfig, ConfigErrors> {
        var v = ConfigValidator(file: file)
        return v.load(text) { $0.validate($1) }
    }

    /// FNV-1a, 64 bits.
    /// `fnv1a64(s)` as 16 hex digits (the rules hash in the comment of a table Isthmus owns).
    public static func fnv1a64Hex(_ s: String) -> String {
        let hex = String(fnv1a64(s), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// FNV-1a, 32 bits.
    public static func fnv1a32(_ s: String) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return h
    }

    /// The VNI a segment gets when `vni` is not given.
    public static func defaultVNI(segment: String) -> UInt32 { 1 + fnv1a32("isthmus/vni/" + segment) % 16_777_215 }

    /// The 8-byte L2TPv3 cookie site `site` sends (and its peer expects).
    public static func cookie(segment: String, site: String) -> [UInt8] {
        let h = fnv1a64("isthmus/l2tpv3-cookie/" + segment + "/" + site)
        return (0..<8).map { UInt8(truncatingIfNeeded: h >> (56 - 8 * UInt64($0))) }
    }

    /// The bridge an Ethernet segment uses when `bridge` is not given.
    public static func defaultBridge(segment: String) -> String { String(("br-" + segment).utf8.prefix(15))! }
}
